// Float format conversions in src/io/dtype.ts, checked against hand-worked bit patterns and
// against an independent round-to-nearest-even computation done in double arithmetic.
import { describe, expect, it } from 'vitest';
import {
  decodeToF32,
  encodeFromF32,
  f16BitsToF32,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  isDtype,
  isFloatDtype,
  parseOutDtype,
  DTYPE_SIZES,
} from '../src/io/dtype.ts';
import { f32Bits, f32FromBits, rng } from './helpers/io-tmp.ts';

const hex = (n: number, w = 4) => '0x' + n.toString(16).padStart(w, '0');
const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (b: number) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
const toF16 = (x: number) => f32BitsToF16Bits(f32Bits(x));
const bf16ToF32 = (b: number) => f32FromBits(b << 16);

/** Ties-to-even rounding of a non-negative double to an integer, exact for the values used here. */
function rne(y: number): number {
  const n = Math.floor(y);
  const frac = y - n;
  if (frac > 0.5 || (frac === 0.5 && n % 2 === 1)) return n + 1;
  return n;
}

/** floor(log2(a)) for a > 0, exactly. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  return e;
}

/** Round a finite or infinite double to the nearest value of a binary format with `mantBits`
 *  fraction bits, minimum normal exponent `minExp` and overflow at 2^(maxExp+1), ties to even. */
function refRound(x: number, mantBits: number, minExp: number, maxExp: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a === Infinity) r = Infinity;
  else if (a === 0) r = 0;
  else {
    const q = 2 ** (Math.max(exponentOf(a), minExp) - mantBits);
    r = rne(a / q) * q;
    if (r >= 2 ** (maxExp + 1)) r = Infinity;
  }
  return x < 0 || Object.is(x, -0) ? -r : r;
}
const refF16 = (x: number) => refRound(x, 10, -14, 15);
const refBf16 = (x: number) => refRound(x, 7, -126, 127);

describe('f16 -> f32', () => {
  it.each([
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x3bff, 1 - 2 ** -11],
    [0x3c01, 1 + 2 ** -10],
    [0x3555, 0.333251953125],
    [0x2e66, 0.0999755859375],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x0000, 0],
    [0xfbff, -65504],
  ])('%s decodes to %s', (h, v) => {
    expect(f16BitsToF32(h)).toBe(v);
  });

  it('0x8000 is negative zero', () => {
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(Object.is(f16BitsToF32(0x0000), 0)).toBe(true);
  });

  it('0x7e00, 0x7c01, 0xfe00 and 0x7fff are NaN', () => {
    for (const h of [0x7e00, 0x7c01, 0xfe00, 0x7fff, 0xfc01]) expect(f16BitsToF32(h), hex(h)).toBeNaN();
  });

  it('every normal pattern equals the float32 built bitwise from sign, rebiased exponent and mantissa', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >> 10) & 0x1f;
      if (exp === 0 || exp === 31) continue;
      const bits = ((h & 0x8000) << 16) | ((exp - 15 + 127) << 23) | ((h & 0x3ff) << 13);
      if (f16BitsToF32(h) !== f32FromBits(bits)) expect(f16BitsToF32(h), hex(h)).toBe(f32FromBits(bits));
    }
  });

  it('every subnormal pattern is mantissa * 2^-24', () => {
    for (let m = 0; m < 0x400; m++) {
      expect(f16BitsToF32(m)).toBe(m * 2 ** -24);
      expect(f16BitsToF32(0x8000 | m)).toBe(-m * 2 ** -24);
    }
  });

  it('is strictly increasing over the positive finite patterns', () => {
    for (let h = 0; h < 0x7c00; h++) if (!(f16BitsToF32(h + 1) > f16BitsToF32(h))) expect.fail(`not increasing at ${hex(h)}`);
  });

  it('masks the argument to 16 bits', () => {
    expect(f16BitsToF32(0x13c00)).toBe(1);
  });
});

describe('f32 -> f16 (round to nearest, ties to even)', () => {
  it.each([
    // exact values
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [1 + 2 ** -10, 0x3c01],
    // 1 + 2^-11 is the midpoint of 0x3c00 and 0x3c01: tie goes to even 0x3c00
    [1 + 2 ** -11, 0x3c00],
    // 1 + 3*2^-11 is the midpoint of 0x3c01 (odd) and 0x3c02: tie goes to 0x3c02 = 1 + 2^-9
    [1 + 3 * 2 ** -11, 0x3c02],
    // 1 + 5*2^-11: midpoint of 0x3c02 (even) and 0x3c03 -> 0x3c02
    [1 + 5 * 2 ** -11, 0x3c02],
    // 1 + 7*2^-11: midpoint of 0x3c03 (odd) and 0x3c04 -> 0x3c04
    [1 + 7 * 2 ** -11, 0x3c04],
    // one float32 ulp either side of the midpoint decides it
    [1 + 2 ** -11 + 2 ** -23, 0x3c01],
    [1 + 2 ** -11 - 2 ** -23, 0x3c00],
    [1 + 3 * 2 ** -11 - 2 ** -23, 0x3c01],
    // 2 - 2^-11 is the midpoint of 0x3bff (2 - 2^-10, odd) and 0x4000 (2): carries into the exponent
    [2 - 2 ** -11, 0x4000],
    [-(1 + 3 * 2 ** -11), 0xbc02],
    // at 2048 the f16 spacing is 2: 2049 ties to 2048 (0x6800), 2051 ties to 2052 (0x6802)
    [2049, 0x6800],
    [2051, 0x6802],
    [0.1, 0x2e66],
    // overflow: 65520 is the midpoint of 65504 (0x7bff, odd) and 2^16, so it rounds to Inf
    [65519, 0x7bff],
    [65520, 0x7c00],
    [-65519, 0xfbff],
    [-65520, 0xfc00],
    [65536, 0x7c00],
    [1e30, 0x7c00],
    [3.4028234663852886e38, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    // subnormals
    [2 ** -14, 0x0400],
    [2 ** -15, 0x0200],
    [2 ** -24, 0x0001],
    [1023 * 2 ** -24, 0x03ff],
    [1022.5 * 2 ** -24, 0x03fe], // tie between 0x3fe (even) and 0x3ff
    [1023.5 * 2 ** -24, 0x0400], // tie between 0x3ff (odd) and the smallest normal
    [1023.25 * 2 ** -24, 0x03ff],
    [3 * 2 ** -25, 0x0002], // 1.5 ulp: tie -> 2
    [5 * 2 ** -25, 0x0002], // 2.5 ulp: tie -> 2
    [7 * 2 ** -25, 0x0004], // 3.5 ulp: tie -> 4
    [0.75 * 2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // half the smallest subnormal: tie -> 0
    [2 ** -25 * (1 + 2 ** -23), 0x0001], // just above the half
    [2 ** -26, 0x0000],
    [1e-45, 0x0000], // a float32 subnormal
    [-(2 ** -24), 0x8001],
    [0, 0x0000],
  ])('%s -> expected bits %s', (x, h) => {
    expect(hex(toF16(x))).toBe(hex(h));
  });

  it('keeps the sign of zero and of values that underflow', () => {
    expect(toF16(-0)).toBe(0x8000);
    expect(toF16(-(2 ** -26))).toBe(0x8000);
    expect(toF16(-1e-45)).toBe(0x8000);
  });

  it('NaN stays NaN, with its sign, including signalling NaNs whose payload is only in the low bits', () => {
    for (const bits of [0x7fc00000, 0x7f800001, 0x7f801fff, 0x7fffffff, 0xffc00000, 0xff800001]) {
      const h = f32BitsToF16Bits(bits);
      expect(isF16NaN(h), hex(bits, 8)).toBe(true);
      expect(h & 0x8000).toBe(bits & 0x80000000 ? 0x8000 : 0);
      expect(f16BitsToF32(h)).toBeNaN();
    }
    expect(f32BitsToF16Bits(0x7fc00000)).toBe(0x7e00);
  });

  it('round trip f16 -> f32 -> f16 is the identity for all 65536 patterns except NaNs', () => {
    let checked = 0;
    for (let h = 0; h < 0x10000; h++) {
      if (isF16NaN(h)) continue;
      const back = f32BitsToF16Bits(f32Bits(f16BitsToF32(h)));
      if (back !== h) expect(hex(back), hex(h)).toBe(hex(h));
      checked++;
    }
    expect(checked).toBe(65536 - 2 * 1023);
  });

  it('random float32 values map to the nearest f16, ties to even (neighbour check)', () => {
    const rand = rng(12345);
    // magnitude of a pattern for nearest-value purposes: Inf counts as 2^16 (IEEE overflow rule)
    const mag = (m: number) => (m === 0x7c00 ? 65536 : f16BitsToF32(m));
    for (let i = 0; i < 200_000; i++) {
      // exponents 95..146 cover underflow to zero, subnormals, normals and overflow
      const exp = 95 + Math.floor(rand() * 52);
      const bits = ((rand() < 0.5 ? 0x80000000 : 0) | (exp << 23) | Math.floor(rand() * 0x800000)) >>> 0;
      const x = f32FromBits(bits);
      const a = Math.abs(x);
      const h = f32BitsToF16Bits(bits);
      if ((h & 0x8000) !== (x < 0 ? 0x8000 : 0)) expect.fail(`${x} -> ${hex(h)} lost its sign`);
      const m = h & 0x7fff;
      if (m === 0x7c00) {
        if (a < 65520) expect.fail(`${x} overflowed to Inf`);
        continue;
      }
      if (m > 0x7c00) expect.fail(`${x} -> NaN ${hex(h)}`);
      const d = Math.abs(a - mag(m));
      for (const n of [m - 1, m + 1]) {
        if (n < 0 || n > 0x7c00) continue;
        const dn = Math.abs(a - mag(n));
        if (dn < d) expect.fail(`${x} -> ${hex(h)}, but ${hex(n)} is nearer`);
        if (dn === d && m % 2 === 1) expect.fail(`${x} is a tie; ${hex(h)} is odd, ${hex(n)} is even`);
      }
    }
  });

  it('random float32 values agree with an independent double-arithmetic RNE', () => {
    const rand = rng(777);
    for (let i = 0; i < 200_000; i++) {
      const bits = i % 4 === 0
        ? Math.floor(rand() * 2 ** 32) // anything, mostly far out of range
        : ((rand() < 0.5 ? 0x80000000 : 0) | ((95 + Math.floor(rand() * 52)) << 23) | Math.floor(rand() * 0x800000)) >>> 0;
      if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) continue; // NaN
      const x = f32FromBits(bits);
      const got = f16BitsToF32(f32BitsToF16Bits(bits));
      const want = refF16(x);
      if (!Object.is(got, want)) expect.fail(`${x} (${hex(bits, 8)}): got ${got}, want ${want}`);
    }
  });

  it('exact midpoints chosen deliberately agree with the reference too', () => {
    // every midpoint between consecutive positive finite f16 values, and just either side
    for (let m = 0; m < 0x7bff; m++) {
      const mid = (f16BitsToF32(m) + f16BitsToF32(m + 1)) / 2; // exactly representable in float32
      if (Math.fround(mid) !== mid) expect.fail(`midpoint ${mid} is not a float32`);
      const bits = f32Bits(mid);
      const h = f32BitsToF16Bits(bits);
      if (h !== (m % 2 === 0 ? m : m + 1)) expect.fail(`midpoint above ${hex(m)} -> ${hex(h)}`);
      if (f32BitsToF16Bits(bits + 1) !== m + 1) expect.fail(`just above the midpoint above ${hex(m)}`);
      if (f32BitsToF16Bits(bits - 1) !== m) expect.fail(`just below the midpoint above ${hex(m)}`);
    }
  });
});

describe('f32 -> bf16 (round to nearest, ties to even)', () => {
  it.each([
    [0x3f800000, 0x3f80],
    [0x3f808000, 0x3f80], // tie, 0x3f80 even
    [0x3f818000, 0x3f82], // tie, 0x3f81 odd -> up
    [0x3f808001, 0x3f81],
    [0x3f807fff, 0x3f80],
    [0x3f80ffff, 0x3f81],
    [0x3f7f8000, 0x3f80], // tie, 0x3f7f odd -> carries into the exponent (1.0)
    [0xbf818000, 0xbf82],
    [0x40490fdb, 0x4049], // pi
    [0x7f7f7fff, 0x7f7f],
    [0x7f7f8000, 0x7f80], // tie at the top, odd -> Inf
    [0x7f7fffff, 0x7f80], // float32 max rounds to Inf
    [0xff7fffff, 0xff80],
    [0x7f800000, 0x7f80],
    [0xff800000, 0xff80],
    [0x80000000, 0x8000],
    [0x00000000, 0x0000],
    [0x00008000, 0x0000], // float32 subnormal tie -> 0
    [0x00018000, 0x0002],
    [0x00008001, 0x0001],
    [0x007fffff, 0x0080], // largest float32 subnormal rounds up to the smallest normal
    [0x807fffff, 0x8080],
  ])('%s -> %s', (bits, b) => {
    expect(hex(f32BitsToBf16Bits(bits))).toBe(hex(b));
  });

  it('NaN stays NaN with its sign, including payloads only in the low 16 bits (truncation would give Inf)', () => {
    for (const bits of [0x7fc00000, 0x7f800001, 0x7f80ffff, 0x7f810000, 0x7fffffff, 0xffc00000, 0xff800001]) {
      const b = f32BitsToBf16Bits(bits);
      expect(isBf16NaN(b), hex(bits, 8)).toBe(true);
      expect(b & 0x8000).toBe(bits & 0x80000000 ? 0x8000 : 0);
      expect(bf16ToF32(b)).toBeNaN();
    }
    expect(f32BitsToBf16Bits(0x7fc00000)).toBe(0x7fc0);
  });

  it('round trip bf16 -> f32 -> bf16 is the identity for all 65536 patterns except NaNs', () => {
    let checked = 0;
    for (let b = 0; b < 0x10000; b++) {
      if (isBf16NaN(b)) continue;
      const back = f32BitsToBf16Bits(f32Bits(bf16ToF32(b)));
      if (back !== b) expect(hex(back), hex(b)).toBe(hex(b));
      checked++;
    }
    expect(checked).toBe(65536 - 2 * 127);
  });

  it('random float32 values agree with an independent double-arithmetic RNE and with a neighbour check', () => {
    const rand = rng(4242);
    for (let i = 0; i < 200_000; i++) {
      const bits = Math.floor(rand() * 2 ** 32);
      if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) continue;
      const x = f32FromBits(bits);
      const b = f32BitsToBf16Bits(bits);
      const got = bf16ToF32(b);
      const want = refBf16(x);
      if (!Object.is(got, want)) expect.fail(`${x} (${hex(bits, 8)}): got ${got}, want ${want}`);
      const m = b & 0x7fff;
      if (m < 0x7f80) {
        const a = Math.abs(x);
        const d = Math.abs(a - bf16ToF32(m));
        for (const n of [m - 1, m + 1]) {
          if (n < 0 || n > 0x7f80) continue;
          const dn = Math.abs(a - (n === 0x7f80 ? 2 ** 128 : bf16ToF32(n)));
          if (dn < d || (dn === d && m % 2 === 1)) expect.fail(`${x} -> ${hex(b)}, ${hex(n)} is nearer or even`);
        }
      }
    }
  });
});

describe('bulk decodeToF32 / encodeFromF32', () => {
  const allF16 = () => {
    const u16 = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) u16[i] = i;
    return u16;
  };

  it('F16 decode of all patterns matches the scalar function, and encode returns the bytes (NaNs aside)', () => {
    const u16 = allF16();
    const bytes = new Uint8Array(u16.buffer);
    const f = new Float32Array(65536);
    decodeToF32('F16', bytes, f);
    for (let h = 0; h < 65536; h++) {
      if (isF16NaN(h) ? !Number.isNaN(f[h]) : !Object.is(f[h], f16BitsToF32(h))) expect.fail(`decode ${hex(h)} gave ${f[h]}`);
    }
    const out = new Uint8Array(65536 * 2);
    encodeFromF32('F16', f, out);
    const back = new Uint16Array(out.buffer);
    for (let h = 0; h < 65536; h++) {
      if (isF16NaN(h) ? !isF16NaN(back[h]!) : back[h] !== h) expect(hex(back[h]!)).toBe(hex(h));
    }
  });

  it('BF16 decode puts the bits in the high half; encode round-trips (NaNs aside)', () => {
    const u16 = allF16();
    const f = new Float32Array(65536);
    decodeToF32('BF16', new Uint8Array(u16.buffer), f);
    const fb = new Uint32Array(f.buffer);
    for (let b = 0; b < 65536; b++) if (fb[b] !== ((b << 16) >>> 0)) expect(hex(fb[b]!, 8)).toBe(hex(b << 16, 8));
    const out = new Uint8Array(65536 * 2);
    encodeFromF32('BF16', f, out);
    const back = new Uint16Array(out.buffer);
    for (let b = 0; b < 65536; b++) {
      if (isBf16NaN(b) ? !isBf16NaN(back[b]!) : back[b] !== b) expect(hex(back[b]!)).toBe(hex(b));
    }
  });

  it('F32 decode and encode copy bytes exactly', () => {
    const src = Float32Array.of(1.5, -0, NaN, 3.4e38, 1e-45);
    const bytes = new Uint8Array(src.buffer.slice(0));
    const f = new Float32Array(5);
    decodeToF32('F32', bytes, f);
    expect(new Uint8Array(f.buffer)).toEqual(bytes);
    const out = new Uint8Array(20);
    encodeFromF32('F32', src, out);
    expect(out).toEqual(bytes);
  });

  it('handles byte buffers at odd offsets (unaligned) for F16 and BF16', () => {
    const values = Float32Array.of(1, -2, 65504, 2 ** -24, 0.5, 1 + 3 * 2 ** -11);
    for (const dt of ['F16', 'BF16'] as const) {
      const backing = new Uint8Array(1 + values.length * 2 + 3).fill(0xee);
      const odd = backing.subarray(1, 1 + values.length * 2);
      expect(odd.byteOffset % 2).toBe(1);
      encodeFromF32(dt, values, odd);
      expect(backing[0]).toBe(0xee);
      expect(backing[backing.length - 1]).toBe(0xee);
      // same bytes as an aligned encode
      const aligned = new Uint8Array(values.length * 2);
      encodeFromF32(dt, values, aligned);
      expect(odd).toEqual(aligned);
      const decoded = new Float32Array(values.length);
      decodeToF32(dt, odd, decoded);
      const conv = dt === 'F16' ? (x: number) => f16BitsToF32(toF16(x)) : (x: number) => bf16ToF32(f32BitsToBf16Bits(f32Bits(x)));
      expect(Array.from(decoded)).toEqual(Array.from(values, conv));
    }
    // the tie value survives F16 as 1 + 2^-9 and BF16 as 1
    const d = new Float32Array(1);
    const b = new Uint8Array(2);
    encodeFromF32('F16', Float32Array.of(1 + 3 * 2 ** -11), b);
    decodeToF32('F16', b, d);
    expect(d[0]).toBe(1 + 2 ** -9);
  });

  it('writes little-endian bytes', () => {
    const out = new Uint8Array(4);
    encodeFromF32('F16', Float32Array.of(1, -2), out);
    expect(Array.from(out)).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    encodeFromF32('BF16', Float32Array.of(1, -2), out);
    expect(Array.from(out)).toEqual([0x80, 0x3f, 0x00, 0xc0]);
  });
});

describe('dtype names', () => {
  it('isDtype / isFloatDtype / sizes', () => {
    expect(isDtype('BF16')).toBe(true);
    expect(isDtype('bf16')).toBe(false);
    expect(isDtype('toString')).toBe(false);
    expect(isDtype(4)).toBe(false);
    expect(isFloatDtype('F16')).toBe(true);
    expect(isFloatDtype('I64')).toBe(false);
    expect(DTYPE_SIZES.I64).toBe(8);
    expect(DTYPE_SIZES.BOOL).toBe(1);
  });

  it('parseOutDtype accepts torch and safetensors spellings', () => {
    expect(parseOutDtype('float16')).toBe('F16');
    expect(parseOutDtype('Half')).toBe('F16');
    expect(parseOutDtype('bfloat16')).toBe('BF16');
    expect(parseOutDtype('FP32')).toBe('F32');
    expect(parseOutDtype('int8')).toBeUndefined();
  });
});
