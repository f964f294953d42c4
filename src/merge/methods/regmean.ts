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
import { modelStatistics, readGram, STATISTICS_PARAM } from '../statistics/store.ts';

interface RegMeanStats {
  /** Per model: weightₜ · Gₜ with off-diagonals scaled by alpha, row-major [in, in]. */
  grams: Float64Array[];
  /** Lower Cholesky factor of S = Σₜ grams[t] (dead features' diagonal set to 1), row-major. */
  chol: Float64Array;
  /** 1 where the input feature is zero for every expert. */
  dead: Uint8Array;
}

/** Whether this tensor is merged by the least-squares rule (a 2-D weight with a Gram per model). */
function usesGram(ctx: TensorContext): boolean {
  if (ctx.shape.length !== 2) return false;
  return ctx.perModel.every((_, i) => readGramOf(ctx, i, true) !== undefined);
}

function readGramOf(ctx: TensorContext, i: number, probe = false): Float64Array | undefined {
  const s = modelStatistics(ctx, i, 'gram', 'regmean');
  if (probe) return s.file.tensors.has(`gram:${ctx.name}`) ? new Float64Array(0) : undefined;
  return readGram(s, ctx.name, ctx.cols);
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

const regmean: MergeMethod<RegMeanStats> = {
  name: 'regmean',
  description: 'RegMean: per linear layer the least-squares merge (Σ Gₜ)⁻¹ Σ Gₜ Wₜ from each expert\'s input Gram matrix; other tensors averaged',
  base: 'unused',
  globalParams: [
    { name: 'alpha', kind: 'number', default: 0.95, doc: 'scale of the Gram matrices\' off-diagonal entries (1: exact least squares; 0: per-feature weighted average)' },
  ],
  modelParams: [
    { name: 'weight', kind: 'number', default: 1, doc: 'scale of this model\'s Gram matrix (its say in the least-squares fit)' },
    STATISTICS_PARAM,
  ],
  checkModels: (models) => (models < 1 ? 'regmean needs at least one model' : undefined),
  checkParams(ctx) {
    const alpha = numberParam(ctx.global.alpha ?? 0.95, 'alpha');
    if (alpha < 0 || alpha > 1) return `alpha is ${alpha}; it must be in [0, 1]`;
    for (const [i, p] of ctx.perModel.entries()) {
      const w = numberParam(p.weight ?? 1, 'weight');
      if (!(w > 0)) return `weight of ${ctx.modelRefs?.[i] ?? `model ${i + 1}`} is ${w}; RegMean needs positive weights`;
    }
    // Find every model's statistics now, so a missing file stops the plan before any data is read.
    ctx.perModel.forEach((_, i) => modelStatistics(ctx, i, 'gram', 'regmean'));
    return undefined;
  },
  statsPasses: (ctx) => (usesGram(ctx) ? 1 : 0),
  chunkStats: () => null,
  combineStats(ctx) {
    const n = ctx.cols;
    const alpha = numberParam(ctx.global.alpha ?? 0.95, 'alpha');
    const grams = ctx.perModel.map((p, i) => {
      const g = readGramOf(ctx, i)!;
      const w = numberParam(p.weight ?? 1, 'weight');
      for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) g[r * n + c] = g[r * n + c]! * w * (r === c ? 1 : alpha);
      return g;
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
  },
  merge(ctx, chunk, stats) {
    const models = chunk.models;
    const k = models.length;
    const len = models[0]!.length;
    const out = allocF32(chunk, len);
    if (!stats) {
      for (let e = 0; e < len; e++) {
        let acc = 0;
        for (let m = 0; m < k; m++) acc += models[m]![e]!;
        out[e] = acc / k;
      }
      return out;
    }
    const n = ctx.cols;
    const rows = len / n;
    const rhs = new Float64Array(n);
    for (let r = 0; r < rows; r++) {
      rhs.fill(0);
      for (let m = 0; m < k; m++) {
        const g = stats.grams[m]!;
        const w = models[m]!;
        const off = r * n;
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
        for (let m = 0; m < k; m++) acc += models[m]![r * n + j]!;
        rhs[j] = acc / k;
      }
      cholSolveInPlace(stats.chol, n, rhs);
      for (let j = 0; j < n; j++) out[r * n + j] = rhs[j]!;
    }
    return out;
  },
};

export default regmean;
