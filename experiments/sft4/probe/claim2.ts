// Probe for claim 2's goal (the best merge keeps >= 90 % of EACH SFT expert) without changing the
// zoo: wider alpha grids for TSV-M / Iso-C, RegMean with per-expert weights, RegMean++, and task
// arithmetic with one weight per expert chosen on validation (coordinate ascent on the least
// retention). Every choice on 64 validation prompts per task; the chosen merges scored on 128 test
// prompts per task (the claims script's seeded subsamples).
// tsx experiments/sft4/probe/claim2.ts ZOO OUTDIR
import fs from 'node:fs';
import path from 'node:path';
import type { MergeSpec } from '../../../src/merge/host-merge.ts';
import { produceStatistics, produceZooStatistics } from '../../../src/stats/produce.ts';
import { initEngine } from '../../../src/tensor/engine.ts';
import { exactMatchOn, loadNamedLmZoo, mergeNamed, ownTask } from '../../lm-named-zoo.ts';

const [zooDir, outDir] = process.argv.slice(2) as [string, string];
await initEngine('wasm');
const z = loadNamedLmZoo(zooDir);
const t0 = Date.now();
const log = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);
const em = (p: ReturnType<typeof mergeNamed>, tasks: string[], split: 'validation' | 'test') => exactMatchOn(z, p, tasks, split, { samples: split === 'validation' ? 64 : 128, seed: 0 });
const ownCache = new Map<string, number>();
const own = (n: string, split: 'validation' | 'test') => {
  const k = `${n}/${split}`;
  if (!ownCache.has(k)) ownCache.set(k, em(z.params(n), [ownTask(z, n)], split)[0]!);
  return ownCache.get(k)!;
};
const retention = (experts: string[], spec: MergeSpec, split: 'validation' | 'test') => {
  const e = em(mergeNamed(z, experts, spec), experts.map((n) => ownTask(z, n)), split);
  return e.map((x, i) => x / Math.max(own(experts[i]!, split), 1e-9));
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (x: number) => (100 * x).toFixed(1);

// Statistics: gram per expert (64 calibration prompts, as the claims script), gram_plus per subset.
fs.mkdirSync(outDir, { recursive: true });
const gram = (n: string) => {
  const file = path.join(outDir, `${n}.gram.safetensors`);
  if (!fs.existsSync(file)) produceStatistics({ model: z.folder(n), data: path.join(z.dir, z.manifest.data[ownTask(z, n)]!.calibration!), kinds: ['gram'], out: file, samples: 64 });
  return file;
};
const gramPlus = (experts: string[]) => {
  // A view of the zoo with only these experts (copies: the statistics are written beside each).
  const view = path.join(outDir, `view-${experts.join('-')}`);
  if (!fs.existsSync(path.join(view, 'manifest.json'))) {
    fs.mkdirSync(view, { recursive: true });
    for (const n of experts) fs.cpSync(z.folder(n), path.join(view, 'experts', n), { recursive: true });
    const data: Record<string, unknown> = {};
    for (const n of experts) data[ownTask(z, n)] = Object.fromEntries(Object.entries(z.manifest.data[ownTask(z, n)]!).map(([s, rel]) => [s, path.relative(view, path.join(z.dir, rel as string))]));
    fs.writeFileSync(path.join(view, 'manifest.json'), JSON.stringify({ benchmark: 'sft4', tasks: experts.map((n) => ownTask(z, n)), experts: Object.fromEntries(experts.map((n) => [ownTask(z, n), `experts/${n}`])), data }));
    produceZooStatistics(view, ['gram_plus'], 64, undefined, 0.95);
  }
  return experts.map((n) => path.join(view, 'experts', n, 'merge_statistics.safetensors'));
};

interface Row { label: string; spec: MergeSpec; val: number[] }
for (const experts of [['sort', 'reverse'], ['sort', 'reverse', 'shift']]) {
  const k = experts.length;
  const ones = (extra: Record<string, unknown> = {}) => experts.map(() => ({ weight: 1, ...extra }));
  const rows: Row[] = [];
  const tryOne = (label: string, spec: MergeSpec) => {
    const val = retention(experts, spec, 'validation');
    rows.push({ label, spec, val });
    log(`${experts.join('+')} ${label}: validation ${val.map(pct).join(' / ')} (mean ${pct(mean(val))}, min ${pct(Math.min(...val))})`);
    return val;
  };
  for (const a of [0.75, 1.25, 1.5, 2]) tryOne(`TSV-M α = ${a}`, { method: 'tsv_m', global: { alpha: a }, perModel: ones() });
  for (const a of [1.5, 2, 3]) tryOne(`Iso-C α = ${a}`, { method: 'iso_c', global: { alpha: a }, perModel: ones() });
  const grams = experts.map(gram);
  const plus = gramPlus(experts);
  for (const a of [0.95]) tryOne(`RegMean++ α = ${a}`, { method: 'regmean_plus', global: { alpha: a }, perModel: plus.map((s) => ({ weight: 1, statistics: s })) });
  // Per-expert weights by coordinate ascent on the least validation retention (then the mean).
  const ascend = (name: string, make: (w: number[]) => MergeSpec) => {
    let w = experts.map(() => 1);
    const score = (v: number[]) => Math.min(...v) + 1e-3 * mean(v);
    let best = score(tryOne(`${name} w = ${w.join(', ')}`, make(w)));
    for (let pass = 0; pass < 2; pass++) {
      let moved = false;
      for (let i = 0; i < k; i++) {
        for (const f of [0.7, 1.4]) {
          const cand = w.map((x, j) => (j === i ? Math.round(x * f * 100) / 100 : x));
          const s = score(tryOne(`${name} w = ${cand.join(', ')}`, make(cand)));
          if (s > best) {
            best = s;
            w = cand;
            moved = true;
          }
        }
      }
      if (!moved) break;
    }
  };
  ascend('TA λ 1', (w) => ({ method: 'task_arithmetic', global: { lambda: 1 }, perModel: w.map((x) => ({ weight: x })) }));
  ascend('RegMean α 0.95', (w) => ({ method: 'regmean', global: { alpha: 0.95 }, perModel: w.map((x, i) => ({ weight: x, statistics: grams[i]! })) }));
  // Test: the best by least validation retention, and by mean.
  const byMin = [...rows].sort((a, b) => Math.min(...b.val) - Math.min(...a.val) || mean(b.val) - mean(a.val));
  const byMean = [...rows].sort((a, b) => mean(b.val) - mean(a.val));
  const seen = new Set<string>();
  for (const r of [...byMin.slice(0, 4), ...byMean.slice(0, 2)]) {
    if (seen.has(r.label)) continue;
    seen.add(r.label);
    const t = retention(experts, r.spec, 'test');
    console.log(`| ${experts.join(' + ')} | ${r.label} | ${t.map(pct).join(' | ')} | ${pct(mean(t))} % | ${pct(Math.min(...t))} % | val min ${pct(Math.min(...r.val))} mean ${pct(mean(r.val))} |`);
  }
}
