// npm run results:skills4 [-- --only NAME,NAME] [--skip-studies] — regenerates
// experiments/skills4/RESULTS.md: test-split exact match and loss per answer token for the base, the
// individual experts, the classic merges (λ chosen on the validation split) and the best trial of
// every study in experiments/skills4/studies/, each run from scratch into
// experiments/skills4/studies.db. Builds the skills4 zoo (seed 0) into zoo/skills4 if it is missing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZooProblem } from '../../src/search/zoo-problem.ts';
import { scoreLmHostParams } from '../../src/zoo/lm-scoring.ts';
import { loadSkills4Zoo } from '../../src/zoo/skills4-family.ts';
import type { ZooObjective } from '../../src/search/study-config.ts';
import { ensureZoo } from '../../src/zoo/registry.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import { runFreshStudy } from '../fresh-study.ts';
import { mergeLmZoo } from '../../src/zoo/skills4-models.ts';
import type { HostParams, MergeSpec } from '../../src/merge/host-merge.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : undefined;
const skipStudies = args.includes('--skip-studies');
const db = path.join(here, 'studies.db');
const OBSERVATIONS = path.join(here, 'observations.md');
const LAMBDAS = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2];

const engine = await initEngine('auto');
const zooDir = ensureZoo('skills4', { onLog: (l) => console.error(l) });
const zoo = loadSkills4Zoo(zooDir);
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
    const { config, complete, best, attrs, seconds, front } = await runFreshStudy(path.join(here, 'studies', f), db);
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
const table = [
  `| merge | ${tasks.join(' | ')} | avg exact match | normalized | avg loss/token | trials | scoring forward passes | gradient steps | wall (s) | best trial |`,
  `|---|${tasks.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.scores.em.map(pct).join(' | ')} | ${pct(mean(r.scores.em))} | ${pct(normalized(r.scores.em))} | ${mean(r.scores.loss).toFixed(3)} | ${r.trials ?? '—'} | ${r.evaluations?.toLocaleString('en-US') ?? '—'} | ${r.steps ?? '—'} | ${r.seconds.toFixed(0)} | ${r.trial ?? '—'} |`,
  ),
].join('\n');
const observations = fs.existsSync(OBSERVATIONS) ? fs.readFileSync(OBSERVATIONS, 'utf8').trim() : '';
const m = zoo.manifest;
const text = `# skills4 results

Regenerate with \`npm run results:skills4\` (builds \`zoo/skills4\` with seed 0 if missing; ${engine.backend} backend,
${((Date.now() - started) / 1000).toFixed(0)} s in all). The zoo: a ${m.model.parameters.toLocaleString('en-US')}-parameter LlamaForCausalLM
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

${notes.map((n) => `- ${n}`).join('\n')}

${observations}
`;
fs.writeFileSync(path.join(here, 'RESULTS.md'), text);
console.log(text);
