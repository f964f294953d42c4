// WebAssembly SIMD kernels for the streaming merge engine's per-element passes.
//
// Every kernel reproduces the JavaScript reference in src/tensor/ and src/io/dtype.ts bit for bit:
// the same operations in the same order, float64 wherever the JS evaluates in doubles (V8 computes
// `a * b + c` on Float32Array elements in float64 and rounds once on store), float32 only where one
// rounding of a single operation is provably the same either way (τ = x − b: double rounding through
// float64 is exact for one +, −, ×, ÷ of float32 operands). No fused multiply-add exists in wasm
// SIMD, and clang does not reassociate without -ffast-math, so the order written here is the order run.
//
// Built by src/tensor/wasm/build-kernels.sh (npm run build:kernels) into src/tensor/wasm/merge-kernels.wasm.
// The memory is imported (shared, so that growing it never detaches the views JavaScript holds).
#include <stddef.h>
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

typedef uint32_t u32;
typedef uint16_t u16;
typedef uint8_t u8;

// ---------------------------------------------------------------------------------------------
// half-precision decode / encode

// f16 → f32: shift the exponent and mantissa into place and scale by 2^112, which rebiases normal
// numbers and normalises subnormals in one exact multiply; Inf/NaN are patched afterwards. NaN
// becomes the positive quiet NaN 0x7fc00000, as the JS lookup table holds (sign × NaN in V8).
EXPORT(decode_f16) void decode_f16(const u16 *in, float *out, u32 n) {
  const v128_t magic = wasm_f32x4_splat(0x1p112f);
  const v128_t expMask = wasm_i32x4_splat(0x7c00);
  u32 i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t h = wasm_v128_load(in + i);
    v128_t parts[2] = {wasm_u32x4_extend_low_u16x8(h), wasm_u32x4_extend_high_u16x8(h)};
    for (int p = 0; p < 2; p++) {
      v128_t x = parts[p];
      v128_t sign = wasm_i32x4_shl(wasm_v128_and(x, wasm_i32x4_splat(0x8000)), 16);
      v128_t mag = wasm_v128_and(x, wasm_i32x4_splat(0x7fff));
      v128_t f = wasm_f32x4_mul(wasm_i32x4_shl(mag, 13), magic);
      v128_t special = wasm_i32x4_eq(wasm_v128_and(x, expMask), expMask);
      v128_t isNan = wasm_v128_and(special, wasm_i32x4_ne(wasm_v128_and(x, wasm_i32x4_splat(0x3ff)), wasm_i32x4_splat(0)));
      v128_t r = wasm_v128_or(f, sign);
      r = wasm_v128_bitselect(wasm_v128_or(wasm_i32x4_splat(0x7f800000), sign), r, special);
      r = wasm_v128_bitselect(wasm_i32x4_splat(0x7fc00000), r, isNan);
      wasm_v128_store(out + i + 4 * p, r);
    }
  }
  for (; i < n; i++) {
    u32 x = in[i];
    u32 sign = (x & 0x8000) << 16;
    u32 exp = x & 0x7c00;
    union { float f; u32 u; } v;
    if (exp == 0x7c00) {
      v.u = (x & 0x3ff) ? 0x7fc00000u : (0x7f800000u | sign);
    } else {
      union { u32 u; float f; } m = {(x & 0x7fff) << 13};
      v.f = m.f * 0x1p112f;
      v.u |= sign;
    }
    out[i] = v.f;
  }
}

EXPORT(decode_bf16) void decode_bf16(const u16 *in, u32 *out, u32 n) {
  u32 i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t h = wasm_v128_load(in + i);
    wasm_v128_store(out + i, wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(h), 16));
    wasm_v128_store(out + i + 4, wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(h), 16));
  }
  for (; i < n; i++) out[i] = (u32)in[i] << 16;
}

// f32 → f16, round to nearest even, as encodeF16 in dtype.ts: NaN keeps its top mantissa bits
// (quieted), overflow becomes Inf, subnormal results are rounded by a float addition of 0.5,
// normal results by adding a bias (plus one when the kept last bit is odd) to the bit pattern.
static inline v128_t f16_of(v128_t x) {
  v128_t sign = wasm_v128_and(wasm_u32x4_shr(x, 16), wasm_i32x4_splat(0x8000));
  v128_t a = wasm_v128_and(x, wasm_i32x4_splat(0x7fffffff));
  v128_t nanBits = wasm_v128_or(wasm_i32x4_splat(0x7e00), wasm_v128_and(wasm_u32x4_shr(a, 13), wasm_i32x4_splat(0x3ff)));
  v128_t big = wasm_v128_bitselect(nanBits, wasm_i32x4_splat(0x7c00), wasm_u32x4_gt(a, wasm_i32x4_splat(0x7f800000)));
  v128_t sub = wasm_i32x4_sub(wasm_f32x4_add(a, wasm_f32x4_splat(0.5f)), wasm_i32x4_splat(0x3f000000));
  v128_t odd = wasm_v128_and(wasm_u32x4_shr(a, 13), wasm_i32x4_splat(1));
  v128_t norm = wasm_u32x4_shr(wasm_i32x4_add(wasm_i32x4_sub(a, wasm_i32x4_splat(0x37fff001)), odd), 13);
  v128_t h = wasm_v128_bitselect(big, norm, wasm_u32x4_ge(a, wasm_i32x4_splat(0x47800000)));
  h = wasm_v128_bitselect(sub, h, wasm_u32x4_lt(a, wasm_i32x4_splat(0x38800000)));
  return wasm_v128_or(sign, h);
}

EXPORT(encode_f16) void encode_f16(const float *in, u16 *out, u32 n) {
  u32 i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t lo = f16_of(wasm_v128_load(in + i));
    v128_t hi = f16_of(wasm_v128_load(in + i + 4));
    // Lanes hold values < 2^16, so the saturating narrow is a plain truncation.
    wasm_v128_store(out + i, wasm_u16x8_narrow_i32x4(lo, hi));
  }
  if (i < n) {
    float tmp[8] = {0};
    u16 res[8];
    for (u32 j = i; j < n; j++) tmp[j - i] = in[j];
    wasm_v128_store(res, wasm_u16x8_narrow_i32x4(f16_of(wasm_v128_load(tmp)), f16_of(wasm_v128_load(tmp + 4))));
    for (u32 j = i; j < n; j++) out[j] = res[j - i];
  }
}

static inline v128_t bf16_of(v128_t x) {
  v128_t rounded = wasm_u32x4_shr(wasm_i32x4_add(wasm_i32x4_add(x, wasm_i32x4_splat(0x7fff)), wasm_v128_and(wasm_u32x4_shr(x, 16), wasm_i32x4_splat(1))), 16);
  v128_t quiet = wasm_v128_or(wasm_u32x4_shr(x, 16), wasm_i32x4_splat(0x40));
  v128_t isNan = wasm_u32x4_gt(wasm_v128_and(x, wasm_i32x4_splat(0x7fffffff)), wasm_i32x4_splat(0x7f800000));
  return wasm_v128_and(wasm_v128_bitselect(quiet, rounded, isNan), wasm_i32x4_splat(0xffff));
}

EXPORT(encode_bf16) void encode_bf16(const float *in, u16 *out, u32 n) {
  u32 i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t lo = bf16_of(wasm_v128_load(in + i));
    v128_t hi = bf16_of(wasm_v128_load(in + i + 4));
    wasm_v128_store(out + i, wasm_u16x8_narrow_i32x4(lo, hi));
  }
  if (i < n) {
    float tmp[8] = {0};
    u16 res[8];
    for (u32 j = i; j < n; j++) tmp[j - i] = in[j];
    wasm_v128_store(res, wasm_u16x8_narrow_i32x4(bf16_of(wasm_v128_load(tmp)), bf16_of(wasm_v128_load(tmp + 4))));
    for (u32 j = i; j < n; j++) out[j] = res[j - i];
  }
}

// Elements whose magnitude is not below `limit` (NaN, Inf, or beyond the output dtype's range):
// returns how many, and stores the index of the first in *first.
EXPORT(count_out_of_range) u32 count_out_of_range(const float *in, u32 n, float limit, u32 *first) {
  u32 i = 0;
  const v128_t lim = wasm_f32x4_splat(limit);
  for (; i + 4 <= n; i += 4) {
    if (wasm_i32x4_all_true(wasm_f32x4_lt(wasm_f32x4_abs(wasm_v128_load(in + i)), lim))) continue;
    break;
  }
  u32 count = 0;
  for (; i < n; i++) {
    float a = in[i] < 0 ? -in[i] : in[i];
    if (!(a < limit)) {
      if (count == 0) *first = i;
      count++;
    }
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// task vectors and exact top-k selection (select.ts)

EXPORT(subtract) void subtract(const float *x, const float *b, float *out, u32 n) {
  u32 i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, wasm_f32x4_sub(wasm_v128_load(x + i), wasm_v128_load(b + i)));
  for (; i < n; i++) out[i] = x[i] - b[i];
}

// Histogram of the high 15 bits of |x| (32768 buckets), written to `hist`. Four sub-histograms
// break the store-to-load dependency between equal neighbours; they are folded at the end.
EXPORT(high_histogram) void high_histogram(const u32 *bits, u32 n, u32 *hist, u32 *scratch4) {
  if (n < 65536) {
    for (u32 j = 0; j < 32768; j++) hist[j] = 0;
    for (u32 i = 0; i < n; i++) hist[(bits[i] & 0x7fffffff) >> 16]++;
    return;
  }
  for (u32 j = 0; j < 4 * 32768; j++) scratch4[j] = 0;
  u32 i = 0;
  for (; i + 4 <= n; i += 4) {
    scratch4[(bits[i] & 0x7fffffff) >> 16]++;
    scratch4[32768 + ((bits[i + 1] & 0x7fffffff) >> 16)]++;
    scratch4[65536 + ((bits[i + 2] & 0x7fffffff) >> 16)]++;
    scratch4[98304 + ((bits[i + 3] & 0x7fffffff) >> 16)]++;
  }
  for (; i < n; i++) scratch4[(bits[i] & 0x7fffffff) >> 16]++;
  for (u32 j = 0; j < 32768; j++) hist[j] = scratch4[j] + scratch4[32768 + j] + scratch4[65536 + j] + scratch4[98304 + j];
}

// τ = x − b written to `out` and the histogram of |τ|'s high bits, in one pass (the first
// statistics pass of a top-k selection needs both; fusing saves re-reading τ).
EXPORT(subtract_histogram) void subtract_histogram(const float *x, const float *b, float *out, u32 n, u32 *hist) {
  for (u32 j = 0; j < 32768; j++) hist[j] = 0;
  u32 i = 0;
  const v128_t m = wasm_i32x4_splat(0x7fffffff);
  for (; i + 4 <= n; i += 4) {
    v128_t t = wasm_f32x4_sub(wasm_v128_load(x + i), wasm_v128_load(b + i));
    wasm_v128_store(out + i, t);
    v128_t hi = wasm_u32x4_shr(wasm_v128_and(t, m), 16);
    hist[wasm_u32x4_extract_lane(hi, 0)]++;
    hist[wasm_u32x4_extract_lane(hi, 1)]++;
    hist[wasm_u32x4_extract_lane(hi, 2)]++;
    hist[wasm_u32x4_extract_lane(hi, 3)]++;
  }
  for (; i < n; i++) {
    union { float f; u32 u; } t = {x[i] - b[i]};
    out[i] = t.f;
    hist[(t.u & 0x7fffffff) >> 16]++;
  }
}

// The low 16 bits of every |x| whose high bits equal `bucket`, in index order; returns the count.
EXPORT(bucket_members) u32 bucket_members(const u32 *bits, u32 n, u32 bucket, u16 *out) {
  u32 count = 0;
  u32 i = 0;
  const v128_t bk = wasm_i32x4_splat(bucket);
  const v128_t m = wasm_i32x4_splat(0x7fffffff);
  for (; i + 4 <= n; i += 4) {
    v128_t hi = wasm_u32x4_shr(wasm_v128_and(wasm_v128_load(bits + i), m), 16);
    if (!wasm_v128_any_true(wasm_i32x4_eq(hi, bk))) continue;
    for (u32 j = i; j < i + 4; j++) {
      u32 a = bits[j] & 0x7fffffff;
      out[count] = (u16)(a & 0xffff);
      count += (a >> 16) == bucket;
    }
  }
  for (; i < n; i++) {
    u32 a = bits[i] & 0x7fffffff;
    out[count] = (u16)(a & 0xffff);
    count += (a >> 16) == bucket;
  }
  return count;
}

// mask[i] = |x| above the threshold bits, or equal to them while admissions last (index order).
// Returns the number of threshold-equal elements seen in total (seen + those in this range).
EXPORT(mark_selected) u32 mark_selected(const u32 *bits, u32 n, u32 t, u32 admit, u32 seen, u8 *out) {
  u32 i = 0;
  const v128_t th = wasm_i32x4_splat(t);
  const v128_t m = wasm_i32x4_splat(0x7fffffff);
  const v128_t one = wasm_i32x4_splat(1);
  for (; i + 16 <= n; i += 16) {
    v128_t a0 = wasm_v128_and(wasm_v128_load(bits + i), m), a1 = wasm_v128_and(wasm_v128_load(bits + i + 4), m);
    v128_t a2 = wasm_v128_and(wasm_v128_load(bits + i + 8), m), a3 = wasm_v128_and(wasm_v128_load(bits + i + 12), m);
    v128_t eq = wasm_v128_or(wasm_v128_or(wasm_i32x4_eq(a0, th), wasm_i32x4_eq(a1, th)), wasm_v128_or(wasm_i32x4_eq(a2, th), wasm_i32x4_eq(a3, th)));
    if (wasm_v128_any_true(eq)) {
      for (u32 j = i; j < i + 16; j++) {
        u32 a = bits[j] & 0x7fffffff;
        out[j] = a > t;
        if (a == t) {
          if (seen < admit) out[j] = 1;
          seen++;
        }
      }
      continue;
    }
    v128_t q01 = wasm_u16x8_narrow_i32x4(wasm_v128_and(wasm_u32x4_gt(a0, th), one), wasm_v128_and(wasm_u32x4_gt(a1, th), one));
    v128_t q23 = wasm_u16x8_narrow_i32x4(wasm_v128_and(wasm_u32x4_gt(a2, th), one), wasm_v128_and(wasm_u32x4_gt(a3, th), one));
    wasm_v128_store(out + i, wasm_u8x16_narrow_i16x8(q01, q23));
  }
  for (; i < n; i++) {
    u32 a = bits[i] & 0x7fffffff;
    out[i] = a > t;
    if (a == t) {
      if (seen < admit) out[i] = 1;
      seen++;
    }
  }
  return seen;
}

// mask[i] &= !drop[i]
EXPORT(mask_and_not) void mask_and_not(u8 *mask, const u8 *drop, u32 n) {
  for (u32 i = 0; i < n; i++)
    if (drop[i]) mask[i] = 0;
}

// ---------------------------------------------------------------------------------------------
// counter-based Bernoulli masks (random.ts): murmur3's finaliser over (index ^ key), within one
// 2^32 block of indices (the caller splits at block boundaries and folds the high part into key).

static inline v128_t fmix(v128_t h) {
  h = wasm_v128_xor(h, wasm_u32x4_shr(h, 16));
  h = wasm_i32x4_mul(h, wasm_i32x4_splat((int32_t)0x85ebca6b));
  h = wasm_v128_xor(h, wasm_u32x4_shr(h, 13));
  h = wasm_i32x4_mul(h, wasm_i32x4_splat((int32_t)0xc2b2ae35));
  h = wasm_v128_xor(h, wasm_u32x4_shr(h, 16));
  return h;
}

EXPORT(bernoulli_mask) void bernoulli_mask(u32 key, u32 lo, u32 threshold, u8 *mask, u32 n) {
  u32 i = 0;
  const v128_t k = wasm_i32x4_splat(key);
  const v128_t th = wasm_i32x4_splat(threshold);
  const v128_t one = wasm_i32x4_splat(1);
  v128_t idx = wasm_i32x4_add(wasm_i32x4_splat(lo), wasm_i32x4_make(0, 1, 2, 3));
  const v128_t four = wasm_i32x4_splat(4);
  for (; i + 16 <= n; i += 16) {
    v128_t q[4];
    for (int p = 0; p < 4; p++) {
      v128_t h = fmix(wasm_v128_xor(idx, k));
      q[p] = wasm_v128_and(wasm_u32x4_lt(wasm_u32x4_shr(h, 8), th), one);
      idx = wasm_i32x4_add(idx, four);
    }
    wasm_v128_store(mask + i, wasm_u8x16_narrow_i16x8(wasm_u16x8_narrow_i32x4(q[0], q[1]), wasm_u16x8_narrow_i32x4(q[2], q[3])));
  }
  for (; i < n; i++) {
    u32 h = (lo + i) ^ key;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    mask[i] = (h >> 8) < threshold;
  }
}

// ---------------------------------------------------------------------------------------------
// norms (sparsify.ts normPartial): sequential float64 sums, in the reference's order, so the
// rescale factor is the same double. kind: 0 l1, 1 l2, 2 linf. mask may be 0 (all kept).
// |τ| is f64.abs, not a compare and negate: the compiler made that a branch, mispredicted on half
// the elements (random signs), which cost 6 ns per element against 0.8 (the same sums: |−0| = +0
// adds like −0 does).

EXPORT(norm_partial) void norm_partial(u32 kind, const float *tau, const u8 *mask, u32 n, double *out) {
  double before = 0, after = 0;
  if (kind == 2) {
    for (u32 i = 0; i < n; i++) {
      double a = __builtin_fabs((double)tau[i]);
      if (a > before) before = a;
      if ((mask == 0 || mask[i]) && a > after) after = a;
    }
  } else if (kind == 1) {
    for (u32 i = 0; i < n; i++) {
      double a = (double)tau[i] * (double)tau[i];
      before += a;
      after += mask == 0 ? a : a * (double)mask[i];
    }
  } else if (mask == 0) {
    for (u32 i = 0; i < n; i++) before += __builtin_fabs((double)tau[i]);
    after = before;
  } else {
    for (u32 i = 0; i < n; i++) {
      double a = __builtin_fabs((double)tau[i]);
      before += a;
      after += a * (double)mask[i];
    }
  }
  out[0] = before;
  out[1] = after;
}

// Sequential float64 dot product and sum (reduce.ts).
EXPORT(dot_f64) double dot_f64(const float *a, const float *b, u32 n) {
  double s = 0;
  for (u32 i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
  return s;
}

// ---------------------------------------------------------------------------------------------
// fused combines (fused-kernels.ts)

#define MAXK 32

static inline v128_t lo64(v128_t f) { return wasm_f64x2_promote_low_f32x4(f); }
static inline v128_t hi64(v128_t f) { return wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(f, f, 2, 3, 2, 3)); }
static inline v128_t store4(v128_t lo, v128_t hi) {
  return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
}

// out[e] = Σᵢ w[i] · x_i[e], left to right, in float64.
EXPORT(weighted_sum) void weighted_sum(float *out, const float *const *inputs, const double *w, u32 k, u32 n) {
  u32 e = 0;
  if (k == 0) {
    for (; e < n; e++) out[e] = 0;
    return;
  }
  for (; e + 4 <= n; e += 4) {
    v128_t x = wasm_v128_load(inputs[0] + e);
    v128_t w0 = wasm_f64x2_splat(w[0]);
    v128_t slo = wasm_f64x2_mul(w0, lo64(x)), shi = wasm_f64x2_mul(w0, hi64(x));
    for (u32 i = 1; i < k; i++) {
      x = wasm_v128_load(inputs[i] + e);
      v128_t wi = wasm_f64x2_splat(w[i]);
      slo = wasm_f64x2_add(slo, wasm_f64x2_mul(wi, lo64(x)));
      shi = wasm_f64x2_add(shi, wasm_f64x2_mul(wi, hi64(x)));
    }
    wasm_v128_store(out + e, store4(slo, shi));
  }
  for (; e < n; e++) {
    double s = w[0] * (double)inputs[0][e];
    for (u32 i = 1; i < k; i++) s += w[i] * (double)inputs[i][e];
    out[e] = (float)s;
  }
}

// One model's part of a task-vector combine.
typedef struct {
  const float *input; // τ itself when isDelta, else the model (τ = model − base on the fly)
  const u8 *mask;     // keep kind 1
  double eff;         // weight × rescale factor
  double weight;
  u32 isDelta;
  u32 keep;           // 0 all kept, 1 byte mask, 2 threshold on |τ| bits
  u32 bits;           // keep kind 2: threshold bits, admissions, threshold-equal elements seen
  u32 admit;
  u32 seen;
  u32 pad;
} Model;

typedef struct {
  float *out;
  const float *base;
  u32 n;
  u32 k;
  u32 consensus;
  u32 normalize;
  double scale; // consensus: lambda × LiNeS; otherwise scale / divisor
} Combine;

static inline double keep1(Model *m, u32 e) {
  if (m->keep == 0) return 1.0;
  if (m->keep == 1) return (double)m->mask[e];
  u32 a = ((const u32 *)m->input)[e] & 0x7fffffff;
  double q = a > m->bits;
  if (a == m->bits) {
    q = m->seen < m->admit;
    m->seen++;
  }
  return q;
}

static inline void finish1(Combine *c, Model *ms, double b, double *a, u32 e) {
  u32 k = c->k;
  if (c->consensus) {
    double sum = a[0];
    for (u32 i = 1; i < k; i++) sum += a[i];
    double sg = 2.0 * (double)(sum >= 0) - 1.0;
    double s = 0, d = 0;
    for (u32 i = 0; i < k; i++) {
      double ki = a[i] * sg > 0;
      double term = ki * a[i], dterm = ki * ms[i].weight;
      s = i == 0 ? term : s + term;
      d = i == 0 ? dterm : d + dterm;
    }
    c->out[e] = (float)(c->normalize ? b + (s / (d + (double)(d == 0))) * c->scale : b + s * c->scale);
  } else {
    double s = a[0];
    for (u32 i = 1; i < k; i++) s += a[i];
    c->out[e] = (float)(b + s * c->scale);
  }
}

// Blocked: each model's terms aᵢ = τᵢ·effᵢ·qᵢ for a block of elements go to a small float64
// buffer (one tight loop per model, its keep kind and τ form hoisted out), then one pass over the
// block combines them. The buffers stay in L1; no per-element branch on a model's kind remains.
#define BLK 512
static double A[MAXK][BLK];
static double B[BLK];

// One model's terms over a block (len a multiple of 4). The model's fields are copied to locals
// first: stores to `a` could alias them, which would make the compiler reload them per element.
static void model_terms(Model *m, const float *base, u32 e0, u32 len, double *restrict a) {
  const v128_t f = wasm_f64x2_splat(m->eff);
  const v128_t one = wasm_f64x2_splat(1.0);
  const float *restrict x = m->input + e0;
  const float *restrict bb = base + e0;
  const u32 isDelta = m->isDelta, keep = m->keep;
  const u8 *restrict mask = keep == 1 ? m->mask + e0 : 0;
  const u32 bits = m->bits, admit = m->admit;
  u32 seen = m->seen;
  const v128_t th = wasm_i32x4_splat(bits), abs = wasm_i32x4_splat(0x7fffffff);
  for (u32 j = 0; j < len; j += 4) {
    v128_t t4 = wasm_v128_load(x + j);
    v128_t tlo = lo64(t4), thi = hi64(t4);
    if (!isDelta) {
      v128_t b4 = wasm_v128_load(bb + j);
      tlo = wasm_f64x2_sub(tlo, lo64(b4));
      thi = wasm_f64x2_sub(thi, hi64(b4));
    }
    tlo = wasm_f64x2_mul(tlo, f);
    thi = wasm_f64x2_mul(thi, f);
    if (keep == 1) {
      v128_t u = wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(wasm_v128_load32_zero(mask + j)));
      tlo = wasm_f64x2_mul(tlo, wasm_f64x2_convert_low_u32x4(u));
      thi = wasm_f64x2_mul(thi, wasm_f64x2_convert_low_u32x4(wasm_i32x4_shuffle(u, u, 2, 3, 2, 3)));
    } else if (keep == 2) {
      v128_t ab = wasm_v128_and(t4, abs);
      v128_t q = wasm_u32x4_gt(ab, th);
      if (__builtin_expect(wasm_v128_any_true(wasm_i32x4_eq(ab, th)), 0)) {
        // Rare: admit threshold-equal elements in index order while admissions last.
        u32 lanes[4], av[4];
        wasm_v128_store(lanes, q);
        wasm_v128_store(av, ab);
        for (int l = 0; l < 4; l++) {
          if (av[l] == bits) {
            lanes[l] = seen < admit ? 0xffffffffu : 0;
            seen++;
          }
        }
        q = wasm_v128_load(lanes);
      }
      tlo = wasm_f64x2_mul(tlo, wasm_v128_and(wasm_i64x2_extend_low_i32x4(q), one));
      thi = wasm_f64x2_mul(thi, wasm_v128_and(wasm_i64x2_extend_high_i32x4(q), one));
    }
    wasm_v128_store(a + j, tlo);
    wasm_v128_store(a + j + 2, thi);
  }
  m->seen = seen;
}

static inline __attribute__((always_inline)) void combine_block(const u32 K, Combine *c, Model *ms, u32 e0, u32 len) {
  const v128_t one = wasm_f64x2_splat(1.0), zero = wasm_f64x2_splat(0.0), negOne = wasm_f64x2_splat(-1.0);
  const v128_t scale = wasm_f64x2_splat(c->scale);
  const u32 consensus = c->consensus, normalize = c->normalize;
  v128_t w[MAXK];
  for (u32 i = 0; i < K; i++) w[i] = wasm_f64x2_splat(ms[i].weight);
  for (u32 j = 0; j < len; j += 4) {
    v128_t r[2];
    for (u32 h = 0; h < 2; h++) {
      const u32 jj = j + 2 * h;
      v128_t b = wasm_v128_load(B + jj);
      v128_t sum = wasm_v128_load(A[0] + jj);
      for (u32 i = 1; i < K; i++) sum = wasm_f64x2_add(sum, wasm_v128_load(A[i] + jj));
      if (consensus) {
        v128_t sg = wasm_v128_bitselect(one, negOne, wasm_f64x2_ge(sum, zero));
        v128_t s = zero, d = zero;
        for (u32 i = 0; i < K; i++) {
          v128_t a = wasm_v128_load(A[i] + jj);
          v128_t k = wasm_v128_and(wasm_f64x2_gt(wasm_f64x2_mul(a, sg), zero), one);
          v128_t t = wasm_f64x2_mul(k, a), dt = wasm_f64x2_mul(k, w[i]);
          s = i == 0 ? t : wasm_f64x2_add(s, t);
          d = i == 0 ? dt : wasm_f64x2_add(d, dt);
        }
        if (normalize) {
          d = wasm_f64x2_add(d, wasm_v128_and(wasm_f64x2_eq(d, zero), one));
          r[h] = wasm_f64x2_add(b, wasm_f64x2_mul(wasm_f64x2_div(s, d), scale));
        } else {
          r[h] = wasm_f64x2_add(b, wasm_f64x2_mul(s, scale));
        }
      } else {
        r[h] = wasm_f64x2_add(b, wasm_f64x2_mul(sum, scale));
      }
    }
    wasm_v128_store(c->out + e0 + j, store4(r[0], r[1]));
  }
}

EXPORT(task_vector_combine) void task_vector_combine(Combine *c, Model *ms) {
  const u32 n = c->n, k = c->k;
  const u32 n4 = n & ~3u;
  for (u32 e0 = 0; e0 < n4; e0 += BLK) {
    const u32 len = n4 - e0 < BLK ? n4 - e0 : BLK;
    for (u32 j = 0; j < len; j += 4) {
      v128_t b4 = wasm_v128_load(c->base + e0 + j);
      wasm_v128_store(B + j, lo64(b4));
      wasm_v128_store(B + j + 2, hi64(b4));
    }
    for (u32 i = 0; i < k; i++) model_terms(&ms[i], c->base, e0, len, A[i]);
    // Specialised for the usual model counts, so the loops over models unroll.
    switch (k) {
      case 1: combine_block(1, c, ms, e0, len); break;
      case 2: combine_block(2, c, ms, e0, len); break;
      case 3: combine_block(3, c, ms, e0, len); break;
      case 4: combine_block(4, c, ms, e0, len); break;
      case 5: combine_block(5, c, ms, e0, len); break;
      case 6: combine_block(6, c, ms, e0, len); break;
      default: combine_block(k, c, ms, e0, len); break;
    }
  }
  double a[MAXK];
  for (u32 e = n4; e < n; e++) {
    double b = c->base[e];
    for (u32 i = 0; i < k; i++) {
      Model *m = &ms[i];
      double t = m->isDelta ? (double)m->input[e] : (double)m->input[e] - b;
      a[i] = m->keep == 0 ? t * m->eff : t * m->eff * keep1(m, e);
    }
    finish1(c, ms, b, a, e);
  }
}

// ---------------------------------------------------------------------------------------------
// WIDEN (methods/widen.ts): per-column statistics and the per-column weighted merge. Vectorised
// across neighbouring columns, so each column's float64 sums still run over rows in order, as in
// the reference; the merge rounds `out` to float32 after each model, as the reference's
// Float32Array does.

// bb[c] = Σ_r b²; xx[m·cols + c] = Σ_r x_m²; xb[m·cols + c] = Σ_r x_m·b, summed over rows in order.
EXPORT(widen_col_stats) void widen_col_stats(const float *base, const float *const *xs, u32 k, u32 rows, u32 cols, double *bb, double *xx, double *xb) {
  for (u32 c = 0; c < cols; c++) bb[c] = 0;
  for (u32 c = 0; c < k * cols; c++) xx[c] = xb[c] = 0;
  for (u32 r = 0; r < rows; r++) {
    const float *brow = base + (size_t)r * cols;
    u32 c = 0;
    for (; c + 2 <= cols; c += 2) {
      v128_t b = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(brow + c));
      wasm_v128_store(bb + c, wasm_f64x2_add(wasm_v128_load(bb + c), wasm_f64x2_mul(b, b)));
      for (u32 m = 0; m < k; m++) {
        v128_t x = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(xs[m] + (size_t)r * cols + c));
        double *pxx = xx + (size_t)m * cols + c, *pxb = xb + (size_t)m * cols + c;
        wasm_v128_store(pxx, wasm_f64x2_add(wasm_v128_load(pxx), wasm_f64x2_mul(x, x)));
        wasm_v128_store(pxb, wasm_f64x2_add(wasm_v128_load(pxb), wasm_f64x2_mul(x, b)));
      }
    }
    for (; c < cols; c++) {
      double b = brow[c];
      bb[c] += b * b;
      for (u32 m = 0; m < k; m++) {
        double x = xs[m][(size_t)r * cols + c];
        xx[(size_t)m * cols + c] += x * x;
        xb[(size_t)m * cols + c] += x * b;
      }
    }
  }
}

// out[e] = f32(out[e] + w[j] · (x[e] − base[e])), j the column (or, rowWise, the row) of e.
EXPORT(widen_merge_model) void widen_merge_model(float *out, const float *base, const float *x, const double *w, u32 rows, u32 cols, u32 rowWise) {
  for (u32 r = 0; r < rows; r++) {
    const size_t at = (size_t)r * cols;
    u32 c = 0;
    const v128_t wr = rowWise ? wasm_f64x2_splat(w[r]) : wasm_f64x2_splat(0);
    for (; c + 2 <= cols; c += 2) {
      v128_t o = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(out + at + c));
      v128_t xv = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(x + at + c));
      v128_t bv = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(base + at + c));
      v128_t wv = rowWise ? wr : wasm_v128_load(w + c);
      o = wasm_f64x2_add(o, wasm_f64x2_mul(wv, wasm_f64x2_sub(xv, bv)));
      wasm_v128_store64_lane(out + at + c, wasm_f32x4_demote_f64x2_zero(o), 0);
    }
    for (; c < cols; c++) out[at + c] = (float)((double)out[at + c] + (rowWise ? w[r] : w[c]) * ((double)x[at + c] - (double)base[at + c]));
  }
}

// ---------------------------------------------------------------------------------------------
// A weighted sum straight from half-precision bytes to half-precision bytes (linear): decode each
// input, Σ w_i·x_i in float64 left to right, round to float32, check the range, encode — one pass
// instead of five, with no float32 arrays in between. The same bits as decode_*, weighted_sum,
// count_out_of_range and encode_* run one after the other. kinds: 0 f16, 1 bf16 (per input; the
// output's too). Returns how many results are not below `limit` (then nothing is meaningful in
// out and *first holds the first such index).

static inline v128_t f16_lanes(v128_t x);

static inline v128_t dec4(const u16 *p, u32 kind) {
  v128_t x = wasm_u32x4_load16x4(p);
  if (kind == 1) return wasm_i32x4_shl(x, 16);
  return f16_lanes(x);
}

EXPORT(weighted_sum_half) u32 weighted_sum_half(const u16 *const *inputs, const u32 *kinds, const double *w, u32 k, u32 n, u16 *out, u32 outKind, float limit, u32 *first) {
  const v128_t lim = wasm_f32x4_splat(limit);
  u32 bad = 0;
  u32 e = 0;
  // Eight elements per step, each input's halves in one load (as decode_f16 reads them): the same
  // operations per element as the four-wide loop below, which finishes the rest.
  for (; e + 8 <= n; e += 8) {
    v128_t s0 = wasm_f64x2_splat(0), s1 = s0, s2 = s0, s3 = s0;
    for (u32 i = 0; i < k; i++) {
      v128_t h = wasm_v128_load(inputs[i] + e);
      v128_t lo = wasm_u32x4_extend_low_u16x8(h), hi = wasm_u32x4_extend_high_u16x8(h);
      if (kinds[i] == 1) {
        lo = wasm_i32x4_shl(lo, 16);
        hi = wasm_i32x4_shl(hi, 16);
      } else {
        lo = f16_lanes(lo);
        hi = f16_lanes(hi);
      }
      v128_t wi = wasm_f64x2_splat(w[i]);
      v128_t p0 = wasm_f64x2_mul(wi, lo64(lo)), p1 = wasm_f64x2_mul(wi, hi64(lo));
      v128_t p2 = wasm_f64x2_mul(wi, lo64(hi)), p3 = wasm_f64x2_mul(wi, hi64(hi));
      if (i == 0) {
        s0 = p0, s1 = p1, s2 = p2, s3 = p3;
      } else {
        s0 = wasm_f64x2_add(s0, p0), s1 = wasm_f64x2_add(s1, p1), s2 = wasm_f64x2_add(s2, p2), s3 = wasm_f64x2_add(s3, p3);
      }
    }
    v128_t r0 = store4(s0, s1), r1 = store4(s2, s3);
    if (!wasm_i32x4_all_true(wasm_v128_and(wasm_f32x4_lt(wasm_f32x4_abs(r0), lim), wasm_f32x4_lt(wasm_f32x4_abs(r1), lim)))) {
      float v[8];
      wasm_v128_store(v, r0);
      wasm_v128_store(v + 4, r1);
      for (u32 l = 0; l < 8; l++) {
        float a = v[l] < 0 ? -v[l] : v[l];
        if (!(a < limit)) {
          if (bad == 0) *first = e + l;
          bad++;
        }
      }
    }
    v128_t h = outKind == 1 ? wasm_u16x8_narrow_i32x4(bf16_of(r0), bf16_of(r1)) : wasm_u16x8_narrow_i32x4(f16_of(r0), f16_of(r1));
    wasm_v128_store(out + e, h);
  }
  for (; e + 4 <= n; e += 4) {
    v128_t x = dec4(inputs[0] + e, kinds[0]);
    v128_t w0 = wasm_f64x2_splat(w[0]);
    v128_t slo = wasm_f64x2_mul(w0, lo64(x)), shi = wasm_f64x2_mul(w0, hi64(x));
    for (u32 i = 1; i < k; i++) {
      x = dec4(inputs[i] + e, kinds[i]);
      v128_t wi = wasm_f64x2_splat(w[i]);
      slo = wasm_f64x2_add(slo, wasm_f64x2_mul(wi, lo64(x)));
      shi = wasm_f64x2_add(shi, wasm_f64x2_mul(wi, hi64(x)));
    }
    v128_t r = store4(slo, shi);
    if (!wasm_i32x4_all_true(wasm_f32x4_lt(wasm_f32x4_abs(r), lim))) {
      float v[4];
      wasm_v128_store(v, r);
      for (u32 l = 0; l < 4; l++) {
        float a = v[l] < 0 ? -v[l] : v[l];
        if (!(a < limit)) {
          if (bad == 0) *first = e + l;
          bad++;
        }
      }
    }
    v128_t h = outKind == 1 ? bf16_of(r) : f16_of(r);
    wasm_v128_store64_lane(out + e, wasm_u16x8_narrow_i32x4(h, h), 0);
  }
  for (; e < n; e++) {
    double s = 0;
    for (u32 i = 0; i < k; i++) {
      float tmp[4] = {0};
      u16 raw[4] = {inputs[i][e], 0, 0, 0};
      wasm_v128_store(tmp, dec4(raw, kinds[i]));
      s = i == 0 ? w[0] * (double)tmp[0] : s + w[i] * (double)tmp[0];
    }
    float r = (float)s;
    float a = r < 0 ? -r : r;
    if (!(a < limit)) {
      if (bad == 0) *first = e;
      bad++;
    }
    float tmp[4] = {r, 0, 0, 0};
    v128_t h = outKind == 1 ? bf16_of(wasm_v128_load(tmp)) : f16_of(wasm_v128_load(tmp));
    out[e] = (u16)wasm_u32x4_extract_lane(h, 0);
  }
  return bad;
}

// ---------------------------------------------------------------------------------------------
// A task vector straight from a model's half-precision bytes: τ = decode(x) − b, written to `out`,
// and (hist ≠ 0) the histogram of |τ|'s high bits as subtract_histogram builds it — the bits of
// decode_* then subtract / subtract_histogram, without the model's float32 array in between.
// kind: 0 f16, 1 bf16. Eight halves per load, widened as decode_f16 does; specialised per kind and
// per histogram use so that no branch stays in the loop.

// f16 lanes (zero-extended to 32 bits) → f32, as decode_f16.
static inline v128_t f16_lanes(v128_t x) {
  const v128_t expMask = wasm_i32x4_splat(0x7c00);
  v128_t sign = wasm_i32x4_shl(wasm_v128_and(x, wasm_i32x4_splat(0x8000)), 16);
  v128_t f = wasm_f32x4_mul(wasm_i32x4_shl(wasm_v128_and(x, wasm_i32x4_splat(0x7fff)), 13), wasm_f32x4_splat(0x1p112f));
  v128_t special = wasm_i32x4_eq(wasm_v128_and(x, expMask), expMask);
  v128_t isNan = wasm_v128_and(special, wasm_i32x4_ne(wasm_v128_and(x, wasm_i32x4_splat(0x3ff)), wasm_i32x4_splat(0)));
  v128_t r = wasm_v128_or(f, sign);
  r = wasm_v128_bitselect(wasm_v128_or(wasm_i32x4_splat(0x7f800000), sign), r, special);
  return wasm_v128_bitselect(wasm_i32x4_splat(0x7fc00000), r, isNan);
}

static inline __attribute__((always_inline)) void hist4(u32 *hist, v128_t t) {
  v128_t hi = wasm_u32x4_shr(wasm_v128_and(t, wasm_i32x4_splat(0x7fffffff)), 16);
  hist[wasm_u32x4_extract_lane(hi, 0)]++;
  hist[wasm_u32x4_extract_lane(hi, 1)]++;
  hist[wasm_u32x4_extract_lane(hi, 2)]++;
  hist[wasm_u32x4_extract_lane(hi, 3)]++;
}

static inline __attribute__((always_inline)) u32 decode_subtract_body(const u16 *x, const u32 bf16, const float *b, float *out, u32 n, u32 *hist, const u32 withHist) {
  u32 i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t h = wasm_v128_load(x + i);
    v128_t lo = wasm_u32x4_extend_low_u16x8(h), hi = wasm_u32x4_extend_high_u16x8(h);
    lo = bf16 ? wasm_i32x4_shl(lo, 16) : f16_lanes(lo);
    hi = bf16 ? wasm_i32x4_shl(hi, 16) : f16_lanes(hi);
    v128_t t0 = wasm_f32x4_sub(lo, wasm_v128_load(b + i));
    v128_t t1 = wasm_f32x4_sub(hi, wasm_v128_load(b + i + 4));
    wasm_v128_store(out + i, t0);
    wasm_v128_store(out + i + 4, t1);
    if (withHist) {
      hist4(hist, t0);
      hist4(hist, t1);
    }
  }
  return i;
}

EXPORT(decode_subtract) void decode_subtract(const u16 *x, u32 kind, const float *b, float *out, u32 n, u32 *hist) {
  u32 i;
  if (hist) {
    for (u32 j = 0; j < 32768; j++) hist[j] = 0;
    i = kind ? decode_subtract_body(x, 1, b, out, n, hist, 1) : decode_subtract_body(x, 0, b, out, n, hist, 1);
  } else {
    i = kind ? decode_subtract_body(x, 1, b, out, n, 0, 0) : decode_subtract_body(x, 0, b, out, n, 0, 0);
  }
  for (; i < n; i++) {
    u16 raw[4] = {x[i], 0, 0, 0};
    float tmp[4];
    wasm_v128_store(tmp, dec4(raw, kind));
    union { float f; u32 u; } t = {tmp[0] - b[i]};
    out[i] = t.f;
    if (hist) hist[(t.u & 0x7fffffff) >> 16]++;
  }
}
