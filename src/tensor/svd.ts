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
// - polarStacked: the same for sets stacked task by task (TSV-M's U's and V's). With two sets, each
//   orthonormal, G = XᵀX = [[I, C], [Cᵀ, I]] and G^-1/2 comes from the eigendecomposition of the
//   k×k CᵀC alone (twoBlockInverseRoot): at 2048×2048 with two tasks, 3.6–4.2 CPU-s per polar
//   factor against 7.4 for the general route, same run (svd-profile.ts 2048 2). Tested against
//   ml-matrix's P·Qᵀ and polarRows (test/svd.test.ts), to 1e-9 and orthonormal to 1e-10.
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
  return mulAB(inverseRootOfGram(gramOfRows(x, kk, n), kk), x, kk, kk, n);
}

/** Largest |Gᵢⱼ − δᵢⱼ| over the diagonal blocks of the stacked Gram matrix that polarTwoBlocks accepts. */
export const TWO_BLOCK_TOLERANCE = 1e-9;

/**
 * The polar factor of sets of vectors stacked task by task (vector-major, `sizes[t]` vectors of
 * length n each), the same matrix as polarRows(x, Σ sizes, n). With two sets that are each
 * orthonormal (TSV-M with two tasks: each task's singular vectors), the stacked Gram matrix is
 * G = [[I, C], [Cᵀ, I]] and G^-1/2 follows from one eigendecomposition of the smaller of CᵀC / CCᵀ
 * (polarTwoBlocks) instead of the whole (k₁+k₂)×(k₁+k₂) one; otherwise, or when either set is
 * orthonormal only to worse than TWO_BLOCK_TOLERANCE, the general route.
 */
export function polarStacked(x: Float64Array, sizes: readonly number[], n: number, info?: { route?: string }): Float64Array {
  const kk = sizes.reduce((a, b) => a + b, 0);
  if (kk === 0) return new Float64Array(0);
  const g = gramOfRows(x, kk, n);
  if (info) info.route = 'general';
  // MERGESEARCH_POLAR=general forces the general route (benchmarks: the same run's before/after).
  if (sizes.length === 2 && sizes[0]! > 0 && sizes[1]! > 0 && process.env.MERGESEARCH_POLAR !== 'general') {
    const m = twoBlockInverseRoot(g, sizes[0]!, sizes[1]!);
    if (info && m) info.route = 'blocks';
    if (m) return mulAB(m, x, kk, kk, n);
  }
  return mulAB(inverseRootOfGram(g, kk), x, kk, kk, n);
}

/**
 * G^-1/2 of G = I + J, J = [[0, C], [Cᵀ, 0]] (C = the k₁×k₂ off-diagonal block), or null when the
 * diagonal blocks are not the identity to TWO_BLOCK_TOLERANCE. For f(y) = y^-1/2 (pseudo-inverse: 0
 * on numerically zero eigenvalues, as polarRows), with s the singular values of C (J's eigenvalues
 * are ±s, and 0):
 *   f(I + J) = [[g(CCᵀ), C·h(CᵀC)], [Cᵀ·h(CCᵀ), g(CᵀC)]],
 *   g(s²) = (f(1+s) + f(1−s))/2,  h(s²) = (f(1+s) − f(1−s))/(2s),
 * and g(CCᵀ) = I + C·φ(CᵀC)·Cᵀ with φ(s²) = (g(s²) − 1)/s², so every block needs only the
 * eigendecomposition of CᵀC (or of CCᵀ, transposing the roles when k₁ < k₂): an r/2-sized problem
 * (1/8 of the flops of the whole one) at TSV-M's full rank budget. Small s take the Taylor series
 * (h = −1/2 − 5s²/16, φ = 3/8 + 35s²/128), where the differences would cancel.
 * The sets are orthonormal only to rounding (Gₜₜ = I + Eₜ, |Eₜ| ≤ 1e-9): they are first made
 * orthonormal to O(E³) by Zₜ = I − Eₜ/2 + 3Eₜ²/8 ≈ Gₜₜ^-1/2 (X' = Z·X, C' = Z₁·C·Z₂), and the result is
 * polar(X')·Z = (its G'^-1/2)·Z — without that, E would come back amplified by ‖G^-1/2‖² = 1/(1 − s_max),
 * which reaches 1e6 and beyond when two tasks' kept subspaces nearly share a direction (two random
 * half-rank subspaces always do).
 */
function twoBlockInverseRoot(g: Float64Array, k1: number, k2: number): Float64Array | null {
  const kk = k1 + k2;
  let dev = 0;
  for (let i = 0; i < kk; i++) {
    const lo = i < k1 ? 0 : k1;
    const hi = i < k1 ? k1 : kk;
    for (let j = lo; j < hi; j++) dev = Math.max(dev, Math.abs(g[i * kk + j]! - (i === j ? 1 : 0)));
  }
  if (!(dev <= TWO_BLOCK_TOLERANCE)) return null;
  // Zₜ = I − Eₜ/2 + 3Eₜ²/8 from the diagonal blocks.
  const zOf = (o: number, k: number): Float64Array => {
    const e = new Float64Array(k * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) e[i * k + j] = g[(o + i) * kk + o + j]! - (i === j ? 1 : 0);
    const e2 = mulAB(e, e, k, k, k);
    const z = new Float64Array(k * k);
    for (let i = 0; i < k * k; i++) z[i] = -0.5 * e[i]! + 0.375 * e2[i]!;
    for (let i = 0; i < k; i++) z[i * k + i]! += 1;
    return z;
  };
  const z1 = zOf(0, k1);
  const z2 = zOf(k1, k2);
  const c0 = new Float64Array(k1 * k2);
  for (let i = 0; i < k1; i++) for (let j = 0; j < k2; j++) c0[i * k2 + j] = g[i * kk + k1 + j]!;
  const c = mulAB(mulAB(z1, c0, k1, k1, k2), z2, k1, k2, k2); // C' = Z₁·C·Z₂
  // Orient so the eigendecomposition is of the smaller side: a (p×q, p ≥ q) is C' or C'ᵀ.
  const flip = k1 < k2;
  const p = flip ? k2 : k1;
  const q = flip ? k1 : k2;
  const a = flip ? transpose(c, k1, k2) : c;
  const at = transpose(a, p, q); // q×p
  const { values, vectors: w } = symmetricEigen(gramOfRows(at, q, p), q); // aᵀa = Wᵀ·diag(s²)·W (rows of w)
  const top = Math.sqrt(Math.max(values[0] ?? 0, 0));
  const floor = (1 + top) * ZERO_RATIO * ZERO_RATIO;
  const f = (y: number): number => (y > floor ? 1 / Math.sqrt(y) : 0);
  const hw = new Float64Array(q * q); // diag(h)·W
  const phw = new Float64Array(q * q); // diag(φ)·W
  const gw = new Float64Array(q * q); // diag(g)·W
  for (let i = 0; i < q; i++) {
    const x2 = Math.max(values[i]!, 0);
    const s = Math.sqrt(x2);
    const fp = f(1 + s);
    const fm = f(1 - s);
    const gv = (fp + fm) / 2;
    const hv = s < 1e-4 ? -0.5 - (5 * x2) / 16 : (fp - fm) / (2 * s);
    const pv = s < 1e-4 ? 3 / 8 + (35 * x2) / 128 : (gv - 1) / x2;
    for (let j = 0; j < q; j++) {
      const v = w[i * q + j]!;
      hw[i * q + j] = hv * v;
      phw[i * q + j] = pv * v;
      gw[i * q + j] = gv * v;
    }
  }
  const wt = transpose(w, q, q);
  const hq = mulAB(wt, hw, q, q, q); // h(aᵀa)
  const gq = mulAB(wt, gw, q, q, q); // g(aᵀa)
  const ah = mulAB(a, hq, p, q, q); // a·h(aᵀa): the p×q off-diagonal block
  const aphi = mulAB(a, mulAB(wt, phw, q, q, q), p, q, q);
  const gp = mulABt(aphi, a, p, q, p); // a·φ(aᵀa)·aᵀ, plus I below: g(aaᵀ)
  for (let i = 0; i < p; i++) gp[i * p + i]! += 1;
  // Assemble in G's order: the k₁ block first.
  const m = new Float64Array(kk * kk);
  const put = (r0: number, c0: number, src: Float64Array, rows: number, cols: number, tr: boolean): void => {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m[(r0 + i) * kk + c0 + j] = tr ? src[j * rows + i]! : src[i * cols + j]!;
  };
  // p side: rows/cols [pOff, pOff+p), q side: [qOff, qOff+q).
  const pOff = flip ? k1 : 0;
  const qOff = flip ? 0 : k1;
  put(pOff, pOff, gp, p, p, false);
  put(qOff, qOff, gq, q, q, false);
  put(pOff, qOff, ah, p, q, false);
  put(qOff, pOff, ah, q, p, true);
  // (G'^-1/2·Z)ᵀ = Z·G'^-1/2 (both symmetric): row block t is Zₜ times G'^-1/2's rows of block t.
  const zm = new Float64Array(kk * kk);
  zm.set(mulAB(z1, m.subarray(0, k1 * kk), k1, k1, kk), 0);
  zm.set(mulAB(z2, m.subarray(k1 * kk), k2, k2, kk), k1 * kk);
  return transpose(zm, kk, kk);
}

/** (XᵀX)^-1/2 from its Gram matrix g (kk×kk): the pseudo-inverse square root, as polarRows. */
function inverseRootOfGram(g: Float64Array, kk: number): Float64Array {
  const { values, vectors } = symmetricEigen(g, kk);
  const floor = Math.max(values[0]!, 0) * ZERO_RATIO * ZERO_RATIO;
  const dw = new Float64Array(kk * kk);
  for (let i = 0; i < kk; i++) {
    const lam = values[i]!;
    if (!(lam > floor) || lam <= 0) continue;
    const f = 1 / Math.sqrt(lam);
    for (let j = 0; j < kk; j++) dw[i * kk + j] = f * vectors[i * kk + j]!;
  }
  return mulAB(transpose(vectors, kk, kk), dw, kk, kk, kk);
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
