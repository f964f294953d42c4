// `model: MODEL+LORA` recipes: a PEFT adapter folder applied to a model's tensors before merging.
// Expected values are worked out here in float64 from the files: W + scale · B·A (transposed for
// fan_in_fan_out and embeddings), rounded to the model's float16 with a rounding written here,
// then the method's formula; bad adapters are coded errors naming the tensor or file.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { encodeFromF32, type FloatDtype } from '../src/io/dtype.ts';
import { writeSafetensorsFile } from '../src/io/safetensors-writer.ts';
import { applyLoraRows } from '../src/merge/lora-apply.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { writeSyntheticLlama, type LlamaShape } from '../src/zoo/synthetic-llama.ts';
import { expectCode, makeTmp, rng } from './helpers/io-tmp.ts';
import { expectCodeAsync, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

const SHAPE: LlamaShape = { hidden: 16, intermediate: 24, layers: 2, vocab: 32, heads: 2, kvHeads: 1 };
const R = 4;
const ALPHA = 8;

interface Matrix {
  rows: number;
  cols: number;
  v: Float64Array;
}

interface AdapterModule {
  /** Module path in the model (the tensor is `${module}.weight`). */
  module: string;
  a: Matrix;
  b: Matrix;
  embedding?: boolean;
}

let tmp: { dir: string; cleanup: () => void };
let base: string;
let expert: string;

function randomMatrix(rows: number, cols: number, seed: number, scale: number): Matrix {
  const r = rng(seed);
  return { rows, cols, v: Float64Array.from({ length: rows * cols }, () => (r() * 2 - 1) * scale) };
}

/** Values rounded to float32 (what the adapter file will hold as F32). */
function asF32(m: Matrix): Matrix {
  return { ...m, v: Float64Array.from(Float32Array.from(m.v)) };
}

function writeAdapter(dir: string, modules: AdapterModule[], config: Record<string, unknown>, dtype: FloatDtype = 'F32'): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = modules.flatMap((m) => {
    const names = m.embedding ? ['lora_embedding_A', 'lora_embedding_B'] : ['lora_A.weight', 'lora_B.weight'];
    return [
      [names[0]!, m.a],
      [names[1]!, m.b],
    ].map(([suffix, mat]) => {
      const x = mat as Matrix;
      const data = new Uint8Array(x.v.length * (dtype === 'F32' ? 4 : 2));
      encodeFromF32(dtype, Float32Array.from(x.v), data);
      return { name: `base_model.model.${m.module}.${suffix as string}`, dtype, shape: [x.rows, x.cols], data };
    });
  });
  writeSafetensorsFile(path.join(dir, 'adapter_model.safetensors'), tensors);
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: R, lora_alpha: ALPHA, target_modules: ['q_proj', 'v_proj', 'down_proj'], fan_in_fan_out: false, use_rslora: false, ...config }));
}

/** B·A in float64: [b.rows, a.cols]. */
function product(b: Matrix, a: Matrix): Matrix {
  const v = new Float64Array(b.rows * a.cols);
  for (let i = 0; i < b.rows; i++) for (let j = 0; j < a.cols; j++) {
    let s = 0;
    for (let k = 0; k < b.cols; k++) s += b.v[i * b.cols + k]! * a.v[k * a.cols + j]!;
    v[i * a.cols + j] = s;
  }
  return { rows: b.rows, cols: a.cols, v };
}

function transpose(m: Matrix): Matrix {
  const v = new Float64Array(m.v.length);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) v[j * m.rows + i] = m.v[i * m.cols + j]!;
  return { rows: m.cols, cols: m.rows, v };
}

/** Round to the nearest IEEE half (ties to even), worked out from the spacing of halves around x. */
function roundHalf(x: number): number {
  if (x === 0) return 0;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -14);
  const ulp = 2 ** (e - 10);
  const q = x / ulp;
  let n = Math.round(q);
  if (Math.abs(q - Math.trunc(q)) === 0.5) n = 2 * Math.round(q / 2);
  return n * ulp;
}

function read64(dir: string, name: string): Float64Array {
  const c = Checkpoint.open(dir);
  try {
    return Float64Array.from(c.readF32(name));
  } finally {
    c.close();
  }
}

function expectClose(got: Float64Array, want: Float64Array, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst, what).toBeLessThanOrEqual(tol);
}

beforeAll(() => {
  tmp = makeTmp('mergesearch-lora-');
  base = path.join(tmp.dir, 'base');
  expert = path.join(tmp.dir, 'expert');
  writeSyntheticLlama(base, SHAPE, { seed: 3 });
  writeSyntheticLlama(expert, SHAPE, { seed: 3, expert: 1 });
});

afterAll(() => tmp?.cleanup());

const MODULES = (): AdapterModule[] => [
  { module: 'model.layers.0.self_attn.q_proj', a: asF32(randomMatrix(R, 16, 1, 0.3)), b: asF32(randomMatrix(16, R, 2, 0.3)) },
  { module: 'model.layers.1.self_attn.v_proj', a: asF32(randomMatrix(R, 16, 3, 0.3)), b: asF32(randomMatrix(8, R, 4, 0.3)) },
  { module: 'model.layers.1.mlp.down_proj', a: asF32(randomMatrix(R, 24, 5, 0.3)), b: asF32(randomMatrix(16, R, 6, 0.3)) },
  // PEFT's embedding LoRA: A [r, vocab], B [hidden, r], applied as (B·A)ᵀ.
  { module: 'model.embed_tokens', a: asF32(randomMatrix(R, 32, 7, 0.3)), b: asF32(randomMatrix(16, R, 8, 0.3)), embedding: true },
];

describe('model+lora', () => {
  it('linear merge of expert+adapter with the base equals W + (alpha/r)·B·A rounded to f16, then the weighted sum (float64 reference)', async () => {
    const adapter = path.join(tmp.dir, 'adapter');
    const modules = MODULES();
    writeAdapter(adapter, modules, {});
    const out = path.join(tmp.dir, 'out-linear');
    const recipe = parseRecipe(`merge_method: linear\nmodels:\n  - model: ${expert}+${adapter}\n    parameters: {weight: 0.75}\n  - model: ${base}\n    parameters: {weight: 0.25}\ndtype: float32\n`, path.join(tmp.dir, 'r.yml'));
    expect(recipe.models[0]!.lora?.path).toBe(adapter);
    await mergeToFolder(recipe, { out, threads: 1 });
    const scale = ALPHA / R;
    const c = Checkpoint.open(expert);
    const names = [...c.tensors.keys()];
    c.close();
    let patched = 0;
    for (const name of names) {
      const m = modules.find((x) => `${x.module}.weight` === name);
      const w = read64(expert, name);
      if (m) {
        const d = m.embedding ? transpose(product(m.b, m.a)) : product(m.b, m.a);
        for (let i = 0; i < w.length; i++) w[i] = roundHalf(w[i]! + scale * d.v[i]!);
        patched++;
      }
      const b = read64(base, name);
      const want = w.map((x, i) => 0.75 * x + 0.25 * b[i]!);
      // float32 arithmetic on values of size ~1: a few float32 ulps; a LoRA left out would be off by ~0.1.
      expectClose(read64(out, name), want, 2e-6, name);
    }
    expect(patched).toBe(4);
    // The adapter changed what it targets by far more than the tolerance, and nothing else.
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const plain = read64(expert, q).map((x, i) => 0.75 * x + 0.25 * read64(base, q)[i]!);
    expect(Math.max(...read64(out, q).map((x, i) => Math.abs(x - plain[i]!)))).toBeGreaterThan(0.05);
  });

  it('a float16 linear merge (the fused half-precision path otherwise) still applies the adapter: within 1 f16 ulp of the float64 reference', async () => {
    const adapter = path.join(tmp.dir, 'adapter-f16');
    const m = { module: 'model.layers.0.mlp.up_proj', a: asF32(randomMatrix(R, 16, 41, 0.3)), b: asF32(randomMatrix(24, R, 42, 0.3)) };
    writeAdapter(adapter, [m], {});
    const out = path.join(tmp.dir, 'out-f16');
    await mergeToFolder(parseRecipe(`merge_method: linear\nmodels:\n  - model: ${expert}+${adapter}\n    parameters: {weight: 0.75}\n  - model: ${base}\n    parameters: {weight: 0.25}\n`, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    const name = 'model.layers.0.mlp.up_proj.weight';
    const d = product(m.b, m.a);
    const w = read64(expert, name).map((x, i) => roundHalf(x + (ALPHA / R) * d.v[i]!));
    const b = read64(base, name);
    const got = read64(out, name);
    for (let i = 0; i < got.length; i++) {
      const want = 0.75 * w[i]! + 0.25 * b[i]!;
      const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(want))), -14) - 10);
      expect(Math.abs(got[i]! - want), `${name}[${i}]`).toBeLessThanOrEqual(ulp);
    }
  });

  it('fan_in_fan_out with use_rslora and alpha_pattern: [in, out] tensors get (alpha/√r)·(B·A)ᵀ (passthrough, float64 reference)', async () => {
    const model = writeHandCheckpoint(path.join(tmp.dir, 'gpt2ish'), [
      { name: 'transformer.h.0.attn.c_attn.weight', shape: [6, 10], values: Array.from({ length: 60 }, (_, i) => Math.sin(i)) },
      { name: 'transformer.h.0.mlp.c_fc.weight', shape: [6, 5], values: Array.from({ length: 30 }, (_, i) => Math.cos(i)) },
    ]);
    const adapter = path.join(tmp.dir, 'adapter-fifo');
    // PEFT stores A [r, in] and B [out, r] even when the model keeps [in, out].
    const attn = { module: 'transformer.h.0.attn.c_attn', a: asF32(randomMatrix(R, 6, 11, 0.5)), b: asF32(randomMatrix(10, R, 12, 0.5)) };
    const fc = { module: 'transformer.h.0.mlp.c_fc', a: asF32(randomMatrix(R, 6, 13, 0.5)), b: asF32(randomMatrix(5, R, 14, 0.5)) };
    writeAdapter(adapter, [attn, fc], { fan_in_fan_out: true, use_rslora: true, alpha_pattern: { c_fc: 2 } });
    const out = path.join(tmp.dir, 'out-fifo');
    await mergeToFolder(parseRecipe(`merge_method: passthrough\nmodels: [{model: ${model}+${adapter}}]\n`, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    for (const [m, alpha] of [[attn, ALPHA], [fc, 2]] as const) {
      const name = `${m.module}.weight`;
      const d = transpose(product(m.b, m.a));
      const w = read64(model, name);
      const want = w.map((x, i) => x + (alpha / Math.sqrt(R)) * d.v[i]!);
      expectClose(read64(out, name), want, 2e-6, name);
    }
  });

  it('a slice source written MODEL+LORA is patched in its moved layers (passthrough stacking)', async () => {
    const adapter = path.join(tmp.dir, 'adapter-slice');
    const m = { module: 'model.layers.1.self_attn.q_proj', a: asF32(randomMatrix(R, 16, 21, 0.3)), b: asF32(randomMatrix(16, R, 22, 0.3)) };
    writeAdapter(adapter, [m], { r: R, lora_alpha: 4 });
    const out = path.join(tmp.dir, 'out-slices');
    const text = `slices:\n  - sources: [{model: ${base}, layer_range: [0, 2]}]\n  - sources: [{model: ${expert}+${adapter}, layer_range: [1, 2]}]\nmerge_method: passthrough\n`;
    await mergeToFolder(parseRecipe(text, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    const d = product(m.b, m.a);
    const want = read64(expert, 'model.layers.1.self_attn.q_proj.weight').map((x, i) => roundHalf(x + 1 * d.v[i]!));
    expectClose(read64(out, 'model.layers.2.self_attn.q_proj.weight'), want, 0, 'output layer 2 (expert layer 1 + LoRA)');
    // The same model without the adapter, in the first slice, is untouched.
    expectClose(read64(out, 'model.layers.1.self_attn.q_proj.weight'), read64(base, 'model.layers.1.self_attn.q_proj.weight'), 0, 'output layer 1 (base)');
  });

  it('row chunks patched one at a time equal the whole tensor patched at once (both layouts)', () => {
    const a = Float32Array.from(randomMatrix(3, 7, 31, 1).v);
    const b = Float32Array.from(randomMatrix(5, 3, 32, 1).v);
    const reader = (t: string, r0?: number, r1?: number) => {
      const [m, cols] = t === 'A' ? [a, 7] : [b, 3];
      return r0 === undefined ? m : m.subarray(r0 * cols, r1! * cols);
    };
    for (const transpose of [false, true]) {
      const [rows, cols] = transpose ? [7, 5] : [5, 7];
      const w0 = Float32Array.from(randomMatrix(rows, cols, 33, 1).v);
      const patch = { file: 'x', a: 'A', b: 'B', rank: 3, scale: 1.5, transpose };
      const whole = w0.slice();
      applyLoraRows(whole, 'F32', patch, 0, rows, cols, reader);
      const pieces = w0.slice();
      for (const [r0, r1] of [[0, 2], [2, 3], [3, rows]] as const) applyLoraRows(pieces.subarray(r0 * cols, r1 * cols), 'F32', patch, r0, r1, cols, reader);
      expect(Array.from(pieces)).toEqual(Array.from(whole));
      expect(Math.max(...whole.map((x, i) => Math.abs(x - w0[i]!)))).toBeGreaterThan(0.1);
    }
  });
});

describe('model+lora errors', () => {
  const recipeFor = (adapter: string) => parseRecipe(`merge_method: passthrough\nmodels: [{model: ${expert}+${adapter}}]\n`, path.join(tmp.dir, 'r.yml'));

  it('an adapter folder without adapter_model.safetensors is LORA_E_ADAPTER naming the file', async () => {
    const adapter = path.join(tmp.dir, 'adapter-nofile');
    fs.mkdirSync(adapter, { recursive: true });
    fs.writeFileSync(path.join(adapter, 'adapter_config.json'), JSON.stringify({ r: R, lora_alpha: ALPHA }));
    await expectCodeAsync(() => mergeToFolder(recipeFor(adapter), { out: path.join(tmp.dir, 'never1'), threads: 1 }), 'LORA_E_ADAPTER', 'adapter_model.safetensors', adapter);
    expect(fs.existsSync(path.join(tmp.dir, 'never1'))).toBe(false);
  });

  it('an adapter folder that does not exist is LORA_E_ADAPTER when the recipe is read', () => {
    expectCode(() => recipeFor(path.join(tmp.dir, 'no-such-adapter')), 'LORA_E_ADAPTER', 'no-such-adapter', 'not found');
  });

  it("an adapter's module that the model lacks is LORA_E_TARGET naming the tensor", async () => {
    const adapter = path.join(tmp.dir, 'adapter-target');
    writeAdapter(adapter, [{ module: 'model.layers.7.self_attn.q_proj', a: randomMatrix(R, 16, 1, 0.1), b: randomMatrix(16, R, 2, 0.1) }], {});
    await expectCodeAsync(() => mergeToFolder(recipeFor(adapter), { out: path.join(tmp.dir, 'never2'), threads: 1 }), 'LORA_E_TARGET', 'model.layers.7.self_attn.q_proj.weight', expert);
  });

  it('matrices that do not fit the tensor are LORA_E_SHAPE naming the tensor and both shapes', async () => {
    const adapter = path.join(tmp.dir, 'adapter-shape');
    writeAdapter(adapter, [{ module: 'model.layers.0.self_attn.k_proj', a: randomMatrix(R, 16, 1, 0.1), b: randomMatrix(16, R, 2, 0.1) }], {});
    await expectCodeAsync(() => mergeToFolder(recipeFor(adapter), { out: path.join(tmp.dir, 'never3'), threads: 1 }), 'LORA_E_SHAPE', 'model.layers.0.self_attn.k_proj.weight', '[8,16]', '[16,16]');
  });

  it('a rank that differs from adapter_config.json r is LORA_E_SHAPE naming the module', async () => {
    const adapter = path.join(tmp.dir, 'adapter-rank');
    writeAdapter(adapter, [{ module: 'model.layers.0.self_attn.q_proj', a: randomMatrix(2, 16, 1, 0.1), b: randomMatrix(16, 2, 2, 0.1) }], {});
    await expectCodeAsync(() => mergeToFolder(recipeFor(adapter), { out: path.join(tmp.dir, 'never4'), threads: 1 }), 'LORA_E_SHAPE', 'model.layers.0.self_attn.q_proj', 'r = 4');
  });

  it('two plus signs in a model reference are RECIPE_E_MODEL', () => {
    expectCode(() => parseRecipe(`merge_method: passthrough\nmodels: [{model: ${expert}+a+b}]\n`, path.join(tmp.dir, 'r.yml')), 'RECIPE_E_MODEL', 'MODEL+LORA');
  });
});
