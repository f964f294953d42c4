// WebAssembly SIMD kernels for scoring: the dense layers of a forward pass (y = x·Wᵀ + b over many
// rows at once), LayerNorm + ReLU, and the rows' L2 normalisation for a cosine head. Built into
// forward-kernels.wasm by build-kernels.sh (npm run build:kernels); called from src/models/mlp-rows-forward.ts.
//
// Layout. A weight W [out, in] (the checkpoint's own layout) is packed once per call into panels
// of 8 output columns: panel j holds, for k = 0..in-1, the 8 values W[8j..8j+7][k] side by side
// (columns past `out` are zero). The product then streams one panel against 4 input rows at a time:
// per k, two vector loads of the panel, one broadcast per row, 8 vector multiply-adds. Every output
// element is the plain sequential float32 sum over k (no blocking of k, no fused multiply-add), so
// the result does not depend on how rows are split between threads.
#include <wasm_simd128.h>

#define PANEL 8
#define EXPORT(name) __attribute__((export_name(#name)))

/** Pack w [out, in] into ceil(out/8) panels of [in][8] (zero-padded) at p. */
EXPORT(pack_panels) void pack_panels(const float* w, int out, int in, float* p) {
  for (int o0 = 0; o0 < out; o0 += PANEL) {
    float* q = p + (o0 / PANEL) * in * PANEL;
    for (int k = 0; k < in; k++)
      for (int j = 0; j < PANEL; j++) q[k * PANEL + j] = o0 + j < out ? w[(o0 + j) * in + k] : 0.0f;
  }
}

/** Rows of x kept in cache while every panel streams past them. */
#define ROW_BLOCK 32

/**
 * h[r][o] = Σₖ x[r][k]·W[o][k] + b[o] for r < rows, o < outPad (outPad: out rounded up to 8; the
 * bias b holds outPad values, zero past out). x has row stride ldx, h has row stride outPad.
 */
EXPORT(linear_rows) void linear_rows(const float* x, int ldx, int rows, int in, const float* p, const float* b, int outPad, float* h) {
  for (int rb = 0; rb < rows; rb += ROW_BLOCK) {
    int re = rb + ROW_BLOCK < rows ? rb + ROW_BLOCK : rows;
    for (int o0 = 0; o0 < outPad; o0 += PANEL) {
      const float* pp = p + (o0 / PANEL) * in * PANEL;
      v128_t b0 = wasm_v128_load(b + o0), b1 = wasm_v128_load(b + o0 + 4);
      int r = rb;
      for (; r + 4 <= re; r += 4) {
        const float* x0 = x + r * ldx;
        const float* x1 = x0 + ldx;
        const float* x2 = x1 + ldx;
        const float* x3 = x2 + ldx;
        v128_t a00 = wasm_f32x4_splat(0.0f), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        for (int k = 0; k < in; k++) {
          v128_t p0 = wasm_v128_load(pp + k * PANEL), p1 = wasm_v128_load(pp + k * PANEL + 4);
          v128_t s = wasm_v128_load32_splat(x0 + k);
          a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(s, p0));
          a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(s, p1));
          s = wasm_v128_load32_splat(x1 + k);
          a10 = wasm_f32x4_add(a10, wasm_f32x4_mul(s, p0));
          a11 = wasm_f32x4_add(a11, wasm_f32x4_mul(s, p1));
          s = wasm_v128_load32_splat(x2 + k);
          a20 = wasm_f32x4_add(a20, wasm_f32x4_mul(s, p0));
          a21 = wasm_f32x4_add(a21, wasm_f32x4_mul(s, p1));
          s = wasm_v128_load32_splat(x3 + k);
          a30 = wasm_f32x4_add(a30, wasm_f32x4_mul(s, p0));
          a31 = wasm_f32x4_add(a31, wasm_f32x4_mul(s, p1));
        }
        float* h0 = h + r * outPad + o0;
        wasm_v128_store(h0, wasm_f32x4_add(a00, b0));
        wasm_v128_store(h0 + 4, wasm_f32x4_add(a01, b1));
        wasm_v128_store(h0 + outPad, wasm_f32x4_add(a10, b0));
        wasm_v128_store(h0 + outPad + 4, wasm_f32x4_add(a11, b1));
        wasm_v128_store(h0 + 2 * outPad, wasm_f32x4_add(a20, b0));
        wasm_v128_store(h0 + 2 * outPad + 4, wasm_f32x4_add(a21, b1));
        wasm_v128_store(h0 + 3 * outPad, wasm_f32x4_add(a30, b0));
        wasm_v128_store(h0 + 3 * outPad + 4, wasm_f32x4_add(a31, b1));
      }
      for (; r < re; r++) {
        const float* x0 = x + r * ldx;
        v128_t a00 = wasm_f32x4_splat(0.0f), a01 = a00;
        for (int k = 0; k < in; k++) {
          v128_t s = wasm_v128_load32_splat(x0 + k);
          a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(s, wasm_v128_load(pp + k * PANEL)));
          a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(s, wasm_v128_load(pp + k * PANEL + 4)));
        }
        float* h0 = h + r * outPad + o0;
        wasm_v128_store(h0, wasm_f32x4_add(a00, b0));
        wasm_v128_store(h0 + 4, wasm_f32x4_add(a01, b1));
      }
    }
  }
}

static float sqrt_f32(float x) { return __builtin_sqrtf(x); }
static double sqrt_f64(double x) { return __builtin_sqrt(x); }

/**
 * In place on h [rows, stride], the first `width` columns of each row: LayerNorm with weight g and
 * bias beta when layerNorm is set (mean and variance accumulated in float64, then the float32
 * steps (h - mean) / sqrt(var + eps) · g + beta), then ReLU. Columns past width are left as they are.
 */
EXPORT(norm_relu_rows) void norm_relu_rows(float* h, int rows, int stride, int width, int layerNorm, const float* g, const float* beta, float eps) {
  for (int r = 0; r < rows; r++) {
    float* row = h + r * stride;
    if (layerNorm) {
      double s = 0;
      for (int c = 0; c < width; c++) s += row[c];
      double mean = s / width;
      double q = 0;
      for (int c = 0; c < width; c++) {
        double d = row[c] - mean;
        q += d * d;
      }
      float m = (float)mean;
      float sd = sqrt_f32((float)(q / width) + eps);
      for (int c = 0; c < width; c++) {
        float y = (row[c] - m) / sd * g[c] + beta[c];
        row[c] = y > 0.0f ? y : 0.0f;
      }
    } else {
      for (int c = 0; c < width; c++) row[c] = row[c] > 0.0f ? row[c] : 0.0f;
    }
  }
}

/** In place: each of `rows` rows (first `width` columns, row stride `stride`) divided by max(‖row‖₂, floor). */
EXPORT(l2_normalize_rows) void l2_normalize_rows(float* h, int rows, int stride, int width, float floor) {
  for (int r = 0; r < rows; r++) {
    float* row = h + r * stride;
    double q = 0;
    for (int c = 0; c < width; c++) q += (double)row[c] * row[c];
    double n = sqrt_f64(q);
    float norm = (float)(n > floor ? n : floor);
    for (int c = 0; c < width; c++) row[c] = row[c] / norm;
  }
}

/** out [rows, width] = h [rows, stride]'s first width columns times scale. */
EXPORT(compact_scaled) void compact_scaled(const float* h, int rows, int stride, int width, float scale, float* out) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < width; c++) out[r * width + c] = h[r * stride + c] * scale;
}

// ---------------------------------------------------------------------------------------------
// First layer as a combination of precomputed products. When a weight W [out, in] is the base's
// plus a linear combination of the experts' differences, W = B + Σₖ λₖ (Eₖ − B) (task arithmetic,
// linear merges, per-tensor coefficients), then x·Wᵀ = x·Bᵀ + Σₖ λₖ x·(Eₖ − B)ᵀ: the products are
// computed once per data set, and each call only combines them. The float64 helpers below find
// the λ and check that W is such a combination (experts: K arrays of n values, back to back).

/** gram[k·K + l] = Σᵢ (Eₖ − B)ᵢ (Eₗ − B)ᵢ in float64. */
EXPORT(basis_gram) void basis_gram(const float* b, const float* e, int K, int n, double* gram) {
  for (int k = 0; k < K; k++)
    for (int l = 0; l <= k; l++) {
      const float* ek = e + (long)k * n;
      const float* el = e + (long)l * n;
      double s = 0;
      for (int i = 0; i < n; i++) s += ((double)ek[i] - b[i]) * ((double)el[i] - b[i]);
      gram[k * K + l] = gram[l * K + k] = s;
    }
}

/** out[k] = Σᵢ (W − B)ᵢ (Eₖ − B)ᵢ for k < K, out[K] = Σᵢ W²ᵢ, in float64. */
EXPORT(basis_dots) void basis_dots(const float* w, const float* b, const float* e, int K, int n, double* out) {
  for (int k = 0; k < K; k++) {
    const float* ek = e + (long)k * n;
    double s = 0;
    for (int i = 0; i < n; i++) s += ((double)w[i] - b[i]) * ((double)ek[i] - b[i]);
    out[k] = s;
  }
  double q = 0;
  for (int i = 0; i < n; i++) q += (double)w[i] * w[i];
  out[K] = q;
}

/** Σᵢ ((W − B)ᵢ − Σₖ λₖ (Eₖ − B)ᵢ)² in float64: the squared distance of W from the combination. */
EXPORT(basis_residual) double basis_residual(const float* w, const float* b, const float* e, int K, int n, const double* lambda) {
  double q = 0;
  for (int i = 0; i < n; i++) {
    double r = (double)w[i] - b[i];
    for (int k = 0; k < K; k++) r -= lambda[k] * ((double)e[(long)k * n + i] - b[i]);
    q += r * r;
  }
  return q;
}

/** out [rows, pad] = Σⱼ coef[j]·planes[j] + bias (planes: count arrays of rows·pad values, back to back; pad a multiple of 4). */
EXPORT(combine_planes) void combine_planes(const float* planes, int count, int rows, int pad, const float* coef, const float* bias, float* out) {
  long size = (long)rows * pad;
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < pad; c += 4) {
      long at = (long)r * pad + c;
      v128_t acc = wasm_f32x4_mul(wasm_f32x4_splat(coef[0]), wasm_v128_load(planes + at));
      for (int j = 1; j < count; j++) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(coef[j]), wasm_v128_load(planes + j * size + at)));
      wasm_v128_store(out + at, wasm_f32x4_add(acc, wasm_v128_load(bias + c)));
    }
}

/** out [n] = a − b (float32). */
EXPORT(difference) void difference(const float* a, const float* b, int n, float* out) {
  for (int i = 0; i < n; i++) out[i] = a[i] - b[i];
}
