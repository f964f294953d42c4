// GET /api/studies/:name/recommendation's answer (and the saved report's copy): the recommended
// merge under the study's rule (src/search/recommend.ts), the baselines the search stored
// (src/search/baselines.ts) with their scores on the same scale, and the command that exports the
// pick. Works on any study: one without a stored config or `prefer` gets equal weights and the
// minmax scale; a stored `prefer` that no longer fits its objectives falls back to equal weights.
import path from 'node:path';
import { baselineScores, baselinesFit, normalizedMean, type Baselines } from '../search/baselines.ts';
import { defaultScale, describeRule, exportCommand, recommend, recommendRule, type Preference, type RecommendRule } from '../search/recommend.ts';
import { ATTR_BASELINES, ATTR_PREFER } from '../search/study-attrs.ts';
import { readStoredConfigParts } from '../search/study-identity.ts';
import type { StudyRow, TrialRow } from '../study/index.ts';
import { parseLocation, redactUrl } from '../study/location.ts';

export interface RecommendationJson {
  rule: RecommendRule & { text: string };
  /** Null until a trial completes with finite values. */
  recommended: { number: number; values: number[]; score: number; normalized: number | null } | null;
  considered: number;
  baselines: (Baselines & { scores: ReturnType<typeof baselineScores>; normalized: { base: number | null; taskArithmetic: number | null } }) | null;
  /** The `npx mergesearch export ...` line for the pick. */
  exportCommand: string | null;
}

/** The study's rule: its stored `prefer` (attribute) and the scale its objectives' units call for. */
export function studyRule(s: StudyRow, attrs: Record<string, unknown>): RecommendRule {
  const fallback = defaultScale(readStoredConfigParts(s).identity.objectives);
  const prefer = (attrs[ATTR_PREFER] ?? undefined) as Preference | undefined;
  try {
    return recommendRule(s.objectives, prefer, fallback);
  } catch {
    return recommendRule(s.objectives, undefined, fallback);
  }
}

/** A database path as a user would type it: relative to the working folder when inside it. */
export function shownDb(db: string): string {
  if (parseLocation(db).kind === 'postgres') return redactUrl(db);
  const rel = path.relative(process.cwd(), db);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : db;
}

export function studyRecommendation(s: StudyRow, attrs: Record<string, unknown>, completed: readonly TrialRow[], db: string): RecommendationJson {
  const rule = studyRule(s, attrs);
  const r = recommend(completed, s.objectives, rule);
  const stored = attrs[ATTR_BASELINES] ?? null;
  const fits = baselinesFit(stored, s.objectives);
  const b = fits ? (stored as Baselines) : null;
  const reference = completed.filter((t) => t.values && t.values.every(Number.isFinite)).map((t) => t.values!);
  return {
    rule: { ...rule, text: describeRule(rule, s.objectives) },
    recommended: r ? { number: r.trial.number, values: r.trial.values!, score: r.score, normalized: b ? normalizedMean(r.trial.values!, b, s.objectives) : null } : null,
    considered: r?.considered ?? 0,
    baselines: b && reference.length > 0
      ? { ...b, scores: baselineScores(b, s.objectives, rule, reference), normalized: { base: normalizedMean(b.base, b, s.objectives), taskArithmetic: normalizedMean(b.taskArithmetic?.values, b, s.objectives) } }
      : null,
    exportCommand: r ? exportCommand(shownDb(db), s.name, r.trial.number) : null,
  };
}
