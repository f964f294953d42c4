// polarFactor (src/tensor/polar.ts: the polar factor and nuclear norm from the smaller side's Gram,
// no singular vectors) against two dense references: ml-matrix's full SVD (Golub-Kahan: U·Vᵀ and
// Σσ) and our own svdThin route (the SVD Iso-C used before). Tolerance 1e-9 of the entries' scale
// on well-conditioned matrices (float64 rounding through a Gram matrix: ~1e-16·κ²).
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { mulAB } from '../src/tensor/dense.ts';
import { polarFactor } from '../src/tensor/polar.ts';
import { seededRandom } from '../src/tensor/random.ts';
import { svdThin } from '../src/tensor/svd.ts';

function gaussian(seed: number, n: number): Float64Array {
  const r = seededRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** U_r·V_rᵀ over the first `rank` singular pairs, and Σσ, from ml-matrix. */
function reference(a: Float64Array, m: number, n: number, rank?: number): { p: Float64Array; nuclear: number } {
  const svd = new SingularValueDecomposition(Matrix.from1DArray(m, n, a), { autoTranspose: true });
  const r = rank ?? Math.min(m, n);
  const u = svd.leftSingularVectors.subMatrix(0, m - 1, 0, r - 1);
  const v = svd.rightSingularVectors.subMatrix(0, n - 1, 0, r - 1);
  return { p: Float64Array.from(u.mmul(v.transpose()).to1DArray()), nuclear: svd.diagonal.slice(0, r).reduce((s, x) => s + x, 0) };
}

function dense(f: ReturnType<typeof polarFactor>, m: number, n: number): Float64Array {
  return mulAB(f.left, f.right, m, f.kk, n);
}

describe('polarFactor', () => {
  it.each([[70, 40], [40, 70], [50, 50]])('%i×%i: P = U·Vᵀ and Σσ of the full SVD; P has orthonormal columns or rows', (m, n) => {
    const a = gaussian(m * 7 + n, m * n);
    const f = polarFactor(a.slice(), m, n);
    const ref = reference(a, m, n);
    const p = dense(f, m, n);
    expect(f.rank).toBe(Math.min(m, n));
    expect(maxDiff(p, ref.p)).toBeLessThan(1e-9);
    expect(Math.abs(f.nuclear - ref.nuclear)).toBeLessThan(1e-9 * ref.nuclear);
    // PᵀP = I (tall) or P·Pᵀ = I (wide), computed directly.
    const r = Math.min(m, n);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < r; j++) {
        let d = 0;
        if (m >= n) for (let e = 0; e < m; e++) d += p[e * n + i]! * p[e * n + j]!;
        else for (let e = 0; e < n; e++) d += p[i * n + e]! * p[j * n + e]!;
        expect(Math.abs(d - (i === j ? 1 : 0))).toBeLessThan(1e-9);
      }
    }
  });

  it('equals the svdThin route (the dense result): σ̄·U·Vᵀ built from every kept triplet', () => {
    const m = 90;
    const n = 64;
    const a = gaussian(5, m * n);
    const svd = svdThin(a, m, n);
    const viaSvd = new Float64Array(m * n);
    for (let i = 0; i < svd.k; i++) for (let p = 0; p < m; p++) for (let q = 0; q < n; q++) viaSvd[p * n + q]! += svd.ut[i * m + p]! * svd.vt[i * n + q]!;
    const f = polarFactor(a, m, n);
    expect(maxDiff(dense(f, m, n), viaSvd)).toBeLessThan(1e-10);
    expect(Math.abs(f.nuclear - svd.s.reduce((s, x) => s + x, 0))).toBeLessThan(1e-10 * f.nuclear);
  });

  it.each([[48, 30], [30, 48]])('%i×%i of rank 5: the numerically zero directions are left out (U₅·V₅ᵀ), rank 5', (m, n) => {
    const u = gaussian(8, 5 * m);
    const v = gaussian(9, 5 * n);
    const a = new Float64Array(m * n);
    for (let i = 0; i < 5; i++) for (let p = 0; p < m; p++) for (let q = 0; q < n; q++) a[p * n + q]! += (i + 1) * u[i * m + p]! * v[i * n + q]!;
    const f = polarFactor(a.slice(), m, n);
    const ref = reference(a, m, n, 5);
    expect(f.rank).toBe(5);
    expect(maxDiff(dense(f, m, n), ref.p)).toBeLessThan(1e-8);
    expect(Math.abs(f.nuclear - ref.nuclear)).toBeLessThan(1e-9 * ref.nuclear);
  });

  it('a zero matrix: rank 0, nuclear norm 0, P = 0', () => {
    const f = polarFactor(new Float64Array(12 * 8), 12, 8);
    expect(f.rank).toBe(0);
    expect(f.nuclear).toBe(0);
    expect(dense(f, 12, 8).every((x) => x === 0)).toBe(true);
  });
});
