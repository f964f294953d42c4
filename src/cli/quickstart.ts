// `mergesearch quickstart`: the README's first command. Builds the mnist8 zoo if it is missing
// (cached under zoo/), runs the default study (experiments/mnist8/studies/quickstart.yaml), prints
// the Pareto set and how to look at it and export a point.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { packagePath } from '../package-root.ts';
import { FAMILY_CARDS } from '../zoo/catalog.ts';
import { redactUrl } from '../study/location.ts';
import { searchFromCli } from './search.ts';

export const QUICKSTART_STUDY = packagePath('experiments', 'mnist8', 'studies', 'quickstart.yaml');
/**
 * How long the quickstart takes: the one estimate the README, the study config's comment, --help
 * and the start message all give (measured: 104 s of CPU time for a first run, most of it building
 * the zoo; a few seconds of search per later run).
 */
export const QUICKSTART_TIME = 'about 2 minutes the first time on an idle 2-core machine, most of it building the mnist8 zoo';

export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description(
      `build the mnist8 zoo if needed and run the default study (${QUICKSTART_TIME})\nbenchmarks (zoo: in a study config):\n${FAMILY_CARDS.map((f) => `  ${f.name}: ${f.summary}`).join('\n')}`,
    )
    .option('--db <file>', 'SQLite database for the study', 'quickstart.db')
    .option('--fresh', 'drop a previous quickstart study in --db and start over')
    .action(async (o: { db: string; fresh?: boolean }) => {
      const { readStudyConfig } = await import('../search/study-config.ts');
      const { StudyStore } = await import('../study/index.ts');
      const config = readStudyConfig(QUICKSTART_STUDY);
      process.stderr.write(`quickstart: ${QUICKSTART_TIME}; a busy machine takes longer\n`);
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
