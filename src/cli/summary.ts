// The end of `search` and `quickstart`: the recommended merge beside the baselines, the command
// that exports it, then the Pareto set over every objective (best mean first, long sets cut).
import { baselineScores, normalizedMean } from '../search/baselines.ts';
import { describeRule, exportCommand, ruleScores } from '../search/recommend.ts';
import type { RunStudyResult } from '../search/run-study.ts';
import type { StudyRow, TrialRow } from '../study/index.ts';

/** Rows of the Pareto set printed at the end of a search. */
export const FRONT_ROWS = 10;

export const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4));

/** Right-aligned columns, the first left-aligned. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function frontTable(front: TrialRow[], study: StudyRow): string {
  const names = study.objectives.map((o) => `${o.name} (${o.direction === 'maximize' ? 'max' : 'min'})`);
  return table(['trial', ...names], front.map((t) => [`${t.number}`, ...t.values!.map(fmt)]));
}

/** The recommended merge, the baselines beside it, and how to export it. */
export function recommendationText(r: RunStudyResult, db: string): string {
  const { study, rule, recommended, baselines } = r;
  if (!recommended) return 'no trial completed yet, so there is nothing to recommend\n';
  const objs = study.objectives;
  const reference = r.completed.map((t) => t.values!);
  const scoreName = rule.scale === 'raw' ? (objs.length === 1 ? 'value' : 'mean') : 'score';
  const norm = baselines && normalizedMean(recommended.trial.values!, baselines, objs) !== null;
  const header = ['', ...objs.map((o) => o.name), scoreName, ...(norm ? ['normalized'] : [])];
  const row = (label: string, values: readonly (number | null)[], score: number | null) => [
    label,
    ...values.map((v) => (v === null ? '—' : fmt(v))),
    score === null ? '—' : fmt(score),
    ...(norm ? [values.every((v) => v !== null) ? fmt(normalizedMean(values as number[], baselines!, objs)!) : '—'] : []),
  ];
  const rows = [row(`recommended: trial ${recommended.trial.number}`, recommended.trial.values!, recommended.score)];
  let note: string;
  if (baselines) {
    const s = baselineScores(baselines, objs, rule, reference);
    const ta = baselines.taskArithmetic;
    const command = baselines.kind === 'command';
    if (ta) {
      const label = ta.grid.length === 1 ? `task arithmetic, λ ${ta.lambda}` : `task arithmetic, λ ${ta.lambda} (${command ? `best of ${ta.grid.length}` : 'tuned'})`;
      rows.push(row(label, ta.values, s.taskArithmetic));
    }
    if (baselines.base) rows.push(row('base', baselines.base, s.base));
    if (command) (baselines.expertModels ?? []).forEach((m, i) => rows.push(row(`expert ${m.name}`, m.values, s.expertModels[i]!)));
    else rows.push(row('each expert on its own task', baselines.experts.map((e) => e?.value ?? null), s.experts));
    note = command
      ? (r.baselineNote ?? 'baselines scored with your command')
      : `baselines on the same samples: task arithmetic with the best λ of ${ta!.grid[0]} to ${ta!.grid[ta!.grid.length - 1]}${norm ? "; normalized: mean of value ÷ the expert's on its own task" : ''}`;
  } else {
    note = r.baselineNote ?? 'no baselines stored for this study';
  }
  const minmaxNote = rule.scale === 'minmax' ? `\n${scoreName}: weighted mean after rescaling each objective to [0, 1] over the completed trials${baselines ? ' (a baseline outside their range lands outside [0, 1])' : ''}` : '';
  return (
    `recommended merge: trial ${recommended.trial.number} of ${recommended.considered} completed, the ${describeRule(rule, objs)}\n` +
    `${table(header, rows)}\n${note}${minmaxNote}\n` +
    `export it:   ${exportCommand(db, study.name, recommended.trial.number)}\n`
  );
}

/** The Pareto set over every objective, best mean first, cut at FRONT_ROWS. */
export function frontText(r: RunStudyResult): string {
  const { study, front } = r;
  if (front.length === 0) return '';
  // The same order as the recommendation: the rule's score, best first.
  const scores = ruleScores(
    front.map((t) => t.values!),
    study.objectives,
    r.rule,
    r.completed.map((t) => t.values!),
  );
  const ranked = front.map((t, i) => ({ t, s: scores[i]! })).sort((a, b) => b.s - a.s || a.t.number - b.t.number).map((x) => x.t);
  const shown = ranked.slice(0, FRONT_ROWS);
  const more = ranked.length > shown.length ? `\n... and ${ranked.length - shown.length} more: see the report (table: "best only")` : '';
  const k = study.objectives.length;
  const which = k === 1 ? 'the best value of the one objective' : `over all ${k} objectives together (not the 2-D front of a plotted pair)`;
  const order = k === 1 ? 'best first' : r.rule.scale === 'raw' ? 'best mean first' : 'best score first';
  return `Pareto set ${which}: ${front.length} non-dominated of ${r.completed.length} completed trial(s), ${order} (as the recommendation ranks them):\n${frontTable(shown, study)}${more}\n`;
}
