// The SVD-family merges (tsv_m, iso_c, iso_cts, cart) against independent float64 constructions
// built on ml-matrix's Golub-Kahan SVD (our methods use Gram eigendecompositions and compute polar
// factors as X(XᵀX)^-1/2; the references use PQᵀ from the SVD), against spectral properties that
// hold whatever the formulation, and on the in-memory path (whole and in row chunks).
//
// Tolerance: merged float32 `out` against a float64 reference `ref`:
//   max_e |out[e] − ref[e]| <= 1e-5 · max(1, max_e |ref[e]|);
// singular values of (out − centre)/α against the expected ones: within 1e-4 relative to the largest
// (float32 output, so ~1e-7 relative per entry, amplified by the matrix size).
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { isoCtsSizes } from '../src/merge/methods/iso_cts.ts';
import type { Scalar } from '../src/merge/parameters.ts';
import { componentGroups } from '../src/merge/methods/tsv_m.ts';
import { seededRandom } from '../src/tensor/random.ts';

const TOL = 1e-5;

function gaussian(seed: number, n: number): Float64Array {
  const r = seededRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

interface Data {
  base: Float32Array;
  models: Float32Array[];
}

/** A base and T models; task vectors share a component so the tasks interfere. */
function makeData(seed: number, numel: number, tasks: number): Data {
  const base = Float32Array.from(gaussian(seed, numel));
  const shared = gaussian(seed + 1, numel);
  const models = Array.from({ length: tasks }, (_, t) => {
    const own = gaussian(seed + 10 + t, numel);
    return Float32Array.from(base, (b, e) => b + 0.1 * own[e]! + 0.05 * shared[e]!);
  });
  return { base, models };
}

// ml-matrix's add/sub/mul/div work in place: every use below starts from a fresh matrix or a clone.
const mat = (a: ArrayLike<number>, m: number, n: number) => Matrix.from1DArray(m, n, Array.from(a));
const sum = (ms: Matrix[]) => ms.reduce((a, b) => a.add(b), new Matrix(ms[0]!.rows, ms[0]!.columns));

function svdOf(a: Matrix): { u: Matrix; s: number[]; v: Matrix } {
  const x = new SingularValueDecomposition(a, { autoTranspose: true });
  return { u: x.leftSingularVectors, s: x.diagonal, v: x.rightSingularVectors };
}

/** Nearest matrix with orthonormal columns: P·Qᵀ from X = PΣQᵀ. */
function polar(x: Matrix): Matrix {
  const s = new SingularValueDecomposition(x, { autoTranspose: true });
  return s.leftSingularVectors.mmul(s.rightSingularVectors.transpose());
}

function topK(a: Matrix, k: number): { u: Matrix; s: number[]; v: Matrix } {
  const x = svdOf(a);
  return { u: x.u.subMatrix(0, a.rows - 1, 0, k - 1), s: x.s.slice(0, k), v: x.v.subMatrix(0, a.columns - 1, 0, k - 1) };
}

function hcat(ms: Matrix[]): Matrix {
  const out = new Matrix(ms[0]!.rows, ms.reduce((a, m) => a + m.columns, 0));
  let at = 0;
  for (const m of ms) {
    out.setSubMatrix(m, 0, at);
    at += m.columns;
  }
  return out;
}

function taskVectors(d: Data, m: number, n: number, weights: number[]): Matrix[] {
  return d.models.map((x, t) => mat(x, m, n).sub(mat(d.base, m, n)).mul(weights[t]!));
}

function expectClose(out: Float32Array, ref: Matrix | ArrayLike<number>): void {
  const r = ref instanceof Matrix ? ref.to1DArray() : Array.from(ref);
  const scale = Math.max(1, ...r.map(Math.abs));
  let worst = 0;
  for (let e = 0; e < r.length; e++) worst = Math.max(worst, Math.abs(out[e]! - r[e]!));
  expect(worst).toBeLessThanOrEqual(TOL * scale);
}

function run(method: string, name: string, shape: number[], d: Data, global: Record<string, Scalar>, perModel?: Array<Record<string, Scalar>>, chunks = 1): Float32Array {
  return mergeTensorInMemory({ method, name, shape, base: d.base, models: d.models, global, perModel, chunks, seed: 4 });
}

/** Singular values of (out − centre)/α. */
function spectrum(out: Float32Array, centre: Matrix, alpha: number, m: number, n: number): number[] {
  return svdOf(mat(out, m, n).sub(centre).div(alpha)).s;
}

const NAME = 'model.layers.0.mlp.up_proj.weight';
const SHAPES: Array<[number, number]> = [
  [12, 9],
  [7, 10],
];
const WEIGHTS = [1, 0.5, 1.5];
const perModel = WEIGHTS.map((weight) => ({ weight }));

// Two tasks: TSV-M's polar factors take the two-block route (svd.ts polarStacked), the stacked
// U (and V) of the full rank budget being square here.
describe.each([[14, 10], [9, 13], [24, 24]] as Array<[number, number]>)('%i×%i weight, 2 tasks (the two-block polar route)', (m, n) => {
  const d = makeData(200 + m, m * n, 2);
  const base = mat(d.base, m, n);
  const r = Math.min(m, n);
  const weights = [1, 0.6];
  const pm = weights.map((weight) => ({ weight }));

  it('tsv_m equals base + α·polar(U)·diag(σ)·polar(V)ᵀ built from full SVDs', () => {
    const alpha = 0.9;
    const k = Math.floor(r / 2);
    const tops = taskVectors(d, m, n, weights).map((t) => topK(t, k));
    const u = polar(hcat(tops.map((t) => t.u)));
    const v = polar(hcat(tops.map((t) => t.v)));
    const ref = base.clone().add(u.mmul(Matrix.diag(tops.flatMap((t) => t.s))).mmul(v.transpose()).mul(alpha));
    expectClose(run('tsv_m', NAME, [m, n], d, { alpha }, pm), ref);
  });

  it('tsv_m: the update\'s singular values are exactly the kept σ of both tasks (orthonormal recombined U and V)', () => {
    const k = Math.floor(r / 2);
    const kept = taskVectors(d, m, n, weights).flatMap((t) => svdOf(t).s.slice(0, k));
    kept.sort((a, b) => b - a);
    const got = spectrum(run('tsv_m', NAME, [m, n], d, { alpha: 1 }, pm), base, 1, m, n);
    for (let i = 0; i < kept.length; i++) expect(Math.abs(got[i]! - kept[i]!)).toBeLessThan(1e-4 * kept[0]!);
  });
});

describe.each(SHAPES)('%i×%i weight, 3 tasks', (m, n) => {
  const d = makeData(100 + m, m * n, 3);
  const base = mat(d.base, m, n);
  const r = Math.min(m, n);

  it('tsv_m equals base + α·polar(U)·diag(σ)·polar(V)ᵀ built from full SVDs', () => {
    const alpha = 0.7;
    const k = Math.floor(r / 3);
    const tops = taskVectors(d, m, n, WEIGHTS).map((t) => topK(t, k));
    const u = polar(hcat(tops.map((t) => t.u)));
    const v = polar(hcat(tops.map((t) => t.v)));
    const s = Matrix.diag(tops.flatMap((t) => t.s));
    const ref = base.clone().add(u.mmul(s).mmul(v.transpose()).mul(alpha));
    expectClose(run('tsv_m', NAME, [m, n], d, { alpha }, perModel), ref);
  });

  it('tsv_m: the recombined U and V are orthonormal, so the update\'s singular values are exactly the kept σ of every task', () => {
    const alpha = 1.3;
    const k = Math.floor(r / 3);
    const kept = taskVectors(d, m, n, WEIGHTS).flatMap((t) => svdOf(t).s.slice(0, k));
    kept.sort((a, b) => b - a);
    const got = spectrum(run('tsv_m', NAME, [m, n], d, { alpha }, perModel), base, alpha, m, n);
    for (let i = 0; i < kept.length; i++) expect(Math.abs(got[i]! - kept[i]!)).toBeLessThan(1e-4 * kept[0]!);
    for (let i = kept.length; i < got.length; i++) expect(got[i]!).toBeLessThan(1e-4 * kept[0]!);
  });

  it('tsv_m with rank_fraction 0.5 keeps ⌊0.5·r/T⌋ triplets per task', () => {
    const k = Math.max(1, Math.floor((0.5 * r) / 3));
    const got = spectrum(run('tsv_m', NAME, [m, n], d, { alpha: 1, rank_fraction: 0.5 }, perModel), base, 1, m, n);
    const nonzero = got.filter((x) => x > 1e-4 * got[0]!).length;
    expect(nonzero).toBe(3 * k);
  });

  it('iso_c equals base + α·σ̄·U·Vᵀ of the weighted sum, and its update has a flat spectrum', () => {
    const alpha = 0.8;
    const x = svdOf(sum(taskVectors(d, m, n, WEIGHTS)));
    const mean = x.s.reduce((a, b) => a + b, 0) / r;
    const ref = base.clone().add(x.u.mmul(x.v.transpose()).mul(alpha * mean));
    const out = run('iso_c', NAME, [m, n], d, { alpha }, perModel);
    expectClose(out, ref);
    for (const s of spectrum(out, base, alpha, m, n).slice(0, r)) expect(Math.abs(s - mean)).toBeLessThan(1e-4 * mean);
  });

  it('iso_cts equals the common + task-specific construction, with a flat spectrum', () => {
    const alpha = 1.1;
    const frac = 0.5;
    const taus = taskVectors(d, m, n, WEIGHTS);
    const { common, perTask } = isoCtsSizes(r, 3, frac);
    expect(common + 3 * perTask).toBe(r);
    const c = topK(sum(taus), common);
    const proj = Matrix.eye(m).sub(c.u.mmul(c.u.transpose()));
    const ts = taus.map((t) => topK(proj.mmul(t), perTask));
    const u = polar(hcat([...ts.map((t) => t.u), c.u]));
    const v = polar(hcat([...ts.map((t) => t.v), c.v]));
    const mean = [...ts.flatMap((t) => t.s), ...c.s].reduce((a, b) => a + b, 0) / r;
    const ref = base.clone().add(u.mmul(v.transpose()).mul(alpha * mean));
    const out = run('iso_cts', NAME, [m, n], d, { alpha, common_space_fraction: frac }, perModel);
    expectClose(out, ref);
    for (const s of spectrum(out, base, alpha, m, n).slice(0, r)) expect(Math.abs(s - mean)).toBeLessThan(1e-4 * mean);
  });

  it('iso_cts with common_space_fraction 1 is iso_c', () => {
    const a = run('iso_cts', NAME, [m, n], d, { alpha: 0.9, common_space_fraction: 1 }, perModel);
    expectClose(a, run('iso_c', NAME, [m, n], d, { alpha: 0.9 }, perModel));
  });

  it('cart equals θ̄ + α·Σ SVD_k(θₜ − θ̄) built from full SVDs', () => {
    const alpha = 1.7;
    const k = Math.max(1, Math.floor(0.4 * r));
    const thetas = d.models.map((x) => mat(x, m, n));
    const mean = sum(thetas).div(3);
    let ref = mean.clone();
    for (const t of thetas) {
      const x = topK(t.clone().sub(mean), k);
      ref = ref.add(x.u.mmul(Matrix.diag(x.s)).mmul(x.v.transpose()).mul(alpha));
    }
    expectClose(run('cart', NAME, [m, n], d, { alpha, rank_fraction: 0.4 }), ref);
  });

  it('cart at full rank is the mean of the models, whatever α', () => {
    const mean = sum(d.models.map((x) => mat(x, m, n))).div(3);
    expectClose(run('cart', NAME, [m, n], d, { alpha: 5, rank_fraction: 1 }), mean);
  });

  it.each(['tsv_m', 'iso_c', 'iso_cts', 'cart'])('%s: 3 and 5 row chunks give the same bytes as one chunk; reruns too', (method) => {
    const whole = run(method, NAME, [m, n], d, {}, method === 'cart' ? undefined : perModel);
    for (const chunks of [3, 5]) expect(Buffer.from(run(method, NAME, [m, n], d, {}, method === 'cart' ? undefined : perModel, chunks).buffer).equals(Buffer.from(whole.buffer))).toBe(true);
    expect(Buffer.from(run(method, NAME, [m, n], d, {}, method === 'cart' ? undefined : perModel).buffer).equals(Buffer.from(whole.buffer))).toBe(true);
  });
});

describe('fallback for tensors that are not treated as matrices', () => {
  const n = 10;
  const d = makeData(7, n, 3);
  const cases: Array<[string, number[]]> = [
    ['model.norm.weight', [n]],
    ['model.embed_tokens.weight', [5, 2]],
    ['lm_head.weight', [2, 5]],
  ];
  it.each(cases)('%s: tsv_m, iso_c, iso_cts are task arithmetic with weights wₜ/T and λ = α', (name, shape) => {
    const ta = mergeTensorInMemory({ method: 'task_arithmetic', name, shape, base: d.base, models: d.models, global: { lambda: 0.6 }, perModel: WEIGHTS.map((w) => ({ weight: w / 3 })) });
    for (const method of ['tsv_m', 'iso_c', 'iso_cts']) expectClose(run(method, name, shape, d, { alpha: 0.6 }, perModel), ta);
  });
  it.each(cases)('%s: cart is the mean of the models', (name, shape) => {
    const avg = mergeTensorInMemory({ method: 'linear', name, shape, models: d.models, global: { normalize: true }, perModel: [{ weight: 1 }, { weight: 1 }, { weight: 1 }] });
    expectClose(run('cart', name, shape, d, { alpha: 3 }), avg);
  });
});

describe('parameter checks', () => {
  const d = makeData(9, 12, 2);
  it.each([
    ['tsv_m', { rank_fraction: 0 }, 'rank_fraction'],
    ['cart', { rank_fraction: 1.5 }, 'rank_fraction'],
    ['iso_cts', { common_space_fraction: -0.1 }, 'common_space_fraction'],
  ])('%s rejects %j with RECIPE_E_PARAM naming the parameter', (method, global, param) => {
    expect(() => run(method, NAME, [4, 3], d, global)).toThrow(new RegExp(`RECIPE_E_PARAM|${param}`));
    try {
      run(method, NAME, [4, 3], d, global);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('RECIPE_E_PARAM');
      expect((e as Error).message).toContain(param);
      expect((e as Error).message).toContain(NAME);
    }
  });
});

describe('one model', () => {
  it('tsv_m with a single model keeps its whole task vector: base + α·τ', () => {
    const d = makeData(17, 30, 1);
    const out = run('tsv_m', NAME, [6, 5], d, { alpha: 0.6 });
    expectClose(out, Array.from(d.base, (b, e) => b + 0.6 * (d.models[0]![e]! - b)));
  });
});

describe('bad input', () => {
  it.each(['tsv_m', 'iso_c', 'iso_cts', 'cart'])('%s: a NaN in a model is MERGE_E_NONFINITE naming the tensor', (method) => {
    const d = makeData(13, 12, 2);
    d.models[1]![5] = Number.NaN;
    let err: unknown;
    try {
      run(method, NAME, [4, 3], d, {});
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('MERGE_E_NONFINITE');
    expect((err as Error).message).toContain(NAME);
  });
});

describe('componentGroups (how tsv_m splits a task\'s kept triplets)', () => {
  it('splits k components into contiguous groups as evenly as possible, largest first, never more groups than components', () => {
    expect(componentGroups(5, 3)).toEqual([
      [0, 1],
      [1, 3],
      [3, 5],
    ]);
    expect(componentGroups(3, 32)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
  });
});
