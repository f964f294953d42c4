import { allocF32, numberParam, type Chunk, type MergeMethod, type ParamDef } from '../method.ts';

// RAM, Reinforced Agent Merging (mergekit's `ram`, arXiv 2601.13572). With τᵢ = modelᵢ − base,
// an entry of τᵢ contributes when |τᵢ| > epsilon. Per element, with c contributing models:
//   c = 1: that model's entry is taken whole (an entry only one agent changed is kept, not diluted);
//   c > 1: the contributing entries are averaged (Σ τᵢ / c);
//   c = 0: nothing is added.
// merged = base + that. `epsilon` (1e-5) as mergekit's. No per-model weights.
// ramplus_tl (ramplus_tl.ts) scales the entries taken whole by a per-model factor.

/** base + RAM's combination, with entries that only model i changed scaled by uniqueScale[i]. */
export function ramCombine(chunk: Chunk, epsilon: number, uniqueScale: number[] | null): Float32Array {
  const base = chunk.base!;
  const k = chunk.models.length;
  const out = allocF32(chunk, base.length);
  for (let e = 0; e < base.length; e++) {
    let sum = 0;
    let count = 0;
    let last = 0;
    for (let i = 0; i < k; i++) {
      const d = Math.fround(chunk.models[i]![e]! - base[e]!);
      if (Math.abs(d) > epsilon) {
        sum += d;
        count++;
        last = i;
      }
    }
    const merged = count === 1 ? sum * (uniqueScale ? uniqueScale[last]! : 1) : count > 1 ? sum / count : 0;
    out[e] = base[e]! + merged;
  }
  return out;
}

export const RAM_EPSILON: ParamDef = { name: 'epsilon', kind: 'number', default: 1e-5, doc: 'a task-vector entry contributes when its magnitude exceeds this' };

const ram: MergeMethod = {
  name: 'ram',
  description: 'RAM: per element, keep an entry only one model changed, average entries several models changed',
  base: 'required',
  globalParams: [RAM_EPSILON],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'ram needs base_model' : models < 1 ? 'ram needs at least one model besides the base' : undefined),
  merge: (ctx, chunk) => ramCombine(chunk, numberParam(ctx.global.epsilon, 'epsilon'), null),
};

export default ram;
