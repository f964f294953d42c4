// Scoring and differentiable losses of a classifier zoo (MLP backbone, one head per task): each
// task is scored through its own expert's head (the convention for merging classifiers with
// task-specific heads: heads are not merged), unless the model scored brings that head itself.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getEvaluator } from '../../evaluators/index.ts';
import { entropyLoss } from '../../evaluators/entropy.ts';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import { fail } from '../errors.ts';
import type { HostParams } from '../merge/host-merge.ts';
import { mlpLogits } from '../models/mlp-classifier.ts';
import type { EvalSplit, FamilyObjective, LossOptions, LossTerms, ZooScorer } from './family.ts';
import { subset } from './mnist-data.ts';
import { readTaskData, toInputs } from './task-data.ts';
import type { LoadedClassifierZoo } from './zoo-models.ts';

interface Batch {
  x: tf.Tensor2D;
  labels: Uint8Array;
}

function expertHeads(zoo: LoadedClassifierZoo): Record<string, tf.Tensor>[] {
  return zoo.tasks.map((task, i) => {
    const h: Record<string, tf.Tensor> = {};
    for (const [name, t] of zoo.experts[i]!) if (name.startsWith(`heads.${task}.`)) h[name] = tf.keep(tf.tensor(t.values, t.shape));
    return h;
  });
}

function dataFile(zoo: LoadedClassifierZoo, task: string, split: string): string {
  const rel = (zoo.manifest.data[task] as Record<string, string> | undefined)?.[split];
  if (!rel) fail('IO_E_NOT_FOUND', `the zoo's manifest (${path.join(zoo.dir, 'manifest.json')}) names no ${split} data for task ${task}; rebuild the zoo`);
  return path.join(zoo.dir, rel);
}

export class ClassifierScorer implements ZooScorer {
  private readonly data = new Map<string, Batch>();
  private readonly heads: Record<string, tf.Tensor>[];

  constructor(
    private readonly zoo: LoadedClassifierZoo,
    private readonly o: { samples?: number; seed: number },
  ) {
    this.heads = expertHeads(zoo);
  }

  /** A task's split; the objectives' own splits use one seeded subsample per study, reused by every trial. */
  private batch(task: string, split: EvalSplit, subsample: boolean): Batch {
    const key = `${task}/${split}/${subsample}`;
    let b = this.data.get(key);
    if (!b) {
      let d = readTaskData(dataFile(this.zoo, task, split), this.zoo.config.numClasses);
      if (subsample && this.o.samples !== undefined && this.o.samples < d.count) d = subset(d, subsampleIndices(d.count, this.o.samples, this.o.seed));
      b = { x: tf.keep(tf.tensor2d(toInputs(d.images), [d.count, this.zoo.config.inputSize])), labels: d.labels };
      this.data.set(key, b);
    }
    return b;
  }

  score(params: HostParams, objectives: readonly FamilyObjective[], splitOverride?: EvalSplit) {
    let evaluations = 0;
    const values = tf.tidy(() => {
      const uploaded: Record<string, tf.Tensor> = {};
      for (const [name, t] of params) uploaded[name] = tf.tensor(t.values, t.shape);
      const logitsOf = new Map<string, Float32Array>();
      return objectives.map((o) => {
        const split = splitOverride ?? o.split;
        const batch = this.batch(o.task, split, splitOverride === undefined);
        const key = `${o.task}/${split}`;
        let logits = logitsOf.get(key);
        if (!logits) {
          const ti = this.zoo.tasks.indexOf(o.task);
          const ownHead = params.has(`heads.${o.task}.weight`);
          logits = mlpLogits(ownHead ? uploaded : { ...uploaded, ...this.heads[ti]! }, this.zoo.config, batch.x, o.task).dataSync() as Float32Array;
          logitsOf.set(key, logits);
          evaluations += batch.labels.length;
        }
        return getEvaluator(o.evaluator).score(logits, batch.labels, this.zoo.config.numClasses);
      });
    });
    return { values, evaluations };
  }

  close(): void {
    for (const b of this.data.values()) b.x.dispose();
    this.data.clear();
    for (const h of this.heads) tf.dispose(Object.values(h));
  }
}

/**
 * The classifier's losses on one split: prediction entropy (AdaMerging), optionally with a sharper
 * cosine-head logit scale (ADAMERGING.md) or the labelled cross-entropy, and the labelled
 * cross-entropy for Frank-Wolfe's oracle. Inputs and heads are tf tensors made once and kept.
 */
export class ClassifierLosses implements LossTerms {
  private readonly heads: Record<string, tf.Tensor> = {};
  private readonly data: Array<{ x: tf.Tensor2D; labels: Int32Array; count: number }> = [];

  constructor(
    private readonly zoo: LoadedClassifierZoo,
    split: EvalSplit,
  ) {
    for (const h of expertHeads(zoo)) Object.assign(this.heads, h);
    for (const task of zoo.tasks) {
      const file = dataFile(zoo, task, split);
      const d = readTaskData(file, zoo.config.numClasses);
      if (d.count === 0) fail('IO_E_NOT_FOUND', `${file} holds no samples; gradient search needs ${split} samples for task ${task}`);
      this.data.push({ x: tf.keep(tf.tensor2d(toInputs(d.images), [d.count, zoo.config.inputSize])), labels: Int32Array.from(d.labels), count: d.count });
    }
  }

  count(task: number): number {
    return this.data[task]!.count;
  }

  checkOptions(): void {}

  adaptationLoss(params: Record<string, tf.Tensor>, task: number, indices: Uint32Array, options: LossOptions): tf.Scalar {
    const cfg = this.zoo.config;
    // The samples enter only as constants: no gradient flows to them (none is asked).
    const picks = Int32Array.from(indices);
    const factor = options.logitScale && cfg.head === 'cosine' ? options.logitScale / cfg.logitScale : 1;
    let logits = mlpLogits({ ...params, ...this.heads }, cfg, tf.gather(this.data[task]!.x, picks) as tf.Tensor2D, this.zoo.tasks[task]!);
    if (factor !== 1) logits = tf.mul(logits, factor);
    if (!options.labels) return entropyLoss(logits);
    const labels = Int32Array.from(picks, (j) => this.data[task]!.labels[j]!);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), cfg.numClasses), logits) as tf.Scalar;
  }

  labelledLoss(params: Record<string, tf.Tensor>, task: number, indices: Uint32Array): tf.Scalar {
    const d = this.data[task]!;
    const picks = Int32Array.from(indices);
    const y = tf.oneHot(tf.tensor1d(Int32Array.from(picks, (j) => d.labels[j]!), 'int32'), this.zoo.config.numClasses);
    const logp = tf.logSoftmax(mlpLogits({ ...params, ...this.heads }, this.zoo.config, tf.gather(d.x, picks) as tf.Tensor2D, this.zoo.tasks[task]!), -1);
    return tf.neg(tf.mean(tf.sum(tf.mul(y, logp), -1))) as tf.Scalar;
  }

  dispose(): void {
    tf.dispose([...Object.values(this.heads), ...this.data.map((d) => d.x)]);
  }
}
