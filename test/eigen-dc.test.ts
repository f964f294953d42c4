// The symmetric eigensolver's large-n path (eigen.ts: Householder reduction, divide and conquer on the
// tridiagonal matrix (tridiagonal-dc.ts), blocked back-transformation) against ml-matrix's
// eigenvalues, with the residual ‖G·v − λ·v‖ and the orthonormality of the vectors checked directly.
// The matrices are chosen to exercise each branch of the merge: no deflation (random Gram), the
// close-pole rotation (Wilkinson's matrix: pairs of eigenvalues equal to ~1e-14), the small-weight
// deflation (identity plus rank one: one pole cluster of n − 1), a split tridiagonal (zero coupling at
// the divide), and a graded spectrum down to 1e-12 of the largest.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { gramOfRows, mulABt, orthonormalRows, symmetricEigen } from '../src/tensor/dense.ts';
import { BLOCKED_MIN_N, DC_MIN_N, withBlockedReductionFrom } from '../src/tensor/eigen.ts';
import { withKernelBackend } from '../src/tensor/kernel-backend.ts';
import { seededRandom } from '../src/tensor/random.ts';

function gaussian(seed: number, n: number): Float64Array {
  const r = seededRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

function tridiagonal(d: number[], e: number[]): Float64Array {
  const n = d.length;
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) g[i * n + i] = d[i]!;
  for (let i = 0; i + 1 < n; i++) {
    g[i * n + i + 1] = e[i]!;
    g[(i + 1) * n + i] = e[i]!;
  }
  return g;
}

/** Worst |(G·v)ᵣ − λ·vᵣ| over all pairs, worst |VVᵀ − I|, worst |λ − ml-matrix's λ| (both sorted). */
function errors(g: Float64Array, n: number): { residual: number; ortho: number; values: number; norm: number } {
  const { values, vectors } = symmetricEigen(g, n);
  const gv = mulABt(vectors, g, n, n, n); // row i = (G·vᵢ)ᵀ (G symmetric)
  let residual = 0;
  for (let i = 0; i < n; i++) for (let r = 0; r < n; r++) residual = Math.max(residual, Math.abs(gv[i * n + r]! - values[i]! * vectors[i * n + r]!));
  let ortho = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let e = 0; e < n; e++) s += vectors[i * n + e]! * vectors[j * n + e]!;
      ortho = Math.max(ortho, Math.abs(s - (i === j ? 1 : 0)));
    }
  }
  const ref = new EigenvalueDecomposition(Matrix.from1DArray(n, n, g), { assumeSymmetric: true }).realEigenvalues.sort((a, b) => b - a);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) expect(values[i]!).toBeLessThanOrEqual(values[i - 1]!);
    worst = Math.max(worst, Math.abs(values[i]! - ref[i]!));
  }
  const norm = Math.max(Math.abs(values[0]!), Math.abs(values[n - 1]!));
  return { residual, ortho, values: worst, norm };
}

describe('symmetricEigen at divide-and-conquer sizes', () => {
  it('takes the divide and conquer from DC_MIN_N rows on', () => {
    expect(DC_MIN_N).toBeLessThanOrEqual(150);
  });

  it.each([150, 301])('random Gram matrix, n = %i: residual, orthonormality and values within 1e-12 (relative to ‖G‖)', (n) => {
    const g = gramOfRows(gaussian(n, n * (n + 5)), n, n + 5);
    const x = errors(g, n);
    expect(x.residual).toBeLessThan(1e-12 * x.norm);
    expect(x.ortho).toBeLessThan(1e-12);
    expect(x.values).toBeLessThan(1e-12 * x.norm);
  });

  it("Wilkinson's W⁺ (n = 201: eigenvalue pairs equal to ~1e-14, the close-pole deflation)", () => {
    const n = 201;
    const h = (n - 1) / 2;
    const g = tridiagonal(Array.from({ length: n }, (_, i) => Math.abs(h - i)), Array.from({ length: n - 1 }, () => 1));
    const x = errors(g, n);
    expect(x.residual).toBeLessThan(1e-12 * x.norm);
    expect(x.ortho).toBeLessThan(1e-12);
    expect(x.values).toBeLessThan(1e-12 * x.norm);
  });

  it('identity plus rank one (n = 180: n − 1 equal eigenvalues deflate) and a split tridiagonal', () => {
    const n = 180;
    const u = gaussian(7, n);
    const g = new Float64Array(n * n);
    let uu = 0;
    for (let i = 0; i < n; i++) {
      uu += u[i]! * u[i]!;
      for (let j = 0; j < n; j++) g[i * n + j] = (i === j ? 1 : 0) + u[i]! * u[j]!;
    }
    const { values } = symmetricEigen(g, n);
    expect(Math.abs(values[0]! - (1 + uu))).toBeLessThan(1e-12 * (1 + uu));
    for (let i = 1; i < n; i++) expect(Math.abs(values[i]! - 1)).toBeLessThan(1e-12 * (1 + uu));
    const x = errors(g, n);
    expect(x.residual).toBeLessThan(1e-12 * x.norm);
    expect(x.ortho).toBeLessThan(1e-12);
    // Zero coupling exactly where the divide falls (n/2), and elsewhere.
    const d = Array.from(gaussian(8, n));
    const e = Array.from(gaussian(9, n - 1)).map((v, i) => (i === n / 2 - 1 || i % 37 === 0 ? 0 : v));
    const y = errors(tridiagonal(d, e), n);
    expect(y.residual).toBeLessThan(1e-12 * y.norm);
    expect(y.ortho).toBeLessThan(1e-12);
    expect(y.values).toBeLessThan(1e-12 * y.norm);
  });

  it('graded spectrum 1 … 1e-12 (n = 160): small eigenvalues to 1e-12 of the largest, orthonormal vectors', () => {
    const n = 160;
    const q = orthonormalRows(gaussian(11, n * n), n, n).q;
    const lam = Array.from({ length: n }, (_, i) => 10 ** ((-12 * i) / (n - 1)));
    const g = new Float64Array(n * n);
    for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j]! += lam[k]! * q[k * n + i]! * q[k * n + j]!;
    const x = errors(g, n);
    expect(x.residual).toBeLessThan(1e-12 * x.norm);
    expect(x.ortho).toBeLessThan(1e-12);
    expect(x.values).toBeLessThan(1e-12 * x.norm);
  });

  it('want < n (n = 200): the same values and the same top vectors as the full decomposition, the rest not formed', () => {
    const n = 200;
    const g = gramOfRows(gaussian(21, n * (n + 1)), n, n + 1);
    const full = symmetricEigen(g, n);
    for (const want of [1, 13, 100]) {
      const part = symmetricEigen(g, n, want);
      expect(part.vectors.length).toBe(want * n);
      expect(Array.from(part.values)).toEqual(Array.from(full.values));
      let worst = 0;
      for (let e = 0; e < want * n; e++) worst = Math.max(worst, Math.abs(part.vectors[e]! - full.vectors[e]!));
      expect(worst).toBeLessThan(1e-14);
    }
  });
});

describe('the blocked Householder reduction (panels of deferred updates, eigen.ts tridiagonalize)', () => {
  it('is used from BLOCKED_MIN_N rows on, a size the 2048-wide Gram matrices reach', () => {
    expect(BLOCKED_MIN_N).toBeLessThanOrEqual(2048);
  });

  // Forced on at test sizes: 150 and 301 rows end in partial panels (32 steps each), 97 in one.
  it.each([97, 150, 301])('forced on, random Gram matrix n = %i: residual, orthonormality and values within 1e-12, and the unblocked route\'s values', (n) => {
    const g = gramOfRows(gaussian(n + 7, n * (n + 3)), n, n + 3);
    const x = withBlockedReductionFrom(0, () => errors(g, n));
    expect(x.residual).toBeLessThan(1e-12 * x.norm);
    expect(x.ortho).toBeLessThan(1e-12);
    expect(x.values).toBeLessThan(1e-12 * x.norm);
    const blocked = withBlockedReductionFrom(0, () => symmetricEigen(g, n)).values;
    const plain = withBlockedReductionFrom(Infinity, () => symmetricEigen(g, n)).values;
    for (let i = 0; i < n; i++) expect(Math.abs(blocked[i]! - plain[i]!)).toBeLessThan(1e-12 * x.norm);
  });

  it('forced on, a graded spectrum (1 … 1e-12, n = 170): within 1e-12 of ‖G‖', () => {
    const n = 170;
    const q = orthonormalRows(gaussian(171, n * n), n, n).q;
    const lam = Array.from({ length: n }, (_, i) => 10 ** (-12 * (i / (n - 1))));
    const g = new Float64Array(n * n);
    for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j]! += lam[k]! * q[k * n + i]! * q[k * n + j]!;
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[i * n + j] = g[j * n + i]!; // exactly symmetric
    const x = withBlockedReductionFrom(0, () => errors(g, n));
    expect(x.residual).toBeLessThan(1e-12 * x.norm);
    expect(x.ortho).toBeLessThan(1e-12);
    expect(x.values).toBeLessThan(1e-12 * x.norm);
  });

  it('the wasm syr2k kernel gives the JavaScript loop\'s bits (MERGESEARCH_KERNELS=js changes speed only)', () => {
    const n = 140;
    const g = gramOfRows(gaussian(141, n * (n + 2)), n, n + 2);
    const wasm = withBlockedReductionFrom(0, () => symmetricEigen(g, n));
    const js = withKernelBackend('js', () => withBlockedReductionFrom(0, () => symmetricEigen(g, n)));
    expect(Buffer.from(wasm.values.buffer).equals(Buffer.from(js.values.buffer))).toBe(true);
    expect(Buffer.from(wasm.vectors.buffer).equals(Buffer.from(js.vectors.buffer))).toBe(true);
  });
});
