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
// Scored by zoo-baselines.ts for zoo studies (always: a few hundred forward passes), and by
// command-baselines.ts for studies scored by the user's command, only when the config asks
// (`baselines:`): there each is a command run (plus a merge for task arithmetic), which may cost
// as much as a trial or an hour of lm_eval. A command study's experts have no task of their own:
// each expert is scored on every objective (`expertModels`), and `experts` holds, per objective,
// the best of them (the upper reference a practitioner reads).
import type { ObjectiveInfo } from './optimizer.ts';
import { ruleScores, type RecommendRule } from './recommend.ts';

export const TA_LAMBDAS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/** What a command study's `baselines:` asks to score (study-config.ts; none when the key is absent or false). */
export interface BaselineRequest {
  /** The base checkpoint as is: one run of each distinct command. */
  base: boolean;
  /** Each expert as is: one run per expert. */
  experts: boolean;
  /** Task arithmetic θ₀ + λΣτᵢ at each λ (ascending): one merge and one run each. */
  lambdas: number[];
}

/**
 * The λ grid of `baselines: true` for K experts: 1/K (the plain weight average of the experts:
 * θ₀ + Στᵢ/K = Σθᵢ/K), 0.3, 0.5 and 1.0 (the plain sum of task vectors), sorted, without repeats.
 */
export function defaultCommandLambdas(k: number): number[] {
  return [...new Set([1 / k, 0.3, 0.5, 1.0].map((l) => Number(l.toPrecision(6))))].sort((a, b) => a - b);
}

/** Command runs and merges a request costs: one run of each distinct command per checkpoint scored. */
export function baselineCost(req: BaselineRequest, experts: number, commands: number): { runs: number; merges: number } {
  const checkpoints = (req.base ? 1 : 0) + (req.experts ? experts : 0) + req.lambdas.length;
  return { runs: checkpoints * commands, merges: req.lambdas.length };
}

/** The request in words: "the base, each of 2 experts, task arithmetic at λ 0.3, 0.5, 1". */
export function describeRequest(req: BaselineRequest, experts: number): string {
  const parts = [...(req.base ? ['the base'] : []), ...(req.experts ? [`each of the ${experts} experts`] : []), ...(req.lambdas.length ? [`task arithmetic at λ ${req.lambdas.join(', ')}`] : [])];
  return parts.join(', ');
}

export interface Baselines {
  /** Objective names, in the order of every values array below. */
  objectives: string[];
  /** How they were scored: on the zoo's samples (absent in studies stored before), or by the study's command. */
  kind?: 'zoo' | 'command';
  /** Null when a command study's `baselines:` left the base out. */
  base: number[] | null;
  /**
   * The λ of `grid` whose values score best (zoo: plain signed mean; command: the recommendation
   * rule), with every λ's values in `gridValues` (command studies); null when not asked for.
   */
  taskArithmetic: { lambda: number; values: number[]; grid: number[]; gridValues?: number[][] } | null;
  /**
   * Per objective: zoo: the expert of its task scored on it; command: the best expert on it
   * (`task` is then the expert's folder name); null when no expert has that task or none was scored.
   */
  experts: Array<{ task: string; value: number } | null>;
  /** Command studies: each expert as is, on every objective. */
  expertModels?: Array<{ name: string; values: number[] }>;
  /** Zoo: samples run through a model to score all of the above; command: command runs. */
  evaluations: number;
  /** Command studies: merges run (one per task-arithmetic λ). */
  merges?: number;
}

/** Plain mean of values in their own direction (a minimised objective negated): how λ is chosen. */
export function signedMean(values: readonly number[], objectives: readonly ObjectiveInfo[]): number {
  return values.reduce((s, v, i) => s + (objectives[i]!.direction === 'maximize' ? v : -v), 0) / values.length;
}

/** Each baseline's score under the recommendation rule, on the scale of the study's completed trials (`reference`). */
export function baselineScores(
  b: Baselines,
  objectives: readonly ObjectiveInfo[],
  rule: RecommendRule,
  reference: readonly (readonly number[])[],
): { base: number | null; taskArithmetic: number | null; experts: number | null; expertModels: number[] } {
  const one = (v: readonly number[] | null | undefined) => (v ? ruleScores([v], objectives, rule, reference)[0]! : null);
  const own = b.experts.every((e) => e !== null) ? b.experts.map((e) => e!.value) : null;
  return {
    base: one(b.base),
    taskArithmetic: one(b.taskArithmetic?.values),
    experts: one(own),
    expertModels: (b.expertModels ?? []).map((m) => one(m.values)!),
  };
}

/** Whether stored baselines fit a study's objectives (same count, same names when they were kept). */
export function baselinesFit(b: unknown, objectives: readonly ObjectiveInfo[]): b is Baselines {
  if (typeof b !== 'object' || b === null) return false;
  const x = b as Baselines;
  return Array.isArray(x.objectives) && x.objectives.length === objectives.length && x.objectives.every((n, i) => n === objectives[i]!.name) && Array.isArray(x.experts);
}

/**
 * Mean over objectives of value ÷ the expert's value on its own task ("normalized accuracy" of the
 * results tables), or null for command baselines and unless every objective is maximised and has a positive expert value.
 */
export function normalizedMean(values: readonly number[] | null | undefined, b: Baselines, objectives: readonly ObjectiveInfo[]): number | null {
  // A command study's experts are not experts of one task each: no normalized accuracy there.
  if (!values || b.kind === 'command') return null;
  if (!objectives.every((o, i) => o.direction === 'maximize' && (b.experts[i]?.value ?? 0) > 0)) return null;
  return values.reduce((s, v, i) => s + v / b.experts[i]!.value, 0) / values.length;
}
