// Choosing from MAP's predicted Pareto front.
//
// The reference (luli-git/MAP, utils.get_scaling_from_pf) divides the preference vector by its L2
// norm and takes the front point with the largest weighted sum of its raw metric values (the
// smallest when lower is better); every objective there has the same direction. Here the values
// are first put in maximisation sign (a minimised objective counts negated), the weights are
// normalised to sum 1 (the same argmax as the L2 norm), and `scale: 'minmax'` optionally rescales
// each objective to [0, 1] over the front first, for objectives of different units (accuracy and
// loss together); the default `'raw'` is the reference's rule.
import type { ObjectiveInfo } from '../optimizer.ts';

export type PreferenceScale = 'raw' | 'minmax';

/** Weights summing to 1; an empty or missing preference means equal weights. */
export function normalizePreference(preference: readonly number[] | undefined, objectives: number): number[] {
  if (!preference || preference.length === 0) return new Array<number>(objectives).fill(1 / objectives);
  const problem = preferenceProblem(preference, objectives);
  if (problem) throw new Error(problem);
  const sum = preference.reduce((s, w) => s + w, 0);
  return preference.map((w) => w / sum);
}

/** Why a preference vector cannot be used, or undefined when it can. */
export function preferenceProblem(preference: readonly number[], objectives: number): string | undefined {
  if (preference.length === 0) return undefined;
  if (preference.length !== objectives) return `preference has ${preference.length} weights but the study has ${objectives} objectives`;
  if (preference.some((w) => !Number.isFinite(w) || w < 0)) return 'preference weights must be finite and non-negative';
  if (!preference.some((w) => w > 0)) return 'preference needs at least one positive weight';
  return undefined;
}

/** The preference score of each point (higher is better). `values` are in objective order and units. */
export function preferenceScores(values: readonly (readonly number[])[], objectives: readonly ObjectiveInfo[], preference: readonly number[] | undefined, scale: PreferenceScale = 'raw'): number[] {
  const w = normalizePreference(preference, objectives.length);
  const signed = values.map((v) => v.map((x, i) => (objectives[i]!.direction === 'maximize' ? x : -x)));
  let cols = signed;
  if (scale === 'minmax') {
    const lo = objectives.map((_, i) => Math.min(...signed.map((v) => v[i]!)));
    const hi = objectives.map((_, i) => Math.max(...signed.map((v) => v[i]!)));
    cols = signed.map((v) => v.map((x, i) => (hi[i]! > lo[i]! ? (x - lo[i]!) / (hi[i]! - lo[i]!) : 0)));
  }
  return cols.map((v) => v.reduce((s, x, i) => s + w[i]! * x, 0));
}

/** Index of the point with the best preference score (the first one on ties); -1 for no points. */
export function pickByPreference(values: readonly (readonly number[])[], objectives: readonly ObjectiveInfo[], preference: readonly number[] | undefined, scale: PreferenceScale = 'raw'): number {
  const scores = preferenceScores(values, objectives, preference, scale);
  let best = -1;
  scores.forEach((s, i) => {
    if (best < 0 || s > scores[best]!) best = i;
  });
  return best;
}

/**
 * Up to `k` indices spread along a front: the indices in `first` (e.g. the preference pick), then
 * each objective's best point, then farthest-point sampling (the point whose distance to the nearest
 * already chosen one is largest) in objective space rescaled to [0, 1] per objective. Points at
 * distance 0 from the chosen ones (duplicates) are never added. Deterministic: ties go to the lower
 * index.
 */
export function spreadAlongFront(values: readonly (readonly number[])[], objectives: readonly ObjectiveInfo[], k: number, first: readonly number[] = []): number[] {
  const n = values.length;
  if (n === 0 || k <= 0) return [];
  const m = objectives.length;
  const lo = Array.from({ length: m }, (_, i) => Math.min(...values.map((v) => v[i]!)));
  const hi = Array.from({ length: m }, (_, i) => Math.max(...values.map((v) => v[i]!)));
  const unit = values.map((v) => v.map((x, i) => (hi[i]! > lo[i]! ? (x - lo[i]!) / (hi[i]! - lo[i]!) : 0)));
  const chosen: number[] = [];
  const nearest = new Array<number>(n).fill(Infinity);
  const add = (i: number): void => {
    chosen.push(i);
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let q = 0; q < m; q++) d += (unit[i]![q]! - unit[j]![q]!) ** 2;
      nearest[j] = Math.min(nearest[j]!, Math.sqrt(d));
    }
  };
  for (const i of first) if (chosen.length < k && i >= 0 && i < n && nearest[i]! > 0) add(i);
  for (let q = 0; q < m && chosen.length < k; q++) {
    // The objective's best end (maximised: highest value).
    let best = -1;
    for (let j = 0; j < n; j++) {
      const better = objectives[q]!.direction === 'maximize' ? values[j]![q]! > (values[best]?.[q] ?? -Infinity) : values[j]![q]! < (values[best]?.[q] ?? Infinity);
      if (best < 0 || better) best = j;
    }
    if (nearest[best]! > 0) add(best);
  }
  while (chosen.length < k) {
    let far = -1;
    for (let j = 0; j < n; j++) if (nearest[j]! > 0 && (far < 0 || nearest[j]! > nearest[far]!)) far = j;
    if (far < 0) break;
    add(far);
  }
  return chosen;
}
