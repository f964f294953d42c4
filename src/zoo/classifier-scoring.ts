// Scoring and differentiable losses of a classifier zoo (MLP backbone, one head per task): each
// task is scored through its own expert's head (the convention for merging classifiers with
// task-specific heads: heads are not merged), unless the model scored brings that head itself.
// Scoring stacks every scored task's samples into one forward pass (the backbone once per
// candidate, the heads per task) on the WebAssembly SIMD kernels; the tfjs pass is the reference.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getEvaluator } from '../../evaluators/index.ts';
import { entropyLoss } from '../../evaluators/entropy.ts';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import { fail } from '../errors.ts';
import { GpuScoring } from '../gpu/scoring-thread.ts';
import type { HostParams } from '../merge/host-merge.ts';
import { defaultThreads } from '../merge/executor.ts';
import { mlpLogits } from '../models/mlp-classifier.ts';
import { MlpForward } from '../models/mlp-forward.ts';
import type { FirstLayerBasis, MlpWeights, RowSegment } from '../models/mlp-rows-forward.ts';
import { mlpLayerName } from '../models/mlp-names.ts';
import { forwardKernelsAvailable } from '../tensor/wasm/forward-kernels.ts';
import type { EvalSplit, FamilyObjective, LossOptions, LossTerms, ZooScorer } from './family.ts';
import { subset } from './mnist-data.ts';
import { readTaskData, toInputs } from './task-data.ts';
import type { LoadedClassifierZoo } from './zoo-models.ts';

interface Batch {
  /** Network inputs [count, inputSize] on the host; the tfjs path makes its tensor on first use. */
  inputs: Float32Array;
  x?: tf.Tensor2D;
  labels: Uint8Array;
}

function expertHeads(zoo: LoadedClassifierZoo): Record<string, tf.Tensor>[] {
  return zoo.tasks.map((task, i) => {
    const h: Record<string, tf.Tensor> = {};
    for (const [name, t] of zoo.experts[i]!) if (name.startsWith(`heads.${task}.`)) h[name] = tf.keep(tf.tensor(t.values, t.shape));
    return h;
  });
}

/** The first-layer weights of the zoo's base and experts (the basis candidates combine). */
export function firstLayerBasis(zoo: LoadedClassifierZoo): FirstLayerBasis {
  const name = `${mlpLayerName(0)}.weight`;
  return { base: zoo.base.get(name)!.values, experts: zoo.experts.map((e) => e.get(name)!.values) };
}

function dataFile(zoo: LoadedClassifierZoo, task: string, split: string): string {
  const rel = (zoo.manifest.data[task] as Record<string, string> | undefined)?.[split];
  if (!rel) fail('IO_E_NOT_FOUND', `the zoo's manifest (${path.join(zoo.dir, 'manifest.json')}) names no ${split} data for task ${task}; rebuild the zoo`);
  return path.join(zoo.dir, rel);
}

/**
 * How a ClassifierScorer runs the network: `wasm`, one forward pass over every scored task's
 * samples stacked (the shared backbone once, the heads per task) with the WebAssembly SIMD dense
 * kernels, split over threads; `tfjs`, a tfjs forward pass per task (the reference);
 * `auto`, wasm unless its kernels cannot load or tfjs runs on its native TensorFlow backend;
 * `gpu` (set by the `gpu` option), tfjs' webgpu backend in the GPU scoring thread, each task's
 * forward over its rows and head, inputs and heads kept on the GPU between candidates.
 */
export type ScoringForward = 'auto' | 'wasm' | 'tfjs' | 'gpu';

export interface ClassifierScorerOptions {
  samples?: number;
  seed: number;
  forward?: ScoringForward;
  /** Threads for the wasm forward pass (the caller's included); default: the CPU count, at most 8. */
  threads?: number;
  /**
   * Whether the wasm pass may combine the first layer's products from the base's and experts'
   * (for candidates whose first-layer weight is a linear combination of them; see FirstLayerBasis
   * in mlp-rows-forward.ts). Default true; the numbers agree to float32 rounding either way.
   */
  combineFirstLayer?: boolean;
  /** Score on the GPU (forward 'gpu'). */
  gpu?: GpuScoring;
}

/** Stacked forward passes kept per set of batches (a study scores one set; a re-scoring adds another). */
const KEPT_FORWARDS = 4;

export class ClassifierScorer implements ZooScorer {
  private readonly data = new Map<string, Batch>();
  private readonly heads: Record<string, tf.Tensor>[];
  private readonly forwards = new Map<string, MlpForward>();
  private readonly forward: 'wasm' | 'tfjs' | 'gpu';
  /** Keys of what this scorer keeps on the GPU. */
  private readonly gpuScope = GpuScoring.scope();

  constructor(
    private readonly zoo: LoadedClassifierZoo,
    private readonly o: ClassifierScorerOptions,
  ) {
    const want = o.gpu ? 'gpu' : (o.forward ?? 'auto');
    if (want === 'gpu' && !o.gpu) fail('ENGINE_E_BACKEND', 'the gpu scoring forward pass needs a GPU scorer (--device gpu)');
    this.forward = want === 'auto' ? (forwardKernelsAvailable() && tf.getBackend() !== 'tensorflow' ? 'wasm' : 'tfjs') : want;
    if (this.forward === 'wasm' && !forwardKernelsAvailable()) fail('ENGINE_E_BACKEND', 'the wasm scoring forward pass needs WebAssembly SIMD, which this runtime lacks; score with forward: tfjs');
    this.heads = this.forward === 'tfjs' ? expertHeads(zoo) : [];
  }

  /** How many wasm forward passes combined their first layer from the basis's products. */
  get combinedRuns(): number {
    let n = 0;
    for (const f of this.forwards.values()) n += f.combinedRuns;
    return n;
  }

  /** Which forward pass this scorer runs. */
  get forwardPath(): 'wasm' | 'tfjs' | 'gpu' {
    return this.forward;
  }

  /** A task's split; the objectives' own splits use one seeded subsample per study, reused by every trial. */
  private batch(task: string, split: EvalSplit, subsample: boolean): Batch {
    const key = `${task}/${split}/${subsample}`;
    let b = this.data.get(key);
    if (!b) {
      let d = readTaskData(dataFile(this.zoo, task, split), this.zoo.config.numClasses);
      if (subsample && this.o.samples !== undefined && this.o.samples < d.count) d = subset(d, subsampleIndices(d.count, this.o.samples, this.o.seed));
      b = { inputs: toInputs(d.images), labels: d.labels };
      this.data.set(key, b);
    }
    return b;
  }

  score(params: HostParams, objectives: readonly FamilyObjective[], splitOverride?: EvalSplit) {
    const logitsOf =
      this.forward === 'wasm' ? this.logitsWasm(params, objectives, splitOverride) : this.forward === 'gpu' ? this.logitsGpu(params, objectives, splitOverride) : this.logitsTfjs(params, objectives, splitOverride);
    let evaluations = 0;
    for (const { labels } of logitsOf.values()) evaluations += labels.length;
    const values = objectives.map((o) => {
      const { logits, labels } = logitsOf.get(`${o.task}/${splitOverride ?? o.split}`)!;
      return getEvaluator(o.evaluator).score(logits, labels, this.zoo.config.numClasses);
    });
    return { values, evaluations };
  }

  /** Each (task, split) the objectives name, in first-use order, with its batch. */
  private batches(objectives: readonly FamilyObjective[], splitOverride?: EvalSplit): Map<string, { task: string; batch: Batch }> {
    const out = new Map<string, { task: string; batch: Batch }>();
    for (const o of objectives) {
      const split = splitOverride ?? o.split;
      const key = `${o.task}/${split}`;
      if (!out.has(key)) out.set(key, { task: o.task, batch: this.batch(o.task, split, splitOverride === undefined) });
    }
    return out;
  }

  private logitsTfjs(params: HostParams, objectives: readonly FamilyObjective[], splitOverride?: EvalSplit) {
    const out = new Map<string, { logits: Float32Array; labels: Uint8Array }>();
    tf.tidy(() => {
      const uploaded: Record<string, tf.Tensor> = {};
      for (const [name, t] of params) uploaded[name] = tf.tensor(t.values, t.shape);
      for (const [key, { task, batch }] of this.batches(objectives, splitOverride)) {
        batch.x ??= tf.keep(tf.tensor2d(batch.inputs, [batch.labels.length, this.zoo.config.inputSize]));
        const ti = this.zoo.tasks.indexOf(task);
        const ownHead = params.has(`heads.${task}.weight`);
        const logits = mlpLogits(ownHead ? uploaded : { ...uploaded, ...this.heads[ti]! }, this.zoo.config, batch.x, task).dataSync() as Float32Array;
        out.set(key, { logits, labels: batch.labels });
      }
    });
    return out;
  }

  private logitsGpu(params: HostParams, objectives: readonly FamilyObjective[], splitOverride?: EvalSplit) {
    const batches = [...this.batches(objectives, splitOverride)];
    const sub = splitOverride === undefined;
    const logits = this.o.gpu!.mlpLogits(
      this.zoo.config,
      params,
      batches.map(([key, { task, batch }]) => {
        // A model that brings its own head is scored through it; else through the task's expert's.
        let head: HostParams | undefined;
        if (!params.has(`heads.${task}.weight`)) {
          head = new Map();
          for (const [name, t] of this.zoo.experts[this.zoo.tasks.indexOf(task)]!) if (name.startsWith(`heads.${task}.`)) head.set(name, t);
        }
        return { task, inputs: batch.inputs, rows: batch.labels.length, head, key: `${this.gpuScope}${key}/${sub}/${head ? 'expert' : 'own'}` };
      }),
    );
    return new Map(batches.map(([key, { batch }], i) => [key, { logits: logits[i]!, labels: batch.labels }]));
  }

  private logitsWasm(params: HostParams, objectives: readonly FamilyObjective[], splitOverride?: EvalSplit) {
    const batches = this.batches(objectives, splitOverride);
    const planKey = [...batches.keys()].join(',') + `|${splitOverride === undefined}`;
    let forward = this.forwards.get(planKey);
    if (!forward) {
      const segments: RowSegment[] = [];
      let rows = 0;
      for (const { task, batch } of batches.values()) {
        segments.push({ start: rows, count: batch.labels.length, task });
        rows += batch.labels.length;
      }
      const inputs = new Float32Array(rows * this.zoo.config.inputSize);
      let at = 0;
      for (const { batch } of batches.values()) {
        inputs.set(batch.inputs, at);
        at += batch.inputs.length;
      }
      if (this.forwards.size >= KEPT_FORWARDS) {
        const [oldest, f] = this.forwards.entries().next().value!;
        f.close();
        this.forwards.delete(oldest);
      }
      forward = new MlpForward(this.zoo.config, inputs, segments, this.o.threads ?? defaultThreads(), this.o.combineFirstLayer === false ? undefined : firstLayerBasis(this.zoo));
      this.forwards.set(planKey, forward);
    }
    const weights: MlpWeights = {};
    for (const [name, t] of params) weights[name] = t.values;
    for (const { task } of batches.values()) {
      if (params.has(`heads.${task}.weight`)) continue;
      const expert = this.zoo.experts[this.zoo.tasks.indexOf(task)]!;
      for (const [name, t] of expert) if (name.startsWith(`heads.${task}.`)) weights[name] = t.values;
    }
    const all = forward.run(weights);
    const out = new Map<string, { logits: Float32Array; labels: Uint8Array }>();
    const classes = this.zoo.config.numClasses;
    let row = 0;
    for (const [key, { batch }] of batches) {
      out.set(key, { logits: all.subarray(row * classes, (row + batch.labels.length) * classes), labels: batch.labels });
      row += batch.labels.length;
    }
    return out;
  }

  close(): void {
    if (this.forward === 'gpu') {
      try {
        this.o.gpu!.drop(this.gpuScope);
      } catch {
        // the thread is gone: nothing is held
      }
    }
    for (const b of this.data.values()) b.x?.dispose();
    this.data.clear();
    for (const h of this.heads) tf.dispose(Object.values(h));
    for (const f of this.forwards.values()) f.close();
    this.forwards.clear();
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
