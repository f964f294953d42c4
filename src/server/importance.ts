// Parameter importance: which coefficients moved the objectives. For every coordinate of the
// coefficient vector, Spearman's rank correlation (simple-statistics' sampleRankCorrelation) with
// each objective and with the recommendation score, over the study's COMPLETE trials with finite
// values. Rank correlation: monotone effects count whatever their shape, and one outlier trial
// cannot dominate. A coordinate or objective that never varies has no correlation (null).
import { sampleRankCorrelation } from 'simple-statistics';
import { ruleScores, type RecommendRule } from '../search/recommend.ts';
import type { StudyRow, TrialRow } from '../study/index.ts';

export interface ImportanceJson {
  /** Coordinate names (stored by the search; `x[i]` when the study has none). */
  coordinates: string[];
  objectives: string[];
  /** spearman[c][o]: coordinate c against objective o (its own direction: higher value = larger). */
  spearman: Array<Array<number | null>>;
  /** Coordinate c against the recommendation score (higher = better under the study's rule). */
  score: Array<number | null>;
  /** Trials used. */
  trials: number;
}

/** Trials needed before a correlation means anything. */
export const MIN_TRIALS = 3;

function correlation(a: number[], b: number[]): number | null {
  if (a.length < MIN_TRIALS || Math.min(...a) === Math.max(...a) || Math.min(...b) === Math.max(...b)) return null;
  const r = sampleRankCorrelation(a, b);
  return Number.isFinite(r) ? r : null;
}

export function parameterImportance(s: StudyRow, completed: readonly TrialRow[], names: readonly string[] | undefined, rule: RecommendRule): ImportanceJson {
  const k = s.objectives.length;
  const ts = completed.filter((t) => t.values && t.values.length === k && t.values.every(Number.isFinite) && t.x.every(Number.isFinite));
  const dim = ts.length ? ts[0]!.x.length : (names?.length ?? 0);
  const coordinates = Array.from({ length: dim }, (_, i) => names?.[i] ?? `x[${i}]`);
  const scores = ruleScores(
    ts.map((t) => t.values!),
    s.objectives,
    rule,
  );
  const column = (i: number) => ts.map((t) => t.x[i]!);
  return {
    coordinates,
    objectives: s.objectives.map((o) => o.name),
    spearman: coordinates.map((_, c) => s.objectives.map((_o, o) => correlation(column(c), ts.map((t) => t.values![o]!)))),
    score: coordinates.map((_, c) => correlation(column(c), scores)),
    trials: ts.length,
  };
}
