// The differentiable problem behind the gradient optimizers on a language-model zoo (skills4):
// every tensor of the decoder is merged in tfjs from the coefficient vector x
// (`differentiable-merge.ts`), and the losses are the language-model analogues of the classifier
// ones:
//   unlabelled (AdaMerging): the entropy of the next-token prediction after each calibration prompt
//     (the first answer token's distribution), mean over prompts, summed over tasks;
//   labelled (AdaMerging with labels, Frank-Wolfe's oracle): the loss per answer token (answer +
//     eos, teacher forcing), mean over the tasks asked.
import * as tf from '@tensorflow/tfjs';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import type { LmExample } from '../../evaluators/lm.ts';
import { fail } from '../errors.ts';
import { llamaLogits, llamaTargetLogLikelihood, type LlamaParams } from '../models/llama.ts';
import { lmExamples, type LoadedLmZoo } from '../zoo/skills4-models.ts';
import type { EvalSplit } from '../zoo/skills4-tasks.ts';
import type { HostParams } from '../zoo/zoo-models.ts';
import { DifferentiableMerge, taskSampleSeed } from './differentiable-merge.ts';
import type { AlignmentOptions, GradientProblem, UnsupervisedLossOptions } from './optimizer.ts';
import type { SearchSpace } from './space.ts';

export class DifferentiableLm implements GradientProblem {
  readonly models: number;
  readonly tasks: string[];
  readonly units: number;
  readonly lambda: number;
  private readonly merge: DifferentiableMerge;
  private readonly data: LmExample[][];

  constructor(
    readonly zoo: LoadedLmZoo,
    readonly space: SearchSpace,
    options: { split?: EvalSplit } = {},
  ) {
    const split = options.split ?? 'calibration';
    this.merge = new DifferentiableMerge(space, { base: zoo.base, experts: zoo.experts, expertNames: zoo.tasks, tensors: [...zoo.base.keys()] });
    this.models = this.merge.models;
    this.units = this.merge.units;
    this.lambda = this.merge.lambda;
    this.tasks = [...zoo.tasks];
    this.data = this.tasks.map((task) => lmExamples(zoo, task, split));
  }

  coordinate(model: number, unit: number): number {
    return this.merge.coordinate(model, unit);
  }

  vertex(model: number): number[] {
    return this.merge.vertex(model);
  }

  /**
   * Sum over tasks of the mean entropy of the first answer token's prediction on `batch` calibration
   * prompts per task (answers unused), or with `labels` of the loss per answer token; and the
   * gradient with respect to x.
   */
  entropyAndGrad(x: number[], batch: number, sampleSeed: number, options: UnsupervisedLossOptions = {}): { loss: number; grad: number[] } {
    this.merge.checkX(x);
    if (options.logitScale) fail('SEARCH_E_SPACE', 'the optimizer setting logit_scale rescales a cosine classifier head; a language-model zoo has none: remove it');
    const picks = this.tasks.map((_, i) => this.pick(i, batch, sampleSeed));
    return this.merge.lossAndGradInX(x, (params) => {
      let total: tf.Scalar = tf.scalar(0);
      for (const examples of picks) total = tf.add(total, options.labels ? this.answerLoss(params, examples) : this.promptEntropy(params, examples));
      return total;
    });
  }

  /** The entropy objective alone (no gradient): for finite-difference checks. */
  entropyValue(x: number[], batch: number, sampleSeed: number): number {
    this.merge.checkX(x);
    return tf.tidy(() => {
      const params = this.merge.mergedTensors(tf.tensor2d(x, [x.length, 1]));
      let total = 0;
      this.tasks.forEach((_, i) => (total += this.promptEntropy(params, this.pick(i, batch, sampleSeed)).dataSync()[0]!));
      return total;
    });
  }

  /**
   * Mean over `tasks` (default all) of the loss per answer token of `samples` calibration examples
   * per task, and its gradient with respect to every merged tensor (host float32, by name).
   */
  labelledLossAndGrad(x: number[], samples: number, sampleSeed: number, tasks?: number[]): { loss: number; grads: Map<string, Float32Array> } {
    const which = tasks ?? this.tasks.map((_, i) => i);
    if (which.length === 0) throw new Error('labelledLossAndGrad needs at least one task');
    const picks = which.map((i) => this.pick(i, samples, sampleSeed));
    return this.merge.lossAndGradInWeights(x, (params) => {
      let total: tf.Scalar = tf.scalar(0);
      for (const examples of picks) total = tf.add(total, this.answerLoss(params, examples));
      return tf.div(total, picks.length) as tf.Scalar;
    });
  }

  alignment(x: number[], o: AlignmentOptions): { loss: number; cosine: number[][] } {
    for (const c of o.candidates) this.merge.checkX(c);
    const { loss, grads } = this.labelledLossAndGrad(x, o.samples, o.sampleSeed, o.tasks);
    return { loss, cosine: this.merge.alignmentOf(grads, o.candidates, o.against) };
  }

  /** The merged model for x as host tensors (what the gradient path optimises). */
  mergedParams(x: number[]): HostParams {
    return this.merge.mergedHost(x);
  }

  dispose(): void {
    this.merge.dispose();
  }

  /** The calibration example indices of task i that a call with (batch, sampleSeed) uses (sorted). */
  hostIndices(task: number, batch: number, sampleSeed: number): Uint32Array {
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
    return subsampleIndices(this.data[task]!.length, batch, taskSampleSeed(sampleSeed, task));
  }

  private pick(task: number, batch: number, sampleSeed: number): LmExample[] {
    return Array.from(this.hostIndices(task, batch, sampleSeed), (j) => this.data[task]![j]!);
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
