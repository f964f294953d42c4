// CMA-ES, written from N. Hansen, "The CMA Evolution Strategy: A Tutorial" (arXiv:1604.00772, 2016),
// Table 1 (default parameters) and the algorithm summary in its appendix: the (μ/μ_W, λ)-CMA-ES with
// positive recombination weights only (the optional negative "active" weights are left out), in an
// ask/tell form whose whole state is JSON.
//
// Space. The search runs in a normalised box: coordinate i is mapped to [0, 1] by its bounds, the mean
// starts at the normalised `ctx.init` (mergekit-evolve starts at weight 1/N, density 1, which the
// search space gives as init) and σ₀ = 1/6 of the box (mergekit-evolve's default).
//
// Bounds. A sample outside [0, 1] is clipped for evaluation (the clipped point is proposed), but the
// unclipped sample enters the update. Why not resample: with the mean on a bound (density 1 is on
// one) half the samples fall outside per such coordinate, so resampling needs 2^k tries for k such
// coordinates and it truncates the Gaussian, which biases step-size control. Keeping the unclipped
// sample keeps the update's statistics those of a true Gaussian. The one cost of clipping is that
// the landscape is flat outside the box, so the mean could wander off; after each update the mean is
// projected back into the box (and the evolution paths see the projected step).
//
// Several workers. A generation's λ samples are drawn together when it starts; `ask` hands them out
// one by one (tag {generation, index}), answers `wait` when all are out but some are not yet told,
// and the tell that completes the generation runs the update, ranking by value then index, so the
// order of tells does not matter. Failed trials (values null) rank worst.
import { setting } from '../optimizer.ts';
import { clampToBounds, scalarize, type Json, type Optimizer, type OptimizerContext } from '../optimizer.ts';
import { Rng, rngState } from '../rng.ts';

/** One sample of the current generation: y = B·D·z ~ N(0, C), and w = B·z = C^{-1/2}·y. */
type Sample = { y: number[]; w: number[] };

export type CmaState = {
  rng: number;
  /** Completed updates (g in the tutorial). */
  generation: number;
  /** Normalised coordinates. */
  mean: number[];
  sigma: number;
  C: number[][];
  pc: number[];
  ps: number[];
  samples: Sample[];
  handed: number;
  told: boolean[];
  /** Scalarised value per sample; null for a failed trial (JSON has no Infinity). */
  fitness: (number | null)[];
};

export interface CmaConstants {
  n: number;
  lambda: number;
  mu: number;
  /** Positive, decreasing, summing to 1. */
  weights: number[];
  mueff: number;
  cs: number;
  ds: number;
  cc: number;
  c1: number;
  cmu: number;
  /** E‖N(0, I)‖. */
  chiN: number;
}

/** The tutorial's default strategy parameters (Table 1) for dimension n and population λ. */
export function cmaConstants(n: number, population = 0): CmaConstants {
  const lambda = population > 0 ? population : 4 + Math.floor(3 * Math.log(n));
  const mu = Math.floor(lambda / 2);
  // w'_i = ln((λ+1)/2) − ln i for i ≤ μ, normalised to sum 1.
  const raw = Array.from({ length: mu }, (_, i) => Math.log((lambda + 1) / 2) - Math.log(i + 1));
  const total = raw.reduce((a, b) => a + b, 0);
  const weights = raw.map((w) => w / total);
  const mueff = 1 / weights.reduce((a, w) => a + w * w, 0);
  const cs = (mueff + 2) / (n + mueff + 5);
  const ds = 1 + 2 * Math.max(0, Math.sqrt((mueff - 1) / (n + 1)) - 1) + cs;
  const cc = (4 + mueff / n) / (n + 4 + (2 * mueff) / n);
  const alphaCov = 2;
  const c1 = alphaCov / ((n + 1.3) ** 2 + mueff);
  // The 2016 formula; pycma adds 1/4 inside the bracket (slightly larger cμ for small μ_eff).
  const cmu = Math.min(1 - c1, (alphaCov * (mueff - 2 + 1 / mueff)) / ((n + 2) ** 2 + (alphaCov * mueff) / 2));
  const chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
  return { n, lambda, mu, weights, mueff, cs, ds, cc, c1, cmu, chiN };
}

/**
 * Eigendecomposition of a symmetric matrix by cyclic Jacobi rotations: A = V·diag(values)·Vᵀ, the
 * eigenvectors in V's columns. Each rotation zeroes one off-diagonal pair; sweeps repeat until the
 * off-diagonal mass is negligible. O(n³) per sweep, 5-9 sweeps on CMA-ES's matrices (measured): about
 * 10 ms at n = 50 and 0.6 s at n = 200 once per generation, small next to evaluating λ merged models;
 * exact to rounding (V orthogonal). Flat row-major arrays, and only rows are
 * rotated (symmetry gives the columns), so memory access stays contiguous.
 */
export function symmetricEigen(matrix: readonly (readonly number[])[]): { values: number[]; vectors: number[][] } {
  const n = matrix.length;
  const a = new Float64Array(n * n);
  matrix.forEach((row, i) => row.forEach((v, j) => (a[i * n + j] = v)));
  const vt = new Float64Array(n * n); // Vᵀ: row k is eigenvector k
  for (let i = 0; i < n; i++) vt[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i]! ** 2;
      for (let j = i + 1; j < n; j++) off += a[i * n + j]! ** 2;
    }
    if (off === 0 || off <= 1e-30 * diag) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        // Rotation J (identity but J[p][p] = J[q][q] = c, J[p][q] = s, J[q][p] = −s) with
        // tan φ = t zeroing a[p][q] in JᵀAJ: t² + 2θt − 1 = 0, θ = (a_qq − a_pp)/(2 a_pq), smaller root.
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // Rows p and q of JᵀAJ off the (p, q) block, mirrored into columns p and q.
        for (let k = 0; k < n; k++) {
          if (k === p || k === q) continue;
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          const np = c * apk - s * aqk;
          const nq = s * apk + c * aqk;
          a[p * n + k] = np;
          a[k * n + p] = np;
          a[q * n + k] = nq;
          a[k * n + q] = nq;
        }
        a[p * n + p] = a[p * n + p]! - t * apq;
        a[q * n + q] = a[q * n + q]! + t * apq;
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        // V ← V J, i.e. rows p and q of Vᵀ rotate the same way.
        for (let k = 0; k < n; k++) {
          const vp = vt[p * n + k]!;
          const vq = vt[q * n + k]!;
          vt[p * n + k] = c * vp - s * vq;
          vt[q * n + k] = s * vp + c * vq;
        }
      }
    }
  }
  return {
    values: Array.from({ length: n }, (_, i) => a[i * n + i]!),
    vectors: Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => vt[j * n + i]!)),
  };
}

/** B and D (standard deviations along B's columns) of C; tiny or negative rounding residue floored. */
function decompose(C: readonly (readonly number[])[]): { B: number[][]; D: number[] } {
  const { values, vectors } = symmetricEigen(C);
  const top = Math.max(...values, 0);
  const floor = top > 0 ? top * 1e-28 : 1e-300;
  return { B: vectors, D: values.map((e) => Math.sqrt(Math.max(e, floor))) };
}

/** Draws λ samples y ~ N(0, C) (and their whitened w = B z) from the stream. */
function sampleGeneration(rng: Rng, C: readonly (readonly number[])[], lambda: number): Sample[] {
  const n = C.length;
  const { B, D } = decompose(C);
  const samples: Sample[] = [];
  for (let k = 0; k < lambda; k++) {
    const z = Array.from({ length: n }, () => rng.normal());
    const y = new Array<number>(n).fill(0);
    const w = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      const row = B[i]!;
      let sy = 0;
      let sw = 0;
      for (let j = 0; j < n; j++) {
        sy += row[j]! * D[j]! * z[j]!;
        sw += row[j]! * z[j]!;
      }
      y[i] = sy;
      w[i] = sw;
    }
    samples.push({ y, w });
  }
  return samples;
}

const settingNumber = (ctx: OptimizerContext, name: string) => setting<number>(cmaes, ctx, name);

function constantsFor(ctx: OptimizerContext): CmaConstants {
  return cmaConstants(ctx.dim, settingNumber(ctx, 'population'));
}

/** The unclipped normalised point of sample k. */
function normalisedPoint(state: CmaState, k: number): number[] {
  const y = state.samples[k]!.y;
  return state.mean.map((m, i) => m + state.sigma * y[i]!);
}

function toBox(u: readonly number[], ctx: OptimizerContext): number[] {
  return u.map((v, i) => ctx.low[i]! + (ctx.high[i]! - ctx.low[i]!) * Math.min(1, Math.max(0, v)));
}

function freshGeneration(state: Omit<CmaState, 'samples' | 'handed' | 'told' | 'fitness'>, rng: Rng, lambda: number): CmaState {
  const samples = sampleGeneration(rng, state.C, lambda);
  return {
    ...state,
    rng: rng.state,
    samples,
    handed: 0,
    told: samples.map(() => false),
    fitness: samples.map(() => null),
  };
}

/** The tutorial's update (mean, paths, σ, C) from a fully told generation, then the next samples. */
function update(state: CmaState, ctx: OptimizerContext): CmaState {
  const k = constantsFor(ctx);
  const { n, mu, weights, mueff, cs, ds, cc, c1, cmu, chiN } = k;
  const rng = new Rng(state.rng);
  const value = (i: number): number => state.fitness[i] ?? Infinity;
  const order = state.samples.map((_, i) => i).sort((a, b) => value(a) - value(b) || a - b);
  const base = {
    rng: state.rng,
    generation: state.generation + 1,
    mean: state.mean,
    sigma: state.sigma,
    C: state.C,
    pc: state.pc,
    ps: state.ps,
  };
  // Nothing to learn from a generation where every trial failed: keep the distribution, draw anew.
  if (order.every((i) => !Number.isFinite(value(i)))) return freshGeneration(base, rng, k.lambda);

  const best = order.slice(0, mu);
  // ⟨y⟩_w and its whitened counterpart C^{-1/2}⟨y⟩_w = Σ w_i B z_i.
  const yw = new Array<number>(n).fill(0);
  const zw = new Array<number>(n).fill(0);
  best.forEach((s, r) => {
    const { y, w } = state.samples[s]!;
    for (let i = 0; i < n; i++) {
      yw[i]! += weights[r]! * y[i]!;
      zw[i]! += weights[r]! * w[i]!;
    }
  });
  // m ← m + σ⟨y⟩_w (c_m = 1), projected into the box (see the header).
  const stepped = state.mean.map((m, i) => m + state.sigma * yw[i]!);
  const mean = stepped.map((v) => Math.min(1, Math.max(0, v)));
  let step = yw;
  let whitened = zw;
  if (mean.some((v, i) => v !== stepped[i])) {
    // The paths follow the step the mean actually took: recompute C^{-1/2} for it.
    step = mean.map((v, i) => (v - state.mean[i]!) / state.sigma);
    const { B, D } = decompose(state.C);
    const bt = B[0]!.map((_, j) => B.reduce((acc, row, i) => acc + row[j]! * step[i]!, 0) / D[j]!);
    whitened = B.map((row) => row.reduce((acc, b, j) => acc + b * bt[j]!, 0));
  }

  // p_σ ← (1 − c_σ) p_σ + √(c_σ(2 − c_σ) μ_eff) C^{-1/2}⟨y⟩_w
  const csFactor = Math.sqrt(cs * (2 - cs) * mueff);
  const ps = state.ps.map((p, i) => (1 - cs) * p + csFactor * whitened[i]!);
  const psNorm = Math.sqrt(ps.reduce((a, p) => a + p * p, 0));
  // σ ← σ exp((c_σ/d_σ)(‖p_σ‖/E‖N(0,I)‖ − 1)); capped so a runaway σ cannot overflow (the box is 1 wide).
  const sigma = Math.min(1e3, state.sigma * Math.exp((cs / ds) * (psNorm / chiN - 1)));
  // h_σ stalls p_c's update while ‖p_σ‖ is large (σ is growing fast), g+1 = completed generations.
  const g1 = state.generation + 1;
  const hsig = psNorm / Math.sqrt(1 - (1 - cs) ** (2 * g1)) < (1.4 + 2 / (n + 1)) * chiN ? 1 : 0;
  const ccFactor = Math.sqrt(cc * (2 - cc) * mueff);
  const pc = state.pc.map((p, i) => (1 - cc) * p + hsig * ccFactor * step[i]!);
  // C ← (1 + c1 δ(h_σ) − c1 − cμ Σw) C + c1 p_c p_cᵀ + cμ Σ w_i y_i y_iᵀ, with Σw = 1.
  const deltaH = (1 - hsig) * cc * (2 - cc);
  const keep = 1 + c1 * deltaH - c1 - cmu;
  const C = state.C.map((row) => [...row]);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let rankMu = 0;
      best.forEach((s, r) => {
        const y = state.samples[s]!.y;
        rankMu += weights[r]! * y[i]! * y[j]!;
      });
      const cij = keep * state.C[i]![j]! + c1 * pc[i]! * pc[j]! + cmu * rankMu;
      C[i]![j] = cij;
      C[j]![i] = cij; // computed once, mirrored: exactly symmetric
    }
  }
  return freshGeneration({ ...base, mean, sigma, C, pc, ps }, rng, k.lambda);
}

function parseTag(tag: Json | undefined): { generation: number; index: number } | undefined {
  if (tag === null || typeof tag !== 'object' || Array.isArray(tag)) return undefined;
  const { generation, index } = tag;
  return typeof generation === 'number' && typeof index === 'number' ? { generation, index } : undefined;
}

const cmaes: Optimizer<CmaState> = {
  name: 'cmaes',
  family: 'black-box',
  multiObjective: false,
  description:
    'CMA-ES (Hansen 2016 defaults) in the bounds-normalised box, starting at the space’s init with σ₀ = 1/6; minimises the mean of the (sign-adjusted) objectives.',
  settings: [
    { name: 'sigma0', kind: 'number', default: 1 / 6, min: 0, max: 10, doc: 'Initial step size as a fraction of each coordinate’s range (must be > 0).' },
    { name: 'population', kind: 'integer', default: 0, min: 0, doc: 'λ, samples per generation; 0 uses 4 + ⌊3 ln dim⌋. At least 2 otherwise.' },
  ],

  check(ctx) {
    const sigma0 = settingNumber(ctx, 'sigma0');
    if (!(sigma0 > 0)) return `cmaes: sigma0 must be > 0, got ${sigma0}`;
    const population = settingNumber(ctx, 'population');
    if (population === 1) return 'cmaes: population must be 0 (automatic) or at least 2';
    return undefined;
  },

  init(ctx) {
    const n = ctx.dim;
    const k = constantsFor(ctx);
    const rng = new Rng(rngState(ctx.seed));
    const identity = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
    const start = clampToBounds(ctx.init, ctx).map((v, i) => (v - ctx.low[i]!) / (ctx.high[i]! - ctx.low[i]!));
    const base = {
      rng: rng.state,
      generation: 0,
      mean: start,
      sigma: settingNumber(ctx, 'sigma0'),
      C: identity,
      pc: new Array<number>(n).fill(0),
      ps: new Array<number>(n).fill(0),
    };
    return freshGeneration(base, rng, k.lambda);
  },

  ask(state, ctx) {
    if (state.handed >= state.samples.length) return { kind: 'wait' };
    const index = state.handed;
    const x = toBox(normalisedPoint(state, index), ctx);
    return {
      kind: 'propose',
      state: { ...state, handed: index + 1 },
      proposal: { x, tag: { generation: state.generation, index } },
    };
  },

  tell(state, ctx, proposal, values) {
    const tag = parseTag(proposal.tag);
    // A tell for another generation (or twice for one sample) changes nothing.
    if (!tag || tag.generation !== state.generation || tag.index >= state.handed || state.told[tag.index] !== false) return state;
    const f = scalarize(values, ctx.objectives);
    const told = [...state.told];
    const fitness = [...state.fitness];
    told[tag.index] = true;
    fitness[tag.index] = Number.isFinite(f) ? f : null;
    const next = { ...state, told, fitness };
    return told.every(Boolean) ? update(next, ctx) : next;
  },
};

export default cmaes;
