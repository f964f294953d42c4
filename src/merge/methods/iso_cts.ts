import { mulAB, transpose } from '../../tensor/dense.ts';
import { type Svd, polarRows, svdTopK } from '../../tensor/svd.ts';
import { ALPHA_DOC, alphaOf, checkFraction, columnsTimes, copyBase, meanTaskVectorFallback, svdFamily, weightedDelta, weightedSum, weightOf } from '../svd-family.ts';
import type { Chunk, TensorContext } from '../method.ts';

// Iso-CTS, isotropic merging in common and task-specific subspaces (Marczak et al. 2025, "No Task
// Left Behind"; FusionBench `IsotropicMergingInCommonAndTaskSubspace`, iso_utils.iso_cts).
//
// Per 2-D weight (r = min(rows, cols), T tasks, τₜ = weightₜ·(modelₜ − base), S = Σₜ τₜ):
//   1. sizes: kc = ⌊r · common_space_fraction⌋, then the task-specific total is rounded to a
//      multiple of T, d = round((r − kc)/T) per task (Python's round: halves to even), and the
//      common space takes the rest, kc = r − T·d;
//   2. common subspace: the top kc singular triplets of S (U_c, σ_c, V_c);
//   3. task-specific subspaces: each τₜ with the common directions projected out of its columns,
//      τₜ − U_c·U_cᵀ·τₜ, cut to its top d triplets;
//   4. the r left vectors [task 1 … task T, common] and the r right vectors are each replaced by
//      their polar factor (nearest orthonormal set), and every singular value by the mean of the
//      r kept ones (zeros where a decomposition had fewer): merged = base + α · σ̄ · U⊥·V⊥ᵀ.
// With common_space_fraction 1 this is Iso-C.
// Defaults taken from FusionBench: α = 1 (their `scaling_factor`), common_space_fraction 0.8.
// Other tensors (not 2-D, token embeddings, LM heads): base + α · mean of the weighted task
// vectors — task arithmetic with weights 1/T — as FusionBench averages them.
// Numerics: float64 decompositions (src/tensor/svd.ts), randomized top-k seeded from the tensor.

interface CtsAcc {
  common: Svd;
  tasks: Svd[];
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function isoCtsSizes(r: number, tasks: number, fraction: number): { common: number; perTask: number } {
  let perTask = roundHalfEven((r - Math.floor(r * fraction)) / tasks);
  if (perTask * tasks > r) perTask = Math.floor(r / tasks);
  return { common: r - perTask * tasks, perTask };
}

function sizes(ctx: TensorContext): { common: number; perTask: number } {
  const f = typeof ctx.global.common_space_fraction === 'number' ? ctx.global.common_space_fraction : 0.8;
  return isoCtsSizes(Math.min(ctx.rows, ctx.cols), ctx.perModel.length, f);
}

export default svdFamily<CtsAcc>({
  name: 'iso_cts',
  description: 'Iso-CTS: a common subspace of the summed task matrix plus task-specific directions orthogonal to it, spectrum flattened (per 2-D weight)',
  base: 'required',
  globalParams: [
    { name: 'alpha', kind: 'number', default: 1, doc: ALPHA_DOC },
    { name: 'common_space_fraction', kind: 'number', default: 0.8, doc: 'fraction of min(rows, cols) given to the common subspace; the rest is shared equally among the tasks' },
  ],
  searchInit: { weight: 1 },
  modelParams: [{ name: 'weight', kind: 'number', default: 1, doc: 'scale of this model\'s task vector' }],
  checkModels: (models, hasBase) => (!hasBase ? 'iso_cts needs base_model' : models < 1 ? 'iso_cts needs at least one model besides the base' : undefined),
  checkParams: (ctx) => checkFraction(ctx, 'common_space_fraction', false),
  passes: (ctx) => 1 + (sizes(ctx).perTask > 0 ? ctx.perModel.length : 0),
  gather: (ctx, pass, chunk) => (pass === 0 ? weightedSum(ctx, chunk) : weightedDelta(ctx, chunk, pass - 1)),
  absorb(ctx, pass, matrix, acc) {
    const { rows, cols } = ctx;
    const { common, perTask } = sizes(ctx);
    if (pass === 0) return { common: svdTopK(matrix, rows, cols, common, { seed: ctx.seed }), tasks: [] };
    const c = acc!.common;
    if (c.k > 0) {
      // τ − U_c·(U_cᵀ·τ): project the common left directions out of every column.
      const proj = mulAB(c.ut, matrix, c.k, rows, cols); // k×cols
      const back = mulAB(transpose(c.ut, c.k, rows), proj, rows, c.k, cols);
      for (let e = 0; e < matrix.length; e++) matrix[e]! -= back[e]!;
    }
    const svd = svdTopK(matrix, rows, cols, perTask, { seed: (ctx.seed + 7919 * pass) >>> 0 });
    return { common: c, tasks: [...acc!.tasks, svd] };
  },
  finish(ctx, acc) {
    const { rows, cols } = ctx;
    const parts = [...acc.tasks, acc.common];
    const kk = parts.reduce((a, p) => a + p.k, 0);
    const ut = new Float64Array(kk * rows);
    const vt = new Float64Array(kk * cols);
    let at = 0;
    let sum = 0;
    for (const p of parts) {
      ut.set(p.ut, at * rows);
      vt.set(p.vt, at * cols);
      sum += p.s.reduce((a, x) => a + x, 0);
      at += p.k;
    }
    const mean = sum / Math.min(rows, cols);
    const scale = new Float64Array(kk).fill(alphaOf(ctx) * mean);
    return { l: columnsTimes(polarRows(ut, kk, rows), kk, rows, scale), rt: polarRows(vt, kk, cols), kk };
  },
  centre: copyBase,
  fallback: meanTaskVectorFallback,
});
