// Studies on the same benchmark, side by side: every study with the same objectives (names and
// directions) on the same zoo (or the same base checkpoint), each as best-so-far curves against
// the trials it spent — one curve of the recommendation score (the asked study's rule, its minmax
// range taken over all the compared studies' trials so one scale serves them all) and one per
// objective. Curves keep only the points where the best changes, plus the last trial.
import { ruleScores, type RecommendRule } from '../search/recommend.ts';
import { readStoredConfigParts } from '../search/study-identity.ts';
import type { StudyRow, StudyStore, TrialRow } from '../study/index.ts';

export interface Curve {
  /** Trials spent (trial number + 1) where the best so far changed, and the last. */
  x: number[];
  y: number[];
}

export interface CompareJson {
  objectives: string[];
  studies: Array<{ name: string; optimizer: string; completed: number; score: Curve; objectives: Curve[] }>;
}

function benchmarkKey(s: StudyRow): string {
  const id = readStoredConfigParts(s).identity;
  const what = id.zoo ?? id.checkpoints?.base ?? '';
  return JSON.stringify([what, s.objectives.map((o) => [o.name, o.direction])]);
}

/** Best so far (higher is better) along `values`, at the trial numbers `numbers`, change points only. */
export function bestSoFarCurve(numbers: readonly number[], values: readonly number[]): Curve {
  const out: Curve = { x: [], y: [] };
  let best = -Infinity;
  values.forEach((v, i) => {
    const last = i === values.length - 1;
    if (v > best || last) {
      best = Math.max(best, v);
      out.x.push(numbers[i]! + 1);
      out.y.push(best);
    }
  });
  return out;
}

export function compareStudies(store: StudyStore, study: StudyRow, rule: RecommendRule): CompareJson {
  const key = benchmarkKey(study);
  const peers = store
    .listStudies()
    .map((x) => store.getStudy(x.name))
    .filter((x) => x.id === study.id || benchmarkKey(x) === key);
  const k = study.objectives.length;
  const done = new Map<number, TrialRow[]>(
    peers.map((p) => [p.id, store.trials(p.id, { states: ['COMPLETE'] }).filter((t) => t.values && t.values.length === k && t.values.every(Number.isFinite))]),
  );
  const reference = [...done.values()].flat().map((t) => t.values!);
  const sign = study.objectives.map((o) => (o.direction === 'maximize' ? 1 : -1));
  return {
    objectives: study.objectives.map((o) => o.name),
    studies: peers.map((p) => {
      const ts = done.get(p.id)!;
      const numbers = ts.map((t) => t.number);
      const scores = ts.length ? ruleScores(ts.map((t) => t.values!), study.objectives, rule, reference) : [];
      // Per objective in its own units: the curve of the signed value, turned back.
      const objectives = study.objectives.map((_, o) => {
        const c = bestSoFarCurve(numbers, ts.map((t) => sign[o]! * t.values![o]!));
        return { x: c.x, y: c.y.map((v) => sign[o]! * v) };
      });
      return { name: p.name, optimizer: p.optimizer, completed: ts.length, score: bestSoFarCurve(numbers, scores), objectives };
    }),
  };
}
