// RegMean and Fisher merging against independent float64 computations: hand-solved systems, the
// closed form through an explicit inverse (ml-matrix), and the reference's normalised Fisher formula.
import path from 'node:path';
import { Matrix, inverse } from 'ml-matrix';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { closeStatistics, STATISTICS_FILE } from '../src/merge/statistics/store.ts';
import { writeStatisticsFile } from '../src/merge/statistics/write.ts';
import { expectCode, makeTmp, rng } from './helpers/io-tmp.ts';

const tmp = makeTmp('ms-regmean-');
afterAll(() => {
  closeStatistics();
  tmp.cleanup();
});
let fileNo = 0;

function randoms(n: number, r: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/** XᵀX / N for X [rows, n] (float64). */
function gramFromRows(x: Float32Array, rows: number, n: number): Float64Array {
  const g = new Float64Array(n * n);
  for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j] = g[i * n + j]! + (x[r * n + i]! * x[r * n + j]!) / rows;
  return g;
}

function statsFile(content: Parameters<typeof writeStatisticsFile>[1]): string {
  const f = path.join(tmp.dir, `stats-${fileNo++}.safetensors`);
  writeStatisticsFile(f, content);
  return f;
}

function gramFile(name: string, g: Float64Array, n: number): string {
  return statsFile({ grams: new Map([[name, { size: n, values: g }]]), rows: 10 });
}

function regmean(name: string, shape: number[], models: Float32Array[], files: string[], global: Record<string, number> = {}, chunks = 1, weights?: number[]): Float32Array {
  return mergeTensorInMemory({ method: 'regmean', name, shape, models, global, perModel: files.map((f, i) => ({ statistics: f, weight: weights?.[i] ?? 1 })), chunks });
}

/** The closed form W = (Σ Wₜ Gₜ')(Σ Gₜ')⁻¹ with Gₜ' = wₜ·Gₜ, off-diagonals × alpha, via an explicit inverse. */
function regmeanReference(ws: Float32Array[], grams: Float64Array[], out: number, n: number, alpha: number, weights: number[]): Float64Array {
  const scaled = grams.map((g, t) => new Matrix(Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => g[i * n + j]! * weights[t]! * (i === j ? 1 : alpha)))));
  let sum = Matrix.zeros(n, n);
  let num = Matrix.zeros(out, n);
  scaled.forEach((g, t) => {
    sum = sum.add(g);
    num = num.add(new Matrix(Array.from({ length: out }, (_, r) => Array.from(ws[t]!.subarray(r * n, (r + 1) * n)))).mmul(g));
  });
  return Float64Array.from(num.mmul(inverse(sum)).to1DArray());
}

describe('regmean', () => {
  it('solves a hand-worked 2-input system exactly (alpha 1 and 0.5)', () => {
    // G1 = [[2,1],[1,2]], G2 = [[1,0],[0,3]], W1 = [1,0], W2 = [0,1]:
    // alpha 1: S = [[3,1],[1,5]], rhs = [2,4] → W = [3/7, 5/7];
    // alpha 0.5: S = [[3,.5],[.5,5]], rhs = [2,3.5] → W = [8.25, 9.5] / 14.75.
    const f1 = gramFile('l.weight', Float64Array.from([2, 1, 1, 2]), 2);
    const f2 = gramFile('l.weight', Float64Array.from([1, 0, 0, 3]), 2);
    const ws = [Float32Array.from([1, 0]), Float32Array.from([0, 1])];
    const a1 = regmean('l.weight', [1, 2], ws, [f1, f2], { alpha: 1 });
    expect(a1[0]).toBeCloseTo(3 / 7, 6);
    expect(a1[1]).toBeCloseTo(5 / 7, 6);
    const a05 = regmean('l.weight', [1, 2], ws, [f1, f2], { alpha: 0.5 });
    expect(a05[0]).toBeCloseTo(8.25 / 14.75, 6);
    expect(a05[1]).toBeCloseTo(9.5 / 14.75, 6);
  });

  it('returns the expert itself when there is one', () => {
    const r = rng(3);
    const [out, n] = [5, 4];
    const w = randoms(out * n, r);
    const f = gramFile('l.weight', gramFromRows(randoms(20 * n, r), 20, n), n);
    const merged = regmean('l.weight', [out, n], [w], [f]);
    for (let e = 0; e < w.length; e++) expect(Math.abs(merged[e]! - w[e]!)).toBeLessThan(1e-5);
  });

  it('is the plain average with alpha 1 and identical Grams', () => {
    const r = rng(4);
    const [out, n] = [3, 6];
    const g = gramFromRows(randoms(30 * n, r), 30, n);
    const ws = [randoms(out * n, r), randoms(out * n, r), randoms(out * n, r)];
    const files = ws.map(() => gramFile('l.weight', g, n));
    const merged = regmean('l.weight', [out, n], ws, files, { alpha: 1 });
    for (let e = 0; e < merged.length; e++) expect(Math.abs(merged[e]! - (ws[0]![e]! + ws[1]![e]! + ws[2]![e]!) / 3)).toBeLessThan(1e-5);
  });

  it('matches the closed form through an explicit inverse, whatever the row chunks', () => {
    const r = rng(5);
    const [out, n, k] = [7, 5, 3];
    const ws = Array.from({ length: k }, () => randoms(out * n, r));
    const grams = Array.from({ length: k }, () => gramFromRows(randoms(12 * n, r, 2), 12, n));
    const files = grams.map((g) => gramFile('l.weight', g, n));
    const weights = [1, 0.5, 2];
    const want = regmeanReference(ws, grams, out, n, 0.7, weights);
    const one = regmean('l.weight', [out, n], ws, files, { alpha: 0.7 }, 1, weights);
    const three = regmean('l.weight', [out, n], ws, files, { alpha: 0.7 }, 3, weights);
    for (let e = 0; e < want.length; e++) expect(Math.abs(one[e]! - want[e]!)).toBeLessThan(1e-5 * (1 + Math.abs(want[e]!)));
    expect(Array.from(three)).toEqual(Array.from(one));
  });

  it('averages the weights of an input that is zero for every expert (a dead unit)', () => {
    const r = rng(6);
    const [out, n] = [2, 3];
    // Input feature 1 is always zero: its Gram row and column vanish.
    const x = () => {
      const v = randoms(10 * n, r);
      for (let row = 0; row < 10; row++) v[row * n + 1] = 0;
      return gramFromRows(v, 10, n);
    };
    const grams = [x(), x()];
    const ws = [randoms(out * n, r), randoms(out * n, r)];
    const merged = regmean('l.weight', [out, n], ws, grams.map((g) => gramFile('l.weight', g, n)), { alpha: 1 });
    for (let row = 0; row < out; row++) expect(merged[row * n + 1]).toBeCloseTo((ws[0]![row * n + 1]! + ws[1]![row * n + 1]!) / 2, 6);
    // The live features solve the 2×2 system of the remaining rows and columns.
    const live = (g: Float64Array) => Float64Array.from([g[0]!, g[2]!, g[6]!, g[8]!]);
    const liveW = (w: Float32Array) => Float32Array.from([w[0]!, w[2]!, w[3]!, w[5]!]);
    const want = regmeanReference(ws.map(liveW), grams.map(live), out, 2, 1, [1, 1]);
    expect(merged[0]).toBeCloseTo(want[0]!, 5);
    expect(merged[2]).toBeCloseTo(want[1]!, 5);
    expect(merged[3]).toBeCloseTo(want[2]!, 5);
    expect(merged[5]).toBeCloseTo(want[3]!, 5);
  });

  it('averages tensors without a Gram (biases, norms)', () => {
    const f = gramFile('l.weight', Float64Array.from([1]), 1);
    const merged = regmean('l.bias', [2], [Float32Array.from([1, 2]), Float32Array.from([3, 6])], [f, f]);
    expect(Array.from(merged)).toEqual([2, 4]);
  });

  it('refuses with STATS_E_MISSING, naming the file and the command, when statistics are absent', () => {
    const missing = path.join(tmp.dir, 'expert-a');
    expectCode(
      () => mergeTensorInMemory({ method: 'regmean', name: 'l.weight', shape: [1, 1], models: [Float32Array.from([1])], modelPaths: [missing] }),
      'STATS_E_MISSING',
      path.join(missing, STATISTICS_FILE),
      'mergesearch stats',
    );
    expectCode(() => mergeTensorInMemory({ method: 'regmean', name: 'l.weight', shape: [1, 1], models: [Float32Array.from([1])] }), 'STATS_E_MISSING', 'mergesearch stats');
    const fisherOnly = statsFile({ fishers: new Map([['l.weight', { shape: [1, 1], values: Float32Array.from([1]) }]]) });
    expectCode(() => regmean('l.weight', [1, 1], [Float32Array.from([1])], [fisherOnly]), 'STATS_E_MISSING', fisherOnly, '--kind gram');
    // regmean_plus needs the gram_plus Grams, which only a zoo-wide run produces.
    const gramOnly = gramFile('l.weight', Float64Array.from([1]), 1);
    expectCode(
      () => mergeTensorInMemory({ method: 'regmean_plus', name: 'l.weight', shape: [1, 1], models: [Float32Array.from([1])], perModel: [{ statistics: gramOnly }] }),
      'STATS_E_MISSING',
      gramOnly,
      '--kind gram_plus',
    );
  });

  it('refuses a Gram whose size does not fit the weight (STATS_E_FORMAT)', () => {
    const f = gramFile('l.weight', Float64Array.from([1, 0, 0, 1]), 2);
    expectCode(() => regmean('l.weight', [1, 3], [Float32Array.from([1, 2, 3])], [f]), 'STATS_E_FORMAT', 'l.weight', '[3, 3]');
  });
});

describe('fisher', () => {
  function fisherFile(entries: Record<string, { shape: number[]; values: Float32Array }>): string {
    return statsFile({ fishers: new Map(Object.entries(entries)), samples: 8 });
  }

  function fisherMerge(name: string, shape: number[], models: Float32Array[], files: string[], global: Record<string, number | boolean> = {}, weights?: number[], chunks = 1): Float32Array {
    return mergeTensorInMemory({ method: 'fisher', name, shape, models, global, perModel: files.map((f, i) => ({ statistics: f, weight: weights?.[i] ?? 1 })), chunks });
  }

  it('is the average when every model has the same Fisher', () => {
    const r = rng(7);
    const f = Float32Array.from({ length: 6 }, () => r());
    const files = [0, 1, 2].map(() => fisherFile({ w: { shape: [2, 3], values: f } }));
    const ws = [randoms(6, r), randoms(6, r), randoms(6, r)];
    const merged = fisherMerge('w', [2, 3], ws, files);
    for (let e = 0; e < 6; e++) expect(merged[e]).toBeCloseTo((ws[0]![e]! + ws[1]![e]! + ws[2]![e]!) / 3, 6);
  });

  it('matches the reference formula with normalised Fisher and scaling coefficients, in any chunking', () => {
    const r = rng(8);
    const shape = [4, 3];
    // Each file holds a second tensor too, so the global norm is not the norm of this tensor alone.
    const fs = [0, 1].map(() => ({ w: Float32Array.from({ length: 12 }, () => r() * r()), other: Float32Array.from({ length: 5 }, () => r() * 3) }));
    const files = fs.map((f) => fisherFile({ w: { shape, values: f.w }, other: { shape: [5], values: f.other } }));
    const ws = [randoms(12, r), randoms(12, r)];
    const coef = [1.5, 0.5];
    const eps = 1e-6;
    const norms = fs.map((f) => Math.sqrt([...f.w, ...f.other].reduce((a, v) => a + v * v, 0)));
    const inv = norms.map((n) => 1 / (n + eps));
    const c = coef.map((w, t) => (w * inv[t]!) / (inv[0]! + inv[1]!));
    const merged = fisherMerge('w', shape, ws, files, {}, coef, 3);
    for (let e = 0; e < 12; e++) {
      const a = c.map((ct, t) => ct * (fs[t]!.w[e]! + eps));
      const want = (a[0]! * ws[0]![e]! + a[1]! * ws[1]![e]!) / (a[0]! + a[1]!);
      expect(Math.abs(merged[e]! - want)).toBeLessThan(1e-6);
    }
    // Without normalisation only the coefficients weigh the Fisher.
    const plain = fisherMerge('w', shape, ws, files, { normalize: false }, coef);
    for (let e = 0; e < 12; e++) {
      const a = coef.map((ct, t) => ct * (fs[t]!.w[e]! + eps));
      expect(Math.abs(plain[e]! - (a[0]! * ws[0]![e]! + a[1]! * ws[1]![e]!) / (a[0]! + a[1]!))).toBeLessThan(1e-6);
    }
  });

  it('falls back to the weighted average where no model has a Fisher entry', () => {
    const f = fisherFile({ other: { shape: [1], values: Float32Array.from([1]) } });
    const merged = fisherMerge('b', [2], [Float32Array.from([1, 2]), Float32Array.from([4, 8])], [f, f], {}, [1, 3]);
    expect(merged[0]).toBeCloseTo(3.25, 6);
    expect(merged[1]).toBeCloseTo(6.5, 6);
  });

  it('refuses weights that are all zero (RECIPE_E_PARAM) before reading statistics', () => {
    const f = fisherFile({ w: { shape: [1, 1], values: Float32Array.from([1]) } });
    expectCode(() => fisherMerge('w', [1, 1], [Float32Array.from([1]), Float32Array.from([2])], [f, f], {}, [0, 0]), 'RECIPE_E_PARAM', 'weight is 0');
  });

  it('refuses with STATS_E_MISSING when a model has no statistics file', () => {
    const gramOnly = gramFile('w', Float64Array.from([1]), 1);
    expectCode(() => fisherMerge('w', [1, 1], [Float32Array.from([1])], [gramOnly]), 'STATS_E_MISSING', gramOnly, '--kind fisher');
    expectCode(() => fisherMerge('w', [1, 1], [Float32Array.from([1])], [path.join(tmp.dir, 'nope.safetensors')]), 'STATS_E_MISSING', 'nope.safetensors', 'does not exist');
  });
});
