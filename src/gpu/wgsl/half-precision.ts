// WGSL decoding and encoding of the checkpoint dtypes from raw bits (u32 words): compatibility
// adapters have no shader-f16, and these must give the bits src/io/dtype.ts (and the wasm kernels)
// give. Integer operations throughout, so a device that flushes float32 subnormals still decodes
// f16 subnormals (their float32 values are normal) exactly. bf16 subnormals are float32
// subnormals: a flushing device would read them as 0 (weights are never that small).
import type { FloatDtype } from '../../io/dtype.ts';

export const HALF_WGSL = /* wgsl */ `
fn f16_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let ex = h & 0x7c00u;
  if (ex == 0x7c00u) {
    // Inf keeps its sign; NaN becomes the positive quiet NaN, as the CPU decoder gives.
    return bitcast<f32>(select(0x7f800000u | sign, 0x7fc00000u, (h & 0x3ffu) != 0u));
  }
  if (ex == 0u) {
    // zero or subnormal: mantissa · 2^-24, exact and normal in float32
    return bitcast<f32>(bitcast<u32>(f32(h & 0x3ffu) * 5.9604644775390625e-8) | sign);
  }
  return bitcast<f32>(sign | (((h & 0x7fffu) << 13u) + 0x38000000u));
}

fn bf16_to_f32(h: u32) -> f32 { return bitcast<f32>(h << 16u); }

// float32 bits to f16 bits, round to nearest even; NaN keeps its top mantissa bits, quieted.
fn f32_to_f16(x: u32) -> u32 {
  let sign = (x >> 16u) & 0x8000u;
  let a = x & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u | ((a >> 13u) & 0x3ffu); }
  if (a >= 0x47800000u) { return sign | 0x7c00u; }
  if (a < 0x38800000u) {
    // f16 subnormal: adding 0.5 leaves the rounded mantissa in the low bits
    return sign | (bitcast<u32>(opq(bitcast<f32>(a) + 0.5)) - 0x3f000000u);
  }
  return sign | (((a - 0x37fff001u) + ((a >> 13u) & 1u)) >> 13u);
}

fn f32_to_bf16(x: u32) -> u32 {
  if ((x & 0x7fffffffu) > 0x7f800000u) { return ((x >> 16u) | 0x40u) & 0xffffu; }
  return ((x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u) & 0xffffu;
}
`;

/** Bit pattern of the smallest |x| that the output dtype cannot hold (encodes to Inf), as the CPU path's check. */
export const OVERFLOW_BITS: Record<FloatDtype, number> = {
  F32: 0x7f800000,
  F16: 0x477ff000, // 65520
  BF16: 0x7f7f8000,
};
