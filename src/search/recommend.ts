// The recommended merge of a study: one trial to take when a person wants an answer rather than a
// Pareto set (with 8 objectives nearly every trial is non-dominated). The rule, stated wherever the
// recommendation is shown:
//
//   the COMPLETE trial with the highest weighted mean of its objectives, each objective counted in
//   its own direction (a minimised one negated); weights from the study's `prefer.weights`
//   (objective name → weight, unnamed objectives weigh 1), equal otherwise; ties go to the lower
//   trial number.
//
// Scale: objectives in the same units (every objective scored by one zoo evaluator, e.g. eight
// accuracies) are averaged as measured ("raw": the mean accuracy the results tables report).
// Objectives in different units (accuracy and loss, or several command scores) are each rescaled to
// [0, 1] between the worst and the best value among the study's completed trials first ("minmax"),
// so no objective wins by its units alone. `prefer.scale` overrides the choice.
import { fail } from '../errors.ts';
import type { ObjectiveInfo } from './optimizer.ts';
import type { ObjectiveSpec } from './study-config.ts';

export type PreferScale = 'raw' | 'minmax';
export const PREFER_SCALES: readonly PreferScale[] = ['raw', 'minmax'];

/** The study config's `prefer:` key, as written (objective names are checked once they are known). */
export interface Preference {
  weights?: Record<string, number>;
  scale?: PreferScale;
}

/** The rule resolved against a study's objectives. */
export interface RecommendRule {
  /** One weight per objective, in objective order (as written, not normalised). */
  weights: number[];
  scale: PreferScale;
  /** Whether the study declared `prefer:` (else: equal weights, scale chosen by units). */
  declared: boolean;
}

/** Something with values per objective: a trial, or a baseline. */
export interface Scored {
  number: number;
  state?: string;
  values: readonly number[] | null;
}

export interface Recommendation<T extends Scored = Scored> {
  trial: T;
  /** The weighted mean the trial won with (in the objectives' units for raw, in [0, 1] for minmax). */
  score: number;
  /** COMPLETE trials with finite values that were ranked. */
  considered: number;
}

/**
 * The scale objectives are averaged on when the study does not say: raw when every objective is a
 * zoo objective of one evaluator (one unit), minmax otherwise. `objectives` as the config wrote them
 * (placeholders such as `tasks: all` included: only evaluators are compared).
 */
export function defaultScale(objectives: readonly ObjectiveSpec[] | undefined): PreferScale {
  if (!objectives || objectives.length === 0) return 'minmax';
  const units = new Set(objectives.map((o) => (o.kind === 'zoo' ? `zoo:${o.evaluator}` : `command:${o.key}`)));
  return units.size === 1 && [...units][0]!.startsWith('zoo:') ? 'raw' : 'minmax';
}

/**
 * The rule for a study's objectives (resolved names) from its `prefer:`; a weight for a name the
 * study has no objective of is refused (CONFIG_E_FIELD), naming `source`.
 */
export function recommendRule(objectives: readonly ObjectiveInfo[], prefer: Preference | undefined, fallbackScale: PreferScale, source = 'study config'): RecommendRule {
  const names = objectives.map((o) => o.name);
  const given = prefer?.weights ?? {};
  for (const k of Object.keys(given)) {
    if (!names.includes(k)) fail('CONFIG_E_FIELD', `${source}: prefer.weights names "${k}", which is not an objective of the study; its objectives: ${names.join(', ')}`);
  }
  const weights = names.map((n) => given[n] ?? 1);
  if (!weights.some((w) => w > 0)) fail('CONFIG_E_FIELD', `${source}: prefer.weights gives every objective weight 0; give at least one a positive weight`);
  return { weights, scale: prefer?.scale ?? fallbackScale, declared: prefer !== undefined };
}

/** Whether a trial has one finite value per objective (and is COMPLETE when it says its state). */
function usable(t: Scored, k: number): boolean {
  return (t.state === undefined || t.state === 'COMPLETE') && t.values !== null && t.values.length === k && t.values.every((v) => Number.isFinite(v));
}

/**
 * Scores of `points` under `rule`; `reference` gives the minmax range (the study's completed
 * trials), so baselines are placed on the same scale as the trials they sit beside.
 */
export function ruleScores(points: readonly (readonly number[])[], objectives: readonly ObjectiveInfo[], rule: RecommendRule, reference: readonly (readonly number[])[] = points): number[] {
  const k = objectives.length;
  const sign = objectives.map((o) => (o.direction === 'maximize' ? 1 : -1));
  const total = rule.weights.reduce((a, b) => a + b, 0);
  let lo: number[] = [];
  let hi: number[] = [];
  if (rule.scale === 'minmax') {
    lo = sign.map((s, i) => Math.min(...reference.map((v) => s * v[i]!)));
    hi = sign.map((s, i) => Math.max(...reference.map((v) => s * v[i]!)));
  }
  return points.map((v) => {
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const signed = sign[i]! * v[i]!;
      // minmax: an objective every trial ties on counts 0 for all (it cannot tell them apart).
      const x = rule.scale === 'raw' ? signed : hi[i]! > lo[i]! ? (signed - lo[i]!) / (hi[i]! - lo[i]!) : 0;
      sum += rule.weights[i]! * x;
    }
    // raw: the mean in the objectives' own sign and units (a mean accuracy stays an accuracy).
    return sum / total;
  });
}

/** The recommended trial under `rule`, or undefined when no trial completed with finite values. */
export function recommend<T extends Scored>(trials: readonly T[], objectives: readonly ObjectiveInfo[], rule: RecommendRule): Recommendation<T> | undefined {
  const ok = trials.filter((t) => usable(t, objectives.length)).sort((a, b) => a.number - b.number);
  if (ok.length === 0) return undefined;
  const scores = ruleScores(
    ok.map((t) => t.values!),
    objectives,
    rule,
  );
  let best = 0;
  for (let i = 1; i < ok.length; i++) if (scores[i]! > scores[best]!) best = i;
  return { trial: ok[best]!, score: scores[best]!, considered: ok.length };
}

/** The rule in words, for the CLI and the page ("mean of the 8 objectives, equal weights, as measured"). */
export function describeRule(rule: RecommendRule, objectives: readonly ObjectiveInfo[]): string {
  const equal = rule.weights.every((w) => w === rule.weights[0]);
  const weights = equal ? 'equal weights' : `weights ${objectives.map((o, i) => `${o.name} ${rule.weights[i]}`).join(', ')}`;
  const scale = rule.scale === 'raw' ? 'values as measured' : 'each objective rescaled to [0, 1] between the worst and best completed trial';
  const k = objectives.length;
  return `${k === 1 ? 'best value of the objective' : `best mean of the ${k} objectives`} (${weights}; ${scale}${rule.declared ? '; the study\'s prefer:' : ''})`;
}

/** The command that exports trial `n` (as a user types it after `npm install`). */
export function exportCommand(db: string, study: string, n: number): string {
  return `npx mergesearch export --db ${db} --study ${study} --trial ${n} --out merged-${study}-${n}`;
}
