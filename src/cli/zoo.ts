// `mergesearch zoo build mnist8 [--out DIR] [--tiny] [--seed N] [--backend B]`: build a benchmark
// zoo (base, experts, task data) locally from a seed.
import type { Command } from 'commander';
import { fail } from '../errors.ts';
import { BACKEND_CHOICES, initEngine, type BackendChoice } from '../tensor/engine.ts';
import { buildMnist8 } from '../zoo/mnist8.ts';
import { buildSkills4 } from '../zoo/skills4.ts';
import { intArg } from './merge.ts';

export const ZOOS = ['mnist8', 'skills4'] as const;

export function defaultZooDir(name: string, tiny: boolean): string {
  return `zoo/${name}${tiny ? '-tiny' : ''}`;
}

export function registerZoo(program: Command): void {
  const zoo = program.command('zoo').description('built-in benchmark zoos, built locally from data shipped in npm packages');
  zoo
    .command('build')
    .description('build a zoo: a base model, one expert per task, and per-task calibration/validation/test data')
    .argument('<name>', `zoo to build: ${ZOOS.join(', ')}`)
    .option('--out <dir>', 'output folder (default zoo/NAME, or zoo/NAME-tiny with --tiny)')
    .option('--tiny', 'a small, fast version for tests (about a minute)')
    .option('--seed <n>', 'seed for data splits, initialisation and batch order', '0')
    .option('--backend <name>', `tfjs backend: ${BACKEND_CHOICES.join(', ')}`, 'auto')
    .action(async (name: string, o: { out?: string; tiny?: boolean; seed: string; backend: string }) => {
      if (!(ZOOS as readonly string[]).includes(name)) fail('CLI_E_ARG', `unknown zoo ${name}; available: ${ZOOS.join(', ')}`);
      const seed = intArg(o.seed, '--seed', 0);
      const engine = await initEngine(o.backend as BackendChoice);
      const out = o.out ?? defaultZooDir(name, o.tiny ?? false);
      process.stderr.write(`building ${name}${o.tiny ? ' (tiny)' : ''} into ${out} with seed ${seed} on the ${engine.backend} backend\n`);
      const started = Date.now();
      const build = name === 'skills4' ? buildSkills4 : buildMnist8;
      const manifest = build({ out, seed, tiny: o.tiny, onLog: (line) => process.stderr.write(`${line}\n`) });
      process.stdout.write(`built ${manifest.benchmark} in ${((Date.now() - started) / 1000).toFixed(1)} s: base, ${Object.keys(manifest.experts).length} experts, data for ${manifest.tasks.join(', ')} → ${out}/manifest.json\n`);
    });
}
