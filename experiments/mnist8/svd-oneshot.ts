// One-shot SVD-family merges on mnist8: tsv_m, iso_c, iso_cts and cart, each with α chosen on the
// validation split, scored on the test split, next to task arithmetic (λ chosen the same way).
// npx tsx experiments/mnist8/svd-oneshot.ts [--zoo DIR]   (builds zoo/mnist8 with seed 0 if missing)
// Writes experiments/mnist8/SVD-ONESHOT.md and prints it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine } from '../../src/tensor/engine.ts';
import { buildMnist8 } from '../../src/zoo/mnist8.ts';
import { backboneOf, loadClassifierZoo, mergeBackbone, scoreBackbone } from '../../src/zoo/zoo-models.ts';
import type { MergeSpec } from '../../src/merge/host-merge.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const zooDir = args.includes('--zoo') ? args[args.indexOf('--zoo') + 1]! : 'zoo/mnist8';
const ALPHAS = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0];

const engine = await initEngine('auto');
if (!fs.existsSync(path.join(zooDir, 'manifest.json'))) {
  console.error(`building the mnist8 zoo in ${zooDir} (seed 0) ...`);
  buildMnist8({ out: zooDir, seed: 0, onLog: (l) => console.error(l) });
}
const zoo = loadClassifierZoo(zooDir);
const started = Date.now();
const mean = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0) / m.size;

function best(make: (alpha: number) => MergeSpec): { alpha: number; validation: number; spec: MergeSpec; mergeSeconds: number } {
  let top = { alpha: ALPHAS[0]!, validation: -1, mergeSeconds: 0 };
  for (const alpha of ALPHAS) {
    const t0 = Date.now();
    const merged = mergeBackbone(zoo, make(alpha));
    const secs = (Date.now() - t0) / 1000;
    const v = mean(scoreBackbone(zoo, merged, 'validation'));
    console.error(`  ${make(alpha).method} α=${alpha}: validation ${(100 * v).toFixed(1)} % (merge ${secs.toFixed(2)} s)`);
    if (v > top.validation) top = { alpha, validation: v, mergeSeconds: secs };
  }
  return { ...top, spec: make(top.alpha) };
}

const individual = new Map<string, number>();
zoo.tasks.forEach((task, i) => individual.set(task, scoreBackbone(zoo, backboneOf(zoo.experts[i]!), 'test').get(task)!));

const rows: string[] = [];
const fmt = (x: number) => (100 * x).toFixed(1);
function add(name: string, scores: Map<string, number>, extra: string): void {
  const norm = zoo.tasks.reduce((a, t) => a + scores.get(t)! / individual.get(t)!, 0) / zoo.tasks.length;
  rows.push(`| ${name} | ${zoo.tasks.map((t) => fmt(scores.get(t)!)).join(' | ')} | ${fmt(mean(scores))} | ${fmt(norm)} | ${extra} |`);
  console.error(rows[rows.length - 1]);
}

add('individual experts', individual, '—');
const candidates: Array<[string, (alpha: number) => MergeSpec]> = [
  ['task arithmetic', (lambda) => ({ method: 'task_arithmetic', global: { lambda }, perModel: zoo.experts.map(() => ({ weight: 1 })) })],
  ['TSV-M (tsv_m)', (alpha) => ({ method: 'tsv_m', global: { alpha } })],
  ['Iso-C (iso_c)', (alpha) => ({ method: 'iso_c', global: { alpha } })],
  ['Iso-CTS (iso_cts, common 0.8)', (alpha) => ({ method: 'iso_cts', global: { alpha } })],
  ['CART (cart, rank 0.16)', (alpha) => ({ method: 'cart', global: { alpha } })],
];
for (const [name, make] of candidates) {
  const b = best(make);
  add(`${name}, α = ${b.alpha}`, scoreBackbone(zoo, mergeBackbone(zoo, b.spec), 'test'), `${fmt(b.validation)} | ${b.mergeSeconds.toFixed(2)}`);
}

const text = `# mnist8: one-shot SVD-family merges

Regenerate with \`npx tsx experiments/mnist8/svd-oneshot.ts\` (${engine.backend} backend,
${((Date.now() - started) / 1000).toFixed(0)} s). Test-split accuracy (%) per task; *normalized* is the mean
over tasks of merged / individual accuracy. α (λ for task arithmetic) is the best of ${ALPHAS.join(', ')}
on the validation split (mean accuracy, shown); other parameters are the methods' defaults. Merges
combine the eight experts' backbones; each task is scored through its own expert's head. *merge s*:
seconds to merge the backbone once (all SVD work included).

| method | ${zoo.tasks.join(' | ')} | average | normalized | validation | merge s |
|---|${zoo.tasks.map(() => '---:').join('|')}|---:|---:|---:|---:|
${rows.map((r) => (r.startsWith('| individual') ? r.replace(/ \| — \|$/, ' | — | — |') : r)).join('\n')}
`;
fs.writeFileSync(path.join(here, 'SVD-ONESHOT.md'), text);
console.log(text);
