// The classifier MLP of the mnist8 benchmark: a shared ReLU backbone (optionally LayerNorm'd) and one
// head per task. The forward pass is a pure function of a parameter map keyed by Hugging Face-style
// tensor names, so a merged parameter map plugs in as is, and gradients flow back to whatever built
// the tensors (merge coefficients for AdaMerging and Frank-Wolfe).
//
// The cosine head classifies L2-normalised features against L2-normalised class rows with a fixed
// scale (CLIP's geometry). With a plain linear head, entropy minimisation is gamed by scaling task
// vectors up (logits grow, predictions get confident and wrong); see DESIGN.md, "The mnist8 benchmark".
import { fmix32, fnv1a32, FNV_OFFSET, FNV_PRIME } from '../tensor/hash.ts';
import { seededRandom } from '../tensor/random.ts';
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import { LAYER_NORM_EPS, NORM_FLOOR, mlpHeadName, mlpLayerName } from './mlp-names.ts';

export const MLP_ARCHITECTURE = 'MlpClassifier';
export const MLP_MODEL_TYPE = 'mlp_classifier';
export const MLP_HEADS = ['cosine', 'linear'] as const;
export type MlpHead = (typeof MLP_HEADS)[number];

export { LAYER_NORM_EPS, NORM_FLOOR, mlpHeadName, mlpLayerName } from './mlp-names.ts';

/** A parsed, validated config.json of an MlpClassifier. */
export interface MlpConfig {
  architecture: typeof MLP_ARCHITECTURE;
  inputSize: number;
  hiddenSizes: number[];
  numClasses: number;
  tasks: string[];
  layerNorm: boolean;
  head: MlpHead;
  /** Multiplies the cosine similarities; unused (1) for a linear head. */
  logitScale: number;
}

export interface ParamShape {
  name: string;
  shape: number[];
}

// ---------------------------------------------------------------------------------------------
// config.json

const TASK_NAME = /^[A-Za-z0-9_-]+$/;

/** Parse and validate a config.json object; every problem names `source` and the key at fault. */
export function mlpConfigFromJson(raw: unknown, source: string): MlpConfig {
  const bad = (key: string, want: string, got: unknown): never =>
    fail('IO_E_CONFIG', `${source}: key "${key}" must be ${want} (got ${describe(got)})`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('IO_E_CONFIG', `${source} must hold a JSON object (got ${describe(raw)})`);
  const c = raw as Record<string, unknown>;

  const archs = c.architectures;
  if (!Array.isArray(archs) || archs[0] !== MLP_ARCHITECTURE) bad('architectures', `["${MLP_ARCHITECTURE}"]`, archs);
  if (c.model_type !== MLP_MODEL_TYPE) bad('model_type', `"${MLP_MODEL_TYPE}"`, c.model_type);

  const positiveInt = (key: string): number => {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(key, 'a positive integer', v);
    return v as number;
  };
  const inputSize = positiveInt('input_size');
  const numClasses = positiveInt('num_classes');

  const hs = c.hidden_sizes;
  if (!Array.isArray(hs) || hs.length === 0 || !hs.every((h) => typeof h === 'number' && Number.isSafeInteger(h) && h >= 1)) {
    bad('hidden_sizes', 'a non-empty array of positive integers (the width of each backbone layer)', hs);
  }
  const hiddenSizes = [...(hs as number[])];

  const ts = c.tasks;
  if (!Array.isArray(ts) || ts.length === 0 || !ts.every((t) => typeof t === 'string' && TASK_NAME.test(t))) {
    bad('tasks', 'a non-empty array of task names made of letters, digits, _ and - (one head each)', ts);
  }
  const tasks = [...(ts as string[])];
  const dup = tasks.find((t, i) => tasks.indexOf(t) !== i);
  if (dup !== undefined) bad('tasks', 'a list of distinct task names', `"${dup}" twice`);

  if (typeof c.layer_norm !== 'boolean') bad('layer_norm', 'true or false', c.layer_norm);
  const layerNorm = c.layer_norm as boolean;

  if (!MLP_HEADS.includes(c.head as MlpHead)) bad('head', `one of ${MLP_HEADS.map((h) => `"${h}"`).join(', ')}`, c.head);
  const head = c.head as MlpHead;

  // The cosine head is meaningless without its scale; a linear head ignores it.
  const s = c.logit_scale;
  if (head === 'cosine' || s !== undefined) {
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) bad('logit_scale', 'a finite positive number (the fixed scale of the cosine head)', s);
  }
  const logitScale = head === 'cosine' ? (s as number) : 1;

  return { architecture: MLP_ARCHITECTURE, inputSize, hiddenSizes, numClasses, tasks, layerNorm, head, logitScale };
}

/** The config.json object for `config` (what mlpConfigFromJson reads back). */
export function mlpConfigToJson(config: MlpConfig): Record<string, unknown> {
  return {
    architectures: [MLP_ARCHITECTURE],
    model_type: MLP_MODEL_TYPE,
    input_size: config.inputSize,
    hidden_sizes: [...config.hiddenSizes],
    num_classes: config.numClasses,
    tasks: [...config.tasks],
    layer_norm: config.layerNorm,
    head: config.head,
    logit_scale: config.logitScale,
  };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

// ---------------------------------------------------------------------------------------------
// Parameters

const layerName = mlpLayerName;
const headName = mlpHeadName;

/** Every tensor the model needs, in order: backbone layers first, then one head per task. */
export function mlpParameterShapes(config: MlpConfig): ParamShape[] {
  const out: ParamShape[] = [];
  let fanIn = config.inputSize;
  config.hiddenSizes.forEach((h, i) => {
    out.push({ name: `${layerName(i)}.weight`, shape: [h, fanIn] }, { name: `${layerName(i)}.bias`, shape: [h] });
    if (config.layerNorm) out.push({ name: `${layerName(i)}.norm.weight`, shape: [h] }, { name: `${layerName(i)}.norm.bias`, shape: [h] });
    fanIn = h;
  });
  for (const t of config.tasks) {
    out.push({ name: `${headName(t)}.weight`, shape: [config.numClasses, fanIn] });
    if (config.head === 'linear') out.push({ name: `${headName(t)}.bias`, shape: [config.numClasses] });
  }
  return out;
}

const fmtShape = (s: readonly number[]) => JSON.stringify(s);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Check that `shapes` (tensor name → shape, e.g. from a checkpoint's header) holds every tensor the
 * config needs, with the right shape. Extra tensors are allowed. `source` names the checkpoint.
 */
export function checkMlpParams(config: MlpConfig, shapes: Map<string, readonly number[]>, source = 'the parameters'): void {
  for (const { name, shape } of mlpParameterShapes(config)) {
    const got = shapes.get(name);
    if (got === undefined) {
      fail('IO_E_NO_TENSOR', `tensor ${name} ${fmtShape(shape)} is missing from ${source}; the model's config needs it`);
    }
    if (!sameShape(got, shape)) {
      fail('MERGE_E_SHAPE', `tensor ${name} is ${fmtShape(got)} in ${source} but the model's config needs ${fmtShape(shape)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Forward

/** One parameter, checked against the shape the config needs (cheap; catches a wrong map early). */
function param(params: Record<string, tf.Tensor>, name: string, shape: readonly number[]): tf.Tensor {
  const t = params[name];
  if (t === undefined) fail('IO_E_NO_TENSOR', `tensor ${name} ${fmtShape(shape)} is missing from the parameter map`);
  if (!sameShape(t.shape, shape)) fail('MERGE_E_SHAPE', `tensor ${name} is ${fmtShape(t.shape)} in the parameter map but the model's config needs ${fmtShape(shape)}`);
  return t;
}

/** x / max(‖x‖₂, 1e-12) along the last axis. */
function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  // sqrt(max(Σx², floor²)) equals max(‖x‖, floor) but, unlike tf.norm, has a finite gradient at
  // x = 0 (d sqrt/du is infinite at 0; here the clamped branch gets gradient 0).
  const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), NORM_FLOOR * NORM_FLOOR));
  return tf.div(x, norm);
}

/**
 * Backbone features [B, hidden_sizes.at(-1)] for inputs x [B, input_size]: per layer
 * h = x·Wᵀ + b, LayerNorm (when configured), ReLU. Intermediates are freed; gradients still flow.
 */
export function mlpFeatures(params: Record<string, tf.Tensor>, config: MlpConfig, x: tf.Tensor2D): tf.Tensor2D {
  if (x.rank !== 2 || x.shape[1] !== config.inputSize) {
    fail('MODEL_E_PARAMS', `model input is ${fmtShape(x.shape)} but the model's config needs [batch, ${config.inputSize}]`);
  }
  return tf.tidy(() => {
    let h: tf.Tensor2D = x;
    let fanIn = config.inputSize;
    config.hiddenSizes.forEach((width, i) => {
      const w = param(params, `${layerName(i)}.weight`, [width, fanIn]);
      const b = param(params, `${layerName(i)}.bias`, [width]);
      // transposeB is fast on wasm: the engine's kernel wrapper materialises the transpose.
      h = tf.add(tf.matMul(h, w as tf.Tensor2D, false, true), b);
      if (config.layerNorm) {
        const g = param(params, `${layerName(i)}.norm.weight`, [width]);
        const beta = param(params, `${layerName(i)}.norm.bias`, [width]);
        const { mean, variance } = tf.moments(h, -1, true);
        h = tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, LAYER_NORM_EPS))), g), beta);
      }
      h = tf.relu(h);
      fanIn = width;
    });
    return h;
  });
}

/** The task's head applied to backbone features f [B, hidden_sizes.at(-1)]: logits [B, num_classes]. */
export function mlpHeadLogits(params: Record<string, tf.Tensor>, config: MlpConfig, features: tf.Tensor2D, task: string): tf.Tensor2D {
  if (!config.tasks.includes(task)) {
    fail('MODEL_E_PARAMS', `task "${task}" has no head in this model; its config.json lists tasks ${config.tasks.join(', ')}`);
  }
  const width = config.hiddenSizes[config.hiddenSizes.length - 1]!;
  if (features.rank !== 2 || features.shape[1] !== width) {
    fail('MERGE_E_SHAPE', `features are ${fmtShape(features.shape)} but the heads need [batch, ${width}]`);
  }
  return tf.tidy(() => {
    const w = param(params, `${headName(task)}.weight`, [config.numClasses, width]) as tf.Tensor2D;
    if (config.head === 'linear') {
      const b = param(params, `${headName(task)}.bias`, [config.numClasses]);
      return tf.add(tf.matMul(features, w, false, true), b);
    }
    return tf.mul(tf.matMul(l2Normalize(features), l2Normalize(w), false, true), config.logitScale);
  });
}

/** Logits [B, num_classes] of `task`'s head for inputs x [B, input_size]. */
export function mlpLogits(params: Record<string, tf.Tensor>, config: MlpConfig, x: tf.Tensor2D, task: string): tf.Tensor2D {
  if (!config.tasks.includes(task)) {
    fail('MODEL_E_PARAMS', `task "${task}" has no head in this model; its config.json lists tasks ${config.tasks.join(', ')}`);
  }
  return tf.tidy(() => mlpHeadLogits(params, config, mlpFeatures(params, config, x), task));
}

// ---------------------------------------------------------------------------------------------
// Initialisation

/**
 * The seed of one parameter's initialisation stream: FNV-1a of its name, started from both halves
 * of the (up to 53-bit) seed, then murmur3's finaliser so names differing in one letter get
 * unrelated streams. (Not the merge masks' tensorSeed in src/tensor/random.ts, which mixes
 * differently; zoo builds depend on this one staying as it is.)
 */
function initStreamSeed(seed: number, name: string): number {
  const start = Math.imul(FNV_OFFSET ^ (seed >>> 0), FNV_PRIME) ^ Math.floor(seed / 4294967296);
  return fmix32(fnv1a32(name, start));
}

/**
 * Deterministic initial parameters: backbone weights He-uniform (±√(6/fan_in), for ReLU), head rows
 * uniform ±√(3/fan_in) (unit-variance logits for a linear head; a cosine head only sees their
 * direction), biases 0, LayerNorm weight 1 and bias 0. Each tensor draws from its own stream keyed
 * by (seed, name), so adding a task does not change the backbone.
 */
export function initMlpParams(config: MlpConfig, seed: number): Record<string, Float32Array> {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`initMlpParams: seed must be a non-negative integer, got ${seed}`);
  const out: Record<string, Float32Array> = {};
  for (const { name, shape } of mlpParameterShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.endsWith('.norm.weight')) data.fill(1);
    else if (name.endsWith('.weight')) {
      const fanIn = shape[1]!;
      const bound = Math.sqrt((name.startsWith('heads.') ? 3 : 6) / fanIn);
      const rand = seededRandom(initStreamSeed(seed, name));
      for (let i = 0; i < size; i++) data[i] = (2 * rand() - 1) * bound;
    }
    out[name] = data;
  }
  return out;
}
