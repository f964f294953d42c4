// `mergesearch db copy --from DB --to DB [--study NAME ...]`: move studies between stores, e.g. a
// SQLite file started on a laptop into the PostgreSQL database that workers on several hosts share.
import type { Command } from 'commander';
import { fail } from '../errors.ts';
import { StudyStore } from '../study/index.ts';
import { copyStudies } from '../study/copy.ts';

export function registerDb(program: Command): void {
  const db = program.command('db').description('manage study databases (SQLite files, PostgreSQL)');
  db.command('copy')
    .description('copy studies (trials, values, optimizer state, notes) from one store to another')
    .requiredOption('--from <file|url>', 'the store to copy from (opened read-only)')
    .requiredOption('--to <file|url>', 'the store to copy into (created or migrated when needed)')
    .option('--study <name...>', 'the studies to copy (default: all)')
    .action((o: { from: string; to: string; study?: string[] }) => {
      if (o.from === o.to) fail('CLI_E_ARG', '--from and --to name the same store; give two different ones');
      const from = StudyStore.open(o.from, { readonly: true });
      try {
        const to = StudyStore.open(o.to);
        try {
          const r = copyStudies(from, to, o.study);
          for (const s of r.studies) process.stdout.write(`copied study ${s.name} (${s.trials} trials) from ${from.file} to ${to.file}\n`);
          if (r.studies.length === 0) process.stdout.write(`${from.file} holds no studies; nothing to copy\n`);
        } finally {
          to.close();
        }
      } finally {
        from.close();
      }
    });
}
