// The tfjs engine on the default (wasm) backend: backend choice, the transposed-matmul kernel
// wrapper (same numbers as a float64 product, forward and gradient), float64 reductions where
// wasm's float32 sum drifts, and the heap guard refusing instead of corrupting.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_WASM_HEAP_LIMIT, initEngine, setWasmHeapLimit } from '../src/tensor/engine.ts';
import { accurateSum, cosineF64, dotF64, normF64 } from '../src/tensor/reduce.ts';
import { rng } from './helpers/io-tmp.ts';

beforeAll(async () => {
  await initEngine('wasm');
});

/** Row-major float64 product of [m,k] and [k,n]. */
function matmul64(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) out[i * n + j]! += a[i * k + p]! * b[p * n + j]!;
  return out;
}

/** tfjs takes float32 data; the float64 references see the same (rounded) values below. */
const f32 = (x: ArrayLike<number>) => Float32Array.from(x);

function transpose64(x: Float64Array, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = x[i * c + j]!;
  return out;
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
  return err / scale;
}

describe('backend choice', () => {
  it('auto falls back to wasm when tfjs-node cannot be imported, and says so', async () => {
    const e = await initEngine('auto');
    expect(e.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('an unknown backend is ENGINE_E_BACKEND listing the choices', async () => {
    await expect(initEngine('gpu' as never)).rejects.toThrow(/ENGINE_E_BACKEND: unknown backend "gpu"; use one of auto, tensorflow, wasm, cpu/);
  });

  it('tensorflow without tfjs-node installed is ENGINE_E_BACKEND with the install hint', async () => {
    await expect(initEngine('tensorflow')).rejects.toThrow(/ENGINE_E_BACKEND: .*npm install @tensorflow\/tfjs-node-gpu/);
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('transposed matmul on wasm', () => {
  const next = rng(3);
  const m = 7;
  const k = 13;
  const n = 5;
  const a = Float64Array.from({ length: m * k }, () => Math.fround(next() - 0.5));
  const b = Float64Array.from({ length: k * n }, () => Math.fround(next() - 0.5));
  const want = matmul64(a, b, m, k, n);

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transposeA=%s transposeB=%s equals the float64 product within 1e-6', (ta, tb) => {
    const A = ta ? tf.tensor2d(f32(transpose64(a, m, k)), [k, m]) : tf.tensor2d(f32(a), [m, k]);
    const B = tb ? tf.tensor2d(f32(transpose64(b, k, n)), [n, k]) : tf.tensor2d(f32(b), [k, n]);
    const before = tf.memory().numTensors;
    const C = tf.matMul(A, B, ta, tb);
    expect(C.shape).toEqual([m, n]);
    expect(maxRelErr(C.dataSync(), want)).toBeLessThan(1e-6);
    C.dispose();
    expect(tf.memory().numTensors).toBe(before); // the wrapper's transposes are freed
    A.dispose();
    B.dispose();
  });

  it('the gradient of sum(A·B) w.r.t. A is ones·Bᵀ (computed with transposed matmuls)', () => {
    const A = tf.tensor2d(f32(a), [m, k]);
    const B = tf.tensor2d(f32(b), [k, n]);
    const g = tf.grad((x: tf.Tensor) => tf.matMul(x as tf.Tensor2D, B).sum())(A);
    const ones = new Float64Array(m * n).fill(1);
    const wantG = matmul64(ones, transpose64(b, k, n), m, n, k);
    expect(maxRelErr(g.dataSync(), wantG)).toBeLessThan(1e-6);
    tf.dispose([A, B, g]);
  });

  it('batched (rank-3) transposed matmul matches per-batch float64 products', () => {
    const A = tf.tensor3d(f32([...a, ...a.map((v) => -v)]), [2, m, k]);
    const Bt = tf.tensor3d(f32([...transpose64(b, k, n), ...transpose64(b, k, n)]), [2, n, k]);
    const C = tf.matMul(A, Bt, false, true);
    const got = C.dataSync();
    expect(maxRelErr(got.subarray(0, m * n), want)).toBeLessThan(1e-6);
    expect(maxRelErr(got.subarray(m * n), want.map((v) => -v))).toBeLessThan(1e-6);
    tf.dispose([A, Bt, C]);
  });
});

describe('float64 reductions', () => {
  it('sum of 16 M × 0.1 is exact to 1e-9 in float64 where wasm float32 drifts by more than 1 %', () => {
    const x = tf.fill([16 * 1024 * 1024], 0.1);
    const want = 16 * 1024 * 1024 * Math.fround(0.1);
    const wasm = tf.sum(x).dataSync()[0]!;
    expect(Math.abs(accurateSum(x) - want) / want).toBeLessThan(1e-9);
    expect(Math.abs(wasm - want) / want).toBeGreaterThan(0.01); // the trap this module exists for
    x.dispose();
  });

  it('dot, norm and cosine on hand-worked vectors', () => {
    expect(dotF64([1, 2, 3], [4, -5, 6])).toBe(12);
    expect(normF64([3, 4])).toBe(5);
    expect(cosineF64([1, 0], [1, 1])).toBeCloseTo(Math.SQRT1_2, 15);
    expect(cosineF64([0, 0], [1, 1])).toBe(0);
  });
});

describe('wasm heap guard', () => {
  it('refuses an allocation past the limit with ENGINE_E_MEMORY and leaves other tensors intact', () => {
    const keep = tf.tensor1d([1, 2, 3]);
    setWasmHeapLimit(tf.memory().numBytes + 4 * 1024 * 1024);
    try {
      expect(() => tf.zeros([8 * 1024 * 1024])).toThrow(/ENGINE_E_MEMORY: the wasm backend would hold/);
      const small = tf.ones([1024]);
      expect(accurateSum(small)).toBe(1024);
      small.dispose();
    } finally {
      setWasmHeapLimit(DEFAULT_WASM_HEAP_LIMIT);
    }
    expect(Array.from(keep.dataSync())).toEqual([1, 2, 3]);
    keep.dispose();
  });
});
