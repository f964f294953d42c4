// PCB, Consensus (TALL masks) and WUDI against independent float64 implementations written from
// the papers' formulas (whole-vector sorts for PCB's quantiles, the direct WUDI loss with explicit
// products, the closed-form minimiser of WUDI's quadratic through ml-matrix).
import { Matrix, solve } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { wudiObjective, wudiOptimize } from '../src/merge/methods/wudi.ts';
import { rng } from './helpers/io-tmp.ts';

function randoms(n: number, r: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

function experts(k: number, n: number, seed: number, scale = 0.5): { base: Float32Array; models: Float32Array[] } {
  const r = rng(seed);
  const base = randoms(n, r);
  return { base, models: Array.from({ length: k }, () => Float32Array.from(base, (b) => b + (r() * 2 - 1) * scale)) };
}

/** PCB as the reference states it, on one flattened vector per task, float64. */
function pcbReference(base: Float32Array, models: Float32Array[], ratio: number, lambda: number, weights: number[]): Float64Array {
  const n = models.length;
  const d = base.length;
  const tv = models.map((m) => Float64Array.from(m, (x, e) => x - base[e]!));
  const quant = (v: Float64Array, q: number) => Float64Array.from(v).sort()[Math.trunc(d * q)]!;
  const clampAbs = tv.map((t) => {
    const abs = t.map(Math.abs);
    const lo = quant(abs, 1e-4);
    const hi = Float64Array.from(abs).sort()[Math.trunc(d * (1 - 1e-4)) - 1]!;
    return abs.map((a) => Math.min(Math.max(a, lo), hi));
  });
  const minmax = (v: Float64Array) => {
    let mn = Infinity;
    let mx = -Infinity;
    for (const x of v) {
      mn = Math.min(mn, x);
      mx = Math.max(mx, x);
    }
    return v.map((x) => (mx > mn ? (x - mn) / (mx - mn) : 0));
  };
  const sum = new Float64Array(d);
  for (const t of tv) for (let e = 0; e < d; e++) sum[e]! += t[e]!;
  const scores = tv.map((t, i) => {
    const self = minmax(clampAbs[i]!);
    return t.map((v, e) => Math.exp(n * self[e]! ** 2) * Math.tanh(v * sum[e]!));
  });
  const scales = scores.map((s) => {
    const thr = quant(s, 1 - ratio);
    const clamped = s.map((x) => Math.max(x, thr));
    return minmax(clamped);
  });
  const out = new Float64Array(d);
  for (let e = 0; e < d; e++) {
    let num = 0;
    let den = 0;
    for (let t = 0; t < n; t++) {
      num += weights[t]! * scales[t]![e]! * Math.sign(tv[t]![e]!) * clampAbs[t]![e]!;
      den += scales[t]![e]!;
    }
    out[e] = base[e]! + lambda * (num / Math.max(den, 1e-12));
  }
  return out;
}

describe('pcb', () => {
  it('matches a float64 whole-vector implementation of the reference, in any chunking', () => {
    const { base, models } = experts(3, 40 * 30, 21);
    const want = pcbReference(base, models, 0.2, 0.8, [1, 0.5, 1.5]);
    const run = (chunks: number) =>
      mergeTensorInMemory({ method: 'pcb', name: 'w', shape: [40, 30], base, models, global: { pcb_ratio: 0.2, lambda: 0.8 }, perModel: [{ weight: 1 }, { weight: 0.5 }, { weight: 1.5 }], chunks });
    const one = run(1);
    for (let e = 0; e < want.length; e++) expect(Math.abs(one[e]! - want[e]!)).toBeLessThan(1e-5);
    expect(Array.from(run(4))).toEqual(Array.from(one));
  });

  it('clamps outliers on tensors of 10⁴+ entries and keeps only the top pcb_ratio of each task', () => {
    const { base, models } = experts(2, 120 * 100, 22);
    models[0]![5] = base[5]! + 40; // an outlier the 1e-4 clamp must cut
    const merged = mergeTensorInMemory({ method: 'pcb', name: 'w', shape: [120, 100], base, models, global: { pcb_ratio: 0.05 } });
    const want = pcbReference(base, models, 0.05, 1, [1, 1]);
    for (let e = 0; e < want.length; e++) expect(Math.abs(merged[e]! - want[e]!)).toBeLessThan(1e-5);
    expect(Math.abs(merged[5]! - base[5]!)).toBeLessThan(5);
    // Most entries are dropped by both tasks: they stay at the base.
    let unchanged = 0;
    for (let e = 0; e < base.length; e++) if (merged[e] === base[e]) unchanged++;
    expect(unchanged / base.length).toBeGreaterThan(0.85);
  });

  it('merges a bias vector the same way (one chunk)', () => {
    const { base, models } = experts(4, 17, 23);
    const merged = mergeTensorInMemory({ method: 'pcb', name: 'b', shape: [17], base, models, global: { pcb_ratio: 0.5 } });
    const want = pcbReference(base, models, 0.5, 1, [1, 1, 1, 1]);
    for (let e = 0; e < 17; e++) expect(Math.abs(merged[e]! - want[e]!)).toBeLessThan(1e-5);
  });
});

describe('consensus', () => {
  function reference(base: Float32Array, models: Float32Array[], k: number, tall: number[], weights: number[], ties: boolean, lambda: number): Float64Array {
    const out = new Float64Array(base.length);
    for (let e = 0; e < base.length; e++) {
      const tv = models.map((m) => m[e]! - base[e]!);
      const sum = tv.reduce((a, v, t) => a + weights[t]! * v, 0);
      let mtl = sum;
      if (ties) {
        const sign = sum >= 0 ? 1 : -1;
        const agree = tv.map((v) => Math.sign(v) === sign);
        const den = weights.reduce((a, w, t) => a + (agree[t] ? w : 0), 0);
        mtl = tv.reduce((a, v, t) => a + (agree[t] ? weights[t]! * v : 0), 0) / (den === 0 ? 1 : den);
      }
      const votes = tv.filter((v, t) => Math.abs(v) > tall[t]! * Math.abs(mtl - v)).length;
      out[e] = base[e]! + (votes >= k ? lambda * mtl : 0);
    }
    return out;
  }

  it.each([['task_arithmetic'], ['ties']])('matches a direct float64 loop with base method %s', (baseMethod) => {
    const { base, models } = experts(4, 50 * 8, 31);
    const tall = [0.3, 0.6, 0.5, 0.4];
    // Task arithmetic sums (weights 1 make τ_MTL far from each τₜ); TIES averages.
    const weights = baseMethod === 'ties' ? [0.3, 0.3, 0.2, 0.4] : [1, 1, 0.8, 1.2];
    const got = mergeTensorInMemory({
      method: 'consensus',
      name: 'w',
      shape: [50, 8],
      base,
      models,
      global: { k: 2, base_method: baseMethod, lambda: 0.9 },
      perModel: tall.map((t, i) => ({ tall_lambda: t, weight: weights[i] })),
      chunks: 3,
    });
    const want = reference(base, models, 2, tall, weights, baseMethod === 'ties', 0.9);
    let kept = 0;
    for (let e = 0; e < want.length; e++) {
      expect(Math.abs(got[e]! - want[e]!)).toBeLessThan(1e-6);
      if (got[e] !== base[e]) kept++;
    }
    // The mask is neither everything nor nothing on these random experts.
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(want.length);
  });

  it('reduces to task arithmetic with k = 0 and to the base with k above the task count', () => {
    const { base, models } = experts(3, 24, 32);
    const all = mergeTensorInMemory({ method: 'consensus', name: 'w', shape: [4, 6], base, models, global: { k: 0 } });
    const ta = mergeTensorInMemory({ method: 'task_arithmetic', name: 'w', shape: [4, 6], base, models, perModel: [{ weight: 1 }, { weight: 1 }, { weight: 1 }] });
    for (let e = 0; e < 24; e++) expect(all[e]).toBeCloseTo(ta[e]!, 6);
    const none = mergeTensorInMemory({ method: 'consensus', name: 'w', shape: [4, 6], base, models, global: { k: 4 } });
    expect(Array.from(none)).toEqual(Array.from(base));
  });
});

describe('wudi', () => {
  /** Σₜ ‖(τ − τₜ) τₜᵀ‖²_F / ‖τₜ‖²_F with explicit [rows, rows] products. */
  function directLoss(tau: ArrayLike<number>, tvs: Float32Array[], rows: number, cols: number): number {
    let loss = 0;
    for (const t of tvs) {
      let sq = 0;
      for (let e = 0; e < t.length; e++) sq += t[e]! * t[e]!;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < rows; j++) {
          let p = 0;
          for (let c = 0; c < cols; c++) p += (tau[i * cols + c]! - t[i * cols + c]!) * t[j * cols + c]!;
          loss += (p * p) / sq;
        }
      }
    }
    return loss;
  }

  const [rows, cols] = [4, 6];
  const tvs = (() => {
    const r = rng(41);
    return [randoms(rows * cols, r), randoms(rows * cols, r), randoms(rows * cols, r)];
  })();

  it('computes the loss of the paper and its gradient (checked by central differences)', () => {
    const obj = wudiObjective(tvs, rows, cols);
    const r = rng(42);
    const tau = Float64Array.from(randoms(rows * cols, r));
    const { loss, grad } = obj.lossAndGrad(tau);
    expect(loss).toBeCloseTo(directLoss(tau, tvs, rows, cols), 9);
    const h = 1e-5;
    for (let e = 0; e < tau.length; e++) {
      const plus = Float64Array.from(tau);
      const minus = Float64Array.from(tau);
      plus[e]! += h;
      minus[e]! -= h;
      const fd = (directLoss(plus, tvs, rows, cols) - directLoss(minus, tvs, rows, cols)) / (2 * h);
      expect(Math.abs(grad[e]! - fd)).toBeLessThan(1e-6 * (1 + Math.abs(fd)));
    }
  });

  it('decreases the loss under Adam towards the quadratic\'s closed-form minimum', () => {
    const history: number[] = [];
    const tau = wudiOptimize(tvs, rows, cols, 3000, 1e-2, history);
    for (let i = 1; i < 20; i++) expect(history[i]!).toBeLessThan(history[i - 1]!);
    // ∇L = 0 ⇔ τ C = B, C = Σ τₜᵀτₜ/‖τₜ‖², B = Σ τₜ τₜᵀτₜ/‖τₜ‖² (here C is invertible: 3·4 rows ≥ 6).
    const mats = tvs.map((t) => new Matrix(Array.from({ length: rows }, (_, i) => Array.from(t.subarray(i * cols, (i + 1) * cols)))));
    let c = Matrix.zeros(cols, cols);
    let b = Matrix.zeros(rows, cols);
    for (const m of mats) {
      const sq = m.to1DArray().reduce((a, v) => a + v * v, 0);
      const ct = m.transpose().mmul(m).div(sq);
      c = c.add(ct);
      b = b.add(m.mmul(ct));
    }
    const best = solve(c.transpose(), b.transpose()).transpose().to1DArray();
    const bestLoss = directLoss(best, tvs, rows, cols);
    expect(history[0]!).toBeGreaterThan(bestLoss * 1.5);
    expect(history.at(-1)!).toBeLessThan(bestLoss * 1.001 + 1e-9);
    expect(directLoss(tau, tvs, rows, cols)).toBeCloseTo(history.at(-1)!, 9);
  });

  it('recovers a single task vector (its own loss is 0 from the start)', () => {
    const { base, models } = experts(1, rows * cols, 43);
    const merged = mergeTensorInMemory({ method: 'wudi', name: 'w', shape: [rows, cols], base, models });
    for (let e = 0; e < base.length; e++) expect(Math.abs(merged[e]! - models[0]![e]!)).toBeLessThan(1e-6);
  });

  it('merges through the method as base + λ·Adam result, chunk-independent; 1-D tensors take the mean', () => {
    const { base, models } = experts(3, rows * cols, 44);
    const tv = models.map((m) => Float32Array.from(m, (x, e) => x - base[e]!));
    const tau = wudiOptimize(tv, rows, cols, 40, 1e-3);
    const run = (chunks: number) => mergeTensorInMemory({ method: 'wudi', name: 'w', shape: [rows, cols], base, models, global: { iterations: 40, lr: 1e-3, lambda: 0.5 }, chunks });
    const one = run(1);
    for (let e = 0; e < base.length; e++) expect(Math.abs(one[e]! - (base[e]! + 0.5 * tau[e]!))).toBeLessThan(1e-6);
    expect(Array.from(run(3))).toEqual(Array.from(one));
    const bias = mergeTensorInMemory({ method: 'wudi', name: 'b', shape: [5], base: base.subarray(0, 5), models: models.map((m) => m.subarray(0, 5)) });
    for (let e = 0; e < 5; e++) expect(bias[e]).toBeCloseTo(base[e]! + (tv[0]![e]! + tv[1]![e]! + tv[2]![e]!) / 3, 6);
  });
});
