// WebAssembly SIMD float64 matrix product for the SVD family's dense linear algebra (dense.ts).
//
// One kernel: out (m×n, row stride ldo) += a (m×k, row-major) · B, where B's columns come packed
// four at a time: packed[t·k·4 + p·4 + c] = B[p][4t + c] (a zero column pads the last group). The
// packing lets one v128 load fetch two neighbouring output columns' factors at the same p, so a 4×4
// output tile is eight f64x2 accumulators fed by two loads and four splats per p.
//
// The result is bit-identical to dense.ts's JavaScript kernel (accumulateABt): every output entry
// is summed in the same order — over blocks of P_BLOCK along p, each block's products added left
// to right into a sum that starts at 0, the block sum then added to the entry — because SIMD lanes
// here hold different output entries, never parts of one sum, and no fused multiply-add exists
// (built with -ffp-contract=off). Which tile an entry falls in never changes its order.
//
// `upper`: only tiles reaching the diagonal or above it (global column ≥ global row, offsets
// row0/col0) are computed: the Gram matrix's lower triangle is mirrored from the upper by the
// caller. Built by build-dense.sh into dense-kernels.wasm.
#include <stddef.h>
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define P_BLOCK 256
#define J_TILES 16

typedef uint32_t u32;

EXPORT(gemm_packed) void gemm_packed(const double *a, const double *packed, u32 m, u32 k, u32 n, double *out, u32 ldo, u32 upper, u32 row0, u32 col0) {
  const u32 tiles = (n + 3) / 4;
  const u32 m4 = m & ~3u;
  for (u32 p0 = 0; p0 < k; p0 += P_BLOCK) {
    const u32 p1 = p0 + P_BLOCK < k ? p0 + P_BLOCK : k;
    for (u32 t0 = 0; t0 < tiles; t0 += J_TILES) {
      const u32 t1 = t0 + J_TILES < tiles ? t0 + J_TILES : tiles;
      for (u32 i = 0; i < m4; i += 4) {
        const double *r0 = a + (size_t)i * k;
        const double *r1 = r0 + k;
        const double *r2 = r1 + k;
        const double *r3 = r2 + k;
        for (u32 t = t0; t < t1; t++) {
          const u32 j = 4 * t;
          if (upper && col0 + j + 3 < row0 + i) continue;
          const double *b = packed + (size_t)t * k * 4;
          v128_t s00 = wasm_f64x2_splat(0), s01 = s00, s10 = s00, s11 = s00;
          v128_t s20 = s00, s21 = s00, s30 = s00, s31 = s00;
          for (u32 p = p0; p < p1; p++) {
            const v128_t y0 = wasm_v128_load(b + 4 * p);
            const v128_t y1 = wasm_v128_load(b + 4 * p + 2);
            const v128_t x0 = wasm_f64x2_splat(r0[p]);
            const v128_t x1 = wasm_f64x2_splat(r1[p]);
            const v128_t x2 = wasm_f64x2_splat(r2[p]);
            const v128_t x3 = wasm_f64x2_splat(r3[p]);
            s00 = wasm_f64x2_add(s00, wasm_f64x2_mul(x0, y0));
            s01 = wasm_f64x2_add(s01, wasm_f64x2_mul(x0, y1));
            s10 = wasm_f64x2_add(s10, wasm_f64x2_mul(x1, y0));
            s11 = wasm_f64x2_add(s11, wasm_f64x2_mul(x1, y1));
            s20 = wasm_f64x2_add(s20, wasm_f64x2_mul(x2, y0));
            s21 = wasm_f64x2_add(s21, wasm_f64x2_mul(x2, y1));
            s30 = wasm_f64x2_add(s30, wasm_f64x2_mul(x3, y0));
            s31 = wasm_f64x2_add(s31, wasm_f64x2_mul(x3, y1));
          }
          const v128_t s[4][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}};
          const u32 w = n - j < 4 ? n - j : 4;
          for (u32 r = 0; r < 4; r++) {
            double *o = out + (size_t)(i + r) * ldo + j;
            double v[4];
            wasm_v128_store(v, s[r][0]);
            wasm_v128_store(v + 2, s[r][1]);
            for (u32 c = 0; c < w; c++) o[c] += v[c];
          }
        }
      }
      // The last m % 4 rows, one at a time (the same order per entry).
      for (u32 i = m4; i < m; i++) {
        const double *ri = a + (size_t)i * k;
        for (u32 t = t0; t < t1; t++) {
          const u32 j = 4 * t;
          if (upper && col0 + j + 3 < row0 + i) continue;
          const double *b = packed + (size_t)t * k * 4;
          v128_t s0 = wasm_f64x2_splat(0), s1 = s0;
          for (u32 p = p0; p < p1; p++) {
            const v128_t x = wasm_f64x2_splat(ri[p]);
            s0 = wasm_f64x2_add(s0, wasm_f64x2_mul(x, wasm_v128_load(b + 4 * p)));
            s1 = wasm_f64x2_add(s1, wasm_f64x2_mul(x, wasm_v128_load(b + 4 * p + 2)));
          }
          const u32 w = n - j < 4 ? n - j : 4;
          double v[4];
          wasm_v128_store(v, s0);
          wasm_v128_store(v + 2, s1);
          double *o = out + (size_t)i * ldo + j;
          for (u32 c = 0; c < w; c++) o[c] += v[c];
        }
      }
    }
  }
}

// Plane rotations of the symmetric eigensolver's QL sweep (eigen.ts), applied to the rows of the
// eigenvector matrix qt (n columns) in the order given: rotation j acts on rows i = rows[j] and i + 1
// with c = cs[2j], s = cs[2j + 1]:  row i+1 ← s·row i + c·row i+1,  row i ← c·row i − s·row i+1 —
// the JavaScript loop's operations, so the same bits. Columns go in blocks of ROT_COLS, all
// rotations per block, so the rows a sweep walks stay in cache; each element still sees the
// rotations in their order.
#define ROT_COLS 512
EXPORT(rotate_rows) void rotate_rows(double *qt, u32 n, const u32 *rows, const double *cs, u32 count) {
  for (u32 k0 = 0; k0 < n; k0 += ROT_COLS) {
    const u32 k1 = k0 + ROT_COLS < n ? k0 + ROT_COLS : n;
    const u32 k2 = k0 + ((k1 - k0) & ~1u);
    for (u32 j = 0; j < count; j++) {
      double *x = qt + (size_t)rows[j] * n;
      double *y = x + n;
      const double c = cs[2 * j], s = cs[2 * j + 1];
      const v128_t vc = wasm_f64x2_splat(c), vs = wasm_f64x2_splat(s);
      for (u32 k = k0; k < k2; k += 2) {
        const v128_t xv = wasm_v128_load(x + k);
        const v128_t yv = wasm_v128_load(y + k);
        wasm_v128_store(y + k, wasm_f64x2_add(wasm_f64x2_mul(vs, xv), wasm_f64x2_mul(vc, yv)));
        wasm_v128_store(x + k, wasm_f64x2_sub(wasm_f64x2_mul(vc, xv), wasm_f64x2_mul(vs, yv)));
      }
      for (u32 k = k2; k < k1; k++) {
        const double xv = x[k], yv = y[k];
        y[k] = s * xv + c * yv;
        x[k] = c * xv - s * yv;
      }
    }
  }
}

// The eigensolver's Householder reduction (eigen.ts tridiagonalize), its three O(k²) loops per step,
// each with the JavaScript loop's operations in the same order (so the same bits):
// tridiag_matvec: pv[0..k) = A·v over the lower triangle of the leading k×k block (row stride n):
//   row i contributes its dot with v (j < i) to pv[i] and x·v[i] to every pv[j]. The dot runs in
//   four interleaved partial sums (lane j mod 4), combined as diag + ((s0 + s2) + (s1 + s3)).
EXPORT(tridiag_matvec) void tridiag_matvec(const double *a, u32 n, u32 k, const double *v, double *pv) {
  for (u32 j = 0; j < k; j++) pv[j] = 0;
  for (u32 i = 0; i < k; i++) {
    const double *ai = a + (size_t)i * n;
    const double vi = v[i];
    const v128_t vvi = wasm_f64x2_splat(vi);
    v128_t acc0 = wasm_f64x2_splat(0), acc1 = acc0;
    const u32 i4 = i & ~3u;
    u32 j = 0;
    for (; j < i4; j += 4) {
      const v128_t x0 = wasm_v128_load(ai + j), x1 = wasm_v128_load(ai + j + 2);
      acc0 = wasm_f64x2_add(acc0, wasm_f64x2_mul(x0, wasm_v128_load(v + j)));
      acc1 = wasm_f64x2_add(acc1, wasm_f64x2_mul(x1, wasm_v128_load(v + j + 2)));
      wasm_v128_store(pv + j, wasm_f64x2_add(wasm_v128_load(pv + j), wasm_f64x2_mul(x0, vvi)));
      wasm_v128_store(pv + j + 2, wasm_f64x2_add(wasm_v128_load(pv + j + 2), wasm_f64x2_mul(x1, vvi)));
    }
    double s[4];
    wasm_v128_store(s, acc0);
    wasm_v128_store(s + 2, acc1);
    for (; j < i; j++) {
      const double x = ai[j];
      s[j & 3] += x * v[j];
      pv[j] += x * vi;
    }
    pv[i] += ai[i] * vi + ((s[0] + s[2]) + (s[1] + s[3]));
  }
}

// tridiag_update: A ← A − v·qᵀ − q·vᵀ on the lower triangle of the leading k×k block.
EXPORT(tridiag_update) void tridiag_update(double *a, u32 n, u32 k, const double *v, const double *q) {
  for (u32 i = 0; i < k; i++) {
    double *ai = a + (size_t)i * n;
    const double vi = v[i], qi = q[i];
    const v128_t vvi = wasm_f64x2_splat(vi), vqi = wasm_f64x2_splat(qi);
    const u32 len = i + 1, l2 = len & ~1u;
    u32 j = 0;
    for (; j < l2; j += 2) {
      const v128_t t = wasm_f64x2_add(wasm_f64x2_mul(vvi, wasm_v128_load(q + j)), wasm_f64x2_mul(vqi, wasm_v128_load(v + j)));
      wasm_v128_store(ai + j, wasm_f64x2_sub(wasm_v128_load(ai + j), t));
    }
    for (; j < len; j++) ai[j] -= vi * q[j] + qi * v[j];
  }
}

// tridiag_syr2k: A[i][j] −= Σ_c X[i][c]·Y[j][c] (c < w, w even) for j ≤ i < k (row stride n), X and Y
//   row-major k×w: the blocked reduction's deferred update of a panel's reflections (X = [V Q],
//   Y = [Q V]). Each dot runs in two lanes (even c, odd c), combined as lane0 + lane1, as the
//   JavaScript loop in eigen.ts.
EXPORT(tridiag_syr2k) void tridiag_syr2k(double *a, u32 n, u32 k, const double *x, const double *y, u32 w) {
  for (u32 i = 0; i < k; i++) {
    const double *xi = x + (size_t)i * w;
    double *ai = a + (size_t)i * n;
    u32 j = 0;
    for (; j + 1 <= i; j += 2) {
      const double *y0 = y + (size_t)j * w;
      const double *y1 = y0 + w;
      v128_t s0 = wasm_f64x2_splat(0), s1 = s0;
      for (u32 c = 0; c < w; c += 2) {
        const v128_t xv = wasm_v128_load(xi + c);
        s0 = wasm_f64x2_add(s0, wasm_f64x2_mul(xv, wasm_v128_load(y0 + c)));
        s1 = wasm_f64x2_add(s1, wasm_f64x2_mul(xv, wasm_v128_load(y1 + c)));
      }
      ai[j] -= wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
      ai[j + 1] -= wasm_f64x2_extract_lane(s1, 0) + wasm_f64x2_extract_lane(s1, 1);
    }
    for (; j <= i; j++) {
      const double *y0 = y + (size_t)j * w;
      v128_t s0 = wasm_f64x2_splat(0);
      for (u32 c = 0; c < w; c += 2) s0 = wasm_f64x2_add(s0, wasm_f64x2_mul(wasm_v128_load(xi + c), wasm_v128_load(y0 + c)));
      ai[j] -= wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
    }
  }
}

// householder_apply: P[0..k)[0..k) ← (I − v·vᵀ/h)·P on the leading block (row stride n): w = vᵀ·P
// (rows with v[i] = 0 skipped), then row i −= (v[i]/h)·w (rows with v[i]/h = 0 skipped).
EXPORT(householder_apply) void householder_apply(double *p, u32 n, u32 k, const double *v, double h, double *w) {
  const u32 k2 = k & ~1u;
  for (u32 j = 0; j < k; j++) w[j] = 0;
  for (u32 i = 0; i < k; i++) {
    const double vi = v[i];
    if (vi == 0) continue;
    const double *pi = p + (size_t)i * n;
    const v128_t s = wasm_f64x2_splat(vi);
    u32 j = 0;
    for (; j < k2; j += 2) wasm_v128_store(w + j, wasm_f64x2_add(wasm_v128_load(w + j), wasm_f64x2_mul(s, wasm_v128_load(pi + j))));
    for (; j < k; j++) w[j] += vi * pi[j];
  }
  for (u32 i = 0; i < k; i++) {
    const double f = v[i] / h;
    if (f == 0) continue;
    double *pi = p + (size_t)i * n;
    const v128_t s = wasm_f64x2_splat(f);
    u32 j = 0;
    for (; j < k2; j += 2) wasm_v128_store(pi + j, wasm_f64x2_sub(wasm_v128_load(pi + j), wasm_f64x2_mul(s, wasm_v128_load(w + j))));
    for (; j < k; j++) pi[j] -= f * w[j];
  }
}
