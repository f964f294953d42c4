// RegMean++ Grams for Llama-family experts: the decoder is merged block by block with RegMean, and
// each expert's Gram for a projection of block l is taken on what the *merged* blocks 0..l−1 make of
// that expert's calibration sequences, followed by the expert's own block l (so within a block q/k/v,
// o, gate/up and down see the expert's own attention and MLP, as the MLP producer's layer does).
// The token embedding, the model's first layer, is merged too (averaged), so even block 0's Grams
// differ from plain RegMean's: they see the averaged embeddings. The untied lm_head's Gram is taken through the
// whole merged decoder. Tensors RegMean does not solve (embeddings, norms, biases) are averaged as the
// regmean method averages them; the merge of each block is the regmean method's own arithmetic
// (prepareRegmean / solveRegmeanRows) with the given alpha.
//
// Cost: one forward pass per expert, sequence and block (blocks × a plain Gram pass), since each
// block's inputs change once the blocks before it are merged.
import * as tf from '@tensorflow/tfjs';
import { averageModels, prepareRegmean, solveRegmeanRows } from '../merge/methods/regmean.ts';
import type { LlamaConfig } from '../models/llama-config.ts';
import { llamaLogits, type LlamaParams } from '../models/llama.ts';
import { GramAccumulator } from './gram-accumulator.ts';
import type { GramMap } from './regmean-plus.ts';

export interface LlamaHostParams {
  params: Map<string, { shape: number[]; values: Float32Array }>;
}

const blockOf = (name: string): number | undefined => {
  const m = /^model\.layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
};

/** Per expert, the RegMean++ Gram of every projection (and an untied lm_head). */
export function llamaRegmeanPlusGrams(config: LlamaConfig, experts: LlamaHostParams[], sequences: number[][][], alpha: number): GramMap[] {
  const names = [...experts[0]!.params.keys()];
  const out: GramMap[] = experts.map(() => new Map());
  const merged = new Map<string, Float32Array>();
  const average = (name: string) => averageModels(experts.map((e) => e.params.get(name)!.values), new Float32Array(experts[0]!.params.get(name)!.values.length));
  // Outside the blocks: embeddings and the final norm averaged (the lm_head is solved at the end).
  for (const n of names) if (blockOf(n) === undefined && n !== 'lm_head.weight') merged.set(n, average(n));

  // Expert t's Grams of the projections `wanted` with blocks < `upTo` merged and the rest its own.
  const gramsThrough = (t: number, upTo: number, wanted: (weight: string) => boolean) => {
    const params: LlamaParams = {};
    for (const n of names) {
      const b = blockOf(n);
      const own = (b !== undefined && b >= upTo) || n === 'lm_head.weight';
      params[n] = tf.tensor(own ? experts[t]!.params.get(n)!.values : merged.get(n)!, experts[t]!.params.get(n)!.shape, 'float32');
    }
    const acc = new GramAccumulator();
    try {
      for (const seq of sequences[t]!) {
        llamaLogits(params, config, [seq], { onLinearInput: (w, x) => wanted(w) && acc.add(w, x) }).dispose();
      }
    } finally {
      tf.dispose(Object.values(params));
    }
    return acc.finish().grams;
  };

  const solve = (weights: string[], grams: Array<Map<string, { size: number; values: Float64Array }>>) => {
    for (const w of weights) {
      grams.forEach((g, t) => out[t]!.set(w, { size: g.get(w)!.size, values: Float64Array.from(g.get(w)!.values) }));
      const size = grams[0]!.get(w)!.size;
      const system = prepareRegmean(grams.map((g) => Float64Array.from(g.get(w)!.values)), size, alpha, experts.map(() => 1));
      merged.set(w, solveRegmeanRows(system, experts.map((e) => e.params.get(w)!.values), size, new Float32Array(experts[0]!.params.get(w)!.values.length)));
    }
  };

  for (let l = 0; l < config.numLayers; l++) {
    const inBlock = (w: string) => blockOf(w) === l;
    const grams = experts.map((_, t) => gramsThrough(t, l, inBlock));
    const projections = [...grams[0]!.keys()];
    solve(projections, grams);
    for (const n of names) if (inBlock(n) && !projections.includes(n)) merged.set(n, average(n));
  }
  if (experts[0]!.params.has('lm_head.weight')) {
    const head = (w: string) => w === 'lm_head.weight';
    solve(['lm_head.weight'], experts.map((_, t) => gramsThrough(t, config.numLayers, head)));
  }
  return out;
}
