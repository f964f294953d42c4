import { describe, expect, it } from 'vitest';
import { crowdingDistance, dominates, hypervolume, nonDominatedSort, paretoFront, paretoRanks } from '../src/search/pareto.ts';

/** A tiny LCG local to the tests, so the oracles below do not share code with src/search/rng.ts. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Exact hypervolume by inclusion-exclusion over all subsets: Σ (−1)^{|S|+1} box(max of S). */
function inclusionExclusion(points: number[][], ref: number[]): number {
  const inside = points.filter((p) => p.every((v, k) => v < ref[k]!));
  let total = 0;
  for (let mask = 1; mask < 1 << inside.length; mask++) {
    const corner = ref.map(() => -Infinity);
    let size = 0;
    inside.forEach((p, i) => {
      if (mask & (1 << i)) {
        size++;
        p.forEach((v, k) => (corner[k] = Math.max(corner[k]!, v)));
      }
    });
    const vol = corner.reduce((acc, c, k) => acc * (ref[k]! - c), 1);
    total += size % 2 === 1 ? vol : -vol;
  }
  return total;
}

/** Points on (or just behind) the simplex Σ f = 1, so most of them are mutually non-dominated. */
function simplexFront(n: number, d: number, rand: () => number): number[][] {
  return Array.from({ length: n }, () => {
    const e = Array.from({ length: d }, () => -Math.log(1 - rand()));
    const s = e.reduce((a, b) => a + b, 0);
    const shift = rand() < 0.2 ? 0.1 * rand() : 0; // a fifth are dominated
    return e.map((v) => v / s + shift);
  });
}

describe('dominance and non-dominated sorting', () => {
  it('dominates needs no-worse everywhere and better somewhere', () => {
    expect(dominates([1, 2], [1, 3])).toBe(true);
    expect(dominates([1, 3], [1, 3])).toBe(false);
    expect(dominates([0, 4], [1, 3])).toBe(false);
    expect(dominates([5, 5], [Infinity, Infinity])).toBe(true);
    expect(dominates([Infinity, Infinity], [Infinity, Infinity])).toBe(false);
  });

  // Worked by hand:
  //   0 [1,5]  1 [2,3]  2 [4,1]  5 [2,3] (a duplicate of 1): nobody beats them         → front 0
  //   3 [3,4] is beaten by 1 and 5; 6 [4,2] by 2; they do not beat each other         → front 1
  //   4 [5,5] is beaten by 0, 1, 3, 5 (and 3 is in front 1)                            → front 2
  //   7 [∞,∞] (a failed trial) is beaten by everything, 4 included                     → front 3
  const points = [
    [1, 5],
    [2, 3],
    [4, 1],
    [3, 4],
    [5, 5],
    [2, 3],
    [4, 2],
    [Infinity, Infinity],
  ];

  it('sorts a hand-worked example into fronts', () => {
    expect(nonDominatedSort(points)).toEqual([[0, 1, 2, 5], [3, 6], [4], [7]]);
    expect(paretoRanks(points)).toEqual([0, 0, 0, 1, 2, 0, 1, 3]);
    expect(paretoFront(points)).toEqual([0, 1, 2, 5]);
  });

  it('agrees with a brute-force peel on random 3-objective data', () => {
    const rand = lcg(7);
    const pts = Array.from({ length: 60 }, () => [rand(), rand(), rand()].map((v) => Math.round(v * 6)));
    const fronts = nonDominatedSort(pts);
    let remaining = pts.map((_, i) => i);
    for (const front of fronts) {
      const expected = remaining.filter((i) => !remaining.some((j) => dominates(pts[j]!, pts[i]!)));
      expect(front).toEqual(expected);
      remaining = remaining.filter((i) => !front.includes(i));
    }
    expect(remaining).toEqual([]);
  });
});

describe('crowding distance', () => {
  it('matches a hand computation', () => {
    // f0 and f1 both span 10 on this front. Inner points:
    //   B [1,6]: f0 neighbours 0 and 2 → 2/10; f1 neighbours 3 and 10 → 7/10; total 0.9
    //   C [2,3]: f0 neighbours 1 and 6 → 5/10; f1 neighbours 1 and 6  → 5/10; total 1.0
    //   D [6,1]: f0 neighbours 2 and 10 → 8/10; f1 neighbours 0 and 3 → 3/10; total 1.1
    const pts = [
      [6, 1],
      [0, 10],
      [2, 3],
      [10, 0],
      [1, 6],
    ];
    const d = crowdingDistance(pts, [0, 1, 2, 3, 4]);
    expect(d[1]).toBe(Infinity);
    expect(d[3]).toBe(Infinity);
    expect(d[4]).toBeCloseTo(0.9, 12);
    expect(d[2]).toBeCloseTo(1.0, 12);
    expect(d[0]).toBeCloseTo(1.1, 12);
    // A sub-front: only the listed indices count, and the order follows `front`.
    const sub = crowdingDistance(pts, [4, 2, 0]); // f0 range 5, f1 range 5; C: 5/5 + 5/5
    expect(sub).toEqual([Infinity, 2, Infinity]);
  });

  it('gives nothing for an objective with zero range', () => {
    const pts = [
      [1, 7],
      [2, 7],
      [4, 7],
    ];
    // f0: (4 − 1)/3 = 1 for the middle point; f1 spans 0 and adds nothing.
    expect(crowdingDistance(pts, [0, 1, 2])).toEqual([Infinity, 1, Infinity]);
  });
});

describe('hypervolume', () => {
  it('2-D: a staircase by hand', () => {
    // Boxes to (4,4): [1,3] adds 3×1 = 3, [2,2] adds 2×1 = 2, [3,1] adds 1×1 = 1.
    // [3,3] is dominated, [5,0] and [4,0] are not better than the reference: they add nothing.
    const pts = [
      [2, 2],
      [3, 3],
      [1, 3],
      [5, 0],
      [3, 1],
      [4, 0],
    ];
    expect(hypervolume(pts, [4, 4])).toBeCloseTo(6, 12);
    expect(hypervolume([], [4, 4])).toBe(0);
    expect(hypervolume([[Infinity, Infinity]], [4, 4])).toBe(0);
    expect(hypervolume([[1, 3], [1, 3]], [4, 4])).toBeCloseTo(3, 12); // duplicates count once
  });

  it('3-D: three boxes by inclusion-exclusion worked by hand', () => {
    // Boxes to (4,4,4): V1 = 3·2·1 = 6, V2 = 2·3·2 = 12, V3 = 1·1·3 = 3;
    // pairwise corners [2,2,3] → 4, [3,3,3] → 1, [3,3,2] → 2; all three [3,3,3] → 1.
    // 6 + 12 + 3 − 4 − 1 − 2 + 1 = 15.
    expect(hypervolume([[1, 2, 3], [2, 1, 2], [3, 3, 1]], [4, 4, 4])).toBeCloseTo(15, 12);
  });

  it('3-, 4- and 5-D agree with brute-force inclusion-exclusion', () => {
    const rand = lcg(11);
    for (const d of [3, 4, 5]) {
      for (let rep = 0; rep < 4; rep++) {
        const pts = simplexFront(11, d, rand);
        const ref = new Array<number>(d).fill(1.05);
        const exact = inclusionExclusion(pts, ref);
        expect(hypervolume(pts, ref)).toBeCloseTo(exact, 10);
      }
    }
  });

  it('3-D: 40 points agree with a seeded Monte-Carlo estimate within 4 standard errors', () => {
    const rand = lcg(3);
    const pts = simplexFront(40, 3, rand);
    const ref = [1.1, 1.1, 1.1];
    const samples = 400_000;
    let hits = 0;
    for (let s = 0; s < samples; s++) {
      const z = [rand() * 1.1, rand() * 1.1, rand() * 1.1];
      if (pts.some((p) => p[0]! <= z[0]! && p[1]! <= z[1]! && p[2]! <= z[2]!)) hits++;
    }
    const boxVolume = 1.1 ** 3;
    const p = hits / samples;
    const estimate = p * boxVolume;
    const stderr = boxVolume * Math.sqrt((p * (1 - p)) / samples); // ≈ 0.0011 here
    expect(Math.abs(hypervolume(pts, ref) - estimate)).toBeLessThan(4 * stderr);
  });

  it('200 points in 5 objectives: within a Monte-Carlo check (and finishes: no exponential blow-up)', () => {
    const rand = lcg(5);
    const pts = simplexFront(200, 5, rand);
    const ref = new Array<number>(5).fill(1);
    const hv = hypervolume(pts, ref);
    let hits = 0;
    const samples = 100_000;
    for (let s = 0; s < samples; s++) {
      const z = ref.map(() => rand());
      if (pts.some((p) => p.every((v, k) => v <= z[k]!))) hits++;
    }
    const p = hits / samples;
    expect(Math.abs(hv - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / samples));
  });
});
