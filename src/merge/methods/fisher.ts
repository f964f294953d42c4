// Fisher merging (Matena & Raffel 2022, "Merging Models with Fisher-Weighted Averaging"): every
// parameter is the average of the models' values weighted by each model's diagonal Fisher
// information there,  θ = Σₜ cₜ (Fₜ + ε) θₜ / Σₜ cₜ (Fₜ + ε).
//
// Defaults and choices (FusionBench `merging_with_fisher_weights`, from MergeLM):
// - ε = `minimal_fisher_weight` = 1e-6 is added to every Fisher entry (so an entry no model saw
//   falls back to the weighted average rather than 0/0).
// - `normalize_fisher_weight` (default true): a model's whole Fisher is scaled down by its global
//   L2 norm ‖Fₜ‖ (over every fisher: tensor of its statistics file; the producer stores it), i.e.
//   cₜ = weightₜ · (1/(‖Fₜ‖+ε)) / Σₛ 1/(‖Fₛ‖+ε), so experts whose gradients are larger overall do
//   not dominate everywhere. ε stays added to the raw Fisher, as in the reference.
// - `weight` (default 1) is the reference's fisher_scaling_coefficients.
// - A tensor with no Fisher in a model's statistics counts as Fisher 0 there (then ε only), which
//   makes it the weight-normalised average when no model has one.
// - The base model is not an input. Fₜ comes from `mergesearch stats --kind fisher`.
import { allocF32, boolParam, numberParam, type MergeMethod } from '../method.ts';
import { fisherNorm, modelStatistics, readFisherRows, STATISTICS_PARAM } from '../statistics/store.ts';

const fisher: MergeMethod = {
  name: 'fisher',
  description: 'Fisher merging: per-element average weighted by each model\'s diagonal Fisher information',
  base: 'unused',
  globalParams: [
    { name: 'normalize', kind: 'boolean', default: true, doc: 'scale each model\'s Fisher by the inverse of its global L2 norm (FusionBench normalize_fisher_weight)' },
    { name: 'epsilon', kind: 'number', default: 1e-6, doc: 'added to every Fisher entry (FusionBench minimal_fisher_weight)' },
  ],
  searchInit: { weight: 1 },
  modelParams: [
    { name: 'weight', kind: 'number', default: 1, doc: 'scaling coefficient of this model\'s Fisher' },
    STATISTICS_PARAM,
  ],
  checkModels: (models) => (models < 1 ? 'fisher needs at least one model' : undefined),
  checkParams(ctx) {
    const eps = numberParam(ctx.global.epsilon ?? 1e-6, 'epsilon');
    if (!(eps >= 0)) return `epsilon is ${eps}; it must be ≥ 0`;
    for (const [i, p] of ctx.perModel.entries()) {
      const w = numberParam(p.weight ?? 1, 'weight');
      if (!(w >= 0)) return `weight of ${ctx.modelRefs?.[i] ?? `model ${i + 1}`} is ${w}; it must be ≥ 0`;
    }
    if (ctx.perModel.every((p) => numberParam(p.weight ?? 1, 'weight') === 0)) return 'every model\'s weight is 0; at least one must be positive';
    if (!ctx.valuesOnly) ctx.perModel.forEach((_, i) => modelStatistics(ctx, i, 'fisher', 'fisher'));
    return undefined;
  },
  merge(ctx, chunk) {
    const eps = numberParam(ctx.global.epsilon ?? 1e-6, 'epsilon');
    const k = chunk.models.length;
    const files = ctx.perModel.map((_, i) => modelStatistics(ctx, i, 'fisher', 'fisher'));
    const coef = ctx.perModel.map((p) => numberParam(p.weight ?? 1, 'weight'));
    if (boolParam(ctx.global.normalize ?? true)) {
      const inv = files.map((f) => 1 / (fisherNorm(f) + eps));
      const total = inv.reduce((a, b) => a + b, 0);
      for (let m = 0; m < k; m++) coef[m] = coef[m]! * (inv[m]! / total);
    }
    const fishers = files.map((f) => readFisherRows(f, ctx.name, ctx.shape, chunk.rowStart, chunk.rowEnd));
    const len = chunk.models[0]!.length;
    const out = allocF32(chunk, len);
    for (let e = 0; e < len; e++) {
      let num = 0;
      let den = 0;
      for (let m = 0; m < k; m++) {
        const w = coef[m]! * ((fishers[m]?.[e] ?? 0) + eps);
        num += w * chunk.models[m]![e]!;
        den += w;
      }
      out[e] = num / den;
    }
    return out;
  },
};

export default fisher;
