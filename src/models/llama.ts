// The Llama-family decoder (Llama, Mistral, Qwen2) as pure functions of a parameter map keyed by
// Hugging Face tensor names, so a merged parameter map plugs in as is and gradients flow back to
// whatever built the tensors (merge coefficients).
//
// Per layer:  h += o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))  with n = rms(h)
//             h += down_proj(silu(gate_proj(n)) * up_proj(n))                   with n = rms(h)
// then the final RMSNorm and lm_head (model.embed_tokens.weight when tied). Everything is float32.
//
// Conventions, as in Hugging Face transformers:
// - RMSNorm: x · rsqrt(mean(x²) + eps) · w.
// - RoPE "rotate_half": the head's first and second halves form the rotated pairs (i, i + d/2) with
//   angle position · theta^(-2i/d). Angles are computed in float64, then rounded to float32.
// - Grouped-query attention: query head h reads key/value head floor(h / (heads / kv_heads)).
//   Implemented without repeating k/v: the query heads of one group are stacked along the query
//   axis, so one batched matmul per group does the work.
// - Padding: an attention mask (1 = token, 0 = padding) hides padded keys; position ids default to
//   cumsum(mask) - 1 (what transformers' generate() uses), so a left-padded row's logits equal the
//   unpadded sequence's. Logits at padded positions are meaningless.
//
// Two wasm facts shape the code (DESIGN.md): tf.gather has no gradient on wasm (UnsortedSegmentSum
// is missing), so row lookups get a custom gradient through scatterND (which sums duplicates); and
// a transposed matmul is materialised by the engine on every call, so the no-gradient paths
// (generation, scoring) transpose each weight once per call instead of once per step.
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import type { LlamaConfig } from './llama-config.ts';
import { runReadsSync, type Reads } from './reads.ts';

export type LlamaParams = Record<string, tf.Tensor>;

/** Finite stand-in for -∞ in additive attention masks: exp underflows to 0, a fully masked row stays finite. */
const MASKED = -1e9;

export interface LlamaLogitsOptions {
  /** [B, T] of 1 (token) and 0 (padding), as arrays or a tensor. Default: all tokens. */
  attentionMask?: number[][] | tf.Tensor;
  /** [B, T] position ids. Default: cumsum(attentionMask) - 1 (0, 1, 2, ... without a mask). */
  positionIds?: number[][];
  /** Called with every linear layer's input [B·T, in] and its weight's name (statistics producers). */
  onLinearInput?: (weight: string, x: tf.Tensor2D) => void;
}

export interface LlamaGenerateOptions {
  /** Token ids that end a row's generation (kept as its last token). Default: config.eosTokenIds. */
  eos?: number | number[];
  /** Transpose the weights once for the whole call (faster steps, twice the weight memory). Default true. */
  pretranspose?: boolean;
}

export interface LlamaScoreExample {
  /** The context; at least one token. */
  input: number[];
  /** The tokens scored, each given the input and the targets before it. */
  target: number[];
}

export interface LlamaScore {
  /** Σ log p(target[j] | input, target[0..j-1]), natural log, accumulated in float64. */
  logLikelihood: number;
  /** target.length: per-token loss = -logLikelihood / tokens; perplexity = exp of that. */
  tokens: number;
}

export interface LlamaScoreOptions {
  /** Examples per forward pass (default 8). Examples are grouped by length to waste little padding. */
  batchSize?: number;
  /** As in LlamaGenerateOptions. Default true. */
  pretranspose?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Inputs

const fmtShape = (s: readonly number[]) => JSON.stringify(s);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function param(params: LlamaParams, name: string, shape: readonly number[]): tf.Tensor {
  const t = params[name];
  if (t === undefined) fail('IO_E_NO_TENSOR', `tensor ${name} ${fmtShape(shape)} is missing from the parameter map`);
  if (!sameShape(t.shape, shape)) fail('MERGE_E_SHAPE', `tensor ${name} is ${fmtShape(t.shape)} in the parameter map but the model's config needs ${fmtShape(shape)}`);
  if (t.dtype !== 'float32') fail('MODEL_E_PARAMS', `tensor ${name} is ${t.dtype} in the parameter map; the model needs float32`);
  return t;
}

function checkToken(config: LlamaConfig, id: number, where: string): void {
  if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
    fail('MODEL_E_PARAMS', `token id ${id} at ${where} is not in the vocabulary [0, ${config.vocabSize})`);
  }
}

function checkLength(config: LlamaConfig, length: number): void {
  if (config.slidingWindow !== null && length > config.slidingWindow) {
    fail('MODEL_E_PARAMS', `a sequence of ${length} tokens is longer than the model's sliding_window ${config.slidingWindow}, which is not implemented; use sequences of at most ${config.slidingWindow} tokens`);
  }
}

/** A [B, T] grid of numbers from arrays or a tensor, flattened row-major, with its shape checked. */
function grid(x: number[][] | tf.Tensor, what: string, shape?: readonly [number, number]): { data: Int32Array; batch: number; len: number } {
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2) fail('MODEL_E_PARAMS', `${what} is a tensor of shape ${fmtShape(x.shape)}; it must be [batch, length]`);
    const [batch, len] = x.shape as [number, number];
    if (shape && (batch !== shape[0] || len !== shape[1])) fail('MODEL_E_PARAMS', `${what} is ${fmtShape(x.shape)} but the token ids are ${fmtShape(shape)}`);
    return { data: Int32Array.from(x.dataSync()), batch, len };
  }
  const batch = x.length;
  const len = x[0]?.length ?? 0;
  x.forEach((row, b) => {
    if (row.length !== len) fail('MODEL_E_PARAMS', `${what} row ${b} has ${row.length} entries but row 0 has ${len}; rows must have equal lengths (pad them and pass an attentionMask)`);
  });
  if (shape && (batch !== shape[0] || len !== shape[1])) fail('MODEL_E_PARAMS', `${what} is [${batch}, ${len}] but the token ids are ${fmtShape(shape)}`);
  const data = new Int32Array(batch * len);
  x.forEach((row, b) => row.forEach((v, t) => (data[b * len + t] = v)));
  return { data, batch, len };
}

/** transformers' generate(): position = (number of tokens so far) - 1, 0 at padding before any token. */
function positionsFromMask(mask: Int32Array, batch: number, len: number): Int32Array {
  const pos = new Int32Array(batch * len);
  for (let b = 0; b < batch; b++) {
    let seen = 0;
    for (let t = 0; t < len; t++) {
      if (mask[b * len + t]) seen++;
      pos[b * len + t] = Math.max(seen - 1, 0);
    }
  }
  return pos;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Rows `idx` of x [N, D]: tf.gather, with a gradient that works on wasm (scatterND sums duplicates). */
function gatherRows(x: tf.Tensor2D, idx: Int32Array): tf.Tensor2D {
  const rows = x.shape[0];
  const cols = x.shape[1];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const value = tf.gather(args[0] as tf.Tensor2D, tf.tensor1d(idx, 'int32')) as tf.Tensor2D;
    const gradFunc = (dy: tf.Tensor2D) => tf.scatterND(tf.tensor2d(idx, [idx.length, 1], 'int32'), dy, [rows, cols]);
    return { value, gradFunc };
  });
  return f(x);
}

function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight);
}

function rotateHalf(x: tf.Tensor4D): tf.Tensor4D {
  const half = x.shape[3] / 2;
  const [x1, x2] = tf.split(x, [half, half], 3);
  return tf.concat([tf.neg(x2!), x1!], 3) as tf.Tensor4D;
}

/** cos and sin [B, 1, T, d] of position · theta^(-2i/d), duplicated over both halves of the head. */
function ropeTables(config: LlamaConfig, positions: Int32Array, batch: number, len: number): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
  const d = config.headDim;
  const half = d / 2;
  const invFreq = Array.from({ length: half }, (_, i) => Math.pow(config.ropeTheta, (-2 * i) / d));
  const cos = new Float32Array(batch * len * d);
  const sin = new Float32Array(batch * len * d);
  for (let r = 0; r < batch * len; r++) {
    const p = positions[r]!;
    for (let i = 0; i < half; i++) {
      const a = p * invFreq[i]!;
      cos[r * d + i] = cos[r * d + i + half] = Math.cos(a);
      sin[r * d + i] = sin[r * d + i + half] = Math.sin(a);
    }
  }
  return { cos: tf.tensor4d(cos, [batch, 1, len, d]), sin: tf.tensor4d(sin, [batch, 1, len, d]) };
}

/**
 * Additive mask [B, 1, T, S] for T queries after `past` cached keys (S = past + T): query i sees key
 * j when j ≤ past + i and key j is not padding. Undefined when nothing is masked.
 */
function attentionBias(keyMask: Int32Array | null, batch: number, len: number, past: number): tf.Tensor4D | undefined {
  const s = past + len;
  if (keyMask === null && len === 1) return undefined;
  const m = new Float32Array(batch * len * s);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < len; i++) {
      const row = (b * len + i) * s;
      for (let j = 0; j < s; j++) {
        const visible = j <= past + i && (keyMask === null || keyMask[b * s + j] !== 0);
        if (!visible) m[row + j] = MASKED;
      }
    }
  }
  return tf.tensor4d(m, [batch, 1, len, s]);
}

/**
 * Where the weights come from: the parameter map (x·Wᵀ, the differentiable path), or weights
 * transposed once up front (x·(Wᵀ), for the no-gradient paths that run many forwards).
 */
interface Weights {
  params: LlamaParams;
  transposed?: Map<string, tf.Tensor2D>;
  onLinearInput?: (weight: string, x: tf.Tensor2D) => void;
}

function linear(w: Weights, x: tf.Tensor2D, prefix: string, rows: number, cols: number, bias: boolean): tf.Tensor2D {
  const name = `${prefix}.weight`;
  w.onLinearInput?.(name, x);
  const wt = w.transposed?.get(name);
  const y = (wt ? tf.matMul(x, wt) : tf.matMul(x, param(w.params, name, [rows, cols]) as tf.Tensor2D, false, true)) as tf.Tensor2D;
  return bias ? tf.add<tf.Tensor2D>(y, param(w.params, `${prefix}.bias`, [rows])) : y;
}

const lmHeadName = (config: LlamaConfig) => (config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');

/** Logits [N, V] for final hidden states [N, H] (already normed). */
function lmHead(w: Weights, config: LlamaConfig, hidden: tf.Tensor2D): tf.Tensor2D {
  return linear(w, hidden, lmHeadName(config).replace(/\.weight$/, ''), config.vocabSize, config.hiddenSize, false);
}

/** Every 2-D weight of the forward, transposed (the caller disposes them). */
function transposeWeights(params: LlamaParams, config: LlamaConfig): Map<string, tf.Tensor2D> {
  const out = new Map<string, tf.Tensor2D>();
  const h = config.hiddenSize;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const inter = config.intermediateSize;
  const add = (name: string, rows: number, cols: number) => out.set(name, tf.transpose(param(params, name, [rows, cols]) as tf.Tensor2D));
  try {
    for (let l = 0; l < config.numLayers; l++) {
      const p = `model.layers.${l}.`;
      add(`${p}self_attn.q_proj.weight`, q, h);
      add(`${p}self_attn.k_proj.weight`, kv, h);
      add(`${p}self_attn.v_proj.weight`, kv, h);
      add(`${p}self_attn.o_proj.weight`, h, q);
      add(`${p}mlp.gate_proj.weight`, inter, h);
      add(`${p}mlp.up_proj.weight`, inter, h);
      add(`${p}mlp.down_proj.weight`, h, inter);
    }
    add(lmHeadName(config), config.vocabSize, h);
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}

interface KvCache {
  /** Per layer: keys after RoPE and values, [B, kv_heads, S, head_dim]. */
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
}

interface DecoderInput {
  ids: Int32Array;
  batch: number;
  len: number;
  positions: Int32Array;
  /** [B, past + len] of 1/0 over every key (cached and new); null: no padding. */
  keyMask: Int32Array | null;
  past?: KvCache;
}

/** Final-normed hidden states [B·T, H] and, for generation, the extended KV cache. */
function decoder(w: Weights, config: LlamaConfig, input: DecoderInput): { hidden: tf.Tensor2D; cache: KvCache } {
  const { batch: B, len: T } = input;
  const H = config.hiddenSize;
  const nH = config.numHeads;
  const nKV = config.numKvHeads;
  const d = config.headDim;
  const group = nH / nKV;
  const I = config.intermediateSize;
  const past = input.past ? input.past.k[0]!.shape[2] : 0;
  const S = past + T;
  const eps = config.rmsNormEps;

  const embed = param(w.params, 'model.embed_tokens.weight', [config.vocabSize, H]) as tf.Tensor2D;
  let h = gatherRows(embed, input.ids); // [B·T, H]
  const { cos, sin } = ropeTables(config, input.positions, B, T);
  const rope = (x: tf.Tensor4D) => tf.add(tf.mul(x, cos), tf.mul(rotateHalf(x), sin)) as tf.Tensor4D;
  const bias = attentionBias(input.keyMask, B, T, past);
  const scale = 1 / Math.sqrt(d);
  const cache: KvCache = { k: [], v: [] };

  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}.`;
    // attention
    const n = rmsNorm(h, param(w.params, `${p}input_layernorm.weight`, [H]), eps) as tf.Tensor2D;
    const heads = (x: tf.Tensor2D, count: number) => tf.transpose(tf.reshape(x, [B, T, count, d]), [0, 2, 1, 3]) as tf.Tensor4D;
    const q = rope(heads(linear(w, n, `${p}self_attn.q_proj`, nH * d, H, config.qkvBias), nH));
    let k = rope(heads(linear(w, n, `${p}self_attn.k_proj`, nKV * d, H, config.qkvBias), nKV));
    let v = heads(linear(w, n, `${p}self_attn.v_proj`, nKV * d, H, config.qkvBias), nKV);
    if (input.past) {
      k = tf.concat([input.past.k[l]!, k], 2);
      v = tf.concat([input.past.v[l]!, v], 2);
    }
    cache.k.push(k);
    cache.v.push(v);
    // The `group` query heads sharing a kv head are consecutive: stack them along the query axis.
    const qg = tf.reshape(q, [B, nKV, group * T, d]);
    let scores = tf.reshape(tf.mul(tf.matMul(qg, k, false, true), scale), [B, nH, T, S]);
    if (bias) scores = tf.add(scores, bias);
    const probs = tf.reshape(tf.softmax(scores, -1), [B, nKV, group * T, S]);
    const ctx = tf.reshape(tf.transpose(tf.reshape(tf.matMul(probs, v), [B, nH, T, d]), [0, 2, 1, 3]), [B * T, nH * d]) as tf.Tensor2D;
    h = tf.add(h, linear(w, ctx, `${p}self_attn.o_proj`, H, nH * d, config.oBias));
    // SwiGLU MLP
    const m = rmsNorm(h, param(w.params, `${p}post_attention_layernorm.weight`, [H]), eps) as tf.Tensor2D;
    const gate = linear(w, m, `${p}mlp.gate_proj`, I, H, config.mlpBias);
    const up = linear(w, m, `${p}mlp.up_proj`, I, H, config.mlpBias);
    const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D;
    h = tf.add(h, linear(w, act, `${p}mlp.down_proj`, H, I, config.mlpBias));
  }
  const hidden = rmsNorm(h, param(w.params, 'model.norm.weight', [H]), eps) as tf.Tensor2D;
  return { hidden, cache };
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Logits [B, T, vocab] for token ids [B, T] (arrays of equal length, or an int32 tensor). Pure in
 * the parameters: gradients flow back to them. Intermediates are freed.
 */
export function llamaLogits(params: LlamaParams, config: LlamaConfig, ids: number[][] | tf.Tensor, options: LlamaLogitsOptions = {}): tf.Tensor3D {
  if (ids instanceof tf.Tensor && ids.dtype !== 'int32') fail('MODEL_E_PARAMS', `token ids are a ${ids.dtype} tensor; they must be int32`);
  const { data, batch, len } = grid(ids, 'token ids');
  if (batch === 0 || len === 0) fail('MODEL_E_PARAMS', `token ids are [${batch}, ${len}]; need at least one sequence of at least one token`);
  data.forEach((id, i) => checkToken(config, id, `row ${Math.floor(i / len)}, position ${i % len}`));
  checkLength(config, len);
  const keyMask = options.attentionMask === undefined ? null : grid(options.attentionMask, 'attentionMask', [batch, len]).data;
  let positions: Int32Array;
  if (options.positionIds) positions = grid(options.positionIds, 'positionIds', [batch, len]).data;
  else if (keyMask) positions = positionsFromMask(keyMask, batch, len);
  else positions = Int32Array.from({ length: batch * len }, (_, i) => i % len);
  return tf.tidy(() => {
    const w: Weights = { params, onLinearInput: options.onLinearInput };
    const { hidden } = decoder(w, config, { ids: data, batch, len, positions, keyMask });
    return tf.reshape(lmHead(w, config, hidden), [batch, len, config.vocabSize]) as tf.Tensor3D;
  });
}

/**
 * Greedy generation with a KV cache: the prompts (any lengths ≥ 1) are left-padded to one batch and
 * prefilled at once, then each step feeds one token per row. Returns the new token ids per prompt;
 * a row stops after an eos token (which it keeps) or after maxNewTokens.
 */
export function llamaGenerate(params: LlamaParams, config: LlamaConfig, prompts: number[][], maxNewTokens: number, options: LlamaGenerateOptions = {}): number[][] {
  return runReadsSync(llamaGenerateReads(params, config, prompts, maxNewTokens, options));
}

/** llamaGenerate as a generator that yields each step's greedy tokens to be read (see reads.ts). */
export function* llamaGenerateReads(params: LlamaParams, config: LlamaConfig, prompts: number[][], maxNewTokens: number, options: LlamaGenerateOptions = {}): Reads<number[][]> {
  if (!Number.isSafeInteger(maxNewTokens) || maxNewTokens < 0) fail('MODEL_E_PARAMS', `maxNewTokens must be a non-negative integer (got ${maxNewTokens})`);
  prompts.forEach((p, b) => {
    if (p.length === 0) fail('MODEL_E_PARAMS', `prompt ${b} is empty; generation needs at least one token to start from`);
    p.forEach((id, t) => checkToken(config, id, `prompt ${b}, position ${t}`));
  });
  const eos = new Set(options.eos === undefined ? config.eosTokenIds : typeof options.eos === 'number' ? [options.eos] : options.eos);
  const B = prompts.length;
  const out: number[][] = prompts.map(() => []);
  if (B === 0 || maxNewTokens === 0) return out;
  const lens = prompts.map((p) => p.length);
  const L = Math.max(...lens);
  checkLength(config, L + maxNewTokens - 1);

  // Prefill: left padding with token 0 (hidden by the mask).
  const total = L + maxNewTokens;
  const ids = new Int32Array(B * L);
  const mask = new Int32Array(B * L);
  prompts.forEach((p, b) => {
    const pad = L - p.length;
    p.forEach((id, t) => {
      ids[b * L + pad + t] = id;
      mask[b * L + pad + t] = 1;
    });
  });
  const padded = lens.some((n) => n !== L);
  const fullMask = new Int32Array(B * total); // row b: 0/1 over every position the cache will hold
  prompts.forEach((_, b) => {
    for (let t = 0; t < total; t++) fullMask[b * total + t] = t < L ? mask[b * L + t]! : 1;
  });
  const keyMaskFor = (s: number): Int32Array | null => {
    if (!padded) return null;
    const m = new Int32Array(B * s);
    for (let b = 0; b < B; b++) m.set(fullMask.subarray(b * total, b * total + s), b * s);
    return m;
  };

  const w: Weights = { params };
  if (options.pretranspose ?? true) w.transposed = transposeWeights(params, config);
  let cache: KvCache | undefined;
  const done = new Array<boolean>(B).fill(false);
  try {
    let input: DecoderInput = { ids, batch: B, len: L, positions: positionsFromMask(mask, B, L), keyMask: keyMaskFor(L) };
    for (let step = 0; step < maxNewTokens; step++) {
      const current = input;
      const next = tf.tidy(() => {
        const r = decoder(w, config, current);
        // Only the last position's logits are needed.
        const last = current.len === 1 ? r.hidden : gatherRows(r.hidden, Int32Array.from({ length: B }, (_, b) => b * current.len + current.len - 1));
        return { token: tf.argMax(lmHead(w, config, last), -1), k: r.cache.k, v: r.cache.v };
      });
      if (cache) for (const t of [...cache.k, ...cache.v]) t.dispose();
      cache = { k: next.k, v: next.v };
      let tokens: ArrayLike<number>;
      try {
        tokens = yield next.token;
      } finally {
        next.token.dispose();
      }
      const fed = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        if (done[b]) continue; // finished rows still run (the batch stays rectangular); their output is ignored
        const id = tokens[b]!;
        out[b]!.push(id);
        fed[b] = id;
        if (eos.has(id)) done[b] = true;
      }
      if (done.every(Boolean)) break;
      const s = L + step + 1;
      input = { ids: fed, batch: B, len: 1, positions: Int32Array.from(lens, (n) => n + step), keyMask: keyMaskFor(s), past: cache };
    }
  } finally {
    if (cache) for (const t of [...cache.k, ...cache.v]) t.dispose();
    if (w.transposed) for (const t of w.transposed.values()) t.dispose();
  }
  return out;
}

/** One right-padded batch: token ids, and which flat rows predict which targets for which example. */
function scoreBatch(config: LlamaConfig, batch: LlamaScoreExample[]): { ids: Int32Array; len: number; rows: Int32Array; targets: Int32Array; owner: Int32Array } {
  batch.forEach((ex, i) => {
    if (ex.input.length === 0) fail('MODEL_E_PARAMS', `example ${i} has an empty input; the first target token needs at least one token before it`);
    ex.input.forEach((id, t) => checkToken(config, id, `example ${i}, input position ${t}`));
    ex.target.forEach((id, t) => checkToken(config, id, `example ${i}, target position ${t}`));
  });
  // Right padding needs no mask: causal attention never lets a real token see the padding after it.
  const len = Math.max(...batch.map((ex) => ex.input.length + ex.target.length));
  checkLength(config, len);
  const ids = new Int32Array(batch.length * len);
  const rows: number[] = [];
  const targets: number[] = [];
  const owner: number[] = [];
  batch.forEach((ex, b) => {
    ids.set(ex.input, b * len);
    ids.set(ex.target, b * len + ex.input.length);
    ex.target.forEach((id, j) => {
      rows.push(b * len + ex.input.length - 1 + j);
      targets.push(id);
      owner.push(b);
    });
  });
  return { ids, len, rows: Int32Array.from(rows), targets: Int32Array.from(targets), owner: Int32Array.from(owner) };
}

/** log p(target) [M] for each target token of a batch (float32, differentiable). */
function targetTokenLogProbs(w: Weights, config: LlamaConfig, batch: LlamaScoreExample[]): { logp: tf.Tensor1D; owner: Int32Array } {
  const { ids, len, rows, targets, owner } = scoreBatch(config, batch);
  const positions = Int32Array.from({ length: batch.length * len }, (_, i) => i % len);
  const { hidden } = decoder(w, config, { ids, batch: batch.length, len, positions, keyMask: null });
  if (rows.length === 0) return { logp: tf.zeros([0]) as tf.Tensor1D, owner };
  // The vocabulary projection only for the rows that predict a target.
  const logits = lmHead(w, config, gatherRows(hidden, rows));
  const picked = tf.sum(tf.mul(logits, tf.oneHot(tf.tensor1d(targets, 'int32'), config.vocabSize)), -1);
  return { logp: tf.sub(picked, tf.logSumExp(logits, -1)) as tf.Tensor1D, owner };
}

/**
 * Summed log-likelihood of each example's target [n] as one differentiable tensor (one forward over
 * the whole batch; float32 sums): for gradient-based searches on language-model losses.
 */
export function llamaTargetLogLikelihood(params: LlamaParams, config: LlamaConfig, batch: LlamaScoreExample[]): tf.Tensor1D {
  if (batch.length === 0) return tf.zeros([0]) as tf.Tensor1D;
  return tf.tidy(() => {
    const { logp, owner } = targetTokenLogProbs({ params }, config, batch);
    if (owner.length === 0) return tf.zeros([batch.length]) as tf.Tensor1D;
    const seg = new Float32Array(batch.length * owner.length);
    owner.forEach((b, m) => (seg[b * owner.length + m] = 1));
    return tf.reshape(tf.matMul(tf.tensor2d(seg, [batch.length, owner.length]), tf.reshape(logp, [-1, 1])), [batch.length]) as tf.Tensor1D;
  });
}

/**
 * Per-example summed log-likelihood of the targets given the inputs, and token counts, in batches of
 * `batchSize` (grouped by length). Token log-probabilities are summed in float64.
 */
export function llamaScore(params: LlamaParams, config: LlamaConfig, batch: LlamaScoreExample[], options: LlamaScoreOptions = {}): LlamaScore[] {
  return runReadsSync(llamaScoreReads(params, config, batch, options));
}

/** llamaScore as a generator that yields each batch's token log-probabilities to be read (see reads.ts). */
export function* llamaScoreReads(params: LlamaParams, config: LlamaConfig, batch: LlamaScoreExample[], options: LlamaScoreOptions = {}): Reads<LlamaScore[]> {
  const size = options.batchSize ?? 8;
  if (!Number.isSafeInteger(size) || size < 1) fail('MODEL_E_PARAMS', `batchSize must be a positive integer (got ${size})`);
  const out: LlamaScore[] = batch.map((ex) => ({ logLikelihood: 0, tokens: ex.target.length }));
  const order = batch.map((_, i) => i).filter((i) => batch[i]!.target.length > 0);
  order.sort((a, b) => batch[a]!.input.length + batch[a]!.target.length - (batch[b]!.input.length + batch[b]!.target.length));
  if (order.length === 0) return out;
  const w: Weights = { params };
  if (options.pretranspose ?? true) w.transposed = transposeWeights(params, config);
  try {
    for (let i = 0; i < order.length; i += size) {
      const chunk = order.slice(i, i + size);
      let owner: Int32Array;
      const logp = tf.tidy(() => {
        const r = targetTokenLogProbs(w, config, chunk.map((j) => batch[j]!));
        owner = r.owner;
        return r.logp;
      });
      let values: ArrayLike<number>;
      try {
        values = yield logp;
      } finally {
        logp.dispose();
      }
      owner!.forEach((b, m) => (out[chunk[b]!]!.logLikelihood += values[m]!));
    }
  } finally {
    if (w.transposed) for (const t of w.transposed.values()) t.dispose();
  }
  return out;
}
