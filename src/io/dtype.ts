// safetensors dtypes and conversions between the float formats and float32.
// Conversions to half formats round to nearest, ties to even, as PyTorch does.
// The bulk loops here are the reference; the wasm kernels run them unless MERGESEARCH_KERNELS=js.
import { wasmDecode, wasmEncode } from '../tensor/wasm/kernel-calls.ts';

export const DTYPE_SIZES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;

export type Dtype = keyof typeof DTYPE_SIZES;
/** The float formats merges compute on (converted to float32 for the math). */
export type FloatDtype = 'F32' | 'F16' | 'BF16';

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.hasOwn(DTYPE_SIZES, s);
}

export function isFloatDtype(d: Dtype): d is FloatDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

/** Recipe spellings (mergekit uses torch names) to safetensors dtypes. */
export function parseOutDtype(name: string): FloatDtype | undefined {
  const n = name.toLowerCase();
  if (n === 'float32' || n === 'f32' || n === 'fp32') return 'F32';
  if (n === 'float16' || n === 'f16' || n === 'fp16' || n === 'half') return 'F16';
  if (n === 'bfloat16' || n === 'bf16') return 'BF16';
  return undefined;
}

const F16_TO_F32 = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 31) v = mant ? NaN : Infinity;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    table[h] = sign * v;
  }
  return table;
})();

export function f16BitsToF32(h: number): number {
  return F16_TO_F32[h & 0xffff]!;
}

export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry into the exponent is correct
  return sign | half;
}

export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff; // quiet NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decode `count` elements of a float dtype from raw little-endian bytes into float32. */
export function decodeToF32(dtype: FloatDtype, bytes: Uint8Array, out: Float32Array): void {
  const n = out.length;
  if (dtype === 'F32') {
    new Uint8Array(out.buffer, out.byteOffset, n * 4).set(bytes.subarray(0, n * 4));
    return;
  }
  if (wasmDecode(dtype, bytes, out)) return;
  const u16 = alignedU16(bytes, n);
  if (dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = F16_TO_F32[u16[i]!]!;
  } else {
    const o32 = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) o32[i] = u16[i]! << 16;
  }
}

/** Encode float32 values into raw little-endian bytes of `dtype`. */
export function encodeFromF32(dtype: FloatDtype, values: Float32Array, out: Uint8Array): void {
  const n = values.length;
  if (dtype === 'F32') {
    out.set(new Uint8Array(values.buffer, values.byteOffset, n * 4));
    return;
  }
  if (wasmEncode(dtype, values, out)) return;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const o16 = alignedU16(out, n);
  if (dtype === 'F16') encodeF16(bits, o16);
  else for (let i = 0; i < n; i++) o16[i] = f32BitsToBf16Bits(bits[i]!);
  if (o16.buffer !== out.buffer) out.set(new Uint8Array(o16.buffer, 0, n * 2));
}

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/**
 * Bulk float32 → f16, round to nearest even, without per-element calls: normal results round by
 * adding a bias to the bit pattern; subnormal results let a float addition do the rounding.
 */
function encodeF16(bits: Uint32Array, o16: Uint16Array): void {
  for (let i = 0, n = bits.length; i < n; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const a = x & 0x7fffffff;
    let h: number;
    if (a >= 0x47800000) {
      h = a > 0x7f800000 ? 0x7e00 | ((a >>> 13) & 0x3ff) : 0x7c00; // NaN stays NaN, else Inf
    } else if (a < 0x38800000) {
      scratchU[0] = a;
      scratchF[0] = scratchF[0]! + 0.5; // 0.5 = 2^-1 puts the f16 subnormal unit at the last bit
      h = scratchU[0]! - 0x3f000000;
    } else {
      h = (a - 0x37fff001 + ((a >>> 13) & 1)) >>> 13; // rebias exponent, add 0xfff (+1 if odd)
    }
    o16[i] = sign | h;
  }
}

// Buffers read from files are usually 2-byte aligned; copy only when they are not.
function alignedU16(bytes: Uint8Array, n: number): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint16Array(n);
  new Uint8Array(copy.buffer).set(bytes.subarray(0, n * 2));
  return copy;
}
