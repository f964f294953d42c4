import { allocF32, numberParam, type MergeMethod } from '../method.ts';
import { chunkInputs, combineGram, combineInto, gramDot, gramPartial } from '../gram.ts';

// Karcher mean (mergekit's `karcher`): the Riemannian mean on the unit sphere of the models'
// directions, rescaled by their mean norm. Each tensor is one vector xᵢ (norm nᵢ, direction
// uᵢ = xᵢ/nᵢ), every model weighted aᵢ = 1/N:
//   start at u = Σ âᵢuᵢ normalised (â over the models with nᵢ > tol, renormalised; u₁ if that sum
//   is below tol), then up to max_iter times:
//     T = Σ âᵢ·θᵢ/sin θᵢ·(uᵢ − cos θᵢ·u),  cos θᵢ = clamp(u·uᵢ, −1, 1), terms with θᵢ < tol skipped;
//     stop when |T| < tol; else u ← cos|T|·u + sin|T|·T/|T|, renormalised;
//   merged = (Σ aᵢnᵢ)·u  (zero when no model has nᵢ > tol; one model is returned as it is).
// Parameters as mergekit's: max_iter (10), tol (1e-5). mergekit gathers the base model with the
// others when base_model is given, so here too the base, when given, is one more point of the mean.
// Every iterate lies in the span of the xᵢ, so one statistics pass (the Gram matrix of the xᵢ, in
// float64) is all the data the iteration needs: it runs on N coefficients, and the merge is the
// weighted sum Σ cᵢxᵢ. Mathematically the same as iterating on the full vectors.

interface KarcherStats {
  /** Coefficient of each input (models, then the base) in the result. */
  coef: number[];
}

export function karcherCoefficients(g: Float64Array, k: number, maxIter: number, tol: number): number[] {
  const norms = Array.from({ length: k }, (_, i) => Math.sqrt(Math.max(0, g[i * k + i]!)));
  const alphas = norms.map(() => 1 / k);
  const valid = norms.map((n, i) => (n > tol ? i : -1)).filter((i) => i >= 0);
  if (valid.length === 0) return norms.map(() => 0);
  const alphaSum = valid.reduce((a, i) => a + alphas[i]!, 0);
  // Directions as coefficients over the inputs: uᵢ = xᵢ/nᵢ, so their Gram is G/(nᵢnⱼ).
  const m = valid.length;
  const gu = new Float64Array(m * m);
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) gu[a * m + b] = g[valid[a]! * k + valid[b]!]! / (norms[valid[a]!]! * norms[valid[b]!]!);
  const w = valid.map((i) => alphas[i]! / alphaSum);
  let u = w.slice();
  const normU = Math.sqrt(Math.max(0, gramDot(gu, u, u)));
  if (normU < tol) u = u.map((_, a) => (a === 0 ? 1 : 0));
  else u = u.map((c) => c / normU);
  for (let iter = 0; iter < maxIter; iter++) {
    const t = new Array<number>(m).fill(0);
    for (let a = 0; a < m; a++) {
      let dot = 0;
      for (let b = 0; b < m; b++) dot += gu[a * m + b]! * u[b]!;
      dot = Math.min(1, Math.max(-1, dot));
      const theta = Math.acos(dot);
      if (theta < tol) continue;
      const f = (w[a]! * theta) / Math.sin(theta);
      for (let b = 0; b < m; b++) t[b]! -= f * dot * u[b]!;
      t[a]! += f;
    }
    const normT = Math.sqrt(Math.max(0, gramDot(gu, t, t)));
    if (normT < tol) break;
    const c = Math.cos(normT);
    const s = Math.sin(normT) / normT;
    u = u.map((ub, b) => c * ub + s * t[b]!);
    const un = Math.sqrt(Math.max(0, gramDot(gu, u, u)));
    if (un > tol) u = u.map((ub) => ub / un);
  }
  const scale = alphas.reduce((acc, a, i) => acc + a * norms[i]!, 0);
  const coef = norms.map(() => 0);
  valid.forEach((i, a) => (coef[i] = (scale * u[a]!) / norms[i]!));
  return coef;
}

const karcher: MergeMethod<KarcherStats> = {
  name: 'karcher',
  description: 'Karcher mean: the Riemannian mean of the models\' directions on the sphere, times their mean norm',
  base: 'optional',
  globalParams: [
    { name: 'max_iter', kind: 'number', default: 10, doc: 'most iterations of the mean' },
    { name: 'tol', kind: 'number', default: 1e-5, doc: 'convergence tolerance (and the norm below which a model counts as zero)' },
  ],
  modelParams: [],
  checkModels: (models, hasBase) => (models + (hasBase ? 1 : 0) < 1 ? 'karcher needs at least one model' : undefined),
  checkParams(ctx) {
    const it = numberParam(ctx.global.max_iter, 'max_iter');
    if (!Number.isInteger(it) || it < 0) return `max_iter is ${it}; it must be a whole number ≥ 0`;
    return undefined;
  },
  statsPasses: () => 1,
  chunkStats: (_ctx, _pass, chunk) => gramPartial(chunkInputs(chunk, true)),
  combineStats(ctx, _pass, partials) {
    const k = Math.round(Math.sqrt((partials[0] as Float64Array).length));
    const g = combineGram(partials as Float64Array[], k);
    // One input is returned as it is (mergekit), whatever its norm.
    if (k === 1) return { coef: [1] };
    return { coef: karcherCoefficients(g, k, numberParam(ctx.global.max_iter, 'max_iter'), numberParam(ctx.global.tol, 'tol')) };
  },
  merge(_ctx, chunk, stats) {
    const inputs = chunkInputs(chunk, true);
    const out = allocF32(chunk, inputs[0]!.length);
    combineInto(out, inputs, stats!.coef, null);
    return out;
  },
};

export default karcher;
