// The polar factor of a matrix and its nuclear norm without a full SVD: what Iso-C needs.
//
// Iso-C replaces every singular value of S = U·diag(σ)·Vᵀ by their mean σ̄ = Σσᵢ / r, i.e. its
// update is σ̄·U·Vᵀ: the polar factor P = U·Vᵀ of S (the nearest matrix with orthonormal rows or
// columns — the orthogonal Procrustes solution) times the nuclear norm over r. Both come from the
// Gram matrix of the smaller side alone, never from S's singular vectors:
//   m ≥ n:  G = SᵀS = W·Λ·Wᵀ (n×n),  P = S·G^-1/2,  Σσᵢ = Σ √λᵢ;
//   m < n:  G = S·Sᵀ (m×m),          P = G^-1/2·S.
// One r×r Gram (m·n·r/2 multiply-adds), one r×r symmetric eigendecomposition, and G^-1/2 = W·Λ^-1/2·Wᵀ
// (r³); the full SVD route (svd.ts svdThin) does the same Gram and eigendecomposition and then one
// more product, U = S·V·Λ^-1/2 (m·n·r), which this form skips: P is handed on as the pair (S, G^-1/2)
// or (G^-1/2, S), and whoever needs P densely forms it with one product. Directions whose σ is
// numerically zero (λ ≤ λ₁·ZERO_RATIO², as svdThin) are left out of G^-1/2 (a pseudo-inverse), so P
// is U·Vᵀ on S's numerical range, exactly what the SVD route gives.
// A Newton–Schulz iteration (Pₖ₊₁ = Pₖ·(3I − PₖᵀPₖ)/2) would need only products, but its
// convergence slows with S's condition number (a small σ grows by about 1.5× per step, each step two
// r-sized products of the whole matrix): on the spectra of summed task vectors (σ_min/σ₁ ~ 1e-3 and
// below) it needs 20+ steps, several times the eigendecomposition's cost on this machine's float64
// kernels, and it never settles numerically-zero directions at 0 or 1. The Gram form is exact and cheaper.
import { gramOfRows, mulAB, symmetricEigen, transpose } from './dense.ts';
import { ZERO_RATIO } from './svd.ts';

/** P = left·right, left rows×kk and right kk×cols (row-major), with S's nuclear norm and numerical rank. */
export interface PolarFactor {
  left: Float64Array;
  right: Float64Array;
  kk: number;
  nuclear: number;
  rank: number;
}

/** The polar factor of the row-major m×n matrix s (see the header). s is not modified, and may be shared by the result. */
export function polarFactor(s: Float64Array, m: number, n: number): PolarFactor {
  const tall = m >= n;
  const r = tall ? n : m;
  const g = tall ? gramOfRows(transpose(s, m, n), n, m) : gramOfRows(s, m, n);
  const { inverseRoot, nuclear, rank } = inverseSquareRoot(g, r);
  return tall ? { left: s, right: inverseRoot, kk: n, nuclear, rank } : { left: inverseRoot, right: s, kk: m, nuclear, rank };
}

/** G^-1/2 (pseudo-inverse on the numerically nonzero eigenvalues), Σ √λ and the count of those λ. */
export function inverseSquareRoot(g: Float64Array, r: number): { inverseRoot: Float64Array; nuclear: number; rank: number } {
  const { values, vectors } = symmetricEigen(g, r);
  const floor = Math.max(values[0] ?? 0, 0) * ZERO_RATIO * ZERO_RATIO;
  let rank = 0;
  while (rank < r && values[rank]! > floor) rank++;
  // D·W on the kept eigenvectors (rows of `vectors`), then Wᵀ·(D·W).
  const dw = new Float64Array(rank * r);
  let nuclear = 0;
  for (let i = 0; i < rank; i++) {
    const root = Math.sqrt(values[i]!);
    nuclear += root;
    const f = 1 / root;
    for (let j = 0; j < r; j++) dw[i * r + j] = f * vectors[i * r + j]!;
  }
  const inverseRoot = rank === 0 ? new Float64Array(r * r) : mulAB(transpose(vectors.subarray(0, rank * r), rank, r), dw, r, rank, r);
  return { inverseRoot, nuclear, rank };
}
