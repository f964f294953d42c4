// The streaming shape shared by the SVD-family methods (tsv_m, iso_c, iso_cts, cart).
//
// A 2-D weight is merged in three steps on the executor's row-chunk contract:
// 1. statistics passes each gather one dense matrix of the tensor (a task vector, their sum, a
//    centred task vector: the method says which) from the row chunks, and the main thread
//    decomposes it and keeps only the factors it needs (`absorb`). One matrix is gathered at a
//    time, so the working set is one tensor in float64 plus the kept factors, whatever the number
//    of models;
// 2. after the last pass the method turns the factors into a low-rank update L·R (`finish`): L is
//    rows×K, R is K×cols, α already folded into L;
// 3. each chunk is merged as centre + L[chunk rows]·R, where the centre is the base (or the mean
//    of the models, for CART). R is allocated on a SharedArrayBuffer, so sending it to the worker
//    threads with every chunk shares it instead of copying it; each chunk gets only its rows of L.
//    L and R are stored as float32 (the product is accumulated in float64 per row): each of the K
//    terms carries ~1e-7 relative rounding, below what a float16/bfloat16 output keeps.
//    When K·(rows + cols) ≥ rows·cols (the low-rank form is no smaller than the matrix: TSV-M's
//    full rank budget, Iso-C's polar factor), the update L·R is formed once in float64 on the
//    main thread instead (dense.ts's wasm product, rows·K·cols multiply-adds at several times the
//    per-row loop's speed), stored as float32 on a SharedArrayBuffer, and each chunk adds its rows.
// Tensors that are not 2-D, and token embeddings / LM heads (vocabulary-sized lookup tables rather
// than linear maps between feature spaces; also the largest matrices by far), fall back to the
// method's `fallback` rule (stated in each method's header).
import { fail } from '../errors.ts';
import { mulAB } from '../tensor/dense.ts';
import { allocF32, numberParam, type Chunk, type MergeMethod, type ParamDef, type TensorContext } from './method.ts';

const VOCAB_RE = /(?:^|\.)(?:embed_tokens|wte|word_embeddings|lm_head|embed_out)\.weight$/;

/** Whether the SVD-family treats this tensor as a matrix (otherwise the fallback rule applies). */
export function isSvdMatrix(ctx: Pick<TensorContext, 'name' | 'shape'>): boolean {
  return ctx.shape.length === 2 && ctx.shape[0]! > 1 && ctx.shape[1]! > 1 && !VOCAB_RE.test(ctx.name);
}

/** The final low-rank update: merged rows = centre rows + l[rows]·rt. */
export interface LowRank {
  /** rows×kk, row-major (α folded in). */
  l: Float64Array;
  /** kk×cols, row-major. */
  rt: Float64Array;
  kk: number;
}

interface FamilyStats<A> {
  /** What `absorb` kept so far (arrays on SharedArrayBuffers, so re-sending them is cheap). */
  acc?: A;
  /** Set after the last pass: the update, L sliced to a chunk's rows by statsForChunk. */
  l?: Float32Array;
  rt?: Float32Array;
  kk?: number;
  rowOffset?: number;
  /** Set instead of l/rt when the low-rank form is no smaller than the matrix: the whole update, rows×cols. */
  dense?: Float32Array;
}

export interface SvdFamilySpec<A> {
  name: string;
  description: string;
  base: 'required' | 'unused';
  globalParams: ParamDef[];
  modelParams: ParamDef[];
  searchInit?: Record<string, number>;
  checkModels?(models: number, hasBase: boolean): string | undefined;
  checkParams?(ctx: TensorContext): string | undefined;
  /** Gather passes for a 2-D tensor. */
  passes(ctx: TensorContext): number;
  /** The rows of this chunk of the matrix gathered in `pass` (float32, rows×cols of the chunk). */
  gather(ctx: TensorContext, pass: number, chunk: Chunk): Float32Array;
  /** Decompose the gathered matrix (row-major rows×cols, float64) and keep what is needed. */
  absorb(ctx: TensorContext, pass: number, matrix: Float64Array, acc: A | undefined): A;
  finish(ctx: TensorContext, acc: A): LowRank;
  /** The rows the update is added to. */
  centre(ctx: TensorContext, chunk: Chunk, out: Float32Array): void;
  /** Merged rows of a tensor the family does not treat as a matrix. */
  fallback(ctx: TensorContext, chunk: Chunk, out: Float32Array): void;
}

export function svdFamily<A>(spec: SvdFamilySpec<A>): MergeMethod<FamilyStats<A>> {
  return {
    name: spec.name,
    description: spec.description,
    base: spec.base,
    globalParams: spec.globalParams,
    modelParams: spec.modelParams,
    searchInit: spec.searchInit,
    checkModels: spec.checkModels,
    checkParams: spec.checkParams,
    statsPasses: (ctx) => (isSvdMatrix(ctx) ? spec.passes(ctx) : 0),
    chunkStats: (ctx, pass, chunk) => spec.gather(ctx, pass, chunk),
    combineStats(ctx, pass, partials, stats) {
      const matrix = new Float64Array(ctx.rows * ctx.cols);
      let at = 0;
      for (const p of partials as Float32Array[]) {
        matrix.set(p, at);
        at += p.length;
      }
      // A NaN or Inf would poison the whole decomposition (and can stall the eigensolver): refuse it
      // here, naming the tensor, rather than after the merge.
      for (let e = 0; e < matrix.length; e++) {
        if (!Number.isFinite(matrix[e]!)) {
          fail('MERGE_E_NONFINITE', `tensor ${ctx.name}: ${spec.name} found NaN/Inf in the inputs (element ${e} of the matrix of pass ${pass + 1}); check the models for NaN/Inf values`);
        }
      }
      const acc = spec.absorb(ctx, pass, matrix, stats?.acc);
      if (pass < spec.passes(ctx) - 1) return { acc: shareDeep(acc) };
      const { l, rt, kk } = spec.finish(ctx, acc);
      // A rank as large as the matrix (TSV-M's full rank budget, Iso-C's polar factor): forming the
      // update once here on the fast float64 product beats every chunk multiplying L·R row by row.
      if (kk * (ctx.rows + ctx.cols) >= ctx.rows * ctx.cols) return { dense: sharedF32(mulAB(l, rt, ctx.rows, kk, ctx.cols)), rowOffset: 0 };
      return { l: Float32Array.from(l), rt: sharedF32(rt), kk };
    },
    statsForChunk(ctx, stats, rowStart, rowEnd) {
      if (stats.dense) return { dense: stats.dense.subarray((rowStart - (stats.rowOffset ?? 0)) * ctx.cols, (rowEnd - (stats.rowOffset ?? 0)) * ctx.cols), rowOffset: rowStart };
      if (stats.kk === undefined) return stats;
      return { l: stats.l!.slice(rowStart * stats.kk, rowEnd * stats.kk), rt: stats.rt, kk: stats.kk, rowOffset: rowStart };
    },
    merge(ctx, chunk, stats) {
      const out = allocF32(chunk, chunk.models[0]!.length);
      if (!isSvdMatrix(ctx)) {
        spec.fallback(ctx, chunk, out);
        return out;
      }
      spec.centre(ctx, chunk, out);
      if (stats!.dense) addDense(out, stats!, chunk.rowStart, chunk.rowEnd, ctx.cols);
      else addLowRank(out, stats!, chunk.rowStart, chunk.rowEnd, ctx.cols);
      return out;
    },
  };
}

/** out[rows] += L[rows]·R, accumulated in float64 per row. */
function addLowRank(out: Float32Array, st: FamilyStats<unknown>, rowStart: number, rowEnd: number, cols: number): void {
  const kk = st.kk!;
  const l = st.l!;
  const rt = st.rt!;
  const first = rowStart - (st.rowOffset ?? 0);
  const row = new Float64Array(cols);
  for (let r = 0; r < rowEnd - rowStart; r++) {
    row.fill(0);
    const lr = (first + r) * kk;
    for (let j = 0; j < kk; j++) {
      const c = l[lr + j]!;
      if (c === 0) continue;
      const b = j * cols;
      for (let e = 0; e < cols; e++) row[e]! += c * rt[b + e]!;
    }
    const o = r * cols;
    for (let e = 0; e < cols; e++) out[o + e] = out[o + e]! + row[e]!;
  }
}

/** out[rows] += the dense update's rows. */
function addDense(out: Float32Array, st: FamilyStats<unknown>, rowStart: number, rowEnd: number, cols: number): void {
  const d = st.dense!;
  const at = (rowStart - (st.rowOffset ?? 0)) * cols;
  const len = (rowEnd - rowStart) * cols;
  for (let e = 0; e < len; e++) out[e] = out[e]! + d[at + e]!;
}

function sharedF32(x: Float64Array): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(x.length * 4));
  for (let i = 0; i < x.length; i++) out[i] = x[i]!;
  return out;
}

/** A copy of the value with every Float64Array moved onto a SharedArrayBuffer. */
function shareDeep<T>(v: T): T {
  if (v instanceof Float64Array) {
    if (v.buffer instanceof SharedArrayBuffer) return v;
    const out = new Float64Array(new SharedArrayBuffer(v.byteLength));
    out.set(v);
    return out as T;
  }
  if (Array.isArray(v)) return v.map(shareDeep) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shareDeep(x)])) as T;
  return v;
}

// ---------------------------------------------------------------------------------------------
// helpers the methods share

export const ALPHA_DOC = 'scale of the merged update (α): merged = centre + α · update';

export function alphaOf(ctx: TensorContext): number {
  return numberParam(ctx.global.alpha ?? 1, 'alpha');
}

export function weightOf(ctx: TensorContext, t: number): number {
  return numberParam(ctx.perModel[t]?.weight ?? 1, 'weight');
}

/** weight_t · (model_t − base) for this chunk. */
export function weightedDelta(ctx: TensorContext, chunk: Chunk, t: number): Float32Array {
  const x = chunk.models[t]!;
  const b = chunk.base!;
  const w = weightOf(ctx, t);
  const out = new Float32Array(x.length);
  for (let e = 0; e < x.length; e++) out[e] = w * (x[e]! - b[e]!);
  return out;
}

/** Σₜ weightₜ · (modelₜ − base) for this chunk (what iso_c and iso_cts decompose). */
export function weightedSum(ctx: TensorContext, chunk: Chunk): Float32Array {
  const b = chunk.base!;
  const out = new Float32Array(b.length);
  const w = ctx.perModel.map((_, t) => weightOf(ctx, t));
  for (let e = 0; e < b.length; e++) {
    let acc = 0;
    for (let t = 0; t < w.length; t++) acc += w[t]! * (chunk.models[t]![e]! - b[e]!);
    out[e] = acc;
  }
  return out;
}

/** Fallback shared by tsv_m, iso_c and iso_cts: base + α · mean_t(weight_t · τ_t). */
export function meanTaskVectorFallback(ctx: TensorContext, chunk: Chunk, out: Float32Array): void {
  const b = chunk.base!;
  const k = chunk.models.length;
  const coef = ctx.perModel.map((_, t) => (alphaOf(ctx) * weightOf(ctx, t)) / k);
  for (let e = 0; e < b.length; e++) {
    let acc = 0;
    for (let t = 0; t < k; t++) acc += coef[t]! * (chunk.models[t]![e]! - b[e]!);
    out[e] = b[e]! + acc;
  }
}

export function copyBase(_ctx: TensorContext, chunk: Chunk, out: Float32Array): void {
  out.set(chunk.base!);
}

/** Row-major rows×kk matrix L with L[i][j] = scale[j] · basis_j[i], from a vector-major basis. */
export function columnsTimes(basisT: Float64Array, kk: number, rows: number, scale: ArrayLike<number>): Float64Array {
  const l = new Float64Array(rows * kk);
  for (let j = 0; j < kk; j++) {
    const f = scale[j]!;
    for (let i = 0; i < rows; i++) l[i * kk + j] = f * basisT[j * rows + i]!;
  }
  return l;
}

export function checkFraction(ctx: TensorContext, name: string, lowOpen = true): string | undefined {
  const v = ctx.global[name];
  if (typeof v !== 'number') return undefined;
  const ok = (lowOpen ? v > 0 : v >= 0) && v <= 1;
  return ok ? undefined : `${name} is ${v}; it must be in ${lowOpen ? '(0, 1]' : '[0, 1]'}`;
}
