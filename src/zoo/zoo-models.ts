// A zoo's checkpoints held in memory, and merged candidates built from them without touching disk:
// the backbone is merged, and each task is scored through its own expert's head (the convention for
// merging classifiers with task-specific heads: heads are not merged).
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { mergeTensorInMemory } from '../merge/in-memory.ts';
import type { Scalar } from '../merge/parameters.ts';
import { layerPosition } from '../merge/parameters.ts';
import { mlpConfigFromJson, mlpLogits, type MlpConfig } from '../models/mlp-classifier.ts';
import type { SplitName } from './mnist-data.ts';
import { readTaskData, toInputs } from './task-data.ts';
import { readZooManifest } from './zoo-eval.ts';
import type { Mnist8Manifest } from './mnist8.ts';

export interface HostTensor {
  shape: number[];
  values: Float32Array;
}

export type HostParams = Map<string, HostTensor>;

export interface LoadedZoo {
  dir: string;
  manifest: Mnist8Manifest;
  config: MlpConfig;
  base: HostParams;
  experts: HostParams[];
  tasks: string[];
  numLayers: number;
  /** Each expert's folder (where data-informed methods find merge_statistics.safetensors). */
  expertDirs?: string[];
}

function loadHost(dir: string): { params: HostParams; config: MlpConfig; numLayers: number } {
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

export function loadZoo(dir: string): LoadedZoo {
  const manifest = readZooManifest(dir);
  const base = loadHost(path.join(dir, manifest.base));
  const experts = manifest.tasks.map((t) => loadHost(path.join(dir, manifest.experts[t]!)).params);
  const expertDirs = manifest.tasks.map((t) => path.join(dir, manifest.experts[t]!));
  return { dir, manifest, config: base.config, base: base.params, experts, tasks: manifest.tasks, numLayers: base.numLayers, expertDirs };
}

export interface MergeSpec {
  method: string;
  global?: Record<string, Scalar | undefined>;
  /** Per expert (in zoo task order). */
  perModel?: Array<Record<string, Scalar | undefined>>;
  seed?: number;
}

/** Merge parameters for one tensor: the method's global values and one record per expert. */
export type TensorMergeParams = Pick<MergeSpec, 'global'> & { perModel: NonNullable<MergeSpec['perModel']> };

/**
 * Merge `tensors` of in-memory checkpoints with a method's exact semantics (the same per-tensor code
 * as `mergesearch merge`); `paramsOf` gives each tensor's parameters. With `checkFinite`, a NaN or
 * infinity in the result is refused (SEARCH_E_NONFINITE), naming the tensor and element.
 */
export function mergeHostParams(
  models: { base: HostParams; experts: HostParams[]; numLayers: number; expertDirs?: string[] },
  tensors: Iterable<string>,
  method: string,
  paramsOf: (tensor: string) => TensorMergeParams,
  o: { seed?: number; checkFinite?: boolean } = {},
): HostParams {
  const out: HostParams = new Map();
  for (const name of tensors) {
    const b = models.base.get(name)!;
    const p = paramsOf(name);
    const values = mergeTensorInMemory({
      method,
      name,
      shape: b.shape,
      base: method === 'linear' ? null : b.values,
      models: models.experts.map((e) => e.get(name)!.values),
      global: p.global,
      perModel: p.perModel,
      t: layerPosition(name, models.numLayers),
      seed: o.seed ?? 0,
      modelPaths: models.expertDirs,
    });
    if (o.checkFinite) {
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i]!)) fail('SEARCH_E_NONFINITE', `the merge produced ${values[i]} in ${name} (element ${i}) for this candidate`);
      }
    }
    out.set(name, { shape: b.shape, values });
  }
  return out;
}

/** Parameters of a fixed merge (every tensor alike); experts weigh 1 unless the spec says otherwise. */
export function fixedMergeParams(spec: MergeSpec, experts: number): TensorMergeParams {
  return { global: spec.global, perModel: spec.perModel ?? Array.from({ length: experts }, () => ({ weight: 1 })) };
}

/** Merge the backbone with a method's exact semantics (the same code as `mergesearch merge`). */
export function mergeBackbone(zoo: LoadedZoo, spec: MergeSpec): HostParams {
  const backbone = [...zoo.base.keys()].filter((n) => n.startsWith('backbone.'));
  const params = fixedMergeParams(spec, zoo.experts.length);
  return mergeHostParams(zoo, backbone, spec.method, () => params, { seed: spec.seed });
}

/** Accuracy per task of a backbone, each task through its own expert's head. */
export function scoreBackbone(zoo: LoadedZoo, backbone: HostParams, split: SplitName, limit?: number): Map<string, number> {
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

const dataCache = new WeakMap<LoadedZoo, Map<string, { x: tf.Tensor2D; labels: Uint8Array }>>();

function dataOf(zoo: LoadedZoo, split: SplitName, limit?: number): Map<string, { x: tf.Tensor2D; labels: Uint8Array }> {
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
