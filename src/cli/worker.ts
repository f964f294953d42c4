// `mergesearch worker --db URL --study NAME [--host-id ID] [--grace S]`: join a running study from
// any machine that reaches its database, with the config the study was started with (read from the
// database: no config file needed). Black-box optimizers keep their state in the database, so any
// worker can ask and tell; a worker that dies is noticed by the others through its heartbeat.
import type { Command } from 'commander';
import { runStudy } from '../search/run-study.ts';
import { HOST_ID_ENV, STALE_HEARTBEAT_MS, hostId } from '../search/loop.ts';
import { configFromStored } from '../search/study-identity.ts';
import { StudyStore } from '../study/index.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../tensor/engine.ts';
import { fail } from '../errors.ts';
import { EXIT_INTERRUPTED, graceArg, trialLine } from './search.ts';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('join a running study as one more worker (any machine that reaches --db)')
    .requiredOption('--db <file|url>', 'where the study is: a postgres://user@host/db URL (or a SQLite file on this host)')
    .requiredOption('--study <name>', 'the study to join (started by mergesearch search)')
    .option('--host-id <id>', `this machine's name in the study (default: $${HOST_ID_ENV}, else the host name)`)
    .option('--grace <seconds>', 'a trial whose worker sent no heartbeat for this long is failed and retried', String(STALE_HEARTBEAT_MS / 1000))
    .option('--backend <name>', `tensor backend (${BACKEND_CHOICES.join(', ')})`, 'auto')
    .option('--quiet', 'no per-trial lines')
    .action(async (o: { db: string; study: string; hostId?: string; grace: string; backend: string; quiet?: boolean }) => {
      if (!BACKEND_CHOICES.includes(o.backend as BackendChoice)) fail('CLI_E_ARG', `--backend ${o.backend}: give one of ${BACKEND_CHOICES.join(', ')}`);
      const graceMs = graceArg(o.grace);
      const store = StudyStore.open(o.db, { readonly: true });
      let config;
      try {
        config = configFromStored(store.getStudy(o.study), o.backend as BackendChoice);
      } finally {
        store.close();
      }
      const controller = new AbortController();
      let interrupts = 0;
      const onSignal = () => {
        if (++interrupts > 1) process.exit(EXIT_INTERRUPTED);
        process.stderr.write('\nstopping after the current trial (Ctrl-C again to quit at once; the trial is then retried by another worker)\n');
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      try {
        const r = await runStudy({
          config,
          db: o.db,
          join: true,
          hostId: o.hostId,
          graceMs,
          signal: controller.signal,
          log,
          onStart: (study) => log(`worker ${hostId(o.hostId)}:${process.pid} joined study ${study.name}`),
          onTrial: (t, seconds, study) => {
            if (!o.quiet) process.stdout.write(`${trialLine(t, seconds, study)}\n`);
          },
        });
        log(`worker stopped (${r.reason}) after ${r.trials} trial(s)`);
        if (r.reason === 'stopped') process.exitCode = EXIT_INTERRUPTED;
        if (r.reason === 'failing') process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
