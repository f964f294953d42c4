import { numberParam, type MergeMethod } from '../method.ts';

// Copies the single input model, optionally multiplied by `scale`.
const passthrough: MergeMethod = {
  name: 'passthrough',
  description: 'copy the one input model, optionally times scale',
  base: 'unused',
  globalParams: [],
  modelParams: [{ name: 'scale', kind: 'number', doc: 'multiply the tensor by this value' }],
  checkModels: (models) => (models !== 1 ? `passthrough takes exactly one model, got ${models}` : undefined),
  merge(ctx, chunk) {
    const x = chunk.models[0]!;
    const scale = ctx.perModel[0]?.scale;
    if (scale === undefined) return x;
    const s = numberParam(scale, 'scale');
    const out = new Float32Array(x.length);
    for (let e = 0; e < x.length; e++) out[e] = x[e]! * s;
    return out;
  },
};

export default passthrough;
