// The differentiable problem behind the gradient optimizers (AdaMerging, Frank-Wolfe) on a zoo of
// any family: the merged tensors are built in tfjs from the coefficient vector x
// (`differentiable-merge.ts` holds the merge and its math), and the losses are the family's
// (`LossTerms`: prediction entropy or a labelled loss per task). Every call disposes what it makes.
import * as tf from '@tensorflow/tfjs';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import type { HostParams } from '../merge/host-merge.ts';
import type { EvalSplit, LoadedZoo, LossTerms } from '../zoo/family.ts';
import { DifferentiableMerge, taskSampleSeed } from './differentiable-merge.ts';
import type { AlignmentOptions, GradientProblem, UnsupervisedLossOptions } from './optimizer.ts';
import type { SearchSpace } from './space.ts';

export { tiesProcess } from './differentiable-merge.ts';

export class DifferentiableZoo implements GradientProblem {
  readonly models: number;
  readonly tasks: string[];
  readonly units: number;
  /** The scale applied to Σ xₖ τ̃ₖ (the space's fixed `lambda`, default 1). */
  readonly lambda: number;
  private readonly merge: DifferentiableMerge;
  private readonly terms: LossTerms;
  private disposed = false;

  constructor(
    readonly zoo: LoadedZoo,
    readonly space: SearchSpace,
    options: { split?: EvalSplit; seed?: number } = {},
  ) {
    this.merge = new DifferentiableMerge(space, { base: zoo.base, experts: zoo.experts, expertNames: zoo.expertNames, tensors: zoo.mergedTensors, seed: options.seed });
    this.models = this.merge.models;
    this.units = this.merge.units;
    this.lambda = this.merge.lambda;
    this.tasks = [...zoo.tasks];
    this.terms = zoo.lossTerms(options.split ?? 'calibration');
  }

  coordinate(model: number, unit: number): number {
    return this.merge.coordinate(model, unit);
  }

  /** x whose candidate is model m's own weights (θ₀ + τ̃ₘ): 1/lambda at m's coordinates, 0 elsewhere. */
  vertex(model: number): number[] {
    return this.merge.vertex(model);
  }

  /**
   * Sum over tasks of the family's adaptation loss (mean prediction entropy, or with `labels` the
   * labelled loss) of `batch` calibration examples per task drawn from `sampleSeed`, and its
   * gradient with respect to x. The sum, as in the AdaMerging reference (`losses += loss` per task).
   */
  entropyAndGrad(x: number[], batch: number, sampleSeed: number, options: UnsupervisedLossOptions = {}): { loss: number; grad: number[] } {
    return this.merge.lossAndGradInX(x, this.adaptationLoss(x, batch, sampleSeed, options));
  }

  /** entropyAndGrad read with `await data()` (the GPU scoring thread). */
  entropyAndGradAsync(x: number[], batch: number, sampleSeed: number, options: UnsupervisedLossOptions = {}): Promise<{ loss: number; grad: number[] }> {
    return this.merge.lossAndGradInXAsync(x, this.adaptationLoss(x, batch, sampleSeed, options));
  }

  private adaptationLoss(x: number[], batch: number, sampleSeed: number, options: UnsupervisedLossOptions): (merged: Record<string, tf.Tensor>) => tf.Scalar {
    this.checkX(x);
    this.terms.checkOptions(options);
    const picks = this.tasks.map((_, i) => this.hostIndices(i, batch, sampleSeed));
    return (merged) => {
      let total: tf.Scalar = tf.scalar(0);
      picks.forEach((idx, i) => (total = tf.add(total, this.terms.adaptationLoss(merged, i, idx, options))));
      return total;
    };
  }

  /** The entropy objective alone (no gradient): for finite-difference checks and reports. */
  entropyValue(x: number[], batch: number, sampleSeed: number): number {
    this.checkX(x);
    return tf.tidy(() => {
      const merged = this.merge.mergedTensors(tf.tensor2d(x, [x.length, 1]));
      let total = 0;
      this.tasks.forEach((_, i) => (total += this.terms.adaptationLoss(merged, i, this.hostIndices(i, batch, sampleSeed), {}).dataSync()[0]!));
      return total;
    });
  }

  /**
   * Mean over `tasks` (default all) of the labelled loss of `samples` calibration examples per task
   * at the candidate built from x, and its gradient with respect to each merged tensor (host
   * float32, by tensor name).
   */
  labelledLossAndGrad(x: number[], samples: number, sampleSeed: number, tasks?: number[]): { loss: number; grads: Map<string, Float32Array> } {
    return this.merge.lossAndGradInWeights(x, this.labelledLoss(x, samples, sampleSeed, tasks));
  }

  private labelledLoss(x: number[], samples: number, sampleSeed: number, tasks?: number[]): (merged: Record<string, tf.Tensor>) => tf.Scalar {
    this.checkX(x);
    const which = tasks ?? this.tasks.map((_, i) => i);
    if (which.length === 0) throw new Error('labelledLossAndGrad needs at least one task');
    const picks = which.map((i) => this.hostIndices(i, samples, sampleSeed));
    return (merged) => {
      let total: tf.Scalar = tf.scalar(0);
      which.forEach((i, k) => (total = tf.add(total, this.terms.labelledLoss(merged, i, picks[k]!))));
      return tf.div(total, which.length) as tf.Scalar;
    };
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

  /** alignment read with `await data()` (the GPU scoring thread). */
  async alignmentAsync(x: number[], o: AlignmentOptions): Promise<{ loss: number; cosine: number[][] }> {
    for (const c of o.candidates) this.checkX(c);
    const { loss, grads } = await this.merge.lossAndGradInWeightsAsync(x, this.labelledLoss(x, o.samples, o.sampleSeed, o.tasks));
    return { loss, cosine: this.merge.alignmentOf(grads, o.candidates, o.against) };
  }

  /** The merged tensors for x as host arrays (what the gradient path optimises), for scoring and tests. */
  mergedHost(x: number[]): HostParams {
    this.checkX(x);
    return this.merge.mergedHost(x);
  }

  /** The calibration example indices of task i that a call with (batch, sampleSeed) uses (sorted). */
  hostIndices(task: number, batch: number, sampleSeed: number): Uint32Array {
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
    return subsampleIndices(this.terms.count(task), batch, taskSampleSeed(sampleSeed, task));
  }

  /** Free the kept tensors; the problem cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.merge.dispose();
    this.terms.dispose();
  }

  private checkX(x: readonly number[]): void {
    if (this.disposed) throw new Error('DifferentiableZoo used after dispose()');
    this.merge.checkX(x);
  }
}
