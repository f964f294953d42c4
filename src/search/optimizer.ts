// The contract every optimizer meets. Optimizers are pure functions over a JSON-serialisable
// state: `ask` proposes the next point, `tell` takes its objective values. The trial loop stores
// the state in the study after every ask and tell, so a killed search resumes from the database
// and proposes exactly what an uninterrupted run would (state includes the random stream).
//
// Black-box optimizers (random, grid, cmaes, nsga2, map) only see values. Gradient optimizers
// (adamerging, frank-wolfe) also get `ctx.gradient`: their `ask` runs some gradient steps and
// proposes the coefficients reached, with the per-step losses as intermediate values.
import type { Direction } from '../../evaluators/index.ts';

/** A JSON value (what optimizer state and tags must be made of). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ObjectiveInfo {
  name: string;
  direction: Direction;
}

/** What an optimizer is told about the problem; fixed for a study. */
export interface OptimizerContext {
  /** Length of the coefficient vector. */
  dim: number;
  /** Inclusive bounds per coordinate (low[i] < high[i]). */
  low: number[];
  high: number[];
  /** The search space's starting point (e.g. weight 1/N, or the method's default), within bounds. */
  init: number[];
  /** Names of the coordinates (e.g. `weight[ties-expert-2][layer 3]`), for messages and reports. */
  names: string[];
  objectives: ObjectiveInfo[];
  seed: number;
  /** Trials the study may run in total (the optimizer may finish earlier by answering `done`). */
  budget: number;
  /** The optimizer's own settings from the study config, already validated against `settings`. */
  settings: Record<string, Json>;
  /** Present for gradient optimizers only. */
  gradient?: GradientProblem;
}

export interface Proposal {
  x: number[];
  /** The optimizer's bookkeeping for this point (generation, index in population, ...). */
  tag?: Json;
  /** Per gradient step (or per fidelity): stored as the trial's intermediate values. */
  intermediate?: Array<{ step: number; value: number }>;
  /** Objective values the optimizer predicts for this point (MAP's surrogates), in objective order. */
  predicted?: number[];
}

export type AskResult<S> =
  | { kind: 'propose'; state: S; proposal: Proposal }
  /** Nothing to propose until pending trials are told (several workers on one generation). */
  | { kind: 'wait' }
  /** The optimizer has nothing more to propose (grid exhausted, gradient steps spent). */
  | { kind: 'done' };

export type SettingKind = 'number' | 'integer' | 'boolean' | 'string' | 'number[]';

export interface SettingDef {
  name: string;
  kind: SettingKind;
  default: Json;
  /** Inclusive range for numbers and integers. */
  min?: number;
  max?: number;
  choices?: readonly string[];
  doc: string;
}

/**
 * The one way optimizers read their settings: the study's value (resolveSettings has checked it
 * and filled the defaults), else the optimizer's declared default (contexts built by hand).
 */
export function setting<T extends Json>(o: Pick<Optimizer, 'settings' | 'name'>, ctx: Pick<OptimizerContext, 'settings'>, name: string): T {
  const v = ctx.settings[name];
  if (v !== undefined && v !== null) return v as T;
  const def = o.settings.find((d) => d.name === name);
  if (!def) throw new Error(`${o.name} has no setting ${name}`);
  return def.default as T;
}

export interface Optimizer<S extends Json = Json> {
  readonly name: string;
  readonly family: 'black-box' | 'gradient';
  /** Uses every objective as such (nsga2, map); the others minimise `scalarize(values)`. */
  readonly multiObjective: boolean;
  readonly description: string;
  readonly settings: readonly SettingDef[];
  /** Extra checks on the context (e.g. grid size vs budget); a message on failure. */
  check?(ctx: OptimizerContext): string | undefined;
  init(ctx: OptimizerContext): S;
  ask(state: S, ctx: OptimizerContext): AskResult<S>;
  /** `values` is null when the trial failed (NaN/Inf, evaluator error): rank it worst. */
  tell(state: S, ctx: OptimizerContext, proposal: Proposal, values: number[] | null): S;
  /** Study-level results to store (MAP's predicted front), read after each tell. */
  attributes?(state: S, ctx: OptimizerContext): Record<string, Json>;
}

/**
 * One number to minimise from several objectives: the mean of the values, each negated when it is
 * maximised. Failed trials (null or any non-finite value) score +Infinity.
 */
export function scalarize(values: number[] | null, objectives: readonly ObjectiveInfo[]): number {
  if (values === null || values.length !== objectives.length || values.some((v) => !Number.isFinite(v))) return Infinity;
  let s = 0;
  objectives.forEach((o, i) => (s += o.direction === 'maximize' ? -values[i]! : values[i]!));
  return s / objectives.length;
}

/** Values turned into "smaller is better" per objective (for Pareto sorting); failed → +Infinity each. */
export function toMinimization(values: number[] | null, objectives: readonly ObjectiveInfo[]): number[] {
  if (values === null || values.length !== objectives.length || values.some((v) => !Number.isFinite(v))) return objectives.map(() => Infinity);
  return values.map((v, i) => (objectives[i]!.direction === 'maximize' ? -v : v));
}

export function clampToBounds(x: readonly number[], ctx: Pick<OptimizerContext, 'low' | 'high'>): number[] {
  return x.map((v, i) => Math.min(ctx.high[i]!, Math.max(ctx.low[i]!, v)));
}

/**
 * What gradient optimizers need from the problem: a differentiable candidate built from the
 * coefficient vector x (the search space's layout, `weight` per model and unit), with losses on
 * calibration data. Implemented for in-memory zoos by `src/search/differentiable-zoo.ts`.
 */
/** Variants of AdaMerging's objective (see experiments/mnist8/ADAMERGING.md for why they exist). */
export interface UnsupervisedLossOptions {
  /**
   * Rescale a cosine head's logits to this scale for the loss (CLIP's is 100); 0 or absent keeps
   * the model's own scale.
   */
  logitScale?: number;
  /** Use the calibration labels: cross-entropy instead of entropy (supervised AdaMerging). */
  labels?: boolean;
}

export interface GradientProblem {
  /** Number of input models (experts), and the tasks (each scored through its own head). */
  readonly models: number;
  readonly tasks: string[];
  /** Units of the searched `weight` (1 for task granularity, one per tensor for tensor granularity). */
  readonly units: number;
  /** Index in x of model m's weight for unit u. */
  coordinate(model: number, unit: number): number;
  /**
   * The x whose candidate is model m's own (processed) weights, θ₀ + τ̃ₘ: Frank-Wolfe's vertex.
   * 1/lambda at m's coordinates and 0 elsewhere (the one-hot eₘ when lambda is 1).
   */
  vertex(model: number): number[];
  /**
   * Sum over tasks of the mean prediction entropy of `batch` unlabelled calibration inputs per task
   * (drawn from `sampleSeed`: the same seed gives the same samples), and its gradient with respect to x.
   */
  entropyAndGrad(x: number[], batch: number, sampleSeed: number, options?: UnsupervisedLossOptions): { loss: number; grad: number[] };
  /**
   * Frank-Wolfe's linear minimisation oracle: `loss` is the labelled cross-entropy at the candidate
   * built from x (mean over the tasks), and `cosine[u][c]` the sum over unit u's tensors of the
   * cosine between that loss's gradient (with respect to the merged weights) and candidate c's
   * weights (or task vector), each candidate given as a coefficient vector in x's layout.
   */
  alignment(x: number[], options: AlignmentOptions): { loss: number; cosine: number[][] };
}

export interface AlignmentOptions {
  /** Candidate points in x's layout (e.g. `vertex(m)` for model m, or the starting point). */
  candidates: number[][];
  /** Labelled samples per task, drawn from `sampleSeed`. */
  samples: number;
  sampleSeed: number;
  /** Compare the gradient with each candidate's full weights (the reference) or its task vector. */
  against: 'weights' | 'task_vector';
  /** Task indices whose loss is used (default all): FW-Soft asks one task at a time. */
  tasks?: number[];
}
