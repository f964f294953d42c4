// `mergesearch export [--db FILE] [--study NAME] --trial N --out DIR`: write a trial's merge as a
// checkpoint folder (streaming engine) with its mergekit recipe and model card. For a zoo study the
// export is scored again on the study's objectives and printed beside the recorded values.
import { Option, type Command } from 'commander';
import { fail } from '../errors.ts';
import { DEVICE_CHOICES, parseDeviceChoice } from '../gpu/device.ts';
import { intArg } from './merge.ts';
import { DEFAULT_DB } from './search.ts';

/** The study to use: the one named, or the only one in the database. */
export async function pickStudy(db: string, name: string | undefined): Promise<string> {
  if (name) return name;
  const { StudyStore, redactUrl } = await import('../study/index.ts');
  const store = StudyStore.open(db, { readonly: true });
  try {
    const all = store.listStudies();
    if (all.length === 1) return all[0]!.name;
    fail('CLI_E_ARG', `${redactUrl(db)} holds ${all.length} studies (${all.map((s) => s.name).join(', ') || 'none'}); say which with --study NAME`);
  } finally {
    store.close();
  }
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description("export a trial's merge as a checkpoint folder with its mergekit recipe and model card")
    .requiredOption('--trial <n>', 'trial number (see the Pareto set printed by search, or the report)')
    .requiredOption('--out <dir>', 'output checkpoint folder')
    .option('--db <file|url>', 'where the study is: a SQLite file, or a postgres://user@host/db URL', DEFAULT_DB)
    .option('--study <name>', 'study name (default: the only study in --db)')
    .option('--overwrite', 'replace a non-empty output folder')
    .option('--threads <n>', 'worker threads for large tensors')
    .option('--no-check', 'do not score the export again (zoo studies)')
    .addOption(new Option('--recipe-paths <how>', 'model paths in mergekit_config.yml: relative to --out (the folder and the models can move together) or absolute').choices(['relative', 'absolute']).default('relative'))
    .option('--device <device>', `where the merge kernels run: ${DEVICE_CHOICES.join(', ')} (as merge --device; scoring the export again stays on the CPU)`, 'auto')
    .action(async (o: { trial: string; out: string; db: string; study?: string; overwrite?: boolean; threads?: string; check: boolean; recipePaths: 'relative' | 'absolute'; device: string }) => {
      const trial = intArg(o.trial, '--trial', 0);
      const device = parseDeviceChoice(o.device);
      const study = await pickStudy(o.db, o.study);
      const { exportTrial } = await import('../search/export.ts');
      const r = await exportTrial({ db: o.db, study, trial, out: o.out, overwrite: o.overwrite, recipePaths: o.recipePaths, threads: o.threads ? intArg(o.threads, '--threads', 1) : undefined, device, log: (l) => process.stderr.write(`${l}\n`) });
      process.stdout.write(`exported trial ${trial} of study ${study} in ${r.seconds.toFixed(1)} s → ${r.out}: ${r.files.join(', ')}\ndevice: ${r.device}\n`);
      if (!o.check) return;
      const { initEngine } = await import('../tensor/engine.ts');
      const { rescoreExport } = await import('../search/rescore.ts');
      await initEngine('auto');
      const rows = rescoreExport(o.db, study, trial, r.out);
      if (rows.length === 0) return;
      process.stdout.write('scored again (same split and samples):\n');
      for (const x of rows) process.stdout.write(`  ${x.objective.padEnd(16)} recorded ${x.recorded.toFixed(4)}  exported ${x.rescored === undefined ? '(not rechecked)' : x.rescored.toFixed(4)}\n`);
    });
}
