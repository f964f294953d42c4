// Computations that read tensor values part-way (a greedy token per generation step, a batch's
// log-probabilities) written once as generators: each `yield`s a tensor whose values it needs and
// gets them back. The CPU path drives them synchronously (dataSync); the GPU scoring thread drives
// the same code with `await tensor.data()`, since tfjs' webgpu backend reads synchronously only
// through OffscreenCanvas, which Node lacks. The generator disposes what it yielded.
import type * as tf from '@tensorflow/tfjs';

export type TensorValues = ArrayLike<number>;
export type Reads<T> = Generator<tf.Tensor, T, TensorValues>;

/** Run `g`, reading each yielded tensor with dataSync. */
export function runReadsSync<T>(g: Reads<T>): T {
  let r = g.next();
  for (;;) {
    if (r.done) return r.value;
    let values: TensorValues;
    try {
      values = r.value.dataSync() as TensorValues;
    } catch (e) {
      // Let the generator's finally blocks free what it holds, then fail with the read's error.
      g.return(undefined as T);
      throw e;
    }
    r = g.next(values);
  }
}

/** Run `g`, reading each yielded tensor with `await data()` (backends without synchronous reads). */
export async function runReadsAsync<T>(g: Reads<T>): Promise<T> {
  let r = g.next();
  for (;;) {
    if (r.done) return r.value;
    let values: TensorValues;
    try {
      values = (await r.value.data()) as TensorValues;
    } catch (e) {
      g.return(undefined as T);
      throw e;
    }
    r = g.next(values);
  }
}
