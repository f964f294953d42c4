// MAP: the sampling plan, the quadratic surrogates, the preference pick, and the optimizer run end to
// end through ask/tell on synthetic problems whose Pareto fronts are known in closed form.
import { describe, expect, it } from 'vitest';
import { defaultPlanSize, planCounts, samplingPlan } from '../src/search/map/sampling-plan.ts';
import { fitQuadratic, predict, quadraticFeatures, ridgeLeastSquares, sigmoid, softplus } from '../src/search/map/quadratic.ts';
import { pickByPreference, spreadAlongFront } from '../src/search/map/select.ts';
import { acquire, fromAngles, toAngles } from '../src/search/map/bayesian.ts';
import map, { type MapState } from '../src/search/optimizers/map.ts';
import type { Json, ObjectiveInfo, OptimizerContext, Proposal } from '../src/search/optimizer.ts';
import { Rng, rngState } from '../src/search/rng.ts';

const third = 1 / 3;

describe('sampling plan', () => {
  it('T = 2: 12 points — 2 one-hot, 1 isotropic, 1 disturbed isotropic, the 8 filtered points of the 4-level grid', () => {
    const plan = samplingPlan({ dim: 2, low: [0, 0], high: [1, 1], rng: rngState(7) });
    expect(defaultPlanSize(2)).toBe(12);
    expect(plan).toHaveLength(12);
    expect(plan.map((p) => p.kind)).toEqual(['onehot', 'onehot', 'isotropic', 'isotropic-disturbed', ...new Array(8).fill('grid')]);
    expect(plan[0]!.x).toEqual([1, 0]);
    expect(plan[1]!.x).toEqual([0, 1]);
    const iso = plan[2]!.x;
    expect(iso[0]).toBe(iso[1]);
    expect(iso[0]).toBeGreaterThanOrEqual(0);
    expect(iso[0]).toBeLessThan(1);
    for (const v of plan[3]!.x) expect(v >= 0 && v <= 1).toBe(true);
    // {0, 1/3, 2/3, 1}² minus the one-hots, the sum-to-one points (1/3, 2/3), (2/3, 1/3) and the diagonal.
    const grid = plan.slice(4).map((p) => p.x);
    const want = [
      [0, third],
      [0, 2 * third],
      [third, 0],
      [third, 1],
      [2 * third, 0],
      [2 * third, 1],
      [1, third],
      [1, 2 * third],
    ];
    grid.forEach((x, i) => x.forEach((v, j) => expect(v).toBeCloseTo(want[i]![j]!, 15)));
  });

  it("T = 2 with the reference run_MAP's settings (6 points, no isotropic share) is exactly its design", () => {
    const plan = samplingPlan({ dim: 2, low: [0, 0], high: [1, 1], total: 6, isotropicFraction: 0, rng: rngState(1) });
    expect(plan.map((p) => p.x)).toEqual([
      [1, 0],
      [0, 1],
      [0, 0.5],
      [0.5, 0],
      [0.5, 1],
      [1, 0.5],
    ]);
  });

  it('maps the unit design onto the study box', () => {
    const plan = samplingPlan({ dim: 2, low: [-1, 0], high: [1, 2], total: 6, isotropicFraction: 0, rng: rngState(1) });
    expect(plan.map((p) => p.x)).toEqual([
      [1, 0],
      [-1, 2],
      [-1, 1],
      [0, 0],
      [0, 2],
      [1, 1],
    ]);
  });

  it('T = 3: 20 points — 3 one-hot, 2 + 1 isotropic, 14 distinct filtered grid points, deterministic per seed', () => {
    expect(planCounts(3, 20)).toEqual({ onehot: 3, isotropic: 2, 'isotropic-disturbed': 1, grid: 14 });
    const plan = samplingPlan({ dim: 3, low: [0, 0, 0], high: [1, 1, 1], rng: rngState(3) });
    expect(plan).toHaveLength(20);
    expect(plan.slice(0, 3).map((p) => p.x)).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    const iso = plan.filter((p) => p.kind === 'isotropic');
    expect(iso).toHaveLength(2);
    for (const p of iso) expect(new Set(p.x).size).toBe(1);
    // Stratified: one level in [0, 1/2), one in [1/2, 1).
    expect(iso[0]!.x[0]).toBeLessThan(0.5);
    expect(iso[1]!.x[0]).toBeGreaterThanOrEqual(0.5);
    const grid = plan.filter((p) => p.kind === 'grid');
    expect(grid).toHaveLength(14);
    const keys = new Set<string>();
    for (const p of grid) {
      const idx = p.x.map((v) => Math.round(v * 3));
      p.x.forEach((v, j) => expect(v).toBeCloseTo(idx[j]! / 3, 15));
      expect(idx.reduce((a, b) => a + b, 0)).not.toBe(3); // not on the simplex (covers one-hots)
      expect(new Set(idx).size).toBeGreaterThan(1); // not isotropic
      keys.add(idx.join(','));
    }
    expect(keys.size).toBe(14);
    // 64 lattice points − 3 one-hot − 6 others summing to 1 − 4 diagonal = 51 to choose from.
    const again = samplingPlan({ dim: 3, low: [0, 0, 0], high: [1, 1, 1], rng: rngState(3) });
    expect(again).toEqual(plan);
    const other = samplingPlan({ dim: 3, low: [0, 0, 0], high: [1, 1, 1], rng: rngState(4) });
    expect(other.filter((p) => p.kind === 'grid')).not.toEqual(grid);
  });

  it('large T samples the grid without enumerating it', () => {
    const plan = samplingPlan({ dim: 24, low: new Array(24).fill(0), high: new Array(24).fill(1), rng: rngState(5) });
    expect(plan).toHaveLength(25 * 26);
    const keys = new Set(plan.filter((p) => p.kind === 'grid').map((p) => p.x.join(',')));
    expect(keys.size).toBe(plan.filter((p) => p.kind === 'grid').length);
  });
});

/** A random quadratic's coefficients for `dim` variables. */
function randomCoef(dim: number, seed: number, scale = 1): number[] {
  const rng = new Rng(rngState(seed));
  return quadraticFeatures(new Array(dim).fill(0)).map(() => scale * (2 * rng.uniform() - 1));
}

function q(coef: readonly number[], c: readonly number[]): number {
  return quadraticFeatures(c).reduce((s, f, k) => s + f * coef[k]!, 0);
}

describe('quadratic surrogate', () => {
  it('recovers a known quadratic exactly through the identity link (T = 2 and 3)', () => {
    for (const dim of [2, 3]) {
      const coef = randomCoef(dim, 11 + dim, 3);
      const xs = samplingPlan({ dim, low: new Array(dim).fill(0), high: new Array(dim).fill(1), rng: rngState(dim) }).map((p) => p.x);
      const fit = fitQuadratic(xs, xs.map((x) => q(coef, x)), 'identity');
      const err = Math.max(...fit.model.coef.map((b, k) => Math.abs(b - coef[k]!)));
      expect(err).toBeLessThan(1e-8);
      expect(fit.r2).toBeCloseTo(1, 12);
      expect(fit.residuals).toHaveLength(xs.length);
    }
  });

  it('recovers q from sigmoid(q(c)) through the sigmoid link, with and without the output-space refinement', () => {
    const dim = 3;
    const coef = randomCoef(dim, 5, 2);
    const xs = samplingPlan({ dim, low: [0, 0, 0], high: [1, 1, 1], rng: rngState(9) }).map((p) => p.x);
    const ys = xs.map((x) => sigmoid(q(coef, x)));
    for (const refine of [false, true]) {
      const fit = fitQuadratic(xs, ys, 'sigmoid', { refine });
      const err = Math.max(...fit.model.coef.map((b, k) => Math.abs(b - coef[k]!)));
      expect(err).toBeLessThan(1e-6);
      expect(predict(fit.model, [0.3, 0.6, 0.1])).toBeCloseTo(sigmoid(q(coef, [0.3, 0.6, 0.1])), 10);
    }
  });

  it('recovers q from softplus(q(c)) through the softplus link', () => {
    const coef = randomCoef(2, 8, 2);
    const xs = samplingPlan({ dim: 2, low: [-1, -1], high: [1, 1], rng: rngState(2) }).map((p) => p.x);
    const fit = fitQuadratic(xs, xs.map((x) => softplus(q(coef, x))), 'softplus');
    expect(Math.max(...fit.model.coef.map((b, k) => Math.abs(b - coef[k]!)))).toBeLessThan(1e-6);
  });

  it('the refinement lowers the output-space error on noisy data (the reference fits that error)', () => {
    const coef = randomCoef(2, 21, 2);
    const rng = new Rng(rngState(4));
    const xs = samplingPlan({ dim: 2, low: [0, 0], high: [1, 1], rng: rngState(6) }).map((p) => p.x);
    const ys = xs.map((x) => Math.min(1, Math.max(0, sigmoid(q(coef, x)) + 0.05 * rng.normal())));
    const plain = fitQuadratic(xs, ys, 'sigmoid', { refine: false });
    const refined = fitQuadratic(xs, ys, 'sigmoid', { refine: true });
    expect(refined.rmse).toBeLessThanOrEqual(plain.rmse);
    expect(refined.r2).toBeLessThan(1);
    expect(refined.r2).toBeGreaterThan(0.5);
  });

  it('stays finite with fewer points than coefficients (the ridge)', () => {
    const b = ridgeLeastSquares(
      [
        [1, 0.5, 0.25],
        [1, 0.5, 0.25],
      ],
      [1, 1],
    );
    expect(b.every(Number.isFinite)).toBe(true);
    expect(b[0]! + 0.5 * b[1]! + 0.25 * b[2]!).toBeCloseTo(1, 8);
  });
});

const acc2: ObjectiveInfo[] = [
  { name: 'acc_a', direction: 'maximize' },
  { name: 'acc_b', direction: 'maximize' },
];

describe('preference pick', () => {
  const front = [
    [0.9, 0.1],
    [0.7, 0.55],
    [0.5, 0.8],
    [0.1, 0.95],
  ];
  it('maximises the weighted sum of the raw values (the reference rule)', () => {
    expect(pickByPreference(front, acc2, [])).toBe(2); // sums 1.0, 1.25, 1.3, 1.05
    expect(pickByPreference(front, acc2, [3, 1])).toBe(0); // 0.7, 0.6625, 0.575, 0.3125
    expect(pickByPreference(front, acc2, [30, 10])).toBe(0); // scale-free like the reference's L2 norm
    expect(pickByPreference(front, acc2, [1, 3])).toBe(3);
  });
  it('counts minimised objectives negated; minmax rescales per objective first', () => {
    const objs: ObjectiveInfo[] = [
      { name: 'acc', direction: 'maximize' },
      { name: 'loss', direction: 'minimize' },
    ];
    const f = [
      [0.9, 2.0],
      [0.8, 1.0],
      [0.5, 0.2],
    ];
    expect(pickByPreference(f, objs, [1, 1], 'raw')).toBe(2); // −1.1, −0.2, 0.3
    expect(pickByPreference(f, objs, [1, 1], 'minmax')).toBe(1); // 1, 1.31, 1
  });
  it('rejects a preference of the wrong length', () => {
    expect(() => pickByPreference(front, acc2, [1, 2, 3])).toThrow(/3 weights but the study has 2 objectives/);
  });
  it('spreads points along a front: the given ones, the ends, then the farthest', () => {
    const line = Array.from({ length: 11 }, (_, i) => [i / 10, 1 - i / 10]);
    expect(spreadAlongFront(line, acc2, 4, [5])).toEqual([5, 10, 0, 2]); // 2 and 3 tie at 0.2·√2: lower index
    expect(spreadAlongFront([[0.5, 0.5], [0.5, 0.5]], acc2, 3)).toEqual([0]);
  });
});

describe('Bayesian acquisition', () => {
  it('hyperspherical angles round-trip', () => {
    const u = [0.3, 0.5, 0.2];
    const phi = toAngles(u);
    const back = fromAngles(phi, Math.hypot(...u));
    back.forEach((v, i) => expect(v).toBeCloseTo(u[i]!, 12));
  });
  it('draws new points in the bins where the surrogate errs', () => {
    // Errors only near the c₀ axis (angle < π/8): nearly all new points land there.
    const xs = Array.from({ length: 40 }, (_, i) => [Math.cos((i / 39) * (Math.PI / 2)), Math.sin((i / 39) * (Math.PI / 2))]);
    const errors = xs.map((x) => (Math.atan2(x[1]!, x[0]!) < Math.PI / 8 ? 1 : 0.01));
    const pts = acquire({ low: [0, 0], high: [1, 1], xs, errors, count: 50, bins: 4 }, new Rng(rngState(1)));
    const inBin = pts.filter((p) => Math.atan2(p[1]!, p[0]!) < Math.PI / 8).length;
    expect(inBin).toBeGreaterThan(45);
    for (const p of pts) expect(Math.hypot(...p)).toBeGreaterThanOrEqual(0.2 - 1e-12);
  });
});

// ---------------------------------------------------------------------------------------------
// End to end

function context(objectives: ObjectiveInfo[], settings: Record<string, Json> = {}, over: Partial<OptimizerContext> = {}): OptimizerContext {
  const dim = over.dim ?? 2;
  return {
    dim,
    low: new Array(dim).fill(0),
    high: new Array(dim).fill(1),
    init: new Array(dim).fill(0.5),
    names: Array.from({ length: dim }, (_, i) => `c${i}`),
    objectives,
    seed: 42,
    budget: 200,
    settings,
    ...over,
  };
}

type Step = { proposal: Proposal; values: number[] | null };

/** The trial loop, sequential; the state goes through JSON after the asks numbered in `roundTrip`. */
function runLoop(ctx: OptimizerContext, f: (x: number[]) => number[] | null, roundTrip: number[] = []): { state: MapState; trace: Step[] } {
  let state = map.init(ctx);
  const trace: Step[] = [];
  for (let n = 0; n < 1000; n++) {
    if (roundTrip.includes(n)) state = JSON.parse(JSON.stringify(state)) as MapState;
    const r = map.ask(state, ctx);
    if (r.kind === 'done') return { state, trace };
    if (r.kind === 'wait') throw new Error('sequential loop got wait');
    const values = f(r.proposal.x);
    trace.push({ proposal: r.proposal, values });
    state = map.tell(r.state, ctx, r.proposal, values);
  }
  throw new Error('no end');
}

/** Several workers: ask until `wait`, then tell the batch in reverse order. */
function runBatched(ctx: OptimizerContext, f: (x: number[]) => number[] | null): Step[] {
  let state = map.init(ctx);
  const trace: Step[] = [];
  for (;;) {
    const batch: Proposal[] = [];
    for (;;) {
      const r = map.ask(state, ctx);
      if (r.kind === 'done') {
        if (batch.length === 0) return trace;
        break;
      }
      if (r.kind === 'wait') break;
      state = r.state;
      batch.push(r.proposal);
    }
    for (const p of batch) trace.push({ proposal: p, values: f(p.x) });
    for (const p of [...batch].reverse()) state = map.tell(state, ctx, p, f(p.x));
  }
}

// Two accuracies, each a sigmoid of an isotropic quadratic bowl with its own centre: the Pareto set
// is the segment between the centres, so the true front is {(f₁(c(t)), f₂(c(t))) : t ∈ [0, 1]}.
const m1 = [0.9, 0.2];
const m2 = [0.2, 0.8];
const bowl = (m: number[], a: number, b: number) => (c: readonly number[]) => sigmoid(a - b * ((c[0]! - m[0]!) ** 2 + (c[1]! - m[1]!) ** 2));
const f1 = bowl(m1, 2.5, 6);
const f2 = bowl(m2, 2, 4);
const twoAcc = (x: number[]): number[] => [f1(x), f2(x)];
const trueFront = Array.from({ length: 20001 }, (_, i) => {
  const t = i / 20000;
  const c = [m1[0]! + t * (m2[0]! - m1[0]!), m1[1]! + t * (m2[1]! - m1[1]!)];
  return [f1(c), f2(c)];
});
/** Additive ε by which the true front dominates a point (0: on the front). */
function epsilonGap(p: readonly number[]): number {
  let worst = -Infinity;
  for (const t of trueFront) worst = Math.max(worst, Math.min(t[0]! - p[0]!, t[1]! - p[1]!));
  return worst;
}

describe('map optimizer end to end', () => {
  it('check() says how many trials MAP needs', () => {
    expect(map.check!(context(acc2, {}, { budget: 21 }))).toMatch(/needs 22 trials \(plan 12 \+ 10 front points\).*budget is 21/);
    expect(map.check!(context(acc2, { bayesian: true }, { budget: 27 }))).toMatch(/needs 28 trials/);
    expect(map.check!(context(acc2, {}, { budget: 22 }))).toBeUndefined();
    expect(map.check!(context(acc2, { plan_points: 5 }))).toMatch(/fewer than the 6 coefficients/);
    expect(map.check!(context(acc2, { preference: [1] }))).toMatch(/preference has 1 weights/);
  });

  it('finds points on the true front of a two-accuracy problem (sigmoid of quadratics)', () => {
    const ctx = context(acc2);
    const { state, trace } = runLoop(ctx, twoAcc);
    expect(trace).toHaveLength(22);
    const tags = trace.map((s) => (s.proposal.tag as { map: string }).map);
    expect(tags.slice(0, 12).every((t) => t === 'plan')).toBe(true);
    expect(tags.slice(12).every((t) => t === 'front')).toBe(true);
    const attrs = map.attributes!(state, ctx) as Record<string, any>;
    expect(attrs.map_fit.link).toEqual(['sigmoid', 'sigmoid']);
    for (const r2 of attrs.map_fit.r2) expect(r2).toBeGreaterThan(1 - 1e-10);
    expect(attrs.map_front.x.length).toBeGreaterThan(20);
    expect(attrs.map_front.predicted.length).toBe(attrs.map_front.x.length);
    const front = trace.slice(12);
    let maxPredErr = 0;
    const gaps = front.map((s) => epsilonGap(s.values!)).sort((a, b) => a - b);
    for (const s of front) s.proposal.predicted!.forEach((p, i) => (maxPredErr = Math.max(maxPredErr, Math.abs(p - s.values![i]!))));
    const maxGap = gaps[gaps.length - 1]!;
    const medianGap = gaps[gaps.length >> 1]!;
    // The surrogates are exact here, so the only error is NSGA-II's convergence on them (100
    // generations of 100): a few points stop ~2e-3 short of the front, most within 1e-4.
    expect(maxPredErr).toBeLessThan(1e-8);
    expect(maxGap).toBeLessThan(5e-3);
    expect(medianGap).toBeLessThan(5e-4);
    // Spread: the evaluated points reach both ends of the true front.
    const best1 = Math.max(...front.map((s) => s.values![0]!));
    const best2 = Math.max(...front.map((s) => s.values![1]!));
    expect(best1).toBeGreaterThan(f1(m1) - 5e-3);
    expect(best2).toBeGreaterThan(f2(m2) - 5e-3);
    // The first front point is the preference pick, reported in the attributes.
    expect((front[0]!.proposal.tag as { chosen: boolean }).chosen).toBe(true);
    expect(attrs.map_choice.x).toEqual(front[0]!.proposal.x);
    expect(attrs.map_front_evaluated.values).toHaveLength(10);
    console.log(`MAP e2e: front ${attrs.map_front.x.length} points, ε-gap of evaluated front points to the true front: max ${maxGap.toExponential(2)}, median ${medianGap.toExponential(2)}, max |predicted − real| ${maxPredErr.toExponential(2)}, pick ${JSON.stringify(front[0]!.values)}`);
  });

  it('handles an accuracy and a loss (sigmoid and softplus links, mixed directions)', () => {
    const objs: ObjectiveInfo[] = [
      { name: 'acc', direction: 'maximize' },
      { name: 'loss', direction: 'minimize' },
    ];
    const lossQ = (c: readonly number[]) => softplus(-1 + 3 * ((c[0]! - 0.2) ** 2 + (c[1]! - 0.7) ** 2));
    const ctx = context(objs, { preference: [1, 1], preference_scale: 'minmax' });
    const { state, trace } = runLoop(ctx, (x) => [f1(x), lossQ(x)]);
    const attrs = map.attributes!(state, ctx) as Record<string, any>;
    expect(attrs.map_fit.link).toEqual(['sigmoid', 'softplus']);
    for (const s of trace.slice(12)) s.proposal.predicted!.forEach((p, i) => expect(Math.abs(p - s.values![i]!)).toBeLessThan(1e-8));
    // The front trades accuracy against loss: the most accurate front point has the highest loss.
    const vals = trace.slice(12).map((s) => s.values!);
    const iAcc = vals.reduce((b, v, i) => (v[0]! > vals[b]![0]! ? i : b), 0);
    const iLoss = vals.reduce((b, v, i) => (v[1]! < vals[b]![1]! ? i : b), 0);
    expect(vals[iAcc]![1]!).toBeGreaterThan(vals[iLoss]![1]!);
  });

  it('same seed → same trace; another seed → another plan', () => {
    const ctx = context(acc2);
    const a = JSON.stringify(runLoop(ctx, twoAcc).trace);
    const b = JSON.stringify(runLoop(ctx, twoAcc).trace);
    expect(a).toBe(b);
    const c = JSON.stringify(runLoop({ ...ctx, seed: 43 }, twoAcc).trace);
    expect(c).not.toBe(a);
  });

  it('a state that goes through JSON mid-run (mid-plan, at the fit, mid-front) continues identically', () => {
    const ctx = context(acc2, { bayesian: true });
    const straight = runLoop(ctx, twoAcc);
    const resumed = runLoop(ctx, twoAcc, [5, 12, 15, 20, 24]);
    expect(JSON.stringify(resumed.trace)).toBe(JSON.stringify(straight.trace));
    expect(JSON.stringify(resumed.state)).toBe(JSON.stringify(straight.state));
  });

  it('several workers: waits at phase boundaries, tell order does not matter', () => {
    const ctx = context(acc2);
    const seq = runLoop(ctx, twoAcc).trace.map((s) => s.proposal);
    const par = runBatched(ctx, twoAcc).map((s) => s.proposal);
    expect(JSON.stringify(par)).toBe(JSON.stringify(seq));
  });

  it('Bayesian MAP adds rounds of points and refits on all of them', () => {
    const ctx = context(acc2, { bayesian: true, bayesian_rounds: 2, bayesian_points: 3 });
    const { state, trace } = runLoop(ctx, twoAcc);
    expect(trace).toHaveLength(12 + 6 + 10);
    const bayes = trace.filter((s) => (s.proposal.tag as { map: string }).map === 'bayesian');
    expect(bayes.map((s) => (s.proposal.tag as { round: number }).round)).toEqual([1, 1, 1, 2, 2, 2]);
    for (const s of bayes) for (const v of s.proposal.x) expect(v >= 0 && v <= 1).toBe(true);
    const attrs = map.attributes!(state, ctx) as Record<string, any>;
    expect(attrs.map_fit.points).toBe(18);
  });

  it('failed trials are left out of the fit', () => {
    const ctx = context(acc2);
    let n = 0;
    const f = (x: number[]) => (n++ === 4 ? null : n === 7 ? [NaN, 0.5] : twoAcc(x));
    const { state } = runLoop(ctx, f);
    const attrs = map.attributes!(state, ctx) as Record<string, any>;
    expect(attrs.map_fit.points).toBe(10);
    // NaN is stored as a failure (null), so the state survives JSON unchanged.
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(attrs.map_fit.r2[0]).toBeGreaterThan(1 - 1e-10);
  });

  it('nested MAP merges two groups at a time and ends with a front over every objective', () => {
    // Task i likes expert i strong and the others weak: f_i = sigmoid(2 − 3(x_i − 1)² − Σ_{j≠i} x_j²).
    const objs: ObjectiveInfo[] = [0, 1, 2].map((i) => ({ name: `acc${i}`, direction: 'maximize' }));
    const f = (x: number[]): number[] => x.map((xi, i) => sigmoid(2 - 3 * (xi - 1) ** 2 - x.reduce((s, xj, j) => s + (j === i ? 0 : 0.5 * xj * xj), 0)));
    const ctx = context(objs, { nested: true }, { dim: 3 });
    expect(map.check!({ ...ctx, budget: 37 })).toMatch(/needs 38 trials/);
    const { state, trace } = runLoop(ctx, f);
    const kinds = trace.map((s) => (s.proposal.tag as { map: string }).map);
    expect(kinds.slice(0, 3)).toEqual(['expert', 'expert', 'expert']);
    expect(trace).toHaveLength(3 + 12 + 1 + 12 + 10);
    const attrs = map.attributes!(state, ctx) as Record<string, any>;
    expect(attrs.map_nested.merges).toHaveLength(1);
    expect(attrs.map_front.predicted[0]).toHaveLength(3);
    // The per-task surrogates over the pair's scale factors are exact for this problem.
    for (const s of trace.slice(-10)) s.proposal.predicted!.forEach((p, i) => expect(Math.abs(p - s.values![i]!)).toBeLessThan(1e-6));
    for (const s of trace) for (const v of s.proposal.x) expect(v >= 0 && v <= 1).toBe(true);
    // The pick beats every expert alone on the mean accuracy.
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const pick = trace[trace.length - 10]!.values!;
    for (const s of trace.slice(0, 3)) expect(mean(pick)).toBeGreaterThan(mean(s.values!));
  });
});
