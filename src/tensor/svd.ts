// Singular value decompositions for the SVD-family merges, in float64 throughout (inputs are
// widened from float32 once; every product, Gram matrix and eigendecomposition is float64).
//
// - svdThin: every nonzero singular triplet, from the eigendecomposition of the Gram matrix of the
//   smaller side (r×r, r = min(m, n)). Accuracy: a singular value σ comes out with absolute error
//   about 1e-16·σ₁²/σ (the Gram squares the condition number), so triplets with σ ≥ 1e-6·σ₁ are
//   accurate to ~1e-10 relative; smaller ones are treated as zero (dropped; see ZERO_RATIO).
// - svdTopK: the top k triplets. The rule (topKPath): the exact path above (svdThin, then cut to
//   k) when the smaller side r ≤ EXACT_MAX_SIDE (512) — small matrices, such as mnist8's 256-wide
//   ones, always get the exact decomposition, which costs well under a second there — or when
//   3·(k + 10) ≥ r, where the exact path is the cheaper one since the eigensolver's divide and
//   conquer (eigen.ts), so TSV-M with T ≤ 3 tasks (k = r/T) takes it. Measured with
//   experiments/bench/svd-profile.ts at k = 341 (CPU-seconds, shared machine): 1024×1024 exact 1.0
//   vs randomized 1.3, 2816×1024 exact 1.05 vs randomized 2.5 (the sketch's products and
//   orthonormalisations grow with the longer side, the exact path's only in its one Gram); at
//   2048×2048, k = 682, the two are about equal (~7.6). Otherwise a randomized range finder (Halko, Martinsson & Tropp 2011): Y = A·Ω for a
//   Gaussian Ω with l = k + 10 columns (oversampling 10), q = 2 power iterations re-orthonormalised
//   at every half step (Q ← orth(Aᵀ·Q), Q ← orth(A·Q)), then the exact SVD of the small l×n
//   projection B = QᵀA (from its l×l Gram matrix), whose top k triplets are returned.
//   Deterministic: Ω comes from the seed. Stated accuracy of the randomized path, tested against
//   ml-matrix's full (Golub-Kahan) SVD in test/svd.test.ts (300×200, k = 20; bounds with margin
//   over the values measured there, which are in brackets):
//   · exponential decay σᵢ = 0.9ⁱ: all k values within 1e-4 relative [7e-6], the top k/2 within
//     1e-8 [2e-10]; the largest principal angle between the true and the computed top-k left
//     subspaces sin θ < 2e-2 [4e-3] (the true top-k/2 subspace inside the computed one to 1e-3
//     [3e-5]); rank-k error within 1e-4 of the optimal (Eckart-Young) one [2e-6];
//   · power law σᵢ = 1/(1 + i/4), like a fine-tuning task vector's: the top k/2 values within
//     1e-3 [3e-5], all k within 6 % [0.3–3 %]; the true top-k/2 subspace inside the computed one
//     to sin θ < 5e-2 [1–2.5e-2] (the last components mix with their near-equal neighbours:
//     σₖ₊₁/σₖ ≈ 0.96–0.99); rank-k error within 1 % of the optimum [0.08–0.75 %];
//   · flat spectrum (Gaussian entries, σₖ₊₁/σₖ ≈ 0.99), the worst case: values within 10 % [6 %],
//     rank-k error within 4 % of the optimum [1.2–2.3 %]; the top-k subspace itself is not
//     determined by such a spectrum (any near-top subspace is as good), so no angle is stated.
//   Values never exceed the true ones (Ritz values); the bases are orthonormal to 1e-10.
// Cost: the products (A·Ω, Aᵀ·Q, A·Q, QᵀA: about 6·(k + 10)·m·n multiply-adds) and the block
//   Gram-Schmidt of the l vectors (about 5·2·l²·max(m, n)) dominate; the products and Gram
//   matrices run on the WebAssembly SIMD float64 kernel (dense.ts → wasm/dense-kernels.c; about
//   4× the JavaScript kernel's multiply-adds per CPU-second, the same bits), the eigensolver's
//   rotations too. polarRows costs a K×K Gram, its eigendecomposition (the largest single cost
//   at K ≈ r) and two products. Measure with experiments/bench/svd-profile.ts and svd-compare.ts.
// - polarRows: the nearest matrix with orthonormal columns (polar factor X(XᵀX)^-1/2, the same as
//   PQᵀ from X = PΣQᵀ) of a set of vectors.
//
// Results are deterministic: the random test matrix comes from a seed, and eigenvectors' signs
// are fixed (dense.ts).
import { gramOfRows, mulAB, mulABt, orthonormalRows, symmetricEigen, transpose } from './dense.ts';
import { seededRandom } from './random.ts';

/** A truncated SVD A ≈ Σᵢ sᵢ uᵢ vᵢᵀ, bases vector-major: ut is k×m, vt is k×n. */
export interface Svd {
  k: number;
  s: Float64Array;
  ut: Float64Array;
  vt: Float64Array;
}

/** Singular values below this fraction of the largest are numerically zero (see the header). */
export const ZERO_RATIO = 1e-6;
const OVERSAMPLE = 10;
/** Matrices whose smaller side is at most this take the exact path whatever k (see the header). */
export const EXACT_MAX_SIDE = 512;
const POWER_ITERATIONS = 2;

/**
 * Every numerically nonzero singular triplet of the row-major m×n matrix a, largest first; at most
 * `want` of them (the top ones: only those singular vectors are formed).
 */
export function svdThin(a: Float64Array, m: number, n: number, want = Math.min(m, n)): Svd {
  if (m >= n) {
    const { values, vectors } = symmetricEigen(gramOfRows(transpose(a, m, n), n, m), n, want);
    const k = Math.min(want, keptCount(values));
    const vt = vectors.subarray(0, k * n).slice();
    const s = sqrtValues(values, k);
    const ut = mulABt(vt, a, k, n, m); // row i = A·vᵢ
    scaleRows(ut, k, m, s);
    return { k, s, ut, vt };
  }
  const { values, vectors } = symmetricEigen(gramOfRows(a, m, n), m, want);
  const k = Math.min(want, keptCount(values));
  const ut = vectors.subarray(0, k * m).slice();
  const s = sqrtValues(values, k);
  const vt = mulAB(ut, a, k, m, n); // row i = Aᵀ·uᵢ
  scaleRows(vt, k, n, s);
  return { k, s, ut, vt };
}

export interface TopKOptions {
  seed?: number;
  oversample?: number;
  powerIterations?: number;
  /**
   * 'auto' (the default): the rule in the header — exact when min(m, n) ≤ EXACT_MAX_SIDE or
   * 3·(k + oversample) ≥ min(m, n), randomized otherwise. 'exact' / 'randomized' force a path
   * (tests, benchmarks; 'randomized' still returns the exact result when k + oversample ≥ min(m, n)).
   */
  method?: 'auto' | 'exact' | 'randomized';
  /** Deprecated spelling of method: 'exact'. */
  exact?: boolean;
}

/** Which path svdTopK takes for these sizes (see the header). */
export function topKPath(m: number, n: number, k: number, opts: TopKOptions = {}): 'exact' | 'randomized' {
  const r = Math.min(m, n);
  const want = Math.max(0, Math.min(k, r));
  const l = Math.min(r, want + (opts.oversample ?? OVERSAMPLE));
  const method = opts.exact ? 'exact' : (opts.method ?? 'auto');
  if (method === 'exact' || l >= r) return 'exact';
  if (method === 'randomized') return 'randomized';
  return r <= EXACT_MAX_SIDE || 3 * l >= r ? 'exact' : 'randomized';
}

/** The top k singular triplets of the row-major m×n matrix a (fewer when its rank is lower). */
export function svdTopK(a: Float64Array, m: number, n: number, k: number, opts: TopKOptions = {}): Svd {
  const r = Math.min(m, n);
  const want = Math.max(0, Math.min(k, r));
  const l = Math.min(r, want + (opts.oversample ?? OVERSAMPLE));
  if (want === 0) return { k: 0, s: new Float64Array(0), ut: new Float64Array(0), vt: new Float64Array(0) };
  if (topKPath(m, n, want, opts) === 'exact') return truncate(svdThin(a, m, n, want), want, m, n);
  const rand = seededRandom(opts.seed ?? 0);
  const omega = new Float64Array(l * n);
  for (let i = 0; i < omega.length; i += 2) {
    // Box-Muller: two standard normals per pair of uniforms.
    const u1 = 1 - rand();
    const u2 = rand();
    const rad = Math.sqrt(-2 * Math.log(u1));
    omega[i] = rad * Math.cos(2 * Math.PI * u2);
    if (i + 1 < omega.length) omega[i + 1] = rad * Math.sin(2 * Math.PI * u2);
  }
  // Range of A: Y = A·Ω (vector-major l×m), sharpened by power iterations (AAᵀ)^q·A·Ω.
  let q = orthonormalRows(mulABt(omega, a, l, n, m), l, m);
  for (let it = 0; it < (opts.powerIterations ?? POWER_ITERATIONS); it++) {
    const z = orthonormalRows(mulAB(q.q, a, q.count, m, n), q.count, n);
    q = orthonormalRows(mulABt(z.q, a, z.count, n, m), z.count, m);
  }
  // B = QᵀA is small (c×n): its SVD from the c×c Gram matrix B·Bᵀ = W·Λ·Wᵀ.
  const c = q.count;
  const b = mulAB(q.q, a, c, m, n);
  const { values, vectors } = symmetricEigen(gramOfRows(b, c, n), c, want);
  const kept = Math.min(want, keptCount(values));
  const w = vectors.subarray(0, kept * c);
  const s = sqrtValues(values, kept);
  const ut = mulAB(w, q.q, kept, c, m); // uᵢ = Q·wᵢ
  const vt = mulAB(w, b, kept, c, n); // vᵢ = Bᵀ·wᵢ / sᵢ
  scaleRows(vt, kept, n, s);
  return { k: kept, s, ut, vt };
}

/**
 * Polar factor of the n×K matrix whose columns are the K rows of x (vector-major): X·(XᵀX)^-1/2,
 * returned vector-major. Directions where XᵀX is numerically singular (eigenvalue below
 * ZERO_RATIO² of the largest) are left out, a pseudo-inverse square root.
 */
export function polarRows(x: Float64Array, kk: number, n: number): Float64Array {
  if (kk === 0) return new Float64Array(0);
  const { values, vectors } = symmetricEigen(gramOfRows(x, kk, n), kk);
  const floor = Math.max(values[0]!, 0) * ZERO_RATIO * ZERO_RATIO;
  const dw = new Float64Array(kk * kk); // D·W, D = Λ^-1/2 on the kept eigenvalues
  for (let i = 0; i < kk; i++) {
    const lam = values[i]!;
    if (!(lam > floor) || lam <= 0) continue;
    const f = 1 / Math.sqrt(lam);
    for (let j = 0; j < kk; j++) dw[i * kk + j] = f * vectors[i * kk + j]!;
  }
  const m = mulAB(transpose(vectors, kk, kk), dw, kk, kk, kk); // Wᵀ·D·W = (XᵀX)^-1/2
  return mulAB(m, x, kk, kk, n);
}

function keptCount(values: Float64Array): number {
  const top = Math.max(values[0] ?? 0, 0);
  if (top === 0) return 0;
  const floor = top * ZERO_RATIO * ZERO_RATIO; // eigenvalues are σ²
  let k = 0;
  while (k < values.length && values[k]! > floor) k++;
  return k;
}

function sqrtValues(values: Float64Array, k: number): Float64Array {
  const s = new Float64Array(k);
  for (let i = 0; i < k; i++) s[i] = Math.sqrt(values[i]!);
  return s;
}

/** Divide row i of the k×n matrix x by s[i]. */
function scaleRows(x: Float64Array, k: number, n: number, s: Float64Array): void {
  for (let i = 0; i < k; i++) {
    const f = 1 / s[i]!;
    for (let e = 0; e < n; e++) x[i * n + e]! *= f;
  }
}

function truncate(x: Svd, k: number, m: number, n: number): Svd {
  if (x.k <= k) return x;
  return { k, s: x.s.slice(0, k), ut: x.ut.slice(0, k * m), vt: x.vt.slice(0, k * n) };
}
