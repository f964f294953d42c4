// Seeded subsets of calibration sets: deterministic, distinct, in range, sorted, and uniform.
import { describe, expect, it } from 'vitest';
import { subsampleIndices } from '../evaluators/subsample.ts';

function checkSubset(idx: Uint32Array, n: number, k: number): void {
  expect(idx).toBeInstanceOf(Uint32Array);
  expect(idx.length).toBe(Math.min(n, k));
  for (let i = 0; i < idx.length; i++) {
    expect(idx[i]!).toBeLessThan(n);
    if (i > 0) expect(idx[i]!).toBeGreaterThan(idx[i - 1]!); // sorted and distinct
  }
}

describe('subsampleIndices', () => {
  it('gives the same indices for the same seed and different ones for another seed', () => {
    const a = subsampleIndices(1000, 64, 42);
    checkSubset(a, 1000, 64);
    expect(Array.from(subsampleIndices(1000, 64, 42))).toEqual(Array.from(a));
    expect(Array.from(subsampleIndices(1000, 64, 43))).not.toEqual(Array.from(a));
    // Seeds beyond 32 bits and negative seeds are distinct seeds too.
    expect(Array.from(subsampleIndices(1000, 64, 42 + 2 ** 32))).not.toEqual(Array.from(a));
    expect(Array.from(subsampleIndices(1000, 64, -42))).not.toEqual(Array.from(a));
  });

  it('returns every index when k ≥ n, and nothing for k = 0 or n = 0', () => {
    expect(Array.from(subsampleIndices(5, 5, 1))).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(subsampleIndices(5, 99, 1))).toEqual([0, 1, 2, 3, 4]);
    expect(subsampleIndices(5, 0, 1).length).toBe(0);
    expect(subsampleIndices(0, 3, 1).length).toBe(0);
  });

  it('draws distinct indices at every ratio of k to n, dense and sparse', () => {
    for (const [n, k] of [[10, 9], [100, 30], [1000, 10], [4_000_000_000, 1000]] as const) {
      for (let seed = 0; seed < 5; seed++) checkSubset(subsampleIndices(n, k, seed), n, k);
    }
  });

  it('keeps the smaller draw inside the larger one for the same seed (same swaps on both paths)', () => {
    // k = 10 of 1000 uses the sparse path, k = 500 the dense one; a partial Fisher-Yates's first
    // 10 picks do not depend on how many more follow.
    for (let seed = 0; seed < 20; seed++) {
      const big = new Set(subsampleIndices(1000, 500, seed));
      for (const i of subsampleIndices(1000, 10, seed)) expect(big.has(i)).toBe(true);
    }
  });

  it('picks every index about equally often over many seeds', () => {
    const n = 10;
    const k = 3;
    const seeds = 20_000;
    const counts = new Array<number>(n).fill(0);
    for (let s = 0; s < seeds; s++) for (const i of subsampleIndices(n, k, s)) counts[i]!++;
    const expected = (seeds * k) / n; // 6000; sd ≈ 65
    for (const c of counts) expect(Math.abs(c - expected)).toBeLessThan(400);
  });

  it('refuses bad arguments', () => {
    expect(() => subsampleIndices(-1, 3, 1)).toThrow(/n must be/);
    expect(() => subsampleIndices(10, 2.5, 1)).toThrow(/k must be/);
    expect(() => subsampleIndices(10, 3, 0.5)).toThrow(/seed must be/);
  });
});
