import { weightedSum } from '../../tensor/fused-kernels.ts';
import { allocF32, boolParam, numberParam, type MergeMethod, type TensorContext } from '../method.ts';

// Weighted average of the models themselves (no base): Σ wᵢ xᵢ, divided by Σ wᵢ when normalize.
function scaledWeights(ctx: TensorContext): number[] {
  const weights = ctx.perModel.map((p) => numberParam(p.weight, 'weight'));
  const div = boolParam(ctx.global.normalize) ? weights.reduce((a, b) => a + b, 0) : 1;
  return weights.map((w) => w / div);
}

const linear: MergeMethod = {
  name: 'linear',
  description: 'weighted average of the models: Σ weightᵢ · modelᵢ (/ Σ weightᵢ when normalize)',
  base: 'unused',
  globalParams: [{ name: 'normalize', kind: 'boolean', default: true, doc: 'divide by the sum of the weights' }],
  modelParams: [{ name: 'weight', kind: 'number', required: true, doc: 'weight of this model' }],
  checkModels: (models) => (models < 1 ? 'linear needs at least one model' : undefined),
  checkParams(ctx) {
    const sum = ctx.perModel.reduce((a, p) => a + numberParam(p.weight, 'weight'), 0);
    if (boolParam(ctx.global.normalize) && Math.abs(sum) < 1e-8) return `the weights sum to ${sum} for tensor ${ctx.name}, so normalize would divide by zero; change the weights or set normalize: false`;
    return undefined;
  },
  merge(ctx, chunk) {
    const out = allocF32(chunk, chunk.models[0]!.length);
    weightedSum(out, chunk.models, scaledWeights(ctx));
    return out;
  },
  plainWeightedSum: (ctx) => scaledWeights(ctx),
  elementwise: (ctx) => ({ kind: 'weighted-sum', weights: scaledWeights(ctx) }),
};

export default linear;
