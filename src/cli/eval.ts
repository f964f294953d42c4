// `mergesearch eval --model DIR --zoo mnist8 [--split test]`: per-task accuracy of a checkpoint.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import { BACKEND_CHOICES, initEngine, type BackendChoice } from '../tensor/engine.ts';
import { SPLITS, type SplitName } from '../zoo/mnist-data.ts';
import { loadClassifier, readZooManifest, scoreOnZoo } from '../zoo/zoo-eval.ts';
import { intArg } from './merge.ts';
import { isSkills4Zoo } from '../zoo/skills4-models.ts';
import { printSkills4Eval } from './eval-skills4.ts';
import { builtinZooDir, isBuiltinZooName } from '../zoo/builtin-zoos.ts';
import { ZOOS } from './zoo.ts';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('score a checkpoint on a zoo\'s tasks (accuracy and cross-entropy per task)')
    .requiredOption('--model <dir>', 'checkpoint folder')
    .option('--zoo <name|dir>', `a built zoo: ${ZOOS.join(', ')} (looked up in zoo/NAME) or its folder`, 'mnist8')
    .option('--split <split>', `data split: ${SPLITS.join(', ')}`, 'test')
    .option('--backend <name>', `tfjs backend: ${BACKEND_CHOICES.join(', ')}`, 'auto')
    .option('--samples <n>', 'score a seeded random subsample of n samples per task (cheap, low-fidelity)')
    .option('--sample-seed <n>', 'seed for --samples', '0')
    .option('--expert-heads', 'score each task through its zoo expert\'s head (for merged backbones)')
    .option('--json', 'print JSON')
    .action(async (o: { model: string; zoo: string; split: string; backend: string; samples?: string; sampleSeed: string; expertHeads?: boolean; json?: boolean }) => {
      if (!(SPLITS as readonly string[]).includes(o.split)) fail('CLI_E_ARG', `--split must be one of ${SPLITS.join(', ')}, got ${o.split}`);
      // A built-in name is looked up in zoo/NAME; anything else is a folder, used as given.
      const zooDir = !fs.existsSync(o.zoo) && isBuiltinZooName(o.zoo) ? builtinZooDir(o.zoo) : o.zoo;
      const engine = await initEngine(o.backend as BackendChoice);
      if (isSkills4Zoo(zooDir)) {
        printSkills4Eval(o, zooDir, engine.backend);
        return;
      }
      const { config, params } = loadClassifier(o.model);
      const heads = o.expertHeads ? expertHeads(zooDir) : undefined;
      const scores = scoreOnZoo(config, params, zooDir, o.split as SplitName, {
        samples: o.samples === undefined ? undefined : intArg(o.samples, '--samples', 1),
        sampleSeed: intArg(o.sampleSeed, '--sample-seed', 0),
        heads,
      });
      tf.dispose(Object.values(params));
      for (const h of Object.values(heads ?? {})) tf.dispose(Object.values(h));
      const mean = scores.reduce((a, s) => a + s.accuracy, 0) / scores.length;
      if (o.json) {
        process.stdout.write(JSON.stringify({ model: o.model, zoo: zooDir, split: o.split, backend: engine.backend, scores, meanAccuracy: mean }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${o.model} on ${zooDir} (${o.split}, ${engine.backend} backend)\n`);
      for (const s of scores) process.stdout.write(`  ${s.task.padEnd(10)} accuracy ${s.accuracy.toFixed(4)}  cross-entropy ${s.crossEntropy.toFixed(4)}  (${s.samples} samples)\n`);
      process.stdout.write(`  ${'average'.padEnd(10)} accuracy ${mean.toFixed(4)}\n`);
    });
}

/** Each task's head tensors from the zoo's expert for that task. */
function expertHeads(zooDir: string): Record<string, Record<string, tf.Tensor>> {
  const manifest = readZooManifest(zooDir);
  const out: Record<string, Record<string, tf.Tensor>> = {};
  for (const task of manifest.tasks) {
    const { params } = loadClassifier(path.join(zooDir, manifest.experts[task]!));
    out[task] = {};
    for (const [name, t] of Object.entries(params)) {
      if (name.startsWith(`heads.${task}.`)) out[task]![name] = t;
      else t.dispose();
    }
  }
  return out;
}
