// A classifier zoo's (mnist8's) checkpoints held in memory, and merged backbones built from them
// without touching disk, each task scored through its own expert's head (the convention for merging
// classifiers with task-specific heads: heads are not merged). Used by the mnist8 family adapter
// and the mnist8 experiment scripts.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../io/checkpoint.ts';
import { mergeHostFixed, type HostParams, type MergeSpec } from '../merge/host-merge.ts';
import { defaultThreads } from '../merge/executor.ts';
import { mlpConfigFromJson, mlpLogits, type MlpConfig } from '../models/mlp-classifier.ts';
import { MlpForward } from '../models/mlp-forward.ts';
import type { MlpWeights, RowSegment } from '../models/mlp-rows-forward.ts';
import { forwardKernelsAvailable } from '../tensor/wasm/forward-kernels.ts';
import type { SplitName } from './mnist-data.ts';
import { readTaskData, toInputs } from './task-data.ts';
import { readZooManifest } from './zoo-eval.ts';
import type { Mnist8Manifest } from './mnist8.ts';

export interface LoadedClassifierZoo {
  dir: string;
  manifest: Mnist8Manifest;
  config: MlpConfig;
  base: HostParams;
  experts: HostParams[];
  tasks: string[];
  expertNames: string[];
  expertTasks: (string | null)[];
  numLayers: number;
  /** Each expert's folder (where data-informed methods find merge_statistics.safetensors). */
  expertDirs: string[];
}

export function loadClassifierHost(dir: string): { params: HostParams; config: MlpConfig; numLayers: number } {
  const c = Checkpoint.open(dir);
  try {
    const config = mlpConfigFromJson(c.config?.raw, path.join(c.dir, 'config.json'));
    const params: HostParams = new Map();
    for (const t of c.tensors.values()) params.set(t.name, { shape: t.shape, values: c.readF32(t.name) });
    return { params, config, numLayers: config.hiddenSizes.length };
  } finally {
    c.close();
  }
}

export function loadClassifierZoo(dir: string): LoadedClassifierZoo {
  const manifest = readZooManifest(dir);
  const base = loadClassifierHost(path.join(dir, manifest.base));
  const experts = manifest.tasks.map((t) => loadClassifierHost(path.join(dir, manifest.experts[t]!)).params);
  const expertDirs = manifest.tasks.map((t) => path.join(dir, manifest.experts[t]!));
  return { dir, manifest, config: base.config, base: base.params, experts, tasks: manifest.tasks, expertNames: [...manifest.tasks], expertTasks: [...manifest.tasks], numLayers: base.numLayers, expertDirs };
}

/** Merge the backbone with a method's exact semantics (the same code as `mergesearch merge`). */
export function mergeBackbone(zoo: LoadedClassifierZoo, spec: MergeSpec): HostParams {
  return mergeHostFixed(zoo, [...zoo.base.keys()].filter((n) => n.startsWith('backbone.')), spec);
}

/**
 * Accuracy per task of a backbone, each task through its own expert's head: one forward pass over
 * all tasks' samples stacked (the first `limit` of each), on the WebAssembly SIMD kernels when they
 * load (else tfjs, one task at a time).
 */
export function scoreBackbone(zoo: LoadedClassifierZoo, backbone: HostParams, split: SplitName, limit?: number): Map<string, number> {
  const data = dataOf(zoo, split, limit);
  const scores = new Map<string, number>();
  const count = (task: string, pred: (k: number) => number) => {
    const { labels } = data.get(task)!;
    let correct = 0;
    for (let k = 0; k < labels.length; k++) correct += pred(k) === labels[k] ? 1 : 0;
    scores.set(task, correct / labels.length);
  };
  if (!forwardKernelsAvailable() || tf.getBackend() === 'tensorflow') {
    tf.tidy(() => {
      const params: Record<string, tf.Tensor> = {};
      for (const [name, t] of backbone) params[name] = tf.tensor(t.values, t.shape);
      zoo.tasks.forEach((task, i) => {
        for (const [name, t] of zoo.experts[i]!) if (name.startsWith(`heads.${task}.`)) params[name] = tf.tensor(t.values, t.shape);
        const d = data.get(task)!;
        const pred = mlpLogits(params, zoo.config, tf.tensor2d(d.inputs, [d.labels.length, zoo.config.inputSize]), task).argMax(1).dataSync();
        count(task, (k) => pred[k]!);
      });
    });
    return scores;
  }
  const forward = forwardOf(zoo, split, limit, data);
  const weights: MlpWeights = {};
  for (const [name, t] of backbone) weights[name] = t.values;
  zoo.tasks.forEach((task, i) => {
    for (const [name, t] of zoo.experts[i]!) if (name.startsWith(`heads.${task}.`)) weights[name] = t.values;
  });
  const logits = forward.run(weights);
  const classes = zoo.config.numClasses;
  let row = 0;
  for (const task of zoo.tasks) {
    count(task, (k) => argmaxRow(logits, (row + k) * classes, classes));
    row += data.get(task)!.labels.length;
  }
  return scores;
}

/** Index of the largest of logits[at .. at + n) (the first one on ties, as tf.argMax). */
function argmaxRow(logits: Float32Array, at: number, n: number): number {
  let best = 0;
  for (let c = 1; c < n; c++) if (logits[at + c]! > logits[at + best]!) best = c;
  return best;
}

type TaskInputs = Map<string, { inputs: Float32Array; labels: Uint8Array }>;

const dataCache = new WeakMap<LoadedClassifierZoo, Map<string, { inputs: Float32Array; labels: Uint8Array }>>();
const forwardCache = new WeakMap<LoadedClassifierZoo, Map<string, MlpForward>>();

function dataOf(zoo: LoadedClassifierZoo, split: SplitName, limit?: number): TaskInputs {
  let byKey = dataCache.get(zoo);
  if (!byKey) dataCache.set(zoo, (byKey = new Map()));
  const out: TaskInputs = new Map();
  for (const task of zoo.tasks) {
    const key = `${task}/${split}/${limit ?? 'all'}`;
    let entry = byKey.get(key);
    if (!entry) {
      const d = readTaskData(path.join(zoo.dir, zoo.manifest.data[task]![split]), zoo.config.numClasses);
      const n = Math.min(d.count, limit ?? d.count);
      entry = { inputs: toInputs(d.images.subarray(0, n * zoo.config.inputSize)), labels: d.labels.subarray(0, n) };
      byKey.set(key, entry);
    }
    out.set(task, entry);
  }
  return out;
}

/** The stacked forward pass over a split's samples of every task, made once per zoo, split and limit (its worker threads do not keep the process alive). */
function forwardOf(zoo: LoadedClassifierZoo, split: SplitName, limit: number | undefined, data: TaskInputs): MlpForward {
  let byKey = forwardCache.get(zoo);
  if (!byKey) forwardCache.set(zoo, (byKey = new Map()));
  const key = `${split}/${limit ?? 'all'}`;
  let f = byKey.get(key);
  if (!f) {
    const segments: RowSegment[] = [];
    let rows = 0;
    for (const task of zoo.tasks) {
      segments.push({ start: rows, count: data.get(task)!.labels.length, task });
      rows += data.get(task)!.labels.length;
    }
    const inputs = new Float32Array(rows * zoo.config.inputSize);
    for (const s of segments) inputs.set(data.get(s.task)!.inputs, s.start * zoo.config.inputSize);
    const name = 'backbone.layers.0.weight';
    f = new MlpForward(zoo.config, inputs, segments, defaultThreads(), { base: zoo.base.get(name)!.values, experts: zoo.experts.map((e) => e.get(name)!.values) });
    byKey.set(key, f);
  }
  return f;
}

/** The backbone of one checkpoint (base or an expert) as a HostParams. */
export function backboneOf(params: HostParams): HostParams {
  return new Map([...params].filter(([n]) => n.startsWith('backbone.')));
}
