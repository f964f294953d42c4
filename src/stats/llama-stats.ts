// Input Gram matrices of every linear layer of a Llama-family decoder (src/models/llama.ts) on
// calibration token sequences: the forward reports each projection's input (q/k/v, o, gate/up,
// down, the untied lm_head), one sequence at a time so no padding enters a Gram. q/k/v (and
// gate/up) share their input, so their Grams are equal; each weight gets its own entry so that a
// method needs nothing but the weight's name. With tied embeddings the head's weight is the
// embedding table, which is not merged as a linear layer: no Gram is kept for it.
import * as tf from '@tensorflow/tfjs';
import type { LlamaConfig } from '../models/llama-config.ts';
import { llamaLogits, type LlamaParams } from '../models/llama.ts';
import type { StatisticsContent } from '../merge/statistics/write.ts';
import { GramAccumulator } from './gram-accumulator.ts';

export function llamaGramStatistics(params: LlamaParams, config: LlamaConfig, sequences: number[][]): StatisticsContent {
  const acc = new GramAccumulator();
  for (const seq of sequences) {
    const logits = llamaLogits(params, config, [seq], {
      onLinearInput: (weight, x) => {
        if (weight !== 'model.embed_tokens.weight') acc.add(weight, x);
      },
    });
    logits.dispose();
  }
  const { grams, rows } = acc.finish();
  return { grams, rows, samples: sequences.length };
}
