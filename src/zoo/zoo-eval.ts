// Scoring a checkpoint on a zoo's tasks: load its tensors, run each task's data through the model
// with that task's head, and report accuracy (and cross-entropy) per task and on average.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { accuracy } from '../../evaluators/accuracy.ts';
import { crossEntropy } from '../../evaluators/cross-entropy.ts';
import { fail } from '../errors.ts';
import { readZooManifest as readManifest } from './registry.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { checkMlpParams, mlpConfigFromJson, mlpLogits, type MlpConfig } from '../models/mlp-classifier.ts';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import { subset, type SplitName } from './mnist-data.ts';
import type { Mnist8Manifest } from './mnist8.ts';
import { readTaskData, toInputs } from './task-data.ts';

export interface TaskScore {
  task: string;
  accuracy: number;
  crossEntropy: number;
  samples: number;
}

/** An mnist8 zoo's manifest (read and checked by the registry, like every family's). */
export function readZooManifest(dir: string): Mnist8Manifest {
  return readManifest(dir) as unknown as Mnist8Manifest;
}

/** A checkpoint's parameters as tf tensors, with its MLP config (validated against the tensors). */
export function loadClassifier(dir: string): { config: MlpConfig; params: Record<string, tf.Tensor> } {
  const c = Checkpoint.open(dir);
  try {
    if (!c.config) fail('IO_E_CONFIG', `${dir} has no config.json; a classifier checkpoint needs one`);
    const config = mlpConfigFromJson(c.config.raw, path.join(c.dir, 'config.json'));
    checkMlpParams(config, new Map([...c.tensors.values()].map((t) => [t.name, t.shape])), dir);
    const params: Record<string, tf.Tensor> = {};
    for (const t of c.tensors.values()) params[t.name] = tf.tensor(c.readF32(t.name), t.shape);
    return { config, params };
  } finally {
    c.close();
  }
}

export interface ScoreOptions {
  tasks?: string[];
  /** Score a seeded random subsample of this many samples per task (cheap, low-fidelity). */
  samples?: number;
  sampleSeed?: number;
  /** Score each task through this head instead of the model's own (e.g. the expert's). */
  heads?: Record<string, Record<string, tf.Tensor>>;
}

export function scoreOnZoo(config: MlpConfig, params: Record<string, tf.Tensor>, zooDir: string, split: SplitName, o: ScoreOptions = {}): TaskScore[] {
  return scoreOnZooWith(config, zooDir, split, o, (task, inputs, count) => {
    const taskParams = o.heads?.[task] ? { ...params, ...o.heads[task] } : params;
    const logits = tf.tidy(() => mlpLogits(taskParams, config, tf.tensor2d(inputs, [count, config.inputSize]), task));
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    return values;
  });
}

/** scoreOnZoo with the forward pass given: `logitsOf(task, inputs [count, inputSize], count)` (the GPU's, in eval --device gpu). */
export function scoreOnZooWith(config: MlpConfig, zooDir: string, split: SplitName, o: Pick<ScoreOptions, 'tasks' | 'samples' | 'sampleSeed'>, logitsOf: (task: string, inputs: Float32Array, count: number) => Float32Array): TaskScore[] {
  const manifest = readZooManifest(zooDir);
  const out: TaskScore[] = [];
  for (const task of o.tasks ?? manifest.tasks) {
    const rel = manifest.data[task]?.[split];
    if (!rel) fail('CLI_E_ARG', `zoo ${zooDir} has no ${split} data for task ${task}; tasks: ${manifest.tasks.join(', ')}`);
    let d = readTaskData(path.join(zooDir, rel), config.numClasses);
    if (o.samples !== undefined && o.samples < d.count) d = subset(d, subsampleIndices(d.count, o.samples, o.sampleSeed ?? 0));
    const values = logitsOf(task, toInputs(d.images), d.count);
    out.push({ task, accuracy: accuracy(values, d.labels, config.numClasses), crossEntropy: crossEntropy(values, d.labels, config.numClasses), samples: d.count });
  }
  return out;
}
