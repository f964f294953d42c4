import { allocF32, numberParam, type MergeMethod } from '../method.ts';

// NearSwap (mergekit's `nearswap`): take the other model's value where it lies near the base's and
// keep the base's where they differ much. Per element, with a = base and b = the other model:
//   w = clamp(t / max(|a − b|, 1e-6), 0, 1),   merged = w·b + (1 − w)·a.
// So entries within `t` of the base become b exactly; farther ones move toward b by t/|a − b|.
// Parameters as mergekit's: `t` (required, no default). Exactly one model besides the base.
const MIN_DIFF = 1e-6;

const nearswap: MergeMethod = {
  name: 'nearswap',
  description: 'NearSwap: per element, move from the base to the other model by min(1, t / |base − model|)',
  base: 'required',
  globalParams: [{ name: 't', kind: 'number', required: true, doc: 'distance below which the other model\'s value is taken whole' }],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'nearswap needs base_model' : models !== 1 ? `nearswap merges the base with exactly one other model, got ${models}` : undefined),
  merge(ctx, chunk) {
    const t = numberParam(ctx.global.t, 't');
    const a = chunk.base!;
    const b = chunk.models[0]!;
    const out = allocF32(chunk, a.length);
    for (let e = 0; e < a.length; e++) {
      const w = Math.min(1, Math.max(0, t / Math.max(Math.abs(a[e]! - b[e]!), MIN_DIFF)));
      out[e] = w * b[e]! + (1 - w) * a[e]!;
    }
    return out;
  },
};

export default nearswap;
