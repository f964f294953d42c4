// Dense float64 linear algebra for the SVD-family merges: the products, Gram matrices, column
// orthonormalisation and symmetric eigendecomposition they are built from.
//
// Layout: a matrix is a row-major Float64Array. A set of K vectors of length n ("a basis") is kept
// vector-major, i.e. as the K×n transpose, so every vector is contiguous: the loops below then only
// walk memory forwards (dot products of contiguous rows, or axpy into a contiguous row), which is
// what lets V8 run them near its scalar peak. Everything here is float64, inputs and accumulators.
import { eigenSymmetric } from './eigen.ts';
import { useWasmGemm, wasmProduct } from './wasm/dense-wasm.ts';

// The products run on one kernel, accumulateABt: 4×4 tiles of the output (16 accumulators, eight
// loads per sixteen multiply-adds), over blocks of P_BLOCK along the inner dimension and J_BLOCK
// rows of the right factor, so the rows a tile reads stay in cache however long they are (a
// 14336-wide row is 115 KB). Measured on 351×1024 · 1024×1024: ~1.6× the former four-row dot
// kernel; the exact ratio varies with load (experiments/bench/svd-profile.ts).
const P_BLOCK = 256;
const J_BLOCK = 64;
/** mulAB transposes column panels of this many columns of b, then runs the dot kernel on them. */
const PANEL = 64;
/** Below this many rows of a, mulAB keeps the axpy form: a panel transpose would not pay off. */
const PANEL_MIN_ROWS = 16;

/**
 * out[i·ldo + off + j] += Σₚ a[i·k + p]·bt[j·k + p] for i < m, j < n. With `upper` (m = n, a = bt)
 * only tiles touching j ≥ i are computed (the caller mirrors them). The summation order of each
 * entry depends only on k, never on m, n or the tile an entry falls in.
 */
function accumulateABt(a: Float64Array, bt: Float64Array, m: number, k: number, n: number, out: Float64Array, ldo: number, off: number, upper: boolean): void {
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let p0 = 0; p0 < k; p0 += P_BLOCK) {
    const p1 = Math.min(k, p0 + P_BLOCK);
    for (let j0 = 0; j0 < n4; j0 += J_BLOCK) {
      const j1 = Math.min(n4, j0 + J_BLOCK);
      for (let i = 0; i < m4; i += 4) {
        const a0 = i * k;
        const a1 = a0 + k;
        const a2 = a1 + k;
        const a3 = a2 + k;
        for (let j = upper ? Math.max(j0, i) : j0; j < j1; j += 4) {
          const b0 = j * k;
          const b1 = b0 + k;
          const b2 = b1 + k;
          const b3 = b2 + k;
          let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
          let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
          for (let p = p0; p < p1; p++) {
            const x0 = a[a0 + p]!;
            const x1 = a[a1 + p]!;
            const x2 = a[a2 + p]!;
            const x3 = a[a3 + p]!;
            const y0 = bt[b0 + p]!;
            const y1 = bt[b1 + p]!;
            const y2 = bt[b2 + p]!;
            const y3 = bt[b3 + p]!;
            s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
            s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
            s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
            s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
          }
          let o = i * ldo + off + j;
          out[o]! += s00; out[o + 1]! += s01; out[o + 2]! += s02; out[o + 3]! += s03;
          o += ldo;
          out[o]! += s10; out[o + 1]! += s11; out[o + 2]! += s12; out[o + 3]! += s13;
          o += ldo;
          out[o]! += s20; out[o + 1]! += s21; out[o + 2]! += s22; out[o + 3]! += s23;
          o += ldo;
          out[o]! += s30; out[o + 1]! += s31; out[o + 2]! += s32; out[o + 3]! += s33;
        }
      }
    }
    // Edges: the last n % 4 columns of the first m4 rows, then the last m % 4 rows.
    for (let i = 0; i < m4; i++) {
      const ai = i * k;
      for (let j = n4; j < n; j++) {
        const bj = j * k;
        let s = 0;
        for (let p = p0; p < p1; p++) s += a[ai + p]! * bt[bj + p]!;
        out[i * ldo + off + j]! += s;
      }
    }
    for (let i = m4; i < m; i++) {
      const ai = i * k;
      for (let j = upper ? i : 0; j < n; j++) {
        const bj = j * k;
        let s = 0;
        for (let p = p0; p < p1; p++) s += a[ai + p]! * bt[bj + p]!;
        out[i * ldo + off + j]! += s;
      }
    }
  }
}

/** out (m×n) = a (m×k) · bt (n×k)ᵀ: every entry a dot product of two contiguous rows. */
export function mulABt(a: Float64Array, bt: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  if (useWasmGemm(m * k * n) && wasmProduct(a, m, k, bt, 'bt', n, out, n, 0, false)) return out;
  accumulateABt(a, bt, m, k, n, out, n, 0, false);
  return out;
}

/**
 * out (m×n) = a (m×k) · b (k×n). With enough rows of a, b is transposed one panel of PANEL
 * columns at a time (a k×PANEL copy, never the whole of b) and the dot kernel runs on it;
 * otherwise rows of b are added into rows of out (axpy), four rows of out at a time.
 */
export function mulAB(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  if (m >= PANEL_MIN_ROWS) {
    if (useWasmGemm(m * k * n) && wasmProduct(a, m, k, b, 'b', n, out, n, 0, false)) return out;
    const panel = new Float64Array(PANEL * k);
    for (let j0 = 0; j0 < n; j0 += PANEL) {
      const w = Math.min(PANEL, n - j0);
      for (let p = 0; p < k; p++) {
        const bp = p * n + j0;
        for (let j = 0; j < w; j++) panel[j * k + p] = b[bp + j]!;
      }
      accumulateABt(a, panel, m, k, w, out, n, j0, false);
    }
    return out;
  }
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

/** Gram matrix (K×K) of K vectors of length n stored vector-major: the upper triangle, mirrored. */
export function gramOfRows(x: Float64Array, kk: number, n: number): Float64Array {
  const g = new Float64Array(kk * kk);
  if (!(useWasmGemm((kk * kk * n) / 2) && wasmProduct(x, kk, n, x, 'bt', kk, g, kk, 0, true))) accumulateABt(x, x, kk, n, kk, g, kk, 0, true);
  for (let i = 0; i < kk; i++) for (let j = i + 1; j < kk; j++) g[j * kk + i] = g[i * kk + j]!;
  return g;
}

/** The transpose of a row-major m×n matrix. */
export function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a[i * n + j]!;
  return out;
}

/** Vectors orthonormalised together by orthonormalRows: a panel's projections are two products. */
const ORTHO_PANEL = 32;

/**
 * Orthonormalise K vectors of length n (vector-major), in order, by block Gram-Schmidt with
 * re-orthogonalisation ("twice is enough"): each panel of ORTHO_PANEL vectors has the accepted
 * vectors Q projected out twice, X ← X − (X·Qᵀ)·Q (two products on the tiled kernel, instead of
 * one dot and one axpy per pair of vectors), then modified Gram-Schmidt, also twice, inside the
 * panel. A vector whose remainder is below 1e-10 of its original norm (dependent on earlier ones:
 * what is left is rounding noise, ~1e-16 relative per sweep) is dropped, so the result may hold
 * fewer vectors; returns them vector-major with their count.
 */
export function orthonormalRows(x: Float64Array, kk: number, n: number): { q: Float64Array; count: number } {
  const q = new Float64Array(kk * n);
  let count = 0;
  for (let p0 = 0; p0 < kk; p0 += ORTHO_PANEL) {
    const pw = Math.min(ORTHO_PANEL, kk - p0);
    const panel = x.slice(p0 * n, (p0 + pw) * n);
    const norm0 = new Float64Array(pw);
    for (let i = 0; i < pw; i++) norm0[i] = Math.sqrt(dot(panel, i * n, panel, i * n, n));
    if (count > 0) {
      const qs = q.subarray(0, count * n);
      for (let sweep = 0; sweep < 2; sweep++) {
        const back = mulAB(mulABt(panel, qs, pw, n, count), qs, pw, count, n);
        for (let e = 0; e < panel.length; e++) panel[e]! -= back[e]!;
      }
    }
    const first = count;
    for (let i = 0; i < pw; i++) {
      if (norm0[i] === 0) continue;
      const v = i * n;
      for (let sweep = 0; sweep < 2; sweep++) {
        for (let j = first; j < count; j++) {
          const d = dot(q, j * n, panel, v, n);
          for (let e = 0; e < n; e++) panel[v + e]! -= d * q[j * n + e]!;
        }
      }
      const norm = Math.sqrt(dot(panel, v, panel, v, n));
      if (norm <= 1e-10 * norm0[i]!) continue;
      const b = count * n;
      for (let e = 0; e < n; e++) q[b + e] = panel[v + e]! / norm;
      count++;
    }
  }
  return { q: q.subarray(0, count * n), count };
}

function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, n: number): number {
  let s = 0;
  for (let e = 0; e < n; e++) s += x[xo + e]! * y[yo + e]!;
  return s;
}

/**
 * Eigendecomposition of a symmetric n×n matrix (eigen.ts: Householder tridiagonalisation, then divide
 * and conquer — or implicit QL below 96 rows —, float64). Eigenvalues in descending order, all n;
 * vectors vector-major (row i is the i-th vector), only the first `want` (default all): the others
 * are not computed, which saves part of the back-transformation.
 */
export function symmetricEigen(g: Float64Array, n: number, want = n): { values: Float64Array; vectors: Float64Array } {
  const count = Math.max(0, Math.min(n, Math.floor(want)));
  const { values: vals, vectors: vecs, rows } = eigenSymmetric(g, n, count);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => vals[b]! - vals[a]! || a - b);
  const at = new Int32Array(n).fill(-1); // value index → row of vecs
  if (rows) rows.forEach((r, i) => (at[r] = i));
  else for (let i = 0; i < n; i++) at[i] = i;
  const values = new Float64Array(n);
  const vectors = new Float64Array(count * n);
  order.forEach((src, dst) => {
    values[dst] = vals[src]!;
    if (dst >= count) return;
    // Fix the sign (largest-magnitude entry positive) so results do not depend on the solver's
    // arbitrary choice and are reproducible across formulations.
    const row = vecs.subarray(at[src]! * n, (at[src]! + 1) * n);
    let big = 0;
    for (let r = 0; r < n; r++) if (Math.abs(row[r]!) > Math.abs(big)) big = row[r]!;
    const sign = big < 0 ? -1 : 1;
    for (let r = 0; r < n; r++) vectors[dst * n + r] = sign * row[r]!;
  });
  return { values, vectors };
}
