// The contract every merge method meets. A tensor is merged in row chunks: methods that need
// whole-tensor numbers (top-k thresholds, norms, cosines) first sweep the chunks in one or more
// statistics passes, then merge each chunk given those statistics. When a tensor fits in memory
// there is one chunk and nothing is read twice.
import type { ElementwiseCombine, ElementwiseStatistics, StatisticsResults } from './elementwise.ts';
import type { Scalar } from './parameters.ts';

export type ParamKind = 'number' | 'boolean' | 'string';

export interface ParamDef {
  name: string;
  kind: ParamKind;
  /** Omitted with required=false: the parameter is simply absent unless set. */
  default?: Scalar;
  required?: boolean;
  /** For strings: the accepted values. */
  choices?: readonly string[];
  doc: string;
}

/** What a method knows about the tensor being merged. */
export interface TensorContext {
  name: string;
  shape: number[];
  /** Rows along dim 0 (1 for a scalar); chunks are row ranges. */
  rows: number;
  /** Elements per row. */
  cols: number;
  /** Depth in [0, 1] used for gradients. */
  t: number;
  global: Record<string, Scalar | undefined>;
  /** Per input model (the base excluded), in recipe order. */
  perModel: Array<Record<string, Scalar | undefined>>;
  /** The input models as written in the recipe (for messages), when known. */
  modelRefs?: string[];
  /** The input models' resolved paths, when known (where methods look for statistics files). */
  modelPaths?: string[];
  /** Only the parameter values are being checked (a search space's bounds): no data or statistics to look for. */
  valuesOnly?: boolean;
  /** Seed for this tensor's random choices (derived from the run seed and the tensor name). */
  seed: number;
}

export interface Chunk {
  /** Position of this chunk among the tensor's chunks. */
  index: number;
  rowStart: number;
  rowEnd: number;
  /** The base model's rows, when the method uses a base. */
  base: Float32Array | null;
  /** Each input model's rows, in recipe order. */
  models: Float32Array[];
  /**
   * Each model's rows as the half-precision bytes read from its file, where the streaming executor
   * kept them in the wasm kernels' heap (F16/BF16 inputs, no LoRA patch); then `models[i]` is
   * decoded from them on first use only, and a method that needs only τ = model − base forms it
   * from these bytes in one pass (task-arithmetic-family.ts), never making the model's float32 array.
   */
  half?: Array<HalfRows | undefined>;
  /** Arrays derived from the inputs once per chunk (task vectors, masks), kept across passes. */
  cache: Map<string, unknown>;
  /**
   * A float32 array of length n whose previous contents are undefined (recycled between chunks by
   * the streaming executor): only for arrays the method fills completely.
   */
  alloc?: (n: number) => Float32Array;
}

/** A model's rows as raw half-precision bytes (little-endian, as in the file). */
export interface HalfRows {
  bytes: Uint8Array;
  dtype: 'F16' | 'BF16';
}

export function allocF32(chunk: Chunk, n: number): Float32Array {
  return chunk.alloc ? chunk.alloc(n) : new Float32Array(n);
}

export type BaseUse = 'required' | 'optional' | 'unused';

export interface MergeMethod<S = unknown> {
  name: string;
  description: string;
  /** Whether `base_model` is an input of its own (apart from the models being merged). */
  base: BaseUse;
  globalParams: ParamDef[];
  modelParams: ParamDef[];
  /**
   * Where a search starts a parameter when the space gives no init (default: `weight` at 1/N, the
   * task-arithmetic convention; others at their defaults). Methods whose weights scale each model's
   * part rather than share a sum (tsv_m, iso_c, regmean, fisher) start `weight` at 1.
   */
  searchInit?: Record<string, number>;
  /** Why this number of models cannot be merged, or undefined when it can. */
  checkModels?(models: number, hasBase: boolean): string | undefined;
  /** Why these resolved parameter values are invalid for this tensor, or undefined. */
  checkParams?(ctx: TensorContext): string | undefined;
  /** Number of statistics passes over the chunks before merging (0 or absent: none). */
  statsPasses?(ctx: TensorContext): number;
  /** Partial statistics of one chunk for pass `pass`; plain data (it crosses threads). */
  chunkStats?(ctx: TensorContext, pass: number, chunk: Chunk, stats: S | undefined): unknown;
  /** Combine the chunks' partials (in chunk order) into the statistics for the next pass. */
  combineStats?(ctx: TensorContext, pass: number, partials: unknown[], stats: S | undefined): S;
  /** The part of the statistics one chunk needs, when much smaller than the whole (sent per task). */
  statsForChunk?(ctx: TensorContext, stats: S, rowStart: number, rowEnd: number): S;
  /** Merged rows of one chunk. */
  merge(ctx: TensorContext, chunk: Chunk, stats: S | undefined): Float32Array;
  /**
   * When merge() is exactly weightedSum(chunk.models, weights) (no base, no statistics): those
   * weights. The streaming executor may then go from half-precision input bytes to half-precision
   * output bytes in one fused wasm pass, with the same bits as merge() plus encoding.
   */
  plainWeightedSum?(ctx: TensorContext): number[];
  /**
   * Whether the streaming executor may hand this method half-precision models undecoded
   * (Chunk.half, models decoded on first use of chunk.models[i]). Only for methods that take each
   * model's array from chunk.models once per call (never per element: a lazily decoded entry is
   * an accessor, far slower to read in a loop) and mostly need only τ.
   */
  halfInputs?: boolean;
  /**
   * merge() as a per-element description (elementwise.ts), for executors that run it elsewhere
   * (the GPU kernels); a string says why these parameters have none. Absent: the method has none.
   */
  elementwise?(ctx: TensorContext, stats: S | undefined): ElementwiseCombine | string;
  /**
   * The statistics passes as a description (elementwise.ts), for executors that compute them
   * elsewhere (the GPU); a string says why these parameters have none. With statsFromResults,
   * which turns the computed numbers into the statistics merge() and elementwise() take.
   */
  statisticsPlan?(ctx: TensorContext): ElementwiseStatistics | string;
  statsFromResults?(ctx: TensorContext, results: StatisticsResults): S;
}

export function numberParam(v: Scalar | undefined, name: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new Error(`parameter ${name} is ${JSON.stringify(v)}, not a number`);
}

export function boolParam(v: Scalar | undefined): boolean {
  if (typeof v === 'string') return v !== '' && v.toLowerCase() !== 'false';
  return Boolean(v);
}

/** Cached per-chunk derived array. */
export function cached<T>(chunk: Chunk, key: string, make: () => T): T {
  let v = chunk.cache.get(key) as T | undefined;
  if (v === undefined) {
    v = make();
    chunk.cache.set(key, v);
  }
  return v;
}

/** Every model's task vector (model − base, float32) over the chunk, formed once per chunk. */
export function taskVectors(chunk: Chunk): Float32Array[] {
  return cached(chunk, 'task-vectors', () => {
    const base = chunk.base!;
    return chunk.models.map((m) => {
      const d = new Float32Array(base.length);
      for (let e = 0; e < d.length; e++) d[e] = m[e]! - base[e]!;
      return d;
    });
  });
}
