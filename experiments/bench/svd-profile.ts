// Where the time of the SVD-family decompositions goes on one rows×cols weight (default 1024×1024;
// a 1.1 B Llama's are 2048×2048 and 5632×2048), with T tasks (default 3: TSV-M keeps k = ⌊r/T⌋ per
// task, r = min(rows, cols)). Times, each in CPU-seconds of this single-threaded process (the
// machine is often shared, so wall time says little) and wall seconds:
//   - the pieces of one eigendecomposition of an r×r Gram matrix (dense.ts symmetricEigen), and of
//     the randomized range finder svdTopK would use for this k;
//   - svdTopK of each task on both paths (exact: Gram eigendecomposition; randomized) and the path
//     the rule (topKPath) picks;
//   - TSV-M's whitening: polarRows of the T·k stacked left and right singular vectors;
//   - Iso-C's polar factor of the summed matrix (polar.ts), and the dense update it forms.
// Usage: npx tsx experiments/bench/svd-profile.ts [COLS] [T] [ROWS]
// The task matrices are independent uniform random matrices (a flat spectrum: the eigensolver's
// divide and conquer deflates least there, so these are upper bounds for real task vectors).
import { gramOfRows, mulAB, mulABt, orthonormalRows, symmetricEigen } from '../../src/tensor/dense.ts';
import { polarRows, polarStacked, svdTopK, topKPath } from '../../src/tensor/svd.ts';
import { polarFactor } from '../../src/tensor/polar.ts';
import { seededRandom } from '../../src/tensor/random.ts';

const n = Number(process.argv[2] ?? 1024);
const tasks = Number(process.argv[3] ?? 3);
const m = Number(process.argv[4] ?? n);
const r = Math.min(m, n);
const rand = seededRandom(1);
const mats = Array.from({ length: tasks }, () => new Float64Array(m * n).map(() => rand() - 0.5));
const k = Math.max(1, Math.floor(r / tasks));
const l = Math.min(r, k + 10);
let total = 0;
const time = <T>(label: string, macs: number, f: () => T, count = false): T => {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const out = f();
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  if (count) total += cpu;
  console.log(`${label.padEnd(46)} ${cpu.toFixed(2).padStart(7)} CPU-s ${s.toFixed(2).padStart(7)} s wall${macs ? `  ${(macs / cpu / 1e9).toFixed(2)} GMAC/CPU-s` : ''}`);
  return out;
};
const a = mats[0]!;
console.log(`${m}×${n}, T = ${tasks}, k = ${k}: svdTopK takes the ${topKPath(m, n, k)} path`);
// Pieces: the smaller side's Gram and its eigendecomposition (the exact path), then the range finder.
const at = m >= n ? new Float64Array(n * m).map((_, i) => a[(i % m) * n + Math.floor(i / m)]!) : a;
const g = time(`gramOfRows ${r}×${Math.max(m, n)}`, (r * r * Math.max(m, n)) / 2, () => gramOfRows(at, r, Math.max(m, n)));
time(`symmetricEigen ${r}`, 0, () => symmetricEigen(g, r));
const omega = new Float64Array(l * n).map(() => rand() - 0.5);
const y = time(`mulABt ${l}×${n} · (${m}×${n})ᵀ`, l * m * n, () => mulABt(omega, a, l, n, m));
const q = time(`orthonormalRows ${l}×${m}`, 2 * l * l * m, () => orthonormalRows(y, l, m));
time(`mulAB ${l}×${m} · ${m}×${n}`, l * m * n, () => mulAB(q.q, a, l, m, n));
// Whole decompositions.
time(`svdTopK ${m}×${n} k=${k} exact`, 0, () => svdTopK(a, m, n, k, { method: 'exact' }));
if (l < r) time(`svdTopK ${m}×${n} k=${k} randomized`, 0, () => svdTopK(a, m, n, k, { method: 'randomized', seed: 3 }));
const svds = mats.map((x, t) => time(`tsv_m: svdTopK task ${t} (${topKPath(m, n, k)})`, 0, () => svdTopK(x, m, n, k, { seed: 3 + t }), true));
const kk = svds.reduce((s, x) => s + x.k, 0);
const ut = new Float64Array(kk * m);
const vt = new Float64Array(kk * n);
let off = 0;
for (const x of svds) {
  ut.set(x.ut, off * m);
  vt.set(x.vt, off * n);
  off += x.k;
}
// What tsv_m runs (polarStacked: the two-block route for T = 2), then the general route for comparison.
const sizes = svds.map((x) => x.k);
const route: { route?: string } = {};
time(`tsv_m: polarStacked U ${kk}×${m}`, 0, () => polarStacked(ut, sizes, m, route), true);
time(`tsv_m: polarStacked V ${kk}×${n} (${route.route} route)`, 0, () => polarStacked(vt, sizes, n, route), true);
if (route.route === 'blocks') time(`(general route: polarRows U ${kk}×${m})`, 0, () => polarRows(ut, kk, m));
console.log(`${'tsv_m decompositions in all'.padEnd(46)} ${total.toFixed(2).padStart(7)} CPU-s`);
const sum = new Float64Array(m * n);
for (const x of mats) for (let e = 0; e < sum.length; e++) sum[e]! += x[e]!;
time(`iso_c: polarFactor ${m}×${n} + dense update`, 0, () => {
  const p = polarFactor(sum, m, n);
  return mulAB(p.left, p.right, m, p.kk, n);
});
