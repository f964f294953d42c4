// The methods taken from mergekit (sce, karcher, multislerp, nearswap, arcee_fusion, ram,
// ramplus_tl) against independent float64 references written from mergekit's code
// (test/reference/mergekit-methods-reference.ts): in memory (whole, and in 3 row chunks), and
// through the streaming engine (a merge into a folder, read back; a 2-chunk tensor re-read between
// statistics passes on 2 threads).
//
// Tolerance: max_e |out[e] − ref[e]| <= 1e-5 · max(1, max_e |ref[e]|) (float32 output of float32
// inputs; the references run in float64).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors-reader.ts';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import type { Scalar } from '../src/merge/parameters.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { expectCodeAsync, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';
import { expectCode, makeTmp, rng } from './helpers/io-tmp.ts';
import {
  refArceeFusion,
  refKarcher,
  refMultislerp,
  refNearswap,
  refRam,
  refRamplusTl,
  refSce,
} from './reference/mergekit-methods-reference.ts';

const REF_TOL = 1e-5;

function gaussians(r: () => number, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

interface Data {
  base: Float32Array;
  models: Float32Array[];
}

/** Experts that change each element of the base with probability densities[i] (else equal it exactly). */
function sparseData(seed: number, n: number, densities: number[], spread = 0.3): Data {
  const r = rng(seed);
  const base = Float32Array.from(gaussians(r, n));
  const models = densities.map((d) => {
    const own = gaussians(r, n);
    return Float32Array.from(base, (b, e) => (r() < d ? b + spread * own[e]! : b));
  });
  return { base, models };
}

/** Experts = base + spread·(shared + own) noise: correlated, dense task vectors. */
function denseData(seed: number, n: number, k: number, spread = 0.3): Data {
  const r = rng(seed);
  const base = Float32Array.from(gaussians(r, n));
  const common = gaussians(r, n);
  const models = Array.from({ length: k }, () => {
    const own = gaussians(r, n);
    return Float32Array.from(base, (b, e) => b + spread * (0.5 * common[e]! + 0.5 * own[e]!));
  });
  return { base, models };
}

const f64 = (a: Float32Array) => Float64Array.from(a);

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = REF_TOL): void {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let worst = -1;
  let scale = 1;
  for (let e = 0; e < expected.length; e++) {
    const d = Math.abs(actual[e]! - expected[e]!);
    if (!(d <= diff)) {
      diff = d;
      worst = e;
    }
    scale = Math.max(scale, Math.abs(expected[e]!));
  }
  // NaN compares false, so a NaN element becomes the worst and fails here
  expect(diff, `worst element ${worst}: ${actual[worst]} vs ${expected[worst]}`).toBeLessThanOrEqual(tol * scale);
}

/** The merge differs from every input by more than noise, so agreeing with the reference means something. */
function expectNontrivial(ref: ArrayLike<number>, inputs: Float32Array[]): void {
  for (const x of inputs) {
    let d = 0;
    for (let e = 0; e < x.length; e++) d = Math.max(d, Math.abs(ref[e]! - x[e]!));
    expect(d).toBeGreaterThan(1e-3);
  }
}

interface Case {
  label: string;
  method: string;
  shape: number[];
  data: Data;
  /** The base is an input of the method (false: only the models are passed). */
  useBase?: boolean;
  global?: Record<string, Scalar>;
  perModel?: Array<Record<string, Scalar>>;
  ref: () => ArrayLike<number>;
}

function run(c: Case, chunks: number): Float32Array {
  return mergeTensorInMemory({
    method: c.method,
    name: 'model.layers.2.mlp.up_proj.weight',
    shape: c.shape,
    base: c.useBase === false ? null : c.data.base,
    models: c.data.models,
    global: c.global,
    perModel: c.perModel,
    chunks,
  });
}

const S = sparseData(1, 40 * 30, [0.3, 0.5, 0.7]);
const D = denseData(2, 40 * 30, 3);
const D2 = denseData(3, 24 * 25, 2);
// Deltas of ~3e-4: Σ mean(τ²) < 1e-6, so SCE falls back to equal weights (as mergekit does).
const TINY = sparseData(4, 40 * 30, [0.4, 0.6, 0.5], 3e-4);
const ZERO_MODEL: Data = { base: D.base, models: [D.models[0]!, new Float32Array(D.base.length), D.models[1]!] };
const V1 = denseData(5, 300, 1);

const CASES: Case[] = [
  { label: 'nearswap t=0.1', method: 'nearswap', shape: [40, 30], data: { base: D.base, models: [D.models[0]!] }, global: { t: 0.1 }, ref: () => refNearswap(f64(D.base), f64(D.models[0]!), 0.1) },
  { label: 'nearswap t=0.02 (sparse)', method: 'nearswap', shape: [40, 30], data: { base: S.base, models: [S.models[1]!] }, global: { t: 0.02 }, ref: () => refNearswap(f64(S.base), f64(S.models[1]!), 0.02) },
  { label: 'ram', method: 'ram', shape: [40, 30], data: S, ref: () => refRam(f64(S.base), S.models.map(f64)) },
  { label: 'ram epsilon=0.1', method: 'ram', shape: [40, 30], data: S, global: { epsilon: 0.1 }, ref: () => refRam(f64(S.base), S.models.map(f64), 0.1) },
  { label: 'ramplus_tl defaults', method: 'ramplus_tl', shape: [40, 30], data: S, ref: () => refRamplusTl(f64(S.base), S.models.map(f64)) },
  { label: 'ramplus_tl r=0.5 alpha=3 (two models capped)', method: 'ramplus_tl', shape: [40, 30], data: S, global: { r: 0.5, alpha: 3 }, ref: () => refRamplusTl(f64(S.base), S.models.map(f64), 0.5, 3) },
  { label: 'ramplus_tl r=0.5 alpha=10', method: 'ramplus_tl', shape: [40, 30], data: S, global: { r: 0.5, alpha: 10 }, ref: () => refRamplusTl(f64(S.base), S.models.map(f64), 0.5, 10) },
  { label: 'sce select_topk=1', method: 'sce', shape: [40, 30], data: D, ref: () => refSce(f64(D.base), D.models.map(f64)) },
  { label: 'sce select_topk=0.3 (sparse)', method: 'sce', shape: [40, 30], data: S, global: { select_topk: 0.3 }, ref: () => refSce(f64(S.base), S.models.map(f64), 0.3) },
  { label: 'sce select_topk=0.7 (dense)', method: 'sce', shape: [40, 30], data: D, global: { select_topk: 0.7 }, ref: () => refSce(f64(D.base), D.models.map(f64), 0.7) },
  { label: 'karcher (no base)', method: 'karcher', shape: [40, 30], data: D, useBase: false, ref: () => refKarcher(D.models.map(f64)) },
  { label: 'karcher with the base as a point', method: 'karcher', shape: [40, 30], data: D, ref: () => refKarcher([...D.models, D.base].map(f64)) },
  { label: 'karcher max_iter=3 tol=1e-3, a zero model', method: 'karcher', shape: [40, 30], data: ZERO_MODEL, useBase: false, global: { max_iter: 3, tol: 1e-3 }, ref: () => refKarcher(ZERO_MODEL.models.map(f64), 3, 1e-3) },
  { label: 'multislerp over the base', method: 'multislerp', shape: [40, 30], data: D, perModel: [{ weight: 0.2 }, { weight: 0.5 }, { weight: 0.3 }], ref: () => refMultislerp(D.models.map(f64), [0.2, 0.5, 0.3], f64(D.base)) },
  { label: 'multislerp without base, unnormalised weights', method: 'multislerp', shape: [40, 30], data: D, useBase: false, global: { normalize_weights: false }, perModel: [{ weight: 1 }, { weight: 2 }, { weight: 0.5 }], ref: () => refMultislerp(D.models.map(f64), [1, 2, 0.5], null, false) },
  { label: 'multislerp two models', method: 'multislerp', shape: [24, 25], data: D2, perModel: [{ weight: 0.7 }, { weight: 0.3 }], ref: () => refMultislerp(D2.models.map(f64), [0.7, 0.3], f64(D2.base)) },
  { label: 'arcee_fusion 2-D', method: 'arcee_fusion', shape: [40, 30], data: { base: D.base, models: [D.models[2]!] }, ref: () => refArceeFusion(f64(D.base), f64(D.models[2]!), 30).merged },
  { label: 'arcee_fusion 3-D (rows of the last dim)', method: 'arcee_fusion', shape: [8, 5, 30], data: { base: D.base, models: [D.models[0]!] }, ref: () => refArceeFusion(f64(D.base), f64(D.models[0]!), 30).merged },
  { label: 'arcee_fusion 1-D', method: 'arcee_fusion', shape: [300], data: V1, ref: () => refArceeFusion(f64(V1.base), f64(V1.models[0]!), 300).merged },
];

describe.each(CASES)('$label', (c) => {
  it.each([1, 3])('chunks=%i matches the float64 reference', (chunks) => {
    const ref = c.ref();
    expectNontrivial(ref, c.useBase === false ? c.data.models : [c.data.base, ...c.data.models]);
    expectClose(run(c, chunks), ref);
  });
});

describe('the references exercise what they should', () => {
  it('arcee_fusion keeps a minority of the changes, not none and not all', () => {
    const { kept } = refArceeFusion(f64(D.base), f64(D.models[2]!), 30);
    expect(kept).toBeGreaterThan(5);
    expect(kept).toBeLessThan(D.base.length / 4);
  });
  it('ramplus_tl scales unique entries differently per model with r=0.5, alpha=10', () => {
    const plain = refRam(f64(S.base), S.models.map(f64));
    const plus = refRamplusTl(f64(S.base), S.models.map(f64), 0.5, 10);
    const ratios = new Set<string>();
    for (let e = 0; e < plain.length; e++) {
      const d = plain[e]! - S.base[e]!;
      if (Math.abs(d) > 1e-3 && Math.abs(plus[e]! - plain[e]!) > 1e-9) ratios.add(((plus[e]! - S.base[e]!) / d).toFixed(6));
    }
    expect(ratios.size).toBe(3);
  });
  it('sce on small deltas (equal weights) matches the reference on the task vectors', () => {
    for (const [chunks, k] of [[1, 0.5], [3, 1]] as const) {
      const c: Case = { label: '', method: 'sce', shape: [40, 30], data: TINY, global: { select_topk: k }, ref: () => [] };
      const tv = Array.from(run(c, chunks), (x, e) => x - TINY.base[e]!);
      const want = Array.from(refSce(f64(TINY.base), TINY.models.map(f64), k), (x, e) => x - TINY.base[e]!);
      const scale = Math.max(...want.map(Math.abs));
      expect(scale).toBeGreaterThan(3e-4);
      // float32 output near |base| ≤ 4 resolves 5e-7: 1e-2 of the largest task-vector entry is ample
      expectClose(tv, want, 1e-2 * scale);
      // equal weights differ from energy weights: the reference's branch matters here
      const energy = Array.from(refSce(f64(TINY.base), TINY.models.map((m) => Float64Array.from(m, (x, e) => TINY.base[e]! + (x - TINY.base[e]!) * 1e3)), k), (x, e) => (x - TINY.base[e]!) / 1e3);
      let d = 0;
      for (let e = 0; e < want.length; e++) d = Math.max(d, Math.abs(energy[e]! - want[e]!));
      expect(d).toBeGreaterThan(0.05 * scale);
    }
  });
  it('sce with select_topk ≤ 0 gives the base', () => {
    const out = run({ label: '', method: 'sce', shape: [40, 30], data: D, global: { select_topk: 0 }, ref: () => [] }, 2);
    expectClose(out, refSce(f64(D.base), D.models.map(f64), 0));
    expect(Array.from(out)).toEqual(Array.from(D.base));
  });
  it('karcher of one model is that model', () => {
    const out = run({ label: '', method: 'karcher', shape: [40, 30], data: { base: D.base, models: [D.models[0]!] }, useBase: false, ref: () => [] }, 1);
    expect(Array.from(out)).toEqual(Array.from(D.models[0]!));
  });
  it('multislerp: two opposite models with equal weights fall back to the weighted sum; three are refused', () => {
    const a = D.models[0]!;
    const neg = Float32Array.from(a, (x) => -x);
    const two = run({ label: '', method: 'multislerp', shape: [40, 30], data: { base: D.base, models: [a, neg] }, useBase: false, perModel: [{ weight: 1 }, { weight: 1 }], ref: () => [] }, 1);
    expectClose(two, refMultislerp([f64(a), f64(neg)], [1, 1], null));
    expect(Math.max(...Array.from(two, Math.abs))).toBe(0);
    expectCode(
      () => run({ label: '', method: 'multislerp', shape: [40, 30], data: { base: D.base, models: [a, neg, a] }, useBase: false, perModel: [{ weight: 1 }, { weight: 2 }, { weight: 1 }], ref: () => [] }, 1),
      'RECIPE_E_PARAM',
      'multislerp',
      'change the weights',
    );
  });
  it('nearswap takes the other model where it lies within t of the base', () => {
    const base = Float32Array.from([0, 0, 0, 1]);
    const other = Float32Array.from([0.05, 0.5, -2, 1]);
    const out = run({ label: '', method: 'nearswap', shape: [4], data: { base, models: [other] }, global: { t: 0.1 }, ref: () => [] }, 1);
    // w = min(1, 0.1/|Δ|): 1, 0.2, 0.05, 1 (Δ = 0 → 0.1/1e-6 → 1)
    expectClose(out, [0.05, 0.1, -0.1, 1], 1e-7);
  });
});

// ---------------------------------------------------------------------------------------------
// streaming: merge into a folder and read back

const BIG_ROWS = 33000; // × 32 columns: two row chunks of the executor (1M elements each)
const BIG_COLS = 32;
const TENSORS = [
  { name: 'model.layers.0.mlp.big', shape: [BIG_ROWS, BIG_COLS] },
  { name: 'model.layers.1.self_attn.w', shape: [6, 5, 4] },
  { name: 'model.layers.1.norm', shape: [7] },
];
const tmp = makeTmp('ms-mergekit-parity-');
let dirs: string[] = [];
const values: Float32Array[][] = []; // per tensor: [base, expert1, expert2, expert3]

beforeAll(() => {
  for (const [t, spec] of TENSORS.entries()) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const d = sparseData(100 + t, n, [0.3, 0.5, 0.7]);
    values.push([d.base, ...d.models]);
  }
  dirs = ['base', 'expert1', 'expert2', 'expert3'].map((name, m) =>
    writeHandCheckpoint(
      path.join(tmp.dir, name),
      TENSORS.map((spec, t) => ({ name: spec.name, shape: spec.shape, values: values[t]![m]! })),
    ),
  );
});
afterAll(() => tmp.cleanup());

interface StreamCase {
  method: string;
  threads: number;
  recipe: () => string;
  ref: (v: Float64Array[], rowLength: number) => ArrayLike<number>;
}

const models = (idx: number[], params?: string[]) => idx.map((i, j) => `  - model: ${dirs[i]}${params?.[j] ? `\n    parameters: { ${params[j]} }` : ''}`).join('\n');

const STREAM: StreamCase[] = [
  { method: 'nearswap', threads: 1, recipe: () => `merge_method: nearswap\nbase_model: ${dirs[0]}\nparameters: { t: 0.1 }\nmodels:\n${models([1])}\n`, ref: (v) => refNearswap(v[0]!, v[1]!, 0.1) },
  { method: 'ram', threads: 1, recipe: () => `merge_method: ram\nbase_model: ${dirs[0]}\nmodels:\n${models([1, 2, 3])}\n`, ref: (v) => refRam(v[0]!, v.slice(1)) },
  { method: 'ramplus_tl', threads: 2, recipe: () => `merge_method: ramplus_tl\nbase_model: ${dirs[0]}\nparameters: { r: 0.5, alpha: 3 }\nmodels:\n${models([1, 2, 3])}\n`, ref: (v) => refRamplusTl(v[0]!, v.slice(1), 0.5, 3) },
  { method: 'sce', threads: 2, recipe: () => `merge_method: sce\nbase_model: ${dirs[0]}\nparameters: { select_topk: 0.4 }\nmodels:\n${models([1, 2, 3])}\n`, ref: (v) => refSce(v[0]!, v.slice(1), 0.4) },
  // mergekit gathers base_model with the models, so the base is one more point of the mean.
  { method: 'karcher', threads: 1, recipe: () => `merge_method: karcher\nbase_model: ${dirs[0]}\nmodels:\n${models([1, 2, 3])}\n`, ref: (v) => refKarcher([v[1]!, v[2]!, v[3]!, v[0]!]) },
  {
    method: 'multislerp',
    threads: 1,
    recipe: () => `merge_method: multislerp\nbase_model: ${dirs[0]}\nmodels:\n${models([1, 2, 3], ['weight: 0.2', 'weight: 0.5', 'weight: 0.3'])}\n`,
    ref: (v) => refMultislerp(v.slice(1), [0.2, 0.5, 0.3], v[0]!),
  },
  // mergekit's examples/arcee_fusion.yml, with local folders.
  { method: 'arcee_fusion', threads: 2, recipe: () => `models:\n  - model: ${dirs[0]}\n  - model: ${dirs[1]}\nmerge_method: arcee_fusion\nbase_model: ${dirs[0]}\ndtype: float32\n`, ref: (v, row) => refArceeFusion(v[0]!, v[1]!, row).merged },
];

describe.each(STREAM)('$method through the streaming engine ($threads threads)', ({ method, threads, recipe, ref }) => {
  it('merges into a folder that reads back as the float64 reference', async () => {
    const out = path.join(tmp.dir, `out-${method}`);
    // A 1 MB budget: the big tensor's chunks are read again for each statistics pass.
    await mergeToFolder(parseRecipe(recipe()), { out, threads, memoryBudget: 1e6 });
    const f = SafetensorsFile.open(path.join(out, 'model.safetensors'));
    try {
      for (const [t, spec] of TENSORS.entries()) {
        const want = ref(values[t]!.map(f64), spec.shape[spec.shape.length - 1]!);
        const got = f.readF32(spec.name);
        expectNontrivial(want, values[t]!.slice(0, method === 'nearswap' || method === 'arcee_fusion' ? 2 : 4));
        expectClose(got, want);
      }
    } finally {
      f.close();
    }
  }, 120_000);
});

it('nearswap and arcee_fusion refuse more than one model besides the base', async () => {
  for (const method of ['nearswap', 'arcee_fusion']) {
    await expectCodeAsync(
      () => mergeToFolder(parseRecipe(`merge_method: ${method}\nbase_model: ${dirs[0]}\nparameters: { t: 0.1 }\nmodels:\n${models([1, 2])}\n`), { out: path.join(tmp.dir, `refused-${method}`) }),
      'MERGE_E_MODEL_COUNT',
      `${method} merges the base with exactly one other model, got 2`,
    );
  }
});
