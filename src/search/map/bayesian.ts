// Bayesian MAP's acquisition: where to spend the next few real evaluations so the surrogates improve.
//
// The reference (luli-git/MAP, MAP.bayesian_pipeline with utils.mean_plus_half_std) works in the
// unit box: it turns every evaluated point into hyperspherical angles φ ∈ [0, π/2]^(T−1), cuts each
// angle into n bins (n = 4 for T < 4, else 2), scores each bin by the mean squared error of the
// surrogate on the bin's points plus λ (0.5) times the standard deviation of that mean over 30
// subsamples that each drop 20 % of the points, turns the scores into probabilities by a softmax
// with temperature 0.07 (empty bins get probability 0), draws the bins of the new points from it,
// and draws each new point's angles uniformly within its bin and its radius uniformly in [0.2, 0.8].
// Its schedule is 15 initial points, then 2 rounds of 3.
//
// Differences here: the squared errors are per objective divided by that objective's variance over
// the points (objectives of different units count alike) and averaged over objectives; the bin
// scores are divided by the largest one before the softmax (so the temperature does not depend on
// the objectives' units: the reference's raw squared accuracy errors, ~1e-4, make its softmax at
// 0.07 nearly uniform); the subsamples are independent (the reference's drop 20 % cumulatively);
// an angle of exactly π/2 falls in the last bin (the reference's half-open bins lose such points,
// e.g. every one-hot point but the first); only occupied bins are enumerated, so any T works.
import { Rng } from '../rng.ts';

export interface AcquisitionOptions {
  low: readonly number[];
  high: readonly number[];
  /** Evaluated points (study box) with their squared surrogate errors, already normalised. */
  xs: readonly (readonly number[])[];
  errors: readonly number[];
  count: number;
  /** Bins per angle; default 4 for T < 4, else 2 (the reference's get_sample_n_bins). */
  bins?: number;
  temperature?: number;
  /** λ in mean + λ·std. */
  tradeoff?: number;
  rMin?: number;
  rMax?: number;
  subsamples?: number;
  dropFraction?: number;
}

export function defaultBins(dim: number): number {
  return dim < 4 ? 4 : 2;
}

/** Hyperspherical angles of a point with non-negative coordinates: φₖ = atan2(‖u_{k+1:}‖, uₖ). */
export function toAngles(u: readonly number[]): number[] {
  const t = u.length;
  const phi: number[] = [];
  let tail = 0;
  const tails = new Array<number>(t).fill(0);
  for (let k = t - 1; k >= 0; k--) {
    tails[k] = tail;
    tail += u[k]! * u[k]!;
  }
  for (let k = 0; k < t - 1; k++) phi.push(Math.atan2(Math.sqrt(tails[k]!), u[k]!));
  return phi;
}

export function fromAngles(phi: readonly number[], r: number): number[] {
  const t = phi.length + 1;
  const u = new Array<number>(t).fill(0);
  let sinProd = r;
  for (let k = 0; k < t - 1; k++) {
    u[k] = sinProd * Math.cos(phi[k]!);
    sinProd *= Math.sin(phi[k]!);
  }
  u[t - 1] = sinProd;
  return u;
}

export interface BinScore {
  bin: number[];
  points: number;
  score: number;
  probability: number;
}

/** Scores and probabilities of the occupied bins, in lexicographic bin order. */
export function scoreBins(opts: AcquisitionOptions, rng: Rng): BinScore[] {
  const dim = opts.low.length;
  const n = opts.bins ?? defaultBins(dim);
  const lambda = opts.tradeoff ?? 0.5;
  const temperature = opts.temperature ?? 0.07;
  const subsamples = opts.subsamples ?? 30;
  const drop = opts.dropFraction ?? 0.2;
  const groups = new Map<string, { bin: number[]; errors: number[] }>();
  opts.xs.forEach((x, i) => {
    const u = x.map((v, k) => Math.max(0, (v - opts.low[k]!) / (opts.high[k]! - opts.low[k]!)));
    const bin = toAngles(u).map((p) => Math.min(n - 1, Math.max(0, Math.floor((p / (Math.PI / 2)) * n))));
    const key = bin.join(',');
    const g = groups.get(key) ?? { bin, errors: [] };
    g.errors.push(opts.errors[i]!);
    groups.set(key, g);
  });
  const list = [...groups.values()].sort((a, b) => compare(a.bin, b.bin));
  const scores = list.map(({ errors }) => {
    const mean = avg(errors);
    const keepCount = errors.length - Math.floor(drop * errors.length);
    const means: number[] = [];
    for (let s = 0; s < subsamples && keepCount < errors.length; s++) {
      const idx = rng.permutation(errors.length).slice(0, keepCount);
      means.push(avg(idx.map((i) => errors[i]!)));
    }
    return mean + lambda * std(means);
  });
  const top = Math.max(...scores);
  const norm = scores.map((s) => (top > 0 ? s / top : 0));
  const mx = Math.max(...norm);
  const e = norm.map((s) => Math.exp((s - mx) / temperature));
  const z = e.reduce((a, b) => a + b, 0);
  return list.map((g, i) => ({ bin: g.bin, points: g.errors.length, score: scores[i]!, probability: e[i]! / z }));
}

/** `count` new points (study box) drawn where the surrogate errs most, per the reference's scheme. */
export function acquire(opts: AcquisitionOptions, rng: Rng): number[][] {
  const dim = opts.low.length;
  const n = opts.bins ?? defaultBins(dim);
  const rMin = opts.rMin ?? 0.2;
  const rMax = opts.rMax ?? 0.8;
  const bins = scoreBins(opts, rng);
  const width = Math.PI / 2 / n;
  const out: number[][] = [];
  for (let c = 0; c < opts.count; c++) {
    let u = rng.uniform();
    let pick = bins.length - 1;
    for (let i = 0; i < bins.length; i++) {
      u -= bins[i]!.probability;
      if (u < 0) {
        pick = i;
        break;
      }
    }
    const bin = bins[pick]?.bin ?? new Array<number>(dim - 1).fill(0);
    const phi = bin.map((b) => (b + rng.uniform()) * width);
    const r = rng.between(rMin, rMax);
    const unit = fromAngles(phi, r).map((v) => Math.min(1, Math.max(0, v)));
    out.push(unit.map((v, k) => opts.low[k]! + v * (opts.high[k]! - opts.low[k]!)));
  }
  return out;
}

function avg(v: readonly number[]): number {
  return v.length === 0 ? 0 : v.reduce((a, b) => a + b, 0) / v.length;
}

function std(v: readonly number[]): number {
  if (v.length === 0) return 0;
  const m = avg(v);
  return Math.sqrt(avg(v.map((x) => (x - m) ** 2)));
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
