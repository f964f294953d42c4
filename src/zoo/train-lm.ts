// Supervised training of a Llama-family decoder on (input, target) token sequences: Adam on the mean
// cross-entropy of the target tokens only (the prompt is context, never a target), seeded batch
// draws, linear warm-up then cosine decay of the learning rate. Same seed and data → same weights,
// bit for bit, on the same backend.
import * as tf from '@tensorflow/tfjs';
import { llamaTargetLogLikelihood, type LlamaScoreExample } from '../models/llama.ts';
import { llamaParameterShapes, type LlamaConfig } from '../models/llama-config.ts';
import { seededRandom } from '../tensor/random.ts';

export interface LmTrainOptions {
  steps: number;
  batchSize: number;
  learningRate: number;
  /** Warm-up steps (linear from 0); the rate then decays by a cosine to `minLrFraction` of it. */
  warmup: number;
  minLrFraction: number;
  seed: number;
  /** Called every `logEvery` steps with the mean loss (nats per target token) since the last call. */
  onLog?: (step: number, meanLoss: number) => void;
  logEvery?: number;
}

/** Seeded initialisation: linear weights uniform with std 1/√fan_in (o_proj and down_proj also × 1/√(2·layers)), norms 1, embeddings std 1 (RMSNorm follows them). */
export function initLlamaParams(config: LlamaConfig, seed: number): Record<string, Float32Array> {
  const rand = seededRandom(seed >>> 0);
  const out: Record<string, Float32Array> = {};
  const residualScale = 1 / Math.sqrt(2 * config.numLayers);
  for (const { name, shape } of llamaParameterShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    if (shape.length === 1) v.fill(1);
    else {
      let std = 1 / Math.sqrt(shape[1]!);
      if (name === 'model.embed_tokens.weight') std = 1;
      if (/o_proj|down_proj/.test(name)) std *= residualScale;
      const half = std * Math.sqrt(3); // uniform(-a, a) has std a/√3
      for (let i = 0; i < n; i++) v[i] = (rand() * 2 - 1) * half;
    }
    out[name] = v;
  }
  return out;
}

export function trainLm(config: LlamaConfig, init: Record<string, Float32Array>, data: LlamaScoreExample[], o: LmTrainOptions): Record<string, Float32Array> {
  const shapes = new Map(llamaParameterShapes(config).map((s) => [s.name, s.shape]));
  const vars: Record<string, tf.Variable> = {};
  for (const [name, shape] of shapes) vars[name] = tf.variable(tf.tensor(init[name]!, shape), true, `lm${Object.keys(vars).length}`);
  const varList = Object.values(vars);
  const optimizer = tf.train.adam(o.learningRate, 0.9, 0.98, 1e-8);
  const rand = seededRandom((o.seed ^ 0x2545f491) >>> 0);
  const logEvery = o.logEvery ?? 50;
  try {
    let lossSum = 0;
    let lossCount = 0;
    for (let step = 0; step < o.steps; step++) {
      const lr = step < o.warmup
        ? (o.learningRate * (step + 1)) / o.warmup
        : o.learningRate * (o.minLrFraction + (1 - o.minLrFraction) * 0.5 * (1 + Math.cos((Math.PI * (step - o.warmup)) / Math.max(1, o.steps - o.warmup))));
      // tfjs keeps the rate in a protected field that its update reads every step.
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      const batch = Array.from({ length: o.batchSize }, () => data[Math.floor(rand() * data.length)]!);
      const tokens = batch.reduce((a, ex) => a + ex.target.length, 0);
      const loss = optimizer.minimize(() => tf.div(tf.neg(tf.sum(llamaTargetLogLikelihood(vars, config, batch))), tokens) as tf.Scalar, true, varList)!;
      lossSum += loss.dataSync()[0]!;
      loss.dispose();
      lossCount++;
      if ((step + 1) % logEvery === 0 || step + 1 === o.steps) {
        o.onLog?.(step + 1, lossSum / lossCount);
        lossSum = 0;
        lossCount = 0;
      }
    }
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(vars)) out[name] = Float32Array.from(v.dataSync() as Float32Array);
    return out;
  } finally {
    optimizer.dispose();
    tf.dispose(varList);
  }
}
