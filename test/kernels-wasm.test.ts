// The wasm SIMD kernels against the JavaScript reference loops they replace: the same bits for
// every kernel, on random data salted with the awkward values (±0, subnormals, Inf, NaN, values at
// the f16/bf16 rounding boundaries, |τ| ties at the selection threshold), at lengths that exercise
// the SIMD body and the scalar tails. Each case first checks the wasm kernel actually ran.
import { describe, expect, it } from 'vitest';
import { decodeToF32, encodeFromF32, f32BitsToF16Bits } from '../src/io/dtype.ts';
import { normPartial } from '../src/merge/sparsify.ts';
import { subtractInto, taskVectorCombine, weightedSum, type Keep } from '../src/tensor/fused-kernels.ts';
import { withKernelBackend, type KernelBackend } from '../src/tensor/kernel-backend.ts';
import { bernoulliMask } from '../src/tensor/random.ts';
import { bucketMembers, highHistogram, markSelected, subtractAndHistogram, type Selection } from '../src/tensor/select.ts';
import { wasmDecode, wasmDecodeSubtract, wasmTaskVectorCombine, wasmWeightedSumHalf } from '../src/tensor/wasm/kernel-calls.ts';
import { kernelHeap, wasmKernels } from '../src/tensor/wasm/wasm-kernels.ts';
import { rng } from './helpers/io-tmp.ts';

const both = <T>(f: () => T): [T, T] => [withKernelBackend('js', f), withKernelBackend('wasm', f)];
const bytesOf = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** Floats drawn to hit every branch: normal spread, tiny, huge, exact ties, specials. */
function awkward(n: number, seed: number, quantum = 0): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  const specials = [0, -0, Infinity, -Infinity, NaN, 65504, 65520, 65519.99, 6.1e-5, 5.96e-8, 2.98e-8, 1e-40, -1e-45, 3.4e38];
  for (let i = 0; i < n; i++) {
    const u = r();
    if (u < 0.03) out[i] = specials[Math.floor(r() * specials.length)]!;
    else if (u < 0.06) bits[i] = Math.floor(r() * 4294967296) >>> 0; // any bit pattern
    else if (u < 0.1) out[i] = (r() - 0.5) * 1e-6; // f16 subnormal range
    else out[i] = quantum ? Math.round((r() - 0.5) * 4 / quantum) * quantum : (r() - 0.5) * 4;
  }
  return out;
}

const LENGTHS = [64, 67, 1031, 70_001];

describe('wasm kernels are available', () => {
  it('loads, and a kernel call reports that it ran', () => {
    expect(wasmKernels()).not.toBeNull();
    const out = new Float32Array(64);
    expect(wasmDecode('F16', new Uint8Array(128), out)).toBe(true);
    expect(withKernelBackend('js', () => wasmKernels())).toBeNull();
  });

  it('an unknown MERGESEARCH_KERNELS value is refused with ENGINE_E_KERNELS', () => {
    expect(() => withKernelBackend('simd' as KernelBackend, () => wasmKernels())).toThrow(/ENGINE_E_KERNELS.*MERGESEARCH_KERNELS=simd/);
  });
});

describe('f16 / bf16 decode and encode', () => {
  it('decodes all 65536 f16 and bf16 bit patterns to the same float32 bits', () => {
    const raw = new Uint16Array(65536).map((_, i) => i);
    for (const dtype of ['F16', 'BF16'] as const) {
      const [js, wasm] = both(() => {
        const out = new Float32Array(65536);
        decodeToF32(dtype, new Uint8Array(raw.buffer), out);
        return out;
      });
      expect(bytesOf(wasm).equals(bytesOf(js))).toBe(true);
    }
  });

  it.each(LENGTHS)('encodes %i awkward floats to the same f16 and bf16 bits', (n) => {
    const values = awkward(n, n);
    for (const dtype of ['F16', 'BF16'] as const) {
      const [js, wasm] = both(() => {
        const out = new Uint8Array(n * 2);
        encodeFromF32(dtype, values, out);
        return out;
      });
      expect(bytesOf(wasm).equals(bytesOf(js))).toBe(true);
    }
  });

  it('f16 encode rounds to nearest even (hand-worked): 1 + 2^-11 → 1, 1 + 3·2^-11 → 1 + 2^-9', () => {
    const out = new Uint8Array(128);
    const v = new Float32Array(64).fill(1 + 2 ** -11);
    v[1] = 1 + 3 * 2 ** -11;
    withKernelBackend('wasm', () => encodeFromF32('F16', v, out));
    const h = new Uint16Array(out.buffer);
    expect(h[0]).toBe(0x3c00);
    expect(h[1]).toBe(0x3c02);
    expect(h[0]).toBe(f32BitsToF16Bits(new Uint32Array(new Float32Array([1 + 2 ** -11]).buffer)[0]!));
  });
});

describe('task vectors and exact selection', () => {
  it.each(LENGTHS)('τ = x − b, the |τ| histogram, bucket members and the keep mask agree (n = %i)', (n) => {
    const x = awkward(n, 1 + n, 1 / 64);
    const b = awkward(n, 2 + n, 1 / 64);
    const [tj, tw] = both(() => {
      const t = new Float32Array(n);
      subtractInto(t, x, b);
      return t;
    });
    expect(bytesOf(tw).equals(bytesOf(tj))).toBe(true);
    const [hj, hw] = both(() => highHistogram(tj));
    expect(bytesOf(hw).equals(bytesOf(hj))).toBe(true);
    // The fused first pass: the same τ and the same histogram.
    const [fj, fw] = both(() => {
      const t = new Float32Array(n);
      return { t, h: subtractAndHistogram(t, x, b) };
    });
    for (const f of [fj, fw]) {
      expect(bytesOf(f.t).equals(bytesOf(tj))).toBe(true);
      expect(bytesOf(f.h).equals(bytesOf(hj))).toBe(true);
    }
    // The bucket holding the median |τ|, and a threshold inside it with ties to admit.
    let acc = 0;
    let bucket = 0;
    for (let k = hj.length - 1; k >= 0; k--) {
      acc += hj[k]!;
      if (acc >= n / 2) {
        bucket = k;
        break;
      }
    }
    const [mj, mw] = both(() => bucketMembers(tj, bucket));
    expect(mw.length).toBeGreaterThan(0);
    expect(bytesOf(mw).equals(bytesOf(mj))).toBe(true);
    const bits = (bucket << 16) | mj[0]!;
    const equal = mj.filter((v) => v === mj[0]).length;
    const sel: Selection = { m: 0, bits, admitEqual: Math.max(0, equal - 1), equalBefore: [0, 1], all: false, none: false };
    for (const chunk of [0, 1]) {
      const [kj, kw] = both(() => {
        const out = new Uint8Array(n);
        markSelected(tj, sel, chunk, out);
        return out;
      });
      expect(bytesOf(kw).equals(bytesOf(kj))).toBe(true);
    }
  });
});

describe('task vectors from half-precision bytes', () => {
  // Every f16 / bf16 bit pattern among the model's halves, against a base of awkward floats: the
  // fused kernel gives the bits of decodeToF32 then subtractInto, and the histogram of highHistogram.
  it.each(LENGTHS)('decode_subtract agrees with decode → subtract → histogram, f16 and bf16 (n = %i)', (n) => {
    const r = rng(7 + n);
    const raw = new Uint16Array(n).map((_, i) => (i < 65536 && n > 65536 ? i : Math.floor(r() * 65536)));
    const bytes = new Uint8Array(raw.buffer);
    const b = awkward(n, 3 + n, 1 / 64);
    for (const dtype of ['F16', 'BF16'] as const) {
      const t = withKernelBackend('js', () => {
        const x = new Float32Array(n);
        decodeToF32(dtype, bytes, x);
        const out = new Float32Array(n);
        subtractInto(out, x, b);
        return out;
      });
      const h = withKernelBackend('js', () => highHistogram(t));
      const plain = new Float32Array(n);
      expect(wasmDecodeSubtract(dtype, bytes, b, plain, false)).toBe(true);
      expect(bytesOf(plain).equals(bytesOf(t))).toBe(true);
      const fused = new Float32Array(n);
      const hist = wasmDecodeSubtract(dtype, bytes, b, fused, true);
      expect(hist).toBeInstanceOf(Uint32Array);
      expect(bytesOf(fused).equals(bytesOf(t))).toBe(true);
      expect(bytesOf(hist!).equals(bytesOf(h))).toBe(true);
    }
  });
});

describe('DARE Bernoulli masks and norms', () => {
  it.each([[0, 1000], [4294967296 - 37, 100], [123456789, 70_001]])('masks from element %i (%i elements) match bit for bit', (first, n) => {
    const [j, w] = both(() => {
      const m = new Uint8Array(n);
      bernoulliMask(0xdeadbeef, first, 0.3, m);
      return m;
    });
    expect(bytesOf(w).equals(bytesOf(j))).toBe(true);
    expect(j.reduce((a, v) => a + v, 0)).toBeGreaterThan(0);
  });

  it.each(['l1', 'l2', 'linf'] as const)('%s partial norms are the same doubles, with and without a mask', (kind) => {
    const tau = awkward(70_001, 9).map((v) => (Number.isFinite(v) ? v : 0.5));
    const mask = new Uint8Array(tau.length).map((_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    for (const m of [null, mask]) {
      const [j, w] = both(() => normPartial(kind, tau, m));
      expect(w).toEqual(j);
    }
  });
});

describe('fused combines', () => {
  it.each(LENGTHS)('weighted sums of 1, 3 and 5 inputs agree (n = %i)', (n) => {
    for (const k of [1, 3, 5]) {
      const inputs = Array.from({ length: k }, (_, i) => awkward(n, 40 + i));
      const weights = Array.from({ length: k }, (_, i) => 0.1 + i / 7);
      const [j, w] = both(() => {
        const out = new Float32Array(n);
        weightedSum(out, inputs, weights);
        return out;
      });
      expect(bytesOf(w).equals(bytesOf(j))).toBe(true);
    }
  });

  it.each(LENGTHS)('the fused half-precision weighted sum equals decode → weightedSum → range check → encode (n = %i)', (n) => {
    const kinds = ['F16', 'BF16', 'F16'] as const;
    const weights = [0.3, -0.45, 0.8];
    // Clamped data stays in range (the bytes are compared); raw data has Inf/NaN/overflow (the
    // count and the first index are compared: the merge then fails and writes nothing).
    for (const [outKind, clamp] of [['F16', true], ['BF16', true], ['F16', false], ['BF16', false]] as const) {
      const raws = kinds.map((d, i) => {
        const raw = new Uint8Array(n * 2);
        encodeFromF32(d, awkward(n, 90 + i).map((v) => (!clamp ? v : Number.isFinite(v) ? Math.max(-30000, Math.min(30000, v)) : 1)), raw);
        return raw;
      });
      const limit = outKind === 'F16' ? 65520 : 3.3e38;
      const ref = withKernelBackend('js', () => {
        const xs = raws.map((r, i) => {
          const x = new Float32Array(n);
          decodeToF32(kinds[i]!, r, x);
          return x;
        });
        const sum = new Float32Array(n);
        weightedSum(sum, xs, weights);
        const bad = sum.reduce((a, v) => a + +!(Math.abs(v) < limit), 0);
        const first = sum.findIndex((v) => !(Math.abs(v) < limit));
        const out = new Uint8Array(n * 2);
        encodeFromF32(outKind, sum, out);
        return { bad, first, out };
      });
      const out = new Uint8Array(n * 2);
      const got = withKernelBackend('wasm', () => wasmWeightedSumHalf(raws, [...kinds], weights, out, outKind, limit));
      expect(got).toBeDefined();
      expect(got!.count).toBe(ref.bad);
      expect(got!.first).toBe(ref.first);
      if (clamp) {
        expect(ref.bad).toBe(0);
        expect(Buffer.from(out).equals(Buffer.from(ref.out))).toBe(true);
      } else {
        expect(ref.bad).toBeGreaterThan(0);
      }
    }
  });

  // Every keep kind, τ given or formed on the fly, with and without sign consensus and normalize,
  // quantized data (exact ties and zero sums) and random data, negative and zero weights.
  const combos: Array<[string, boolean, boolean]> = [
    ['consensus+normalize', true, true],
    ['consensus', true, false],
    ['sum+normalize', false, true],
    ['sum', false, false],
  ];
  it.each(combos)('taskVectorCombine %s gives the same bits for every keep kind', (_label, consensus, normalize) => {
    for (const n of LENGTHS) {
      for (const quantum of [0, 1 / 16]) {
        const base = awkward(n, 70 + n, quantum).map((v) => (Number.isFinite(v) ? v : 1));
        const models = Array.from({ length: 4 }, (_, i) => awkward(n, 80 + i + n, quantum));
        const taus = models.map((m) => m.map((v, e) => v - base[e]!));
        const tauBits = new Uint32Array(taus[2]!.buffer);
        const thresh = tauBits[5]! & 0x7fffffff;
        const masks: Keep[] = [null, new Uint8Array(n).map((_, e) => +(e % 3 !== 0)), { bits: thresh, admit: 3, seen: 1 }, null];
        const isDelta = [false, true, true, false];
        const inputs = models.map((m, i) => (isDelta[i] ? taus[i]! : m));
        const eff = [0.7, -0.3, 1.25, 0];
        const weights = [0.7, -0.3, 1, 0.5];
        // 4 models, and 7 (past the kernel's unrolled model counts).
        for (const k of [4, 7]) {
          const pick = <T>(a: T[]) => Array.from({ length: k }, (_, i) => a[i % 4]!);
          const [j, w] = both(() => {
            const out = new Float32Array(n);
            taskVectorCombine(out, base, pick(inputs), pick(isDelta), pick(masks).map((m) => (m && !(m instanceof Uint8Array) ? { ...m } : m)), pick(eff), pick(weights), 0.9, consensus, normalize);
            return out;
          });
          // NaN payloads are not part of the contract (a NaN output fails the merge either way).
          const canon = (a: Float32Array) => bytesOf(a.map((v) => (Number.isNaN(v) ? NaN : v)));
          expect(canon(w).equals(canon(j))).toBe(true);
        }
      }
    }
  });

  it('runs the wasm kernel on heap-resident arrays without staging copies', () => {
    const heap = kernelHeap()!;
    const n = 1024;
    const base = heap.f32(n)!;
    const x = heap.f32(n)!;
    const out = heap.f32(n)!;
    base.fill(1);
    x.fill(3);
    expect(wasmTaskVectorCombine(out, base, [{ input: x, isDelta: false, keep: null, eff: 0.5, weight: 0.5 }], true, true, 2)).toBe(true);
    // τ = 2, weighted 0.5, normalised by 0.5 → 2, times 2, plus the base 1 → 5.
    expect(Array.from(out.subarray(0, 4))).toEqual([5, 5, 5, 5]);
    for (const a of [base, x, out]) heap.give(a);
    expect(heap.liveBlocks).toBe(0);
  });
});

describe('heap growth keeps earlier views valid', () => {
  it('an array allocated before the memory grows still reads its values after', () => {
    const heap = kernelHeap()!;
    const a = heap.f32(1000)!;
    a.fill(7);
    const reserved = heap.reservedBytes;
    const big = heap.f32(reserved)!; // forces growth
    expect(heap.reservedBytes).toBeGreaterThan(reserved);
    expect(a.length).toBe(1000);
    expect(a[999]).toBe(7);
    heap.give(big);
    heap.give(a);
  });
});
