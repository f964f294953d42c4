// npm run results:skills4 [-- --only NAME,NAME] [--skip-studies] [--zoo DIR] [--out FILE] —
// test-split exact match and loss per answer token for the base, the individual experts, the
// classic merges (λ chosen on the validation split) and the best trial of every study in
// experiments/skills4/studies/, each run from scratch. Without --zoo: the built-in zoo (built with
// seed 0 into zoo/skills4 if missing), experiments/skills4/studies.db and the tracked
// experiments/skills4/RESULTS.md with its observations; with --zoo DIR: every study on that zoo
// (their `zoo:` replaced), studies.db beside the results file, DIR/RESULTS.md by default
// (experiments/results-target.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZooProblem } from '../../src/search/zoo-problem.ts';
import { scoreLmHostParams } from '../../src/zoo/lm-scoring.ts';
import { loadSkills4Zoo } from '../../src/zoo/skills4-family.ts';
import type { ZooObjective } from '../../src/search/study-config.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import { runFreshStudy } from '../fresh-study.ts';
import { mergeLmZoo } from '../../src/zoo/skills4-models.ts';
import type { HostParams, MergeSpec } from '../../src/merge/host-merge.ts';
import { firstCell, mergeNotes, mergeTableRows, writeTimings } from '../results-file.ts';
import { resultsTarget } from '../results-target.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
const skipStudies = args.includes('--skip-studies');
const LAMBDAS = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2];

const engine = await initEngine('auto');
const target = resultsTarget(args, { family: 'skills4', script: 'results:skills4', trackedFile: path.join(here, 'RESULTS.md'), onLog: (l) => console.error(l) });
const db = target.builtin ? path.join(here, 'studies.db') : path.join(path.dirname(target.out), 'studies.db');
// Written by hand about the built-in zoo's numbers: another zoo gets the table only.
const OBSERVATIONS = target.builtin ? path.join(here, 'observations.md') : '';
const zoo = loadSkills4Zoo(target.zooDir);
const started = Date.now();
const tasks = zoo.tasks;
const objectivesOn = (split: 'validation' | 'test'): ZooObjective[] =>
  tasks.flatMap((task) => [
    { kind: 'zoo', name: `${task}:em`, evaluator: 'exact_match', task, split, direction: 'maximize' },
    { kind: 'zoo', name: `${task}:loss`, evaluator: 'token_loss', task, split, direction: 'minimize' },
  ]);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Scores {
  em: number[];
  loss: number[];
}
const valuesOf = (params: HostParams, objectives: ZooObjective[]) => scoreLmHostParams(zoo, params, objectives, { seed: 0 }).values;
function score(params: HostParams, split: 'validation' | 'test'): Scores {
  const v = valuesOf(params, objectivesOn(split));
  return { em: tasks.map((_, i) => v[2 * i]!), loss: tasks.map((_, i) => v[2 * i + 1]!) };
}

// Each expert on its own task only (that task's two objectives).
const individual = tasks.map((_, i) => {
  const [em, loss] = valuesOf(zoo.experts[i]!, objectivesOn('test').slice(2 * i, 2 * i + 2));
  return { em: em!, loss: loss! };
});
const normalized = (em: number[]) => mean(em.map((e, i) => (individual[i]!.em > 0 ? e / individual[i]!.em : 0)));

interface Row {
  name: string;
  scores: Scores;
  trials?: number;
  evaluations?: number;
  steps?: number;
  seconds: number;
  trial?: number;
}
const rows: Row[] = [];
const push = (row: Row) => {
  rows.push(row);
  console.error(`${row.name}: test exact match ${(100 * mean(row.scores.em)).toFixed(1)}, loss ${mean(row.scores.loss).toFixed(3)} (${row.seconds.toFixed(0)} s)`);
};
const ones = (extra: Record<string, number> = {}) => zoo.experts.map(() => ({ weight: 1, ...extra }));
const valSize = tasks.length * zoo.manifest.splits.validation;

function baseline(name: string, make: (lambda: number) => MergeSpec, lambdas = LAMBDAS): void {
  const t0 = Date.now();
  let best = { lambda: lambdas[0]!, em: -1 };
  for (const lambda of lambdas) {
    const em = mean(score(mergeLmZoo(zoo, make(lambda)), 'validation').em);
    if (em > best.em) best = { lambda, em };
  }
  push({ name: lambdas.length > 1 ? name.replace('λ', `λ = ${best.lambda}`) : name, scores: score(mergeLmZoo(zoo, make(best.lambda)), 'test'), trials: lambdas.length, evaluations: lambdas.length * valSize * 2, seconds: (Date.now() - t0) / 1000 });
}

push({ name: 'base (pre-trained)', scores: score(zoo.base, 'test'), seconds: 0 });
push({ name: 'individual experts (each on its own task)', scores: { em: individual.map((s) => s.em), loss: individual.map((s) => s.loss) }, seconds: 0 });
baseline('weight averaging', () => ({ method: 'linear', perModel: ones() }), [1]);
baseline('task arithmetic, λ (validation)', (lambda) => ({ method: 'task_arithmetic', global: { lambda }, perModel: ones() }));
baseline('TIES, density 0.5, λ (validation)', (lambda) => ({ method: 'ties', global: { lambda }, perModel: ones({ density: 0.5 }) }));
baseline('DARE-TIES, density 0.5, λ (validation)', (lambda) => ({ method: 'dare_ties', global: { lambda }, perModel: ones({ density: 0.5 }), seed: 0 }));
baseline('WIDEN, t = 1, s = 1', () => ({ method: 'widen' }), [1]);

const notes: string[] = [];
if (!skipStudies) {
  const files = fs
    .readdirSync(path.join(here, 'studies'))
    .filter((f) => f.endsWith('.yaml'))
    .filter((f) => !only || only.includes(f.replace(/\.yaml$/, '')))
    .sort();
  for (const f of files) {
    const { config, complete, best, attrs, seconds, front } = await runFreshStudy(path.join(here, 'studies', f), db, target.builtin ? {} : { zoo: path.resolve(target.zooDir) });
    const problem = new ZooProblem(zoo, config);
    const merged = problem.mergeCandidate(best.x);
    problem.close();
    if (front) notes.push(`${config.name}: the surrogates predicted a mean calibration exact match of ${(100 * front.predicted).toFixed(1)} % at the ${front.points} front points evaluated; they scored ${(100 * front.measured).toFixed(1)} %.`);
    push({
      name: `${config.name} (${config.optimizer.name}; ${config.space.method}, ${config.space.granularity})`,
      scores: score(merged, 'test'),
      trials: complete.length,
      evaluations: (attrs.evaluations as number | undefined) ?? 0,
      steps: complete.reduce((a, t) => a + t.intermediate.length, 0),
      seconds,
      trial: best.number,
    });
  }
}

const pct = (x: number) => (100 * x).toFixed(1);
// Wall times go to TIMINGS.md (not tracked), so that the same run gives the same RESULTS.md.
const header = `| merge | ${tasks.join(' | ')} | avg exact match | normalized | avg loss/token | trials | scoring forward passes | gradient steps | best trial |`;
const newRows = rows.map(
  (r) =>
    `| ${r.name} | ${r.scores.em.map(pct).join(' | ')} | ${pct(mean(r.scores.em))} | ${pct(normalized(r.scores.em))} | ${mean(r.scores.loss).toFixed(3)} | ${r.trials ?? '—'} | ${r.evaluations?.toLocaleString('en-US') ?? '—'} | ${r.steps ?? '—'} | ${r.trial ?? '—'} |`,
);
// A partial run (--only, --skip-studies) replaces its own rows in the table already there and keeps
// the others; a row is known by its name with the chosen λ left out.
const partial = only !== undefined || skipStudies;
const previous = partial && fs.existsSync(target.out) ? fs.readFileSync(target.out, 'utf8') : undefined;
const rowKey = (row: string) => firstCell(row).replace(/λ = [^ ,()]+/, 'λ');
const table = [header, `|---|${tasks.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---:|---:|`, ...mergeTableRows(previous, target.out, header, newRows, rowKey)].join('\n');
// The notes are the bullet lines right below the table (the observations come under a heading).
const notesBlock = previous?.includes(header) ? (previous.slice(previous.indexOf(header)).split('\n\n')[1] ?? '') : '';
const previousNotes = notesBlock.startsWith('- ') ? notesBlock.split('\n').filter((l) => l.startsWith('- ')).map((l) => l.slice(2)) : [];
const observations = OBSERVATIONS && fs.existsSync(OBSERVATIONS) ? fs.readFileSync(OBSERVATIONS, 'utf8').trim() : '';
const m = zoo.manifest;
const text = `# ${target.builtin ? 'skills4 results' : `results on the zoo ${target.zooDir}`}

Regenerate with \`${target.command}\` (${target.builtin ? 'builds \`zoo/skills4\` with seed 0 if missing; ' : ''}${engine.backend} backend;
wall times go to TIMINGS.md beside this file, not tracked). The zoo: a ${m.model.parameters.toLocaleString('en-US')}-parameter LlamaForCausalLM
(hidden ${m.model.hidden}, ${m.model.layers} layers, ${m.model.heads} heads / ${m.model.kvHeads} key-value heads), character tokenizer,
four experts fine-tuned from one base (add, reverse, sort, lookup). Cells: test-split exact match (%) of the
greedy answer per task (${m.splits.test} prompts each); *normalized*: mean over tasks of merged / individual exact
match; *avg loss/token*: mean over tasks of the loss per answer token (nats, eos included). Every merge
combines all tensors of the four experts (a language model has no per-task heads). λ marked by value
was chosen among ${LAMBDAS.join(', ')} by mean validation exact match. Studies search on calibration exact
match (a fixed seeded subsample per task, see each config) and their best trial by mean calibration
exact match is scored here; *scoring forward passes* counts prompts run through candidates to score
trials, *gradient steps* the intermediate values logged: one per AdaMerging step, one per Frank-Wolfe
iteration (FW-Soft runs \`ada_steps\` AdaMerging steps inside each).

${table}

${mergeNotes(previousNotes, notes).map((n) => `- ${n}`).join('\n')}

${observations}
`;
fs.writeFileSync(target.out, text);
const timings = writeTimings(target.out, 'results:skills4', engine.backend, [
  `in all: ${((Date.now() - started) / 1000).toFixed(0)} s${partial ? ` (a partial run: ${skipStudies ? 'no studies' : `only ${only!.join(', ')}`})` : ''}`,
  ...rows.map((r) => `${r.name}: ${r.seconds.toFixed(0)} s`),
]);
console.log(text);
console.error(`wrote ${target.out}${partial ? ' (rows of this run merged into its table)' : ''}; wall times in ${timings}`);
