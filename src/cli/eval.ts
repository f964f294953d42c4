// `mergesearch eval --model DIR --zoo NAME|DIR [--split test]`: per-task scores of a checkpoint on
// a zoo's tasks, by the zoo's family (accuracy and cross-entropy for classifiers; exact match, loss,
// perplexity and prompt entropy for language models).
import fs from 'node:fs';
import type { Command } from 'commander';
import { fail } from '../errors.ts';
import { DEVICE_CHOICES, parseDeviceChoice } from '../gpu/device.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../tensor/backend-choices.ts';
import { BUILTIN_ZOOS, isBuiltinZoo } from '../zoo/catalog.ts';
import { intArg } from './merge.ts';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('score a checkpoint on a zoo\'s tasks (per task: accuracy and cross-entropy, or exact match, loss, perplexity and entropy)')
    .requiredOption('--model <dir>', 'checkpoint folder')
    .option('--zoo <name|dir>', `a built zoo: ${BUILTIN_ZOOS.join(', ')} (looked up in zoo/NAME) or its folder`, 'mnist8')
    .option('--split <split>', 'data split: calibration, validation, test (mnist8 also: train)', 'test')
    .option('--backend <name>', `tfjs backend: ${BACKEND_CHOICES.join(', ')}`, 'auto')
    .option('--samples <n>', 'score a seeded random subsample of n samples per task (cheap, low-fidelity)')
    .option('--sample-seed <n>', 'seed for --samples', '0')
    .option('--expert-heads', 'score each task through its zoo expert\'s head (classifier zoos; for merged backbones)')
    .option('--json', 'print JSON')
    .option('--device <device>', `where scoring runs: ${DEVICE_CHOICES.join(', ')} (gpu: the forward passes on the GPU; auto: a real GPU if present, else the CPU)`, 'auto')
    .action(async (o: { model: string; zoo: string; split: string; backend: string; samples?: string; sampleSeed: string; expertHeads?: boolean; json?: boolean; device: string }) => {
      const { scoringDevice } = await import('../gpu/scoring-device.ts');
      const device = scoringDevice(parseDeviceChoice(o.device), 'eval');
      try {
        const { builtinZooDir, familyOfDir } = await import('../zoo/registry.ts');
        const { initEngine } = await import('../tensor/engine.ts');
        const zooDir = !fs.existsSync(o.zoo) && isBuiltinZoo(o.zoo) ? builtinZooDir(o.zoo) : o.zoo;
        // A missing folder: "no zoo at DIR (...)", with the build command only for a built-in zoo's folder.
        const family = familyOfDir(zooDir);
        if (!family.splits.includes(o.split)) fail('CLI_E_ARG', `--split must be one of ${family.splits.join(', ')} on a ${family.name} zoo, got ${o.split}`);
        const engine = await initEngine(o.backend as BackendChoice);
        const r = family.evalCheckpoint({
          model: o.model,
          zooDir,
          split: o.split,
          samples: o.samples === undefined ? undefined : intArg(o.samples, '--samples', 1),
          sampleSeed: intArg(o.sampleSeed, '--sample-seed', 0),
          expertTensors: o.expertHeads,
          gpu: device.gpu,
        });
        if (o.json) {
          process.stdout.write(JSON.stringify({ model: o.model, zoo: zooDir, split: o.split, backend: engine.backend, device: device.line, ...r.json }, null, 2) + '\n');
          return;
        }
        process.stdout.write(`${o.model} on ${zooDir} (${o.split}, ${engine.backend} backend)\n`);
        for (const line of r.lines) process.stdout.write(`${line}\n`);
        process.stdout.write(`device: ${device.line}\n`);
      } finally {
        device.close();
      }
    });
}
