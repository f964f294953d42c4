// The float64 SVD kernels (src/tensor/svd.ts) against ml-matrix's SingularValueDecomposition
// (Golub-Kahan bidiagonalisation: a different algorithm from our Gram-eigendecomposition and
// randomized range finder).
//
// Tolerances: exact path, singular values within 1e-9 relative and reconstructions within 1e-9 of
// max |A|; randomized path on a decaying spectrum, top singular values within 1e-8 relative and
// singular vectors within 1e-6 (|cos| of the angle to the reference); on a flat (Gaussian)
// spectrum the rank-k error within 5 % of the optimum (Eckart-Young) — the stated accuracy.
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { gramOfRows, mulAB, mulABt, orthonormalRows, symmetricEigen } from '../src/tensor/dense.ts';
import { EXACT_MAX_SIDE, polarRows, polarStacked, svdThin, svdTopK, topKPath, type Svd } from '../src/tensor/svd.ts';
import { seededRandom } from '../src/tensor/random.ts';

function gaussian(seed: number, n: number): Float64Array {
  const r = seededRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

function refSvd(a: Float64Array, m: number, n: number): { s: number[]; u: Matrix; v: Matrix } {
  const svd = new SingularValueDecomposition(Matrix.from1DArray(m, n, a), { autoTranspose: true });
  return { s: svd.diagonal, u: svd.leftSingularVectors, v: svd.rightSingularVectors };
}

/** Σ sᵢuᵢvᵢᵀ from a vector-major Svd. */
function rebuild(x: Svd, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < x.k; i++) for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) out[r * n + c]! += x.s[i]! * x.ut[i * m + r]! * x.vt[i * n + c]!;
  return out;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** max |XXᵀ − I| for K vectors of length n stored vector-major. */
function orthoError(x: Float64Array, kk: number, n: number): number {
  let worst = 0;
  for (let i = 0; i < kk; i++) {
    for (let j = 0; j < kk; j++) {
      let d = 0;
      for (let e = 0; e < n; e++) d += x[i * n + e]! * x[j * n + e]!;
      worst = Math.max(worst, Math.abs(d - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

/** A = X·diag(decay^i)·Yᵀ with random orthonormal-ish X, Y: a quickly decaying spectrum. */
function decaying(seed: number, m: number, n: number, decay: number): Float64Array {
  const r = Math.min(m, n);
  const x = orthonormalRows(gaussian(seed, r * m), r, m).q;
  const y = orthonormalRows(gaussian(seed + 1, r * n), r, n).q;
  const a = new Float64Array(m * n);
  for (let i = 0; i < r; i++) {
    const s = 10 * decay ** i;
    for (let p = 0; p < m; p++) for (let q = 0; q < n; q++) a[p * n + q]! += s * x[i * m + p]! * y[i * n + q]!;
  }
  return a;
}

describe('svdThin (Gram eigendecomposition)', () => {
  it.each([
    [30, 20],
    [20, 30],
  ])('%i×%i: singular values and reconstruction match ml-matrix; U and V orthonormal', (m, n) => {
    const a = gaussian(3, m * n);
    const x = svdThin(a, m, n);
    const ref = refSvd(a, m, n);
    expect(x.k).toBe(Math.min(m, n));
    for (let i = 0; i < x.k; i++) expect(Math.abs(x.s[i]! - ref.s[i]!)).toBeLessThan(1e-9 * ref.s[0]!);
    expect(maxDiff(rebuild(x, m, n), a)).toBeLessThan(1e-9 * maxAbs(a));
    expect(orthoError(x.ut, x.k, m)).toBeLessThan(1e-9);
    expect(orthoError(x.vt, x.k, n)).toBeLessThan(1e-9);
  });

  it('drops numerically zero directions of a rank-deficient matrix', () => {
    // rank 2: outer products of two pairs
    const m = 8;
    const n = 6;
    const u = gaussian(5, 2 * m);
    const v = gaussian(6, 2 * n);
    const a = new Float64Array(m * n);
    for (let i = 0; i < 2; i++) for (let p = 0; p < m; p++) for (let q = 0; q < n; q++) a[p * n + q]! += u[i * m + p]! * v[i * n + q]!;
    const x = svdThin(a, m, n);
    expect(x.k).toBe(2);
    expect(maxDiff(rebuild(x, m, n), a)).toBeLessThan(1e-9 * maxAbs(a));
  });
});

describe('svdTopK (randomized range finder)', () => {
  const m = 140;
  const n = 100;
  const k = 8; // k + 10 = 18 columns, well under half of min(m, n): the randomized path runs

  it('on a decaying spectrum: top-k values and vectors match the full SVD', () => {
    const a = decaying(11, m, n, 0.7);
    const x = svdTopK(a, m, n, k, { seed: 1, method: 'randomized' });
    const ref = refSvd(a, m, n);
    expect(x.k).toBe(k);
    for (let i = 0; i < k; i++) {
      expect(Math.abs(x.s[i]! - ref.s[i]!)).toBeLessThan(1e-8 * ref.s[i]!);
      let du = 0;
      let dv = 0;
      for (let p = 0; p < m; p++) du += x.ut[i * m + p]! * ref.u.get(p, i);
      for (let q = 0; q < n; q++) dv += x.vt[i * n + q]! * ref.v.get(q, i);
      expect(Math.abs(Math.abs(du) - 1)).toBeLessThan(1e-6);
      expect(Math.abs(Math.abs(dv) - 1)).toBeLessThan(1e-6);
    }
    expect(orthoError(x.ut, k, m)).toBeLessThan(1e-10);
    expect(orthoError(x.vt, k, n)).toBeLessThan(1e-10);
  });

  it('on a flat Gaussian spectrum: rank-k error within 5 % of the optimum', () => {
    const a = gaussian(12, m * n);
    const x = svdTopK(a, m, n, k, { seed: 2, method: 'randomized' });
    const ref = refSvd(a, m, n);
    const optimal = Math.sqrt(ref.s.slice(k).reduce((s, v) => s + v * v, 0));
    const approx = rebuild(x, m, n);
    let err = 0;
    for (let i = 0; i < a.length; i++) err += (a[i]! - approx[i]!) ** 2;
    expect(Math.sqrt(err)).toBeGreaterThanOrEqual(optimal * (1 - 1e-9));
    expect(Math.sqrt(err)).toBeLessThan(1.05 * optimal);
  });

  // The TSV-M regime: k = ⌊r/T⌋ triplets per task, a slowly (power-law) decaying spectrum like a
  // fine-tuning task vector's. The stated accuracy (svd.ts header): the top half of the k values
  // within 1e-3 relative, all k within 6 % (from below: Ritz values never exceed the true ones),
  // rank-k error within 1 % of the optimum. Measured: 2e-4, 3 %, 0.6 % at worst of these sizes.
  it.each([[130, 96, 3], [200, 150, 4], [150, 240, 8]])('TSV-M sizes %i×%i, T = %i (k = r/T): stated accuracy against the full SVD', (mm, nn, tasks) => {
    const r = Math.min(mm, nn);
    const x = orthonormalRows(gaussian(1, r * mm), r, mm).q;
    const y = orthonormalRows(gaussian(2, r * nn), r, nn).q;
    const a = new Float64Array(mm * nn);
    for (let i = 0; i < r; i++) {
      const s = 1 / (1 + i / 4);
      for (let p = 0; p < mm; p++) for (let q = 0; q < nn; q++) a[p * nn + q]! += s * x[i * mm + p]! * y[i * nn + q]!;
    }
    const kk = Math.floor(r / tasks);
    expect(kk + 10).toBeLessThan(r); // the forced randomized path runs (no exact fallback)
    const ref = refSvd(a, mm, nn).s;
    const got = svdTopK(a, mm, nn, kk, { seed: 5, method: 'randomized' });
    expect(got.k).toBe(kk);
    for (let i = 0; i < kk; i++) {
      expect(got.s[i]!).toBeLessThanOrEqual(ref[i]! * (1 + 1e-12));
      expect(ref[i]! - got.s[i]!).toBeLessThan((i < kk / 2 ? 1e-3 : 0.06) * ref[i]!);
    }
    const approx = rebuild(got, mm, nn);
    let err = 0;
    for (let i = 0; i < a.length; i++) err += (a[i]! - approx[i]!) ** 2;
    const optimal = Math.sqrt(ref.slice(kk).reduce((s, v) => s + v * v, 0));
    expect(Math.sqrt(err)).toBeLessThan(1.01 * optimal);
    expect(orthoError(got.ut, kk, mm)).toBeLessThan(1e-10);
    expect(orthoError(got.vt, kk, nn)).toBeLessThan(1e-10);
  });

  it('is deterministic for a seed, and takes the exact path when k is large', () => {
    const a = gaussian(13, m * n);
    const x1 = svdTopK(a, m, n, k, { seed: 9, method: 'randomized' });
    const x2 = svdTopK(a, m, n, k, { seed: 9, method: 'randomized' });
    const x3 = svdTopK(a, m, n, k, { seed: 10, method: 'randomized' });
    expect(Buffer.from(x1.ut.buffer).equals(Buffer.from(x3.ut.buffer))).toBe(false);
    expect(Buffer.from(x1.ut.buffer).equals(Buffer.from(x2.ut.buffer))).toBe(true);
    const big = svdTopK(a, m, n, 60);
    const exact = svdThin(a, m, n);
    expect(maxDiff(big.s, exact.s.slice(0, 60))).toBe(0);
  });
});

describe('svdTopK: which path (the rule in svd.ts\'s header)', () => {
  it('exact when the smaller side is at most 512 or 3·(k + 10) ≥ r; randomized otherwise; forced paths obeyed', () => {
    expect(EXACT_MAX_SIDE).toBe(512);
    expect(topKPath(512, 4096, 8)).toBe('exact');
    expect(topKPath(4096, 513, 8)).toBe('randomized');
    expect(topKPath(600, 1000, 189)).toBe('randomized'); // 3·199 = 597 < 600
    expect(topKPath(600, 1000, 190)).toBe('exact'); // 3·200 ≥ 600
    expect(topKPath(2048, 2048, 682)).toBe('exact'); // TSV-M, T = 3
    expect(topKPath(2048, 2048, 512)).toBe('randomized'); // T = 4
    expect(topKPath(140, 100, 8, { method: 'randomized' })).toBe('randomized');
    expect(topKPath(140, 100, 95, { method: 'randomized' })).toBe('exact'); // k + 10 ≥ r: nothing to sketch
    expect(topKPath(4096, 4096, 8, { method: 'exact' })).toBe('exact');
  });

  it('the automatic path on a small matrix is the exact SVD, bit for bit', () => {
    const a = gaussian(21, 140 * 100);
    const auto = svdTopK(a, 140, 100, 8, { seed: 3 });
    const exact = svdThin(a, 140, 100);
    expect(Buffer.from(auto.s.buffer).equals(Buffer.from(exact.s.slice(0, 8).buffer))).toBe(true);
    expect(Buffer.from(auto.vt.buffer).equals(Buffer.from(exact.vt.slice(0, 8 * 100).buffer))).toBe(true);
  });
});

/** A = X·diag(s)·Yᵀ with random orthonormal X, Y and singular values s(i). */
function withSpectrum(seed: number, m: number, n: number, sv: (i: number) => number): Float64Array {
  const r = Math.min(m, n);
  const x = orthonormalRows(gaussian(seed, r * m), r, m).q;
  const y = orthonormalRows(gaussian(seed + 1, r * n), r, n).q;
  const a = new Float64Array(m * n);
  for (let i = 0; i < r; i++) {
    const s = sv(i);
    for (let p = 0; p < m; p++) for (let q = 0; q < n; q++) a[p * n + q]! += s * x[i * m + p]! * y[i * n + q]!;
  }
  return a;
}

/** sin of the largest principal angle between span(ref's first j left vectors) and span(x's k). */
function sinLargestAngle(ref: Matrix, j: number, x: Svd, m: number): number {
  const u = ref.subMatrix(0, m - 1, 0, j - 1);
  const uh = new Matrix(m, x.k);
  for (let i = 0; i < x.k; i++) for (let p = 0; p < m; p++) uh.set(p, i, x.ut[i * m + p]!);
  const cosines = new SingularValueDecomposition(u.transpose().mmul(uh), { autoTranspose: true }).diagonal;
  const c = Math.min(...cosines.slice(0, j));
  return Math.sqrt(Math.max(0, 1 - c * c));
}

describe('svdTopK randomized: stated accuracy (svd.ts header) against ml-matrix\'s full SVD, 300×200, k = 20', () => {
  // Bounds are the header's (measured values there, with margin): per spectrum, the largest
  // relative error of the k values (and of the top k/2), sin of the largest principal angle between
  // the true top-j subspace and the computed k-dimensional one (j = k, and j = k/2), and the
  // rank-k reconstruction error over the optimal (Eckart-Young) one. A flat spectrum's top-k
  // subspace is not determined (σₖ₊₁/σₖ ≈ 0.99), so only its values and error are bounded.
  const m = 300;
  const n = 200;
  const k = 20;
  const cases: Array<[string, () => Float64Array, { values: number; top: number; angle?: number; topAngle: number; error: number }]> = [
    ['exponential decay σᵢ = 0.9ⁱ', () => withSpectrum(31, m, n, (i) => 0.9 ** i), { values: 1e-4, top: 1e-8, angle: 2e-2, topAngle: 1e-3, error: 1e-4 }],
    ['power law σᵢ = 1/(1 + i/4)', () => withSpectrum(33, m, n, (i) => 1 / (1 + i / 4)), { values: 0.06, top: 1e-3, topAngle: 5e-2, error: 0.01 }],
    ['flat (Gaussian entries)', () => gaussian(35, m * n), { values: 0.1, top: 0.1, topAngle: 1, error: 0.04 }],
  ];
  it.each(cases)('%s', (_name, make, bound) => {
    const a = make();
    const ref = new SingularValueDecomposition(Matrix.from1DArray(m, n, a), { autoTranspose: true });
    const x = svdTopK(a, m, n, k, { seed: 7, method: 'randomized' });
    expect(x.k).toBe(k);
    let worst = 0;
    let worstTop = 0;
    for (let i = 0; i < k; i++) {
      const rel = (ref.diagonal[i]! - x.s[i]!) / ref.diagonal[i]!;
      expect(rel).toBeGreaterThanOrEqual(-1e-12); // Ritz values never exceed the true ones
      worst = Math.max(worst, rel);
      if (i < k / 2) worstTop = Math.max(worstTop, rel);
    }
    expect(worst).toBeLessThan(bound.values);
    expect(worstTop).toBeLessThan(bound.top);
    if (bound.angle !== undefined) expect(sinLargestAngle(ref.leftSingularVectors, k, x, m)).toBeLessThan(bound.angle);
    expect(sinLargestAngle(ref.leftSingularVectors, k / 2, x, m)).toBeLessThan(bound.topAngle);
    const approx = rebuild(x, m, n);
    let err = 0;
    for (let i = 0; i < a.length; i++) err += (a[i]! - approx[i]!) ** 2;
    const optimal = Math.sqrt(ref.diagonal.slice(k).reduce((s, v) => s + v * v, 0));
    expect(Math.sqrt(err) / optimal - 1).toBeGreaterThanOrEqual(-1e-9);
    expect(Math.sqrt(err) / optimal - 1).toBeLessThan(bound.error);
    expect(orthoError(x.ut, k, m)).toBeLessThan(1e-10);
    expect(orthoError(x.vt, k, n)).toBeLessThan(1e-10);
  });
});

describe('polarRows', () => {
  it('equals P·Qᵀ from the SVD X = PΣQᵀ and has orthonormal columns', () => {
    const n = 15;
    const kk = 6;
    const x = gaussian(21, kk * n); // X is n×kk, stored vector-major (kk×n)
    const p = polarRows(x, kk, n);
    expect(orthoError(p, kk, n)).toBeLessThan(1e-12);
    const xm = Matrix.from1DArray(kk, n, x).transpose();
    const ref = new SingularValueDecomposition(xm);
    const pq = ref.leftSingularVectors.mmul(ref.rightSingularVectors.transpose()); // n×kk
    let worst = 0;
    for (let i = 0; i < kk; i++) for (let e = 0; e < n; e++) worst = Math.max(worst, Math.abs(p[i * n + e]! - pq.get(e, i)));
    expect(worst).toBeLessThan(1e-10);
  });

  it('leaves an orthonormal set unchanged', () => {
    const q = orthonormalRows(gaussian(22, 4 * 10), 4, 10).q;
    expect(maxDiff(polarRows(q, 4, 10), q)).toBeLessThan(1e-12);
  });
});

describe('polarStacked (two orthonormal sets: the block route)', () => {
  /** P·Qᵀ from ml-matrix's SVD of the n×kk matrix whose columns are x's rows, vector-major. */
  function refPolar(x: Float64Array, kk: number, n: number): Float64Array {
    const ref = new SingularValueDecomposition(Matrix.from1DArray(kk, n, x).transpose());
    const pq = ref.leftSingularVectors.mmul(ref.rightSingularVectors.transpose());
    const out = new Float64Array(kk * n);
    for (let i = 0; i < kk; i++) for (let e = 0; e < n; e++) out[i * n + e] = pq.get(e, i);
    return out;
  }
  const stack = (a: Float64Array, b: Float64Array): Float64Array => {
    const out = new Float64Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };

  it('equals ml-matrix\'s P·Qᵀ and polarRows, orthonormal, for equal and unequal sets (either larger), overlapping and disjoint', () => {
    const n = 150;
    for (const [k1, k2, seed] of [[60, 60, 31], [70, 40, 32], [25, 90, 33], [100, 50, 34]] as const) {
      const a = orthonormalRows(gaussian(seed, k1 * n), k1, n).q;
      // The second set shares part of the first's span (overlaps up to ~1) and the rest is random.
      const b0 = gaussian(seed + 100, k2 * n);
      for (let i = 0; i < Math.min(10, k1, k2); i++) for (let e = 0; e < n; e++) b0[i * n + e] = a[i * n + e]! + 0.05 * b0[i * n + e]!;
      const b = orthonormalRows(b0, k2, n).q;
      const x = stack(a, b);
      const kk = k1 + k2;
      const info: { route?: string } = {};
      const p = polarStacked(x, [k1, k2], n, info);
      expect(info.route).toBe('blocks');
      expect(orthoError(p, kk, n)).toBeLessThan(1e-11);
      expect(maxDiff(p, refPolar(x, kk, n))).toBeLessThan(1e-9);
      expect(maxDiff(p, polarRows(x, kk, n))).toBeLessThan(1e-10);
    }
  });

  it('square stacks of two random half-rank sets, each orthonormal only to ~1e-12 (as svdThin returns them): orthonormal, and polarRows\'s result', () => {
    // Two random 60-dimensional subspaces of R^120 nearly share a direction (1 − s_max small), so
    // G^-1/2 is large: the sets' own deviation from orthonormality must be removed before it is applied.
    const n = 120;
    for (const seed of [51, 52, 53]) {
      const a = orthonormalRows(gaussian(seed, 60 * n), 60, n).q;
      const b = orthonormalRows(gaussian(seed + 10, 60 * n), 60, n).q;
      const noise = gaussian(seed + 20, 120 * n);
      const x = stack(a, b).map((v, i) => v + 2e-13 * noise[i]!);
      const info: { route?: string } = {};
      const p = polarStacked(x, [60, 60], n, info);
      expect(info.route).toBe('blocks');
      const general = polarRows(x, 120, n);
      expect(orthoError(p, 120, n)).toBeLessThan(1e-10);
      expect(orthoError(general, 120, n)).toBeLessThan(1e-10);
      expect(maxDiff(p, general)).toBeLessThan(1e-8);
    }
  });

  it('a repeated direction (G singular) is left out as by polarRows; sets not orthonormal and three sets take the general route', () => {
    const n = 120;
    const a = orthonormalRows(gaussian(41, 30 * n), 30, n).q;
    const b0 = gaussian(42, 20 * n);
    for (let e = 0; e < n; e++) b0[e] = a[e]!; // b's first vector is a's first
    const b = orthonormalRows(b0, 20, n).q;
    const x = stack(a, b);
    const info: { route?: string } = {};
    expect(maxDiff(polarStacked(x, [30, 20], n, info), polarRows(x, 50, n))).toBeLessThan(1e-9);
    expect(info.route).toBe('blocks');
    const y = gaussian(43, 50 * n); // not orthonormal sets: the general route, bit for bit
    expect(maxDiff(polarStacked(y, [30, 20], n, info), polarRows(y, 50, n))).toBe(0);
    expect(info.route).toBe('general');
    const z = stack(x, orthonormalRows(gaussian(44, 10 * n), 10, n).q);
    expect(maxDiff(polarStacked(z, [30, 20, 10], n, info), polarRows(z, 60, n))).toBe(0);
    expect(info.route).toBe('general');
  });
});

describe('symmetricEigen (flat Householder + implicit QL)', () => {
  it.each([1, 2, 5, 40, 120])('n = %i: A·v = λ·v, orthonormal vectors, values equal ml-matrix\'s', (n) => {
    const g = gramOfRows(gaussian(40 + n, n * (n + 2)), n, n + 2);
    g[0] = g[0]! + 3; // a non-Gram perturbation keeps it symmetric
    const { values, vectors } = symmetricEigen(g, n);
    const top = Math.abs(values[0]!);
    for (let i = 0; i < n; i++) {
      if (i > 0) expect(values[i]!).toBeLessThanOrEqual(values[i - 1]!);
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let c = 0; c < n; c++) s += g[r * n + c]! * vectors[i * n + c]!;
        expect(Math.abs(s - values[i]! * vectors[i * n + r]!)).toBeLessThan(1e-12 * top);
      }
    }
    expect(orthoError(vectors, n, n)).toBeLessThan(1e-12);
    const ref = new EigenvalueDecomposition(Matrix.from1DArray(n, n, g), { assumeSymmetric: true }).realEigenvalues.sort((a, b) => b - a);
    for (let i = 0; i < n; i++) expect(Math.abs(values[i]! - ref[i]!)).toBeLessThan(1e-12 * top);
  });

  it('handles a diagonal matrix with repeated values and an already tridiagonal one', () => {
    const diag = new Float64Array([2, 0, 0, 0, 2, 0, 0, 0, -1]);
    expect(Array.from(symmetricEigen(diag, 3).values)).toEqual([2, 2, -1]);
    const tri = new Float64Array([2, -1, 0, -1, 2, -1, 0, -1, 2]); // eigenvalues 2 − √2·cos(kπ/4)
    const v = symmetricEigen(tri, 3).values;
    [2 + Math.SQRT2, 2, 2 - Math.SQRT2].forEach((x, i) => expect(Math.abs(v[i]! - x)).toBeLessThan(1e-14));
  });
});

describe('dense kernels (tiled products, block Gram-Schmidt) against plain loops', () => {
  // Sizes cross every edge of the tiling: rows/columns not multiples of 4, inner dimensions past
  // one 256-long block, mulAB on both of its paths (fewer than 16 rows: axpy; more: 64-column panels).
  const sizes: Array<[number, number, number]> = [[1, 1, 1], [3, 5, 2], [5, 7, 9], [17, 300, 13], [20, 513, 70], [9, 260, 131]];

  it.each(sizes)('mulABt and mulAB, %i×%i by %i, equal a float64 triple loop', (m, k, n) => {
    const a = gaussian(60 + m, m * k);
    const b = gaussian(61 + n, k * n); // k×n for mulAB
    const bt = gaussian(62 + n, n * k); // n×k for mulABt
    const refAB = new Float64Array(m * n);
    const refABt = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let t = 0;
        for (let p = 0; p < k; p++) {
          s += a[i * k + p]! * b[p * n + j]!;
          t += a[i * k + p]! * bt[j * k + p]!;
        }
        refAB[i * n + j] = s;
        refABt[i * n + j] = t;
      }
    }
    // Entries are sums of k products of unit normals (size ~√k): rounding differs by ~k·1e-16.
    expect(maxDiff(mulAB(a, b, m, k, n), refAB)).toBeLessThan(1e-13 * k);
    expect(maxDiff(mulABt(a, bt, m, k, n), refABt)).toBeLessThan(1e-13 * k);
  });

  it.each([[1, 3], [6, 300], [37, 70], [18, 513]])('gramOfRows of %i vectors of length %i: exactly symmetric, equals the loop', (kk, n) => {
    const x = gaussian(70 + kk, kk * n);
    const g = gramOfRows(x, kk, n);
    for (let i = 0; i < kk; i++) {
      for (let j = 0; j < kk; j++) {
        let s = 0;
        for (let e = 0; e < n; e++) s += x[i * n + e]! * x[j * n + e]!;
        expect(Math.abs(g[i * kk + j]! - s)).toBeLessThan(1e-13 * n);
        expect(g[i * kk + j]).toBe(g[j * kk + i]);
      }
    }
  });

  it('orthonormalRows across panels: drops dependent and zero vectors, keeps the span, orthonormal', () => {
    const kk = 75;
    const n = 120;
    const x = gaussian(80, kk * n);
    // Vector 40 = 2·x₃ − x₃₅ (dependent on an earlier panel), 41 = x₄₀ + x₃₈ (on its own panel), 70 = 0.
    for (let e = 0; e < n; e++) {
      x[40 * n + e] = 2 * x[3 * n + e]! - x[35 * n + e]!;
      x[41 * n + e] = x[40 * n + e]! + x[38 * n + e]!;
      x[70 * n + e] = 0;
    }
    const { q, count } = orthonormalRows(x, kk, n);
    expect(count).toBe(kk - 3);
    expect(orthoError(q, count, n)).toBeLessThan(1e-13);
    // Every input lies in the span of the output: its residual after projection is rounding.
    for (let i = 0; i < kk; i++) {
      const v = Array.from(x.subarray(i * n, (i + 1) * n));
      for (let j = 0; j < count; j++) {
        let d = 0;
        for (let e = 0; e < n; e++) d += q[j * n + e]! * v[e]!;
        for (let e = 0; e < n; e++) v[e]! -= d * q[j * n + e]!;
      }
      expect(maxAbs(v)).toBeLessThan(1e-12);
    }
    // Gram-Schmidt order: the first output vector is the first input, normalised.
    const n0 = Math.hypot(...x.subarray(0, n));
    expect(maxDiff(q.subarray(0, n), x.subarray(0, n).map((v) => v / n0))).toBeLessThan(1e-15);
  });
});

describe('symmetricEigen on a rank-deficient Gram matrix with repeated eigenvalues', () => {
  it('three copies of 20 orthonormal vectors plus 140 zero ones: eigenvalues 3 (×20) and 0, A·v = λ·v', () => {
    const n = 200;
    const k = 20;
    const q = orthonormalRows(gaussian(90, k * n), k, n).q;
    const x = new Float64Array(n * n);
    for (let t = 0; t < 3; t++) x.set(q, t * k * n);
    const g = gramOfRows(x, n, n);
    const { values, vectors } = symmetricEigen(g, n);
    for (let i = 0; i < n; i++) expect(Math.abs(values[i]! - (i < k ? 3 : 0))).toBeLessThan(1e-12);
    expect(orthoError(vectors, n, n)).toBeLessThan(1e-12);
    for (const i of [0, k - 1, k, n - 1]) {
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let c = 0; c < n; c++) s += g[r * n + c]! * vectors[i * n + c]!;
        expect(Math.abs(s - values[i]! * vectors[i * n + r]!)).toBeLessThan(1e-12);
      }
    }
  });
});
