import { type Svd, svdTopK } from '../../tensor/svd.ts';
import { ALPHA_DOC, alphaOf, checkFraction, columnsTimes, svdFamily } from '../svd-family.ts';
import type { Chunk, TensorContext } from '../method.ts';

// CART, centred arithmetic with low-rank reduction ("Revisiting Weight Averaging for Model
// Merging", Choi et al. 2024; the AdaRank repository's `CART` static merge, which the paper's
// authors wrote).
//
// Per 2-D weight (r = min(rows, cols), T models, θ̄ = their mean):
//   merged = θ̄ + α · Σₜ SVD_k(θₜ − θ̄),  k = max(1, ⌊rank_fraction · r⌋) per model,
// where SVD_k keeps the top k singular triplets. The centred matrices sum to zero, so at full rank
// the result is θ̄ whatever α: weight averaging is the full-rank end, and the low-rank cut is what
// keeps each model's dominant directions while dropping the interfering rest.
// The base model is not an input: θ̄ = base + mean(τₜ) is the mean of the models themselves.
// Defaults: rank_fraction 0.16 and α = 2.3, the values of the AdaRank repository's CART
// configuration for ViT-B/32 on eight tasks (adarank_B_T8/adarank_CART.yaml: initial_rank_ratio,
// prior); tune α on validation data for other families.
// Other tensors (not 2-D, token embeddings, LM heads): θ̄, the mean of the models (the centred
// vectors there sum to zero, as in the reference) — task arithmetic from the mean with no update.
// Numerics: float64 decompositions (src/tensor/svd.ts), randomized top-k seeded from the tensor.

function rankPerModel(ctx: TensorContext): number {
  const frac = typeof ctx.global.rank_fraction === 'number' ? ctx.global.rank_fraction : 0.16;
  return Math.max(1, Math.floor(frac * Math.min(ctx.rows, ctx.cols)));
}

function mean(_ctx: TensorContext, chunk: Chunk, out: Float32Array): void {
  const k = chunk.models.length;
  for (let e = 0; e < out.length; e++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += chunk.models[t]![e]!;
    out[e] = s / k;
  }
}

/** θₜ − θ̄ for this chunk. */
function centred(chunk: Chunk, t: number): Float32Array {
  const out = new Float32Array(chunk.models[0]!.length);
  const k = chunk.models.length;
  for (let e = 0; e < out.length; e++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += chunk.models[j]![e]!;
    out[e] = chunk.models[t]![e]! - s / k;
  }
  return out;
}

export default svdFamily<{ tasks: Svd[] }>({
  name: 'cart',
  description: 'CART: the mean of the models plus the low-rank parts of each model\'s offset from that mean (per 2-D weight)',
  base: 'unused',
  globalParams: [
    { name: 'alpha', kind: 'number', default: 2.3, doc: ALPHA_DOC + ' (here the centre is the mean of the models)' },
    { name: 'rank_fraction', kind: 'number', default: 0.16, doc: 'fraction of min(rows, cols) kept as singular triplets of each model\'s offset from the mean' },
  ],
  modelParams: [],
  checkModels: (models) => (models < 1 ? 'cart needs at least one model' : undefined),
  checkParams: (ctx) => checkFraction(ctx, 'rank_fraction'),
  passes: (ctx) => ctx.perModel.length,
  gather: (_ctx, pass, chunk) => centred(chunk, pass),
  absorb(ctx, pass, matrix, acc) {
    const svd = svdTopK(matrix, ctx.rows, ctx.cols, rankPerModel(ctx), { seed: (ctx.seed + 7919 * pass) >>> 0 });
    return { tasks: [...(acc?.tasks ?? []), svd] };
  },
  finish(ctx, acc) {
    const { rows, cols } = ctx;
    const kk = acc.tasks.reduce((a, t) => a + t.k, 0);
    const ut = new Float64Array(kk * rows);
    const vt = new Float64Array(kk * cols);
    const s = new Float64Array(kk);
    let at = 0;
    for (const t of acc.tasks) {
      ut.set(t.ut, at * rows);
      vt.set(t.vt, at * cols);
      s.set(t.s, at);
      at += t.k;
    }
    const alpha = alphaOf(ctx);
    return { l: columnsTimes(ut, kk, rows, s.map((x) => alpha * x)), rt: vt, kk };
  },
  centre: mean,
  fallback: mean,
});
