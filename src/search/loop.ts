// The trial loop: claim a retried trial or ask the optimizer for a new point, score it, tell the
// optimizer, and log everything to the study. Each step that reads and writes the optimizer state
// runs in one IMMEDIATE transaction, so several worker processes share one study safely and a
// process killed at any moment leaves a consistent database: the optimizer state as of its last
// ask or tell, and at most one RUNNING trial, which the next run marks FAIL and retries with the
// same point (so the optimizer sees exactly the values an uninterrupted run would have given it).
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
  /** Identifies this process in the study (host:pid by default). */
  worker?: string;
  signal?: AbortSignal;
  onTrial?: (trial: TrialRow, seconds: number) => void;
  heartbeatMs?: number;
  /** Progress notes (what a waiting worker waits for); default: none. */
  log?: (line: string) => void;
  /** The clock liveness is judged by (tests); default Date.now. */
  now?: () => number;
  /**
   * Stop after this many trials in a row whose evaluator itself failed (command not found, crashed,
   * printed no scores, timed out): a broken evaluator would otherwise spend the whole budget on
   * merges nobody can score. Candidates that score NaN do not count. Default 5.
   */
  maxEvaluatorFailures?: number;
}

const ATTR_INTERRUPTED = 'interrupted_trials';
const ATTR_EVALUATIONS = 'evaluations';
const ATTR_SECONDS = 'elapsed_seconds';
const ATTR_CLOCK_AT = 'clock_at';
/** How often a worker waiting on other workers' trials checks whether their owners died. */
const RECOVER_EVERY_MS = 1000;
/** A worker waiting this long on other workers' trials says what it waits for. */
const WAIT_NOTICE_MS = 5000;

export function workerId(): string {
  return `${os.hostname()}:${process.pid}`;
}

/** A RUNNING trial whose worker sent no heartbeat for this long is taken as dead. */
export const STALE_HEARTBEAT_MS = 30_000;

/**
 * Whether the worker that owns a RUNNING trial is gone. A stale heartbeat means gone, whatever its
 * pid says: after a reboot (or in another container) the pid may belong to an unrelated process,
 * and trusting it left --resume waiting forever. A fresh heartbeat from this host with a dead pid
 * also means gone (a worker killed a moment ago is retried at once, not after the timeout).
 */
export function workerIsDead(worker: string | null, heartbeat: number | null, staleMs: number, now: number): boolean {
  if (heartbeat === null || now - heartbeat >= staleMs) return true;
  const [host, pid] = (worker ?? '').split(':');
  if (host === os.hostname() && pid !== undefined && /^\d+$/.test(pid)) {
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
 * Trials left RUNNING by killed workers → FAIL ("interrupted"), each re-queued as a WAITING trial
 * with the same point. Returns the interrupted trials. Trials of live workers are left alone.
 */
export function recoverInterruptedTrials(store: StudyStore, study: StudyRow, staleMs = STALE_HEARTBEAT_MS, now = Date.now()): TrialRow[] {
  return store.transaction(() => {
    const running = store.trials(study.id, { states: ['RUNNING'] });
    const dead = running.filter((t) => workerIsDead(t.worker, t.heartbeat ?? null, staleMs, now));
    if (dead.length === 0) return [];
    store.failTrials(
      study.id,
      dead.map((t) => t.number),
      'interrupted: the worker running this trial stopped (killed or crashed); retried as a new trial with the same point',
    );
    for (const t of dead) {
      const retry = store.createTrial(study.id, { state: 'WAITING', x: t.x, decoded: t.decoded, tag: t.tag, retryOf: t.number });
      if (t.attrs.predicted !== undefined) store.setTrialAttr(study.id, retry.number, 'predicted', t.attrs.predicted);
    }
    const attrs = store.studyAttrs(study.id);
    store.setStudyAttr(study.id, ATTR_INTERRUPTED, ((attrs[ATTR_INTERRUPTED] as number | undefined) ?? 0) + dead.length);
    return dead;
  });
}

/** Trials that count against the budget: all of them except those interrupted and retried. */
export function budgetUsed(store: StudyStore, study: StudyRow): { trials: number; evaluations: number; seconds: number } {
  const a = store.studyAttrs(study.id);
  return {
    trials: store.countTrials(study.id) - ((a[ATTR_INTERRUPTED] as number | undefined) ?? 0),
    evaluations: (a[ATTR_EVALUATIONS] as number | undefined) ?? 0,
    seconds: (a[ATTR_SECONDS] as number | undefined) ?? 0,
  };
}

function proposalOf(t: TrialRow): Proposal {
  const tag = t.tag as { tag?: Json } | null;
  return { x: t.x, tag: tag?.tag, predicted: t.attrs.predicted as number[] | undefined };
}

/** What a worker blocked on other workers' trials waits for, and when it stops waiting. */
export function waitingLine(running: readonly TrialRow[], now: number): string {
  const list = running.map((t) => `${t.number} (worker ${t.worker ?? 'unknown'}, last heartbeat ${t.heartbeat === null ? 'never' : `${Math.max(0, Math.round((now - t.heartbeat) / 1000))} s ago`})`);
  return (
    `waiting for trial(s) ${list.join(', ') || '(none running)'} to finish: the optimizer needs their results before it proposes more; ` +
    `a trial whose worker sends no heartbeat for ${STALE_HEARTBEAT_MS / 1000} s is retried here`
  );
}

type Claim = { trial: TrialRow; proposal: Proposal } | { stop: StopReason } | { wait: true };

export async function runTrials(o: LoopOptions): Promise<{ reason: StopReason; trials: number; error?: string }> {
  const { store, study, problem, optimizer, ctx } = o;
  const worker = o.worker ?? workerId();
  const started = Date.now();
  let lastClock = started;
  let lastRecovery = started;
  let lastWaitKey: string | undefined;
  let waitingSince: number | undefined;
  let finished = 0;
  let evaluatorFailures = 0;
  const loadState = (): Json => (store.loadOptimizerState(study.id)?.state as Json | undefined) ?? optimizer.init(ctx);
  // Wall time spent, accumulated in the study so a time budget spans resumed runs. Several workers
  // share one wall clock: each counts only the time since the later of its own last reading and
  // any worker's (clock_at), so time covered by several workers at once is counted once.
  const since = (a: Record<string, unknown>) => Math.max(lastClock, (a[ATTR_CLOCK_AT] as number | undefined) ?? 0);
  const clock = () => {
    const now = Date.now();
    const a = store.studyAttrs(study.id);
    store.setStudyAttr(study.id, ATTR_SECONDS, ((a[ATTR_SECONDS] as number | undefined) ?? 0) + Math.max(0, now - since(a)) / 1000);
    store.setStudyAttr(study.id, ATTR_CLOCK_AT, now);
    lastClock = now;
  };
  const exhausted = (): boolean => {
    const used = budgetUsed(store, study);
    const b = o.budget;
    return (
      (b.trials !== undefined && used.trials >= b.trials) ||
      (b.evaluations !== undefined && used.evaluations >= b.evaluations) ||
      (b.seconds !== undefined && used.seconds + Math.max(0, Date.now() - since(store.studyAttrs(study.id))) / 1000 >= b.seconds)
    );
  };
  const create = (p: Proposal): TrialRow => {
    const trial = store.createTrial(study.id, { state: 'RUNNING', worker, x: p.x, decoded: problem.space.decode(p.x), tag: { tag: p.tag ?? null } });
    if (p.intermediate?.length) store.addIntermediate(study.id, trial.number, p.intermediate);
    if (p.predicted) store.setTrialAttr(study.id, trial.number, 'predicted', p.predicted);
    return trial;
  };

  while (true) {
    // Yield to the event loop once per trial: a zoo candidate is merged and scored synchronously,
    // so without this turn Ctrl-C (a signal handler) and heartbeat timers would only run once the
    // whole budget is spent.
    await new Promise((r) => setImmediate(r));
    if (o.signal?.aborted) return { reason: 'stopped', trials: finished };
    let claim: Claim;
    if (optimizer.family === 'gradient') {
      // Gradient steps run outside the transaction (they take seconds); one worker owns the study.
      const waiting = store.transaction(() => store.claimWaitingTrial(study.id, worker));
      if (waiting) claim = { trial: waiting, proposal: proposalOf(waiting) };
      else if (exhausted()) claim = { stop: 'budget' };
      else {
        const before = store.loadOptimizerState(study.id);
        const r = optimizer.ask((before?.state as Json | undefined) ?? optimizer.init(ctx), ctx);
        if (r.kind !== 'propose') claim = { stop: 'done' };
        else {
          claim = store.transaction(() => {
            const now = store.loadOptimizerState(study.id);
            if ((now?.version ?? 0) !== (before?.version ?? 0)) {
              throw new MergeSearchError('STUDY_E_BUSY', `study ${study.name} was changed by another process while this one took gradient steps; gradient optimizers run on one worker`);
            }
            store.saveOptimizerState(study.id, r.state);
            return { trial: create(r.proposal), proposal: r.proposal };
          });
        }
      }
    } else {
      claim = store.transaction((): Claim => {
        const waiting = store.claimWaitingTrial(study.id, worker);
        if (waiting) return { trial: waiting, proposal: proposalOf(waiting) };
        if (exhausted()) return { stop: 'budget' };
        const r = optimizer.ask(loadState(), ctx);
        if (r.kind === 'done') return { stop: 'done' };
        if (r.kind === 'wait') return { wait: true };
        store.saveOptimizerState(study.id, r.state);
        return { trial: create(r.proposal), proposal: r.proposal };
      });
    }
    if ('stop' in claim) {
      store.transaction(clock);
      return { reason: claim.stop, trials: finished };
    }
    if ('wait' in claim) {
      // Another worker holds the rest of this generation; its tells will unblock us. If that
      // worker died, nobody would: retry its trial here instead of waiting forever.
      const now = (o.now ?? Date.now)();
      if (now - lastRecovery >= RECOVER_EVERY_MS) {
        lastRecovery = now;
        if (recoverInterruptedTrials(store, study, STALE_HEARTBEAT_MS, now).length > 0) continue;
      }
      // A wait of more than a few seconds is said, with what it waits for, once per set of
      // awaited trials (a silent wait looks like a hang; short waits at generation ends are normal).
      waitingSince ??= now;
      if (o.log && now - waitingSince >= WAIT_NOTICE_MS) {
        const awaited = store.trials(study.id, { states: ['RUNNING'] });
        const key = awaited.map((t) => t.number).join(',');
        if (key !== lastWaitKey) {
          lastWaitKey = key;
          o.log(waitingLine(awaited, now));
        }
      }
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }

    waitingSince = undefined;
    lastWaitKey = undefined;
    const { trial, proposal } = claim;
    const t0 = Date.now();
    const beat = setInterval(() => {
      try {
        store.heartbeat(study.id, trial.number);
      } catch {
        // A missed heartbeat only delays recovery of this trial; the evaluation goes on.
      }
    }, o.heartbeatMs ?? 2000);
    let values: number[] | null = null;
    let evaluations = 0;
    let error: string | undefined;
    try {
      const e = await problem.evaluate(proposal.x, o.signal);
      evaluations = e.evaluations;
      const bad = e.values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) error = `SEARCH_E_NONFINITE: objective ${problem.objectives[bad]!.name} is ${e.values[bad]} for this candidate`;
      else values = e.values;
    } catch (err) {
      if (o.signal?.aborted) {
        // Stopped mid-evaluation: leave the trial to be retried by --resume.
        clearInterval(beat);
        store.transaction(() => {
          store.failTrials(study.id, [trial.number], 'interrupted: the search was stopped during this trial; retried on --resume');
          const retry = store.createTrial(study.id, { state: 'WAITING', x: trial.x, decoded: trial.decoded, tag: trial.tag, retryOf: trial.number });
          if (proposal.predicted) store.setTrialAttr(study.id, retry.number, 'predicted', proposal.predicted);
          const a = store.studyAttrs(study.id);
          store.setStudyAttr(study.id, ATTR_INTERRUPTED, ((a[ATTR_INTERRUPTED] as number | undefined) ?? 0) + 1);
          clock();
        });
        return { reason: 'stopped', trials: finished };
      }
      if (!(err instanceof MergeSearchError)) {
        clearInterval(beat);
        throw err;
      }
      error = err.message;
    } finally {
      clearInterval(beat);
    }
    const seconds = (Date.now() - t0) / 1000;
    const done = store.transaction(() => {
      const row = store.finishTrial(study.id, trial.number, values ? { state: 'COMPLETE', values } : { state: 'FAIL', error: error ?? 'failed' });
      store.setTrialAttr(study.id, trial.number, 'evaluations', evaluations);
      store.setTrialAttr(study.id, trial.number, 'seconds', seconds);
      const a = store.studyAttrs(study.id);
      store.setStudyAttr(study.id, ATTR_EVALUATIONS, ((a[ATTR_EVALUATIONS] as number | undefined) ?? 0) + evaluations);
      clock();
      const state = optimizer.tell(loadState(), ctx, proposal, values);
      store.saveOptimizerState(study.id, state);
      const attrs = optimizer.attributes?.(state, ctx);
      if (attrs) for (const [k, v] of Object.entries(attrs)) store.setStudyAttr(study.id, k, v);
      return row;
    });
    finished++;
    o.onTrial?.(done, seconds);
    evaluatorFailures = error !== undefined && /^EVAL_E_(COMMAND|OUTPUT|TIMEOUT)/.test(error) ? evaluatorFailures + 1 : 0;
    if (evaluatorFailures >= (o.maxEvaluatorFailures ?? 5)) return { reason: 'failing', trials: finished, error };
  }
}
