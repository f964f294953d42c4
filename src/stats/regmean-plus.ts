// RegMean++ Grams for an MLP-classifier zoo: the backbone is merged layer by layer with RegMean,
// and each expert's Gram for layer i is taken on the inputs that the *merged* layers 0..i−1
// produce from that expert's calibration data (layer 0: the data itself, so its Grams equal
// plain RegMean's). The merge of the earlier layers is the regmean method's own arithmetic
// (prepareRegmean / solveRegmeanRows, biases and norms averaged) with the given alpha.
import * as tf from '@tensorflow/tfjs';
import { averageModels, prepareRegmean, solveRegmeanRows } from '../merge/methods/regmean.ts';
import { mlpFeatures, type MlpConfig } from '../models/mlp-classifier.ts';
import { GramAccumulator } from './gram-accumulator.ts';

export type GramMap = Map<string, { size: number; values: Float64Array }>;

/**
 * Per expert, the RegMean++ Gram of every backbone weight. `experts[t]` maps tensor names to
 * values; `inputs[t]` holds expert t's calibration inputs [counts[t], input_size].
 */
export function mlpRegmeanPlusGrams(config: MlpConfig, experts: Array<Map<string, Float32Array>>, inputs: Float32Array[], counts: number[], alpha: number): GramMap[] {
  const out: GramMap[] = experts.map(() => new Map());
  let xs = inputs;
  let fanIn = config.inputSize;
  config.hiddenSizes.forEach((width, i) => {
    const prefix = `backbone.layers.${i}`;
    const grams = xs.map((x, t) => {
      const acc = new GramAccumulator();
      tf.tidy(() => acc.add(`${prefix}.weight`, tf.tensor2d(x, [counts[t]!, fanIn])));
      return acc.finish().grams.get(`${prefix}.weight`)!;
    });
    grams.forEach((g, t) => out[t]!.set(`${prefix}.weight`, { size: fanIn, values: Float64Array.from(g.values) }));
    // Merge this layer as regmean would, then feed every expert's inputs through the merged layer.
    const system = prepareRegmean(grams.map((g) => g.values), fanIn, alpha, experts.map(() => 1));
    const merged: Record<string, tf.Tensor> = {};
    const weight = solveRegmeanRows(system, experts.map((e) => e.get(`${prefix}.weight`)!), fanIn, new Float32Array(width * fanIn));
    merged['backbone.layers.0.weight'] = tf.tensor2d(weight, [width, fanIn]);
    for (const suffix of ['bias', 'norm.weight', 'norm.bias']) {
      const values = experts.map((e) => e.get(`${prefix}.${suffix}`)).filter((v): v is Float32Array => v !== undefined);
      if (values.length === experts.length) merged[`backbone.layers.0.${suffix}`] = tf.tensor1d(averageModels(values, new Float32Array(width)));
    }
    const layer: MlpConfig = { ...config, inputSize: fanIn, hiddenSizes: [width] };
    if (i < config.hiddenSizes.length - 1) {
      xs = xs.map((x, t) => tf.tidy(() => mlpFeatures(merged, layer, tf.tensor2d(x, [counts[t]!, fanIn])).dataSync() as Float32Array));
    }
    tf.dispose(Object.values(merged));
    fanIn = width;
  });
  return out;
}
