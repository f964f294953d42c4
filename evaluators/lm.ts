// Language-model scorers over token ids, batched: exact match of greedy generations, per-token loss
// and perplexity of reference answers, and prediction entropy on unlabelled prompts. They take a
// Llama-family parameter map (merged or not) and its config; tokenisation is the caller's.
import * as tf from '@tensorflow/tfjs';
import { llamaGenerateReads, llamaLogits, llamaScoreReads, type LlamaParams } from '../src/models/llama.ts';
import { runReadsSync, type Reads } from '../src/models/reads.ts';
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
  return exactMatchGroups(params, config, [examples], o)[0]!;
}

/**
 * exactMatch of several example lists (tasks) at once: the generation batches run over the
 * concatenated lists, so prompts of different tasks share one forward pass per step (left padding
 * and the attention mask keep rows apart). Each list's result is exactMatch's on that list alone:
 * a list's rows are cut to its own maxNewTokens (its longest answer + 1 by default), and greedy
 * tokens are causal, so a longer generation only appends to them.
 */
export function exactMatchGroups(params: LlamaParams, config: LlamaConfig, groups: LmExample[][], o: ExactMatchOptions): ExactMatchResult[] {
  return runReadsSync(exactMatchGroupsReads(params, config, groups, o));
}

/** exactMatchGroups as a generator of the tensors it reads (src/models/reads.ts). */
export function* exactMatchGroupsReads(params: LlamaParams, config: LlamaConfig, groups: LmExample[][], o: ExactMatchOptions): Reads<ExactMatchResult[]> {
  groups.forEach((g, i) => {
    if (g.length === 0) throw new Error(`exactMatch needs at least one example (list ${i} is empty)`);
  });
  const size = o.batchSize ?? 64;
  const maxNew = groups.map((g) => o.maxNewTokens ?? Math.max(...g.map((e) => e.answer.length)) + 1);
  const stop = new Set(o.stop);
  const flat = groups.flatMap((g, gi) => g.map((e) => ({ e, gi })));
  const generated: number[][] = [];
  for (let i = 0; i < flat.length; i += size) {
    const chunk = flat.slice(i, i + size);
    const steps = Math.max(...chunk.map((r) => maxNew[r.gi]!));
    const out = yield* llamaGenerateReads(params, config, chunk.map((r) => r.e.prompt), steps, { eos: o.stop });
    out.forEach((all, b) => {
      const ids = all.slice(0, maxNew[chunk[b]!.gi]!);
      const cut = ids.findIndex((t) => stop.has(t));
      generated.push(cut < 0 ? ids : ids.slice(0, cut));
    });
  }
  let at = 0;
  return groups.map((g) => {
    const gen = generated.slice(at, (at += g.length));
    const correct = g.map((e, i) => {
      const x = gen[i]!;
      return x.length === e.answer.length && x.every((t, j) => t === e.answer[j]);
    });
    return { exactMatch: correct.filter(Boolean).length / g.length, correct, generated: gen };
  });
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
  return tokenLossGroups(params, config, [examples], o)[0]!;
}

/**
 * tokenLoss of several example lists at once: one llamaScore over all of them (its batches group
 * examples of similar length whatever list they come from), summed per list in example order.
 */
export function tokenLossGroups(params: LlamaParams, config: LlamaConfig, groups: LmExample[][], o: { suffix?: number[]; batchSize?: number } = {}): TokenLossResult[] {
  return runReadsSync(tokenLossGroupsReads(params, config, groups, o));
}

/** tokenLossGroups as a generator of the tensors it reads (src/models/reads.ts). */
export function* tokenLossGroupsReads(params: LlamaParams, config: LlamaConfig, groups: LmExample[][], o: { suffix?: number[]; batchSize?: number } = {}): Reads<TokenLossResult[]> {
  const flat = groups.flat();
  const scores = yield* llamaScoreReads(params, config, flat.map((e) => ({ input: e.prompt, target: [...e.answer, ...(o.suffix ?? [])] })), { batchSize: o.batchSize ?? 64 });
  let at = 0;
  return groups.map((g) => {
    let ll = 0;
    let tokens = 0;
    for (const s of scores.slice(at, (at += g.length))) {
      ll += s.logLikelihood;
      tokens += s.tokens;
    }
    if (tokens === 0) throw new Error('tokenLoss needs at least one target token');
    const loss = -ll / tokens;
    return { loss, perplexity: Math.exp(loss), tokens };
  });
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
  return promptEntropyGroups(params, config, [prompts], o)[0]!;
}

/** promptEntropy of several prompt lists at once: the batches run over the concatenated lists, the means are per list. */
export function promptEntropyGroups(params: LlamaParams, config: LlamaConfig, groups: number[][][], o: EntropyOptions = {}): number[] {
  return runReadsSync(promptEntropyGroupsReads(params, config, groups, o));
}

/** promptEntropyGroups as a generator of the tensors it reads (src/models/reads.ts). */
export function* promptEntropyGroupsReads(params: LlamaParams, config: LlamaConfig, groups: number[][][], o: EntropyOptions = {}): Reads<number[]> {
  groups.forEach((g, i) => {
    if (g.length === 0) throw new Error(`promptEntropy needs at least one prompt (list ${i} is empty)`);
  });
  const size = o.batchSize ?? 64;
  const all = (o.positions ?? 'last') === 'all';
  const prompts = groups.flat();
  const owner = groups.flatMap((g, gi) => g.map(() => gi));
  const total = new Float64Array(groups.length);
  const count = new Float64Array(groups.length);
  for (let i = 0; i < prompts.length; i += size) {
    const chunk = prompts.slice(i, i + size);
    const len = Math.max(...chunk.map((p) => p.length));
    // Right padding with token 0 needs no mask: causal attention keeps real positions from seeing it.
    const ids = chunk.map((p) => [...p, ...new Array<number>(len - p.length).fill(0)]);
    const ent = tf.tidy(() => {
      const logP = tf.logSoftmax(llamaLogits(params, config, ids), -1);
      return tf.neg(tf.sum(tf.mul(tf.exp(logP), logP), -1));
    });
    let values: ArrayLike<number>;
    try {
      values = yield ent;
    } finally {
      ent.dispose();
    }
    chunk.forEach((p, b) => {
      const g = owner[i + b]!;
      const from = all ? 0 : p.length - 1;
      for (let t = from; t < p.length; t++) {
        total[g] = total[g]! + values[b * len + t]!;
        count[g] = count[g]! + 1;
      }
    });
  }
  return groups.map((_, g) => total[g]! / count[g]!);
}

export type LmEvaluatorName = 'exact_match' | 'token_loss' | 'perplexity' | 'prompt_entropy';

/** The language-model scorers by name, with the direction that is better and whether they need answers. */
export const LM_EVALUATORS: Readonly<Record<LmEvaluatorName, { needsLabels: boolean; direction: 'maximize' | 'minimize' }>> = {
  exact_match: { needsLabels: true, direction: 'maximize' },
  token_loss: { needsLabels: true, direction: 'minimize' },
  perplexity: { needsLabels: true, direction: 'minimize' },
  prompt_entropy: { needsLabels: false, direction: 'minimize' },
};
