// The float64 scorers on hand-made predictions, against values worked out by hand.
import { describe, expect, it } from 'vitest';
import { accuracy } from '../evaluators/accuracy.ts';
import { correctness } from '../evaluators/correctness.ts';
import { crossEntropy } from '../evaluators/cross-entropy.ts';
import { entropy } from '../evaluators/entropy.ts';

const f32 = (x: number[]) => Float32Array.from(x);
// Two samples, three classes: row 0 predicts class 0, row 1 predicts class 2.
const LOGITS = f32([2, 1, 0, 0, 0, 5]);
const LABELS = [0, 1];

describe('correctness and accuracy', () => {
  it('marks argmax = label per sample', () => {
    expect(Array.from(correctness(LOGITS, LABELS, 3))).toEqual([1, 0]);
    expect(correctness(LOGITS, LABELS, 3)).toBeInstanceOf(Uint8Array);
    expect(accuracy(LOGITS, LABELS, 3)).toBe(0.5);
    expect(accuracy(LOGITS, [0, 2], 3)).toBe(1);
    expect(accuracy(LOGITS, Int32Array.from([1, 0]), 3)).toBe(0);
  });

  it('breaks ties toward the lowest index', () => {
    const tied = f32([1, 1, 0, 0, 3, 3, 7, 7, 7]);
    expect(Array.from(correctness(tied, [0, 1, 0], 3))).toEqual([1, 1, 1]);
    expect(Array.from(correctness(tied, [1, 2, 2], 3))).toEqual([0, 0, 0]);
  });

  it('counts over many samples exactly', () => {
    // 1000 samples, 4 classes; the label is the argmax for every third sample.
    const n = 1000;
    const logits = new Float32Array(n * 4);
    const labels = new Uint8Array(n);
    let want = 0;
    for (let i = 0; i < n; i++) {
      logits[i * 4 + (i % 4)] = 1;
      labels[i] = i % 3 === 0 ? i % 4 : (i + 1) % 4;
      want += i % 3 === 0 ? 1 : 0;
    }
    expect(accuracy(logits, labels, 4)).toBe(want / n);
  });
});

describe('cross-entropy', () => {
  it('is the mean of logsumexp(row) − row[label]', () => {
    const row0 = Math.log(Math.exp(2) + Math.exp(1) + Math.exp(0)) - 2;
    const row1 = Math.log(1 + 1 + Math.exp(5)) - 0;
    expect(crossEntropy(LOGITS, LABELS, 3)).toBeCloseTo((row0 + row1) / 2, 12);
  });

  it('is ln k for uniform logits and stays finite for huge ones', () => {
    expect(crossEntropy(f32([3, 3, 3, 3]), [2], 4)).toBeCloseTo(Math.log(4), 12);
    // exp(1000) overflows: a naive log(softmax) would give Infinity or NaN.
    expect(crossEntropy(f32([1000, 0]), [1], 2)).toBeCloseTo(1000, 9);
    expect(crossEntropy(f32([1000, 0]), [0], 2)).toBeCloseTo(0, 12);
    expect(crossEntropy(f32([-1000, -1000, -1000]), [1], 3)).toBeCloseTo(Math.log(3), 12);
  });

  it('keeps tiny losses: log1p for confident rows, float64 accumulation across rows', () => {
    // One wrong sample (loss 20 + ε) and 100k confident right ones (loss ε = log(1 + e^-20) ≈ 2e-9
    // each). log(1 + ε) would keep ~7 digits of ε; a float32 running sum would drop every ε
    // after the 20 (its spacing there is 2e-6), losing 1e-5 of the total.
    const n = 100_000;
    const eps = Math.log1p(Math.exp(-20));
    const logits = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) logits[i * 2] = 20;
    const labels = new Uint8Array(n);
    labels[0] = 1;
    const total = crossEntropy(logits, labels, 2) * n;
    expect(total / (20 + n * eps)).toBeCloseTo(1, 11);
    expect(crossEntropy(logits.subarray(2), labels.subarray(1), 2) / eps).toBeCloseTo(1, 11);
  });

  it('gives NaN, not a plausible number, for non-finite logits', () => {
    expect(crossEntropy(f32([Infinity, 0]), [0], 2)).toBeNaN();
    expect(crossEntropy(f32([NaN, NaN]), [0], 2)).toBeNaN();
  });
});

describe('entropy', () => {
  it('is −Σ p ln p averaged over rows, worked by hand', () => {
    const z = Math.exp(2) + Math.exp(1) + 1;
    const p = [Math.exp(2) / z, Math.exp(1) / z, 1 / z];
    const h0 = -p.reduce((s, q) => s + q * Math.log(q), 0);
    const z1 = 2 + Math.exp(5);
    const q = [1 / z1, 1 / z1, Math.exp(5) / z1];
    const h1 = -q.reduce((s, r) => s + r * Math.log(r), 0);
    expect(entropy(LOGITS, 3)).toBeCloseTo((h0 + h1) / 2, 12);
  });

  it('is ln k for uniform logits at any scale and ≈ 0 for one-hot-like logits', () => {
    for (const k of [2, 3, 10, 1000]) expect(entropy(new Float32Array(k).fill(7), k)).toBeCloseTo(Math.log(k), 10);
    expect(entropy(f32([1e4, 1e4]), 2)).toBeCloseTo(Math.log(2), 12);
    const confident = entropy(f32([100, 0, 0, -100, 0, -100]), 3);
    expect(confident).toBeGreaterThanOrEqual(0);
    expect(confident).toBeLessThan(1e-40);
    expect(entropy(f32([1e30, -1e30, 0]), 3)).toBe(0);
    expect(entropy(f32([NaN, 0, 0]), 3)).toBeNaN();
  });
});

describe('shape and label checks', () => {
  it('names both sizes when logits and labels disagree', () => {
    expect(() => accuracy(LOGITS, [0, 1, 2], 3)).toThrow(/logits have 6 values but labels have 3 entries × numClasses 3 = 9/);
    expect(() => crossEntropy(LOGITS, [0], 3)).toThrow(/6 values.*1 entries.*= 3/);
    expect(() => correctness(LOGITS, LABELS, 2)).toThrow(/6 values.*2 entries.*= 4/);
    expect(() => entropy(LOGITS, 4)).toThrow(/6 values.*numClasses = 4/);
  });

  it('refuses labels outside [0, numClasses), bad numClasses and empty batches', () => {
    expect(() => accuracy(LOGITS, [0, 3], 3)).toThrow(/label 1 is 3, not a class index in \[0, 3\)/);
    expect(() => crossEntropy(LOGITS, [-1, 0], 3)).toThrow(/label 0 is -1/);
    expect(() => accuracy(LOGITS, [0.5, 0], 3)).toThrow(/label 0 is 0.5/);
    expect(() => entropy(LOGITS, 0)).toThrow(/numClasses must be a positive integer/);
    expect(() => accuracy(new Float32Array(0), [], 3)).toThrow(/empty batch/);
    expect(() => entropy(new Float32Array(0), 3)).toThrow(/empty batch/);
  });
});
