// Reductions accumulated in float64, for every number that is reported or optimised: the wasm
// backend's one-pass float32 sums drift by 15–50 % on tensors of 16 M elements.
import type * as tf from '@tensorflow/tfjs';

export function sumF64(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0, n = x.length; i < n; i++) s += x[i]!;
  return s;
}

export function dotF64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dot of lengths ${a.length} and ${b.length}`);
  let s = 0;
  for (let i = 0, n = a.length; i < n; i++) s += a[i]! * b[i]!;
  return s;
}

export function normF64(x: ArrayLike<number>): number {
  return Math.sqrt(dotF64(x, x));
}

export function cosineF64(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const d = normF64(a) * normF64(b);
  return d === 0 ? 0 : dotF64(a, b) / d;
}

/** Sum of a tensor's elements, read back and accumulated in float64. */
export function accurateSum(t: tf.Tensor): number {
  return sumF64(t.dataSync() as Float32Array);
}

export function accurateMean(t: tf.Tensor): number {
  return t.size === 0 ? NaN : accurateSum(t) / t.size;
}
