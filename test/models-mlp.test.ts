// The classifier MLP against an independent float64 forward written here with plain loops: logits
// for both heads with and without LayerNorm, gradients to merge coefficients against central finite
// differences, config and parameter validation, seeded initialisation, the cosine head's norm floor.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkMlpParams,
  initMlpParams,
  mlpConfigFromJson,
  mlpConfigToJson,
  mlpFeatures,
  mlpLogits,
  mlpParameterShapes,
  type MlpConfig,
} from '../src/models/mlp-classifier.ts';
import { MODEL_FAMILIES, modelFamilyOf } from '../src/models/registry.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { expectCode, rng } from './helpers/io-tmp.ts';

beforeAll(async () => {
  await initEngine('wasm');
});

type Params64 = Record<string, Float64Array>;

/** Float64 reference: loops over [out, in] weights, LayerNorm with a two-pass variance. */
function refLogits(p: Params64, c: MlpConfig, x: Float64Array, batch: number, task: string): Float64Array {
  const get = (n: string) => {
    const v = p[n];
    if (!v) throw new Error(`reference: no ${n}`);
    return v;
  };
  let h = x;
  let fanIn = c.inputSize;
  c.hiddenSizes.forEach((width, l) => {
    const w = get(`backbone.layers.${l}.weight`);
    const b = get(`backbone.layers.${l}.bias`);
    const out = new Float64Array(batch * width);
    for (let r = 0; r < batch; r++) {
      const row = new Float64Array(width);
      for (let o = 0; o < width; o++) {
        let s = b[o]!;
        for (let i = 0; i < fanIn; i++) s += h[r * fanIn + i]! * w[o * fanIn + i]!;
        row[o] = s;
      }
      if (c.layerNorm) {
        const g = get(`backbone.layers.${l}.norm.weight`);
        const beta = get(`backbone.layers.${l}.norm.bias`);
        let mean = 0;
        for (let o = 0; o < width; o++) mean += row[o]!;
        mean /= width;
        let v = 0;
        for (let o = 0; o < width; o++) v += (row[o]! - mean) ** 2;
        v /= width;
        for (let o = 0; o < width; o++) row[o] = ((row[o]! - mean) / Math.sqrt(v + 1e-5)) * g[o]! + beta[o]!;
      }
      for (let o = 0; o < width; o++) out[r * width + o] = Math.max(0, row[o]!);
    }
    h = out;
    fanIn = width;
  });
  const k = c.numClasses;
  const w = get(`heads.${task}.weight`);
  const logits = new Float64Array(batch * k);
  for (let r = 0; r < batch; r++) {
    let fNorm = 0;
    for (let i = 0; i < fanIn; i++) fNorm += h[r * fanIn + i]! ** 2;
    fNorm = Math.max(Math.sqrt(fNorm), 1e-12);
    for (let j = 0; j < k; j++) {
      let dot = 0;
      let wNorm = 0;
      for (let i = 0; i < fanIn; i++) {
        dot += h[r * fanIn + i]! * w[j * fanIn + i]!;
        wNorm += w[j * fanIn + i]! ** 2;
      }
      wNorm = Math.max(Math.sqrt(wNorm), 1e-12);
      logits[r * k + j] = c.head === 'linear' ? dot + get(`heads.${task}.bias`)[j]! : (c.logitScale * dot) / (fNorm * wNorm);
    }
  }
  return logits;
}

function smallConfig(over: Partial<Record<string, unknown>> = {}): MlpConfig {
  return mlpConfigFromJson(
    {
      architectures: ['MlpClassifier'],
      model_type: 'mlp_classifier',
      input_size: 12,
      hidden_sizes: [9, 7],
      num_classes: 5,
      tasks: ['plain', 'rot90'],
      layer_norm: false,
      head: 'linear',
      logit_scale: 20,
      ...over,
    },
    'test/config.json',
  );
}

/** Random float32-representable values, so tfjs and the float64 reference see the same numbers. */
function randomParams(c: MlpConfig, seed: number, scale = 0.5): Params64 {
  const r = rng(seed);
  const out: Params64 = {};
  for (const { name, shape } of mlpParameterShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    // Norm weights around 1 so the LayerNorm'd activations keep a sensible scale.
    const centre = name.endsWith('.norm.weight') ? 1 : 0;
    out[name] = Float64Array.from(Float32Array.from({ length: n }, () => centre + (2 * r() - 1) * scale));
  }
  return out;
}

function randomInput(c: MlpConfig, batch: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from(Float32Array.from({ length: batch * c.inputSize }, () => 2 * r() - 1));
}

function toTensors(p: Params64, c: MlpConfig): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const { name, shape } of mlpParameterShapes(c)) out[name] = tf.tensor(Float32Array.from(p[name]!), shape);
  return out;
}

/** max |got − want| / max |want| (floored at 1e-6 so all-zero references stay meaningful). */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 1e-6;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
  return err / scale;
}

const VARIANTS = [
  { head: 'linear', layer_norm: false },
  { head: 'linear', layer_norm: true },
  { head: 'cosine', layer_norm: false },
  { head: 'cosine', layer_norm: true },
] as const;

describe.each(VARIANTS)('forward: head $head, layer_norm $layer_norm', (variant) => {
  const shapes: Array<{ input_size: number; hidden_sizes: number[]; num_classes: number }> = [
    { input_size: 12, hidden_sizes: [9, 7], num_classes: 5 },
    { input_size: 6, hidden_sizes: [11], num_classes: 3 },
    { input_size: 10, hidden_sizes: [8, 8, 6], num_classes: 4 },
  ];

  it.each(shapes.map((s, i) => ({ ...s, seed: 101 + i })))('matches the float64 reference for hidden $hidden_sizes', ({ seed, ...shape }) => {
    const c = smallConfig({ ...variant, ...shape });
    const batch = 4;
    const p64 = randomParams(c, seed);
    const x64 = randomInput(c, batch, seed + 1000);
    const before = tf.memory().numTensors;
    const params = toTensors(p64, c);
    const x = tf.tensor2d(Float32Array.from(x64), [batch, c.inputSize]);
    for (const task of c.tasks) {
      const logits = mlpLogits(params, c, x, task);
      expect(logits.shape).toEqual([batch, c.numClasses]);
      const want = refLogits(p64, c, x64, batch, task);
      expect(relErr(logits.dataSync(), want)).toBeLessThan(1e-5);
      // Not a trivial pass: the reference logits are not all near zero.
      expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(1e-3);
      logits.dispose();
    }
    const f = mlpFeatures(params, c, x);
    expect(f.shape).toEqual([batch, c.hiddenSizes.at(-1)]);
    expect(f.dataSync().every((v) => v >= 0)).toBe(true);
    f.dispose();
    // The forward frees its intermediates: only params and x remain.
    expect(tf.memory().numTensors).toBe(before + Object.keys(params).length + 1);
    tf.dispose([x, ...Object.values(params)]);
  });
});

it('the cosine head is scale-invariant in the head rows and scales with logit_scale', () => {
  const c = smallConfig({ head: 'cosine', logit_scale: 10 });
  const p64 = randomParams(c, 7);
  const x64 = randomInput(c, 3, 8);
  const a = refLogits(p64, c, x64, 3, 'plain');
  const scaled = { ...p64, 'heads.plain.weight': p64['heads.plain.weight']!.map((v) => v * 4) };
  const params = toTensors(scaled, c);
  const x = tf.tensor2d(Float32Array.from(x64), [3, c.inputSize]);
  const got = tf.tidy(() => mlpLogits(params, { ...c, logitScale: 30 }, x, 'plain').dataSync());
  expect(relErr(got, a.map((v) => v * 3))).toBeLessThan(1e-5);
  for (const v of got) expect(Math.abs(v)).toBeLessThanOrEqual(30 + 1e-4);
  tf.dispose([x, ...Object.values(params)]);
});

describe.each(VARIANTS)('gradients to merge coefficients: head $head, layer_norm $layer_norm', (variant) => {
  const c = smallConfig(variant);
  const batch = 4;
  const base = randomParams(c, 31, 0.5);
  const delta = randomParams(c, 32, 0.3);
  const x64 = randomInput(c, batch, 33);

  /** Σ logits over tasks in float64 with params base + coef[t]·delta (coef per tensor). */
  function refSum(coef: (i: number) => number): number {
    const p: Params64 = {};
    mlpParameterShapes(c).forEach(({ name }, i) => {
      const b = base[name]!;
      const d = delta[name]!;
      // LayerNorm weights: the delta is of the same size as the other tensors', around 0.
      const dd = name.endsWith('.norm.weight') ? d.map((v) => v - 1) : d;
      p[name] = b.map((v, j) => v + coef(i) * dd[j]!);
    });
    let s = 0;
    for (const t of c.tasks) for (const v of refLogits(p, c, x64, batch, t)) s += v;
    return s;
  }

  function tfParams(coef: (i: number) => tf.Tensor): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    mlpParameterShapes(c).forEach(({ name, shape }, i) => {
      const dd = name.endsWith('.norm.weight') ? delta[name]!.map((v) => v - 1) : delta[name]!;
      out[name] = tf.add(tf.tensor(Float32Array.from(base[name]!), shape), tf.mul(coef(i), tf.tensor(Float32Array.from(dd), shape)));
    });
    return out;
  }

  const sumLogits = (params: Record<string, tf.Tensor>, x: tf.Tensor2D) =>
    tf.addN(c.tasks.map((t) => tf.sum(mlpLogits(params, c, x, t)))) as tf.Scalar;

  it('task-wise: d Σlogits / dλ matches a float64 central difference', () => {
    const lambda = tf.variable(tf.scalar(0.7));
    const x = tf.tensor2d(Float32Array.from(x64), [batch, c.inputSize]);
    const { value, grads } = tf.variableGrads(() => tf.tidy(() => sumLogits(tfParams(() => lambda), x)), [lambda]);
    const g = grads[lambda.name]!.dataSync()[0]!;
    const h = 1e-5;
    const fd = (refSum(() => 0.7 + h) - refSum(() => 0.7 - h)) / (2 * h);
    expect(Number.isFinite(g)).toBe(true);
    expect(Math.abs(fd)).toBeGreaterThan(1e-3);
    expect(Math.abs(g - fd) / Math.abs(fd)).toBeLessThan(1e-3);
    expect(Math.abs(value.dataSync()[0]! - refSum(() => 0.7))).toBeLessThan(1e-4 * Math.max(1, Math.abs(refSum(() => 0.7))));
    tf.dispose([value, x, lambda, ...Object.values(grads)]);
  });

  it('layer-wise: one coefficient per tensor, every gradient matches its central difference', () => {
    const n = mlpParameterShapes(c).length;
    const at = Array.from({ length: n }, (_, i) => 0.2 + 0.05 * i);
    const coefs = tf.variable(tf.tensor1d(at));
    const x = tf.tensor2d(Float32Array.from(x64), [batch, c.inputSize]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.tidy(() => sumLogits(tfParams((i) => tf.slice(coefs, [i], [1]).reshape([])), x)), [coefs]);
    // Only the value and the gradient outlive the step.
    expect(tf.memory().numTensors).toBe(before + 2);
    const g = grads[coefs.name]!.dataSync();
    const h = 1e-5;
    let scale = 0;
    const fds = at.map((_, k) => {
      const fd = (refSum((i) => at[i]! + (i === k ? h : 0)) - refSum((i) => at[i]! - (i === k ? h : 0))) / (2 * h);
      scale = Math.max(scale, Math.abs(fd));
      return fd;
    });
    for (let k = 0; k < n; k++) {
      expect(Number.isFinite(g[k]!)).toBe(true);
      // Relative to the largest gradient: a per-tensor gradient near zero is compared on that scale.
      expect(Math.abs(g[k]! - fds[k]!) / scale, `coefficient ${k} (${mlpParameterShapes(c)[k]!.name})`).toBeLessThan(1e-3);
    }
    // Every tensor's coefficient matters (cosine heads are invariant to head row scale, but not to
    // adding a different direction), so no gradient is identically zero.
    expect(fds.filter((v) => Math.abs(v) > 1e-6 * scale).length).toBe(n);
    tf.dispose([value, x, coefs, ...Object.values(grads)]);
  });
});

describe('zero features through the cosine head', () => {
  it.each([false, true])('gives finite (zero) logits and finite gradients (layer_norm %s)', (layerNorm) => {
    const c = smallConfig({ head: 'cosine', layer_norm: layerNorm });
    const p64 = randomParams(c, 51);
    // Biases (and LayerNorm shifts) very negative: every ReLU output is 0, so the features are 0.
    for (const k of Object.keys(p64)) if (k.endsWith('.bias') && k.startsWith('backbone')) p64[k]!.fill(-100);
    if (layerNorm) for (const k of Object.keys(p64)) if (k.endsWith('.norm.weight')) p64[k]!.fill(0);
    const scale = tf.variable(tf.scalar(1));
    const x = tf.zeros([3, c.inputSize]) as tf.Tensor2D;
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => {
        const params = toTensors(p64, c);
        for (const k of Object.keys(params)) params[k] = tf.mul(params[k]!, scale);
        const f = mlpFeatures(params, c, x);
        expect(Array.from(f.dataSync())).toEqual(new Array(3 * 7).fill(0));
        return tf.sum(mlpLogits(params, c, x, 'plain'));
      }),
      [scale],
    );
    expect(value.dataSync()[0]).toBe(0);
    expect(Number.isFinite(grads[scale.name]!.dataSync()[0]!)).toBe(true);
    const logits = tf.tidy(() => mlpLogits(toTensors(p64, c), c, x, 'plain').dataSync());
    expect(logits.every((v) => v === 0)).toBe(true);
    expect(Array.from(refLogits(p64, c, new Float64Array(3 * c.inputSize), 3, 'plain'))).toEqual(new Array(15).fill(0));
    tf.dispose([value, scale, x, ...Object.values(grads)]);
  });
});

describe('config validation', () => {
  const good = mlpConfigToJson(smallConfig({ head: 'cosine', layer_norm: true }));
  const without = (key: string) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key));

  it('round-trips config.json', () => {
    const c = mlpConfigFromJson(good, 'x/config.json');
    expect(c).toEqual({ architecture: 'MlpClassifier', inputSize: 12, hiddenSizes: [9, 7], numClasses: 5, tasks: ['plain', 'rot90'], layerNorm: true, head: 'cosine', logitScale: 20 });
    expect(mlpConfigToJson(c)).toEqual(good);
  });

  it('names the file and the key for every bad field', () => {
    expectCode(() => mlpConfigFromJson(without('hidden_sizes'), 'm/config.json'), 'IO_E_CONFIG', 'm/config.json', '"hidden_sizes"');
    expectCode(() => mlpConfigFromJson({ ...good, head: 'softmax' }, 'm/config.json'), 'IO_E_CONFIG', 'm/config.json', '"head"', 'softmax', 'cosine', 'linear');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...good, hidden_sizes: [] }, 'hidden_sizes'],
      [{ ...good, hidden_sizes: [4, 2.5] }, 'hidden_sizes'],
      [{ ...good, input_size: 0 }, 'input_size'],
      [without('input_size'), 'input_size'],
      [{ ...good, num_classes: '10' }, 'num_classes'],
      [{ ...good, tasks: [] }, 'tasks'],
      [{ ...good, tasks: ['a.b'] }, 'tasks'],
      [{ ...good, tasks: ['a', 'a'] }, 'tasks'],
      [{ ...good, layer_norm: 'yes' }, 'layer_norm'],
      [without('logit_scale'), 'logit_scale'],
      [{ ...good, logit_scale: -1 }, 'logit_scale'],
      [{ ...good, architectures: ['LlamaForCausalLM'] }, 'architectures'],
      [without('model_type'), 'model_type'],
    ];
    for (const [raw, key] of cases) expectCode(() => mlpConfigFromJson(raw, 'm/config.json'), 'IO_E_CONFIG', 'm/config.json', `"${key}"`);
    expectCode(() => mlpConfigFromJson([1], 'm/config.json'), 'IO_E_CONFIG', 'm/config.json');
  });

  it('a linear head needs no logit_scale', () => {
    const c = mlpConfigFromJson({ ...without('logit_scale'), head: 'linear' }, 'm/config.json');
    expect(c.logitScale).toBe(1);
  });
});

describe('parameters', () => {
  it('lists every tensor in order, with torch Linear layouts', () => {
    const c = smallConfig({ head: 'linear', layer_norm: true });
    expect(mlpParameterShapes(c)).toEqual([
      { name: 'backbone.layers.0.weight', shape: [9, 12] },
      { name: 'backbone.layers.0.bias', shape: [9] },
      { name: 'backbone.layers.0.norm.weight', shape: [9] },
      { name: 'backbone.layers.0.norm.bias', shape: [9] },
      { name: 'backbone.layers.1.weight', shape: [7, 9] },
      { name: 'backbone.layers.1.bias', shape: [7] },
      { name: 'backbone.layers.1.norm.weight', shape: [7] },
      { name: 'backbone.layers.1.norm.bias', shape: [7] },
      { name: 'heads.plain.weight', shape: [5, 7] },
      { name: 'heads.plain.bias', shape: [5] },
      { name: 'heads.rot90.weight', shape: [5, 7] },
      { name: 'heads.rot90.bias', shape: [5] },
    ]);
    expect(mlpParameterShapes(smallConfig({ head: 'cosine' })).map((p) => p.name)).toEqual([
      'backbone.layers.0.weight',
      'backbone.layers.0.bias',
      'backbone.layers.1.weight',
      'backbone.layers.1.bias',
      'heads.plain.weight',
      'heads.rot90.weight',
    ]);
  });

  it('checkMlpParams names a missing tensor or a wrong shape, with both shapes', () => {
    const c = smallConfig({ head: 'linear' });
    const shapes = new Map(mlpParameterShapes(c).map((p) => [p.name, p.shape]));
    shapes.set('extra.tensor', [3]); // extra tensors are allowed
    checkMlpParams(c, shapes, 'expert-a');
    const missing = new Map(shapes);
    missing.delete('heads.rot90.bias');
    expectCode(() => checkMlpParams(c, missing, 'expert-a'), 'IO_E_NO_TENSOR', 'heads.rot90.bias', 'expert-a', '[5]');
    const wrong = new Map(shapes);
    wrong.set('backbone.layers.1.weight', [9, 7]);
    expectCode(() => checkMlpParams(c, wrong, 'expert-a'), 'MERGE_E_SHAPE', 'backbone.layers.1.weight', 'expert-a', '[9,7]', '[7,9]');
  });

  it('the forward refuses a missing or mis-shaped tensor, a wrong input width and an unknown task', () => {
    const c = smallConfig({ head: 'linear' });
    const params = toTensors(randomParams(c, 3), c);
    const x = tf.zeros([2, 12]) as tf.Tensor2D;
    const { 'heads.plain.bias': _bias, ...noBias } = params;
    expectCode(() => mlpLogits(noBias, c, x, 'plain'), 'IO_E_NO_TENSOR', 'heads.plain.bias');
    const bad = { ...params, 'backbone.layers.0.weight': tf.zeros([12, 9]) };
    expectCode(() => mlpFeatures(bad, c, x), 'MERGE_E_SHAPE', 'backbone.layers.0.weight', '[12,9]', '[9,12]');
    const x5 = tf.zeros([2, 5]) as tf.Tensor2D;
    expectCode(() => mlpFeatures(params, c, x5), 'MODEL_E_PARAMS', '[2,5]', '12');
    expectCode(() => mlpLogits(params, c, x, 'mirror'), 'MODEL_E_PARAMS', '"mirror"', 'plain, rot90');
    tf.dispose([x, x5, bad['backbone.layers.0.weight'], ...Object.values(params)]);
  });
});

describe('initMlpParams', () => {
  const c = mlpConfigFromJson(
    { architectures: ['MlpClassifier'], model_type: 'mlp_classifier', input_size: 784, hidden_sizes: [256, 256], num_classes: 10, tasks: ['plain', 'rot90', 'invert'], layer_norm: true, head: 'cosine', logit_scale: 20 },
    'mnist8/config.json',
  );

  it('is deterministic for a seed, different for another, and fits the shapes', () => {
    const a = initMlpParams(c, 42);
    const b = initMlpParams(c, 42);
    const other = initMlpParams(c, 43);
    const shapes = mlpParameterShapes(c);
    expect(Object.keys(a)).toEqual(shapes.map((s) => s.name));
    for (const { name, shape } of shapes) {
      expect(a[name]!.length).toBe(shape.reduce((x, y) => x * y, 1));
      expect(Buffer.from(a[name]!.buffer).equals(Buffer.from(b[name]!.buffer))).toBe(true);
      if (name.endsWith('.weight') && !name.endsWith('.norm.weight')) {
        expect(Buffer.from(a[name]!.buffer).equals(Buffer.from(other[name]!.buffer))).toBe(false);
      }
    }
    // Heads of different tasks are different draws.
    expect(Buffer.from(a['heads.plain.weight']!.buffer).equals(Buffer.from(a['heads.rot90.weight']!.buffer))).toBe(false);
  });

  it('draws He-uniform backbone weights, zero biases, unit norm weights', () => {
    const p = initMlpParams(c, 7);
    const w0 = p['backbone.layers.0.weight']!;
    const bound = Math.sqrt(6 / 784);
    let max = 0;
    let sq = 0;
    for (const v of w0) {
      max = Math.max(max, Math.abs(v));
      sq += v * v;
    }
    expect(max).toBeLessThanOrEqual(bound);
    expect(max).toBeGreaterThan(0.99 * bound);
    // Uniform on ±bound has variance bound²/3 = 2/fan_in.
    expect(sq / w0.length).toBeCloseTo(2 / 784, 4);
    expect(p['backbone.layers.1.bias']!.every((v) => v === 0)).toBe(true);
    expect(p['backbone.layers.1.norm.weight']!.every((v) => v === 1)).toBe(true);
    expect(p['backbone.layers.1.norm.bias']!.every((v) => v === 0)).toBe(true);
    // Adding a task leaves the backbone and the other heads as they were.
    const more = initMlpParams({ ...c, tasks: [...c.tasks, 'noise'] }, 7);
    expect(Buffer.from(more['backbone.layers.0.weight']!.buffer).equals(Buffer.from(w0.buffer))).toBe(true);
    expect(Buffer.from(more['heads.plain.weight']!.buffer).equals(Buffer.from(p['heads.plain.weight']!.buffer))).toBe(true);
  });

  it('gives a working model: finite logits of the right shape on mnist-sized inputs', () => {
    const p = initMlpParams(c, 1);
    const params: Record<string, tf.Tensor> = {};
    for (const { name, shape } of mlpParameterShapes(c)) params[name] = tf.tensor(p[name]!, shape);
    const x = tf.randomUniform([8, 784], 0, 1, 'float32', 5) as tf.Tensor2D;
    const logits = mlpLogits(params, c, x, 'invert');
    expect(logits.shape).toEqual([8, 10]);
    const v = logits.dataSync();
    expect(v.every((e) => Number.isFinite(e) && Math.abs(e) <= 20 + 1e-3)).toBe(true);
    tf.dispose([x, logits, ...Object.values(params)]);
  });
});

describe('model families', () => {
  it('finds the MLP family from architectures[0] and checks through it', () => {
    const raw = mlpConfigToJson(smallConfig());
    const fam = modelFamilyOf(raw, 'a/config.json');
    expect(fam).toBe(MODEL_FAMILIES.MlpClassifier);
    expect(fam.architecture).toBe('MlpClassifier');
    const config = fam.parseConfig(raw, 'a/config.json');
    const shapes = fam.parameterShapes(config);
    expect(shapes.length).toBe(8);
    fam.checkParams(config, new Map(shapes.map((s) => [s.name, s.shape])), 'a');
    expectCode(() => fam.checkParams(config, new Map(), 'a'), 'IO_E_NO_TENSOR', 'backbone.layers.0.weight', 'a');
  });

  it('names unknown architectures and lists the known ones', () => {
    expectCode(() => modelFamilyOf({ architectures: ['GPT2LMHeadModel'] }, 'b/config.json'), 'IO_E_CONFIG', 'b/config.json', 'GPT2LMHeadModel', 'MlpClassifier');
    expectCode(() => modelFamilyOf({ architectures: ['toString'] }, 'b/config.json'), 'IO_E_CONFIG', 'toString');
    expectCode(() => modelFamilyOf({}, 'b/config.json'), 'IO_E_CONFIG', 'b/config.json', '"architectures"', 'MlpClassifier');
    expectCode(() => modelFamilyOf(null, 'b/config.json'), 'IO_E_CONFIG', 'b/config.json');
  });
});
