// MAP: "Low-compute Model Merging with Amortized Pareto Fronts via Quadratic Approximation"
// (Li et al.); reference code luli-git/MAP. What the reference does, read from its code:
//
//   - Sampling (Sampling.py): T one-hot points, an isotropic share (t·1 and noisy copies), and a
//     filtered grid (no one-hot, no sum-to-one, no isotropic points). run_MAP asks for 6 points in
//     all with no isotropic share (T = 2: 2 one-hots + 4 grid points = the 6 quadratic coefficients);
//     nested MAP 20 points with 20 % isotropic; Bayesian MAP 15 initial points then rounds of 3.
//     DESIGN.md asks for (T+1)(T+2), twice the coefficients; that is our default (see
//     ../map/sampling-plan.ts for the other differences).
//   - Surrogate (MAP.py): per task a full quadratic (squares, cross terms, linear, constant) through
//     a link, sigmoid for accuracy and softplus for loss, fitted by scipy curve_fit (output-space
//     least squares, start all ones). Here: least squares on the linked target, then
//     Levenberg-Marquardt on the output-space error (../map/quadratic.ts).
//   - Front (MAP.find_pareto_front): DEAP eaMuPlusLambda, μ = λ = 100, cxpb 0.7, mutpb 0.3, SBX and
//     polynomial mutation (η 20) in [−3, 3]^T with NSGA-III reference-point selection, 25
//     generations in run_MAP, a hall-of-fame Pareto front of everything seen. Here: our NSGA-II
//     (`nsga2Minimize`) within the study's box, population 100 and 100 generations by default, its
//     population seeded with the evaluated points; the final non-dominated set is the front.
//   - Selection (utils.get_scaling_from_pf): preference / ‖preference‖₂, argmax of the weighted sum
//     of the front's raw predicted metrics (argmin when lower is better) (../map/select.ts).
//   - Bayesian MAP (MAP.bayesian_pipeline): bins of hyperspherical angles scored by the surrogate's
//     squared error, mean + 0.5·std over 20 %-drop subsamples, softmax at temperature 0.07, new
//     points drawn in chosen bins with radius U(0.2, 0.8) (../map/bayesian.ts). The reference's loop
//     then redraws a fresh initial plan each round and never refits on the new points (a bug);
//     here every round's points are evaluated and the surrogates refitted on all points.
//   - Nested MAP (run_MAP.run_MAP_nested): repeatedly take the two models (experts or merged groups)
//     whose single-model accuracies are closest, run 2-D MAP on them (each group's metric the
//     preference-weighted mean of its tasks' metrics), pick by the preference summed per group, save
//     the merge as a new model scored by its preference-weighted metric, until one model remains.
//
// This optimizer's phases, all in its JSON state (random draws from the state's `Rng`):
//   sample  propose the plan's points (and, with `bayesian`, each round's acquired points); wait for
//           all values; fit one surrogate per objective;
//   front   NSGA-II on the surrogates → the amortised front; the preference pick; propose
//           `front_points` points of the front for real evaluation (the pick first, then each
//           objective's best end, then farthest-point sampling along the front), each with its
//           predicted values; then `done`.
// Nested (`nested: true`, one coordinate per objective in the same order): first each expert alone
// (x = eᵢ, its own task's value is its score), then per merge a 2-D stage over the two groups'
// scale factors (a, b) — x = a·wᴬ on group A's experts, b·wᴮ on group B's, 0 elsewhere — with
// one surrogate per task of A ∪ B and NSGA-II on the two groups' preference-weighted objectives;
// an intermediate stage evaluates only its pick (the merged group's score), the last one proposes
// `front_points` front points like flat MAP. Differences to the reference: expert scores come from
// evaluating each expert (the reference hard-codes accuracies), per-task surrogates are combined into
// the group objectives (the reference fits the group mean directly), and the 2-D box is
// [min low, max high] with x clamped into the study's box.
import { setting } from '../optimizer.ts';
import { clampToBounds, toMinimization, type AskResult, type Json, type ObjectiveInfo, type Optimizer, type OptimizerContext, type Proposal, type SettingDef } from '../optimizer.ts';
import { Rng, rngState } from '../rng.ts';
import { acquire, defaultBins } from '../map/bayesian.ts';
import { autoLink, fitQuadratic, predict, type Link, type QuadraticModel } from '../map/quadratic.ts';
import { defaultPlanSize, planCounts, quadraticTerms, samplingPlan } from '../map/sampling-plan.ts';
import { normalizePreference, pickByPreference, preferenceProblem, spreadAlongFront, type PreferenceScale } from '../map/select.ts';
import { nsga2Minimize } from './nsga2.ts';

// ---------------------------------------------------------------------------------------------
// Settings

const SETTINGS: readonly SettingDef[] = [
  { name: 'plan_points', kind: 'integer', default: 0, min: 0, doc: 'Points of the initial sampling plan (one-hot, isotropic and grid points); 0 means (T+1)(T+2) for T coefficients (12 for each 2-D nested stage). At least the quadratic’s (T+1)(T+2)/2 coefficients.' },
  { name: 'isotropic_fraction', kind: 'number', default: 0.2, min: 0, max: 1, doc: 'Share of the plan after the one-hot points that lies on or near the diagonal c₁ = … = c_T (half exactly, half disturbed by N(0, 0.1²)); the rest is a filtered grid.' },
  { name: 'link', kind: 'string', default: 'auto', choices: ['auto', 'sigmoid', 'softplus', 'identity'], doc: 'Link of the quadratic surrogates: auto = sigmoid for maximised objectives within [0, 1] (accuracies), softplus for minimised non-negative ones (losses), identity otherwise.' },
  { name: 'refine', kind: 'boolean', default: true, doc: 'After the least-squares fit of the linked target, refine by Levenberg-Marquardt on the squared error in the objective’s own units (the reference’s curve_fit objective); skipped above 120 quadratic terms (T ≥ 15), where it would cost seconds per objective.' },
  { name: 'ridge', kind: 'number', default: 1e-10, min: 0, doc: 'Ridge λ on the unit-norm quadratic features, for stability when points are few or collinear.' },
  { name: 'nsga_population', kind: 'integer', default: 100, min: 4, doc: 'Population of the NSGA-II run on the surrogates (the reference uses 100).' },
  { name: 'nsga_generations', kind: 'integer', default: 100, min: 1, doc: 'Generations of the NSGA-II run on the surrogates (the reference’s run_MAP uses 25).' },
  { name: 'front_points', kind: 'integer', default: 10, min: 0, doc: 'Points of the predicted front to evaluate for real at the end: the preference pick, each objective’s best end, then spread along the front.' },
  { name: 'preference', kind: 'number[]', default: [], doc: 'Non-negative weight per objective for picking one point of the predicted front (empty: equal weights).' },
  { name: 'preference_scale', kind: 'string', default: 'raw', choices: ['raw', 'minmax'], doc: 'raw: weighted sum of the predicted values in maximisation sign (the reference’s rule); minmax: each objective rescaled to [0, 1] over the front first (objectives of different units).' },
  { name: 'bayesian', kind: 'boolean', default: false, doc: 'Bayesian MAP: after the plan, add rounds of points where the surrogates fit worst, refitting after each.' },
  { name: 'bayesian_rounds', kind: 'integer', default: 2, min: 1, doc: 'Rounds of Bayesian points (the reference: 2).' },
  { name: 'bayesian_points', kind: 'integer', default: 3, min: 1, doc: 'Points per Bayesian round (the reference: 3).' },
  { name: 'bayesian_bins', kind: 'integer', default: 0, min: 0, doc: 'Bins per hyperspherical angle for the acquisition; 0: 4 for T < 4, else 2 (the reference’s choice).' },
  { name: 'bayesian_temperature', kind: 'number', default: 0.07, min: 1e-6, doc: 'Softmax temperature over the bins’ error scores (scores divided by the largest first).' },
  { name: 'bayesian_tradeoff', kind: 'number', default: 0.5, min: 0, doc: 'λ in a bin’s score mean + λ·std of its squared errors.' },
  { name: 'bayesian_radius', kind: 'number[]', default: [0.2, 0.8], doc: 'Range [min, max] of the radius of new Bayesian points in the unit box (the reference: 0.2 to 0.8).' },
  { name: 'nested', kind: 'boolean', default: false, doc: 'Nested MAP: merge two groups at a time (closest scores first) with 2-D MAP stages; needs one coefficient per objective, in the same order, and 0 within the bounds.' },
];

type Settings = {
  planPoints: number;
  isotropicFraction: number;
  link: 'auto' | Link;
  refine: boolean;
  ridge: number;
  population: number;
  generations: number;
  frontPoints: number;
  preference: number[];
  scale: PreferenceScale;
  bayesian: boolean;
  rounds: number;
  roundPoints: number;
  bins: number;
  temperature: number;
  tradeoff: number;
  radius: number[];
  nested: boolean;
};

function settings(ctx: OptimizerContext): Settings {
  const get = (name: string): Json => setting(map, ctx, name);
  const num = (name: string): number => get(name) as number;
  return {
    planPoints: num('plan_points'),
    isotropicFraction: num('isotropic_fraction'),
    link: get('link') as Settings['link'],
    refine: get('refine') as boolean,
    ridge: num('ridge'),
    population: num('nsga_population'),
    generations: num('nsga_generations'),
    frontPoints: num('front_points'),
    preference: get('preference') as number[],
    scale: get('preference_scale') as PreferenceScale,
    bayesian: get('bayesian') as boolean,
    rounds: num('bayesian_rounds'),
    roundPoints: num('bayesian_points'),
    bins: num('bayesian_bins'),
    temperature: num('bayesian_temperature'),
    tradeoff: num('bayesian_tradeoff'),
    radius: get('bayesian_radius') as number[],
    nested: get('nested') as boolean,
  };
}

// ---------------------------------------------------------------------------------------------
// State

type Sample = {
  /** Stage coordinates (flat: x itself; nested: the two groups' scale factors). */
  z: number[];
  x: number[];
  kind: string;
  round: number;
  told: boolean;
  /** Objective values (all objectives, objective order); null when failed or not yet told. */
  values: number[] | null;
};

type Fit = {
  /** Objective indices fitted, in increasing order (flat: all). */
  tasks: number[];
  models: QuadraticModel[];
  r2: number[];
  rmse: number[];
  points: number;
};

type FrontPoint = { z: number[]; x: number[]; told: boolean; values: number[] | null };

type Stage = {
  /** Nested: the two groups' objective indices; flat: null. */
  groups: number[][] | null;
  /** Nested: per group, each member's weight in the group's task vector (same order as groups). */
  weights: number[][] | null;
  low: number[];
  high: number[];
  samples: Sample[];
  next: number;
  round: number;
  fit: Fit | null;
  front: { z: number[][]; x: number[][]; predicted: number[][] } | null;
  choice: number;
  /** Front indices proposed for real evaluation, in order, and their outcomes. */
  queue: number[];
  asked: number;
  evals: FrontPoint[];
  final: boolean;
};

type Group = { tasks: number[]; weights: number[]; score: number };

export type MapState = {
  version: 1;
  phase: 'solo' | 'stage' | 'done';
  rng: number;
  /** Nested: experts evaluated alone (x = eᵢ). */
  solo: Sample[];
  soloNext: number;
  groups: Group[];
  stage: Stage | null;
  /** Finished nested stages (for the report): the groups merged and the pick. */
  merges: Array<{ groups: number[][]; z: number[]; x: number[]; r2: number[] }>;
  error: string | null;
};

// ---------------------------------------------------------------------------------------------
// Helpers

function planSizeFor(dim: number, s: Settings): number {
  return s.planPoints > 0 ? s.planPoints : defaultPlanSize(dim);
}

function trialsNeeded(ctx: OptimizerContext, s: Settings): { total: number; parts: string } {
  const perStage = (dim: number): number => planSizeFor(dim, s) + (s.bayesian ? s.rounds * s.roundPoints : 0);
  if (s.nested) {
    const t = ctx.dim;
    const stage = perStage(2);
    const total = t + (t - 1) * stage + Math.max(0, t - 2) + s.frontPoints;
    return { total, parts: `${t} experts alone + ${t - 1} pair stages × ${stage} (plan${s.bayesian ? ' + Bayesian rounds' : ''}) + ${Math.max(0, t - 2)} intermediate picks + ${s.frontPoints} front points` };
  }
  const plan = planSizeFor(ctx.dim, s);
  const bayes = s.bayesian ? s.rounds * s.roundPoints : 0;
  return { total: plan + bayes + s.frontPoints, parts: `plan ${plan}${s.bayesian ? ` + Bayesian ${s.rounds}×${s.roundPoints}` : ''} + ${s.frontPoints} front points` };
}

function newStage(ctx: OptimizerContext, s: Settings, rng: Rng, groups: number[][] | null, weights: number[][] | null, final: boolean): Stage {
  const low = groups ? [Math.min(...ctx.low), Math.min(...ctx.low)] : [...ctx.low];
  const high = groups ? [Math.max(...ctx.high), Math.max(...ctx.high)] : [...ctx.high];
  const dim = low.length;
  const plan = samplingPlan({ dim, low, high, total: planSizeFor(dim, s), isotropicFraction: s.isotropicFraction, rng: rng.next32() });
  const stage: Stage = { groups, weights, low, high, samples: [], next: 0, round: 0, fit: null, front: null, choice: -1, queue: [], asked: 0, evals: [], final };
  for (const p of plan) stage.samples.push({ z: p.x, x: toX(ctx, stage, p.x), kind: p.kind, round: 0, told: false, values: null });
  return stage;
}

/** The study's coefficient vector for stage coordinates z. */
function toX(ctx: OptimizerContext, stage: Pick<Stage, 'groups' | 'weights'>, z: readonly number[]): number[] {
  if (!stage.groups || !stage.weights) return [...z];
  const x = new Array<number>(ctx.dim).fill(0);
  stage.groups.forEach((g, k) => g.forEach((task, j) => (x[task] = z[k]! * stage.weights![k]![j]!)));
  return clampToBounds(x, ctx);
}

function stageTasks(ctx: OptimizerContext, stage: Stage): number[] {
  return stage.groups ? [...stage.groups.flat()].sort((a, b) => a - b) : ctx.objectives.map((_, i) => i);
}

function isGood(values: number[] | null, m: number): values is number[] {
  return values !== null && values.length === m && values.every(Number.isFinite);
}

function fitStage(ctx: OptimizerContext, s: Settings, stage: Stage): Fit | string {
  const tasks = stageTasks(ctx, stage);
  const good = stage.samples.filter((p) => isGood(p.values, ctx.objectives.length));
  if (good.length === 0) return 'every sampled point failed, so there is nothing to fit the surrogates to';
  const models: QuadraticModel[] = [];
  const r2: number[] = [];
  const rmse: number[] = [];
  for (const t of tasks) {
    const ys = good.map((p) => p.values![t]!);
    const link = s.link === 'auto' ? autoLink(ys, ctx.objectives[t]!.direction) : s.link;
    const fit = fitQuadratic(
      good.map((p) => p.z),
      ys,
      link,
      { ridge: s.ridge, refine: s.refine },
    );
    models.push(fit.model);
    r2.push(fit.r2);
    rmse.push(fit.rmse);
  }
  return { tasks, models, r2, rmse, points: good.length };
}

/** The NSGA-II objectives of a stage: its surrogates (flat) or its two groups' aggregates (nested). */
function stageObjectives(ctx: OptimizerContext, s: Settings, stage: Stage): { infos: ObjectiveInfo[]; values: (predicted: number[]) => number[]; preference: number[] } {
  const fit = stage.fit!;
  if (!stage.groups) return { infos: ctx.objectives, values: (p) => p, preference: s.preference };
  // Each group's objective: the preference-weighted mean of its tasks in maximisation sign (the
  // reference weights each group's metrics by the normalised preferences within the group).
  const w = normalizePreference(s.preference, ctx.objectives.length);
  const pos = new Map(fit.tasks.map((t, i) => [t, i]));
  const groups = stage.groups;
  const infos = groups.map((g, k) => ({ name: `group ${k}: ${g.map((t) => ctx.objectives[t]!.name).join('+')}`, direction: 'maximize' as const }));
  const values = (p: number[]): number[] =>
    groups.map((g) => {
      const sw = g.reduce((a, t) => a + w[t]!, 0);
      return g.reduce((a, t) => a + (sw > 0 ? w[t]! / sw : 1 / g.length) * signed(ctx.objectives[t]!, p[pos.get(t)!]!), 0);
    });
  const preference = groups.map((g) => g.reduce((a, t) => a + w[t]!, 0));
  return { infos, values, preference };
}

function signed(o: ObjectiveInfo, v: number): number {
  return o.direction === 'maximize' ? v : -v;
}

/** Per-task surrogate predictions of a stage at z, in the order of fit.tasks. */
function predictStage(fit: Fit, z: readonly number[]): number[] {
  return fit.models.map((m) => predict(m, z));
}

/** Fills the stage's front, pick and queue; a message when there is no front. */
function buildFront(ctx: OptimizerContext, s: Settings, stage: Stage, rng: Rng): string | undefined {
  const fit = stage.fit!;
  const { infos, values, preference } = stageObjectives(ctx, s, stage);
  const good = stage.samples.filter((p) => isGood(p.values, ctx.objectives.length)).map((p) => p.z);
  const res = nsga2Minimize({
    objectives: (z) => toMinimization(values(predictStage(fit, z)), infos),
    low: stage.low,
    high: stage.high,
    population: s.population,
    generations: s.generations,
    seed: rng.next32(),
    init: good.slice(0, s.population),
  });
  // Distinct points, ordered along the first objective (then by z) so the stored front reads well.
  const seen = new Set<string>();
  const zs = res.x.filter((z) => {
    const key = z.join(',');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (zs.length === 0) return 'NSGA-II found no point with finite surrogate values';
  const predicted = zs.map((z) => predictStage(fit, z));
  const order = zs.map((_, i) => i).sort((a, b) => predicted[a]![0]! - predicted[b]![0]! || compareVec(zs[a]!, zs[b]!));
  const front = { z: order.map((i) => zs[i]!), x: order.map((i) => toX(ctx, stage, zs[i]!)), predicted: order.map((i) => predicted[i]!) };
  stage.front = front;
  const agg = front.predicted.map(values);
  stage.choice = pickByPreference(agg, infos, preference, s.scale);
  const k = stage.final ? s.frontPoints : 1;
  stage.queue = spreadAlongFront(agg, infos, k, stage.choice >= 0 ? [stage.choice] : []);
  stage.asked = 0;
  stage.evals = stage.queue.map((i) => ({ z: front.z[i]!, x: front.x[i]!, told: false, values: null }));
  return undefined;
}

function compareVec(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Runs every transition the told values allow. Mutates `state` (a private copy). */
function advance(state: MapState, ctx: OptimizerContext): void {
  const s = settings(ctx);
  const rng = new Rng(state.rng);
  for (;;) {
    if (state.phase === 'solo') {
      if (state.soloNext < state.solo.length || state.solo.some((p) => !p.told)) break;
      state.groups = state.solo.map((p, i) => ({ tasks: [i], weights: [1], score: isGood(p.values, ctx.objectives.length) ? signed(ctx.objectives[i]!, p.values[i]!) : -Infinity }));
      state.groups = state.groups.map((g) => ({ ...g, score: Number.isFinite(g.score) ? g.score : -1e300 }));
      startPairStage(state, ctx, s, rng);
      continue;
    }
    if (state.phase !== 'stage' || !state.stage) break;
    const stage = state.stage;
    if (!stage.front) {
      if (stage.next < stage.samples.length || stage.samples.some((p) => !p.told)) break;
      const fit = fitStage(ctx, s, stage);
      if (typeof fit === 'string') {
        state.error = fit;
        state.phase = 'done';
        break;
      }
      stage.fit = fit;
      if (s.bayesian && stage.round < s.rounds) {
        stage.round++;
        const good = stage.samples.filter((p) => isGood(p.values, ctx.objectives.length));
        const errors = squaredErrors(fit, good);
        const zs = acquire(
          { low: stage.low, high: stage.high, xs: good.map((p) => p.z), errors, count: s.roundPoints, bins: s.bins > 0 ? s.bins : defaultBins(stage.low.length), temperature: s.temperature, tradeoff: s.tradeoff, rMin: s.radius[0] ?? 0.2, rMax: s.radius[1] ?? 0.8 },
          rng,
        );
        for (const z of zs) stage.samples.push({ z, x: toX(ctx, stage, z), kind: 'bayesian', round: stage.round, told: false, values: null });
        continue;
      }
      const problem = buildFront(ctx, s, stage, rng);
      if (problem) {
        state.error = problem;
        state.phase = 'done';
        break;
      }
      continue;
    }
    if (stage.asked < stage.queue.length || stage.evals.some((e) => !e.told)) break;
    if (stage.final) {
      state.phase = 'done';
      break;
    }
    // An intermediate nested stage: the two groups become one, scored by its pick's real values.
    mergeGroups(state, ctx, s, stage);
    startPairStage(state, ctx, s, rng);
  }
  state.rng = rng.state;
}

/** Per good sample, the mean over the stage's tasks of (prediction − value)² / var(values). */
function squaredErrors(fit: Fit, good: Sample[]): number[] {
  const out = new Array<number>(good.length).fill(0);
  fit.tasks.forEach((t, k) => {
    const ys = good.map((p) => p.values![t]!);
    const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
    const v = ys.reduce((a, y) => a + (y - mean) ** 2, 0) / ys.length;
    good.forEach((p, i) => (out[i]! += (predict(fit.models[k]!, p.z) - ys[i]!) ** 2 / (v > 0 ? v : 1) / fit.tasks.length));
  });
  return out;
}

function startPairStage(state: MapState, ctx: OptimizerContext, s: Settings, rng: Rng): void {
  // The two groups with the closest scores (the reference's find_closest_datasets); ties: lowest indices.
  const g = state.groups;
  let best: [number, number] = [0, 1];
  let gap = Infinity;
  for (let i = 0; i < g.length; i++) {
    for (let j = i + 1; j < g.length; j++) {
      const d = Math.abs(g[i]!.score - g[j]!.score);
      if (d < gap) {
        gap = d;
        best = [i, j];
      }
    }
  }
  const [a, b] = [g[best[0]]!, g[best[1]]!];
  const final = g.length === 2;
  state.stage = newStage(ctx, s, rng, [a.tasks, b.tasks], [a.weights, b.weights], final);
  state.phase = 'stage';
}

function mergeGroups(state: MapState, ctx: OptimizerContext, s: Settings, stage: Stage): void {
  const pick = stage.evals[0]!;
  const z = pick.z;
  const groups = stage.groups!;
  const weights = stage.weights!;
  const w = normalizePreference(s.preference, ctx.objectives.length);
  const tasks = groups.flat();
  const sw = tasks.reduce((acc, t) => acc + w[t]!, 0);
  const predicted = predictStage(stage.fit!, z);
  const pos = new Map(stage.fit!.tasks.map((t, i) => [t, i]));
  const value = (t: number): number => (isGood(pick.values, ctx.objectives.length) ? pick.values[t]! : predicted[pos.get(t)!]!);
  const score = tasks.reduce((acc, t) => acc + (sw > 0 ? w[t]! / sw : 1 / tasks.length) * signed(ctx.objectives[t]!, value(t)), 0);
  const merged: Group = { tasks, weights: [...weights[0]!.map((v) => v * z[0]!), ...weights[1]!.map((v) => v * z[1]!)], score };
  state.merges.push({ groups, z, x: pick.x, r2: stage.fit!.r2 });
  state.groups = [...state.groups.filter((g) => !sameTasks(g.tasks, groups[0]!) && !sameTasks(g.tasks, groups[1]!)), merged];
}

function sameTasks(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

function clone(state: MapState): MapState {
  return structuredClone(state);
}

// ---------------------------------------------------------------------------------------------
// The optimizer

const map: Optimizer<MapState> = {
  name: 'map',
  family: 'black-box',
  multiObjective: true,
  description:
    'MAP (Li et al.): evaluate a sampling plan (one-hot, isotropic and grid points), fit a quadratic surrogate per objective through a sigmoid/softplus link, run NSGA-II on the surrogates for an amortised Pareto front, evaluate points along it and pick one by a preference vector. Optional Bayesian rounds and nested pairwise merging.',
  settings: SETTINGS,

  check(ctx) {
    const s = settings(ctx);
    const m = ctx.objectives.length;
    const problem = preferenceProblem(s.preference, m);
    if (problem) return `map: ${problem}`;
    if (s.radius.length !== 2 || !(s.radius[0]! >= 0 && s.radius[0]! < s.radius[1]!)) return `map: bayesian_radius must be [min, max] with 0 ≤ min < max, got ${JSON.stringify(s.radius)}`;
    if (s.nested) {
      if (ctx.dim !== m) return `map: nested MAP needs one coefficient per objective (expert i ↔ objective i); the space has ${ctx.dim} coefficients and ${m} objectives (use task granularity with one weight per expert)`;
      if (ctx.dim < 2) return 'map: nested MAP needs at least 2 experts';
      const bad = ctx.low.findIndex((lo, i) => lo > 0 || ctx.high[i]! < 0);
      if (bad >= 0) return `map: nested MAP leaves experts out with coefficient 0, but ${ctx.names[bad] ?? `coefficient ${bad}`} has bounds [${ctx.low[bad]}, ${ctx.high[bad]}]`;
    }
    const dim = s.nested ? 2 : ctx.dim;
    const terms = quadraticTerms(dim);
    if (s.planPoints > 0 && s.planPoints < terms) return `map: plan_points ${s.planPoints} is fewer than the ${terms} coefficients of a quadratic in ${dim} variables; use at least ${terms} (default ${defaultPlanSize(dim)})`;
    try {
      planCounts(dim, planSizeFor(dim, s), s.isotropicFraction);
    } catch (e) {
      return `map: ${(e as Error).message}`;
    }
    const need = trialsNeeded(ctx, s);
    if (need.total > ctx.budget) return `map: needs ${need.total} trials (${need.parts}) but the study's budget is ${ctx.budget}; raise the budget or lower plan_points / front_points${s.bayesian ? ' / the Bayesian rounds' : ''}`;
    return undefined;
  },

  init(ctx) {
    const s = settings(ctx);
    const rng = new Rng(rngState(ctx.seed, 0x3a9));
    const state: MapState = { version: 1, phase: 'stage', rng: 0, solo: [], soloNext: 0, groups: [], stage: null, merges: [], error: null };
    if (s.nested) {
      state.phase = 'solo';
      for (let i = 0; i < ctx.dim; i++) {
        const x = clampToBounds(
          ctx.low.map((_, j) => (j === i ? 1 : 0)),
          ctx,
        );
        state.solo.push({ z: x, x, kind: 'expert', round: 0, told: false, values: null });
      }
    } else {
      state.stage = newStage(ctx, s, rng, null, null, true);
    }
    state.rng = rng.state;
    return state;
  },

  ask(state, ctx): AskResult<MapState> {
    if (state.phase === 'done') return { kind: 'done' };
    const next = clone(state);
    if (next.phase === 'solo') {
      if (next.soloNext >= next.solo.length) return { kind: 'wait' };
      const i = next.soloNext++;
      return { kind: 'propose', state: next, proposal: { x: [...next.solo[i]!.x], tag: { map: 'expert', index: i } } };
    }
    const stage = next.stage!;
    const stageNo = next.merges.length;
    if (!stage.front) {
      if (stage.next >= stage.samples.length) return { kind: 'wait' };
      const i = stage.next++;
      const p = stage.samples[i]!;
      return { kind: 'propose', state: next, proposal: { x: [...p.x], tag: { map: p.round > 0 ? 'bayesian' : 'plan', stage: stageNo, index: i, kind: p.kind, round: p.round } } };
    }
    if (stage.asked >= stage.queue.length) return stage.evals.some((e) => !e.told) ? { kind: 'wait' } : { kind: 'done' };
    const k = stage.asked++;
    const fi = stage.queue[k]!;
    const proposal: Proposal = { x: [...stage.front.x[fi]!], tag: { map: 'front', stage: stageNo, index: k, front_index: fi, chosen: fi === stage.choice } };
    if (stage.fit && stage.fit.tasks.length === ctx.objectives.length) proposal.predicted = [...stage.front.predicted[fi]!];
    return { kind: 'propose', state: next, proposal };
  },

  tell(state, ctx, proposal, values) {
    const tag = proposal.tag as { map?: string; stage?: number; index?: number } | undefined;
    if (!tag || typeof tag !== 'object' || typeof tag.index !== 'number') return state;
    const next = clone(state);
    // A failed trial (null, or any NaN/Inf) is kept as null: NaN would not survive the JSON state.
    const v = isGood(values, ctx.objectives.length) ? [...values] : null;
    if (tag.map === 'expert') {
      const p = next.solo[tag.index];
      if (!p || p.told || next.phase !== 'solo') return state;
      p.told = true;
      p.values = v;
    } else {
      const stage = next.stage;
      if (!stage || next.phase !== 'stage' || tag.stage !== next.merges.length) return state;
      if (tag.map === 'front') {
        const e = stage.evals[tag.index];
        if (!e || e.told) return state;
        e.told = true;
        e.values = v;
      } else {
        const p = stage.samples[tag.index];
        if (!p || p.told || stage.front) return state;
        p.told = true;
        p.values = v;
      }
    }
    advance(next, ctx);
    return next;
  },

  attributes(state, ctx) {
    const out: Record<string, Json> = {};
    if (state.error) out.map_error = state.error;
    const stage = state.stage;
    if (state.merges.length > 0 || state.groups.length > 0) out.map_nested = { merges: state.merges, groups: state.groups.map((g) => ({ tasks: g.tasks, weights: g.weights, score: g.score })) };
    if (!stage?.fit) return out;
    const fit = stage.fit;
    out.map_fit = { r2: fit.r2, rmse: fit.rmse, link: fit.models.map((m) => m.link), tasks: fit.tasks, points: fit.points, stage: state.merges.length };
    if (!stage.front || fit.tasks.length !== ctx.objectives.length) return out;
    out.map_front = { x: stage.front.x, predicted: stage.front.predicted };
    if (stage.choice >= 0) {
      const s = settings(ctx);
      out.map_choice = { x: stage.front.x[stage.choice]!, predicted: stage.front.predicted[stage.choice]!, preference: stage.groups ? stageObjectives(ctx, s, stage).preference : normalizePreference(s.preference, ctx.objectives.length), index: stage.choice };
    }
    const told = stage.evals.filter((e) => e.told);
    if (told.length > 0) {
      out.map_front_evaluated = {
        x: told.map((e) => e.x),
        predicted: told.map((e) => stage.front!.predicted[stage.queue[stage.evals.indexOf(e)]!]!),
        values: told.map((e) => e.values),
      };
    }
    return out;
  },
};

export default map;
