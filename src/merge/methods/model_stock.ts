import { boolParam, type Chunk, type MergeMethod, type TensorContext } from '../method.ts';

// Model Stock: move from the base toward the models' average by t = N·cosθ / (1 + (N−1)·cosθ),
// where cosθ is the mean pairwise cosine between the models' offsets from the base, over the
// whole tensor or (filter_wise) per row of the last dimension.
function pairCos(dot: number, ni: number, nj: number): number {
  return Math.min(1, Math.max(-1, dot / Math.max(Math.sqrt(ni) * Math.sqrt(nj), 1e-6)));
}

/** Sums of offset products over elements [from, to): norms² (i = j) and dots (i < j). */
function gram(chunk: Chunk, from: number, to: number): Float64Array {
  const k = chunk.models.length;
  const g = new Float64Array(k * k);
  const base = chunk.base!;
  const off = new Float64Array(k);
  for (let e = from; e < to; e++) {
    for (let i = 0; i < k; i++) off[i] = chunk.models[i]![e]! - base[e]!;
    for (let i = 0; i < k; i++) for (let j = i; j < k; j++) g[i * k + j]! += off[i]! * off[j]!;
  }
  return g;
}

function stockT(g: Float64Array, k: number): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      sum += pairCos(g[i * k + j]!, g[i * k + i]!, g[j * k + j]!);
      pairs++;
    }
  }
  const cos = sum / pairs;
  return (k * cos) / (1 + (k - 1) * cos);
}

function blend(chunk: Chunk, t: number, from: number, to: number, out: Float32Array): void {
  const k = chunk.models.length;
  const base = chunk.base!;
  for (let e = from; e < to; e++) {
    let avg = 0;
    for (let i = 0; i < k; i++) avg += chunk.models[i]![e]!;
    out[e] = (t * avg) / k + (1 - t) * base[e]!;
  }
}

function filterWise(ctx: TensorContext): boolean {
  return boolParam(ctx.global.filter_wise) && ctx.shape.length >= 2;
}

const modelStock: MergeMethod<{ t: number }> = {
  name: 'model_stock',
  description: 'Model Stock: interpolate from the base toward the average by the geometry of the offsets',
  base: 'required',
  globalParams: [{ name: 'filter_wise', kind: 'boolean', default: false, doc: 'compute the angle per row of the last dimension instead of per tensor' }],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'model_stock needs base_model' : models < 2 ? `model_stock needs at least two models besides the base, got ${models}` : undefined),
  statsPasses: (ctx) => (filterWise(ctx) ? 0 : 1),
  chunkStats: (_ctx, _pass, chunk) => gram(chunk, 0, chunk.base!.length),
  combineStats(ctx, _pass, partials) {
    const gs = partials as Float64Array[];
    const total = new Float64Array(gs[0]!.length);
    for (const g of gs) for (let i = 0; i < g.length; i++) total[i]! += g[i]!;
    return { t: stockT(total, ctx.perModel.length) };
  },
  merge(ctx, chunk, stats) {
    const n = chunk.base!.length;
    const out = new Float32Array(n);
    if (!filterWise(ctx)) {
      blend(chunk, stats!.t, 0, n, out);
      return out;
    }
    const len = ctx.shape[ctx.shape.length - 1]!;
    for (let r = 0; r < n; r += len) blend(chunk, stockT(gram(chunk, r, r + len), chunk.models.length), r, r + len, out);
    return out;
  },
};

export default modelStock;
