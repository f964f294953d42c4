// `mergesearch quickstart`: the README's first command. Builds the mnist8 zoo if it is missing
// (cached under zoo/), runs the default study (experiments/mnist8/studies/quickstart.yaml), prints
// the Pareto set and how to look at it and export a point.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { readStudyConfig } from '../search/study-config.ts';
import { StudyStore, redactUrl } from '../study/index.ts';
import { searchFromCli } from './search.ts';

export const QUICKSTART_STUDY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../experiments/mnist8/studies/quickstart.yaml');

export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description('build the mnist8 zoo if needed and run the default study: a Pareto front in a few minutes')
    .option('--db <file>', 'SQLite database for the study', 'quickstart.db')
    .option('--fresh', 'drop a previous quickstart study in --db and start over')
    .action(async (o: { db: string; fresh?: boolean }) => {
      const config = readStudyConfig(QUICKSTART_STUDY);
      let resume = false;
      if (fs.existsSync(o.db)) {
        const store = StudyStore.open(o.db);
        try {
          const existing = store.findStudy(config.name);
          if (existing && o.fresh) store.deleteStudy(existing.id);
          else if (existing) {
            resume = true;
            process.stderr.write(`continuing the quickstart study already in ${redactUrl(o.db)} (use --fresh to start over)\n`);
          }
        } finally {
          store.close();
        }
      }
      await searchFromCli(path.relative(process.cwd(), QUICKSTART_STUDY), config, { db: o.db, resume });
    });
}
