// Rows of the study store as the API sends them. JSON has no NaN or ±Infinity; where a number is
// expected (objective values, intermediate values, x, attributes) the API sends the strings "NaN",
// "Infinity" and "-Infinity" instead, as the study database's JSON columns do. (Unlike the database,
// a genuine string "NaN" is not escaped: where a number is expected a string always means one of
// these three.) Everything else is plain JSON.
import type { StudyRow, StudySummary, TrialRow, TrialState } from '../study/index.ts';

export type NumberOrSpecial = number | 'NaN' | 'Infinity' | '-Infinity';

export function num(v: number): NumberOrSpecial {
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/** A deep copy of `v` with every non-finite number replaced by its string. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'number') return num(v);
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = jsonSafe(x);
    return out;
  }
  return v;
}

export interface TrialJson {
  number: number;
  state: TrialState;
  /** Epoch milliseconds. */
  started: number | null;
  finished: number | null;
  worker: string | null;
  error: string | null;
  retryOf: number | null;
  x: NumberOrSpecial[];
  values: NumberOrSpecial[] | null;
  intermediate: Array<{ step: number; value: NumberOrSpecial }>;
  attrs: Record<string, unknown>;
}

export function trialJson(t: TrialRow): TrialJson {
  return {
    number: t.number,
    state: t.state,
    started: t.started,
    finished: t.finished,
    worker: t.worker,
    error: t.error,
    retryOf: t.retryOf,
    x: t.x.map(num),
    values: t.state === 'COMPLETE' && t.values ? t.values.map(num) : null,
    intermediate: t.intermediate.map((p) => ({ step: p.step, value: num(p.value) })),
    attrs: jsonSafe(t.attrs) as Record<string, unknown>,
  };
}

export function studyHeadJson(s: StudyRow, counts: Record<TrialState, number>) {
  return {
    name: s.name,
    optimizer: s.optimizer,
    backend: s.backend,
    seed: s.seed,
    created: s.created,
    objectives: s.objectives.map((o) => ({ name: o.name, direction: o.direction })),
    counts,
  };
}

export function summaryJson(s: StudySummary) {
  return studyHeadJson(s, s.counts);
}
