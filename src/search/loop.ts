// The trial loop, in named steps: claim (a retried trial, or a new point from the optimizer) →
// evaluate (merge and score, with a heartbeat) → record (result, counters, tell the optimizer).
// Each step that reads and writes the optimizer state runs in one IMMEDIATE transaction, so
// several worker processes share one study safely and a process killed at any moment leaves a
// consistent database: the optimizer state as of its last ask or tell, and at most one RUNNING
// trial, which the next run fails and requeues with the same point (`requeue`), so the optimizer
// sees exactly the values an uninterrupted run would have given it.
import os from 'node:os';
import { MergeSearchError } from '../errors.ts';
import type { StudyRow, StudyStore, TrialRow } from '../study/index.ts';
import type { Json, Optimizer, OptimizerContext, Proposal } from './optimizer.ts';
import type { Problem } from './problem.ts';

export interface Budget {
  trials?: number;
  evaluations?: number;
  seconds?: number;
}

export type StopReason = 'budget' | 'done' | 'stopped' | 'failing';

export interface LoopOptions {
  store: StudyStore;
  study: StudyRow;
  problem: Problem;
  optimizer: Optimizer;
  ctx: OptimizerContext;
  budget: Budget;
  /** Identifies this process in the study (HOST_ID:pid by default, see workerId). */
  worker?: string;
  /**
   * A RUNNING trial whose worker sent no heartbeat for this long is taken as dead, failed and
   * requeued with the same point by whichever worker notices; default STALE_HEARTBEAT_MS.
   */
  graceMs?: number;
  signal?: AbortSignal;
  onTrial?: (trial: TrialRow, seconds: number) => void;
  heartbeatMs?: number;
  /**
   * Stop after this many trials in a row whose evaluator itself failed (command not found, crashed,
   * printed no scores, timed out): a broken evaluator would otherwise spend the whole budget on
   * merges nobody can score. Candidates that score NaN do not count. Default 5.
   */
  maxEvaluatorFailures?: number;
  /** Progress notes (what a waiting worker waits for); default: none. */
  log?: (line: string) => void;
  /** Milliseconds since the epoch, for liveness and the time budget (tests inject a clock); default Date.now. */
  now?: () => number;
}

/** Study counters (attributes updated with `addStudyCounter`). */
const COUNT_INTERRUPTED = 'interrupted_trials';
const COUNT_EVALUATIONS = 'evaluations';
const COUNT_SECONDS = 'elapsed_seconds';
const ATTR_CLOCK_AT = 'clock_at';
/** How often a worker waiting on other workers' trials checks whether their owners died. */
const RECOVER_EVERY_MS = 1000;
/** A worker waiting this long on other workers' trials says what it waits for. */
const WAIT_NOTICE_MS = 5000;
/** A RUNNING trial whose worker sent no heartbeat for this long is taken as dead. */
export const STALE_HEARTBEAT_MS = 30_000;
/** Error codes that mean the evaluator itself is broken (not that the candidate is bad). */
const EVALUATOR_FAILURES = new Set(['EVAL_E_COMMAND', 'EVAL_E_OUTPUT', 'EVAL_E_TIMEOUT']);

/** The environment variable that names this host in a study (default: the host name). */
export const HOST_ID_ENV = 'MERGESEARCH_HOST_ID';

/** This machine's identity in a study: --host-id, else $MERGESEARCH_HOST_ID, else the host name. */
export function hostId(given?: string): string {
  const id = given ?? process.env[HOST_ID_ENV] ?? os.hostname();
  // The worker id is HOST:PID, so a host id must not carry a colon.
  return id.replace(/:/g, '_');
}

export function workerId(host?: string): string {
  return `${hostId(host)}:${process.pid}`;
}

/**
 * Whether the worker that owns a RUNNING trial is gone. A stale heartbeat means gone, whatever its
 * pid says: after a reboot (or in another container) the pid may belong to an unrelated process,
 * and trusting it left --resume waiting forever. With `samehostPids` (a SQLite file, which only
 * processes of one host share), a fresh heartbeat from this host with a dead pid also means gone
 * (a worker killed a moment ago is retried at once, not after the grace period). Workers sharing a
 * PostgreSQL study may run on machines that share a host name (containers), so there only the
 * heartbeat counts.
 */
export function workerIsDead(worker: string | null, heartbeat: number | null, staleMs: number, now: number, samehostPids = true): boolean {
  if (heartbeat === null || now - heartbeat >= staleMs) return true;
  if (!samehostPids) return false;
  const [host, pid] = (worker ?? '').split(':');
  if (host === hostId() && pid !== undefined && /^\d+$/.test(pid)) {
    if (Number(pid) === process.pid) return true;
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  return false;
}

/**
 * Fail `trials` with `reason` and queue each again as a WAITING trial with the same point (and
 * predicted values): the one way a trial is retried. Counts them as interrupted, so they do not
 * count against the budget. Call inside a transaction.
 */
export function requeue(store: StudyStore, study: StudyRow, trials: readonly TrialRow[], reason: string): void {
  if (trials.length === 0) return;
  store.failTrials(study.id, trials.map((t) => t.number), reason);
  for (const t of trials) {
    const retry = store.createTrial(study.id, { state: 'WAITING', x: t.x, decoded: t.decoded, tag: t.tag, retryOf: t.number });
    if (t.attrs.predicted !== undefined) store.setTrialAttr(study.id, retry.number, 'predicted', t.attrs.predicted);
  }
  store.addStudyCounter(study.id, COUNT_INTERRUPTED, trials.length);
}

/**
 * Trials left RUNNING by killed workers → FAIL ("interrupted"), each requeued with the same point.
 * Returns the interrupted trials. Trials of live workers are left alone.
 */
export function recoverInterruptedTrials(store: StudyStore, study: StudyRow, staleMs = STALE_HEARTBEAT_MS, now = Date.now()): TrialRow[] {
  return store.transaction(() => {
    const pids = store.backend === 'sqlite';
    const dead = store.trials(study.id, { states: ['RUNNING'] }).filter((t) => workerIsDead(t.worker, t.heartbeat ?? null, staleMs, now, pids));
    requeue(store, study, dead, 'interrupted: the worker running this trial stopped (killed or crashed); retried as a new trial with the same point');
    return dead;
  });
}

/** Trials that count against the budget: all of them except those interrupted and retried. */
export function budgetUsed(store: StudyStore, study: StudyRow): { trials: number; evaluations: number; seconds: number } {
  const a = store.studyAttrs(study.id);
  return {
    trials: store.countTrials(study.id) - ((a[COUNT_INTERRUPTED] as number | undefined) ?? 0),
    evaluations: (a[COUNT_EVALUATIONS] as number | undefined) ?? 0,
    seconds: (a[COUNT_SECONDS] as number | undefined) ?? 0,
  };
}

function proposalOf(t: TrialRow): Proposal {
  const tag = t.tag as { tag?: Json } | null;
  return { x: t.x, tag: tag?.tag, predicted: t.attrs.predicted as number[] | undefined };
}

/** What a worker blocked on other workers' trials waits for, and when it stops waiting. */
export function waitingLine(running: readonly TrialRow[], now: number, graceMs = STALE_HEARTBEAT_MS): string {
  const list = running.map((t) => `${t.number} (worker ${t.worker ?? 'unknown'}, last heartbeat ${t.heartbeat === null ? 'never' : `${Math.max(0, Math.round((now - t.heartbeat) / 1000))} s ago`})`);
  return (
    `waiting for trial(s) ${list.join(', ') || '(none running)'} to finish: the optimizer needs their results before it proposes more; ` +
    `a trial whose worker sends no heartbeat for ${graceMs / 1000} s is retried here`
  );
}

type Claim = { trial: TrialRow; proposal: Proposal } | { stop: StopReason } | { wait: true };

/** What evaluating a claimed trial gave: values, or the failure (with its code), or an interruption. */
type Outcome = { interrupted: true } | { interrupted: false; values: number[] | null; evaluations: number; error?: string; code?: string; seconds: number };

/** One worker's run over a study: the loop's steps, sharing the study, the clock and the budget. */
class TrialRun {
  private readonly worker: string;
  private readonly graceMs: number;
  private readonly now: () => number;
  private lastClock: number;
  private lastRecovery: number;
  private waitingSince: number | undefined;
  private lastWaitKey: string | undefined;

  constructor(private readonly o: LoopOptions) {
    this.worker = o.worker ?? workerId();
    this.graceMs = o.graceMs ?? STALE_HEARTBEAT_MS;
    this.now = o.now ?? Date.now;
    this.lastClock = this.now();
    this.lastRecovery = this.lastClock;
  }

  private get store(): StudyStore {
    return this.o.store;
  }

  private get study(): StudyRow {
    return this.o.study;
  }

  private loadState(): Json {
    return (this.store.loadOptimizerState(this.study.id)?.state as Json | undefined) ?? this.o.optimizer.init(this.o.ctx);
  }

  // Wall time spent, accumulated in the study so a time budget spans resumed runs. Several workers
  // share one wall clock: each counts only the time since the later of its own last reading and
  // any worker's (clock_at), so time covered by several workers at once is counted once.
  private since(): number {
    return Math.max(this.lastClock, (this.store.studyAttrs(this.study.id)[ATTR_CLOCK_AT] as number | undefined) ?? 0);
  }

  /** Add the wall time since the last reading to the study's clock. Call inside a transaction. */
  recordClock(): void {
    const now = this.now();
    this.store.addStudyCounter(this.study.id, COUNT_SECONDS, Math.max(0, now - this.since()) / 1000);
    this.store.setStudyAttr(this.study.id, ATTR_CLOCK_AT, now);
    this.lastClock = now;
  }

  private exhausted(): boolean {
    const used = budgetUsed(this.store, this.study);
    const b = this.o.budget;
    return (
      (b.trials !== undefined && used.trials >= b.trials) ||
      (b.evaluations !== undefined && used.evaluations >= b.evaluations) ||
      (b.seconds !== undefined && used.seconds + Math.max(0, this.now() - this.since()) / 1000 >= b.seconds)
    );
  }

  private create(p: Proposal): TrialRow {
    const trial = this.store.createTrial(this.study.id, { state: 'RUNNING', worker: this.worker, x: p.x, decoded: this.o.problem.space.decode(p.x), tag: { tag: p.tag ?? null } });
    if (p.intermediate?.length) this.store.addIntermediate(this.study.id, trial.number, p.intermediate);
    if (p.predicted) this.store.setTrialAttr(this.study.id, trial.number, 'predicted', p.predicted);
    return trial;
  }

  /** Step 1: a trial to evaluate — a requeued one first, else the optimizer's next point. */
  claim(): Claim {
    return this.o.optimizer.family === 'gradient' ? this.claimGradient() : this.claimBlackBox();
  }

  private claimBlackBox(): Claim {
    const { store, study } = this;
    return store.transaction((): Claim => {
      const waiting = store.claimWaitingTrial(study.id, this.worker);
      if (waiting) return { trial: waiting, proposal: proposalOf(waiting) };
      if (this.exhausted()) return { stop: 'budget' };
      const r = this.o.optimizer.ask(this.loadState(), this.o.ctx);
      if (r.kind === 'done') return { stop: 'done' };
      if (r.kind === 'wait') return { wait: true };
      store.saveOptimizerState(study.id, r.state);
      return { trial: this.create(r.proposal), proposal: r.proposal };
    });
  }

  /** Gradient steps run outside the transaction (they take seconds); one worker owns the study. */
  private claimGradient(): Claim {
    const { store, study } = this;
    const waiting = store.transaction(() => store.claimWaitingTrial(study.id, this.worker));
    if (waiting) return { trial: waiting, proposal: proposalOf(waiting) };
    if (this.exhausted()) return { stop: 'budget' };
    const before = store.loadOptimizerState(study.id);
    const r = this.o.optimizer.ask((before?.state as Json | undefined) ?? this.o.optimizer.init(this.o.ctx), this.o.ctx);
    if (r.kind !== 'propose') return { stop: 'done' };
    return store.transaction(() => {
      const now = store.loadOptimizerState(study.id);
      if ((now?.version ?? 0) !== (before?.version ?? 0)) {
        throw new MergeSearchError('STUDY_E_BUSY', `study ${study.name} was changed by another process while this one took gradient steps; gradient optimizers run on one worker`);
      }
      store.saveOptimizerState(study.id, r.state);
      return { trial: this.create(r.proposal), proposal: r.proposal };
    });
  }

  /**
   * Another worker holds the rest of this generation; its tells will unblock us. If that worker
   * died, nobody would: retry its trial here instead of waiting forever.
   */
  async waitForOthers(): Promise<void> {
    const now = this.now();
    if (now - this.lastRecovery >= RECOVER_EVERY_MS) {
      this.lastRecovery = now;
      if (recoverInterruptedTrials(this.store, this.study, this.graceMs, now).length > 0) return;
    }
    // A wait of more than a few seconds is said, with what it waits for, once per set of awaited
    // trials (a silent wait looks like a hang; short waits at generation ends are normal).
    this.waitingSince ??= now;
    if (this.o.log && now - this.waitingSince >= WAIT_NOTICE_MS) {
      const awaited = this.store.trials(this.study.id, { states: ['RUNNING'] });
      const key = awaited.map((t) => t.number).join(',');
      if (key !== this.lastWaitKey) {
        this.lastWaitKey = key;
        this.o.log(waitingLine(awaited, now, this.graceMs));
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  /** A trial was claimed: the next wait is a new one. */
  claimed(): void {
    this.waitingSince = undefined;
    this.lastWaitKey = undefined;
  }

  /** Step 2: merge and score the claimed point, beating the trial's heartbeat meanwhile. */
  async evaluate(trial: TrialRow, proposal: Proposal): Promise<Outcome> {
    const t0 = this.now();
    const beat = setInterval(() => {
      try {
        this.store.heartbeat(this.study.id, trial.number);
      } catch {
        // A missed heartbeat only delays recovery of this trial; the evaluation goes on.
      }
    }, Math.min(this.o.heartbeatMs ?? 2000, this.graceMs / 3));
    try {
      const e = await this.o.problem.evaluate(proposal.x, this.o.signal);
      const bad = e.values.findIndex((v) => !Number.isFinite(v));
      const seconds = (this.now() - t0) / 1000;
      if (bad < 0) return { interrupted: false, values: e.values, evaluations: e.evaluations, seconds };
      return { interrupted: false, values: null, evaluations: e.evaluations, seconds, code: 'SEARCH_E_NONFINITE', error: `SEARCH_E_NONFINITE: objective ${this.o.problem.objectives[bad]!.name} is ${e.values[bad]} for this candidate` };
    } catch (err) {
      // Stopped mid-evaluation: the trial is retried by --resume.
      if (this.o.signal?.aborted) return { interrupted: true };
      if (!(err instanceof MergeSearchError)) throw err;
      return { interrupted: false, values: null, evaluations: 0, seconds: (this.now() - t0) / 1000, code: err.code, error: err.message };
    } finally {
      clearInterval(beat);
    }
  }

  /** Step 3: the trial's result, the study's counters and clock, and the optimizer told, in one transaction. */
  record(trial: TrialRow, proposal: Proposal, r: Extract<Outcome, { interrupted: false }>): TrialRow {
    const { store, study } = this;
    return store.transaction(() => {
      const row = store.finishTrial(study.id, trial.number, r.values ? { state: 'COMPLETE', values: r.values } : { state: 'FAIL', error: r.error ?? 'failed' });
      store.setTrialAttr(study.id, trial.number, 'evaluations', r.evaluations);
      store.setTrialAttr(study.id, trial.number, 'seconds', r.seconds);
      store.addStudyCounter(study.id, COUNT_EVALUATIONS, r.evaluations);
      this.recordClock();
      const state = this.o.optimizer.tell(this.loadState(), this.o.ctx, proposal, r.values);
      store.saveOptimizerState(study.id, state);
      const attrs = this.o.optimizer.attributes?.(state, this.o.ctx);
      if (attrs) for (const [k, v] of Object.entries(attrs)) store.setStudyAttr(study.id, k, v);
      return row;
    });
  }

  /** A trial stopped mid-evaluation: requeued for --resume, the clock recorded. */
  interrupt(trial: TrialRow, proposal: Proposal): void {
    this.store.transaction(() => {
      requeue(this.store, this.study, [{ ...trial, attrs: { ...trial.attrs, ...(proposal.predicted ? { predicted: proposal.predicted } : {}) } }], 'interrupted: the search was stopped during this trial; retried on --resume');
      this.recordClock();
    });
  }
}

export async function runTrials(o: LoopOptions): Promise<{ reason: StopReason; trials: number; error?: string }> {
  const run = new TrialRun(o);
  let finished = 0;
  let evaluatorFailures = 0;
  while (true) {
    // Yield to the event loop once per trial: a zoo candidate is merged and scored synchronously,
    // so without this turn Ctrl-C (a signal handler) and heartbeat timers would only run once the
    // whole budget is spent.
    await new Promise((r) => setImmediate(r));
    if (o.signal?.aborted) return { reason: 'stopped', trials: finished };
    const claim = run.claim();
    // Before stopping, wait for the trials other workers still run: if one of them dies, its
    // trial is requeued and finished here; otherwise it would stay RUNNING and be lost.
    if ('stop' in claim && o.store.countTrials(o.study.id, ['RUNNING']) > 0) {
      await run.waitForOthers();
      continue;
    }
    if ('stop' in claim) {
      o.store.transaction(() => run.recordClock());
      return { reason: claim.stop, trials: finished };
    }
    if ('wait' in claim) {
      await run.waitForOthers();
      continue;
    }
    run.claimed();
    const outcome = await run.evaluate(claim.trial, claim.proposal);
    if (outcome.interrupted) {
      run.interrupt(claim.trial, claim.proposal);
      return { reason: 'stopped', trials: finished };
    }
    const row = run.record(claim.trial, claim.proposal, outcome);
    finished++;
    o.onTrial?.(row, outcome.seconds);
    evaluatorFailures = outcome.code !== undefined && EVALUATOR_FAILURES.has(outcome.code) ? evaluatorFailures + 1 : 0;
    if (evaluatorFailures >= (o.maxEvaluatorFailures ?? 5)) return { reason: 'failing', trials: finished, error: outcome.error };
  }
}
