// Independent float64 reference implementations of the merge methods, written from the
// mathematical definitions (mergekit semantics) with plain loops and full sorts. Nothing here is
// shared with src/merge except the counter-based random stream (uniformAt / maskKey / tensorSeed),
// which the random masks must reproduce exactly.
import { tensorSeed, uniformAt } from '../../src/tensor/random.ts';
import { maskKey } from '../../src/merge/sparsify.ts';

export type RefScalar = number | boolean | string;
export type RefParams = Record<string, RefScalar | undefined>;

export interface RefTensor {
  name: string;
  shape: number[];
  base: Float64Array | null;
  /** The models being merged (the base excluded). */
  models: Float64Array[];
  global?: RefParams;
  perModel?: RefParams[];
  /** Layer position in [0, 1] (LiNeS). */
  t?: number;
  /** Run seed (the tensor's seed is tensorSeed(seed, name)). */
  seed?: number;
}

// ---------------------------------------------------------------------------------------------
// small helpers

function num(v: RefScalar | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`not a number: ${v}`);
  return n;
}

function bool(v: RefScalar | undefined, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v === 'string') return v !== '' && v.toLowerCase() !== 'false';
  return Boolean(v);
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function sub(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!;
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function norm2(a: Float64Array): number {
  return Math.sqrt(dot(a, a));
}

/** Indices ordered by value descending; equal values keep the lower index first. */
function orderDescending(values: Float64Array): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => (values[b]! - values[a]!) || a - b);
  return idx;
}

/** Indices ordered by value ascending; equal values keep the lower index first. */
function orderAscending(values: Float64Array): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => (values[a]! - values[b]!) || a - b);
  return idx;
}

function absOf(a: Float64Array): Float64Array {
  return a.map((v) => Math.abs(v));
}

/**
 * Split a flat tensor into vectors. `groups[k]` lists the flat indices of vector k, so the same
 * grouping serves gathering and scattering.
 */
type Groups = number[][];

function wholeTensor(n: number): Groups {
  return [Array.from({ length: n }, (_, i) => i)];
}

/** Contiguous rows of the last dimension. */
function lastDimRows(shape: number[]): Groups {
  const n = numel(shape);
  const len = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  const groups: Groups = [];
  for (let start = 0; start < n; start += len) groups.push(Array.from({ length: len }, (_, i) => start + i));
  return groups;
}

/** Columns of a 2-D tensor [rows, cols]: vector j holds x[0][j], x[1][j], .... */
function columns2d(shape: number[]): Groups {
  const [rows, cols] = shape as [number, number];
  const groups: Groups = [];
  for (let j = 0; j < cols; j++) groups.push(Array.from({ length: rows }, (_, r) => r * cols + j));
  return groups;
}

function gather(x: Float64Array, g: number[]): Float64Array {
  return Float64Array.from(g, (i) => x[i]!);
}

// ---------------------------------------------------------------------------------------------
// linear, passthrough

export function refLinear(x: RefTensor): Float64Array {
  const normalize = bool(x.global?.normalize, true);
  const w = x.models.map((_, i) => num(x.perModel?.[i]?.weight, NaN));
  const n = x.models[0]!.length;
  const out = new Float64Array(n);
  const wsum = w.reduce((a, b) => a + b, 0);
  for (let e = 0; e < n; e++) {
    let s = 0;
    for (let i = 0; i < x.models.length; i++) s += w[i]! * x.models[i]![e]!;
    out[e] = normalize ? s / wsum : s;
  }
  return out;
}

export function refPassthrough(x: RefTensor): Float64Array {
  const scale = x.perModel?.[0]?.scale;
  const s = scale === undefined ? 1 : num(scale, 1);
  return x.models[0]!.map((v) => v * s);
}

// ---------------------------------------------------------------------------------------------
// task-arithmetic family: sparsify, weight, (sign consensus), sum, (normalize), scale, add to base

type Sparsifier = 'magnitude' | 'random' | 'magnitude_outliers' | 'della_magprune';

interface FamilySpec {
  consensus: boolean;
  sparsify: Sparsifier | null;
  normalize: boolean;
  rescale: boolean;
}

export const FAMILY: Record<string, FamilySpec> = {
  task_arithmetic: { consensus: false, sparsify: null, normalize: false, rescale: false },
  ties: { consensus: true, sparsify: 'magnitude', normalize: true, rescale: false },
  dare_linear: { consensus: false, sparsify: 'random', normalize: false, rescale: true },
  dare_ties: { consensus: true, sparsify: 'random', normalize: false, rescale: true },
  breadcrumbs: { consensus: false, sparsify: 'magnitude_outliers', normalize: false, rescale: false },
  breadcrumbs_ties: { consensus: true, sparsify: 'magnitude_outliers', normalize: false, rescale: false },
  della: { consensus: true, sparsify: 'della_magprune', normalize: true, rescale: true },
  della_linear: { consensus: false, sparsify: 'della_magprune', normalize: false, rescale: true },
};

type Rescale = 'none' | 'l1' | 'l2' | 'linf' | 'inverse_density';

function rescaleKind(v: RefScalar | undefined, fallback: boolean): Rescale {
  if (v === undefined) return fallback ? 'l1' : 'none';
  if (v === true || v === 'true' || v === 1) return 'l1';
  if (v === false || v === 'false' || v === 0) return 'none';
  if (v === 'l1' || v === 'l2' || v === 'linf' || v === 'inverse_density') return v;
  throw new Error(`bad rescale ${String(v)}`);
}

/** magnitude (TIES): the floor(d·n) largest |τ| over the whole tensor; ties keep lower index. */
export function magnitudeMask(tau: Float64Array, density: number): Uint8Array {
  const n = tau.length;
  const mask = new Uint8Array(n);
  if (density >= 1) return mask.fill(1);
  const k = Math.floor(density * n);
  const order = orderDescending(absOf(tau));
  for (let r = 0; r < k; r++) mask[order[r]!] = 1;
  return mask;
}

/** DARE: entry e of model i kept iff its uniform draw is below the density. */
export function randomMask(n: number, density: number, tensorKey: number, model: number): Uint8Array {
  const mask = new Uint8Array(n);
  if (density >= 1) return mask.fill(1);
  const key = maskKey(tensorKey, model);
  for (let e = 0; e < n; e++) mask[e] = uniformAt(key, e) < density ? 1 : 0;
  return mask;
}

/** Breadcrumbs: drop the nTop largest and the nBot smallest |τ|. */
export function outlierMask(tau: Float64Array, density: number, gamma: number): Uint8Array {
  const n = tau.length;
  const mask = new Uint8Array(n);
  if (density >= 1) return mask.fill(1);
  const target = Math.floor(density * n);
  let nTop = Math.floor(gamma * n);
  let nBot = n - target - nTop;
  if (nBot < 0) {
    nTop += nBot;
    nBot = 0;
  }
  const order = orderDescending(absOf(tau));
  for (let r = nTop; r < n - nBot; r++) mask[order[r]!] = 1;
  return mask;
}

/** DELLA MagPrune: per row, keep probability rises linearly with the magnitude rank. */
export function dellaMask(tau: Float64Array, shape: number[], density: number, epsilon: number, tensorKey: number, model: number): Uint8Array {
  const n = tau.length;
  const mask = new Uint8Array(n);
  if (density >= 1) return mask.fill(1);
  const key = maskKey(tensorKey, model);
  const rows = shape.length < 2 ? 1 : shape[0]!;
  const len = n / rows;
  for (let r = 0; r < rows; r++) {
    const row = tau.subarray(r * len, (r + 1) * len);
    const order = orderAscending(absOf(row));
    for (let rank = 0; rank < len; rank++) {
      const local = order[rank]!;
      // A row of one element has no rank spread; it sits at the midpoint (p = density).
      const p = density - epsilon + (len > 1 ? rank / (len - 1) : 0.5) * 2 * epsilon;
      const flat = r * len + local;
      mask[flat] = uniformAt(key, flat) < p ? 1 : 0;
    }
  }
  return mask;
}

function normOf(kind: Rescale, v: Float64Array): number {
  if (kind === 'l2') return norm2(v);
  if (kind === 'linf') return v.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
  return v.reduce((s, a) => s + Math.abs(a), 0);
}

/** τ' = mask·τ, times the rescale factor. */
export function sparsifyRef(tau: Float64Array, mask: Uint8Array, kind: Rescale, density: number): Float64Array {
  const kept = tau.map((v, e) => (mask[e] ? v : 0));
  if (density >= 1 || kind === 'none') return kept;
  let factor = 1;
  if (kind === 'inverse_density') factor = density > 0 ? 1 / density : 1;
  else {
    const before = normOf(kind, tau);
    const after = normOf(kind, kept);
    if (before >= 1e-7 && after >= 1e-7) factor = before / after;
  }
  return kept.map((v) => v * factor);
}

export function refTaskFamily(method: string, x: RefTensor): Float64Array {
  const spec = FAMILY[method];
  if (!spec) throw new Error(`not a task-arithmetic method: ${method}`);
  const base = x.base!;
  const n = base.length;
  const g = x.global ?? {};
  const normalize = bool(g.normalize, spec.normalize);
  const lambda = num(g.lambda, 1);
  const lines = num(g.lines_alpha, 1) + num(g.lines_beta, 0) * (x.t ?? 0);
  const rescale = rescaleKind(g.rescale, spec.rescale);
  const tensorKey = tensorSeed(x.seed ?? 0, x.name);

  const weights: number[] = [];
  const v: Float64Array[] = [];
  x.models.forEach((model, i) => {
    const p = x.perModel?.[i] ?? {};
    const w = num(p.weight, NaN);
    const density = num(p.density, 1);
    const tau = sub(model, base);
    let tp = tau;
    if (spec.sparsify) {
      let mask: Uint8Array;
      if (spec.sparsify === 'magnitude') mask = magnitudeMask(tau, density);
      else if (spec.sparsify === 'random') mask = randomMask(n, density, tensorKey, i);
      else if (spec.sparsify === 'magnitude_outliers') mask = outlierMask(tau, density, num(p.gamma, 0.01));
      else mask = dellaMask(tau, x.shape, density, num(p.epsilon, 0.15), tensorKey, i);
      tp = sparsifyRef(tau, mask, rescale, density);
    }
    weights.push(w);
    v.push(tp.map((a) => a * w));
  });

  const out = new Float64Array(n);
  for (let e = 0; e < n; e++) {
    let mixed = 0;
    let divisor = 0;
    if (spec.consensus) {
      let total = 0;
      for (const vi of v) total += vi[e]!;
      const elected = total >= 0 ? 1 : -1;
      for (let i = 0; i < v.length; i++) {
        const a = v[i]![e]!;
        if (a !== 0 && Math.sign(a) === elected) {
          mixed += a;
          divisor += weights[i]!;
        }
      }
      if (divisor === 0) divisor = 1;
    } else {
      for (const vi of v) mixed += vi[e]!;
      divisor = weights.reduce((a, b) => a + b, 0);
      if (Math.abs(divisor) < 1e-8) divisor = 1;
    }
    if (normalize) mixed /= divisor;
    out[e] = base[e]! + lambda * lines * mixed;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// slerp, nuslerp

export function refSlerp(x: RefTensor): Float64Array {
  const t = num(x.global?.t, NaN);
  const v0 = x.base!;
  const v1 = x.models[0]!;
  const n0 = norm2(v0);
  const n1 = norm2(v1);
  const cos = dot(v0, v1) / ((n0 > 1e-8 ? n0 : 1) * (n1 > 1e-8 ? n1 : 1));
  if (Math.abs(cos) > 0.9995) return v0.map((a, e) => (1 - t) * a + t * v1[e]!);
  const theta = Math.acos(cos);
  const s = Math.sin(theta);
  const c0 = Math.sin((1 - t) * theta) / s;
  const c1 = Math.sin(t * theta) / s;
  return v0.map((a, e) => c0 * a + c1 * v1[e]!);
}

/** nuslerp's interpolation of one pair of vectors. */
export function nuslerpPair(t: number, a: Float64Array, b: Float64Array): Float64Array {
  const na = Math.max(norm2(a), 1e-7);
  const nb = Math.max(norm2(b), 1e-7);
  const cos = Math.min(1, Math.max(-1, dot(a, b) / (na * nb)));
  const theta = Math.acos(cos);
  const s = Math.sin(theta);
  if (Math.abs(s) < 1e-8) return a.map((v, e) => (1 - t) * v + t * b[e]!);
  const c0 = Math.sin((1 - t) * theta);
  const c1 = Math.sin(t * theta);
  return a.map((v, e) => (c0 * v + c1 * b[e]!) / s);
}

export function refNuslerp(x: RefTensor): Float64Array {
  const g = x.global ?? {};
  const flatten = bool(g.nuslerp_flatten, true);
  const rowWise = bool(g.nuslerp_row_wise, false);
  const w0 = num(x.perModel?.[0]?.weight, NaN);
  const w1 = num(x.perModel?.[1]?.weight, NaN);
  const t = Math.abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
  const [a, b] = x.base ? [sub(x.models[0]!, x.base), sub(x.models[1]!, x.base)] : [x.models[0]!, x.models[1]!];
  const n = a.length;
  const groups = flatten ? wholeTensor(n) : rowWise ? columns2d(x.shape) : lastDimRows(x.shape);
  const out = new Float64Array(n);
  for (const gr of groups) {
    const r = nuslerpPair(t, gather(a, gr), gather(b, gr));
    gr.forEach((flat, k) => (out[flat] = r[k]! + (x.base ? x.base[flat]! : 0)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// model_stock

export function refModelStock(x: RefTensor): Float64Array {
  const base = x.base!;
  const n = base.length;
  const filterWise = bool(x.global?.filter_wise, false);
  const groups = filterWise ? lastDimRows(x.shape) : wholeTensor(n);
  const N = x.models.length;
  const out = new Float64Array(n);
  for (const gr of groups) {
    const b = gather(base, gr);
    const xs = x.models.map((m) => gather(m, gr));
    const offsets = xs.map((m) => sub(m, b));
    let cosSum = 0;
    let pairs = 0;
    for (let i = 0; i < N; i++) {
      for (let j = i + 1; j < N; j++) {
        const c = dot(offsets[i]!, offsets[j]!) / Math.max(norm2(offsets[i]!) * norm2(offsets[j]!), 1e-6);
        cosSum += Math.min(1, Math.max(-1, c));
        pairs++;
      }
    }
    const cos = cosSum / pairs;
    const t = (N * cos) / (1 + (N - 1) * cos);
    gr.forEach((flat, k) => {
      let mean = 0;
      for (const m of xs) mean += m[k]!;
      mean /= N;
      out[flat] = t * mean + (1 - t) * b[k]!;
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// widen

function softmaxOverModels(scores: Float64Array[]): Float64Array[] {
  const M = scores.length;
  const n = scores[0]!.length;
  const out = scores.map(() => new Float64Array(n));
  for (let j = 0; j < n; j++) {
    let mx = -Infinity;
    for (let m = 0; m < M; m++) mx = Math.max(mx, scores[m]![j]!);
    let z = 0;
    for (let m = 0; m < M; m++) z += Math.exp(scores[m]![j]! - mx);
    for (let m = 0; m < M; m++) out[m]![j] = Math.exp(scores[m]![j]! - mx) / z;
  }
  return out;
}

/** Softmax over models, then entries above t × the model's mean score are set to s. */
function widenImportance(scores: Float64Array[], t: number, s: number): Float64Array[] {
  const imp = softmaxOverModels(scores);
  scores.forEach((sc, m) => {
    const mean = sc.reduce((a, b) => a + b, 0) / sc.length;
    sc.forEach((v, j) => {
      if (v > t * mean) imp[m]![j] = s;
    });
  });
  return imp;
}

/** rank r (position in a stable ascending sort) → r / n. */
function rankScores(values: Float64Array): Float64Array {
  const order = orderAscending(values);
  const out = new Float64Array(values.length);
  order.forEach((idx, r) => (out[idx] = r / values.length));
  return out;
}

export function refWiden(x: RefTensor): Float64Array {
  const base = x.base!;
  const n = base.length;
  const t = num(x.global?.t, 1);
  const s = num(x.global?.s, 1);
  const out = Float64Array.from(base);
  if (x.shape.length === 2) {
    const byRow = x.name.endsWith('embed_tokens.weight');
    const groups = byRow ? lastDimRows(x.shape) : columns2d(x.shape);
    const baseCols = groups.map((g) => gather(base, g));
    const magRanks: Float64Array[] = [];
    const dirRanks: Float64Array[] = [];
    for (const model of x.models) {
      const mag = new Float64Array(groups.length);
      const dir = new Float64Array(groups.length);
      groups.forEach((g, j) => {
        const c = gather(model, g);
        const b = baseCols[j]!;
        const nc = norm2(c);
        const nb = norm2(b);
        mag[j] = Math.abs(nc - nb);
        dir[j] = 1 - dot(c, b) / (nc * nb);
      });
      magRanks.push(rankScores(mag));
      dirRanks.push(rankScores(dir));
    }
    const magImp = widenImportance(magRanks, t, s);
    const dirImp = widenImportance(dirRanks, t, s);
    x.models.forEach((model, m) => {
      groups.forEach((g, j) => {
        const w = 0.5 * (magImp[m]![j]! + dirImp[m]![j]!);
        for (const flat of g) out[flat]! += w * (model[flat]! - base[flat]!);
      });
    });
    return out;
  }
  const deltas = x.models.map((m) => sub(m, base));
  const imp = widenImportance(deltas.map(absOf), t, s);
  for (let e = 0; e < n; e++) {
    for (let m = 0; m < deltas.length; m++) out[e]! += imp[m]![e]! * deltas[m]![e]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

export function refMerge(method: string, x: RefTensor): Float64Array {
  if (method in FAMILY) return refTaskFamily(method, x);
  switch (method) {
    case 'linear':
      return refLinear(x);
    case 'passthrough':
      return refPassthrough(x);
    case 'slerp':
      return refSlerp(x);
    case 'nuslerp':
      return refNuslerp(x);
    case 'model_stock':
      return refModelStock(x);
    case 'widen':
      return refWiden(x);
    default:
      throw new Error(`no reference for ${method}`);
  }
}
