// Supervised training of an MLP classifier (one task head at a time) with plain SGD and seeded
// batch order: the same seed and data give the same weights, bit for bit, on the same backend.
import * as tf from '@tensorflow/tfjs';
import { mlpLogits, type MlpConfig } from '../models/mlp-classifier.ts';
import { permutation, PIXELS } from './mnist-data.ts';

export interface TrainData {
  /** count × 784 inputs (see toInputs). */
  inputs: Float32Array;
  labels: Uint8Array;
  count: number;
}

export interface TrainOptions {
  task: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Which tensors are trained (the rest stay fixed). */
  trainable: (name: string) => boolean;
  onEpoch?: (epoch: number, meanLoss: number) => void;
}

export function trainClassifier(config: MlpConfig, init: Record<string, Float32Array>, shapes: Map<string, number[]>, data: TrainData, o: TrainOptions): Record<string, Float32Array> {
  const vars: Record<string, tf.Variable> = {};
  const fixed: Record<string, tf.Tensor> = {};
  for (const [name, values] of Object.entries(init)) {
    const t = tf.tensor(values, shapes.get(name)!);
    if (o.trainable(name)) {
      vars[name] = tf.variable(t, true, `p${Object.keys(vars).length}`);
      t.dispose();
    } else fixed[name] = t;
  }
  const optimizer = tf.train.sgd(o.learningRate);
  const varList = Object.values(vars);
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const order = permutation(data.count, (o.seed + Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
      let lossSum = 0;
      let batches = 0;
      for (let b0 = 0; b0 + o.batchSize <= data.count; b0 += o.batchSize) {
        const xb = new Float32Array(o.batchSize * PIXELS);
        const yb = new Int32Array(o.batchSize);
        for (let i = 0; i < o.batchSize; i++) {
          const j = order[b0 + i]!;
          xb.set(data.inputs.subarray(j * PIXELS, (j + 1) * PIXELS), i * PIXELS);
          yb[i] = data.labels[j]!;
        }
        const loss = tf.tidy(() => {
          const x = tf.tensor2d(xb, [o.batchSize, PIXELS]);
          const y = tf.oneHot(tf.tensor1d(yb, 'int32'), config.numClasses);
          return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, mlpLogits({ ...fixed, ...vars }, config, x, o.task)) as tf.Scalar, true, varList) as tf.Scalar;
        });
        lossSum += loss.dataSync()[0]!;
        loss.dispose();
        batches++;
      }
      o.onEpoch?.(epoch, batches > 0 ? lossSum / batches : NaN);
    }
    const out: Record<string, Float32Array> = {};
    for (const name of Object.keys(init)) out[name] = Float32Array.from((vars[name] ?? fixed[name])!.dataSync() as Float32Array);
    return out;
  } finally {
    optimizer.dispose();
    tf.dispose([...varList, ...Object.values(fixed)]);
  }
}
