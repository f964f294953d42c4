// `mergesearch stats MODEL --data FILE [--kind gram,fisher] [--out FILE] [--samples N] [--task T]`
// and `mergesearch stats --zoo DIR`: statistics for data-informed merges (regmean, fisher).
import type { Command } from 'commander';
import { fail } from '../errors.ts';
import { STATISTICS_KINDS, type StatisticsKind } from '../merge/statistics/store.ts';
import type { StatsSummary } from '../stats/produce.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../tensor/backend-choices.ts';
import { intArg } from './merge.ts';

function parseKinds(v: string): StatisticsKind[] {
  const kinds = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of kinds) if (!(STATISTICS_KINDS as readonly string[]).includes(k)) fail('CLI_E_ARG', `--kind ${k} is unknown; use ${STATISTICS_KINDS.join(', ')} (comma-separated)`);
  if (kinds.length === 0) fail('CLI_E_ARG', `--kind is empty; use ${STATISTICS_KINDS.join(', ')}`);
  return kinds as StatisticsKind[];
}

function describe(s: StatsSummary): string {
  return `${s.file}: ${s.grams} Gram matrices, ${s.fishers} Fisher diagonals from ${s.samples} calibration ${s.fishers > 0 ? 'examples' : 'rows/sequences'}`;
}

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description('compute the statistics data-informed merges need (input Gram matrices for regmean, diagonal Fisher for fisher)')
    .argument('[model]', 'checkpoint folder (an MLP classifier or a Llama-family model)')
    .option('--data <file>', 'calibration data: a task data .safetensors (MLP) or JSON token ids / {"examples": [...]} (Llama)')
    .option('--zoo <dir>', 'every expert of a zoo, each on its own task\'s calibration split, written beside it')
    .option('--kind <kinds>', `what to compute: ${STATISTICS_KINDS.join(',')} (gram_plus: with --zoo)`, 'gram')
    .option('--out <file>', 'output file (default: merge_statistics.safetensors in the model folder)')
    .option('--samples <n>', 'use the first n calibration examples', '256')
    .option('--task <name>', 'MLP classifiers with several heads: the task whose head the statistics follow')
    .option('--alpha <a>', 'with --kind gram_plus: the RegMean alpha used to merge the earlier layers', '0.95')
    .option('--backend <name>', `tfjs backend: ${BACKEND_CHOICES.join(', ')}`, 'auto')
    .action(async (model: string | undefined, o: { data?: string; zoo?: string; kind: string; out?: string; samples: string; task?: string; alpha: string; backend: string }) => {
      const alpha = Number(o.alpha);
      if (!(alpha >= 0 && alpha <= 1)) fail('CLI_E_ARG', `--alpha must be a number in [0, 1], got ${JSON.stringify(o.alpha)}`);
      const kinds = parseKinds(o.kind);
      const samples = intArg(o.samples, '--samples', 1);
      if (o.zoo !== undefined && model !== undefined) fail('CLI_E_ARG', 'give either a model folder or --zoo DIR, not both');
      if (o.zoo === undefined && model === undefined) fail('CLI_E_ARG', 'give a model folder (with --data FILE) or --zoo DIR');
      if (o.zoo === undefined && o.data === undefined) fail('CLI_E_ARG', `--data FILE is needed for ${model}: the calibration examples the statistics are computed on`);
      if (o.zoo !== undefined && (o.out !== undefined || o.data !== undefined || o.task !== undefined)) fail('CLI_E_ARG', '--out, --data and --task do not apply with --zoo (each expert uses its own task\'s calibration split and writes beside itself)');
      const { initEngine } = await import('../tensor/engine.ts');
      const { produceStatistics, produceZooStatistics } = await import('../stats/produce.ts');
      await initEngine(o.backend as BackendChoice);
      if (o.zoo !== undefined) {
        produceZooStatistics(o.zoo, kinds, samples, (s, task) => process.stdout.write(`${task}: ${describe(s)}\n`), alpha);
        return;
      }
      process.stdout.write(`${describe(produceStatistics({ model: model!, data: o.data!, kinds, out: o.out, samples, task: o.task }))}\n`);
    });
}
