// `mergesearch stats` end to end on a tiny MLP and a tiny Llama: the Grams are checked against
// XᵀX/N of layer inputs computed independently in float64 (the MLP's hidden layer by hand, the
// Llama's first projections from the embedding and RMSNorm), the MLP Fisher against its closed form
// for a linear head (F_b[j] = mean p_j(1 − p_j), F_W[j,k] = mean p_j(1 − p_j)·h_k²), and a zoo's
// experts get their statistics beside them, which regmean then finds.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensorsFile } from '../src/io/safetensors-writer.ts';
import { SafetensorsFile } from '../src/io/safetensors-reader.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { closeStatistics, STATISTICS_FILE } from '../src/merge/statistics/store.ts';
import { initMlpParams, mlpConfigToJson, mlpParameterShapes, type MlpConfig } from '../src/models/mlp-classifier.ts';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { produceStatistics, produceZooStatistics } from '../src/stats/produce.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { writeTaskData, toInputs } from '../src/zoo/task-data.ts';
import { writeSyntheticLlama, type LlamaShape } from '../src/zoo/synthetic-llama.ts';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { expectCode, f32Bytes, makeTmp, rng } from './helpers/io-tmp.ts';
import { runCli } from './helpers/recipe-fixtures.ts';
import { refScore } from './reference/llama-reference.ts';
import * as tf from '@tensorflow/tfjs';
import { loadLlamaHost } from '../src/models/llama-load.ts';
import { llamaGramStatistics } from '../src/stats/llama-stats.ts';

const tmp = makeTmp('ms-stats-');
const N = 4;
const CONFIG: MlpConfig = { architecture: 'MlpClassifier', inputSize: 784, hiddenSizes: [5], numClasses: 10, tasks: ['a', 'b'], layerNorm: false, head: 'linear', logitScale: 1 };

// The zoo's experts have two hidden layers, so RegMean++'s second layer sees merged inputs.
const ZOO_CONFIG: MlpConfig = { ...CONFIG, hiddenSizes: [5, 4] };

function writeMlp(dir: string, seed: number, config = CONFIG): Record<string, Float32Array> {
  fs.mkdirSync(dir, { recursive: true });
  const params = initMlpParams(config, seed);
  const shapes = Object.fromEntries(mlpParameterShapes(config).map((p) => [p.name, [...p.shape]]));
  // Biases non-zero so the hidden layer is not trivially symmetric.
  const r = rng(seed + 100);
  for (const k of Object.keys(params)) if (k.endsWith('bias')) params[k] = Float32Array.from(params[k]!, () => r() - 0.5);
  writeSafetensorsFile(path.join(dir, 'model.safetensors'), Object.entries(params).map(([name, v]) => ({ name, dtype: 'F32', shape: shapes[name]!, data: f32Bytes(v) })));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(mlpConfigToJson(config)));
  return params;
}

function writeData(file: string, seed: number): Float32Array {
  const r = rng(seed);
  const images = Uint8Array.from({ length: N * 784 }, () => Math.floor(r() * 256));
  writeTaskData(file, { images, labels: Uint8Array.from({ length: N }, () => Math.floor(r() * 10)), count: N });
  return toInputs(images);
}

function readF64(f: SafetensorsFile, name: string): Float64Array {
  const raw = f.readRaw(name);
  return new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

function gramOf(x: ArrayLike<number>, rows: number, n: number): Float64Array {
  const g = new Float64Array(n * n);
  for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j] = g[i * n + j]! + (x[r * n + i]! * x[r * n + j]!) / rows;
  return g;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number): void {
  expect(got.length).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  // One assertion on the worst entry (an expect per entry costs seconds on 784² Grams).
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  expect(worst, `largest difference at entry ${at}`).toBeLessThanOrEqual(rel * scale);
}

beforeAll(async () => {
  await initEngine('wasm');
});
afterAll(() => {
  closeStatistics();
  tmp.cleanup();
});

describe('MLP classifier', () => {
  it('writes input Grams (XᵀX/N per layer) and the expected Fisher of the chosen head', () => {
    const dir = path.join(tmp.dir, 'mlp');
    const p = writeMlp(dir, 1);
    const x = writeData(path.join(tmp.dir, 'mlp-data.safetensors'), 2);
    const s = produceStatistics({ model: dir, data: path.join(tmp.dir, 'mlp-data.safetensors'), kinds: ['gram', 'fisher'], task: 'a' });
    expect(s.file).toBe(path.join(dir, STATISTICS_FILE));
    expect([s.grams, s.fishers]).toEqual([2, 4]); // layer 0 and head a; layer 0 and head a, weight and bias
    // Independent float64 forward: h = relu(W1 x + b1), logits = W2 h + b2.
    const h = new Float64Array(N * 5);
    const probs = new Float64Array(N * 10);
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < 5; j++) {
        let v = p['backbone.layers.0.bias']![j]!;
        for (let k = 0; k < 784; k++) v += p['backbone.layers.0.weight']![j * 784 + k]! * x[n * 784 + k]!;
        h[n * 5 + j] = Math.max(0, v);
      }
      const logits = Array.from({ length: 10 }, (_, c) => {
        let v = p['heads.a.bias']![c]!;
        for (let k = 0; k < 5; k++) v += p['heads.a.weight']![c * 5 + k]! * h[n * 5 + k]!;
        return v;
      });
      const mx = Math.max(...logits);
      const z = logits.reduce((a, v) => a + Math.exp(v - mx), 0);
      logits.forEach((v, c) => (probs[n * 10 + c] = Math.exp(v - mx) / z));
    }
    const f = SafetensorsFile.open(s.file);
    try {
      expect(f.metadata.format).toBe('mergesearch-statistics');
      expect(f.metadata.kinds).toBe('gram,fisher');
      expectClose(readF64(f, 'gram:backbone.layers.0.weight'), gramOf(x, N, 784), 1e-5);
      expectClose(readF64(f, 'gram:heads.a.weight'), gramOf(h, N, 5), 1e-4);
      const fb = new Float64Array(10);
      const fw = new Float64Array(50);
      for (let n = 0; n < N; n++) {
        for (let j = 0; j < 10; j++) {
          const v = probs[n * 10 + j]! * (1 - probs[n * 10 + j]!);
          fb[j] = fb[j]! + v / N;
          for (let k = 0; k < 5; k++) fw[j * 5 + k] = fw[j * 5 + k]! + (v * h[n * 5 + k]! ** 2) / N;
        }
      }
      expectClose(f.readF32('fisher:heads.a.bias'), fb, 1e-4);
      expectClose(f.readF32('fisher:heads.a.weight'), fw, 1e-4);
      expect(f.tensors.has('fisher:heads.b.weight')).toBe(false);
      expect(Number(f.metadata.fisher_norm)).toBeGreaterThan(0);
    } finally {
      f.close();
    }
  });

  it('asks for --task when the model has several heads, and for --zoo with gram_plus', () => {
    const dir = path.join(tmp.dir, 'mlp-heads');
    writeMlp(dir, 5);
    const data = path.join(tmp.dir, 'mlp-heads-data.safetensors');
    writeData(data, 6);
    expectCode(() => produceStatistics({ model: dir, data, kinds: ['gram'] }), 'STATS_E_INPUT', '--task');
    expectCode(() => produceStatistics({ model: dir, data, kinds: ['gram_plus'], task: 'a' }), 'STATS_E_INPUT', '--zoo DIR --kind gram_plus');
  });

  it('gives every expert of a zoo its statistics beside it, which regmean then finds', async () => {
    const zoo = path.join(tmp.dir, 'zoo');
    writeMlp(path.join(zoo, 'base'), 10, ZOO_CONFIG);
    const pa = writeMlp(path.join(zoo, 'experts', 'a'), 11, ZOO_CONFIG);
    const pb = writeMlp(path.join(zoo, 'experts', 'b'), 12, ZOO_CONFIG);
    fs.mkdirSync(path.join(zoo, 'data', 'a'), { recursive: true });
    fs.mkdirSync(path.join(zoo, 'data', 'b'), { recursive: true });
    const xa = writeData(path.join(zoo, 'data', 'a', 'calibration.safetensors'), 13);
    writeData(path.join(zoo, 'data', 'b', 'calibration.safetensors'), 14);
    const manifest = { benchmark: 'mnist8', tasks: ['a', 'b'], base: 'base', experts: { a: 'experts/a', b: 'experts/b' }, data: { a: { calibration: 'data/a/calibration.safetensors' }, b: { calibration: 'data/b/calibration.safetensors' } } };
    fs.writeFileSync(path.join(zoo, 'manifest.json'), JSON.stringify(manifest));
    const done = produceZooStatistics(zoo, ['gram', 'gram_plus'], 4, undefined, 0.8);
    const files = [path.join(zoo, 'experts', 'a', STATISTICS_FILE), path.join(zoo, 'experts', 'b', STATISTICS_FILE)];
    expect(done.map((d) => d.file)).toEqual(files);
    // RegMean++: layer 0's Gram is plain RegMean's; layer 1's is taken on the outputs of the merged
    // layer 0 (regmean with alpha 0.8, bias averaged), recomputed here in float64.
    const fa = SafetensorsFile.open(files[0]!);
    try {
      expect(fa.metadata.kinds).toBe('gram,gram_plus');
      expect(fa.metadata.regmean_plus_alpha).toBe('0.8');
      expectClose(readF64(fa, 'gram_plus:backbone.layers.0.weight'), readF64(fa, 'gram:backbone.layers.0.weight'), 1e-12);
      const w0 = mergeTensorInMemory({ method: 'regmean', name: 'backbone.layers.0.weight', shape: [5, 784], models: [pa, pb].map((p) => p['backbone.layers.0.weight']!), global: { alpha: 0.8 }, perModel: files.map((f) => ({ statistics: f })) });
      const b0 = pa['backbone.layers.0.bias']!.map((v, j) => (v + pb['backbone.layers.0.bias']![j]!) / 2);
      const h = new Float64Array(4 * 5);
      for (let n = 0; n < 4; n++) {
        for (let j = 0; j < 5; j++) {
          let v = b0[j]!;
          for (let k = 0; k < 784; k++) v += w0[j * 784 + k]! * xa[n * 784 + k]!;
          h[n * 5 + j] = Math.max(0, v);
        }
      }
      expectClose(readF64(fa, 'gram_plus:backbone.layers.1.weight'), gramOf(h, 4, 5), 1e-4);
      // The plain Gram of layer 1 is taken through expert a's own layer 0, so it differs.
      expect(Array.from(readF64(fa, 'gram:backbone.layers.1.weight'))).not.toEqual(Array.from(readF64(fa, 'gram_plus:backbone.layers.1.weight')));
    } finally {
      fa.close();
    }
    const plusOut = path.join(tmp.dir, 'zoo-merged-plus');
    await mergeToFolder(parseRecipe(`merge_method: regmean_plus\nparameters: {alpha: 0.8}\nmodels:\n  - model: ${path.join(zoo, 'experts', 'a')}\n  - model: ${path.join(zoo, 'experts', 'b')}\n`), { out: plusOut, threads: 1 });
    expect(fs.existsSync(path.join(plusOut, 'model.safetensors'))).toBe(true);
    const out = path.join(tmp.dir, 'zoo-merged');
    await mergeToFolder(parseRecipe(`merge_method: regmean\nparameters: {alpha: 1}\nmodels:\n  - model: ${path.join(zoo, 'experts', 'a')}\n  - model: ${path.join(zoo, 'experts', 'b')}\n`), { out, threads: 1 });
    const merged = Checkpoint.open(out);
    const a = Checkpoint.open(path.join(zoo, 'experts', 'a'));
    try {
      // Head b has no Gram in either file (each expert follows its own head): it is averaged.
      const b = Checkpoint.open(path.join(zoo, 'experts', 'b'));
      const avg = a.readF32('heads.b.bias').map((v, i) => (v + b.readF32('heads.b.bias')[i]!) / 2);
      b.close();
      expectClose(merged.readF32('heads.b.bias'), avg, 1e-6);
      expect(Array.from(merged.readF32('backbone.layers.0.weight'))).not.toEqual(Array.from(a.readF32('backbone.layers.0.weight')));
    } finally {
      merged.close();
      a.close();
    }
  });
});

describe('Llama family', () => {
  const SHAPE: LlamaShape = { hidden: 16, intermediate: 24, layers: 2, vocab: 40, heads: 2, kvHeads: 1 };
  const SEQS = [
    [1, 5, 9, 3],
    [7, 2],
    [30, 31, 32, 33, 34],
  ];

  const dir = path.join(tmp.dir, 'llama');
  const data = path.join(tmp.dir, 'ids.json');
  beforeAll(() => {
    writeSyntheticLlama(dir, SHAPE, { dtype: 'F32', seed: 3 });
    fs.writeFileSync(data, JSON.stringify({ input_ids: SEQS }));
  });

  it('writes a Gram per projection; the first layer\'s equals XᵀX/N of the normed embeddings', () => {
    const s = produceStatistics({ model: dir, data, kinds: ['gram'] });
    expect(s.grams).toBe(SHAPE.layers * 7 + 1); // q k v o gate up down per layer, and lm_head
    const c = Checkpoint.open(dir);
    const f = SafetensorsFile.open(s.file);
    try {
      const embed = c.readF32('model.embed_tokens.weight');
      const norm = c.readF32('model.layers.0.input_layernorm.weight');
      const eps = Number((c.config!.raw as { rms_norm_eps?: number }).rms_norm_eps ?? 1e-6);
      const tokens = SEQS.flat();
      const H = SHAPE.hidden;
      const x = new Float64Array(tokens.length * H);
      tokens.forEach((t, r) => {
        let ms = 0;
        for (let k = 0; k < H; k++) ms += embed[t * H + k]! ** 2 / H;
        for (let k = 0; k < H; k++) x[r * H + k] = (embed[t * H + k]! / Math.sqrt(ms + eps)) * norm[k]!;
      });
      const want = gramOf(x, tokens.length, H);
      expectClose(readF64(f, 'gram:model.layers.0.self_attn.q_proj.weight'), want, 1e-5);
      expectClose(readF64(f, 'gram:model.layers.0.self_attn.v_proj.weight'), want, 1e-5);
      expect(f.info('gram:model.layers.1.mlp.down_proj.weight').shape).toEqual([SHAPE.intermediate, SHAPE.intermediate]);
      expect(f.metadata.rows).toBe(String(tokens.length));
    } finally {
      f.close();
      c.close();
    }
  });

  it('writes the empirical Fisher of each sequence\'s log-likelihood, equal to float64 finite differences', () => {
    const out = path.join(tmp.dir, 'llama-fisher.safetensors');
    const s = produceStatistics({ model: dir, data, kinds: ['fisher'], out });
    const c = Checkpoint.open(dir);
    const f = SafetensorsFile.open(out);
    try {
      // Every float parameter of the checkpoint gets a Fisher of its own shape.
      expect(s.fishers).toBe(c.tensors.size);
      expect(f.metadata.kinds).toBe('fisher');
      const values: Record<string, Float64Array> = {};
      for (const n of c.tensors.keys()) values[n] = Float64Array.from(c.readF32(n));
      const raw = c.config!.raw as Record<string, unknown>;
      // F[k] = (1/N) Σₙ (∂/∂θₖ Σₜ log p(sₙ,ₜ | sₙ,<ₜ))², the derivative by central differences on the
      // independent float64 forward (test/reference/llama-reference.ts).
      const fdFisher = (name: string, k: number): number => {
        const h = 1e-4;
        const v = values[name]!;
        const keep = v[k]!;
        let sum = 0;
        for (const q of SEQS) {
          v[k] = keep + h;
          const up = refScore(raw, values, q.slice(0, 1), q.slice(1));
          v[k] = keep - h;
          const down = refScore(raw, values, q.slice(0, 1), q.slice(1));
          v[k] = keep;
          sum += ((up - down) / (2 * h)) ** 2;
        }
        return sum / SEQS.length;
      };
      const probes: Array<[string, number]> = [
        ['model.layers.0.self_attn.q_proj.weight', 7],
        ['model.layers.0.self_attn.v_proj.weight', 3],
        ['model.layers.1.mlp.down_proj.weight', 11],
        ['model.layers.1.post_attention_layernorm.weight', 2],
        ['model.embed_tokens.weight', 5 * SHAPE.hidden + 4], // token 5 occurs in a sequence
        ['model.norm.weight', 9],
        ['lm_head.weight', 3 * SHAPE.hidden + 6], // token 3 is predicted
      ];
      for (const [name, k] of probes) {
        const got = f.readF32(`fisher:${name}`);
        expect(f.info(`fisher:${name}`).shape).toEqual(c.tensors.get(name)!.shape);
        const want = fdFisher(name, k);
        // float32 gradients against float64 differences: 1e-3 relative (measured ≤ 1e-4).
        expect(Math.abs(got[k]! - want), `${name}[${k}]: ${got[k]} vs ${want}`).toBeLessThanOrEqual(1e-3 * want + 1e-9);
        expect(want).toBeGreaterThan(0);
      }
      // The embedding row of a token that never occurs as an input gets no gradient (untied head).
      expect(Math.max(...f.readF32('fisher:model.embed_tokens.weight').subarray(20 * SHAPE.hidden, 21 * SHAPE.hidden))).toBe(0);
      expect(fdFisher('model.embed_tokens.weight', 20 * SHAPE.hidden + 1)).toBe(0);
    } finally {
      f.close();
      c.close();
    }
    expectCode(() => produceStatistics({ model: dir, data: path.join(tmp.dir, 'short.json'), kinds: ['fisher'] }), 'IO_E_NOT_FOUND', 'short.json');
    fs.writeFileSync(path.join(tmp.dir, 'short.json'), JSON.stringify([[3], [4]]));
    expectCode(() => produceStatistics({ model: dir, data: path.join(tmp.dir, 'short.json'), kinds: ['fisher'], out }), 'STATS_E_INPUT', 'fewer than 2 tokens');
  });

  it('feeds Fisher merging of two Llama checkpoints: each entry is the Fisher-weighted average', async () => {
    const other = path.join(tmp.dir, 'llama-b');
    writeSyntheticLlama(other, SHAPE, { dtype: 'F32', seed: 4 });
    for (const m of [dir, other]) produceStatistics({ model: m, data, kinds: ['fisher'] });
    const out = path.join(tmp.dir, 'llama-fisher-merged');
    await mergeToFolder(parseRecipe(`merge_method: fisher\nparameters: {normalize: false}\nmodels:\n  - model: ${dir}\n  - model: ${other}\n`), { out, threads: 1 });
    const name = 'model.layers.1.mlp.up_proj.weight';
    const [ca, cb, cm] = [dir, other, out].map((d) => Checkpoint.open(d));
    const [fa, fb] = [dir, other].map((d) => SafetensorsFile.open(path.join(d, STATISTICS_FILE)));
    try {
      const [wa, wb, wm] = [ca!, cb!, cm!].map((c) => c.readF32(name));
      const [pa, pb] = [fa!, fb!].map((f) => f.readF32(`fisher:${name}`));
      const want = Float64Array.from(wa!, (v, i) => ((pa![i]! + 1e-6) * v + (pb![i]! + 1e-6) * wb![i]!) / (pa![i]! + pb![i]! + 2e-6));
      expectClose(wm!, want, 1e-5);
      expect(Array.from(wm!)).not.toEqual(Array.from(Float64Array.from(wa!, (v, i) => Math.fround((v + wb![i]!) / 2))));
    } finally {
      [ca, cb, cm, fa, fb].forEach((c) => c!.close());
      closeStatistics();
    }
  });

  it('gives a Llama zoo RegMean++ Grams: block l sees the merged embedding and blocks < l, as a full forward of that hybrid model does', () => {
    const zoo = path.join(tmp.dir, 'llama-zoo');
    const seqs: Record<string, number[][]> = { a: SEQS, b: [[4, 8, 15, 16], [23, 2, 11]] };
    for (const [task, seed] of [['a', 21], ['b', 22]] as const) {
      writeSyntheticLlama(path.join(zoo, 'experts', task), SHAPE, { dtype: 'F32', seed });
      fs.mkdirSync(path.join(zoo, 'data'), { recursive: true });
      fs.writeFileSync(path.join(zoo, 'data', `${task}.json`), JSON.stringify({ input_ids: seqs[task] }));
    }
    const manifest = { benchmark: 'skills4', tasks: ['a', 'b'], experts: { a: 'experts/a', b: 'experts/b' }, data: { a: { calibration: 'data/a.json' }, b: { calibration: 'data/b.json' } } };
    fs.writeFileSync(path.join(zoo, 'manifest.json'), JSON.stringify(manifest));
    const alpha = 0.7;
    const done = produceZooStatistics(zoo, ['gram', 'gram_plus'], undefined, undefined, alpha);
    expect(done.map((d) => d.grams)).toEqual([2 * (SHAPE.layers * 7 + 1), 2 * (SHAPE.layers * 7 + 1)]);
    const files = done.map((d) => SafetensorsFile.open(d.file));
    const experts = ['a', 'b'].map((t) => loadLlamaHost(path.join(zoo, 'experts', t)));
    try {
      // Independently: merge the blocks before `upTo` with the regmean_plus method through the
      // recipe path (from block 0's Grams, checked first against upTo = 0), average the norms and
      // the embedding, keep expert a's later blocks and head, and take the Grams of a whole forward
      // of that model with the plain producer.
      const avg = (n: string) => experts[0]!.params.get(n)!.values.map((v, i) => (v + experts[1]!.params.get(n)!.values[i]!) / 2);
      const hybridGrams = (upTo: number) => {
        const hybrid: Record<string, tf.Tensor> = {};
        for (const [n, p] of experts[0]!.params) {
          let v = p.values;
          const block = /^model\.layers\.(\d+)\./.exec(n);
          if (block && Number(block[1]) < upTo && n.endsWith('_proj.weight')) {
            v = mergeTensorInMemory({ method: 'regmean_plus', name: n, shape: p.shape, models: experts.map((e) => e.params.get(n)!.values), global: { alpha }, perModel: ['a', 'b'].map((t) => ({ statistics: path.join(zoo, 'experts', t, STATISTICS_FILE) })) });
          } else if ((block && Number(block[1]) < upTo) || n === 'model.embed_tokens.weight' || n === 'model.norm.weight') {
            v = avg(n);
          }
          hybrid[n] = tf.tensor(v, p.shape, 'float32');
        }
        const g = llamaGramStatistics(hybrid, experts[0]!.config, SEQS).grams!;
        tf.dispose(Object.values(hybrid));
        return g;
      };
      for (const [upTo, weights] of [
        [0, ['model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight']],
        [1, ['model.layers.1.self_attn.q_proj.weight', 'model.layers.1.self_attn.o_proj.weight', 'model.layers.1.mlp.down_proj.weight']],
      ] as const) {
        const want = hybridGrams(upTo);
        for (const w of weights) expectClose(readF64(files[0]!, `gram_plus:${w}`), want.get(w)!.values, 1e-4);
      }
      // ... and it differs from the plain Gram, which runs through a's own block 0.
      expect(Array.from(readF64(files[0]!, 'gram_plus:model.layers.1.self_attn.q_proj.weight'))).not.toEqual(Array.from(readF64(files[0]!, 'gram:model.layers.1.self_attn.q_proj.weight')));
    } finally {
      files.forEach((f) => f.close());
      closeStatistics();
    }
  });

  it('runs as `mergesearch stats` from the command line', () => {
    const out = path.join(tmp.dir, 'cli-stats.safetensors');
    const r = runCli(['stats', dir, '--data', data, '--out', out, '--backend', 'wasm'], 120_000);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${out}: ${SHAPE.layers * 7 + 1} Gram matrices`);
    const bad = runCli(['stats', dir], 120_000);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('CLI_E_ARG');
  }, 240_000);
});
