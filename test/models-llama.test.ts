// The Llama-family decoder against an independent float64 reference (test/reference/llama-reference.ts):
// logits for Llama, Qwen2 (biases, tied), Mistral (explicit head_dim, sliding window) and Llama with
// attention_bias/mlp_bias; left padding; gradients against the reference's finite differences;
// KV-cache generation against full recomputation; scoring against the reference's log-softmax;
// config and parameter errors; a synthetic checkpoint loaded from disk; no tensor leaks.
//
// Tolerances (absolute): logits 1e-4; summed log-likelihoods 1e-4 per example; gradients 1e-3
// relative to the gradient's largest entry. Measured maxima are printed ("max |Δ|").
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLlamaParams, llamaConfigFromJson, llamaParameterShapes, type LlamaConfig } from '../src/models/llama-config.ts';
import { loadLlamaCheckpoint } from '../src/models/llama-load.ts';
import { llamaGenerate, llamaLogits, llamaScore, llamaTargetLogLikelihood, type LlamaParams } from '../src/models/llama.ts';
import { MODEL_FAMILIES, modelFamilyOf } from '../src/models/registry.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { writeSyntheticLlama } from '../src/zoo/synthetic-llama.ts';
import { expectCode, makeTmp, rng } from './helpers/io-tmp.ts';
import { refArgmax, refLogits, refLogSoftmax, refScore } from './reference/llama-reference.ts';

const LOGIT_TOL = 1e-4;
const SCORE_TOL = 1e-4;
const GRAD_REL_TOL = 1e-3;

beforeAll(async () => {
  await initEngine('wasm');
});

const base = { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 50 };
const CONFIGS: Record<string, Record<string, unknown>> = {
  llama: { architectures: ['LlamaForCausalLM'], model_type: 'llama', ...base, num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 128, rope_scaling: null },
  qwen2: { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', ...base, num_key_value_heads: 1, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 16 },
  mistral: { architectures: ['MistralForCausalLM'], model_type: 'mistral', ...base, num_key_value_heads: 4, head_dim: 16, sliding_window: 24, rope_theta: 500 },
  'llama-biases': { architectures: ['LlamaForCausalLM'], model_type: 'llama', ...base, num_key_value_heads: 2, attention_bias: true, mlp_bias: true, tie_word_embeddings: true },
};

interface Model {
  raw: Record<string, unknown>;
  config: LlamaConfig;
  values: Record<string, Float32Array>;
  params: LlamaParams;
}

/** Seeded random weights: matrices ±1.7/√fan_in, norms 1 ± 0.2, biases ±0.2 (float32 for both sides). */
function makeModel(name: string, seed: number): Model {
  const raw = CONFIGS[name]!;
  const config = llamaConfigFromJson(raw, `${name}/config.json`);
  const rand = rng(seed);
  const values: Record<string, Float32Array> = {};
  const params: LlamaParams = {};
  for (const { name: n, shape } of llamaParameterShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const u = 2 * rand() - 1;
      v[i] = shape.length === 2 ? (1.7 * u) / Math.sqrt(shape[1]!) : n.endsWith('norm.weight') ? 1 + 0.2 * u : 0.2 * u;
    }
    values[n] = v;
    params[n] = tf.tensor(v, shape);
  }
  return { raw, config, values, params };
}

const models: Record<string, Model> = {};
const model = (name: string): Model => (models[name] ??= makeModel(name, 1234 + Object.keys(CONFIGS).indexOf(name)));
afterAll(() => {
  for (const m of Object.values(models)) tf.dispose(Object.values(m.params));
});

const seq = (seed: number, len: number, vocab = 50) => {
  const r = rng(seed);
  return Array.from({ length: len }, () => Math.floor(r() * vocab));
};

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function logitsOf(m: Model, ids: number[][], options?: Parameters<typeof llamaLogits>[3]): Float32Array[][] {
  const t = llamaLogits(m.params, m.config, ids, options);
  const flat = t.dataSync() as Float32Array;
  const [B, T, V] = t.shape;
  t.dispose();
  return Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, i) => flat.slice((b * T + i) * V, (b * T + i + 1) * V)));
}

describe.each(Object.keys(CONFIGS))('%s: forward against the float64 reference', (name) => {
  it(`logits for a batch of two sequences match within ${LOGIT_TOL}`, () => {
    const m = model(name);
    const ids = [seq(1, 9), seq(2, 9)];
    const got = logitsOf(m, ids);
    let worst = 0;
    ids.forEach((row, b) => {
      const want = refLogits(m.raw, m.values, row);
      row.forEach((_, t) => (worst = Math.max(worst, maxAbsDiff(got[b]![t]!, want[t]!))));
    });
    console.log(`${name}: logits max |Δ| vs float64 reference = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(LOGIT_TOL);
    // the logits are not trivially small: the tolerance means something
    expect(Math.max(...refLogits(m.raw, m.values, ids[0]!).map((r) => Math.max(...r.map(Math.abs))))).toBeGreaterThan(1);
  });

  it('a left-padded batch gives each row the logits of its unpadded sequence', () => {
    const m = model(name);
    const a = seq(3, 8);
    const b = seq(4, 5);
    const ids = [a, [7, 7, 7, ...b]];
    const mask = [a.map(() => 1), [0, 0, 0, ...b.map(() => 1)]];
    const got = logitsOf(m, ids, { attentionMask: mask });
    const wantA = refLogits(m.raw, m.values, a);
    const wantB = refLogits(m.raw, m.values, b);
    let worst = 0;
    a.forEach((_, t) => (worst = Math.max(worst, maxAbsDiff(got[0]![t]!, wantA[t]!))));
    b.forEach((_, t) => (worst = Math.max(worst, maxAbsDiff(got[1]![t + 3]!, wantB[t]!))));
    expect(worst).toBeLessThan(LOGIT_TOL);
    // the same with the mask as a tensor and an int32 tensor of ids
    const idsT = tf.tensor2d(ids, [2, 8], 'int32');
    const maskT = tf.tensor2d(mask, [2, 8], 'int32');
    const t = llamaLogits(m.params, m.config, idsT, { attentionMask: maskT });
    expect(maxAbsDiff(t.dataSync(), got.flat().flatMap((r) => [...r]))).toBe(0);
    tf.dispose([idsT, maskT, t]);
  });
});

describe('gradients', () => {
  it.each(['llama', 'qwen2'])('%s: d(Σ c·logits)/dθ matches central differences of the float64 reference', (name) => {
    const m = model(name);
    const ids = [seq(5, 6)];
    const cr = rng(99);
    const coef = Float32Array.from({ length: 6 * 50 }, () => 2 * cr() - 1);
    const probe = (vals: Record<string, Float32Array | Float64Array>) => {
      const lg = refLogits(m.raw, vals, ids[0]!);
      let s = 0;
      lg.forEach((row, t) => row.forEach((v, j) => (s += coef[t * 50 + j]! * v)));
      return s;
    };
    const names = ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.down_proj.weight', 'model.layers.0.input_layernorm.weight'];
    if (m.config.qkvBias) names.push('model.layers.1.self_attn.k_proj.bias');
    const before = tf.memory().numTensors;
    const c = tf.tensor3d(coef, [1, 6, 50]);
    let worst = 0;
    const grads = tf.grads((...ps: tf.Tensor[]) => {
      const p = { ...m.params };
      names.forEach((n, i) => (p[n] = ps[i]!));
      return tf.sum(tf.mul(llamaLogits(p, m.config, ids), c));
    })(names.map((n) => m.params[n]!));
    names.forEach((n, k) => {
      const g = grads[k]!.dataSync();
      const gmax = Math.max(...Array.from(g, Math.abs));
      expect(gmax, n).toBeGreaterThan(0);
      // three entries per tensor: the largest and two fixed ones (embedding rows of tokens in the input)
      const idx = [Array.from(g, Math.abs).indexOf(gmax), (ids[0]![0]! * 32 + 3) % g.length, 5];
      for (const i of idx) {
        const h = 1e-4;
        const vals: Record<string, Float64Array | Float32Array> = { ...m.values, [n]: Float64Array.from(m.values[n]!) };
        (vals[n] as Float64Array)[i] = m.values[n]![i]! + h;
        const up = probe(vals);
        (vals[n] as Float64Array)[i] = m.values[n]![i]! - h;
        const down = probe(vals);
        const fd = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(g[i]! - fd) / gmax);
        expect(Math.abs(g[i]! - fd), `${n}[${i}]: tfjs ${g[i]} vs finite difference ${fd}`).toBeLessThan(GRAD_REL_TOL * gmax);
      }
    });
    console.log(`${name}: gradient max |Δ| / max|∇| vs float64 central differences = ${worst.toExponential(2)}`);
    tf.dispose([...grads, c]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** Greedy tokens by recomputing the whole sequence each step (argmax of llamaLogits' last row). */
function recomputeGreedy(m: Model, prompt: number[], n: number, eos: number[] = []): number[] {
  const ids = [...prompt];
  const out: number[] = [];
  for (let s = 0; s < n; s++) {
    const lg = logitsOf(m, [ids]);
    const tok = refArgmax(lg[0]![ids.length - 1]!);
    out.push(tok);
    ids.push(tok);
    if (eos.includes(tok)) break;
  }
  return out;
}

describe.each(['llama', 'qwen2', 'mistral'])('%s: greedy generation with a KV cache', (name) => {
  it('gives the tokens of full recomputation, alone and in a left-padded batch', () => {
    const m = model(name);
    const prompts = [seq(11, 5), seq(12, 2), seq(13, 9), [17]];
    const n = 12;
    const want = prompts.map((p) => recomputeGreedy(m, p, n));
    expect(llamaGenerate(m.params, m.config, [prompts[0]!], n)).toEqual([want[0]]);
    const before = tf.memory().numTensors;
    const got = llamaGenerate(m.params, m.config, prompts, n);
    expect(tf.memory().numTensors).toBe(before);
    expect(got).toEqual(want);
    // the outputs are not degenerate (a constant model would pass trivially)
    expect(new Set(got.flat()).size).toBeGreaterThan(3);
    // without pre-transposed weights: the same tokens
    expect(llamaGenerate(m.params, m.config, prompts, n, { pretranspose: false })).toEqual(want);
    // the float64 reference agrees on the first prompt
    const refIds = [...prompts[0]!];
    for (let s = 0; s < 6; s++) refIds.push(refArgmax(refLogits(m.raw, m.values, refIds).at(-1)!));
    expect(refIds.slice(prompts[0]!.length)).toEqual(want[0]!.slice(0, 6));
  });

  it('stops a row at its eos token and keeps the others going', () => {
    const m = model(name);
    const prompts = [seq(21, 4), seq(22, 7)];
    const free = prompts.map((p) => recomputeGreedy(m, p, 8));
    const eos = free[0]![2]!;
    const want = prompts.map((p) => recomputeGreedy(m, p, 8, [eos]));
    const got = llamaGenerate(m.params, m.config, prompts, 8, { eos });
    expect(got).toEqual(want);
    expect(got[0]!.at(-1)).toBe(eos);
    expect(got[0]!.length).toBeLessThanOrEqual(3);
    expect(llamaGenerate(m.params, m.config, prompts, 0)).toEqual([[], []]);
  });
});

describe.each(['llama', 'qwen2'])('%s: scoring', (name) => {
  it(`llamaScore equals the reference log-softmax sums within ${SCORE_TOL}`, () => {
    const m = model(name);
    const batch = [
      { input: seq(31, 4), target: seq(32, 3) },
      { input: seq(33, 1), target: seq(34, 6) },
      { input: seq(35, 7), target: [] },
      { input: seq(36, 2), target: seq(37, 2) },
      { input: seq(38, 5), target: seq(39, 5) },
    ];
    const before = tf.memory().numTensors;
    const got = llamaScore(m.params, m.config, batch, { batchSize: 2 });
    expect(tf.memory().numTensors).toBe(before);
    let worst = 0;
    batch.forEach((ex, i) => {
      const want = refScore(m.raw, m.values, ex.input, ex.target);
      expect(got[i]!.tokens).toBe(ex.target.length);
      worst = Math.max(worst, Math.abs(got[i]!.logLikelihood - want));
    });
    console.log(`${name}: summed log-likelihood max |Δ| vs float64 reference = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(SCORE_TOL);
    expect(got[2]).toEqual({ logLikelihood: 0, tokens: 0 });
    expect(got[1]!.logLikelihood).toBeLessThan(-1);
    // one batch at a time, unbatched, without pre-transposed weights: the same within float32 noise
    const alone = llamaScore(m.params, m.config, batch, { batchSize: 1, pretranspose: false });
    expect(maxAbsDiff(alone.map((s) => s.logLikelihood), got.map((s) => s.logLikelihood))).toBeLessThan(SCORE_TOL);
    // the differentiable form gives the same numbers
    const t = llamaTargetLogLikelihood(m.params, m.config, batch);
    expect(maxAbsDiff(t.dataSync(), got.map((s) => s.logLikelihood))).toBeLessThan(SCORE_TOL);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // sanity: the log-softmax of the reference is a distribution
    const p = refLogSoftmax(refLogits(m.raw, m.values, [1, 2])[1]!);
    expect(Array.from(p, Math.exp).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('refuses an example without input and a token outside the vocabulary', () => {
    const m = model(name);
    expectCode(() => llamaScore(m.params, m.config, [{ input: [], target: [1] }]), 'MODEL_E_PARAMS', 'example 0', 'empty input');
    expectCode(() => llamaScore(m.params, m.config, [{ input: [1], target: [50] }]), 'MODEL_E_PARAMS', 'token id 50', 'target position 0');
  });
});

describe('no tensor leaks', () => {
  it('llamaLogits leaves only its result behind', () => {
    const m = model('llama');
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) llamaLogits(m.params, m.config, [seq(i, 6)], { attentionMask: [[0, 1, 1, 1, 1, 1]] }).dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => llamaLogits(m.params, m.config, [[1, 2], [3]])).toThrow(/rows must have equal lengths/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('config.json', () => {
  const src = 'ckpt/config.json';
  const without = (key: string) => Object.fromEntries(Object.entries(CONFIGS.llama!).filter(([k]) => k !== key));

  it('reads keys and applies the transformers defaults', () => {
    const c = llamaConfigFromJson({ architectures: ['LlamaForCausalLM'], ...base }, src);
    expect(c).toMatchObject({ numKvHeads: 4, headDim: 8, ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: false, maxPositionEmbeddings: 2048, qkvBias: false, oBias: false, mlpBias: false, slidingWindow: null, eosTokenIds: [] });
    const q = llamaConfigFromJson(CONFIGS.qwen2, src);
    expect(q).toMatchObject({ architecture: 'Qwen2ForCausalLM', qkvBias: true, oBias: false, tieWordEmbeddings: true, ropeTheta: 1e6, slidingWindow: null, maxPositionEmbeddings: 32768 });
    expect(llamaConfigFromJson({ ...CONFIGS.llama, eos_token_id: [2, 7], bos_token_id: 1 }, src)).toMatchObject({ eosTokenIds: [2, 7], bosTokenId: 1 });
    const names = llamaParameterShapes(q).map((s) => s.name);
    expect(names).toContain('model.layers.1.self_attn.v_proj.bias');
    expect(names).not.toContain('model.layers.1.self_attn.o_proj.bias');
    expect(names).not.toContain('lm_head.weight');
    expect(llamaParameterShapes(llamaConfigFromJson(CONFIGS.llama, src))).toHaveLength(1 + 2 * 9 + 2);
    expect(llamaParameterShapes(llamaConfigFromJson(CONFIGS['llama-biases'], src)).filter((s) => s.name.endsWith('.bias'))).toHaveLength(2 * 7);
  });

  it('names the key at fault', () => {
    expectCode(() => llamaConfigFromJson(without('num_attention_heads'), src), 'IO_E_CONFIG', src, '"num_attention_heads"', 'required');
    expectCode(() => llamaConfigFromJson({ ...CONFIGS.llama, hidden_size: 30 }, src), 'IO_E_CONFIG', src, '"num_attention_heads"', 'divisor of hidden_size = 30');
    expectCode(() => llamaConfigFromJson({ ...CONFIGS.llama, rope_scaling: { type: 'linear', factor: 2 } }, src), 'IO_E_CONFIG', src, '"rope_scaling"', 'not implemented');
    expectCode(() => llamaConfigFromJson({ ...CONFIGS.llama, num_key_value_heads: 3 }, src), 'IO_E_CONFIG', '"num_key_value_heads"', 'divisor of num_attention_heads = 4');
    expectCode(() => llamaConfigFromJson({ ...CONFIGS.llama, hidden_act: 'gelu' }, src), 'IO_E_CONFIG', '"hidden_act"');
    expectCode(() => llamaConfigFromJson({ ...CONFIGS.llama, head_dim: 7 }, src), 'IO_E_CONFIG', '"head_dim"', 'even');
    expectCode(() => llamaConfigFromJson({ ...CONFIGS.llama, vocab_size: '50' }, src), 'IO_E_CONFIG', '"vocab_size"', 'positive integer');
    expectCode(() => llamaConfigFromJson({ ...CONFIGS.llama, architectures: ['GPT2LMHeadModel'] }, src), 'IO_E_CONFIG', '"architectures"', 'LlamaForCausalLM');
    expectCode(() => llamaConfigFromJson({ ...CONFIGS.llama, tie_word_embeddings: 'yes' }, src), 'IO_E_CONFIG', '"tie_word_embeddings"');
    // head_dim given: heads need not divide hidden_size
    expect(llamaConfigFromJson({ ...CONFIGS.llama, hidden_size: 30, head_dim: 8 }, src).headDim).toBe(8);
  });

  it("Mistral's sliding window: noted, exact up to the window, longer sequences refused", () => {
    const m = model('mistral');
    expect(m.config.slidingWindow).toBe(24);
    expect(m.config.notes.join(' ')).toMatch(/sliding_window 24 is not implemented/);
    expectCode(() => llamaLogits(m.params, m.config, [seq(1, 25)]), 'MODEL_E_PARAMS', 'sliding_window 24');
    expectCode(() => llamaGenerate(m.params, m.config, [seq(1, 20)], 6), 'MODEL_E_PARAMS', 'sliding_window 24');
    expect(llamaGenerate(m.params, m.config, [seq(1, 20)], 5)[0]).toHaveLength(5);
    // Qwen2 has a sliding_window key but use_sliding_window false: no limit
    expect(model('qwen2').config.slidingWindow).toBeNull();
  });

  it('registers the three architectures', () => {
    for (const arch of ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM']) {
      const raw = { ...base, architectures: [arch] };
      const fam = modelFamilyOf(raw, 'x/config.json');
      expect(fam).toBe(MODEL_FAMILIES[arch]);
      const c = fam.parseConfig(raw, 'x/config.json');
      expect(fam.parameterShapes(c)).toEqual(llamaParameterShapes(c as LlamaConfig));
    }
  });
});

describe('parameters', () => {
  it('checkLlamaParams names a missing or misshapen tensor', () => {
    const c = llamaConfigFromJson(CONFIGS.llama, 'c.json');
    const shapes = new Map(llamaParameterShapes(c).map((s) => [s.name, s.shape as readonly number[]]));
    checkLlamaParams(c, shapes, 'ckpt');
    shapes.set('extra.weight', [3]);
    checkLlamaParams(c, shapes, 'ckpt');
    const noHead = new Map(shapes);
    noHead.delete('lm_head.weight');
    expectCode(() => checkLlamaParams(c, noHead, 'ckpt'), 'IO_E_NO_TENSOR', 'lm_head.weight', 'ckpt', 'tie_word_embeddings');
    const bad = new Map(shapes).set('model.layers.1.self_attn.k_proj.weight', [32, 32]);
    expectCode(() => checkLlamaParams(c, bad, 'ckpt'), 'MERGE_E_SHAPE', 'model.layers.1.self_attn.k_proj.weight', '[32,32]', '[16,32]');
  });

  it('the forward refuses a wrong parameter map and bad token ids', () => {
    const m = model('llama');
    const { 'model.norm.weight': _, ...partial } = m.params;
    expectCode(() => llamaLogits(partial, m.config, [[1, 2]]), 'IO_E_NO_TENSOR', 'model.norm.weight');
    expectCode(() => llamaLogits(m.params, m.config, [[1, 50]]), 'MODEL_E_PARAMS', 'token id 50', 'row 0, position 1');
    expectCode(() => llamaGenerate(m.params, m.config, [[1], []], 2), 'MODEL_E_PARAMS', 'prompt 1 is empty');
  });
});

describe('a synthetic checkpoint from src/zoo/synthetic-llama.ts', () => {
  it.each([
    ['F16', false],
    ['F32', true],
  ] as const)('%s (tied %s) loads, passes checkLlamaParams, and runs like the reference', (dtype, tie) => {
    const tmp = makeTmp('mergesearch-llama-');
    try {
      const shape = { hidden: 32, intermediate: 48, layers: 2, vocab: 40, heads: 4, kvHeads: 2, tieEmbeddings: tie };
      writeSyntheticLlama(tmp.dir, shape, { dtype, seed: 5 });
      const before = tf.memory().numTensors;
      const loaded = loadLlamaCheckpoint(tmp.dir);
      expect(loaded.config).toMatchObject({ architecture: 'LlamaForCausalLM', hiddenSize: 32, numKvHeads: 2, vocabSize: 40, rmsNormEps: 1e-5, tieWordEmbeddings: tie });
      const values = Object.fromEntries(Object.entries(loaded.params).map(([n, t]) => [n, t.dataSync() as Float32Array]));
      const raw = { architectures: ['LlamaForCausalLM'], hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40, rms_norm_eps: 1e-5, tie_word_embeddings: tie };
      const ids = seq(7, 10, 40);
      const got = logitsOf({ raw, config: loaded.config, values, params: loaded.params }, [ids]);
      const want = refLogits(raw, values, ids);
      let worst = 0;
      ids.forEach((_, t) => (worst = Math.max(worst, maxAbsDiff(got[0]![t]!, want[t]!))));
      expect(worst).toBeLessThan(LOGIT_TOL);
      expect(llamaGenerate(loaded.params, loaded.config, [ids.slice(0, 3)], 4)[0]).toHaveLength(4);
      loaded.dispose();
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      tmp.cleanup();
    }
  });
});
