// `mergesearch zoo build NAME [--out DIR] [--tiny] [--seed N] [--backend B]`: build a benchmark
// zoo (base, experts, task data) locally from a seed, by its family (src/zoo/registry.ts).
import type { Command } from 'commander';
import { fail } from '../errors.ts';
import { DEVICE_CHOICES, parseDeviceChoice } from '../gpu/device.ts';
import { closestName } from '../closest-name.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../tensor/backend-choices.ts';
import { FAMILY_CARDS, familyNames } from '../zoo/catalog.ts';
import { intArg } from './merge.ts';

export function defaultZooDir(name: string, tiny: boolean): string {
  return `zoo/${name}${tiny ? '-tiny' : ''}`;
}

export function registerZoo(program: Command): void {
  const zoo = program.command('zoo').description('built-in benchmark zoos, built locally from data shipped in npm packages or generated from a seed');
  zoo
    .command('build')
    .description(`build a zoo: a base model, one expert per task, and per-task calibration/validation/test data\n${FAMILY_CARDS.map((f) => `  ${f.name}: ${f.summary} (${f.buildTime.full}; --tiny ${f.buildTime.tiny})`).join('\n')}`)
    .argument('<name>', `zoo to build: ${familyNames().join(', ')}`)
    .option('--out <dir>', 'output folder (default zoo/NAME, or zoo/NAME-tiny with --tiny)')
    .option('--tiny', 'a small, fast version for tests')
    .option('--seed <n>', 'seed for data splits, initialisation and batch order', '0')
    .option('--backend <name>', `tfjs backend: ${BACKEND_CHOICES.join(', ')}`, 'auto')
    .option('--threads <n>', 'worker threads that train the experts at once (sft4; each its own tfjs instance; the same files for any count)', '2')
    .option('--device <device>', `where training and scoring run: ${DEVICE_CHOICES.join(', ')} (training runs on the CPU only: gpu is GPU_E_SCORING, auto runs on the CPU)`, 'auto')
    .action(async (name: string, o: { out?: string; tiny?: boolean; seed: string; threads: string; backend: string; device: string }) => {
      const { scoringDevice } = await import('../gpu/scoring-device.ts');
      const device = scoringDevice(parseDeviceChoice(o.device), 'zoo build', { trains: true });
      const { getFamily } = await import('../zoo/registry.ts');
      const family = getFamily(name);
      if (!family) {
        const near = closestName(name, familyNames());
        fail('CLI_E_ARG', `unknown zoo ${name}${near ? ` (did you mean ${near}?)` : ''}; available: ${familyNames().join(', ')}`);
      }
      const seed = intArg(o.seed, '--seed', 0);
      const threads = intArg(o.threads, '--threads', 1);
      const { initEngine } = await import('../tensor/engine.ts');
      const engine = await initEngine(o.backend as BackendChoice);
      const out = o.out ?? defaultZooDir(name, o.tiny ?? false);
      process.stderr.write(`building ${name}${o.tiny ? ' (tiny)' : ''} into ${out} with seed ${seed} on the ${engine.backend} backend; device: ${device.line}\n`);
      const started = Date.now();
      const manifest = family.build({ out, seed, tiny: o.tiny, threads, onLog: (line) => process.stderr.write(`${line}\n`) });
      process.stdout.write(`built ${manifest.benchmark} in ${((Date.now() - started) / 1000).toFixed(1)} s: base, ${Object.keys(manifest.experts).length} experts, data for ${manifest.tasks.join(', ')} → ${out}/manifest.json\n`);
    });
}
