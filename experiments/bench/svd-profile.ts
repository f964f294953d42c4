// Where the time of a TSV-M decomposition goes: times each kernel of src/tensor/svd.ts on one
// rows×cols matrix (default 1024×1024, T = 3 tasks: k = ⌊r/3⌋ per task, then the polar factor of
// the T·k stacked vectors). Usage: npx tsx experiments/bench/svd-profile.ts [N] [T]
import { gramOfRows, mulAB, mulABt, orthonormalRows, symmetricEigen, transpose } from '../../src/tensor/dense.ts';
import { polarRows, svdThin, svdTopK } from '../../src/tensor/svd.ts';
import { polarFactor } from '../../src/tensor/polar.ts';
import { seededRandom } from '../../src/tensor/random.ts';

const n = Number(process.argv[2] ?? 1024);
const tasks = Number(process.argv[3] ?? 3);
const rand = seededRandom(1);
const a = new Float64Array(n * n).map(() => rand() - 0.5);
const k = Math.floor(n / tasks);
const l = k + 10;
const time = <T>(label: string, macs: number, f: () => T): T => {
  const t0 = performance.now();
  const out = f();
  const s = (performance.now() - t0) / 1000;
  console.log(`${label.padEnd(34)} ${s.toFixed(2).padStart(7)} s  ${(macs / s / 1e9).toFixed(2)} GMAC/s`);
  return out;
};
const omega = new Float64Array(l * n).map(() => rand() - 0.5);
const y = time(`mulABt ${l}x${n} · (${n}x${n})ᵀ`, l * n * n, () => mulABt(omega, a, l, n, n));
const q = time(`orthonormalRows ${l}x${n}`, 2 * l * l * n, () => orthonormalRows(y, l, n));
time(`mulAB ${l}x${n} · ${n}x${n}`, l * n * n, () => mulAB(q.q, a, l, n, n));
const g = time(`gramOfRows ${l}x${n}`, l * l * n, () => gramOfRows(q.q, l, n));
time(`symmetricEigen ${l}`, 0, () => symmetricEigen(g, l));
const svd = time(`svdTopK ${n}x${n} k=${k} (whole)`, 0, () => svdTopK(a, n, n, k, { seed: 3 }));
const kk = Math.min(n, tasks * svd.k);
const stacked = new Float64Array(kk * n);
for (let t = 0; t < tasks; t++) stacked.set(svd.ut.subarray(0, Math.min(svd.k, kk - t * svd.k) * n), t * svd.k * n);
const g2 = time(`gramOfRows ${kk}x${n}`, kk * kk * n, () => gramOfRows(stacked, kk, n));
time(`symmetricEigen ${kk}`, 0, () => symmetricEigen(g2, kk));
time(`polarRows ${kk}x${n} (whole)`, 0, () => polarRows(stacked, kk, n));
// Iso-C's two formulations of σ̄·U·Vᵀ on the same matrix: the full SVD route (svdThin: Gram,
// eigendecomposition, then U = A·V·Λ^-1/2) and the polar route (polar.ts: Gram, eigendecomposition,
// G^-1/2; no singular vectors), each followed by forming the dense update.
time(`iso_c via svdThin ${n}x${n} (+ dense)`, 0, () => {
  const s = svdThin(a, n, n);
  return mulAB(transpose(s.ut, s.k, n), s.vt, n, s.k, n);
});
time(`iso_c via polarFactor ${n}x${n} (+ dense)`, 0, () => {
  const p = polarFactor(a, n, n);
  return mulAB(p.left, p.right, n, p.kk, n);
});
