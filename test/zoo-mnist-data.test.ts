// The mnist8 data: the real digits from the mnist package, deterministic splits, and the task
// transforms checked on hand-made images.
import { describe, expect, it } from 'vitest';
import { loadMnistDigits, permutation, PIXELS, SIDE, splitIndices, subset } from '../src/zoo/mnist-data.ts';
import { MNIST8_TASKS, taskKeys, transformImage } from '../src/zoo/mnist-tasks.ts';

/** An image whose pixel (r, c) holds (r * 28 + c) mod 256, so every move is visible. */
const ramp = Uint8Array.from({ length: PIXELS }, (_, i) => i % 256);
const px = (img: Uint8Array, r: number, c: number) => img[r * SIDE + c]!;
const keys = taskKeys(7);

describe('digits', () => {
  const d = loadMnistDigits();
  it('has the package\'s 10,000 digits with all ten labels and grey levels in 0..255', () => {
    expect(d.count).toBe(10000);
    expect(d.images.length).toBe(10000 * PIXELS);
    const counts = new Array(10).fill(0);
    for (const l of d.labels) counts[l]++;
    expect(counts.every((c) => c > 800)).toBe(true);
    let max = 0;
    let ink = 0;
    for (const v of d.images) {
      max = Math.max(max, v);
      ink += v > 128 ? 1 : 0;
    }
    expect(max).toBe(255);
    expect(ink / d.images.length).toBeGreaterThan(0.05); // real strokes, not an empty array
  });

  it('splits are disjoint, cover everything, follow the fractions and depend only on the seed', () => {
    const s = splitIndices(10000, 3);
    expect([s.train.length, s.calibration.length, s.validation.length, s.test.length]).toEqual([6000, 1000, 1000, 2000]);
    const all = new Set([...s.train, ...s.calibration, ...s.validation, ...s.test]);
    expect(all.size).toBe(10000);
    expect(Array.from(splitIndices(10000, 3).test)).toEqual(Array.from(s.test));
    expect(Array.from(splitIndices(10000, 4).test)).not.toEqual(Array.from(s.test));
    const sub = subset(d, s.test.subarray(0, 3));
    expect(Array.from(sub.labels)).toEqual(Array.from(s.test.subarray(0, 3)).map((i) => d.labels[i]));
    expect(Array.from(sub.images.subarray(PIXELS, 2 * PIXELS))).toEqual(Array.from(d.images.subarray(s.test[1]! * PIXELS, (s.test[1]! + 1) * PIXELS)));
  });
});

describe('task transforms on a ramp image', () => {
  it('plain is the identity; rot180 twice is the identity; rot90 four times is the identity', () => {
    expect(Array.from(transformImage('plain', ramp, 0, keys))).toEqual(Array.from(ramp));
    const r2 = transformImage('rot180', transformImage('rot180', ramp, 0, keys), 0, keys);
    expect(Array.from(r2)).toEqual(Array.from(ramp));
    let r: Uint8Array = ramp;
    for (let i = 0; i < 4; i++) r = transformImage('rot90', r, 0, keys);
    expect(Array.from(r)).toEqual(Array.from(ramp));
  });

  it('rot90 turns clockwise: the top-left corner goes to the top-right', () => {
    const r = transformImage('rot90', ramp, 0, keys);
    expect(px(r, 0, SIDE - 1)).toBe(px(ramp, 0, 0));
    expect(px(r, SIDE - 1, SIDE - 1)).toBe(px(ramp, 0, SIDE - 1));
    expect(px(r, 3, 5)).toBe(px(ramp, SIDE - 1 - 5, 3));
  });

  it('mirror flips columns, invert complements grey levels', () => {
    const m = transformImage('mirror', ramp, 0, keys);
    expect(px(m, 4, 0)).toBe(px(ramp, 4, SIDE - 1));
    const inv = transformImage('invert', ramp, 0, keys);
    expect(inv[10]).toBe(255 - ramp[10]!);
  });

  it('permute and blocks move pixels without changing the multiset; blocks keep 7×7 blocks intact', () => {
    for (const t of ['permute', 'blocks'] as const) {
      const out = transformImage(t, ramp, 0, keys);
      expect(Array.from(out).sort((a, b) => a - b)).toEqual(Array.from(ramp).sort((a, b) => a - b));
      expect(Array.from(out)).not.toEqual(Array.from(ramp));
    }
    const b = transformImage('blocks', ramp, 0, keys);
    const src = keys.blockPermutation[0]!;
    const [sr, sc] = [Math.floor(src / 4) * 7, (src % 4) * 7];
    for (let r = 0; r < 7; r++) for (let c = 0; c < 7; c++) expect(px(b, r, c)).toBe(px(ramp, sr + r, sc + c));
  });

  it('noise is fixed per sample, differs between samples, stays within ±96 and 0..255', () => {
    const a = transformImage('noise', ramp, 5, keys);
    expect(Array.from(transformImage('noise', ramp, 5, keys))).toEqual(Array.from(a));
    expect(Array.from(transformImage('noise', ramp, 6, keys))).not.toEqual(Array.from(a));
    for (let i = 0; i < PIXELS; i++) expect(Math.abs(a[i]! - ramp[i]!)).toBeLessThanOrEqual(96);
  });

  it('there are eight tasks and the keys depend on the seed', () => {
    expect(MNIST8_TASKS.length).toBe(8);
    expect(Array.from(taskKeys(7).pixelPermutation)).toEqual(Array.from(keys.pixelPermutation));
    expect(Array.from(taskKeys(8).pixelPermutation)).not.toEqual(Array.from(keys.pixelPermutation));
    expect(Array.from(permutation(5, 1)).sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
