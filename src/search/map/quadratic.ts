// MAP's surrogate: per objective, a full quadratic in the coefficients seen through a link,
//   y ≈ g(q(c)),  q(c) = β₀ + Σᵢ βᵢ cᵢ + Σ_{i≤j} βᵢⱼ cᵢ cⱼ.
//
// The reference (luli-git/MAP, MAP.py) uses g = sigmoid for accuracies and g = softplus for losses
// and fits β with scipy's `curve_fit` (Levenberg-Marquardt on Σ (g(q(cₖ)) − yₖ)², starting from all
// ones). Here: a linear least-squares fit of the linked target g⁻¹(y) (logit of y clipped into
// (ε, 1−ε), or softplus⁻¹ of y clipped to ≥ ε), which is exact for noise-free data and needs no
// starting point, then (optionally, on by default) Levenberg-Marquardt steps on the reference's own
// output-space objective, started from that fit (skipped above 120 terms, T ≥ 15, for its cost).
// Coefficient order: [1, c₀…c_{T−1}, cᵢcⱼ for i ≤ j (row-major)]; the reference orders squares,
// cross terms, linear, constant: only the order differs.
//
// The least-squares solver is a small dense Householder QR with columns scaled to unit norm and a
// tiny ridge (rows √λ·I appended), followed by two steps of iterative refinement so that well
// determined directions carry no ridge bias while (near-)null directions stay at zero.

export type Link = 'sigmoid' | 'softplus' | 'identity';

export type QuadraticModel = {
  dim: number;
  link: Link;
  /** β in `quadraticFeatures` order. */
  coef: number[];
};

export interface FitReport {
  model: QuadraticModel;
  /** 1 − SS_res/SS_tot of the predictions in the objective's own units (1 when SS_tot = 0 and SS_res ≈ 0, else 0 there). */
  r2: number;
  rmse: number;
  /** prediction − observation per point. */
  residuals: number[];
}

export interface FitOptions {
  /** Ridge λ relative to the unit-norm feature columns; default 1e-10. */
  ridge?: number;
  /** Clip for the logit / softplus⁻¹ of targets at or past the link's range; default 1e-4. */
  clip?: number;
  /** Levenberg-Marquardt refinement on the output-space squared error (the reference's objective); default true; skipped above REFINE_MAX_FEATURES features. */
  refine?: boolean;
}

/** [1, c₀…c_{T−1}, cᵢcⱼ for i ≤ j]: (T+1)(T+2)/2 features. */
export function quadraticFeatures(c: readonly number[]): number[] {
  const t = c.length;
  const f = [1, ...c];
  for (let i = 0; i < t; i++) for (let j = i; j < t; j++) f.push(c[i]! * c[j]!);
  return f;
}

/** Names of the features, for reports: `1`, `c0`, `c0*c1`, `c1^2`. */
export function featureNames(dim: number): string[] {
  const names = ['1'];
  for (let i = 0; i < dim; i++) names.push(`c${i}`);
  for (let i = 0; i < dim; i++) for (let j = i; j < dim; j++) names.push(i === j ? `c${i}^2` : `c${i}*c${j}`);
  return names;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

export function applyLink(link: Link, z: number): number {
  return link === 'sigmoid' ? sigmoid(z) : link === 'softplus' ? softplus(z) : z;
}

/** g⁻¹(y), with y clipped into the link's open range by `clip`. */
export function inverseLink(link: Link, y: number, clip = 1e-4): number {
  if (link === 'sigmoid') {
    const p = Math.min(1 - clip, Math.max(clip, y));
    return Math.log(p) - Math.log1p(-p);
  }
  if (link === 'softplus') {
    const v = Math.max(clip, y);
    // log(e^v − 1), stable both for small v (expm1) and large v.
    return v > 30 ? v + Math.log1p(-Math.exp(-v)) : Math.log(Math.expm1(v));
  }
  return y;
}

function linkDerivative(link: Link, z: number): number {
  if (link === 'sigmoid') {
    const s = sigmoid(z);
    return s * (1 - s);
  }
  if (link === 'softplus') return sigmoid(z);
  return 1;
}

/**
 * The link MAP would use for these observations: sigmoid for accuracy-like objectives (maximised,
 * every value in [0, 1]), softplus for loss-like ones (minimised, every value ≥ 0), identity
 * otherwise.
 */
export function autoLink(values: readonly number[], direction: 'maximize' | 'minimize'): Link {
  if (direction === 'maximize' && values.every((v) => v >= 0 && v <= 1)) return 'sigmoid';
  if (direction === 'minimize' && values.every((v) => v >= 0)) return 'softplus';
  return 'identity';
}

export function predictLinear(model: QuadraticModel, c: readonly number[]): number {
  const f = quadraticFeatures(c);
  let z = 0;
  for (let k = 0; k < f.length; k++) z += model.coef[k]! * f[k]!;
  return z;
}

/** The surrogate's prediction g(q(c)) in the objective's own units. */
export function predict(model: QuadraticModel, c: readonly number[]): number {
  return applyLink(model.link, predictLinear(model, c));
}

/** Above this many features (T ≥ 15) the output-space refinement is skipped (see fitQuadratic). */
export const REFINE_MAX_FEATURES = 120;

export function fitQuadratic(xs: readonly (readonly number[])[], ys: readonly number[], link: Link, opts: FitOptions = {}): FitReport {
  if (xs.length === 0) throw new Error('quadratic fit: no observations');
  if (xs.length !== ys.length) throw new Error(`quadratic fit: ${xs.length} points but ${ys.length} values`);
  const dim = xs[0]!.length;
  if (xs.some((x) => x.length !== dim)) throw new Error('quadratic fit: points of different lengths');
  if (ys.some((y) => !Number.isFinite(y))) throw new Error('quadratic fit: non-finite value');
  const ridge = opts.ridge ?? 1e-10;
  const clip = opts.clip ?? 1e-4;
  const phi = xs.map((x) => quadraticFeatures(x));
  const z = ys.map((y) => inverseLink(link, y, clip));
  let coef = ridgeLeastSquares(phi, z, ridge);
  // Each LM iteration is a fresh QR of a (points + 2·features) × features system: past ~120
  // features (T ≥ 15) that costs seconds per objective, and the linked fit is kept as it is.
  if (link !== 'identity' && (opts.refine ?? true) && coef.length <= REFINE_MAX_FEATURES) coef = levenbergMarquardt(phi, ys, link, coef, ridge);
  const model: QuadraticModel = { dim, link, coef };
  return { model, ...fitQuality(model, xs, ys) };
}

/** R², RMSE and residuals of a model on observations, in the objective's own units. */
export function fitQuality(model: QuadraticModel, xs: readonly (readonly number[])[], ys: readonly number[]): Omit<FitReport, 'model'> {
  const residuals = xs.map((x, k) => predict(model, x) - ys[k]!);
  const mean = ys.reduce((s, y) => s + y, 0) / ys.length;
  let ssRes = 0;
  let ssTot = 0;
  residuals.forEach((r, k) => {
    ssRes += r * r;
    ssTot += (ys[k]! - mean) ** 2;
  });
  const r2 = ssTot > 0 ? 1 - ssRes / ssTot : ssRes <= 1e-24 ? 1 : 0;
  return { r2, rmse: Math.sqrt(ssRes / ys.length), residuals };
}

/**
 * Levenberg-Marquardt on Σ (g(φₖ·β) − yₖ)² (Marquardt's diagonal scaling), from `start`. Accepts a
 * step only when the squared error drops, so the result is never worse than the linked fit.
 */
function levenbergMarquardt(phi: number[][], ys: readonly number[], link: Link, start: number[], ridge: number): number[] {
  const p = start.length;
  const sse = (b: number[]): number => {
    let s = 0;
    phi.forEach((f, k) => {
      const r = applyLink(link, dot(f, b)) - ys[k]!;
      s += r * r;
    });
    return s;
  };
  let beta = start;
  let err = sse(beta);
  let mu = 1e-3;
  for (let iter = 0; iter < 100 && err > 1e-30; iter++) {
    const jac = phi.map((f) => {
      const d = linkDerivative(link, dot(f, beta));
      return f.map((v) => v * d);
    });
    const res = phi.map((f, k) => ys[k]! - applyLink(link, dot(f, beta)));
    // Marquardt: damping μ·diag(JᵀJ), as extra rows √(μ·diag)·I (floored by the ridge's scale).
    const diag = new Array<number>(p).fill(0);
    for (const row of jac) row.forEach((v, j) => (diag[j]! += v * v));
    let improved = false;
    for (let tries = 0; tries < 12; tries++) {
      const rows = jac.map((r) => [...r]);
      const rhs = [...res];
      for (let j = 0; j < p; j++) {
        const row = new Array<number>(p).fill(0);
        row[j] = Math.sqrt(mu * Math.max(diag[j]!, ridge));
        rows.push(row);
        rhs.push(0);
      }
      const step = ridgeLeastSquares(rows, rhs, ridge);
      const next = beta.map((b, j) => b + step[j]!);
      const nextErr = sse(next);
      if (nextErr < err) {
        const gain = (err - nextErr) / err;
        beta = next;
        err = nextErr;
        mu = Math.max(mu / 3, 1e-12);
        improved = true;
        if (gain < 1e-12) return beta;
        break;
      }
      mu *= 4;
    }
    if (!improved) break;
  }
  return beta;
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}

/**
 * argmin ‖Aβ − b‖² + λ‖Dβ‖² with D the column norms of A (a ridge on unit-norm columns), then two
 * refinement steps toward the unregularised least-squares solution. Dense Householder QR.
 */
export function ridgeLeastSquares(a: readonly (readonly number[])[], b: readonly number[], ridge = 1e-10): number[] {
  const p = a[0]?.length ?? 0;
  if (p === 0) return [];
  const scale = new Array<number>(p).fill(0);
  for (const row of a) row.forEach((v, j) => (scale[j]! += v * v));
  for (let j = 0; j < p; j++) scale[j] = scale[j]! > 0 ? Math.sqrt(scale[j]!) : 1;
  // Augmented, column-scaled system [A D⁻¹; √λ I] γ = [b; 0], β = D⁻¹ γ.
  const rows: number[][] = a.map((row) => row.map((v, j) => v / scale[j]!));
  const sq = Math.sqrt(ridge);
  for (let j = 0; j < p; j++) {
    const row = new Array<number>(p).fill(0);
    row[j] = sq;
    rows.push(row);
  }
  const qr = householder(rows);
  const solve = (rhs: number[]): number[] => qr.solve([...rhs, ...new Array<number>(p).fill(0)]);
  let gamma = solve([...b]);
  for (let it = 0; it < 2; it++) {
    // Residual of the *unregularised* problem: the ridge then only damps what the data cannot fix.
    const r = a.map((row, k) => {
      let s = b[k]!;
      for (let j = 0; j < p; j++) s -= (row[j]! / scale[j]!) * gamma[j]!;
      return s;
    });
    const d = solve(r);
    gamma = gamma.map((g, j) => g + d[j]!);
  }
  return gamma.map((g, j) => g / scale[j]!);
}

/** Householder QR of a tall matrix (rows ≥ columns), with a least-squares solve. */
function householder(input: number[][]): { solve(rhs: number[]): number[] } {
  const m = input.length;
  const p = input[0]!.length;
  const a = input.map((r) => Float64Array.from(r));
  const vs: Float64Array[] = [];
  const betas: number[] = [];
  const diag = new Float64Array(p);
  for (let k = 0; k < p; k++) {
    let norm = 0;
    for (let i = k; i < m; i++) norm += a[i]![k]! * a[i]![k]!;
    norm = Math.sqrt(norm);
    const akk = a[k]![k]!;
    const alpha = akk > 0 ? -norm : norm;
    const v = new Float64Array(m - k);
    for (let i = k; i < m; i++) v[i - k] = a[i]![k]!;
    v[0] = v[0]! - alpha;
    let vv = 0;
    for (let i = 0; i < v.length; i++) vv += v[i]! * v[i]!;
    const beta = vv > 0 ? 2 / vv : 0;
    // Apply H = I − β v vᵀ to the remaining columns.
    for (let j = k; j < p; j++) {
      let s = 0;
      for (let i = k; i < m; i++) s += v[i - k]! * a[i]![j]!;
      s *= beta;
      for (let i = k; i < m; i++) a[i]![j] = a[i]![j]! - s * v[i - k]!;
    }
    vs.push(v);
    betas.push(beta);
    diag[k] = a[k]![k]!;
  }
  return {
    solve(rhs: number[]): number[] {
      const y = Float64Array.from(rhs);
      for (let k = 0; k < p; k++) {
        const v = vs[k]!;
        let s = 0;
        for (let i = k; i < m; i++) s += v[i - k]! * y[i]!;
        s *= betas[k]!;
        for (let i = k; i < m; i++) y[i] = y[i]! - s * v[i - k]!;
      }
      const x = new Array<number>(p).fill(0);
      for (let k = p - 1; k >= 0; k--) {
        let s = y[k]!;
        for (let j = k + 1; j < p; j++) s -= a[k]![j]! * x[j]!;
        const d = diag[k]!;
        x[k] = d !== 0 ? s / d : 0;
      }
      return x;
    },
  };
}
