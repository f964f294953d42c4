// A classifier zoo's (mnist8's) checkpoints held in memory, and merged backbones built from them
// without touching disk, each task scored through its own expert's head (the convention for merging
// classifiers with task-specific heads: heads are not merged). Used by the mnist8 family adapter
// and the mnist8 experiment scripts.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../io/checkpoint.ts';
import { mergeHostFixed, type HostParams, type MergeSpec } from '../merge/host-merge.ts';
import { mlpConfigFromJson, mlpLogits, type MlpConfig } from '../models/mlp-classifier.ts';
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
  return { dir, manifest, config: base.config, base: base.params, experts, tasks: manifest.tasks, numLayers: base.numLayers, expertDirs };
}

/** Merge the backbone with a method's exact semantics (the same code as `mergesearch merge`). */
export function mergeBackbone(zoo: LoadedClassifierZoo, spec: MergeSpec): HostParams {
  return mergeHostFixed(zoo, [...zoo.base.keys()].filter((n) => n.startsWith('backbone.')), spec);
}

/** Accuracy per task of a backbone, each task through its own expert's head. */
export function scoreBackbone(zoo: LoadedClassifierZoo, backbone: HostParams, split: SplitName, limit?: number): Map<string, number> {
  const scores = new Map<string, number>();
  const data = dataOf(zoo, split, limit);
  tf.tidy(() => {
    const params: Record<string, tf.Tensor> = {};
    for (const [name, t] of backbone) params[name] = tf.tensor(t.values, t.shape);
    zoo.tasks.forEach((task, i) => {
      for (const [name, t] of zoo.experts[i]!) if (name.startsWith(`heads.${task}.`)) params[name] = tf.tensor(t.values, t.shape);
      const d = data.get(task)!;
      const pred = mlpLogits(params, zoo.config, d.x, task).argMax(1).dataSync();
      let correct = 0;
      for (let k = 0; k < d.labels.length; k++) correct += pred[k] === d.labels[k] ? 1 : 0;
      scores.set(task, correct / d.labels.length);
    });
  });
  return scores;
}

const dataCache = new WeakMap<LoadedClassifierZoo, Map<string, { x: tf.Tensor2D; labels: Uint8Array }>>();

function dataOf(zoo: LoadedClassifierZoo, split: SplitName, limit?: number): Map<string, { x: tf.Tensor2D; labels: Uint8Array }> {
  let byKey = dataCache.get(zoo);
  if (!byKey) dataCache.set(zoo, (byKey = new Map()));
  const out = new Map<string, { x: tf.Tensor2D; labels: Uint8Array }>();
  for (const task of zoo.tasks) {
    const key = `${task}/${split}/${limit ?? 'all'}`;
    let entry = byKey.get(key);
    if (!entry) {
      const d = readTaskData(path.join(zoo.dir, zoo.manifest.data[task]![split]), zoo.config.numClasses);
      const n = Math.min(d.count, limit ?? d.count);
      entry = { x: tf.keep(tf.tensor2d(toInputs(d.images.subarray(0, n * zoo.config.inputSize)), [n, zoo.config.inputSize])), labels: d.labels.subarray(0, n) };
      byKey.set(key, entry);
    }
    out.set(task, entry);
  }
  return out;
}

/** The backbone of one checkpoint (base or an expert) as a HostParams. */
export function backboneOf(params: HostParams): HostParams {
  return new Map([...params].filter(([n]) => n.startsWith('backbone.')));
}
