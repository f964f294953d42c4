// Old against new SVD kernels under the same load: each operation runs with the kernels of
// another checkout (OLD_SRC, e.g. a `git archive` of the commit before) and with this one,
// alternately, and prints both times, their ratio and the largest difference of the results.
// Usage: OLD_SRC=/path/to/old/src npx tsx experiments/bench/svd-compare.ts [N] [T]
import * as cur from '../../src/tensor/svd.ts';
import * as curDense from '../../src/tensor/dense.ts';
import { seededRandom } from '../../src/tensor/random.ts';

const oldSrc = process.env.OLD_SRC;
if (!oldSrc) throw new Error('set OLD_SRC to the src folder of the checkout to compare against');
const old = (await import(`${oldSrc}/tensor/svd.ts`)) as typeof cur;
const oldDense = (await import(`${oldSrc}/tensor/dense.ts`)) as typeof curDense;
const n = Number(process.argv[2] ?? 1024);
const tasks = Number(process.argv[3] ?? 3);
const rand = seededRandom(1);
// A task-vector-like matrix: a decaying spectrum (σᵢ ∝ 1/(1 + i/8)) plus a little noise.
const a = new Float64Array(n * n).map(() => (rand() - 0.5) * 1e-3);
{
  const u = curDense.orthonormalRows(new Float64Array(n * n).map(() => rand() - 0.5), n, n).q;
  const v = curDense.orthonormalRows(new Float64Array(n * n).map(() => rand() - 0.5), n, n).q;
  for (let i = 0; i < n; i++) {
    const s = 1 / (1 + i / 8);
    for (let r = 0; r < n; r++) {
      const f = s * u[i * n + r]!;
      for (let c = 0; c < n; c++) a[r * n + c]! += f * v[i * n + c]!;
    }
  }
}
const k = Math.floor(n / tasks);
const l = k + 10;
const omega = new Float64Array(l * n).map(() => rand() - 0.5);
const maxDiff = (x: Float64Array, y: Float64Array): number => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
function compare(label: string, f: (impl: 'old' | 'new') => Float64Array): void {
  const t = { old: 0, new: 0 };
  const out: Partial<Record<'old' | 'new', Float64Array>> = {};
  for (const impl of ['old', 'new', 'new', 'old'] as const) {
    const t0 = performance.now();
    out[impl] = f(impl);
    t[impl] += (performance.now() - t0) / 2000;
  }
  console.log(`${label.padEnd(30)} old ${t.old.toFixed(2).padStart(6)} s  new ${t.new.toFixed(2).padStart(6)} s  old/new ${(t.old / t.new).toFixed(2)}  max |diff| ${maxDiff(out.old!, out.new!).toExponential(1)}`);
}
const d = (impl: 'old' | 'new') => (impl === 'old' ? oldDense : curDense);
const s = (impl: 'old' | 'new') => (impl === 'old' ? old : cur);
compare(`mulABt ${l}x${n}·(${n}x${n})ᵀ`, (i) => d(i).mulABt(omega, a, l, n, n));
compare(`mulAB ${l}x${n}·${n}x${n}`, (i) => d(i).mulAB(omega, a, l, n, n));
compare(`gramOfRows ${l}x${n}`, (i) => d(i).gramOfRows(omega, l, n));
compare(`orthonormalRows ${l}x${n}`, (i) => d(i).orthonormalRows(omega, l, n).q);
const tops: cur.Svd[] = [];
compare(`svdTopK ${n}² k=${k} (s)`, (i) => {
  const x = s(i).svdTopK(a, n, n, k, { seed: 3 });
  if (i === 'new') tops[0] = x;
  return x.s;
});
const kk = Math.min(n, tasks * tops[0]!.k);
const stacked = new Float64Array(kk * n).map(() => rand() - 0.5);
compare(`polarRows ${kk}x${n}`, (i) => s(i).polarRows(stacked, kk, n));
