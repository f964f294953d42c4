// The classifier scoring forward pass on the WebAssembly SIMD dense kernels (src/models/
// mlp-rows-forward.ts, mlp-forward.ts): logits against a float64 forward pass written out here,
// the same logits whatever the thread split, and a zoo candidate scored by the stacked wasm pass
// and by the per-task tfjs pass (the reference) with equal accuracy counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostParams } from '../src/merge/host-merge.ts';
import { initMlpParams, mlpConfigFromJson, mlpParameterShapes, type MlpConfig } from '../src/models/mlp-classifier.ts';
import { MlpForward, splitRows } from '../src/models/mlp-forward.ts';
import { MlpRowsForward, type MlpWeights, type RowSegment } from '../src/models/mlp-rows-forward.ts';
import { ClassifierScorer } from '../src/zoo/classifier-scoring.ts';
import type { FamilyObjective } from '../src/zoo/family.ts';
import { loadClassifierZoo, mergeBackbone, type LoadedClassifierZoo } from '../src/zoo/zoo-models.ts';
import { seededRandom } from '../src/tensor/random.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { forwardKernelsAvailable } from '../src/tensor/wasm/forward-kernels.ts';
import { cachedTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';

function config(over: Partial<Record<string, unknown>>): MlpConfig {
  return mlpConfigFromJson(
    { architectures: ['MlpClassifier'], model_type: 'mlp_classifier', input_size: 13, hidden_sizes: [10, 7], num_classes: 3, tasks: ['a', 'b'], layer_norm: true, head: 'cosine', logit_scale: 16, ...over },
    'test config',
  );
}

/** Parameters with non-trivial biases and norms (initMlpParams leaves them 0 and 1). */
function weightsOf(cfg: MlpConfig, seed: number): MlpWeights {
  const w = initMlpParams(cfg, seed);
  const rand = seededRandom(seed + 100);
  for (const { name } of mlpParameterShapes(cfg)) if (!name.endsWith('.weight') || name.includes('.norm.')) w[name] = w[name]!.map(() => rand() - 0.5);
  return w;
}

function inputsOf(rows: number, width: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: rows * width }, () => 2 * rand() - 1);
}

/** The forward pass in float64, written from the model's definition (mlp-classifier.ts). */
function reference(cfg: MlpConfig, w: MlpWeights, inputs: Float32Array, segments: RowSegment[]): Float64Array {
  const rows = inputs.length / cfg.inputSize;
  const out = new Float64Array(rows * cfg.numClasses);
  for (const s of segments) {
    for (let r = s.start; r < s.start + s.count; r++) {
      let h = Array.from(inputs.subarray(r * cfg.inputSize, (r + 1) * cfg.inputSize));
      cfg.hiddenSizes.forEach((width, i) => {
        const W = w[`backbone.layers.${i}.weight`]!;
        const b = w[`backbone.layers.${i}.bias`]!;
        let y = Array.from({ length: width }, (_, o) => h.reduce((acc, v, k) => acc + v * W[o * h.length + k]!, b[o]!));
        if (cfg.layerNorm) {
          const mean = y.reduce((a, v) => a + v, 0) / width;
          const variance = y.reduce((a, v) => a + (v - mean) ** 2, 0) / width;
          const g = w[`backbone.layers.${i}.norm.weight`]!;
          const beta = w[`backbone.layers.${i}.norm.bias`]!;
          y = y.map((v, o) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[o]! + beta[o]!);
        }
        h = y.map((v) => Math.max(v, 0));
      });
      const W = w[`heads.${s.task}.weight`]!;
      const norm = (v: number[]) => Math.max(Math.sqrt(v.reduce((a, x) => a + x * x, 0)), 1e-12);
      const hn = cfg.head === 'cosine' ? norm(h) : 1;
      for (let c = 0; c < cfg.numClasses; c++) {
        const row = Array.from(W.subarray(c * h.length, (c + 1) * h.length));
        const dot = h.reduce((a, v, k) => a + v * row[k]!, 0);
        out[r * cfg.numClasses + c] = cfg.head === 'cosine' ? (cfg.logitScale * dot) / (hn * norm(row)) : dot + w[`heads.${s.task}.bias`]![c]!;
      }
    }
  }
  return out;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe.runIf(forwardKernelsAvailable() || process.env.CI === 'true')('the wasm MLP forward pass', () => {
  it('loads its kernels (CI needs them)', () => {
    expect(forwardKernelsAvailable()).toBe(true);
  });

  for (const [label, over] of [
    ['cosine head, LayerNorm', {}],
    ['linear head, no LayerNorm', { head: 'linear', layer_norm: false, logit_scale: 1 }],
    ['one hidden layer of 9 (not a multiple of 8), 11 classes', { hidden_sizes: [9], num_classes: 11 }],
  ] as const) {
    it(`matches a float64 forward pass (${label}), rows not a multiple of 4, heads per segment`, () => {
      const cfg = config(over);
      const w = weightsOf(cfg, 3);
      const inputs = inputsOf(11, cfg.inputSize, 4);
      const segments: RowSegment[] = [
        { start: 0, count: 5, task: 'b' },
        { start: 5, count: 6, task: 'a' },
      ];
      const got = new MlpRowsForward(cfg, inputs, segments).run(w);
      const want = reference(cfg, w, inputs, segments);
      // float32 sums of ≤ 13 products of values ≤ 1: logits (≤ 16 in size) agree to ~1e-5.
      expect(maxAbsDiff(got, want)).toBeLessThan(2e-5);
      expect(maxAbsDiff(got, want)).toBeGreaterThan(0); // float32, not a copy of the reference
    });
  }

  it('gives every row the same logits whatever the thread split (2 threads = 1 thread, bit for bit)', () => {
    const cfg = config({ input_size: 40, hidden_sizes: [24, 16] });
    const w = weightsOf(cfg, 5);
    const rows = 1100;
    const inputs = inputsOf(rows, cfg.inputSize, 6);
    const segments: RowSegment[] = [
      { start: 0, count: 700, task: 'a' },
      { start: 700, count: 400, task: 'b' },
    ];
    const one = new MlpForward(cfg, inputs, segments, 1);
    const two = new MlpForward(cfg, inputs, segments, 2);
    try {
      expect(one.threads).toBe(1);
      expect(two.threads).toBe(2);
      const a = one.run(w);
      const b = two.run(w);
      expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
      // A second call with other weights reuses the workers' rows.
      const w2 = weightsOf(cfg, 7);
      expect(Buffer.from(two.run(w2).buffer).equals(Buffer.from(one.run(w2).buffer))).toBe(true);
      expect(maxAbsDiff(one.run(w2), reference(cfg, w2, inputs, segments))).toBeLessThan(5e-5);
    } finally {
      one.close();
      two.close();
    }
  });

  it('splits rows into contiguous shares of whole 4-row groups and cuts the segments to them', () => {
    const shares = splitRows(10, 2, [
      { start: 0, count: 3, task: 'a' },
      { start: 3, count: 7, task: 'b' },
    ]);
    expect(shares).toEqual([
      { start: 0, count: 4, segments: [{ start: 0, count: 3, task: 'a' }, { start: 3, count: 1, task: 'b' }] },
      { start: 4, count: 6, segments: [{ start: 0, count: 6, task: 'b' }] },
    ]);
  });

  it('refuses weights with a missing or mis-sized tensor, naming it', () => {
    const cfg = config({});
    const f = new MlpForward(cfg, inputsOf(4, cfg.inputSize, 1), [{ start: 0, count: 4, task: 'a' }]);
    const w = weightsOf(cfg, 1);
    expect(() => f.run({ ...w, 'heads.a.weight': undefined as unknown as Float32Array })).toThrow(/IO_E_NO_TENSOR.*heads\.a\.weight/);
    expect(() => f.run({ ...w, 'backbone.layers.1.bias': new Float32Array(6) })).toThrow(/MERGE_E_SHAPE.*backbone\.layers\.1\.bias has 6 values.*needs 7/);
    // heads of tasks it does not score are not needed
    const { 'heads.b.weight': _unused, ...withoutB } = w;
    expect(f.run(withoutB).length).toBe(4 * cfg.numClasses);
    f.close();
  });
});

describe.runIf(forwardKernelsAvailable() || process.env.CI === 'true')('ClassifierScorer: stacked wasm pass against the per-task tfjs pass', () => {
  let zoo: LoadedClassifierZoo;
  beforeAll(async () => {
    await initEngine('wasm');
    zoo = loadClassifierZoo(await cachedTinyZoo(TINY_MNIST8));
  });
  const scorers: ClassifierScorer[] = [];
  afterAll(() => scorers.forEach((s) => s.close()));

  it('gives the same candidate the same accuracy counts and losses within 1e-5', () => {
    const objectives: FamilyObjective[] = zoo.tasks.flatMap((task) => [
      { name: `${task}_acc`, evaluator: 'accuracy', task, split: 'calibration' as const },
      { name: `${task}_ce`, evaluator: 'cross_entropy', task, split: 'calibration' as const },
      { name: `${task}_ent`, evaluator: 'entropy', task, split: 'calibration' as const },
    ]);
    const wasm = new ClassifierScorer(zoo, { seed: 3, samples: 50, forward: 'wasm', threads: 2 });
    const tfjs = new ClassifierScorer(zoo, { seed: 3, samples: 50, forward: 'tfjs' });
    scorers.push(wasm, tfjs);
    expect(wasm.forwardPath).toBe('wasm');
    const candidate: HostParams = mergeBackbone(zoo, { method: 'ties', global: { lambda: 0.8, density: 0.3 }, perModel: zoo.experts.map((_, i) => ({ weight: 0.5 + 0.1 * i })) });
    for (const split of [undefined, 'test' as const]) {
      const a = wasm.score(candidate, objectives, split);
      const b = tfjs.score(candidate, objectives, split);
      expect(a.evaluations).toBe(b.evaluations);
      expect(a.evaluations).toBeGreaterThan(0);
      a.values.forEach((v, i) => {
        // Accuracy is a count over at most a few hundred samples: equal exactly.
        if (objectives[i]!.evaluator === 'accuracy') expect(v, objectives[i]!.name).toBe(b.values[i]);
        else expect(Math.abs(v - b.values[i]!), objectives[i]!.name).toBeLessThan(1e-5);
      });
    }
    // A whole checkpoint (an expert, with its own heads) scores through its own heads on both paths.
    const expert = zoo.experts[2]!;
    const a = wasm.score(expert, objectives.slice(0, 6));
    const b = tfjs.score(expert, objectives.slice(0, 6));
    a.values.forEach((v, i) => expect(Math.abs(v - b.values[i]!)).toBeLessThan(1e-5));
  });
});
