import { numberParam, type MergeMethod, type TensorContext } from '../method.ts';
import { RAM_EPSILON, ramCombine } from './ram.ts';

// RAM+ tensor-local (mergekit's `ramplus_tl`, arXiv 2601.13572): RAM (ram.ts), with each model's
// uniquely contributed entries scaled up by how much of its change it shares with others. Per
// tensor and model i, counting entries with |τᵢ| > epsilon:
//   shared_i = entries where model i and at least one other model contribute,
//   unique_i = entries where model i alone contributes,
//   ρᵢ = shared_i / max(unique_i, epsilon),   λᵢ = 1 + r · clamp(ρᵢ, 0, alpha);
// entries only model i changed are multiplied by λᵢ; entries several changed are averaged as in RAM.
// Defaults as mergekit's: r = 0.1, alpha = 0.2, epsilon = 1e-5. One statistics pass counts the
// entries over the whole tensor.

interface Counts {
  shared: number[];
  unique: number[];
}

function lambdas(ctx: TensorContext, c: Counts): number[] {
  const r = numberParam(ctx.global.r, 'r');
  const alpha = numberParam(ctx.global.alpha, 'alpha');
  const eps = numberParam(ctx.global.epsilon, 'epsilon');
  return c.shared.map((s, i) => 1 + r * Math.min(alpha, Math.max(0, s / Math.max(c.unique[i]!, eps))));
}

const ramplusTl: MergeMethod<Counts> = {
  name: 'ramplus_tl',
  description: 'RAM+ (tensor-local): RAM with each model\'s unique entries scaled by 1 + r·clamp(shared/unique, 0, alpha)',
  base: 'required',
  globalParams: [
    { name: 'r', kind: 'number', default: 0.1, doc: 'gain of the unique-entry rescale' },
    { name: 'alpha', kind: 'number', default: 0.2, doc: 'cap on the shared/unique ratio' },
    RAM_EPSILON,
  ],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'ramplus_tl needs base_model' : models < 1 ? 'ramplus_tl needs at least one model besides the base' : undefined),
  statsPasses: () => 1,
  chunkStats(ctx, _pass, chunk) {
    const eps = numberParam(ctx.global.epsilon, 'epsilon');
    const base = chunk.base!;
    const k = chunk.models.length;
    const c: Counts = { shared: new Array<number>(k).fill(0), unique: new Array<number>(k).fill(0) };
    const nz = new Uint8Array(k);
    for (let e = 0; e < base.length; e++) {
      let count = 0;
      for (let i = 0; i < k; i++) {
        nz[i] = +(Math.abs(Math.fround(chunk.models[i]![e]! - base[e]!)) > eps);
        count += nz[i]!;
      }
      if (count === 0) continue;
      const into = count === 1 ? c.unique : c.shared;
      for (let i = 0; i < k; i++) into[i]! += nz[i]!;
    }
    return c;
  },
  combineStats(_ctx, _pass, partials) {
    const ps = partials as Counts[];
    const total: Counts = { shared: ps[0]!.shared.map(() => 0), unique: ps[0]!.unique.map(() => 0) };
    for (const p of ps) {
      p.shared.forEach((v, i) => (total.shared[i]! += v));
      p.unique.forEach((v, i) => (total.unique[i]! += v));
    }
    return total;
  },
  merge: (ctx, chunk, stats) => ramCombine(chunk, numberParam(ctx.global.epsilon, 'epsilon'), lambdas(ctx, stats!)),
};

export default ramplusTl;
