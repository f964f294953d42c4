// The mnist8 benchmark family: eight transformed-digit classification tasks, a 784-256-256 MLP
// backbone with one cosine head per task. Candidates merge the backbone; each task is scored
// through its own expert's head (heads are not merged). See mnist8.ts for how the zoo is built.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { EVALUATORS } from '../../evaluators/index.ts';
import { fail } from '../errors.ts';
import { checkMlpParams } from '../models/mlp-classifier.ts';
import { MNIST8_CARD } from './catalog.ts';
import { ClassifierLosses, ClassifierScorer } from './classifier-scoring.ts';
import type { BenchmarkFamily, EvalOptions, LoadedZoo } from './family.ts';
import { buildMnist8 } from './mnist8.ts';
import { SPLITS, type SplitName } from './mnist-data.ts';
import { loadClassifier, readZooManifest, scoreOnZoo, scoreOnZooWith, type TaskScore } from './zoo-eval.ts';
import type { GpuScoring } from '../gpu/scoring-thread.ts';
import type { HostParams } from '../merge/host-merge.ts';
import { loadClassifierHost, loadClassifierZoo, type LoadedClassifierZoo } from './zoo-models.ts';

const isBackbone = (name: string) => name.startsWith('backbone.');

/** A mnist8 zoo in memory, with its family's scorers (and the classifier fields the experiments read). */
export function loadMnist8Zoo(dir: string): LoadedZoo & LoadedClassifierZoo {
  const zoo = loadClassifierZoo(dir);
  return {
    ...zoo,
    family: mnist8Family,
    mergedTensors: [...zoo.base.keys()].filter(isBackbone),
    // Methods, not closures over `zoo`: a copy with other experts or config ({...zoo, config}) scores itself.
    scorer(o) {
      return new ClassifierScorer(this, o);
    },
    lossTerms(split = 'calibration') {
      return new ClassifierLosses(this, split);
    },
    readCheckpoint(model) {
      const { params, config } = loadClassifierHost(model);
      checkMlpParams(config, new Map([...params].map(([n, t]) => [n, t.shape])), model);
      const missing = zoo.tasks.filter((t) => !config.tasks.includes(t));
      if (missing.length > 0) fail('MERGE_E_SHAPE', `${model} has no head for ${missing.join(', ')}, which the zoo ${dir} scores (its heads: ${config.tasks.join(', ')})`);
      for (const name of zoo.base.keys()) {
        if (!isBackbone(name)) continue;
        const want = zoo.base.get(name)!.shape;
        const got = params.get(name)?.shape;
        if (JSON.stringify(got) !== JSON.stringify(want)) fail('MERGE_E_SHAPE', `tensor ${name} is ${JSON.stringify(got ?? 'missing')} in ${model} but ${JSON.stringify(want)} in the zoo ${dir}`);
      }
      return params;
    },
  };
}

/** Each task's head tensors from the zoo's expert for that task (eval --expert-heads). */
function expertHeads(zooDir: string, tasks: string[], experts: Record<string, string>): Record<string, Record<string, tf.Tensor>> {
  const out: Record<string, Record<string, tf.Tensor>> = {};
  for (const task of tasks) {
    const { params } = loadClassifier(path.join(zooDir, experts[task]!));
    out[task] = {};
    for (const [name, t] of Object.entries(params)) {
      if (name.startsWith(`heads.${task}.`)) out[task]![name] = t;
      else t.dispose();
    }
  }
  return out;
}

function summary(scores: TaskScore[]) {
  const mean = scores.reduce((a, s) => a + s.accuracy, 0) / scores.length;
  const lines = [
    ...scores.map((s) => `  ${s.task.padEnd(10)} accuracy ${s.accuracy.toFixed(4)}  cross-entropy ${s.crossEntropy.toFixed(4)}  (${s.samples} samples)`),
    `  ${'average'.padEnd(10)} accuracy ${mean.toFixed(4)}`,
  ];
  return { json: { scores, meanAccuracy: mean }, lines };
}

/** eval --device gpu: the checkpoint's tensors (and the experts' heads) as host arrays, each task's forward pass on the GPU. */
function evalCheckpointGpu(o: EvalOptions & { gpu: GpuScoring }) {
  const { params, config } = loadClassifierHost(o.model);
  checkMlpParams(config, new Map([...params].map(([n, t]) => [n, t.shape])), o.model);
  const zoo = readZooManifest(o.zooDir);
  const scores = scoreOnZooWith(config, o.zooDir, o.split as SplitName, { samples: o.samples, sampleSeed: o.sampleSeed }, (task, inputs, rows) => {
    let head: HostParams | undefined;
    if (o.expertTensors) {
      const expert = loadClassifierHost(path.join(o.zooDir, zoo.experts[task]!)).params;
      head = new Map([...expert].filter(([name]) => name.startsWith(`heads.${task}.`)));
    }
    return o.gpu.mlpLogits(config, params, [{ task, inputs, rows, head }])[0]!;
  });
  return summary(scores);
}

function evalCheckpoint(o: EvalOptions) {
  if (!(SPLITS as readonly string[]).includes(o.split)) fail('CLI_E_ARG', `--split must be one of ${SPLITS.join(', ')} on an mnist8 zoo, got ${o.split}`);
  if (o.gpu) return evalCheckpointGpu({ ...o, gpu: o.gpu });
  const { config, params } = loadClassifier(o.model);
  const zoo = readZooManifest(o.zooDir);
  const heads = o.expertTensors ? expertHeads(o.zooDir, zoo.tasks, zoo.experts) : undefined;
  try {
    return summary(scoreOnZoo(config, params, o.zooDir, o.split as SplitName, { samples: o.samples, sampleSeed: o.sampleSeed, heads }));
  } finally {
    tf.dispose(Object.values(params));
    for (const h of Object.values(heads ?? {})) tf.dispose(Object.values(h));
  }
}

export const mnist8Family: BenchmarkFamily = {
  ...MNIST8_CARD,
  splits: SPLITS,
  evaluators: [EVALUATORS.accuracy, EVALUATORS.cross_entropy, EVALUATORS.entropy],
  mergesTensor: isBackbone,
  tensorOwner: (name, tasks) => tasks.findIndex((task) => name.startsWith(`heads.${task}.`)),
  build: (o) => buildMnist8(o),
  load: loadMnist8Zoo,
  evalCheckpoint,
};
