import { fail } from '../../errors.ts';
import { allocF32, boolParam, numberParam, type Chunk, type MergeMethod, type TensorContext } from '../method.ts';
import { combineGram, combineInto, gramDot, gramPartial } from '../gram.ts';

// Multi-SLERP (mergekit's `multislerp`): barycentric interpolation of several tensors on a
// hypersphere. Each tensor is one vector vᵢ — the model itself, or its task vector modelᵢ − base
// when base_model is given — with norm nᵢ; weights wᵢ (divided by Σw when normalize_weights):
//   unit vectors ûᵢ = vᵢ/(nᵢ + eps); mean m = Σ wᵢûᵢ, normalised (|m| < eps: two models fall back to
//   w₁v₁ + w₂v₂, more are refused); tangent vectors tᵢ = ûᵢ − (ûᵢ·m)m; t = Σ wᵢtᵢ, τ = |t| + eps;
//   result = (cos τ·m + sin τ/τ·t)·Σ wᵢnᵢ, plus the base when given. One model is returned as it is.
// (Σ wᵢtᵢ is zero up to rounding, as the weighted mean sits at the tangent point, so the result is
// the normalised weighted mean direction times the weighted mean norm.)
// Parameters as mergekit's: per-model weight (required), normalize_weights (true), eps (1e-8).
// One statistics pass (the Gram matrix of the vᵢ, float64); every step after it runs on N
// coefficients, and the merge is the weighted sum Σ cᵢvᵢ (+ base).

interface MultiStats {
  coef: number[];
}

function weights(ctx: TensorContext): number[] {
  const w = ctx.perModel.map((p) => numberParam(p.weight, 'weight'));
  if (!boolParam(ctx.global.normalize_weights)) return w;
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

function vectors(chunk: Chunk): Float32Array[] {
  const base = chunk.base;
  if (!base) return chunk.models;
  let cachedTv = chunk.cache.get('multislerp-tv') as Float32Array[] | undefined;
  if (!cachedTv) {
    cachedTv = chunk.models.map((m) => {
      const d = new Float32Array(base.length);
      for (let e = 0; e < d.length; e++) d[e] = m[e]! - base[e]!;
      return d;
    });
    chunk.cache.set('multislerp-tv', cachedTv);
  }
  return cachedTv;
}

export function multislerpCoefficients(g: Float64Array, w: number[], eps: number, tensor: string): number[] {
  const k = w.length;
  const norms = w.map((_, i) => Math.sqrt(Math.max(0, g[i * k + i]!)));
  const mean = w.map((wi, i) => wi / (norms[i]! + eps));
  const meanNorm = Math.sqrt(Math.max(0, gramDot(g, mean, mean)));
  if (meanNorm < eps) {
    if (k === 2) return w.slice();
    fail('RECIPE_E_PARAM', `multislerp: the weighted mean direction of tensor ${tensor} is zero (opposite tensors whose weights cancel); change the weights`);
  }
  const m = mean.map((c) => c / meanNorm);
  // ûᵢ·m, then t = Σ wᵢ(ûᵢ − (ûᵢ·m)m) as coefficients over the vᵢ.
  let along = 0;
  const t = new Array<number>(k).fill(0);
  for (let i = 0; i < k; i++) {
    let dot = 0;
    for (let j = 0; j < k; j++) dot += g[i * k + j]! * m[j]!;
    dot /= norms[i]! + eps;
    t[i]! += w[i]! / (norms[i]! + eps);
    along += w[i]! * dot;
  }
  for (let j = 0; j < k; j++) t[j]! -= along * m[j]!;
  const tau = Math.sqrt(Math.max(0, gramDot(g, t, t))) + eps;
  const avgNorm = norms.reduce((a, n, i) => a + n * w[i]!, 0);
  return m.map((mj, j) => (Math.cos(tau) * mj + (Math.sin(tau) / tau) * t[j]!) * avgNorm);
}

const multislerp: MergeMethod<MultiStats> = {
  name: 'multislerp',
  description: 'Multi-SLERP: spherical barycentric interpolation of several models (or of their task vectors over a base)',
  base: 'optional',
  globalParams: [
    { name: 'normalize_weights', kind: 'boolean', default: true, doc: 'divide the weights by their sum' },
    { name: 'eps', kind: 'number', default: 1e-8, doc: 'added to norms before dividing' },
  ],
  modelParams: [{ name: 'weight', kind: 'number', required: true, doc: 'barycentric weight of this model' }],
  checkModels: (models) => (models < 1 ? 'multislerp needs at least one model' : undefined),
  checkParams(ctx) {
    if (!boolParam(ctx.global.normalize_weights) || ctx.perModel.length < 2) return undefined;
    const sum = ctx.perModel.reduce((a, p) => a + numberParam(p.weight, 'weight'), 0);
    if (sum === 0) return `the weights sum to 0 for tensor ${ctx.name}, so normalize_weights would divide by zero; change the weights or set normalize_weights: false`;
    return undefined;
  },
  statsPasses: (ctx) => (ctx.perModel.length < 2 ? 0 : 1),
  chunkStats: (_ctx, _pass, chunk) => gramPartial(vectors(chunk)),
  combineStats: (ctx, _pass, partials) => ({
    coef: multislerpCoefficients(combineGram(partials as Float64Array[], ctx.perModel.length), weights(ctx), numberParam(ctx.global.eps, 'eps'), ctx.name),
  }),
  merge(ctx, chunk, stats) {
    const out = allocF32(chunk, chunk.models[0]!.length);
    // One model: returned as it is (mergekit), not re-projected.
    if (ctx.perModel.length < 2) out.set(chunk.models[0]!);
    else combineInto(out, vectors(chunk), stats!.coef, chunk.base);
    return out;
  },
};

export default multislerp;
