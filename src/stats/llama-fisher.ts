// Diagonal Fisher information of a Llama-family decoder (src/models/llama.ts) on calibration token
// sequences, for Fisher merging (src/merge/methods/fisher.ts).
//
// What is computed: the empirical Fisher per sequence,
//   F = (1/N) Σₙ (∇θ Σₜ log p(xₙ,ₜ | xₙ,<ₜ))²,
// i.e. the square of the gradient of each sequence's summed next-token log-likelihood (every token
// after the first is a target), averaged over sequences. Why this form: the exact expected Fisher of
// a language model needs one backward pass per vocabulary entry and position; the MLP producer
// (mlp-stats.ts) can afford the exact form over 10 classes, an LM cannot. Per-sequence squared
// gradients are what Fisher-merging implementations for language models use in practice (MergeLM /
// FusionBench square the gradient of a sample's loss); Fisher merging normalises each model's Fisher
// by its global norm by default, so the overall scale does not matter. One forward and one backward
// pass per sequence; sums kept in float64.
//
// Every parameter the forward uses gets an entry (embeddings, norms and biases included), so a
// Fisher merge weights every tensor; a sequence of one token has no target and is skipped.
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import type { LlamaConfig } from '../models/llama-config.ts';
import { llamaTargetLogLikelihood, type LlamaParams } from '../models/llama.ts';
import type { StatisticsContent } from '../merge/statistics/write.ts';

export function llamaFisherStatistics(params: LlamaParams, config: LlamaConfig, sequences: number[][]): StatisticsContent {
  const usable = sequences.filter((s) => s.length >= 2);
  if (usable.length === 0) fail('STATS_E_INPUT', 'every calibration sequence has fewer than 2 tokens; the Fisher needs at least one predicted token per sequence');
  const names = Object.keys(params).filter((k) => params[k]!.dtype === 'float32');
  const tensors = names.map((k) => params[k]!);
  const sums = tensors.map((t) => new Float64Array(t.size));
  // Σₜ log p(seq[t] | seq[<t]) as a function of the parameters, for one sequence.
  const logLikelihoodOf = (seq: number[]) => (...ts: tf.Tensor[]) => {
    const p: LlamaParams = { ...params };
    names.forEach((k, i) => (p[k] = ts[i]!));
    return tf.sum(llamaTargetLogLikelihood(p, config, [{ input: seq.slice(0, 1), target: seq.slice(1) }])) as tf.Scalar;
  };
  for (const seq of usable) {
    const grads = tf.grads(logLikelihoodOf(seq))(tensors);
    grads.forEach((g, i) => {
      const v = g.dataSync();
      const s = sums[i]!;
      for (let k = 0; k < v.length; k++) s[k] = s[k]! + v[k]! * v[k]!;
    });
    tf.dispose(grads);
  }
  const n = usable.length;
  return {
    fishers: new Map(names.map((k, i) => [k, { shape: [...tensors[i]!.shape], values: Float32Array.from(sums[i]!, (v) => v / n) }])),
    samples: n,
  };
}
