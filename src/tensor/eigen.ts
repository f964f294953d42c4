// Symmetric eigendecomposition on flat float64 arrays: Householder reduction to tridiagonal form,
// then, from DC_MIN_N rows on, divide and conquer on the tridiagonal matrix (tridiagonal-dc.ts) and
// the blocked back-transformation of its eigenvectors through the reflectors (compact WY form, three
// matrix products per block of 64); below that, the implicit QL iteration with Wilkinson-type shifts
// (the classic EISPACK route; Golub & Van Loan §8.3) on the explicitly formed P. Written for the
// SVD-family merges, whose Gram matrices reach 2048×2048 and beyond: every inner loop here walks a
// contiguous row (the eigenvector rotations act on rows of Qᵀ, not on columns of Q), which is
// several times faster in V8 than an array-of-arrays implementation.
// Accuracy: backward stable — eigenvalues within ~n·1e-16·‖A‖ of the exact ones, eigenvectors
// orthonormal to ~n·1e-16 (checked in test/svd.test.ts and test/eigen-dc.test.ts against ml-matrix).
// Cost at n = 2048 (experiments/bench/svd-profile.ts, CPU-seconds of one core): the QL route took
// ~17 (reduction 3.5, forming P 5.2 — both memory-bound, one reflector at a time — and the QL
// rotations ~9); divide and conquer takes ~1.3 and the blocked back-transformation ~2 (both on the
// matrix-product kernel), leaving the reduction as the largest part.
// The reduction's O(k²) loops per step and the QL sweeps' rotations of the eigenvector rows run on
// WebAssembly SIMD when the kernel backend is wasm (dense-kernels.c), with the same bits as the
// JavaScript loops here; the products of the large-n path are dense.ts's (the same bits on either
// backend too).
import { gramOfRows, mulAB, mulABt } from './dense.ts';
import { tridiagonalDc } from './tridiagonal-dc.ts';
import { PANEL_WIDTH, type RotationWorkspace, type TridiagonalOps, wasmRotations, wasmTridiagonal } from './wasm/dense-wasm.ts';

/** From this size on the tridiagonal problem goes to divide and conquer (tridiagonal-dc.ts), below it to QL. */
export const DC_MIN_N = 96;

/** QL on an identity: the leaf solver of the divide and conquer. */
function qlLeaf(d: Float64Array, e: Float64Array, n: number): Float64Array {
  const qt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) qt[i * n + i] = 1;
  tridiagonalQl(d, e, jsRotations(qt, n), n);
  return qt;
}

/** Below this size the rotations stay in JavaScript (copying into wasm memory would not pay). */
const WASM_MIN_N = 32;

/** The rotations of a sweep applied in plain JavaScript, in the order recorded (same bits as wasm). */
function jsRotations(qt: Float64Array, n: number): Rotations {
  const rows = new Uint32Array(n);
  const cs = new Float64Array(2 * n);
  return {
    qt,
    rows,
    cs,
    apply(count) {
      for (let j = 0; j < count; j++) {
        const ri = rows[j]! * n;
        const rj = ri + n;
        const c = cs[2 * j]!;
        const s = cs[2 * j + 1]!;
        for (let k = 0; k < n; k++) {
          const x = qt[ri + k]!;
          const y = qt[rj + k]!;
          qt[rj + k] = s * x + c * y;
          qt[ri + k] = c * x - s * y;
        }
      }
    },
  };
}

type Rotations = Pick<RotationWorkspace, 'qt' | 'rows' | 'cs' | 'apply'>;

/**
 * Eigenvalues (unordered) and eigenvectors as the rows of `vectors` (row i belongs to value i). With
 * `want` < n, only the eigenvectors of the `want` largest values (ties: lower index first) are
 * formed: `vectors` holds `want` rows and `rows[i]` is the index of row i's value.
 */
export function eigenSymmetric(g: Float64Array, n: number, want = n): { values: Float64Array; vectors: Float64Array; rows?: Int32Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(n); // e[i] couples i and i+1 after the reduction
  const ops = (n >= WASM_MIN_N ? wasmTridiagonal(g, n) : null) ?? jsTridiagonal(g, n);
  const refl = tridiagonalize(ops, n, d, e);
  if (n >= DC_MIN_N) {
    // Divide and conquer (tridiagonal-dc.ts) on T, then the vectors back through the reflectors (P·z).
    const zt = tridiagonalDc(d, e, n, qlLeaf);
    if (want < n) {
      // Only the wanted vectors go through the back-transformation (its cost is linear in their count).
      const rows = Int32Array.from(Array.from({ length: n }, (_, i) => i).sort((a, b) => d[b]! - d[a]! || a - b).slice(0, want));
      const sub = new Float64Array(want * n);
      rows.forEach((r, i) => sub.set(zt.subarray(r * n, (r + 1) * n), i * n));
      backTransform(sub, want, n, refl);
      return { values: d, vectors: sub, rows };
    }
    backTransform(zt, n, n, refl);
    return { values: d, vectors: zt };
  }
  const qt = transposeSquare(formP(ops, n, refl), n); // rows of Qᵀ: the vectors the rotations act on
  const ws = n >= WASM_MIN_N ? wasmRotations(qt, n) : null;
  tridiagonalQl(d, e, ws ?? jsRotations(qt, n), n);
  return { values: d, vectors: ws ? ws.finish() : qt };
}

/**
 * The O(k²) loops of one reduction step, in plain JavaScript: the wasm kernels (dense-kernels.c:
 * tridiag_matvec, tridiag_update, householder_apply) do the same operations in the same order.
 */
function jsTridiagonal(g: Float64Array, n: number): TridiagonalOps {
  const a = Float64Array.from(g);
  const pm = new Float64Array(n * n);
  const v = new Float64Array(n);
  const pv = new Float64Array(n);
  const w = new Float64Array(n);
  const x = new Float64Array(n * PANEL_WIDTH);
  const y = new Float64Array(n * PANEL_WIDTH);
  return {
    a,
    pm,
    v,
    pv,
    x,
    y,
    syr2k(k, width) {
      // Each dot in two partial sums (even c, odd c), as the SIMD kernel's two lanes.
      for (let i = 0; i < k; i++) {
        const xi = i * width;
        const ai = i * n;
        let j = 0;
        for (; j + 1 <= i; j += 2) {
          const y0 = j * width;
          const y1 = y0 + width;
          let a0 = 0, a1 = 0, b0 = 0, b1 = 0;
          for (let c = 0; c < width; c += 2) {
            const x0 = x[xi + c]!;
            const x1 = x[xi + c + 1]!;
            a0 += x0 * y[y0 + c]!;
            a1 += x1 * y[y0 + c + 1]!;
            b0 += x0 * y[y1 + c]!;
            b1 += x1 * y[y1 + c + 1]!;
          }
          a[ai + j]! -= a0 + a1;
          a[ai + j + 1]! -= b0 + b1;
        }
        for (; j <= i; j++) {
          const y0 = j * width;
          let a0 = 0, a1 = 0;
          for (let c = 0; c < width; c += 2) {
            a0 += x[xi + c]! * y[y0 + c]!;
            a1 += x[xi + c + 1]! * y[y0 + c + 1]!;
          }
          a[ai + j]! -= a0 + a1;
        }
      }
    },
    matvec(k) {
      // pv = A·v over the lower triangle: row i gives its dot with v (in four interleaved partial
      // sums, lane j mod 4, as the SIMD kernel) to pv[i] and x·v[i] to every pv[j], j < i.
      pv.fill(0, 0, k);
      for (let i = 0; i < k; i++) {
        const ai = i * n;
        const vi = v[i]!;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        const i4 = i & ~3;
        let j = 0;
        for (; j < i4; j += 4) {
          const x0 = a[ai + j]!;
          const x1 = a[ai + j + 1]!;
          const x2 = a[ai + j + 2]!;
          const x3 = a[ai + j + 3]!;
          s0 += x0 * v[j]!;
          s1 += x1 * v[j + 1]!;
          s2 += x2 * v[j + 2]!;
          s3 += x3 * v[j + 3]!;
          pv[j]! += x0 * vi;
          pv[j + 1]! += x1 * vi;
          pv[j + 2]! += x2 * vi;
          pv[j + 3]! += x3 * vi;
        }
        for (; j < i; j++) {
          const x = a[ai + j]!;
          const t = x * v[j]!;
          if ((j & 3) === 0) s0 += t;
          else if ((j & 3) === 1) s1 += t;
          else if ((j & 3) === 2) s2 += t;
          else s3 += t;
          pv[j]! += x * vi;
        }
        pv[i]! += a[ai + i]! * vi + ((s0 + s2) + (s1 + s3));
      }
    },
    update(k) {
      for (let i = 0; i < k; i++) {
        const ai = i * n;
        const vi = v[i]!;
        const qi = pv[i]!;
        for (let j = 0; j <= i; j++) a[ai + j]! -= vi * pv[j]! + qi * v[j]!;
      }
    },
    apply(k, h) {
      w.fill(0, 0, k);
      for (let i = 0; i < k; i++) {
        const vi = v[i]!;
        if (vi === 0) continue;
        const pi = i * n;
        for (let j = 0; j < k; j++) w[j]! += vi * pm[pi + j]!;
      }
      for (let i = 0; i < k; i++) {
        const f = v[i]! / h;
        if (f === 0) continue;
        const pi = i * n;
        for (let j = 0; j < k; j++) pm[pi + j]! -= f * w[j]!;
      }
    },
  };
}

/**
 * Reduce the symmetric matrix in ops.a (overwritten) to tridiagonal T = Pᵀ·A·P. Returns P (row-major,
 * ops.pm); fills the diagonal of T in d and the off-diagonal in e (e[i] = T[i+1][i], e[n−1] = 0).
 */
function tridiagonalize(ops: TridiagonalOps, n: number, d: Float64Array, e: Float64Array): Reflectors {
  const { a, v, pv } = ops;
  const vs = new Float64Array(n * n); // row k: the Householder vector of step k (entries < k)
  const hs = new Float64Array(n); // its h = |v|²/2 (0: no reflection at that step)
  const sub = new Float64Array(n); // sub[k] = T[k][k−1]
  const blocked = n >= blockedMinN;
  const nb = PANEL_WIDTH / 2;
  // The panel's reflections not yet applied to A (blocked): A_true = A − Σₜ (vₜ·qₜᵀ + qₜ·vₜᵀ),
  // vₜ and qₜ vector-major, zero past their step's k.
  const vp = blocked ? new Float64Array(nb * n) : new Float64Array(0);
  const qp = blocked ? new Float64Array(nb * n) : new Float64Array(0);
  let pending = 0;
  for (let k = n - 1; k >= 1; k--) {
    const row = k * n;
    if (blocked) {
      // Row k (entries ≤ k) as the panel's earlier steps left it; it is final from here on.
      for (let t = 0; t < pending; t++) {
        const o = t * n;
        const vk = vp[o + k]!;
        const qk = qp[o + k]!;
        for (let j = 0; j <= k; j++) a[row + j]! -= vk * qp[o + j]! + qk * vp[o + j]!;
      }
    }
    let scale = 0;
    for (let j = 0; j < k; j++) scale += Math.abs(a[row + j]!);
    if (k === 1 || scale === 0) {
      sub[k] = a[row + k - 1]!;
    } else {
      // Householder vector v (scaled by 1/scale, which H = I − v·vᵀ/h does not see) mapping row k's
      // first k entries onto the last of them.
      let sigma = 0;
      for (let j = 0; j < k; j++) {
        v[j] = a[row + j]! / scale;
        sigma += v[j]! * v[j]!;
      }
      const f = v[k - 1]!;
      const gg = f >= 0 ? -Math.sqrt(sigma) : Math.sqrt(sigma);
      sub[k] = scale * gg;
      const h = sigma - f * gg;
      v[k - 1] = f - gg;
      hs[k] = h;
      vs.set(v.subarray(0, k), row);
      // A ← H·A·H on the leading k×k block: p = A·v/h, q = p − (vᵀp / 2h)·v, A −= v·qᵀ + q·vᵀ.
      // Only the lower triangle (j ≤ i) is read and kept up to date.
      ops.matvec(k);
      if (blocked) {
        // p = A_true·v: the stored A's product, less the panel's pending terms.
        for (let t = 0; t < pending; t++) {
          const o = t * n;
          let dq = 0;
          let dv = 0;
          for (let i = 0; i < k; i++) {
            dq += qp[o + i]! * v[i]!;
            dv += vp[o + i]! * v[i]!;
          }
          for (let i = 0; i < k; i++) pv[i]! -= vp[o + i]! * dq + qp[o + i]! * dv;
        }
      }
      let vq = 0;
      for (let i = 0; i < k; i++) {
        pv[i]! /= h;
        vq += v[i]! * pv[i]!;
      }
      const kk = vq / (2 * h);
      for (let i = 0; i < k; i++) pv[i]! -= kk * v[i]!;
      if (blocked) {
        const o = pending * n;
        vp.fill(0, o, o + n);
        qp.fill(0, o, o + n);
        vp.set(v.subarray(0, k), o);
        qp.set(pv.subarray(0, k), o);
        pending++;
      } else {
        ops.update(k);
      }
    }
    // End of a panel (or of the reduction): the leading k×k block, which the next steps read, gets
    // the pending reflections in one pass (rows ≥ k were brought up to date one by one above).
    if (blocked && pending > 0 && (pending === nb || k === 1)) {
      flushPanel(ops, vp, qp, pending, k, n);
      pending = 0;
    }
  }
  for (let k = 0; k < n; k++) d[k] = a[k * n + k]!;
  for (let k = 0; k + 1 < n; k++) e[k] = sub[k + 1]!;
  e[n - 1] = 0;
  return { vs, hs };
}

/**
 * From this size on the reduction defers its updates over panels of PANEL_WIDTH / 2 steps. Measured
 * (CPU-s of the reduction, same run, shared machine): n = 2048 2.35–2.49 blocked against 3.10
 * unblocked (the whole eigendecomposition 5.0–5.4 against 6.5–6.8); at 1536 the two are even, at
 * 1024–1280 the unblocked one is faster (its matrix stays in cache, so its per-step update is not
 * bound by memory, and the panel's corrections cost more than they save).
 * MERGESEARCH_BLOCKED_REDUCTION_FROM=N overrides it (benchmarks: a large N is the unblocked route).
 */
export const BLOCKED_MIN_N = 1792;
let blockedMinN = Number(process.env.MERGESEARCH_BLOCKED_REDUCTION_FROM ?? BLOCKED_MIN_N);

/** Run `f` with the reduction blocked from `minN` rows on (tests, benchmarks: Infinity = never, 0 = always). */
export function withBlockedReductionFrom<T>(minN: number, f: () => T): T {
  const prev = blockedMinN;
  blockedMinN = minN;
  try {
    return f();
  } finally {
    blockedMinN = prev;
  }
}

/**
 * A ← A − V·Qᵀ − Q·Vᵀ on the lower triangle of the leading `size`×`size` block, V and Q the panel's
 * `count` pending vectors: x's row i = [v₀[i] … v_c[i], q₀[i] … q_c[i]], y's = [q's, v's], then
 * one syr2k pass (each entry of A read and written once per panel instead of once per step).
 */
function flushPanel(ops: TridiagonalOps, vp: Float64Array, qp: Float64Array, count: number, size: number, n: number): void {
  const { x, y } = ops;
  const w = 2 * count;
  for (let i = 0; i < size; i++) {
    const r = i * w;
    for (let t = 0; t < count; t++) {
      const vi = vp[t * n + i]!;
      const qi = qp[t * n + i]!;
      x[r + t] = vi;
      x[r + count + t] = qi;
      y[r + t] = qi;
      y[r + count + t] = vi;
    }
  }
  ops.syr2k(size, w);
}

/** The reduction's Householder reflectors: H_k = I − v_k·v_kᵀ/h_k, v_k = row k of vs (entries < k); h_k = 0: none. */
interface Reflectors {
  vs: Float64Array;
  hs: Float64Array;
}

/**
 * P = H_{n−1}·…·H₂ explicitly (row-major, ops.pm), built by left-multiplying the identity by H₂, H₃, …:
 * H_k acts on the leading k rows, where everything before it lives. One reflector at a time (memory
 * bound): the QL path's start, for small n.
 */
function formP(ops: TridiagonalOps, n: number, { vs, hs }: Reflectors): Float64Array {
  const { pm, v } = ops;
  pm.fill(0);
  for (let i = 0; i < n; i++) pm[i * n + i] = 1;
  for (let k = 2; k < n; k++) {
    const h = hs[k]!;
    if (h === 0) continue;
    v.set(vs.subarray(k * n, k * n + k));
    ops.apply(k, h);
  }
  return pm;
}

/** Reflectors per block of the blocked back-transformation. */
const WY_BLOCK = 64;

/**
 * Rows of zt (vector-major: `count` vectors z of length n) ← (P·z)ᵀ, P = H_{n−1}·…·H₂, in blocks of
 * WY_BLOCK reflectors: H_{k₁}·…·H_{k₀} = I − W·T·Wᵀ (compact WY form; W's columns the block's v_k,
 * T lower triangular: T_ii = 1/h_i, row i below the diagonal −T_ii·(w_iᵀ·W_{<i})·T_{<i}), so each
 * block is three products on the fast kernel: Y = Z·W, Y ← Y·Tᵀ, Z −= Y·Wᵀ (about n³ multiply-adds
 * in all, instead of forming P reflector by reflector and then multiplying).
 */
function backTransform(zt: Float64Array, count: number, n: number, { vs, hs }: Reflectors): void {
  for (let k0 = 2; k0 < n; k0 += WY_BLOCK) {
    const k1 = Math.min(n - 1, k0 + WY_BLOCK - 1);
    const b = k1 - k0 + 1;
    const len = k1; // v_k has entries < k ≤ k1
    const w = new Float64Array(b * len);
    const tau = new Float64Array(b);
    for (let i = 0; i < b; i++) {
      const k = k0 + i;
      if (hs[k] === 0) continue;
      w.set(vs.subarray(k * n, k * n + k), i * len);
      tau[i] = 1 / hs[k]!;
    }
    const s = gramOfRows(w, b, len);
    const t = new Float64Array(b * b);
    for (let i = 0; i < b; i++) {
      t[i * b + i] = tau[i]!;
      for (let l = 0; l < i; l++) {
        let acc = 0;
        for (let p = l; p < i; p++) acc += s[i * b + p]! * t[p * b + l]!;
        t[i * b + l] = -tau[i]! * acc;
      }
    }
    const zs = new Float64Array(count * len);
    for (let j = 0; j < count; j++) zs.set(zt.subarray(j * n, j * n + len), j * len);
    const y = mulABt(mulABt(zs, w, count, len, b), t, count, b, b);
    const upd = mulAB(y, w, count, b, len);
    for (let j = 0; j < count; j++) {
      const o = j * n;
      const u = j * len;
      for (let x = 0; x < len; x++) zt[o + x]! -= upd[u + x]!;
    }
  }
}

/**
 * Diagonalise the symmetric tridiagonal (d, e) in place by implicit QL steps, applying every
 * rotation to the rows of qt (so that qt ends as the eigenvectors, one per row).
 */
function tridiagonalQl(d: Float64Array, e: Float64Array, rot: Rotations, n: number): void {
  // Besides the usual test relative to the neighbouring diagonal entries, an off-diagonal entry
  // below n·1e-16·‖T‖ is treated as zero: a perturbation of that size is within the stated
  // backward error anyway, and without it a large cluster of (near-)zero eigenvalues — a
  // rank-deficient Gram matrix, e.g. identical task vectors stacked in TSV-M (measured: 682 zero
  // eigenvalues of a 1023×1023 Gram, off-diagonals stuck at ~5e-16) — never splits. The iteration
  // budget is shared by all eigenvalues (30·n steps, as LAPACK's steqr), not 60 per eigenvalue.
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i]!) + Math.abs(e[i]!) + (i > 0 ? Math.abs(e[i - 1]!) : 0));
  const tiny = n * 1e-16 * norm;
  let iterations = 0;
  for (let l = 0; l < n; l++) {
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]!) + Math.abs(d[m + 1]!);
        if (Math.abs(e[m]!) <= 1e-16 * dd || Math.abs(e[m]!) <= tiny || Math.abs(e[m]!) + dd === dd) break;
      }
      if (m === l) break;
      if (++iterations > 30 * n) throw new Error(`eigenSymmetric: no convergence for eigenvalue ${l} of ${n}`);
      // Shift from the leading 2×2 block (Wilkinson).
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      let deflated = false;
      let count = 0;
      for (; i >= l; i--) {
        const f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the matrix splits here; redo from l.
          d[i + 1]! -= p;
          e[m] = 0;
          deflated = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        // Recorded, applied to the eigenvector rows after the sweep (they do not feed back into it).
        rot.rows[count] = i;
        rot.cs[2 * count] = c;
        rot.cs[2 * count + 1] = s;
        count++;
      }
      rot.apply(count);
      if (deflated) continue;
      d[l]! -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

function transposeSquare(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j]!;
  return out;
}
