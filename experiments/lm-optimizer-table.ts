// Shared by the language-model results scripts (experiments/skills4/results.ts,
// experiments/sft4/claims.ts): the table of the base, the individual experts, the classic merges
// (λ chosen on the validation split) and the best trial of every study config in a folder, each run
// from scratch, scored on the test split — exact match and loss per answer token per task.
// The benchmark comes in as a zoo folder and the experts a merge combines; a partial run (--only,
// --skip-studies) merges its rows into the table already in the results file.
import fs from 'node:fs';
import path from 'node:path';
import type { HostParams, MergeSpec } from '../src/merge/host-merge.ts';
import { ZooProblem } from '../src/search/zoo-problem.ts';
import type { ZooObjective } from '../src/search/study-config.ts';
import type { LoadedZoo } from '../src/zoo/family.ts';
import { scoreLmHostParams } from '../src/zoo/lm-scoring.ts';
import type { LoadedLmZoo } from '../src/zoo/skills4-models.ts';
import { runFreshStudy } from './fresh-study.ts';
import { firstCell, mergeTableRows } from './results-file.ts';

export const LAMBDAS = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2];

export interface Scores {
  em: number[];
  loss: number[];
}

export interface OptimizerRow {
  name: string;
  scores: Scores;
  trials?: number;
  evaluations?: number;
  steps?: number;
  seconds: number;
  trial?: number;
}

export interface OptimizerTableOptions {
  /** The zoo as its family loads it (studies' best trials are merged through it). */
  zoo: LoadedZoo & LoadedLmZoo;
  /** The table's columns: one task per merged expert, in the experts' order. */
  tasks: string[];
  /** Each merged expert's own parameters, in the order of `tasks`. */
  experts: HostParams[];
  /** Merge the studied experts (the classic baselines). */
  merge(spec: MergeSpec): HostParams;
  studiesDir: string;
  db: string;
  /** Run every study on this zoo folder instead of the one its config names. */
  zooOverride?: string;
  only?: string[];
  skipStudies?: boolean;
  /** Prompts per task scored on test (a seeded subsample); default the whole split. */
  samples?: number;
  /** Prompts per task scored on validation to choose λ (a seeded subsample); default `samples`. */
  valSamples?: number;
  lambdas?: number[];
  log?: (line: string) => void;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function optimizerRows(o: OptimizerTableOptions): Promise<{ rows: OptimizerRow[]; notes: string[]; individual: Scores }> {
  const { zoo, tasks } = o;
  const lambdas = o.lambdas ?? LAMBDAS;
  const log = o.log ?? ((l: string) => console.error(l));
  const objectivesOn = (split: 'validation' | 'test'): ZooObjective[] =>
    tasks.flatMap((task) => [
      { kind: 'zoo', name: `${task}:em`, evaluator: 'exact_match', task, split, direction: 'maximize' },
      { kind: 'zoo', name: `${task}:loss`, evaluator: 'token_loss', task, split, direction: 'minimize' },
    ]);
  const valuesOf = (params: HostParams, objectives: ZooObjective[]) =>
    scoreLmHostParams(zoo, params, objectives, { seed: 0, samples: objectives[0]?.split === 'validation' ? (o.valSamples ?? o.samples) : o.samples }).values;
  const score = (params: HostParams, split: 'validation' | 'test'): Scores => {
    const v = valuesOf(params, objectivesOn(split));
    return { em: tasks.map((_, i) => v[2 * i]!), loss: tasks.map((_, i) => v[2 * i + 1]!) };
  };
  // Each expert on its own task only (that task's two objectives).
  const ind = tasks.map((_, i) => {
    const [em, loss] = valuesOf(o.experts[i]!, objectivesOn('test').slice(2 * i, 2 * i + 2));
    return { em: em!, loss: loss! };
  });
  const individual: Scores = { em: ind.map((s) => s.em), loss: ind.map((s) => s.loss) };
  const rows: OptimizerRow[] = [];
  const push = (row: OptimizerRow) => {
    rows.push(row);
    log(`${row.name}: test exact match ${(100 * mean(row.scores.em)).toFixed(1)}, loss ${mean(row.scores.loss).toFixed(3)} (${row.seconds.toFixed(0)} s)`);
  };
  const ones = (extra: Record<string, number> = {}) => tasks.map(() => ({ weight: 1, ...extra }));
  const perTask = (split: 'validation') => Math.min(o.valSamples ?? o.samples ?? Infinity, zoo.manifest.splits[split]);
  const valSize = tasks.length * perTask('validation');
  const baseline = (name: string, make: (lambda: number) => MergeSpec, grid = lambdas) => {
    const t0 = Date.now();
    let best = { lambda: grid[0]!, em: -1 };
    for (const lambda of grid) {
      const em = mean(score(o.merge(make(lambda)), 'validation').em);
      if (em > best.em) best = { lambda, em };
    }
    push({ name: grid.length > 1 ? name.replace('λ', `λ = ${best.lambda}`) : name, scores: score(o.merge(make(best.lambda)), 'test'), trials: grid.length, evaluations: grid.length * valSize * 2, seconds: (Date.now() - t0) / 1000 });
  };

  push({ name: 'base (pre-trained)', scores: score(zoo.base, 'test'), seconds: 0 });
  push({ name: 'individual experts (each on its own task)', scores: individual, seconds: 0 });
  baseline('weight averaging', () => ({ method: 'linear', perModel: ones() }), [1]);
  baseline('task arithmetic, λ (validation)', (lambda) => ({ method: 'task_arithmetic', global: { lambda }, perModel: ones() }));
  baseline('TIES, density 0.5, λ (validation)', (lambda) => ({ method: 'ties', global: { lambda }, perModel: ones({ density: 0.5 }) }));
  baseline('DARE-TIES, density 0.5, λ (validation)', (lambda) => ({ method: 'dare_ties', global: { lambda }, perModel: ones({ density: 0.5 }), seed: 0 }));
  baseline('WIDEN, t = 1, s = 1', () => ({ method: 'widen' }), [1]);

  const notes: string[] = [];
  if (!o.skipStudies) {
    const files = fs
      .readdirSync(o.studiesDir)
      .filter((f) => f.endsWith('.yaml'))
      .filter((f) => !o.only || o.only.includes(f.replace(/\.yaml$/, '')))
      .sort();
    for (const f of files) {
      const { config, complete, best, attrs, seconds, front } = await runFreshStudy(path.join(o.studiesDir, f), o.db, o.zooOverride === undefined ? {} : { zoo: o.zooOverride });
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
  return { rows, notes, individual };
}

/**
 * The Markdown table of `rows` (with the rows of a table already in `previous` that this run did
 * not replace, when `partial`), and the bullet notes found right below it there.
 */
export function optimizerTable(rows: OptimizerRow[], individual: Scores, tasks: string[], o: { previous?: string; file: string }): { table: string; previousNotes: string[] } {
  const pct = (x: number) => (100 * x).toFixed(1);
  const normalized = (em: number[]) => mean(em.map((e, i) => (individual.em[i]! > 0 ? e / individual.em[i]! : 0)));
  const header = `| merge | ${tasks.join(' | ')} | avg exact match | normalized | avg loss/token | trials | scoring forward passes | gradient steps | best trial |`;
  const newRows = rows.map(
    (r) =>
      `| ${r.name} | ${r.scores.em.map(pct).join(' | ')} | ${pct(mean(r.scores.em))} | ${pct(normalized(r.scores.em))} | ${mean(r.scores.loss).toFixed(3)} | ${r.trials ?? '—'} | ${r.evaluations?.toLocaleString('en-US') ?? '—'} | ${r.steps ?? '—'} | ${r.trial ?? '—'} |`,
  );
  // A row is known by its name with the chosen λ left out.
  const rowKey = (row: string) => firstCell(row).replace(/λ = [^ ,()]+/, 'λ');
  const table = [header, `|---|${tasks.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---:|---:|`, ...mergeTableRows(o.previous, o.file, header, newRows, rowKey)].join('\n');
  // The notes are the bullet lines right below the table (the observations come under a heading).
  const notesBlock = o.previous?.includes(header) ? (o.previous.slice(o.previous.indexOf(header)).split('\n\n')[1] ?? '') : '';
  const previousNotes = notesBlock.startsWith('- ') ? notesBlock.split('\n').filter((l) => l.startsWith('- ')).map((l) => l.slice(2)) : [];
  return { table, previousNotes };
}
