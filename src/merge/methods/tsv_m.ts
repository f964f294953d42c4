import { type Svd, polarRows, svdTopK } from '../../tensor/svd.ts';
import {
  ALPHA_DOC,
  alphaOf,
  checkFraction,
  columnsTimes,
  copyBase,
  meanTaskVectorFallback,
  svdFamily,
  weightedDelta,
} from '../svd-family.ts';
import type { TensorContext } from '../method.ts';

// TSV-M, Task Singular Vectors merge (Gargiulo et al., CVPR 2025; FusionBench
// `TaskSingularVectorMerging`, TSVM_utils.compute_and_sum_svd_mem_reduction).
//
// Per 2-D weight (r = min(rows, cols), T tasks, τₜ = weightₜ·(modelₜ − base)):
//   1. each τₜ is cut to its top k singular triplets Uₜ, σₜ, Vₜ, k = ⌊rank_fraction · r / T⌋
//      (at least 1): the rank budget r is shared equally among the tasks (FusionBench: k = ⌊r/T⌋);
//   2. the concatenations U = [U₁ … U_T] (rows×Tk) and V = [V₁ … V_T] (cols×Tk) are each replaced
//      by their nearest matrix with orthonormal columns, the polar factor (SVD U = PΣQᵀ → PQᵀ;
//      computed here as U(UᵀU)^-1/2, the same matrix) — this decorrelates the tasks' directions;
//   3. merged = base + α · U⊥ · diag(σ₁ … σ_T) · V⊥ᵀ.
// Defaults taken from FusionBench: α = 1 (`alpha`), rank budget ⌊r/T⌋ per task (rank_fraction 1),
// per-task weights 1 (FusionBench's per-task `alpha` list, which scales each τₜ before the SVD).
// Other tensors (not 2-D, token embeddings, LM heads): base + α · mean of the weighted task
// vectors — task arithmetic with weights 1/T — as FusionBench averages them.
// Numerics: float64 throughout the decompositions (src/tensor/svd.ts); top-k by the exact Gram
// eigendecomposition when k is large relative to r, else by a randomized range finder seeded from
// the tensor's seed (deterministic).

interface TsvAcc {
  tasks: Svd[];
}

function rankPerTask(ctx: TensorContext): number {
  const r = Math.min(ctx.rows, ctx.cols);
  const frac = typeof ctx.global.rank_fraction === 'number' ? ctx.global.rank_fraction : 1;
  return Math.max(1, Math.floor((frac * r) / ctx.perModel.length));
}

export default svdFamily<TsvAcc>({
  name: 'tsv_m',
  description: 'TSV-M: each task vector cut to its top singular triplets, the stacked singular vectors orthogonalised, recombined (per 2-D weight)',
  base: 'required',
  globalParams: [
    { name: 'alpha', kind: 'number', default: 1, doc: ALPHA_DOC },
    { name: 'rank_fraction', kind: 'number', default: 1, doc: 'fraction of min(rows, cols) shared equally among the tasks as their number of kept singular triplets' },
  ],
  modelParams: [{ name: 'weight', kind: 'number', default: 1, doc: 'scale of this model\'s task vector before the decomposition' }],
  checkModels: (models, hasBase) => (!hasBase ? 'tsv_m needs base_model' : models < 1 ? 'tsv_m needs at least one model besides the base' : undefined),
  checkParams: (ctx) => checkFraction(ctx, 'rank_fraction'),
  passes: (ctx) => ctx.perModel.length,
  gather: (ctx, pass, chunk) => weightedDelta(ctx, chunk, pass),
  absorb(ctx, pass, matrix, acc) {
    const svd = svdTopK(matrix, ctx.rows, ctx.cols, rankPerTask(ctx), { seed: (ctx.seed + 7919 * pass) >>> 0 });
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
    return { l: columnsTimes(polarRows(ut, kk, rows), kk, rows, s.map((x) => alpha * x)), rt: polarRows(vt, kk, cols), kk };
  },
  centre: copyBase,
  fallback: meanTaskVectorFallback,
});
