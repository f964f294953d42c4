// `mergesearch search STUDY.yaml [--db FILE] [--resume] [--workers N]`: run (or continue) a study,
// one line per finished trial, a progress bar on a terminal; at the end the recommended merge
// beside the baselines, its export command, and the Pareto set (summary.ts).
import type { Command } from 'commander';
import type { StudyRow, TrialRow } from '../study/index.ts';
import { redactUrl } from '../study/location.ts';
import type { Problem } from '../search/problem.ts';
import type { RunStudyResult } from '../search/run-study.ts';
import type { StudyConfig } from '../search/study-config.ts';
import { intArg } from './merge.ts';
import { fmt, frontText, recommendationText } from './summary.ts';
import { HOST_ID_ENV, STALE_HEARTBEAT_MS } from '../search/loop.ts';
import { fail } from '../errors.ts';
import { DEVICE_CHOICES, parseDeviceChoice, type DeviceChoice } from '../gpu/device.ts';

/** --grace SECONDS as milliseconds: a positive number. */
export function graceArg(v: string): number {
  const s = Number(v);
  if (!Number.isFinite(s) || s <= 0) fail('CLI_E_ARG', `--grace ${v}: give a positive number of seconds (default ${STALE_HEARTBEAT_MS / 1000})`);
  return s * 1000;
}

export const DEFAULT_DB = 'mergesearch.db';
/** Exit code of a search stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it); --resume continues it. */
export const EXIT_INTERRUPTED = 130;

export function trialLine(t: TrialRow, seconds: number, study: StudyRow): string {
  const head = `trial ${String(t.number).padStart(4)} ${t.state.padEnd(8)} ${seconds.toFixed(2).padStart(6)} s`;
  if (t.state !== 'COMPLETE' || !t.values) return `${head}  ${t.error ?? ''}`;
  return `${head}  ${study.objectives.map((o, i) => `${o.name} ${fmt(t.values![i]!)}`).join('  ')}`;
}

/** Progress on a terminal: a bar redrawn under the trial lines with the best value per objective. */
class SearchProgress {
  private readonly tty = process.stderr.isTTY === true;
  private best: number[] = [];
  private done = 0;

  constructor(private readonly total: number | undefined) {}

  trial(t: TrialRow, seconds: number, study: StudyRow, used: number): void {
    this.done = used;
    if (t.state === 'COMPLETE' && t.values) {
      this.best = study.objectives.map((o, i) => {
        const v = t.values![i]!;
        const b = this.best[i];
        return b === undefined ? v : o.direction === 'maximize' ? Math.max(b, v) : Math.min(b, v);
      });
    }
    if (this.tty) process.stderr.write('\r\x1b[K');
    process.stdout.write(`${trialLine(t, seconds, study)}\n`);
    if (this.tty) this.draw(study);
  }

  private draw(study: StudyRow): void {
    const width = 24;
    const frac = this.total ? Math.min(1, this.done / this.total) : 0;
    const bar = this.total ? `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${this.done}/${this.total}` : `${this.done} trials`;
    const best = this.best.length ? ` best: ${study.objectives.map((o, i) => `${o.name} ${fmt(this.best[i]!)}`).join(' ')}` : '';
    process.stderr.write(`${bar}${best}`.slice(0, (process.stderr.columns ?? 120) - 1));
  }

  finish(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}

export interface SearchCliOptions {
  db: string;
  resume?: boolean;
  workers?: number;
  join?: boolean;
  quiet?: boolean;
  hostId?: string;
  graceMs?: number;
  /** --device (default auto). */
  device?: DeviceChoice;
}

/** Run a study from the command line (shared by `search` and `quickstart`). */
export async function searchFromCli(configFile: string, config: StudyConfig, o: SearchCliOptions): Promise<RunStudyResult | undefined> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    // A --join worker never quits at once: one started by --workers is ended by its starter when
    // that quits, and one started by hand in the terminal's group may get the same Ctrl-C twice.
    if (interrupts > 1 && !o.join) process.exit(EXIT_INTERRUPTED);
    if (interrupts > 1) return;
    process.stderr.write('\nstopping after the current trial (Ctrl-C again to quit at once; the trial is then retried on --resume)\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const { runStudy, WORKER_PIPE_ENV } = await import('../search/run-study.ts');
  // A worker started by --workers: its stdin closes when the process that started it is gone.
  if (o.join && process.env[WORKER_PIPE_ENV] === '1') watchStarter(controller);
  const { scoringDevice } = await import('../gpu/scoring-device.ts');
  const device = scoringDevice(o.device ?? 'auto', 'search', { external: config.zoo === undefined });
  const progress = new SearchProgress(config.budget.trials);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    const result = await runStudy({
      config,
      configFile,
      db: o.db,
      resume: o.resume,
      join: o.join,
      workers: o.workers,
      hostId: o.hostId,
      graceMs: o.graceMs,
      signal: controller.signal,
      device,
      log,
      onStart: (study: StudyRow, problem: Problem, optimizer, ctx, backend) => {
        if (o.quiet) return;
        log(`study ${study.name} in ${redactUrl(o.db)} on the ${backend} backend`);
        log(`  device: ${device.line}`);
        log(`  ${problem.description}`);
        log(`  method ${problem.space.method}, ${ctx.dim} coefficients; optimizer ${optimizer.name} ${JSON.stringify(ctx.settings)}`);
        log(`  objectives: ${study.objectives.map((x) => `${x.name} (${x.direction})`).join(', ')}`);
        const b = config.budget;
        log(`  budget: ${[b.trials && `${b.trials} trials`, b.evaluations && `${b.evaluations} evaluations`, b.seconds && `${b.seconds} s`].filter(Boolean).join(', ')}`);
      },
      onTrial: (t, seconds, study) => {
        if (!o.quiet) progress.trial(t, seconds, study, t.number + 1);
      },
    });
    progress.finish();
    // Stopped by Ctrl-C or SIGTERM: not a finished run, so not 0 (scripts can tell the two apart).
    if (result.reason === 'stopped') process.exitCode = EXIT_INTERRUPTED;
    // --quiet hides the header and the per-trial lines only: the outcome, an evaluator failure (and
    // its exit code), the recommended merge and the Pareto set still print.
    // A worker started by --workers (--join --quiet) leaves all of that to the process that started it.
    if (o.quiet && o.join) return result;
    const resume = `npx mergesearch search ${configFile} --db ${redactUrl(o.db)} --resume`;
    if (result.reason === 'failing') {
      process.stderr.write(`error: the evaluator failed on 5 trials in a row, so the search stopped instead of spending its budget; last error: ${result.error}\nfix the evaluator, then continue with:\n  ${resume}\n`);
      process.exitCode = 2;
    } else if (result.reason === 'stopped') {
      log(`stopped after ${result.trials} trial(s) in this run; continue with:\n  ${resume}`);
    } else {
      log(`finished (${result.reason === 'done' ? 'the optimizer has nothing more to propose' : 'budget spent'}) after ${result.trials} trial(s) in this run`);
    }
    // The recommendation first (one answer), the baselines beside it, then the Pareto set.
    process.stdout.write(`\n${recommendationText(result, redactUrl(o.db))}`);
    const front = frontText(result);
    if (front) process.stdout.write(`\n${front}`);
    process.stdout.write(`\nview the report:   npx mergesearch serve --db ${redactUrl(o.db)}   (or: npx mergesearch report --db ${redactUrl(o.db)} --out report.html)\n`);
    return result;
  } finally {
    device.close();
    // A --join worker keeps its handler: the forwarded copy of a Ctrl-C may arrive after its last
    // trial, and must not kill it (exit code and all) while it closes the study.
    if (!o.join) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/** Stop after the current trial once the starting process's pipe on stdin closes (it quit or was killed). */
function watchStarter(controller: AbortController): void {
  const gone = () => {
    if (controller.signal.aborted) return;
    // stderr is a pipe to that process too: writing to it now fails (EPIPE), which must not end
    // this worker in the middle of its trial. Nobody reads it any more.
    process.stderr.on('error', () => {});
    controller.abort();
  };
  process.stdin.on('end', gone);
  process.stdin.on('close', gone);
  process.stdin.on('error', gone);
  process.stdin.resume();
  // Reading the pipe must not keep a finished worker alive.
  (process.stdin as unknown as { unref?: () => void }).unref?.();
}

export function registerSearch(program: Command): void {
  program
    .command('search')
    .description('search merge coefficients as a study config says; every trial is logged to SQLite')
    .argument('<study>', 'study config (YAML): zoo or checkpoints, space, objectives, optimizer, budget')
    .option('--db <file|url>', 'where the studies are: a SQLite file, or a postgres://user@host/db URL', DEFAULT_DB)
    .option('--resume', 'continue the study of the same name in --db (interrupted trials are retried)')
    .option('--workers <n>', 'processes evaluating trials in parallel on the same database', '1')
    .option('--join', 'join a study another process is running (used by --workers)')
    .option('--quiet', 'no header or per-trial lines (the outcome and the Pareto set still print)')
    .option('--host-id <id>', `this machine's name in the study (default: $${HOST_ID_ENV}, else the host name)`)
    .option('--grace <seconds>', 'a trial whose worker sent no heartbeat for this long is failed and retried', String(STALE_HEARTBEAT_MS / 1000))
    .option('--device <device>', `where zoo candidates are scored: ${DEVICE_CHOICES.join(', ')} (gpu: scoring, and the gradient steps of adamerging and frank_wolfe, on the GPU; auto: a real GPU if present, else the CPU)`, 'auto')
    .action(async (file: string, o: { db: string; resume?: boolean; workers: string; join?: boolean; quiet?: boolean; hostId?: string; grace: string; device: string }) => {
      const workers = intArg(o.workers, '--workers', 1);
      const device = parseDeviceChoice(o.device);
      const { readStudyConfig } = await import('../search/study-config.ts');
      const config = readStudyConfig(file);
      await searchFromCli(file, config, { db: o.db, resume: o.resume, workers, join: o.join, quiet: o.quiet, hostId: o.hostId, graceMs: graceArg(o.grace), device });
    });
}
