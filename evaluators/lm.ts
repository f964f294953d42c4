// Language-model scorers over token ids, batched: exact match of greedy generations, per-token loss
// and perplexity of reference answers, and prediction entropy on unlabelled prompts. They take a
// Llama-family parameter map (merged or not) and its config; tokenisation is the caller's.
import * as tf from '@tensorflow/tfjs';
import { llamaGenerate, llamaLogits, llamaScore, type LlamaParams } from '../src/models/llama.ts';
import type { LlamaConfig } from '../src/models/llama-config.ts';

export interface LmExample {
  /** The prompt's token ids (with any bos the model expects); at least one token. */
  prompt: number[];
  /** The reference answer's token ids (without the stop token). */
  answer: number[];
}

export interface ExactMatchOptions {
  /** Token ids that end an answer (e.g. eos and newline); they are not part of it. */
  stop: number[];
  /** Tokens generated at most; default: the longest answer + 1 (room for the stop token). */
  maxNewTokens?: number;
  /** Prompts per generation batch (default 64). */
  batchSize?: number;
}

export interface ExactMatchResult {
  /** Fraction of examples whose generation, cut at the first stop token, equals the answer. */
  exactMatch: number;
  correct: boolean[];
  /** The generated ids per example, cut before the first stop token. */
  generated: number[][];
}

/** Greedy generation (KV cache, batched) compared token for token with the answers. */
export function exactMatch(params: LlamaParams, config: LlamaConfig, examples: LmExample[], o: ExactMatchOptions): ExactMatchResult {
  if (examples.length === 0) throw new Error('exactMatch needs at least one example');
  const size = o.batchSize ?? 64;
  const maxNew = o.maxNewTokens ?? Math.max(...examples.map((e) => e.answer.length)) + 1;
  const stop = new Set(o.stop);
  const generated: number[][] = [];
  for (let i = 0; i < examples.length; i += size) {
    const chunk = examples.slice(i, i + size);
    const out = llamaGenerate(params, config, chunk.map((e) => e.prompt), maxNew, { eos: o.stop });
    for (const ids of out) {
      const cut = ids.findIndex((t) => stop.has(t));
      generated.push(cut < 0 ? ids : ids.slice(0, cut));
    }
  }
  const correct = examples.map((e, i) => {
    const g = generated[i]!;
    return g.length === e.answer.length && g.every((t, j) => t === e.answer[j]);
  });
  return { exactMatch: correct.filter(Boolean).length / examples.length, correct, generated };
}

export interface TokenLossResult {
  /** Mean negative log-likelihood per answer token (nats), over all tokens of all examples. */
  loss: number;
  perplexity: number;
  tokens: number;
}

/**
 * Per-token loss of the answers given the prompts (teacher forcing). `suffix` (e.g. [eos]) is
 * appended to every answer and scored with it, so the model is also asked to stop.
 */
export function tokenLoss(params: LlamaParams, config: LlamaConfig, examples: LmExample[], o: { suffix?: number[]; batchSize?: number } = {}): TokenLossResult {
  const scores = llamaScore(params, config, examples.map((e) => ({ input: e.prompt, target: [...e.answer, ...(o.suffix ?? [])] })), { batchSize: o.batchSize ?? 64 });
  let ll = 0;
  let tokens = 0;
  for (const s of scores) {
    ll += s.logLikelihood;
    tokens += s.tokens;
  }
  if (tokens === 0) throw new Error('tokenLoss needs at least one target token');
  const loss = -ll / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}

export interface EntropyOptions {
  /**
   * 'last' (default): the entropy of the next-token distribution after the whole prompt (the first
   * answer token's prediction); 'all': averaged over every prompt position (each position predicts
   * the next prompt token, the last one the first answer token).
   */
  positions?: 'last' | 'all';
  batchSize?: number;
}

/** Mean Shannon entropy (nats) of the model's next-token predictions on unlabelled prompts; float64 sums. */
export function promptEntropy(params: LlamaParams, config: LlamaConfig, prompts: number[][], o: EntropyOptions = {}): number {
  if (prompts.length === 0) throw new Error('promptEntropy needs at least one prompt');
  const size = o.batchSize ?? 64;
  const all = (o.positions ?? 'last') === 'all';
  let total = 0;
  let count = 0;
  for (let i = 0; i < prompts.length; i += size) {
    const chunk = prompts.slice(i, i + size);
    const len = Math.max(...chunk.map((p) => p.length));
    // Right padding with token 0 needs no mask: causal attention keeps real positions from seeing it.
    const ids = chunk.map((p) => [...p, ...new Array<number>(len - p.length).fill(0)]);
    const ent = tf.tidy(() => {
      const logP = tf.logSoftmax(llamaLogits(params, config, ids), -1);
      return tf.neg(tf.sum(tf.mul(tf.exp(logP), logP), -1));
    });
    const values = ent.dataSync();
    ent.dispose();
    chunk.forEach((p, b) => {
      const from = all ? 0 : p.length - 1;
      for (let t = from; t < p.length; t++) {
        total += values[b * len + t]!;
        count++;
      }
    });
  }
  return total / count;
}

export type LmEvaluatorName = 'exact_match' | 'token_loss' | 'perplexity' | 'prompt_entropy';

/** The language-model scorers by name, with the direction that is better and whether they need answers. */
export const LM_EVALUATORS: Readonly<Record<LmEvaluatorName, { needsLabels: boolean; direction: 'maximize' | 'minimize' }>> = {
  exact_match: { needsLabels: true, direction: 'maximize' },
  token_loss: { needsLabels: true, direction: 'minimize' },
  perplexity: { needsLabels: true, direction: 'minimize' },
  prompt_entropy: { needsLabels: false, direction: 'minimize' },
};
