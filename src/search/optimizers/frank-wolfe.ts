// Frank-Wolfe merging (FW-Hard and FW-Soft): the fine-tuned checkpoints are the vertices of the
// constraint set; each iteration asks a linear oracle which checkpoint the labelled loss's gradient
// points toward, and moves the merge there.
//
// What the reference does (hmarkc/FW-Merging → hmarkc/fusion_bench, fusion_bench/method/fw_merging/):
//   FW-Hard (fw_hard.py, config fw_merging/task_arithmetic.yaml: max_iters 10, step_size 0.1,
//   scaling_factor 0.3, dataset_size 100, loss cross_entropy, granularity task):
//     start: task arithmetic of all models with scaling 0.3 (or the base, or given layer weights);
//       that starting merge is added to the candidates as 'initial';
//     each iteration t = 0, 1, ...: ∇ = gradient of the labelled cross-entropy w.r.t. the merged
//       weights (dataset_size fresh training samples per task, loss averaged over samples and
//       models); pick the candidate m minimising Σ over parameter tensors of cosine(∇, θₘ) — θₘ the
//       candidate's full weights, not its task vector — per model ('task') or per tensor ('layer');
//       then θ ← θ + γ·(θₘ − θ) with γ = scaling_factor · step_size · 2/(t+2) (task_arithmetic_merge
//       of the current merge with the picked model).
//   FW-Soft (fw_adamerging.py, config fw_merging/adamerging.yaml: max_iters 10, dataset_size 100,
//   ada_iters 500, ada_coeff 1e-8, Adam lr 1e-3): starts from the base model; each iteration,
//     for each task in turn, the gradient of that task's cross-entropy picks the least-aligned
//     model not yet picked this iteration (until as many picks as models); then layer-wise
//     AdaMerging (entropy, batch 16 unlabelled samples per task, summed over tasks, Adam lr 1e-3,
//     ada_iters steps, weights initialised 0.3 in the first iteration and ada_coeff after, no clamp)
//     over the picked models *relative to the current merge*: θ ← θ + Σⱼ wⱼ (θ_{mⱼ} − θ).
//     (A later fw_soft.py variant uses the labelled cross-entropy in that inner loop; the shipped
//     config points at the entropy one.)
//
// Here the iterate is kept as coefficients over task vectors, θ = θ₀ + lambda·Σₖ cₖ τ̃ₖ per unit of
// the space's granularity (task: one pick for the whole network; layer/tensor: one pick per unit).
// Moving toward model m's weights θₘ = θ₀ + τ̃ₘ (the problem's vertex vₘ) is then exactly
// c ← (1−γ)c + γ vₘ (vₘ = eₘ for lambda 1), and FW-Soft's inner weights act as
// c ← c + Σⱼ wⱼ (v_{mⱼ} − c), whose entropy gradient follows from the problem's by the chain rule.
// Each `ask` is one iteration and proposes the coefficients reached; its intermediate value is the
// labelled loss there (computed with the next iteration's samples, so the gradient is reused).
//
// Deviations: the candidates' cosines use the merged backbone only (heads are not merged); FW-Soft's
// inner coefficients are clamped into the space's bounds in the forward pass (zero gradient where
// clamped, like AdaMerging's reference), so every proposal is in bounds. The step schedule is the
// reference's fixed one, without line search: the labelled loss is not guaranteed to decrease at
// every iteration (the oracle ranks cosines with full weights rather than ⟨∇, θₘ − θ⟩, and the
// samples change every iteration); the steps are small (γ₀ = 0.03), so it mostly does.
import type { Json, Optimizer, OptimizerContext } from '../optimizer.ts';
import { adamStep, gradientOf, noGradientMessage, sampleSeed } from './gradient-steps.ts';

interface Oracle {
  [key: string]: Json;
  loss: number;
  cosine: number[][];
}

interface FrankWolfeState {
  [key: string]: Json;
  x: number[];
  /** The starting point (FW-Hard's 'initial' candidate). */
  start: number[];
  iteration: number;
  seed: number;
  /** The oracle at x for the next iteration (one entry for hard, one per task for soft), once known. */
  oracles: Oracle[] | null;
}

const VARIANTS = ['hard', 'soft'] as const;
type Variant = (typeof VARIANTS)[number];

function setting<T extends Json>(ctx: OptimizerContext, key: string): T {
  return ctx.settings[key] as T;
}

/** Index of the smallest value not excluded (ties: the lowest index), or -1. */
function argmin(values: readonly number[], excluded: ReadonlySet<number> = new Set()): number {
  let best = -1;
  values.forEach((v, i) => {
    if (!excluded.has(i) && (best < 0 || v < values[best]!)) best = i;
  });
  return best;
}

const frankWolfe: Optimizer<FrankWolfeState> = {
  name: 'frank-wolfe',
  family: 'gradient',
  multiObjective: false,
  description:
    'Frank-Wolfe merging: each iteration, the labelled loss’s gradient picks the checkpoint it is least aligned with (per model or per unit) and the merge moves toward it (hard: a fixed step; soft: a short AdaMerging over the picked models).',
  settings: [
    { name: 'variant', kind: 'string', default: 'hard', choices: VARIANTS, doc: 'hard: step toward the picked checkpoint (FW-Hard); soft: AdaMerging among the picked checkpoints each iteration (FW-Soft).' },
    { name: 'iterations', kind: 'integer', default: 10, min: 1, doc: 'Frank-Wolfe iterations, one trial each (the reference: 10).' },
    { name: 'step_size', kind: 'number', default: 0.1, min: 0, doc: 'FW-Hard: step scale; iteration t moves γ = scaling_factor · step_size · 2/(t+2) of the way (the reference: 0.1).' },
    { name: 'scaling_factor', kind: 'number', default: 0.3, min: 0, doc: 'FW-Hard: λ multiplying the step (the reference: 0.3, also its starting task-arithmetic scale).' },
    { name: 'samples', kind: 'integer', default: 100, min: 1, doc: 'Labelled calibration samples per task for each gradient (the reference: 100).' },
    { name: 'against', kind: 'string', default: 'weights', choices: ['weights', 'task_vector'], doc: 'Compare the gradient with each checkpoint’s full weights (the reference) or with its task vector.' },
    {
      name: 'start',
      kind: 'string',
      default: 'auto',
      choices: ['auto', 'init', 'base'],
      doc: 'Starting point: the space’s init (put init 0.3 there for the reference’s task arithmetic λ 0.3), or the base model (weights 0). auto: init for hard, base for soft, as the reference.',
    },
    { name: 'include_initial', kind: 'boolean', default: true, doc: 'FW-Hard: the starting merge is a candidate too (the reference’s "initial").' },
    { name: 'ada_steps', kind: 'integer', default: 500, min: 1, doc: 'FW-Soft: AdaMerging steps per iteration (the reference: 500).' },
    { name: 'ada_lr', kind: 'number', default: 1e-3, min: 0, doc: 'FW-Soft: Adam learning rate of the inner AdaMerging (the reference: 1e-3).' },
    { name: 'ada_batch', kind: 'integer', default: 16, min: 1, doc: 'FW-Soft: unlabelled samples per task per inner step (the reference: 16).' },
    { name: 'ada_init', kind: 'number', default: 0.3, doc: 'FW-Soft: inner weights’ start in the first iteration (the reference: 0.3).' },
    { name: 'ada_coeff', kind: 'number', default: 1e-8, doc: 'FW-Soft: inner weights’ start in later iterations (the reference: 1e-8).' },
  ],

  check(ctx) {
    if (!ctx.gradient) return noGradientMessage('frank-wolfe');
    const p = ctx.gradient;
    for (let m = 0; m < p.models; m++) {
      const v = p.vertex(m);
      const out = v.findIndex((vi, i) => vi < ctx.low[i]! || vi > ctx.high[i]!);
      if (out >= 0) {
        return `frank-wolfe moves toward each model's own weights, which is ${ctx.names[out]} = ${v[out]} (0 for the other models); widen the bounds of space.parameters.weight to contain 0 and ${v[out]}`;
      }
    }
    return undefined;
  },

  init(ctx) {
    const variant = setting<Variant>(ctx, 'variant');
    const start = setting<string>(ctx, 'start');
    const base = start === 'base' || (start === 'auto' && variant === 'soft');
    const x = (base ? ctx.init.map(() => 0) : [...ctx.init]).map((v, i) => Math.min(ctx.high[i]!, Math.max(ctx.low[i]!, v)));
    return { x, start: [...x], iteration: 0, seed: ctx.seed, oracles: null };
  },

  ask(state, ctx) {
    if (state.iteration >= setting<number>(ctx, 'iterations')) return { kind: 'done' };
    return setting<Variant>(ctx, 'variant') === 'soft' ? softIteration(state, ctx) : hardIteration(state, ctx);
  },

  // The iterates follow the labelled loss's gradient; the trials' scores do not steer them.
  tell(state) {
    return state;
  },
};

export default frankWolfe;

/** The oracle's samples for iteration t (fresh every iteration, as the reference's infinite loader). */
const oracleSeed = (seed: number, t: number) => sampleSeed(seed, t);
/** FW-Soft's inner step s of iteration t. */
const innerSeed = (seed: number, t: number, s: number) => sampleSeed(sampleSeed(seed, 1_000_000 + t), s);

function hardCandidates(state: FrankWolfeState, ctx: OptimizerContext): number[][] {
  const p = gradientOf(ctx, 'frank-wolfe');
  const c = Array.from({ length: p.models }, (_, m) => p.vertex(m));
  if (setting<boolean>(ctx, 'include_initial')) c.push(state.start);
  return c;
}

function hardOracle(x: number[], t: number, state: FrankWolfeState, ctx: OptimizerContext): Oracle {
  return gradientOf(ctx, 'frank-wolfe').alignment(x, {
    candidates: hardCandidates(state, ctx),
    samples: setting<number>(ctx, 'samples'),
    sampleSeed: oracleSeed(state.seed, t),
    against: setting<'weights' | 'task_vector'>(ctx, 'against'),
  });
}

function hardIteration(state: FrankWolfeState, ctx: OptimizerContext) {
  const p = gradientOf(ctx, 'frank-wolfe');
  const t = state.iteration;
  const oracle = state.oracles?.[0] ?? hardOracle(state.x, t, state, ctx);
  const candidates = hardCandidates(state, ctx);
  const gamma = setting<number>(ctx, 'scaling_factor') * setting<number>(ctx, 'step_size') * (2 / (t + 2));
  const picks = oracle.cosine.map((row) => argmin(row));
  const x = [...state.x];
  picks.forEach((c, u) => {
    for (let k = 0; k < p.models; k++) {
      const i = p.coordinate(k, u);
      x[i] = (1 - gamma) * state.x[i]! + gamma * candidates[c]![i]!;
    }
  });
  const next = hardOracle(x, t + 1, state, ctx);
  const newState: FrankWolfeState = { ...state, x, iteration: t + 1, oracles: [next] };
  return {
    kind: 'propose' as const,
    state: newState,
    proposal: { x: [...x], tag: { iteration: t + 1, gamma, picks }, intermediate: [{ step: t + 1, value: next.loss }] },
  };
}

function softOracles(x: number[], t: number, state: FrankWolfeState, ctx: OptimizerContext): Oracle[] {
  const p = gradientOf(ctx, 'frank-wolfe');
  const candidates = Array.from({ length: p.models }, (_, m) => p.vertex(m));
  return p.tasks.map((_, j) =>
    p.alignment(x, {
      candidates,
      samples: setting<number>(ctx, 'samples'),
      sampleSeed: oracleSeed(state.seed, t),
      against: setting<'weights' | 'task_vector'>(ctx, 'against'),
      tasks: [j],
    }),
  );
}

function softIteration(state: FrankWolfeState, ctx: OptimizerContext) {
  const p = gradientOf(ctx, 'frank-wolfe');
  const t = state.iteration;
  const oracles = state.oracles ?? softOracles(state.x, t, state, ctx);
  const vertices = Array.from({ length: p.models }, (_, m) => p.vertex(m));

  // Each task, in order, picks per unit the least-aligned model not yet picked there this iteration.
  const picks: number[][] = []; // [pick j][unit u] → model
  const taken = Array.from({ length: p.units }, () => new Set<number>());
  for (const oracle of oracles) {
    if (picks.length >= p.models) break;
    picks.push(oracle.cosine.map((row, u) => {
      const m = argmin(row, taken[u]);
      taken[u]!.add(m);
      return m;
    }));
  }

  // Inner AdaMerging over w[j][u]: x(w) = clamp(c + Σⱼ wⱼᵤ (v_{picks[j][u]} − c)) per unit.
  const c = state.x;
  const J = picks.length;
  const wIndex = (j: number, u: number) => j * p.units + u;
  const w0 = t === 0 ? setting<number>(ctx, 'ada_init') : setting<number>(ctx, 'ada_coeff');
  let w = new Array<number>(J * p.units).fill(w0);
  let m = w.map(() => 0);
  let v = w.map(() => 0);
  const noLow = w.map(() => -Infinity);
  const noHigh = w.map(() => Infinity);
  const direction = (j: number, u: number, k: number) => vertices[picks[j]![u]!]![p.coordinate(k, u)]! - c[p.coordinate(k, u)]!;
  const compose = (weights: number[]): { x: number[]; free: boolean[] } => {
    const raw = [...c];
    for (let u = 0; u < p.units; u++) {
      for (let k = 0; k < p.models; k++) {
        const i = p.coordinate(k, u);
        for (let j = 0; j < J; j++) raw[i]! += weights[wIndex(j, u)]! * direction(j, u, k);
      }
    }
    const x = raw.map((r, i) => Math.min(ctx.high[i]!, Math.max(ctx.low[i]!, r)));
    return { x, free: raw.map((r, i) => r >= ctx.low[i]! && r <= ctx.high[i]!) };
  };
  const steps = setting<number>(ctx, 'ada_steps');
  const lr = setting<number>(ctx, 'ada_lr');
  const batch = setting<number>(ctx, 'ada_batch');
  for (let s = 0; s < steps; s++) {
    const { x, free } = compose(w);
    const { grad } = p.entropyAndGrad(x, batch, innerSeed(state.seed, t, s));
    const gw = w.map(() => 0);
    for (let u = 0; u < p.units; u++) {
      for (let k = 0; k < p.models; k++) {
        const i = p.coordinate(k, u);
        if (!free[i]) continue;
        for (let j = 0; j < J; j++) gw[wIndex(j, u)]! += grad[i]! * direction(j, u, k);
      }
    }
    ({ x: w, m, v } = adamStep(w, gw, m, v, s + 1, lr, noLow, noHigh));
  }
  const x = compose(w).x;

  const next = softOracles(x, t + 1, state, ctx);
  const loss = next.reduce((a, o) => a + o.loss, 0) / next.length;
  const newState: FrankWolfeState = { ...state, x, iteration: t + 1, oracles: next };
  return {
    kind: 'propose' as const,
    state: newState,
    proposal: { x: [...x], tag: { iteration: t + 1, picks }, intermediate: [{ step: t + 1, value: loss }] },
  };
}
