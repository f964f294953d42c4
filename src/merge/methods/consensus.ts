// Consensus merging with TALL masks (Wang et al. 2024, "Localizing Task Information for Improved
// Model Merging and Compression"), per element:
//   τ_MTL  = the base method's merged task vector: task arithmetic Σₜ weightₜ τₜ, or TIES without
//            trimming (sign elected by Σₜ weightₜ τₜ, zero counting as +; agreeing entries
//            averaged, Σ weightₜ τₜ / Σ weightₜ over them);
//   maskₜ  = |τₜ| > tall_lambdaₜ · |τ_MTL − τₜ|   (task t's TALL mask: where the merge keeps t's edit);
//   keep   = (Σₜ maskₜ) ≥ k                       (weights that matter to at least k tasks);
//   result = base + λ · keep ⊙ τ_MTL.
// k = 2 drops both "catastrophic" weights (no task needs them) and "selfish" ones (one task only);
// k = 0 reduces to the base method, k > tasks to the base model.
//
// Defaults (reference: nik-dim/tall_masks, construct_consensus_mask and generate_task_masks;
// FusionBench tall_mask): k = prun_thre_k = 2, tall_lambda = 0.6 (FusionBench's setting; the paper
// picks it per task from 0.2…0.6 on validation data, here it is a per-model, searchable parameter),
// base_method task_arithmetic, λ = 1 (tuned on validation in the paper). The reference's TIES variant
// keeps 100 % of entries before electing (k=100 in its config), so no trimming is offered here.
// Masks use τ_MTL before λ, as the reference builds them from the unscaled merged vector.
// Everything is elementwise: no statistics passes, chunks merge independently.
import { allocF32, numberParam, type MergeMethod } from '../method.ts';

const BASE_METHODS = ['task_arithmetic', 'ties'] as const;

const consensus: MergeMethod = {
  name: 'consensus',
  description: 'Consensus merging: keep the merged task vector only where at least k tasks\' TALL masks agree it matters',
  base: 'required',
  globalParams: [
    { name: 'k', kind: 'number', default: 2, doc: 'least number of tasks whose TALL mask must select an entry for it to be kept' },
    { name: 'base_method', kind: 'string', default: 'task_arithmetic', choices: BASE_METHODS, doc: 'how the task vectors are combined before masking: task_arithmetic (weighted sum) or ties (sign election, disjoint mean)' },
    { name: 'lambda', kind: 'number', default: 1, doc: 'scale of the masked merged task vector' },
  ],
  modelParams: [
    { name: 'weight', kind: 'number', default: 1, doc: 'weight of this model\'s task vector in the base method' },
    { name: 'tall_lambda', kind: 'number', default: 0.6, doc: 'TALL mask threshold: keep where |τ| > tall_lambda · |τ_MTL − τ|' },
  ],
  checkModels: (models, hasBase) => (!hasBase ? 'consensus needs base_model' : models < 1 ? 'consensus needs at least one model besides the base' : undefined),
  checkParams(ctx) {
    const k = numberParam(ctx.global.k ?? 2, 'k');
    if (k < 0) return `k is ${k}; it must be ≥ 0`;
    for (const [i, p] of ctx.perModel.entries()) {
      const l = numberParam(p.tall_lambda ?? 0.6, 'tall_lambda');
      if (l < 0) return `tall_lambda of ${ctx.modelRefs?.[i] ?? `model ${i + 1}`} is ${l}; it must be ≥ 0`;
    }
    return undefined;
  },
  merge(ctx, chunk) {
    const base = chunk.base!;
    const n = chunk.models.length;
    const weights = ctx.perModel.map((p) => numberParam(p.weight ?? 1, 'weight'));
    const tall = ctx.perModel.map((p) => numberParam(p.tall_lambda ?? 0.6, 'tall_lambda'));
    const k = numberParam(ctx.global.k ?? 2, 'k');
    const lambda = numberParam(ctx.global.lambda ?? 1, 'lambda');
    const ties = ctx.global.base_method === 'ties';
    const tau = new Float64Array(n);
    const out = allocF32(chunk, base.length);
    for (let e = 0; e < base.length; e++) {
      let sum = 0;
      for (let t = 0; t < n; t++) {
        tau[t] = chunk.models[t]![e]! - base[e]!;
        sum += weights[t]! * tau[t]!;
      }
      let mtl = sum;
      if (ties) {
        const positive = sum >= 0;
        let num = 0;
        let den = 0;
        for (let t = 0; t < n; t++) {
          const v = tau[t]!;
          if (v !== 0 && v > 0 === positive) {
            num += weights[t]! * v;
            den += weights[t]!;
          }
        }
        mtl = num / (den === 0 ? 1 : den);
      }
      let votes = 0;
      for (let t = 0; t < n; t++) if (Math.abs(tau[t]!) > tall[t]! * Math.abs(mtl - tau[t]!)) votes++;
      out[e] = base[e]! + (votes >= k ? lambda * mtl : 0);
    }
    return out;
  },
};

export default consensus;
