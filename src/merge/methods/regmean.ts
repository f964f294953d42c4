// RegMean (Jin et al. 2023, "Dataless Knowledge Fusion by Merging Weights of Language Models"):
// each linear layer is merged as the least-squares solution that best reproduces every expert's
// outputs on that expert's own inputs,
//   W = argmin Σₜ ‖Xₜ Wᵀ − Xₜ Wₜᵀ‖²  ⇒  Wᵀ = (Σₜ Gₜ)⁻¹ Σₜ Gₜ Wₜᵀ,   Gₜ = XₜᵀXₜ / Nₜ  [in, in].
// With torch/HF weights W [out, in] every output row r is its own system: S wᵣ = Σₜ Gₜ wₜ,ᵣ with
// S = Σₜ Gₜ, so row chunks merge independently once S is factored (Cholesky, float64, ml-matrix).
//
// Defaults and choices (FusionBench `merging_with_regmean_weights`, MergeLM):
// - `alpha` multiplies the off-diagonal entries of every Gₜ before summing (FusionBench's
//   reduce_non_diagonal_ratio); default 0.95, FusionBench's CLIP setting (its GPT-2 setting is 0.6,
//   the base config 0.1). α = 0 reduces to a per-input-feature weighted average.
// - Gₜ is the mean of xᵀx over the calibration rows (the reference's running average), so experts
//   with more calibration data do not outweigh the others. `weight` (default 1, not in the
//   reference) scales an expert's Gram, which is the searchable knob.
// - Tensors without a Gram in the statistics (norms, biases, embeddings, any weight the producer
//   did not see as a linear layer) are the plain average of the models, as in the reference.
// - An input feature that is zero for every expert (a dead unit) leaves its row/column of S zero;
//   its weights are then the models' average instead of a singular solve. Should S still not be
//   positive definite, a ridge of 1e-10·mean(diag S) is added, ×100 until it factors.
// - The base model is not an input (RegMean merges the fine-tuned weights themselves).
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { allocF32, numberParam, type MergeMethod, type TensorContext } from '../method.ts';
import { gramKey, gramPlusKey, modelStatistics, readGram, STATISTICS_PARAM, type StatisticsKind } from '../statistics/store.ts';

export interface RegMeanStats {
  /** Per model: weightₜ · Gₜ with off-diagonals scaled by alpha, row-major [in, in]. */
  grams: Float64Array[];
  /** Lower Cholesky factor of S = Σₜ grams[t] (dead features' diagonal set to 1), row-major. */
  chol: Float64Array;
  /** 1 where the input feature is zero for every expert. */
  dead: Uint8Array;
}

/** Factor S (row-major n×n) in float64; adds a growing ridge when it is not positive definite. */
export function choleskyLower(s: Float64Array, n: number): Float64Array {
  let meanDiag = 0;
  for (let j = 0; j < n; j++) meanDiag += s[j * n + j]! / n;
  let ridge = 0;
  for (let attempt = 0; attempt < 8; attempt++) {
    const m = new Matrix(n, n);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) m.set(r, c, s[r * n + c]! + (r === c ? ridge : 0));
    const chol = new CholeskyDecomposition(m);
    if (chol.isPositiveDefinite()) {
      const l = chol.lowerTriangularMatrix;
      const out = new Float64Array(n * n);
      for (let r = 0; r < n; r++) for (let c = 0; c <= r; c++) out[r * n + c] = l.get(r, c);
      return out;
    }
    ridge = ridge === 0 ? 1e-10 * Math.max(meanDiag, 1e-30) : ridge * 100;
  }
  throw new Error('regmean: the summed Gram matrix is not positive definite even with a ridge');
}

/** Solve L Lᵀ x = b in place (L lower, row-major n×n). */
export function cholSolveInPlace(l: Float64Array, n: number, b: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let v = b[i]!;
    const row = i * n;
    for (let k = 0; k < i; k++) v -= l[row + k]! * b[k]!;
    b[i] = v / l[row + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let v = b[i]!;
    for (let k = i + 1; k < n; k++) v -= l[k * n + i]! * b[k]!;
    b[i] = v / l[i * n + i]!;
  }
}

/**
 * The factored system of one weight: Grams scaled by their model weights, off-diagonals × alpha,
 * summed and factored (dead features decoupled). `grams` are modified in place.
 */
export function prepareRegmean(grams: Float64Array[], n: number, alpha: number, weights: number[]): RegMeanStats {
  grams.forEach((g, t) => {
    const w = weights[t]!;
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) g[r * n + c] = g[r * n + c]! * w * (r === c ? 1 : alpha);
  });
  const sum = new Float64Array(n * n);
  for (const g of grams) for (let k = 0; k < sum.length; k++) sum[k] = sum[k]! + g[k]!;
  const dead = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    if (sum[j * n + j] === 0) {
      dead[j] = 1;
      sum[j * n + j] = 1; // its row and column are zero: the equation decouples
    }
  }
  return { grams, chol: choleskyLower(sum, n), dead };
}

/** Merged rows of a weight given its prepared system: each row solves S w = Σₜ Gₜ' wₜ. */
export function solveRegmeanRows(stats: RegMeanStats, models: Float32Array[], n: number, out: Float32Array): Float32Array {
  const k = models.length;
  const rows = models[0]!.length / n;
  const rhs = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    rhs.fill(0);
    const off = r * n;
    for (let m = 0; m < k; m++) {
      const g = stats.grams[m]!;
      const w = models[m]!;
      for (let i = 0; i < n; i++) {
        let acc = 0;
        const gi = i * n;
        for (let j = 0; j < n; j++) acc += g[gi + j]! * w[off + j]!;
        rhs[i] = rhs[i]! + acc;
      }
    }
    for (let j = 0; j < n; j++) {
      if (!stats.dead[j]) continue;
      let acc = 0;
      for (let m = 0; m < k; m++) acc += models[m]![off + j]!;
      rhs[j] = acc / k;
    }
    cholSolveInPlace(stats.chol, n, rhs);
    for (let j = 0; j < n; j++) out[off + j] = rhs[j]!;
  }
  return out;
}

/** The average of the models (tensors RegMean does not solve for). */
export function averageModels(models: Float32Array[], out: Float32Array): Float32Array {
  const k = models.length;
  for (let e = 0; e < out.length; e++) {
    let acc = 0;
    for (let m = 0; m < k; m++) acc += models[m]![e]!;
    out[e] = acc / k;
  }
  return out;
}

/** RegMean over the Grams of statistics kind `kind` (regmean: gram; regmean_plus: gram_plus). */
export function regmeanFamily(name: string, description: string, kind: Extract<StatisticsKind, 'gram' | 'gram_plus'>): MergeMethod<RegMeanStats> {
  const key = kind === 'gram' ? gramKey : gramPlusKey;
  const gramOf = (ctx: TensorContext, i: number) => readGram(modelStatistics(ctx, i, kind, name), ctx.name, ctx.cols, key);
  // A tensor is solved for when it is 2-D and every model's statistics hold a Gram for it.
  const usesGram = (ctx: TensorContext) => ctx.shape.length === 2 && ctx.perModel.every((_, i) => modelStatistics(ctx, i, kind, name).file.tensors.has(key(ctx.name)));
  return {
    name,
    description,
    base: 'unused',
    globalParams: [
      { name: 'alpha', kind: 'number', default: 0.95, doc: 'scale of the Gram matrices\' off-diagonal entries (1: exact least squares; 0: per-feature weighted average)' },
    ],
    searchInit: { weight: 1 },
    modelParams: [
      { name: 'weight', kind: 'number', default: 1, doc: 'scale of this model\'s Gram matrix (its say in the least-squares fit)' },
      STATISTICS_PARAM,
    ],
    checkModels: (models) => (models < 1 ? `${name} needs at least one model` : undefined),
    checkParams(ctx) {
      const alpha = numberParam(ctx.global.alpha ?? 0.95, 'alpha');
      if (alpha < 0 || alpha > 1) return `alpha is ${alpha}; it must be in [0, 1]`;
      for (const [i, p] of ctx.perModel.entries()) {
        const w = numberParam(p.weight ?? 1, 'weight');
        if (!(w > 0)) return `weight of ${ctx.modelRefs?.[i] ?? `model ${i + 1}`} is ${w}; RegMean needs positive weights`;
      }
      // Find every model's statistics now, so a missing file stops the plan before any data is read.
      if (!ctx.valuesOnly) ctx.perModel.forEach((_, i) => modelStatistics(ctx, i, kind, name));
      return undefined;
    },
    statsPasses: (ctx) => (usesGram(ctx) ? 1 : 0),
    chunkStats: () => null,
    combineStats(ctx) {
      const grams = ctx.perModel.map((_, i) => gramOf(ctx, i)!);
      return prepareRegmean(grams, ctx.cols, numberParam(ctx.global.alpha ?? 0.95, 'alpha'), ctx.perModel.map((p) => numberParam(p.weight ?? 1, 'weight')));
    },
    merge(ctx, chunk, stats) {
      const out = allocF32(chunk, chunk.models[0]!.length);
      return stats ? solveRegmeanRows(stats, chunk.models, ctx.cols, out) : averageModels(chunk.models, out);
    },
  };
}

export default regmeanFamily('regmean', 'RegMean: per linear layer the least-squares merge (Σ Gₜ)⁻¹ Σ Gₜ Wₜ from each expert\'s input Gram matrix; other tensors averaged', 'gram');
