// Statistics of an MLP classifier (src/models/mlp-classifier.ts) on a calibration set, for one task
// head: the input Gram of every backbone layer (and of a linear head), and the diagonal Fisher of
// every parameter the task's forward uses (backbone and that head).
//
// Fisher: the expected Fisher of the model's own predictive distribution per example,
//   F = (1/N) Σₙ Σ_c p(c|xₙ) (∇ log p(c|xₙ))²,
// computed exactly with one backward pass per class. (FusionBench squares the gradient of
// Σ sqrt(p)·log p over a batch, an approximation of this quantity; normalised Fisher merging
// divides the scale out anyway.) Cost: classes × examples backward passes.
import * as tf from '@tensorflow/tfjs';
import { mlpFeatures, mlpLogits, type MlpConfig } from '../models/mlp-classifier.ts';
import type { StatisticsContent } from '../merge/statistics/write.ts';
import type { StatisticsKind } from '../merge/statistics/store.ts';
import { GramAccumulator } from './gram-accumulator.ts';

export interface MlpStatsOptions {
  kinds: ReadonlySet<StatisticsKind>;
  /** Head whose forward the statistics follow. */
  task: string;
  batchSize?: number;
}

const layerWeight = (i: number) => `backbone.layers.${i}.weight`;

/** Statistics of `params` on inputs x [n, input_size] (already scaled as the model expects). */
export function mlpStatistics(params: Record<string, tf.Tensor>, config: MlpConfig, x: Float32Array, n: number, o: MlpStatsOptions): StatisticsContent {
  const out: StatisticsContent = {};
  const batch = o.batchSize ?? 64;
  if (o.kinds.has('gram')) {
    const acc = new GramAccumulator();
    for (let b0 = 0; b0 < n; b0 += batch) {
      const b1 = Math.min(n, b0 + batch);
      tf.tidy(() => {
        const xb = tf.tensor2d(x.subarray(b0 * config.inputSize, b1 * config.inputSize), [b1 - b0, config.inputSize]);
        // The input of layer i is the output of the first i layers: the model's own forward, truncated.
        config.hiddenSizes.forEach((_, i) => acc.add(layerWeight(i), i === 0 ? xb : mlpFeatures(params, { ...config, hiddenSizes: config.hiddenSizes.slice(0, i) }, xb)));
        // A cosine head normalises its weight, so it is not a linear layer in W: no Gram for it.
        if (config.head === 'linear') acc.add(`heads.${o.task}.weight`, mlpFeatures(params, config, xb));
      });
    }
    const { grams, rows } = acc.finish();
    out.grams = grams;
    out.rows = rows;
  }
  if (o.kinds.has('fisher')) {
    out.fishers = mlpFisher(params, config, x, n, o.task);
    out.samples = n;
  }
  return out;
}

function mlpFisher(params: Record<string, tf.Tensor>, config: MlpConfig, x: Float32Array, n: number, task: string): Map<string, { shape: number[]; values: Float32Array }> {
  const names = Object.keys(params).filter((k) => k.startsWith('backbone.') || k.startsWith(`heads.${task}.`));
  const tensors = names.map((k) => params[k]!);
  const logProbs = (xn: tf.Tensor2D) => (...ts: tf.Tensor[]) => {
    const p: Record<string, tf.Tensor> = { ...params };
    names.forEach((k, i) => (p[k] = ts[i]!));
    return tf.logSoftmax(mlpLogits(p, config, xn, task)).reshape([config.numClasses]);
  };
  const sums = tensors.map((t) => new Float64Array(t.size));
  for (let e = 0; e < n; e++) {
    const xn = tf.tensor2d(x.subarray(e * config.inputSize, (e + 1) * config.inputSize), [1, config.inputSize]);
    const f = logProbs(xn);
    const probs = tf.tidy(() => tf.exp(f(...tensors))).dataSync() as Float32Array;
    for (let c = 0; c < config.numClasses; c++) {
      // ∇ log p(c|x): the gradient of the log-probability vector against the one-hot direction c.
      const dy = tf.tensor1d(Float32Array.from({ length: config.numClasses }, (_, j) => (j === c ? 1 : 0)));
      const grads = tf.grads(f)(tensors, dy);
      grads.forEach((g, i) => {
        const v = g.dataSync();
        const s = sums[i]!;
        for (let k = 0; k < v.length; k++) s[k] = s[k]! + probs[c]! * v[k]! * v[k]!;
      });
      tf.dispose([dy, ...grads]);
    }
    xn.dispose();
  }
  return new Map(names.map((k, i) => [k, { shape: [...tensors[i]!.shape], values: Float32Array.from(sums[i]!, (v) => v / Math.max(1, n)) }]));
}
