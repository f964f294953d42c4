// The report's three study analyses, built from one read of a study: the recommended merge
// (recommendation.ts), parameter importance (importance.ts) and the comparison with studies on the
// same benchmark (compare.ts). Used by their API routes and by the saved report (report-file.ts).
import { ATTR_COORDINATES } from '../search/study-attrs.ts';
import type { StudyRow, StudyStore } from '../study/index.ts';
import { compareStudies, type CompareJson } from './compare.ts';
import { parameterImportance, type ImportanceJson } from './importance.ts';
import { jsonSafe } from './json.ts';
import { studyRecommendation, studyRule, type RecommendationJson } from './recommendation.ts';

export type AnalysisKind = 'recommendation' | 'importance' | 'compare';

export function studyAnalysis(store: StudyStore, s: StudyRow, kind: 'recommendation', db: string): RecommendationJson;
export function studyAnalysis(store: StudyStore, s: StudyRow, kind: 'importance', db: string): ImportanceJson;
export function studyAnalysis(store: StudyStore, s: StudyRow, kind: 'compare', db: string): CompareJson;
export function studyAnalysis(store: StudyStore, s: StudyRow, kind: AnalysisKind, db: string): unknown;
export function studyAnalysis(store: StudyStore, s: StudyRow, kind: AnalysisKind, db: string): unknown {
  const attrs = store.studyAttrs(s.id);
  const rule = studyRule(s, attrs);
  if (kind === 'compare') return jsonSafe(compareStudies(store, s, rule));
  const completed = store.trials(s.id, { states: ['COMPLETE'] });
  if (kind === 'recommendation') return jsonSafe(studyRecommendation(s, attrs, completed, db));
  const names = Array.isArray(attrs[ATTR_COORDINATES]) ? (attrs[ATTR_COORDINATES] as string[]) : undefined;
  return jsonSafe(parameterImportance(s, completed, names, rule));
}
