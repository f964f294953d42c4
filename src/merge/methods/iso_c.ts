import { polarFactor } from '../../tensor/polar.ts';
import { ALPHA_DOC, alphaOf, copyBase, meanTaskVectorFallback, svdFamily, weightedSum } from '../svd-family.ts';

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
// Numerics: float64, without a full SVD: σ̄·U·Vᵀ is (Σσᵢ / r) times the polar factor of S, and both
// come from one eigendecomposition of the smaller side's Gram matrix (src/tensor/polar.ts: S·G^-1/2
// or G^-1/2·S, Σσᵢ = Σ√λᵢ); the singular vectors themselves are never formed. The update has
// rank r, so the family forms it densely once per tensor (svd-family.ts).

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
    // σ̄·U·Vᵀ = (nuclear norm / r)·polar(S), from the smaller side's Gram alone (polar.ts).
    const p = polarFactor(matrix, rows, cols);
    const f = (alphaOf(ctx) * p.nuclear) / Math.min(rows, cols);
    const l = p.left === matrix ? matrix : p.left; // S itself when tall: ours to scale in place
    for (let e = 0; e < l.length; e++) l[e]! *= f;
    return { l, rt: p.right, kk: p.kk };
  },
  finish: (_ctx, acc) => acc,
  centre: copyBase,
  fallback: meanTaskVectorFallback,
});
