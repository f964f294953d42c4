// The Pareto front of a study's COMPLETE trials over some of its objectives, its hypervolume, and
// the reference point the hypervolume is measured from.
//
// Reference point (in the objectives' own units): per objective, the worst value among the COMPLETE
// trials with finite values on the chosen objectives (the lowest for a maximised objective, the
// highest for a minimised one), moved a further 10 % of that objective's range (best − worst) in the
// worse direction; when every trial has the same value, 10 % of |value| (at least 0.1) instead.
// So every considered trial lies strictly inside the box and even the extreme points of the front
// contribute volume. The hypervolume itself is computed in minimisation space (maximised objectives
// negated, pareto.ts), where it has the same value as in the objectives' own units.
//
// Trials with a NaN or infinite value on a chosen objective are left out of everything (front,
// reference, volume); `considered` counts the trials that were used.
import { toMinimization } from '../search/optimizer.ts';
import { hypervolume, paretoFront } from '../search/pareto.ts';
import type { ObjectiveRow, TrialRow } from '../study/index.ts';

export const REFERENCE_MARGIN = 0.1;

export interface FrontResult {
  objectives: string[];
  directions: Array<'maximize' | 'minimize'>;
  /** Trial numbers on the front, ascending. */
  trials: number[];
  hypervolume: number;
  reference: number[] | null;
  considered: number;
}

export function referencePoint(values: number[][], objectives: readonly ObjectiveRow[]): number[] | null {
  if (values.length === 0) return null;
  return objectives.map((o, k) => {
    const col = values.map((v) => v[k]!);
    const lo = Math.min(...col);
    const hi = Math.max(...col);
    const worst = o.direction === 'maximize' ? lo : hi;
    const range = hi - lo;
    const margin = range > 0 ? REFERENCE_MARGIN * range : REFERENCE_MARGIN * Math.max(Math.abs(worst), 1);
    return o.direction === 'maximize' ? worst - margin : worst + margin;
  });
}

/** `indices` pick the objectives (positions in the study's objective list). */
export function computeFront(trials: readonly TrialRow[], all: readonly ObjectiveRow[], indices: readonly number[]): FrontResult {
  const objectives = indices.map((i) => all[i]!);
  const rows: Array<{ number: number; values: number[] }> = [];
  for (const t of trials) {
    if (t.state !== 'COMPLETE' || !t.values) continue;
    const v = indices.map((i) => t.values![i]!);
    if (v.every((x) => Number.isFinite(x))) rows.push({ number: t.number, values: v });
  }
  const reference = referencePoint(rows.map((r) => r.values), objectives);
  const mins = rows.map((r) => toMinimization(r.values, objectives));
  const front = paretoFront(mins);
  const hv = reference ? hypervolume(front.map((i) => mins[i]!), toMinimization(reference, objectives)) : 0;
  return {
    objectives: objectives.map((o) => o.name),
    directions: objectives.map((o) => o.direction),
    trials: front.map((i) => rows[i]!.number).sort((a, b) => a - b),
    hypervolume: hv,
    reference,
    considered: rows.length,
  };
}
