import { svdThin } from '../../tensor/svd.ts';
import { ALPHA_DOC, alphaOf, columnsTimes, copyBase, meanTaskVectorFallback, svdFamily, weightedSum } from '../svd-family.ts';

// Iso-C, isotropic merging in the common subspace (Marczak et al. 2025, "No Task Left Behind";
// FusionBench `IsotropicMergingInCommonSubspace`, iso_utils.iso_c).
//
// Per 2-D weight: the summed task matrix S = Σₜ weightₜ·(modelₜ − base) = U·diag(σ)·Vᵀ (thin SVD,
// r = min(rows, cols) singular values) gets a flat spectrum: every σᵢ is replaced by their mean
// σ̄ = Σσᵢ / r, so merged = base + α · σ̄ · U·Vᵀ. Directions whose σ is numerically zero
// (< 1e-6·σ₁) are left out of U·Vᵀ (their σ still counts, as 0, in the mean); the reference keeps
// arbitrary ones there, which only differs for rank-deficient sums.
// Defaults taken from FusionBench: α = 1 (their `scaling_factor`), weights 1.
// Other tensors (not 2-D, token embeddings, LM heads): base + α · mean of the weighted task
// vectors — task arithmetic with weights 1/T — as FusionBench averages them.
// Numerics: the SVD is float64, from the eigendecomposition of the smaller Gram matrix
// (src/tensor/svd.ts).

export default svdFamily<{ l: Float64Array; rt: Float64Array; kk: number }>({
  name: 'iso_c',
  description: 'Iso-C: the summed task matrix with its singular values all set to their mean (per 2-D weight)',
  base: 'required',
  globalParams: [{ name: 'alpha', kind: 'number', default: 1, doc: ALPHA_DOC }],
  searchInit: { weight: 1 },
  modelParams: [{ name: 'weight', kind: 'number', default: 1, doc: 'scale of this model\'s task vector in the sum' }],
  checkModels: (models, hasBase) => (!hasBase ? 'iso_c needs base_model' : models < 1 ? 'iso_c needs at least one model besides the base' : undefined),
  passes: () => 1,
  gather: (ctx, _pass, chunk) => weightedSum(ctx, chunk),
  absorb(ctx, _pass, matrix) {
    const { rows, cols } = ctx;
    const svd = svdThin(matrix, rows, cols);
    const mean = svd.s.reduce((a, x) => a + x, 0) / Math.min(rows, cols);
    const scale = new Float64Array(svd.k).fill(alphaOf(ctx) * mean);
    return { l: columnsTimes(svd.ut, svd.k, rows, scale), rt: svd.vt, kk: svd.k };
  },
  finish: (_ctx, acc) => acc,
  centre: copyBase,
  fallback: meanTaskVectorFallback,
});
