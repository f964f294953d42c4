// npm run results:search [-- --only NAME,NAME] [--zoo DIR] [--out FILE] — runs every study in
// experiments/mnist8/studies/ (except quickstart) from scratch, picks each study's best trial by
// mean calibration accuracy, scores it on the test split, and writes the table between the
// search-results markers of the results file (with the task-arithmetic and TIES baselines chosen on
// the validation split, as in the table above it). Without --zoo: the built-in zoo, the studies into
// experiments/mnist8/studies.db and the tracked experiments/mnist8/RESULTS.md with its hand-written
// observations; with --zoo DIR: every study runs on that zoo instead (their `zoo:` replaced), into
// studies.db beside the results file, DIR/RESULTS.md by default (experiments/results-target.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeBackbone, scoreBackbone, backboneOf } from '../../src/zoo/zoo-models.ts';
import { loadMnist8Zoo } from '../../src/zoo/mnist8-family.ts';
import { runFreshStudy } from '../fresh-study.ts';
import { ZooProblem } from '../../src/search/zoo-problem.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import { produceZooStatistics } from '../../src/stats/produce.ts';
import { firstCell, mergeNotes, mergeTableRows, writeTimings } from '../results-file.ts';
import { resultsTarget } from '../results-target.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
/** A path relative to the working folder when it lies inside it (the tracked file's form), else absolute. */
const shown = (p: string) => (path.relative(process.cwd(), p).startsWith('..') ? path.resolve(p) : path.relative(process.cwd(), p));
const START = '<!-- search-results:start -->';
const END = '<!-- search-results:end -->';

const engine = await initEngine('auto');
const target = resultsTarget(args, { family: 'mnist8', script: 'results:search', trackedFile: path.join(here, 'RESULTS.md'), onLog: (l) => console.error(l) });
const db = target.builtin ? path.join(here, 'studies.db') : path.join(path.dirname(target.out), 'studies.db');
// Observations written by hand after reading the built-in zoo's numbers (kept beside the script,
// pasted into the tracked RESULTS.md); another zoo or another --out file gets the table only.
const OBSERVATIONS = target.builtin && path.resolve(target.out) === path.resolve(here, 'RESULTS.md') ? fs.readFileSync(path.join(here, 'search-observations.md'), 'utf8').trim() : '';
const zoo = loadMnist8Zoo(target.zooDir);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const individual = zoo.tasks.map((task, i) => scoreBackbone(zoo, backboneOf(zoo.experts[i]!), 'test').get(task)!);
const normalized = (scores: number[]) => mean(scores.map((s, i) => s / individual[i]!));

interface Row {
  name: string;
  optimizer: string;
  space: string;
  test: number[];
  /** Test accuracy of the last completed trial (for gradient methods: the end of the path). */
  last?: number[];
  trials: number;
  forward: number;
  steps: number;
  seconds: number;
  trial: number;
}
const rows: Row[] = [];
const notes: string[] = [];
const fmt = (x: number) => (100 * x).toFixed(1);

// Baselines with λ chosen on validation (the same protocol as the table above).
const LAMBDAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
for (const [label, method, extra] of [
  ['task arithmetic (λ on validation)', 'task_arithmetic', {}],
  ['TIES, density 0.2 (λ on validation)', 'ties', { density: 0.2 }],
] as const) {
  const t0 = Date.now();
  let best = { lambda: 0, score: -1 };
  for (const lambda of LAMBDAS) {
    const s = mean([...scoreBackbone(zoo, mergeBackbone(zoo, { method, global: { lambda }, perModel: zoo.experts.map(() => ({ weight: 1, ...extra })) }), 'validation').values()]);
    if (s > best.score) best = { lambda, score: s };
  }
  const test = scoreBackbone(zoo, mergeBackbone(zoo, { method, global: { lambda: best.lambda }, perModel: zoo.experts.map(() => ({ weight: 1, ...extra })) }), 'test');
  rows.push({ name: `${label.replace('λ', `λ = ${best.lambda},`)}`, optimizer: '—', space: method, test: zoo.tasks.map((t) => test.get(t)!), trials: LAMBDAS.length, forward: LAMBDAS.length * zoo.manifest.splits.validation * zoo.tasks.length, steps: 0, seconds: (Date.now() - t0) / 1000, trial: -1 });
}

// RegMean studies read each expert's Gram matrices beside it (merge_statistics.safetensors): make
// them once for this zoo when missing (256 calibration samples per task, `mergesearch stats --zoo`).
if (!zoo.tasks.every((t) => fs.existsSync(path.join(target.zooDir, zoo.manifest.experts[t]!, 'merge_statistics.safetensors')))) {
  console.error('computing the experts\' Gram statistics for the regmean studies (mergesearch stats --zoo --kind gram)');
  produceZooStatistics(target.zooDir, ['gram'], 256);
}

const files = fs
  .readdirSync(path.join(here, 'studies'))
  .filter((f) => f.endsWith('.yaml') && f !== 'quickstart.yaml')
  .filter((f) => !only || only.includes(f.replace(/\.yaml$/, '')))
  .sort();
for (const f of files) {
  const { config, complete, best, attrs, seconds, front } = await runFreshStudy(path.join(here, 'studies', f), db, target.builtin ? {} : { zoo: path.resolve(target.zooDir) });
  const problem = new ZooProblem(zoo, config);
  const test = problem.score(problem.mergeCandidate(best.x), problem.objectives, 'test').values;
  const final = complete[complete.length - 1]!;
  const last = problem.score(problem.mergeCandidate(final.x), problem.objectives, 'test').values;
  problem.close();
  // MAP: how far its surrogates' predictions at the evaluated front points are from the real values.
  if (front) notes.push(`${config.name}: the surrogates predicted a mean calibration accuracy of ${fmt(front.predicted)} % at the ${front.points} front points evaluated; they scored ${fmt(front.measured)} %.`);
  const steps = complete.reduce((a, t) => a + t.intermediate.length, 0);
  rows.push({
    name: config.name,
    optimizer: config.optimizer.name,
    space: `${config.space.method}, ${config.space.granularity}`,
    test,
    trials: complete.length,
    forward: (attrs.evaluations as number | undefined) ?? 0,
    steps,
    seconds,
    trial: best.number,
    last,
  });
  console.error(`${config.name}: test ${(100 * mean(test)).toFixed(1)} (trial ${best.number}, ${seconds.toFixed(0)} s)`);
}

// Wall times go to TIMINGS.md (not tracked), so that the same run gives the same RESULTS.md; a run
// with --only replaces its own rows in the table already there and keeps the others (a row is
// known by its name with the chosen λ left out).
const header = `| study | optimizer | space | test avg | normalized | last trial's test avg | trials | scoring forward passes | gradient steps | best trial |`;
const newRows = rows.map((r) => `| ${r.name} | ${r.optimizer} | ${r.space} | ${fmt(mean(r.test))} | ${fmt(normalized(r.test))} | ${r.last ? fmt(mean(r.last)) : '—'} | ${r.trials} | ${r.forward.toLocaleString('en-US')} | ${r.steps} | ${r.trial >= 0 ? r.trial : '—'} |`);
const previousText = only !== undefined && fs.existsSync(target.out) ? fs.readFileSync(target.out, 'utf8') : undefined;
const previousBlock = previousText?.includes(START) ? previousText.slice(previousText.indexOf(START)) : undefined;
const rowKey = (row: string) => firstCell(row).replace(/λ = [^ ,()]+/, 'λ');
const table = [header, `|---|---|---|---:|---:|---:|---:|---:|---:|---:|`, ...mergeTableRows(previousBlock, target.out, header, newRows, rowKey)].join('\n');
const notesBlock = previousBlock?.includes(header) ? (previousBlock.slice(previousBlock.indexOf(header)).split('\n\n')[1] ?? '') : '';
const previousNotes = notesBlock.startsWith('- ') ? notesBlock.split('\n').filter((l) => l.startsWith('- ')).map((l) => l.slice(2)) : [];
const block = `${START}
## Search results

Regenerate with \`${target.command}\` (${engine.backend} backend; wall times in TIMINGS.md, not tracked; every study in
\`experiments/mnist8/studies/\` run from scratch into \`${shown(db)}\`${target.builtin ? '' : ` on the zoo ${target.zooDir}`}). Each study
searches on calibration accuracy (a fixed 300-sample subsample per task); its best trial by mean
calibration accuracy is scored on the test split (${zoo.manifest.splits.test.toLocaleString('en-US')} samples per task). *Scoring forward passes*
counts samples run through a candidate to score trials; *gradient steps* are AdaMerging/Frank-Wolfe
steps (each a forward and backward pass over a batch per task). Individual experts: ${fmt(mean(individual))}.

${table}

${mergeNotes(previousNotes, notes).map((n) => `- ${n}`).join('\n')}

${OBSERVATIONS}
${END}`;
const resultsFile = target.out;
const text = fs.existsSync(resultsFile) ? fs.readFileSync(resultsFile, 'utf8') : `# ${target.builtin ? 'mnist8 results' : `results on the zoo ${target.zooDir}`}\n`;
const next = text.includes(START) ? text.replace(new RegExp(`${START}[\\s\\S]*${END}`), block) : `${text.trimEnd()}\n\n${block}\n`;
fs.writeFileSync(resultsFile, next);
const timings = writeTimings(resultsFile, 'results:search', engine.backend, rows.map((r) => `${r.name}: ${r.seconds.toFixed(0)} s`));
console.log(block);
console.error(`wrote ${resultsFile}${only ? ' (rows of this run merged into its table)' : ''}; wall times in ${timings}`);
