// The differentiable problem behind the gradient optimizers (AdaMerging, Frank-Wolfe) on a
// classifier zoo (mnist8): the backbone is merged in tfjs from the coefficient vector x
// (`differentiable-merge.ts` holds the merge and its math), and each task is scored through its own
// expert's head (heads are not merged). Calibration inputs and heads are tf tensors made once and
// kept; every call disposes what it makes.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import { mlpLogits } from '../models/mlp-classifier.ts';
import type { SplitName } from '../zoo/mnist-data.ts';
import { readTaskData, toInputs } from '../zoo/task-data.ts';
import type { HostParams, LoadedZoo } from '../zoo/zoo-models.ts';
import { entropyLoss } from '../../evaluators/entropy.ts';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import { DifferentiableMerge, taskSampleSeed } from './differentiable-merge.ts';
import type { AlignmentOptions, GradientProblem, UnsupervisedLossOptions } from './optimizer.ts';
import type { SearchSpace } from './space.ts';

export { tiesProcess } from './differentiable-merge.ts';

export interface DifferentiableZooOptions {
  /** The split whose samples are the calibration data (default 'calibration'). */
  split?: SplitName;
}

interface TaskData {
  x: tf.Tensor2D;
  labels: Int32Array;
  count: number;
}

export class DifferentiableZoo implements GradientProblem {
  readonly models: number;
  readonly tasks: string[];
  readonly units: number;
  /** The scale applied to Σ xₖ τ̃ₖ (the space's fixed `lambda`, default 1). */
  readonly lambda: number;
  private readonly merge: DifferentiableMerge;
  private readonly heads: Record<string, tf.Tensor> = {};
  private readonly data: TaskData[] = [];
  private disposed = false;

  constructor(
    readonly zoo: LoadedZoo,
    readonly space: SearchSpace,
    options: DifferentiableZooOptions = {},
  ) {
    const split = options.split ?? 'calibration';
    this.merge = new DifferentiableMerge(space, {
      base: zoo.base,
      experts: zoo.experts,
      expertNames: zoo.tasks,
      tensors: [...zoo.base.keys()].filter((n) => n.startsWith('backbone.')),
    });
    this.models = this.merge.models;
    this.units = this.merge.units;
    this.lambda = this.merge.lambda;
    this.tasks = [...zoo.tasks];

    this.tasks.forEach((task, i) => {
      for (const [name, t] of zoo.experts[i]!) if (name.startsWith(`heads.${task}.`)) this.heads[name] = tf.keep(tf.tensor(t.values, t.shape));
      const file = zoo.manifest.data[task]?.[split];
      if (!file) fail('IO_E_NOT_FOUND', `the zoo's manifest names no ${split} data for task ${task}`);
      const d = readTaskData(path.join(zoo.dir, file), zoo.config.numClasses);
      if (d.count === 0) fail('IO_E_NOT_FOUND', `${file} holds no samples; gradient search needs ${split} samples for task ${task}`);
      this.data.push({ x: tf.keep(tf.tensor2d(toInputs(d.images), [d.count, zoo.config.inputSize])), labels: Int32Array.from(d.labels), count: d.count });
    });
  }

  coordinate(model: number, unit: number): number {
    return this.merge.coordinate(model, unit);
  }

  /** x whose candidate is model m's own backbone (θ₀ + τ̃ₘ): 1/lambda at m's coordinates, 0 elsewhere. */
  vertex(model: number): number[] {
    return this.merge.vertex(model);
  }

  /**
   * Sum over tasks of the mean prediction entropy of `batch` calibration inputs per task (drawn
   * from `sampleSeed`; labels unused), and its gradient with respect to x. The sum, as in the
   * AdaMerging reference (`losses += loss` per task).
   */
  entropyAndGrad(x: number[], batch: number, sampleSeed: number, options: UnsupervisedLossOptions = {}): { loss: number; grad: number[] } {
    // A sharper logit scale makes the entropy weigh near-boundary samples (ADAMERGING.md).
    const factor = options.logitScale && this.zoo.config.head === 'cosine' ? options.logitScale / this.zoo.config.logitScale : 1;
    const picks = this.data.map((_, i) => Int32Array.from(this.hostIndices(i, batch, sampleSeed)));
    return this.merge.lossAndGradInX(x, (merged) => {
      // The samples enter only as constants: no gradient flows to them (none is asked).
      const params = { ...merged, ...this.heads };
      let total: tf.Scalar = tf.scalar(0);
      this.tasks.forEach((task, i) => {
        const input = tf.gather(this.data[i]!.x, picks[i]!) as tf.Tensor2D;
        let logits = mlpLogits(params, this.zoo.config, input, task);
        if (factor !== 1) logits = tf.mul(logits, factor);
        const loss = options.labels
          ? (tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(Int32Array.from(picks[i]!, (j) => this.data[i]!.labels[j]!), 'int32'), this.zoo.config.numClasses), logits) as tf.Scalar)
          : entropyLoss(logits);
        total = tf.add(total, loss);
      });
      return total;
    });
  }

  /** The entropy objective alone (no gradient): for finite-difference checks and reports. */
  entropyValue(x: number[], batch: number, sampleSeed: number): number {
    this.checkX(x);
    return tf.tidy(() => {
      const params = { ...this.mergedTensors(tf.tensor2d(x, [x.length, 1])), ...this.heads };
      let total = 0;
      this.tasks.forEach((task, i) => {
        const input = tf.gather(this.data[i]!.x, this.indices(i, batch, sampleSeed)) as tf.Tensor2D;
        total += entropyLoss(mlpLogits(params, this.zoo.config, input, task)).dataSync()[0]!;
      });
      return total;
    });
  }

  /**
   * Mean over `tasks` (default all) of the cross-entropy of `samples` labelled calibration samples
   * per task at the candidate built from x, and its gradient with respect to each merged backbone
   * tensor (host float32, by tensor name).
   */
  labelledLossAndGrad(x: number[], samples: number, sampleSeed: number, tasks?: number[]): { loss: number; grads: Map<string, Float32Array> } {
    const which = tasks ?? this.tasks.map((_, i) => i);
    if (which.length === 0) throw new Error('labelledLossAndGrad needs at least one task');
    const picks = which.map((i) => Int32Array.from(this.hostIndices(i, samples, sampleSeed)));
    return this.merge.lossAndGradInWeights(x, (merged) => {
      const params = { ...merged, ...this.heads };
      let total: tf.Scalar = tf.scalar(0);
      which.forEach((i, k) => {
        const d = this.data[i]!;
        const y = tf.oneHot(tf.tensor1d(Int32Array.from(picks[k]!, (j) => d.labels[j]!), 'int32'), this.zoo.config.numClasses);
        const logp = tf.logSoftmax(mlpLogits(params, this.zoo.config, tf.gather(d.x, picks[k]!) as tf.Tensor2D, this.tasks[i]!), -1);
        total = tf.add(total, tf.neg(tf.mean(tf.sum(tf.mul(y, logp), -1))));
      });
      return tf.div(total, which.length) as tf.Scalar;
    });
  }

  /**
   * Frank-Wolfe's oracle: the labelled loss's gradient ∇ at the candidate built from x, and per unit
   * and candidate c the sum over the unit's tensors of cosine(∇_t, W_c,t) (DifferentiableMerge.alignmentOf).
   */
  alignment(x: number[], o: AlignmentOptions): { loss: number; cosine: number[][] } {
    for (const c of o.candidates) this.checkX(c);
    const { loss, grads } = this.labelledLossAndGrad(x, o.samples, o.sampleSeed, o.tasks);
    return { loss, cosine: this.merge.alignmentOf(grads, o.candidates, o.against) };
  }

  /** The merged backbone for x as host tensors (what the gradient path optimises), for scoring and tests. */
  mergedBackbone(x: number[]): HostParams {
    this.checkX(x);
    return this.merge.mergedHost(x);
  }

  /** Free the kept tensors; the problem cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.merge.dispose();
    tf.dispose([...Object.values(this.heads), ...this.data.map((d) => d.x)]);
  }

  private mergedTensors(coef: tf.Tensor): Record<string, tf.Tensor> {
    return this.merge.mergedTensors(coef);
  }

  /** `batch` distinct sample indices of task i, from a stream of (sampleSeed, task). */
  private indices(task: number, batch: number, sampleSeed: number): tf.Tensor1D {
    return tf.tensor1d(Int32Array.from(this.hostIndices(task, batch, sampleSeed)), 'int32');
  }

  /** The calibration sample indices of task i that a call with (batch, sampleSeed) uses (sorted). */
  hostIndices(task: number, batch: number, sampleSeed: number): Uint32Array {
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
    return subsampleIndices(this.data[task]!.count, batch, taskSampleSeed(sampleSeed, task));
  }

  private checkX(x: readonly number[]): void {
    if (this.disposed) throw new Error('DifferentiableZoo used after dispose()');
    if (x.length !== this.space.dim) throw new Error(`coefficient vector has ${x.length} entries, the space has ${this.space.dim}`);
  }
}
