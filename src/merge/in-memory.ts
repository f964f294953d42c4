// Merge one tensor held in memory (tests, and search on small models): the same method code as
// the streaming executor, run as a single chunk (or as `chunks` row chunks, to test chunking).
import { fail } from '../errors.ts';
import { tensorSeed } from '../tensor/random.ts';
import type { Chunk, TensorContext } from './method.ts';
import type { Scalar } from './parameters.ts';
import { getMethod } from './registry.ts';

export interface InMemoryTensor {
  method: string;
  name: string;
  shape: number[];
  base?: Float32Array | null;
  models: Float32Array[];
  /** Resolved global parameters; method defaults fill the rest. */
  global?: Record<string, Scalar | undefined>;
  /** Resolved parameters per model; method defaults fill the rest. */
  perModel?: Array<Record<string, Scalar | undefined>>;
  t?: number;
  seed?: number;
  /** The models' folders, where methods that need statistics look for them (else `statistics` per model). */
  modelPaths?: string[];
  /** Split into this many row chunks (default 1). */
  chunks?: number;
}

export function mergeTensorInMemory(x: InMemoryTensor): Float32Array {
  const method = getMethod(x.method);
  if (!method) throw new Error(`unknown method ${x.method}`);
  const rows = x.shape.length === 0 ? 1 : x.shape[0]!;
  const cols = rows === 0 ? 0 : x.models[0]!.length / rows;
  const defaults = (defs: typeof method.globalParams, given: Record<string, Scalar | undefined> = {}) => {
    const out: Record<string, Scalar | undefined> = {};
    for (const d of defs) out[d.name] = given[d.name] ?? d.default;
    return out;
  };
  const ctx: TensorContext = {
    name: x.name,
    shape: x.shape,
    rows,
    cols,
    t: x.t ?? 0,
    global: defaults(method.globalParams, x.global),
    perModel: x.models.map((_, i) => defaults(method.modelParams, x.perModel?.[i])),
    seed: tensorSeed(x.seed ?? 0, x.name),
    modelPaths: x.modelPaths,
  };
  const bad = method.checkParams?.(ctx);
  // Coded as on the streaming path (plan.ts): a search records such a candidate FAIL and goes on.
  if (bad) fail('RECIPE_E_PARAM', `tensor ${x.name}: ${bad}`);
  const n = x.shape.length < 2 ? 1 : Math.max(1, Math.min(x.chunks ?? 1, rows));
  const chunks: Chunk[] = [];
  for (let i = 0; i < n; i++) {
    const r0 = Math.floor((i * rows) / n);
    const r1 = Math.floor(((i + 1) * rows) / n);
    const slice = (a: Float32Array) => a.subarray(r0 * cols, r1 * cols);
    chunks.push({ index: i, rowStart: r0, rowEnd: r1, base: x.base ? slice(x.base) : null, models: x.models.map(slice), cache: new Map() });
  }
  let stats: unknown;
  const passes = method.statsPasses?.(ctx) ?? 0;
  for (let pass = 0; pass < passes; pass++) {
    stats = method.combineStats!(ctx, pass, chunks.map((c) => method.chunkStats!(ctx, pass, c, stats)), stats);
  }
  const out = new Float32Array(rows * cols);
  for (const c of chunks) out.set(method.merge(ctx, c, stats), c.rowStart * cols);
  return out;
}
