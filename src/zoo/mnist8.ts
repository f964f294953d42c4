// The mnist8 zoo: a base MLP trained on plain digits and one expert per task fine-tuned from it
// (all backbone weights and its own head), with per-task calibration / validation / test data,
// built locally from the mnist package and a seed. Layout under the output folder:
//   manifest.json                      what is where (tasks, splits, checkpoints, settings)
//   base/                              config.json + model.safetensors
//   experts/<task>/                    config.json + model.safetensors
//   data/<task>/<split>.safetensors    images U8 [N, 784], labels U8 [N]
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointWriter } from '../io/checkpoint-writer.ts';
import { initMlpParams, MLP_ARCHITECTURE, mlpConfigToJson, mlpParameterShapes, type MlpConfig } from '../models/mlp-classifier.ts';
import { loadMnistDigits, SPLITS, splitIndices, subset, type Digits, type SplitName } from './mnist-data.ts';
import { MNIST8_TASKS, taskKeys, transformAll, type Mnist8Task } from './mnist-tasks.ts';
import { toInputs, writeTaskData } from './task-data.ts';
import { trainClassifier } from './train-classifier.ts';

export interface Mnist8Options {
  out: string;
  seed?: number;
  tiny?: boolean;
  onLog?: (line: string) => void;
}

export interface Mnist8Manifest {
  benchmark: 'mnist8';
  version: 1;
  seed: number;
  tiny: boolean;
  tasks: Mnist8Task[];
  splits: Record<SplitName, number>;
  base: string;
  experts: Record<string, string>;
  data: Record<string, Record<SplitName, string>>;
  training: { base: TrainSettings; experts: TrainSettings };
}

interface TrainSettings {
  epochs: number;
  batchSize: number;
  learningRate: number;
}

const FULL = { hidden: [256, 256], perSplit: undefined as number | undefined, base: { epochs: 6, batchSize: 64, learningRate: 0.05 }, experts: { epochs: 10, batchSize: 64, learningRate: 0.05 } };
const TINY = { hidden: [64, 64], perSplit: 0.2, base: { epochs: 4, batchSize: 64, learningRate: 0.05 }, experts: { epochs: 8, batchSize: 64, learningRate: 0.05 } };

/** LayerNorm and a cosine head with a fixed scale: the geometry under which entropy-based merging
 * behaves (DESIGN.md: with a plain linear head, AdaMerging's entropy objective is gamed). */
export function mnist8Config(hidden: number[]): MlpConfig {
  return { architecture: MLP_ARCHITECTURE, inputSize: 784, hiddenSizes: hidden, numClasses: 10, tasks: [...MNIST8_TASKS], layerNorm: true, head: 'cosine', logitScale: 16 };
}

export function buildMnist8(o: Mnist8Options): Mnist8Manifest {
  const seed = o.seed ?? 0;
  const plan = o.tiny ? TINY : FULL;
  const log = o.onLog ?? (() => {});
  const out = path.resolve(o.out);
  fs.mkdirSync(out, { recursive: true });
  const digits = loadMnistDigits();
  const idx = splitIndices(digits.count, seed);
  const keys = taskKeys(seed);
  const config = mnist8Config(plan.hidden);
  const shapes = new Map(mlpParameterShapes(config).map((s) => [s.name, s.shape]));

  // Data: every task and split, transformed once.
  const splitData = {} as Record<SplitName, Digits>;
  for (const s of SPLITS) {
    const all = idx[s];
    const n = plan.perSplit ? Math.round(all.length * plan.perSplit) : all.length;
    splitData[s] = subset(digits, all.subarray(0, n));
  }
  const data: Mnist8Manifest['data'] = {};
  const trainSets = new Map<Mnist8Task, { inputs: Float32Array; labels: Uint8Array; count: number }>();
  for (const task of MNIST8_TASKS) {
    data[task] = {} as Record<SplitName, string>;
    for (const s of SPLITS) {
      const d = splitData[s];
      const images = transformAll(task, d.images, keys, s === 'train' ? 0 : 1_000_000 * (SPLITS.indexOf(s) + 1));
      const rel = path.join('data', task, `${s}.safetensors`);
      fs.mkdirSync(path.join(out, 'data', task), { recursive: true });
      writeTaskData(path.join(out, rel), { images, labels: d.labels, count: d.count }, { task, split: s });
      data[task]![s] = rel;
      if (s === 'train') trainSets.set(task, { inputs: toInputs(images), labels: d.labels, count: d.count });
    }
  }
  log(`data: ${MNIST8_TASKS.length} tasks × ${SPLITS.map((s) => `${s} ${splitData[s].count}`).join(', ')}`);

  // Base: trained on plain digits; every task head starts as the plain head.
  let t0 = Date.now();
  const init = initMlpParams(config, seed);
  const trained = trainClassifier(config, init, shapes, trainSets.get('plain')!, {
    task: 'plain',
    ...plan.base,
    seed,
    trainable: (n) => n.startsWith('backbone.') || n.startsWith('heads.plain.'),
    onEpoch: (e, loss) => log(`base epoch ${e + 1}/${plan.base.epochs} loss ${loss.toFixed(4)}`),
  });
  for (const task of MNIST8_TASKS) {
    for (const suffix of ['weight', 'bias']) {
      const from = trained[`heads.plain.${suffix}`];
      if (from && task !== 'plain') trained[`heads.${task}.${suffix}`] = Float32Array.from(from);
    }
  }
  writeCheckpoint(path.join(out, 'base'), config, shapes, trained);
  log(`base trained in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Experts: all backbone weights and their own head, fine-tuned from the base.
  const experts: Record<string, string> = {};
  for (const [k, task] of MNIST8_TASKS.entries()) {
    t0 = Date.now();
    const params = trainClassifier(config, trained, shapes, trainSets.get(task)!, {
      task,
      ...plan.experts,
      seed: (seed + 1000 * (k + 1)) >>> 0,
      trainable: (n) => n.startsWith('backbone.') || n.startsWith(`heads.${task}.`),
      onEpoch: (e, loss) => log(`expert ${task} epoch ${e + 1}/${plan.experts.epochs} loss ${loss.toFixed(4)}`),
    });
    experts[task] = path.join('experts', task);
    writeCheckpoint(path.join(out, experts[task]!), config, shapes, params);
    log(`expert ${task} trained in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  const manifest: Mnist8Manifest = {
    benchmark: 'mnist8',
    version: 1,
    seed,
    tiny: o.tiny ?? false,
    tasks: [...MNIST8_TASKS],
    splits: Object.fromEntries(SPLITS.map((s) => [s, splitData[s].count])) as Record<SplitName, number>,
    base: 'base',
    experts,
    data,
    training: { base: plan.base, experts: plan.experts },
  };
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

function writeCheckpoint(dir: string, config: MlpConfig, shapes: Map<string, number[]>, params: Record<string, Float32Array>): void {
  const planned = [...shapes].map(([name, shape]) => ({ name, dtype: 'F32' as const, shape }));
  const w = new CheckpointWriter(dir, planned, { overwrite: true });
  try {
    for (const { name } of planned) {
      const v = params[name]!;
      w.write(name, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
    w.addFile('config.json', JSON.stringify(mlpConfigToJson(config), null, 2) + '\n');
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}
