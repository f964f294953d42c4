// npx tsx experiments/mnist8/new-methods.ts --zoo DIR [--only regmean,pcb,...] (method names or row-label prefixes) — one-shot merges of a mnist8
// zoo's eight experts with pcb, consensus, wudi, fisher and regmean next to task arithmetic: test
// accuracy (%) on average and normalized (mean of merged / expert accuracy), hyperparameters chosen
// on the validation split where the row says so. Needs the experts' statistics for fisher and
// regmean (and regmean_plus): `mergesearch stats --zoo DIR --kind gram,fisher,gram_plus`
// (merge_statistics.safetensors beside each expert).
import { initEngine } from '../../src/tensor/engine.ts';
import type { MergeSpec } from '../../src/merge/host-merge.ts';
import { backboneOf, loadClassifierZoo, mergeBackbone, scoreBackbone } from '../../src/zoo/zoo-models.ts';

const args = process.argv.slice(2);
const zooDir = args.includes('--zoo') ? args[args.indexOf('--zoo') + 1]! : 'zoo/mnist8';
const engine = await initEngine('auto');
const zoo = loadClassifierZoo(zooDir);
const mean = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0) / m.size;
const individual = new Map<string, number>();
zoo.tasks.forEach((task, i) => individual.set(task, scoreBackbone(zoo, backboneOf(zoo.experts[i]!), 'test').get(task)!));
const normalized = (s: Map<string, number>) => zoo.tasks.reduce((a, t) => a + s.get(t)! / individual.get(t)!, 0) / zoo.tasks.length;

const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;

/** The best of `specs` on validation (mean accuracy), then its test scores. */
function pick(label: string, specs: Array<[string, MergeSpec]>): void {
  if (only && !only.some((o) => o === specs[0]![1].method || label.startsWith(o))) return;
  const started = Date.now();
  let best: { name: string; spec: MergeSpec; score: number } | undefined;
  for (const [name, spec] of specs) {
    const s = mean(scoreBackbone(zoo, mergeBackbone(zoo, spec), 'validation'));
    if (!best || s > best.score) best = { name, spec, score: s };
  }
  const test = scoreBackbone(zoo, mergeBackbone(zoo, best!.spec), 'test');
  const secs = (Date.now() - started) / 1000 / (specs.length + 1);
  console.log(`| ${label}${specs.length > 1 ? `, ${best!.name} (validation)` : best!.name ? `, ${best!.name}` : ''} | ${(100 * mean(test)).toFixed(1)} | ${(100 * normalized(test)).toFixed(1)} | ${secs.toFixed(1)} |`);
}

// regmean/fisher find each expert's statistics beside it (loadZoo records the experts' folders).
const ones = (extra: Record<string, number | string> = {}) => zoo.experts.map(() => ({ weight: 1, ...extra }));
const lambdas = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0];
console.log(`mnist8 zoo ${zooDir} (${engine.backend}); expert test average ${(100 * mean(individual)).toFixed(1)}`);
console.log('| method | test avg | normalized | s per merge+score |\n|---|---:|---:|---:|');
pick('task arithmetic', lambdas.map((l) => [`λ = ${l}`, { method: 'task_arithmetic', global: { lambda: l }, perModel: ones() }]));
pick('pcb, pcb_ratio 0.1', lambdas.map((l) => [`λ = ${l}`, { method: 'pcb', global: { lambda: l, pcb_ratio: 0.1 }, perModel: ones() }]));
pick('consensus (TA, k 2, tall_lambda 0.6)', [...lambdas, 1.5, 2, 3].map((l) => [`λ = ${l}`, { method: 'consensus', global: { lambda: l, k: 2 }, perModel: ones() }]));
pick('consensus (TIES, k 2)', [0.5, 1, 1.5, 2, 3, 4].map((l) => [`λ = ${l}`, { method: 'consensus', global: { lambda: l, k: 2, base_method: 'ties' }, perModel: ones() }]));
pick('fisher (normalized)', [['', { method: 'fisher', perModel: ones() }]]);
pick('regmean', [0.1, 0.5, 0.9, 0.95, 1].map((a) => [`α = ${a}`, { method: 'regmean', global: { alpha: a }, perModel: ones() }]));
pick('regmean_plus, α = 0.95 (the gram_plus statistics\' alpha)', [['', { method: 'regmean_plus', global: { alpha: 0.95 }, perModel: ones() }]]);
pick('wudi (reference: lr 1e-5, 300 steps, λ 1)', [['', { method: 'wudi' }]]);
pick('wudi, lr 1e-3, 300 steps', [0.3, 0.5, 1].map((l) => [`λ = ${l}`, { method: 'wudi', global: { lr: 1e-3, lambda: l } }]));
// One WUDI candidate (a 256-wide zoo's WUDI costs minutes per merge): the tiny zoo's choice.
pick('wudi single, lr 1e-3, 300 steps', [['λ = 0.5', { method: 'wudi', global: { lr: 1e-3, lambda: 0.5 } }]]);
