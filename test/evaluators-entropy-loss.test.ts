// The differentiable entropy (AdaMerging's objective) on the wasm backend: its value matches the
// float64 scorer, and its gradient matches central finite differences of the float64 scorer.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { entropy, entropyLoss } from '../evaluators/entropy.ts';
import { initEngine } from '../src/tensor/engine.ts';

beforeAll(async () => {
  await initEngine('wasm');
});

/** Deterministic logits in [-scale, scale), rounded to float32 so both sides see the same values. */
function makeLogits(rows: number, k: number, scale: number, seed: number): Float32Array {
  const out = new Float32Array(rows * k);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

describe('entropyLoss', () => {
  it('equals the float64 entropy within 1e-5', () => {
    for (const [rows, k, scale] of [[8, 10, 3], [16, 4, 20], [5, 100, 1], [3, 2, 200]] as const) {
      const x = makeLogits(rows, k, scale, rows * 31 + k);
      const t = tf.tensor2d(x, [rows, k]);
      const loss = entropyLoss(t);
      expect(loss.rank).toBe(0);
      expect(Math.abs(loss.dataSync()[0]! - entropy(x, k))).toBeLessThan(1e-5);
      tf.dispose([t, loss]);
    }
  });

  it('is ln k for uniform rows and finite for extreme logits', () => {
    const t = tf.tensor2d([[5, 5, 5, 5], [-3, -3, -3, -3]]);
    const u = tf.tensor2d([[1e4, -1e4, 0], [0, 0, 1e4]]);
    const [a, b] = [entropyLoss(t), entropyLoss(u)];
    expect(a.dataSync()[0]).toBeCloseTo(Math.log(4), 6);
    expect(Math.abs(b.dataSync()[0]!)).toBe(0);
    tf.dispose([t, u, a, b]);
  });

  it('has the gradient of the float64 entropy (central finite differences)', () => {
    const rows = 6;
    const k = 5;
    const x = makeLogits(rows, k, 2, 7);
    const t = tf.tensor2d(x, [rows, k]);
    const grad = tf.grad((l: tf.Tensor) => entropyLoss(l as tf.Tensor2D))(t);
    const g = grad.dataSync();
    const x64 = Float64Array.from(x);
    const h = 1e-5;
    let maxErr = 0;
    let maxAbs = 0;
    for (let i = 0; i < x64.length; i++) {
      const keep = x64[i]!;
      x64[i] = keep + h;
      const up = entropy(x64, k);
      x64[i] = keep - h;
      const down = entropy(x64, k);
      x64[i] = keep;
      const fd = (up - down) / (2 * h);
      maxErr = Math.max(maxErr, Math.abs(g[i]! - fd));
      maxAbs = Math.max(maxAbs, Math.abs(fd));
    }
    expect(maxAbs).toBeGreaterThan(1e-3); // the check is not vacuous
    expect(maxErr).toBeLessThan(1e-5);
    tf.dispose([t, grad]);
  });

  it('frees its intermediates and refuses non-2-D input', () => {
    const t = tf.tensor2d(makeLogits(4, 3, 1, 1), [4, 3]);
    const before = tf.memory().numTensors;
    const loss = entropyLoss(t);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([t, loss]);
    const v = tf.tensor1d([1, 2, 3]);
    expect(() => entropyLoss(v as unknown as tf.Tensor2D)).toThrow(/\[batch, classes\]/);
    v.dispose();
  });
});
