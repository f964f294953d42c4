// Divide and conquer for the symmetric tridiagonal eigenproblem (Cuppen 1981; the orthogonality fix of
// Gu & Eisenstat 1995; the deflation rules of LAPACK's dstedc/dlaed2), in float64, for eigen.ts.
//
// Why: the implicit QL iteration applies about 1.5·n² plane rotations to n-long eigenvector rows
// (~9·n³ flops at rotation speed) — at n = 2048 that was over half of a 2048×2048 eigendecomposition.
// Here the eigenvector work is matrix products on dense.ts's fast kernel instead: at each merge the
// two halves' eigenvectors times the K×K eigenvector matrix of a rank-one update (two products,
// one per half, since a half's vectors are zero in the other half), about (2/3)·n³ multiply-adds in
// all without deflation, and far less with it (clustered or rank-deficient spectra deflate a lot).
//
// T (n×n, diagonal d, off-diagonal e) = diag(T₁', T₂') + ρ·u·uᵀ, split at m = n/2: β = e[m−1],
// ρ = |β|, u = e_{m−1} + sign(β)·e_m, T₁' = T₁ with its last diagonal entry − ρ, T₂' = T₂ with its
// first − ρ. With T₁' = Z₁Λ₁Z₁ᵀ and T₂' = Z₂Λ₂Z₂ᵀ (recursively; QL below LEAF rows),
// T = Z·(Λ + ρ·z·zᵀ)·Zᵀ with Z = diag(Z₁, Z₂), z = Zᵀu. The rank-one update's eigenvalues are the
// roots of the secular equation 1 + ρ'·Σᵢ ẑᵢ²/(δᵢ − λ) = 0 (ρ' = ρ‖z‖², ẑ = z/‖z‖), one in each gap
// between neighbouring poles δᵢ and one above the last; its eigenvectors are (ẑᵢ/(δᵢ − λ))ᵢ
// normalised. Each root is found relative to its nearer pole (λ = δ_o + μ, so δᵢ − λ = (δᵢ − δ_o) − μ
// loses nothing to cancellation) by Newton steps kept inside a shrinking bracket (bisection when a
// step leaves it or stalls), to |f| ≤ 8·ε·(1 + ρ'·Σ|ẑᵢ²/(δᵢ − λ)|), the rounding level of f itself.
// ẑ is then recomputed from the roots (Gu–Eisenstat: the exact ẑ for which the computed roots are
// exact eigenvalues), which makes the eigenvectors orthogonal to working precision however close
// the roots are. Deflation (tol = 8·ε·max(max|δ|, ρ')): ρ'|ẑᵢ| ≤ tol leaves δᵢ as an eigenvalue with
// its vector unchanged; two poles δᵢ, δⱼ so close that the plane rotation zeroing ẑᵢ leaves an
// off-diagonal |(δⱼ − δᵢ)·c·s| ≤ tol are rotated and δᵢ deflated. Both perturb T by at most ~tol,
// within the eigensolver's stated backward error (eigen.ts).
import { mulAB } from './dense.ts';

const EPS = 2 ** -52;
/** Subproblems of at most this many rows go to the leaf solver (QL: cheap at this size). */
export const DC_LEAF = 48;

/** Diagonalises (d, e) of size n (e[n−1] = 0) in place: d ← eigenvalues; returns the eigenvectors as rows. */
export type LeafSolver = (d: Float64Array, e: Float64Array, n: number) => Float64Array;

interface Part {
  vals: Float64Array;
  /** Eigenvectors, vector-major (row i belongs to vals[i]). */
  zt: Float64Array;
}

/**
 * Eigenvalues (unordered, written into d) and eigenvectors (returned vector-major, n×n) of the
 * symmetric tridiagonal matrix with diagonal d[0..n) and off-diagonal e[0..n−1) (e[i] couples i
 * and i+1).
 */
export function tridiagonalDc(d: Float64Array, e: Float64Array, n: number, leaf: LeafSolver): Float64Array {
  const { vals, zt } = solve(d.slice(0, n), e.subarray(0, Math.max(0, n - 1)), n, leaf);
  d.set(vals);
  return zt;
}

function solve(d: Float64Array, e: Float64Array, n: number, leaf: LeafSolver): Part {
  if (n <= DC_LEAF) {
    const ee = new Float64Array(n);
    ee.set(e.subarray(0, n - 1));
    const zt = leaf(d, ee, n);
    return { vals: d, zt };
  }
  const m = n >> 1;
  const beta = e[m - 1]!;
  const rho = Math.abs(beta);
  const d1 = d.slice(0, m);
  const d2 = d.slice(m, n);
  d1[m - 1]! -= rho;
  d2[0]! -= rho;
  const p1 = solve(d1, e.subarray(0, m - 1), m, leaf);
  const p2 = solve(d2, e.subarray(m, n - 1), n - m, leaf);
  return merge(p1, p2, m, n, rho, beta < 0 ? -1 : 1);
}

/** The eigendecomposition of diag(Z₁, Z₂)·(Λ + ρ·z·zᵀ)·diag(Z₁, Z₂)ᵀ (see the header). */
function merge(p1: Part, p2: Part, m: number, n: number, rho: number, sgn: number): Part {
  const n2 = n - m;
  const dd = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    dd[i] = p1.vals[i]!;
    z[i] = p1.zt[i * m + m - 1]!;
  }
  for (let i = 0; i < n2; i++) {
    dd[m + i] = p2.vals[i]!;
    z[m + i] = sgn * p2.zt[i * n2]!;
  }
  let zz = 0;
  for (let i = 0; i < n; i++) zz += z[i]! * z[i]!;
  const rp = rho * zz;
  const zn = Math.sqrt(zz);
  if (zn > 0) for (let i = 0; i < n; i++) z[i]! /= zn;
  // Eigenvector rows of the merged problem, item i: [Z₁ row i, 0] (i < m) or [0, Z₂ row i − m];
  // materialised (`dense`) only when a deflating rotation mixes two items of different halves.
  const dense = new Map<number, Float64Array>();
  const row = (i: number): Float64Array => {
    const got = dense.get(i);
    if (got) return got;
    const r = new Float64Array(n);
    if (i < m) r.set(p1.zt.subarray(i * m, (i + 1) * m), 0);
    else r.set(p2.zt.subarray((i - m) * n2, (i - m + 1) * n2), m);
    return r;
  };
  // half[i]: 1 = nonzero in the first m entries only, 2 = in the last n2 only, 3 = both.
  const half = new Uint8Array(n);
  for (let i = 0; i < n; i++) half[i] = i < m ? 1 : 2;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => dd[a]! - dd[b]! || a - b);
  let dmax = 0;
  for (let i = 0; i < n; i++) dmax = Math.max(dmax, Math.abs(dd[i]!));
  const tol = 8 * EPS * Math.max(dmax, rp);
  const kept: number[] = [];
  const deflated: number[] = [];
  let prev = -1;
  for (const j of order) {
    if (rp * Math.abs(z[j]!) <= tol) {
      deflated.push(j);
      continue;
    }
    if (prev < 0) {
      prev = j;
      continue;
    }
    const tau = Math.hypot(z[prev]!, z[j]!);
    const c = z[j]! / tau;
    const s = z[prev]! / tau;
    const t = dd[j]! - dd[prev]!;
    if (Math.abs(t * c * s) <= tol) {
      // Rotate items prev and j so that z[prev] = 0: prev is deflated.
      const rp_ = row(prev);
      const rj = row(j);
      const np = new Float64Array(n);
      const nj = new Float64Array(n);
      for (let e = 0; e < n; e++) {
        np[e] = c * rp_[e]! - s * rj[e]!;
        nj[e] = s * rp_[e]! + c * rj[e]!;
      }
      dense.set(prev, np);
      dense.set(j, nj);
      const h = half[prev]! | half[j]!;
      half[prev] = h;
      half[j] = h;
      const dp = dd[prev]!;
      const dj = dd[j]!;
      dd[prev] = c * c * dp + s * s * dj;
      dd[j] = s * s * dp + c * c * dj;
      z[prev] = 0;
      z[j] = tau;
      deflated.push(prev);
      prev = j;
    } else {
      kept.push(prev);
      prev = j;
    }
  }
  if (prev >= 0) kept.push(prev);

  const vals = new Float64Array(n);
  const zt = new Float64Array(n * n);
  let out = 0;
  for (const i of deflated) {
    vals[out] = dd[i]!;
    zt.set(row(i), out * n);
    out++;
  }
  const kk = kept.length;
  if (kk === 0) return { vals, zt };
  // Poles δ (ascending: deflation keeps the kept ones in order) and weights ẑ².
  const delta = new Float64Array(kk);
  const w = new Float64Array(kk);
  let sumW = 0;
  for (let i = 0; i < kk; i++) {
    delta[i] = dd[kept[i]!]!;
    w[i] = z[kept[i]!]! * z[kept[i]!]!;
    sumW += w[i]!;
  }
  // diff[j·kk + i] = δᵢ − λⱼ, computed as (δᵢ − δ_o) − μⱼ.
  const diff = new Float64Array(kk * kk);
  for (let j = 0; j < kk; j++) secularRoot(delta, w, rp, sumW, j, diff.subarray(j * kk, (j + 1) * kk));
  // Gu–Eisenstat: ẑᵢ² = Πⱼ(λⱼ − δᵢ) / (ρ'·Π_{l≠i}(δ_l − δᵢ)), the sign of the original ẑᵢ.
  const zh = new Float64Array(kk);
  for (let i = 0; i < kk; i++) {
    let prod = -diff[i * kk + i]! / rp;
    for (let j = 0; j < kk; j++) if (j !== i) prod *= -diff[j * kk + i]! / (delta[j]! - delta[i]!);
    zh[i] = (z[kept[i]!]! < 0 ? -1 : 1) * Math.sqrt(Math.max(prod, 0));
  }
  // The rank-one update's eigenvectors, row j: (ẑᵢ / (δᵢ − λⱼ))ᵢ normalised.
  const u = new Float64Array(kk * kk);
  for (let j = 0; j < kk; j++) {
    const o = j * kk;
    let nn = 0;
    for (let i = 0; i < kk; i++) {
      const x = zh[i]! / diff[o + i]!;
      u[o + i] = x;
      nn += x * x;
    }
    const f = 1 / Math.sqrt(nn);
    for (let i = 0; i < kk; i++) u[o + i]! *= f;
    vals[out + j] = delta[j]! - diff[o + j]!;
  }
  // New rows = U·(rows of the kept items), one product per half over the items nonzero there.
  for (const [lo, width, bit] of [[0, m, 1], [m, n2, 2]] as const) {
    const items: number[] = [];
    for (let i = 0; i < kk; i++) if (half[kept[i]!]! & bit) items.push(i);
    if (items.length === 0) continue;
    const c = items.length;
    const ua = new Float64Array(kk * c);
    for (let j = 0; j < kk; j++) for (let x = 0; x < c; x++) ua[j * c + x] = u[j * kk + items[x]!]!;
    const rows = new Float64Array(c * width);
    items.forEach((i, x) => {
      const it = kept[i]!;
      const got = dense.get(it);
      if (got) rows.set(got.subarray(lo, lo + width), x * width);
      else if (it < m) rows.set(p1.zt.subarray(it * m, (it + 1) * m), x * width);
      else rows.set(p2.zt.subarray((it - m) * n2, (it - m + 1) * n2), x * width);
    });
    const prod = mulAB(ua, rows, kk, c, width);
    for (let j = 0; j < kk; j++) zt.set(prod.subarray(j * width, (j + 1) * width), (out + j) * n + lo);
  }
  return { vals, zt };
}

/**
 * Root j (0-based, ascending) of 1 + rp·Σᵢ wᵢ/(δᵢ − λ) = 0 for poles δ ascending: fills
 * diff[i] = δᵢ − λⱼ without cancellation (relative to the pole nearer the root).
 */
function secularRoot(delta: Float64Array, w: Float64Array, rp: number, sumW: number, j: number, diff: Float64Array): void {
  const kk = delta.length;
  let o: number;
  let a: number;
  let b: number;
  if (j < kk - 1) {
    const mid = (delta[j + 1]! - delta[j]!) / 2;
    let f = 1;
    for (let i = 0; i < kk; i++) f += (rp * w[i]!) / (delta[i]! - delta[j]! - mid);
    if (f >= 0) {
      o = j;
      a = 0;
      b = mid;
    } else {
      o = j + 1;
      a = delta[j]! - delta[j + 1]! + mid;
      b = 0;
    }
  } else {
    o = j;
    a = 0;
    b = rp * sumW;
  }
  const dOrg = delta[o]!;
  for (let i = 0; i < kk; i++) diff[i] = delta[i]! - dOrg; // shifted poles, μ subtracted below
  let x = (a + b) / 2;
  let width = b - a;
  for (let it = 0; it < 400; it++) {
    let f = 1;
    let fp = 0;
    let fabs = 1;
    for (let i = 0; i < kk; i++) {
      const dl = diff[i]! - x;
      const t = (rp * w[i]!) / dl;
      f += t;
      fabs += Math.abs(t);
      fp += t / dl;
    }
    if (Math.abs(f) <= 8 * EPS * fabs) break;
    if (f < 0) a = x;
    else b = x;
    let nx = x - f / fp;
    // Bisect when Newton leaves the bracket, or every third step the bracket has not halved.
    if (!(nx > a && nx < b) || (it % 3 === 2 && b - a > width / 2)) nx = (a + b) / 2;
    if (it % 3 === 2) width = b - a;
    if (nx === x || b - a <= 2 * EPS * Math.max(Math.abs(a), Math.abs(b))) {
      x = nx;
      break;
    }
    x = nx;
  }
  for (let i = 0; i < kk; i++) diff[i] = diff[i]! - x;
}
