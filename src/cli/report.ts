// `mergesearch report [--db FILE] [--study NAME] --out report.html`: the report page as one
// self-contained HTML file (Plotly, the page and the studies' data inlined) that opens from disk
// with no server and no network.
import type { Command } from 'commander';
import { writeReport } from '../server/report-file.ts';
import { DEFAULT_DB } from './search.ts';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('write the report page with its data as one self-contained HTML file')
    .requiredOption('--out <file>', 'the HTML file to write (e.g. report.html)')
    .option('--db <file|url>', 'where the studies are: a SQLite file, or a postgres://user@host/db URL', DEFAULT_DB)
    .option('--study <name>', 'the study to include (repeat for several; default: all)', (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .action((o: { out: string; db: string; study?: string[] }) => {
      const r = writeReport({ db: o.db, studies: o.study, out: o.out });
      const mb = (r.bytes / 1e6).toFixed(1);
      process.stdout.write(`wrote ${r.out} (${mb} MB): ${r.studies.length} stud${r.studies.length === 1 ? 'y' : 'ies'} (${r.studies.join(', ')}), ${r.trials} trials\n`);
    });
}
