// Dense float64 linear algebra for the SVD-family merges: the products, Gram matrices, column
// orthonormalisation and symmetric eigendecomposition they are built from.
//
// Layout: a matrix is a row-major Float64Array. A set of K vectors of length n ("a basis") is kept
// vector-major, i.e. as the K×n transpose, so every vector is contiguous: the loops below then only
// walk memory forwards (dot products of contiguous rows, or axpy into a contiguous row), which is
// what lets V8 run them near its scalar peak. Everything here is float64, inputs and accumulators.
import { eigenSymmetric } from './eigen.ts';

/**
 * out (m×n) = a (m×k) · bt (n×k)ᵀ: every entry a dot product of two contiguous rows. Four rows of
 * a go against each row of bt at once, so each loaded bt value serves four accumulators.
 */
export function mulABt(a: Float64Array, bt: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  let i = 0;
  for (; i + 3 < m; i += 4) {
    const a0 = i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let p = 0; p < k; p++) {
        const b = bt[bj + p]!;
        s0 += a[a0 + p]! * b;
        s1 += a[a1 + p]! * b;
        s2 += a[a2 + p]! * b;
        s3 += a[a3 + p]! * b;
      }
      out[i * n + j] = s0;
      out[(i + 1) * n + j] = s1;
      out[(i + 2) * n + j] = s2;
      out[(i + 3) * n + j] = s3;
    }
  }
  for (; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p]! * bt[bj + p]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

/**
 * out (m×n) = a (m×k) · b (k×n): rows of b added into rows of out (axpy), four rows of out at a
 * time so each row of b is read once per four output rows.
 */
export function mulAB(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  let i = 0;
  for (; i + 3 < m; i += 4) {
    const o0 = i * n;
    const o1 = o0 + n;
    const o2 = o1 + n;
    const o3 = o2 + n;
    for (let p = 0; p < k; p++) {
      const c0 = a[i * k + p]!;
      const c1 = a[(i + 1) * k + p]!;
      const c2 = a[(i + 2) * k + p]!;
      const c3 = a[(i + 3) * k + p]!;
      if (c0 === 0 && c1 === 0 && c2 === 0 && c3 === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) {
        const v = b[bp + j]!;
        out[o0 + j]! += c0 * v;
        out[o1 + j]! += c1 * v;
        out[o2 + j]! += c2 * v;
        out[o3 + j]! += c3 * v;
      }
    }
  }
  for (; i < m; i++) {
    const oi = i * n;
    for (let p = 0; p < k; p++) {
      const c = a[i * k + p]!;
      if (c === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) out[oi + j]! += c * b[bp + j]!;
    }
  }
  return out;
}

/** Gram matrix (K×K) of K vectors of length n stored vector-major. Exactly symmetric. */
export function gramOfRows(x: Float64Array, kk: number, n: number): Float64Array {
  const g = mulABt(x, x, kk, n, kk);
  // The two triangles come from different accumulation orders; make them identical.
  for (let i = 0; i < kk; i++) for (let j = i + 1; j < kk; j++) g[j * kk + i] = g[i * kk + j]!;
  return g;
}

/** The transpose of a row-major m×n matrix. */
export function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a[i * n + j]!;
  return out;
}

/**
 * Orthonormalise K vectors of length n (vector-major) by modified Gram-Schmidt, run twice
 * ("twice is enough": the second sweep removes what rounding left of earlier directions).
 * Vectors that become negligible (dependent on earlier ones) are dropped, so the result may hold
 * fewer vectors; returns them vector-major with their count.
 */
export function orthonormalRows(x: Float64Array, kk: number, n: number): { q: Float64Array; count: number } {
  const q = new Float64Array(kk * n);
  let count = 0;
  const v = new Float64Array(n);
  for (let i = 0; i < kk; i++) {
    v.set(x.subarray(i * n, (i + 1) * n));
    let norm0 = 0;
    for (let e = 0; e < n; e++) norm0 += v[e]! * v[e]!;
    norm0 = Math.sqrt(norm0);
    if (norm0 === 0) continue;
    for (let sweep = 0; sweep < 2; sweep++) {
      for (let j = 0; j < count; j++) {
        const b = j * n;
        let d = 0;
        for (let e = 0; e < n; e++) d += q[b + e]! * v[e]!;
        for (let e = 0; e < n; e++) v[e]! -= d * q[b + e]!;
      }
    }
    let norm = 0;
    for (let e = 0; e < n; e++) norm += v[e]! * v[e]!;
    norm = Math.sqrt(norm);
    // What is left of a dependent vector is rounding noise: relative size ~1e-16 per sweep.
    if (norm <= 1e-10 * norm0) continue;
    const b = count * n;
    for (let e = 0; e < n; e++) q[b + e] = v[e]! / norm;
    count++;
  }
  return { q: q.subarray(0, count * n), count };
}

/**
 * Eigendecomposition of a symmetric n×n matrix (eigen.ts: Householder tridiagonalisation + implicit
 * QL, float64). Eigenvalues in descending order; vectors vector-major (row i is the i-th vector).
 */
export function symmetricEigen(g: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const { values: vals, vectors: vecs } = eigenSymmetric(g, n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => vals[b]! - vals[a]! || a - b);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = vals[src]!;
    // Fix the sign (largest-magnitude entry positive) so results do not depend on the solver's
    // arbitrary choice and are reproducible across formulations.
    const row = vecs.subarray(src * n, (src + 1) * n);
    let big = 0;
    for (let r = 0; r < n; r++) if (Math.abs(row[r]!) > Math.abs(big)) big = row[r]!;
    const sign = big < 0 ? -1 : 1;
    for (let r = 0; r < n; r++) vectors[dst * n + r] = sign * row[r]!;
  });
  return { values, vectors };
}
