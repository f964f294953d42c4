// The classifier scoring forward pass on the WebAssembly SIMD dense kernels (src/models/
// mlp-rows-forward.ts, mlp-forward.ts): logits against a float64 forward pass written out here,
// the same logits whatever the thread split, and a zoo candidate scored by the stacked wasm pass
// and by the per-task tfjs pass (the reference) with equal accuracy counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostParams } from '../src/merge/host-merge.ts';
import { initMlpParams, mlpConfigFromJson, mlpParameterShapes, type MlpConfig } from '../src/models/mlp-classifier.ts';
import { MlpForward, splitRows } from '../src/models/mlp-forward.ts';
import { BASIS_TOLERANCE, MlpRowsForward, solveSymmetric, type MlpWeights, type RowSegment } from '../src/models/mlp-rows-forward.ts';
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

describe.runIf(forwardKernelsAvailable() || process.env.CI === 'true')('the first layer combined from the base\'s and experts\' products', () => {
  const cfg = config({ input_size: 21, hidden_sizes: [12, 5] });
  const n0 = 12 * 21;
  const base = weightsOf(cfg, 10);
  const experts = [11, 12, 13].map((seed) => weightsOf(cfg, seed)['backbone.layers.0.weight']!);
  const B = base['backbone.layers.0.weight']!;
  const combination = (lambda: number[]) => Float32Array.from({ length: n0 }, (_, i) => B[i]! + lambda.reduce((a, l, k) => a + l * (experts[k]![i]! - B[i]!), 0));
  const inputs = inputsOf(9, cfg.inputSize, 14);
  const segments: RowSegment[] = [{ start: 0, count: 9, task: 'a' }];

  it('recovers λ of a linear combination and gives the multiplied-out logits (and the float64 ones)', () => {
    const f = new MlpRowsForward(cfg, inputs, segments, { base: B, experts });
    const lambda = [0.3, -0.7, 1.1];
    const w = { ...base, 'backbone.layers.0.weight': combination(lambda) };
    const got = f.firstLayerCoefficients(w['backbone.layers.0.weight'])!;
    expect(got).toBeDefined();
    got.forEach((l, k) => expect(Math.abs(l - lambda[k]!)).toBeLessThan(1e-5));
    const combined = f.run(w, got);
    const multiplied = f.run(w);
    expect(maxAbsDiff(combined, multiplied)).toBeLessThan(2e-5);
    expect(maxAbsDiff(combined, reference(cfg, w, inputs, segments))).toBeLessThan(2e-5);
    // The base itself is the combination λ = 0.
    expect([...f.firstLayerCoefficients(B)!].every((l) => Math.abs(l) < 1e-9)).toBe(true);
  });

  it('refuses a weight off the span by more than the tolerance (a TIES-style mask), accepting one within it', () => {
    const f = new MlpRowsForward(cfg, inputs, segments, { base: B, experts });
    const w = combination([0.5, 0.5, 0.5]);
    const masked = w.map((v, i) => (i % 3 === 0 ? B[i]! : v));
    expect(f.firstLayerCoefficients(masked)).toBeUndefined();
    // A perturbation of a tenth of the tolerance passes; ten times it does not.
    const norm = Math.sqrt(w.reduce((a, v) => a + v * v, 0));
    const bump = (size: number) => w.map((v, i) => (i === 7 ? v + size * norm : v));
    expect(f.firstLayerCoefficients(bump(BASIS_TOLERANCE / 10))).toBeDefined();
    expect(f.firstLayerCoefficients(bump(BASIS_TOLERANCE * 10))).toBeUndefined();
  });

  it('handles experts that repeat (a singular Gram matrix)', () => {
    const f = new MlpRowsForward(cfg, inputs, segments, { base: B, experts: [experts[0]!, experts[0]!, experts[1]!] });
    const w = { ...base, 'backbone.layers.0.weight': Float32Array.from({ length: n0 }, (_, i) => B[i]! + 0.4 * (experts[0]![i]! - B[i]!) + 0.2 * (experts[1]![i]! - B[i]!)) };
    const lambda = f.firstLayerCoefficients(w['backbone.layers.0.weight'])!;
    expect(lambda).toBeDefined();
    expect(Math.abs(lambda[0]! + lambda[1]! - 0.4)).toBeLessThan(1e-5);
    expect(maxAbsDiff(f.run(w, lambda), reference(cfg, w, inputs, segments))).toBeLessThan(2e-5);
  });

  it('solveSymmetric solves a hand-worked 2×2 system', () => {
    // [[4, 2], [2, 3]]·x = [2, 1] → x = [0.5, 0]
    expect([...solveSymmetric(Float64Array.from([4, 2, 2, 3]), Float64Array.from([2, 1]), 2)]).toEqual([0.5, 0]);
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
    const wasm = new ClassifierScorer(zoo, { seed: 3, samples: 50, forward: 'wasm', threads: 2, combineFirstLayer: false });
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
    // With the first layer combined: the task-arithmetic candidate takes the shortcut, TIES does not.
    const combined = new ClassifierScorer(zoo, { seed: 3, samples: 50, forward: 'wasm', threads: 1 });
    scorers.push(combined);
    const ta: HostParams = mergeBackbone(zoo, { method: 'task_arithmetic', global: { lambda: 0.9 }, perModel: zoo.experts.map((_, i) => ({ weight: 0.2 + 0.05 * i })) });
    const c = combined.score(ta, objectives);
    expect(combined.combinedRuns).toBe(1);
    const d = tfjs.score(ta, objectives);
    c.values.forEach((v, i) => {
      if (objectives[i]!.evaluator === 'accuracy') expect(v, objectives[i]!.name).toBe(d.values[i]);
      else expect(Math.abs(v - d.values[i]!), objectives[i]!.name).toBeLessThan(1e-5);
    });
    combined.score(candidate, objectives);
    expect(combined.combinedRuns).toBe(1);
    // A whole checkpoint (an expert, with its own heads) scores through its own heads on both paths.
    const expert = zoo.experts[2]!;
    const a = wasm.score(expert, objectives.slice(0, 6));
    const b = tfjs.score(expert, objectives.slice(0, 6));
    a.values.forEach((v, i) => expect(Math.abs(v - b.values[i]!)).toBeLessThan(1e-5));
  });
});
