// Scoring and differentiable losses of a language-model zoo (skills4): every tensor of the decoder
// is merged (a language model has no per-task heads), and each objective scores a model on a fixed,
// seeded subsample of a task's split — exact match of greedy answers, loss or perplexity per answer
// token, or the entropy of the first answer token's prediction. The differentiable losses are the
// language-model analogues of the classifier ones:
//   unlabelled (AdaMerging): the entropy of the next-token prediction after each calibration prompt
//     (the first answer token's distribution), mean over prompts;
//   labelled (AdaMerging with labels, Frank-Wolfe's oracle): the loss per answer token (answer +
//     eos, teacher forcing).
import * as tf from '@tensorflow/tfjs';
import { exactMatchGroupsReads, LM_EVALUATORS, promptEntropyGroupsReads, tokenLossGroupsReads, type LmExample } from '../../evaluators/lm.ts';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import { fail } from '../errors.ts';
import { GpuScoring } from '../gpu/scoring-thread.ts';
import type { HostParams } from '../merge/host-merge.ts';
import type { LlamaConfig } from '../models/llama-config.ts';
import { llamaLogits, llamaTargetLogLikelihood, type LlamaParams } from '../models/llama.ts';
import { runReadsSync, type Reads } from '../models/reads.ts';
import type { Evaluation, EvalSplit, FamilyObjective, LossOptions, LossTerms, ZooScorer } from './family.ts';
import { lmExamples, type LoadedLmZoo } from './skills4-models.ts';

/** Prompts per batch when scoring (generation and teacher forcing). */
export const SCORE_BATCH = 128;

const LM_EVALUATOR_NAMES = Object.keys(LM_EVALUATORS);

export interface LmScoreOptions {
  /** Examples per task: a subsample seeded by `seed` (the same for every candidate); default all. */
  samples?: number;
  seed: number;
  /** Score on this split instead of each objective's own (reports on the test split). */
  splitOverride?: EvalSplit;
}

/** The examples a study scores for (task, split): the whole split or its seeded subsample. */
export function lmObjectiveExamples(zoo: LoadedLmZoo, task: string, split: EvalSplit, o: Pick<LmScoreOptions, 'samples' | 'seed'>): LmExample[] {
  const all = lmExamples(zoo, task, split);
  if (o.samples === undefined || o.samples >= all.length) return all;
  return Array.from(subsampleIndices(all.length, o.samples, o.seed), (i) => all[i]!);
}

/** scoreLmObjectives for a model held as host arrays (uploaded for the call, then freed). */
export function scoreLmHostParams(zoo: LoadedLmZoo, merged: HostParams, objectives: readonly FamilyObjective[], o: LmScoreOptions): Evaluation {
  const params: LlamaParams = {};
  for (const [name, t] of merged) params[name] = tf.tensor(t.values, t.shape, 'float32');
  try {
    return scoreLmObjectives(zoo, params, objectives, o);
  } finally {
    tf.dispose(Object.values(params));
  }
}

/** One scorer's run over one (task, split)'s examples; `key` is `task/split/scorer`. */
export interface LmJob {
  key: string;
  scorer: 'exact_match' | 'token_loss' | 'prompt_entropy';
  examples: LmExample[];
}

/** What the language-model scorers need besides the parameters and examples. */
export interface LmScoringSpec {
  config: LlamaConfig;
  stop: number[];
  eos: number;
}

/**
 * The jobs `objectives` need (each scorer once per (task, split) however many objectives read it),
 * the job key of each objective, and the examples run through the model (counted per job).
 */
export function lmJobs(zoo: LoadedLmZoo, objectives: readonly FamilyObjective[], o: LmScoreOptions): { jobs: LmJob[]; keys: string[]; evaluations: number } {
  let evaluations = 0;
  const jobs = new Map<string, LmJob>();
  const keys = objectives.map((ob) => {
    const split = o.splitOverride ?? ob.split;
    const scorer = ob.evaluator === 'perplexity' ? 'token_loss' : ob.evaluator;
    if (scorer !== 'exact_match' && scorer !== 'token_loss' && scorer !== 'prompt_entropy') {
      fail('CONFIG_E_FIELD', `evaluator ${ob.evaluator} does not score language models; use one of ${LM_EVALUATOR_NAMES.join(', ')}`);
    }
    const key = `${ob.task}/${split}/${scorer}`;
    if (!jobs.has(key)) {
      const examples = lmObjectiveExamples(zoo, ob.task, split, o);
      evaluations += examples.length;
      jobs.set(key, { key, scorer, examples });
    }
    return key;
  });
  return { jobs: [...jobs.values()], keys, evaluations };
}

/**
 * The value of each job (exact match, loss per token, or mean entropy), in job order. The jobs of
 * one scorer are run together: greedy generation, teacher forcing and the entropy forward each
 * batch prompts across tasks (one forward per step over a batch, not one per task), and give each
 * list the value its own run would. A generator of the tensors it reads (src/models/reads.ts), so
 * the GPU scoring thread runs the same code.
 */
export function* lmJobValuesReads(params: LlamaParams, spec: LmScoringSpec, jobs: readonly LmJob[]): Reads<number[]> {
  const values = new Array<number>(jobs.length).fill(NaN);
  const mine = (scorer: LmJob['scorer']) => jobs.map((j, i) => ({ j, i })).filter((x) => x.j.scorer === scorer);
  const em = mine('exact_match');
  if (em.length > 0) (yield* exactMatchGroupsReads(params, spec.config, em.map((x) => x.j.examples), { stop: spec.stop, batchSize: SCORE_BATCH })).forEach((r, k) => (values[em[k]!.i] = r.exactMatch));
  const tl = mine('token_loss');
  if (tl.length > 0) (yield* tokenLossGroupsReads(params, spec.config, tl.map((x) => x.j.examples), { suffix: [spec.eos], batchSize: SCORE_BATCH })).forEach((r, k) => (values[tl[k]!.i] = r.loss));
  const pe = mine('prompt_entropy');
  if (pe.length > 0) (yield* promptEntropyGroupsReads(params, spec.config, pe.map((x) => x.j.examples.map((e) => e.prompt)), { positions: 'last', batchSize: SCORE_BATCH })).forEach((v, k) => (values[pe[k]!.i] = v));
  return values;
}

/** Each objective's value from its job's (perplexity is exp of the loss per token). */
export function lmObjectiveValues(objectives: readonly FamilyObjective[], keys: readonly string[], jobs: readonly LmJob[], values: readonly number[]): number[] {
  const byKey = new Map(jobs.map((j, i) => [j.key, values[i]!]));
  return objectives.map((ob, i) => {
    const v = byKey.get(keys[i]!)!;
    return ob.evaluator === 'perplexity' ? Math.exp(v) : v;
  });
}

/** The scoring spec of a language-model zoo. */
export function lmScoringSpec(zoo: LoadedLmZoo): LmScoringSpec {
  return { config: zoo.config, stop: zoo.stop, eos: zoo.eos };
}

/** Values of language-model objectives for a parameter map (see lmJobs and lmJobValuesReads). */
export function scoreLmObjectives(zoo: LoadedLmZoo, params: LlamaParams, objectives: readonly FamilyObjective[], o: LmScoreOptions): Evaluation {
  const { jobs, keys, evaluations } = lmJobs(zoo, objectives, o);
  const values = runReadsSync(lmJobValuesReads(params, lmScoringSpec(zoo), jobs));
  return { values: lmObjectiveValues(objectives, keys, jobs, values), evaluations };
}

export class LmScorer implements ZooScorer {
  /** Keys of what this scorer keeps on the GPU (its examples). */
  private readonly gpuScope = GpuScoring.scope();

  constructor(
    private readonly zoo: LoadedLmZoo,
    private readonly o: { samples?: number; seed: number; gpu?: GpuScoring },
  ) {}

  score(params: HostParams, objectives: readonly FamilyObjective[], splitOverride?: EvalSplit): Evaluation {
    const gpu = this.o.gpu;
    if (!gpu) return scoreLmHostParams(this.zoo, params, objectives, { ...this.o, splitOverride });
    // On the GPU: the same jobs, run by the scoring thread; each job's examples (a fixed subsample) are sent once.
    const { jobs, keys, evaluations } = lmJobs(this.zoo, objectives, { ...this.o, splitOverride });
    const values = gpu.lmJobValues(lmScoringSpec(this.zoo), params, jobs, this.gpuScope);
    return { values: lmObjectiveValues(objectives, keys, jobs, values), evaluations };
  }

  close(): void {
    try {
      this.o.gpu?.drop(this.gpuScope);
    } catch {
      // the thread is gone: nothing is held
    }
  }
}

export class LmLosses implements LossTerms {
  private readonly data: LmExample[][];

  constructor(
    private readonly zoo: LoadedLmZoo,
    split: EvalSplit,
  ) {
    this.data = zoo.tasks.map((task) => lmExamples(zoo, task, split));
  }

  count(task: number): number {
    return this.data[task]!.length;
  }

  checkOptions(options: LossOptions): void {
    if (options.logitScale) fail('SEARCH_E_SPACE', 'the optimizer setting logit_scale rescales a cosine classifier head; a language-model zoo has none: remove it');
  }

  adaptationLoss(params: Record<string, tf.Tensor>, task: number, indices: Uint32Array, options: LossOptions): tf.Scalar {
    const examples = this.pick(task, indices);
    return options.labels ? this.answerLoss(params, examples) : this.promptEntropy(params, examples);
  }

  labelledLoss(params: Record<string, tf.Tensor>, task: number, indices: Uint32Array): tf.Scalar {
    return this.answerLoss(params, this.pick(task, indices));
  }

  dispose(): void {}

  private pick(task: number, indices: Uint32Array): LmExample[] {
    return Array.from(indices, (j) => this.data[task]![j]!);
  }

  /** Mean entropy of the next-token prediction after each prompt (right padding; causal attention keeps it out). */
  private promptEntropy(params: LlamaParams, examples: LmExample[]): tf.Scalar {
    const len = Math.max(...examples.map((e) => e.prompt.length));
    const ids = examples.map((e) => [...e.prompt, ...new Array<number>(len - e.prompt.length).fill(0)]);
    const last = new Float32Array(examples.length * len);
    examples.forEach((e, b) => (last[b * len + e.prompt.length - 1] = 1 / examples.length));
    const logP = tf.logSoftmax(llamaLogits(params, this.zoo.config, ids), -1);
    const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logP), logP), -1));
    return tf.sum(tf.mul(entropy, tf.tensor2d(last, [examples.length, len]))) as tf.Scalar;
  }

  /** Loss per answer token (answer + eos) over the examples. */
  private answerLoss(params: LlamaParams, examples: LmExample[]): tf.Scalar {
    const batch = examples.map((e) => ({ input: e.prompt, target: [...e.answer, this.zoo.eos] }));
    const tokens = batch.reduce((a, b) => a + b.target.length, 0);
    return tf.div(tf.neg(tf.sum(llamaTargetLogLikelihood(params, this.zoo.config, batch))), tokens) as tf.Scalar;
  }
}
