// The reference points a practitioner compares a searched merge against, scored on the study's own
// objectives (same split, same seeded subsample as every trial, so the numbers sit beside them):
//
//   - base: the base checkpoint's merged tensors (task vectors at weight 0; a classifier's tasks
//     still go through their experts' heads, as every candidate's do);
//   - tuned task arithmetic: θ₀ + λ Σ τᵢ with λ from the grid 0.1, 0.2, ..., 1.0, the λ with the
//     best plain mean of the objectives (sign-adjusted) kept, the protocol of the results tables;
//   - each expert on its own task: for every objective, the expert trained on that objective's task
//     (the upper reference of "normalized accuracy").
//
// Only in-memory zoo studies get them: for a study scored by the user's command each would be a
// further merge and command run, which the user has not asked to pay for.
import type { ObjectiveInfo } from './optimizer.ts';
import { mergeHostFixed, type HostParams } from '../merge/host-merge.ts';
import type { ZooProblem } from './zoo-problem.ts';
import { ruleScores, type RecommendRule } from './recommend.ts';

export const TA_LAMBDAS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

export interface Baselines {
  /** Objective names, in the order of every values array below. */
  objectives: string[];
  base: number[];
  taskArithmetic: { lambda: number; values: number[]; grid: number[] };
  /** Per objective: the expert of its task scored on it; null when no expert has that task. */
  experts: Array<{ task: string; value: number } | null>;
  /** Samples run through a model to score all of the above. */
  evaluations: number;
}

/** Plain mean of values in their own direction (a minimised objective negated): how λ is chosen. */
export function signedMean(values: readonly number[], objectives: readonly ObjectiveInfo[]): number {
  return values.reduce((s, v, i) => s + (objectives[i]!.direction === 'maximize' ? v : -v), 0) / values.length;
}

/** Score the base, task arithmetic over TA_LAMBDAS, and each expert on its own task. */
export function zooBaselines(problem: ZooProblem): Baselines {
  const { zoo, tensors, objectives } = problem;
  let evaluations = 0;
  const score = (params: HostParams, objs = objectives) => {
    const e = problem.score(params, objs);
    evaluations += e.evaluations;
    return e.values;
  };
  const pick = (from: HostParams): HostParams => new Map(tensors.map((n) => [n, from.get(n)!]));
  const base = score(pick(zoo.base));
  let best: { lambda: number; values: number[]; mean: number } | undefined;
  for (const lambda of TA_LAMBDAS) {
    const merged = mergeHostFixed(zoo, tensors, { method: 'task_arithmetic', global: { lambda }, perModel: zoo.experts.map(() => ({ weight: 1 })), seed: problem.seed });
    const values = score(merged);
    const mean = signedMean(values, objectives);
    if (!best || mean > best.mean) best = { lambda, values, mean };
  }
  const experts: Baselines['experts'] = objectives.map(() => null);
  zoo.tasks.forEach((task, i) => {
    const own = objectives.map((o, j) => ({ o, j })).filter(({ o }) => o.task === task);
    if (own.length === 0) return;
    const values = score(
      pick(zoo.experts[i]!),
      own.map(({ o }) => o),
    );
    own.forEach(({ j }, k) => (experts[j] = { task, value: values[k]! }));
  });
  return { objectives: objectives.map((o) => o.name), base, taskArithmetic: { lambda: best!.lambda, values: best!.values, grid: [...TA_LAMBDAS] }, experts, evaluations };
}

/** Each baseline's score under the recommendation rule, on the scale of the study's completed trials (`reference`). */
export function baselineScores(b: Baselines, objectives: readonly ObjectiveInfo[], rule: RecommendRule, reference: readonly (readonly number[])[]): { base: number; taskArithmetic: number; experts: number | null } {
  const [base, ta] = ruleScores([b.base, b.taskArithmetic.values], objectives, rule, reference);
  const own = b.experts.every((e) => e !== null) ? b.experts.map((e) => e!.value) : null;
  return { base: base!, taskArithmetic: ta!, experts: own ? ruleScores([own], objectives, rule, reference)[0]! : null };
}

/**
 * Mean over objectives of value ÷ the expert's value on its own task ("normalized accuracy" of the
 * results tables), or null unless every objective is maximised and has a positive expert value.
 */
export function normalizedMean(values: readonly number[], b: Baselines, objectives: readonly ObjectiveInfo[]): number | null {
  if (!objectives.every((o, i) => o.direction === 'maximize' && (b.experts[i]?.value ?? 0) > 0)) return null;
  return values.reduce((s, v, i) => s + v / b.experts[i]!.value, 0) / values.length;
}
