// Running a study end to end: validate the config, open (or resume) the study in the database,
// build the problem and the optimizer, recover trials of killed workers, run the trial loop (in
// this process and, with several workers, in child processes on the same database), and report
// the Pareto set of the completed trials.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { didYouMean } from '../closest-name.ts';
import { fail, MergeSearchError } from '../errors.ts';
import type { GpuScoring } from '../gpu/scoring-thread.ts';
import { BIN_PATH } from '../package-root.ts';
import { StudyStore, parseLocation, redactUrl, type StudyRow, type TrialRow } from '../study/index.ts';
import { initEngine } from '../tensor/engine.ts';
import { STALE_HEARTBEAT_MS, budgetUsed, recoverInterruptedTrials, runTrials, workerId, type StopReason } from './loop.ts';
import { getOptimizer, optimizerNames, resolveSettings } from './optimizers/index.ts';
import type { Json, Optimizer, OptimizerContext } from './optimizer.ts';
import { toMinimization } from './optimizer.ts';
import { paretoFront } from './pareto.ts';
import type { Problem } from './problem.ts';
import type { StudyConfig } from './study-config.ts';
import { changedIdentityFields, readStoredConfig, storedConfigOf } from './study-identity.ts';
import { ZooProblem } from './zoo-problem.ts';
import { CommandProblem } from './command-problem.ts';
import { baselineCost, baselinesFit, defaultCommandLambdas, describeRequest, type Baselines } from './baselines.ts';
import { commandBaselines, missingParts } from './command-baselines.ts';
import { zooBaselines } from './zoo-baselines.ts';
import { defaultScale, recommend, recommendRule, type Recommendation, type RecommendRule } from './recommend.ts';
import { ATTR_BASELINES, ATTR_CONFIG_YAML, ATTR_COORDINATES, ATTR_DEVICE, ATTR_PREFER } from './study-attrs.ts';

export interface RunStudyOptions {
  config: StudyConfig;
  /** The config file, passed to worker processes. */
  configFile?: string;
  db: string;
  resume?: boolean;
  /** Join a study another process started (worker processes). */
  join?: boolean;
  workers?: number;
  /** This machine's name in the study (worker ids are HOST:PID); default $MERGESEARCH_HOST_ID or the host name. */
  hostId?: string;
  /** Milliseconds without a heartbeat after which a RUNNING trial is failed and requeued. */
  graceMs?: number;
  signal?: AbortSignal;
  /** `--device` and where scoring runs (src/gpu/scoring-device.ts), stored as a study attribute. */
  device?: { choice: string; line: string; gpu?: GpuScoring };
  log?: (line: string) => void;
  onTrial?: (trial: TrialRow, seconds: number, study: StudyRow, problem: Problem) => void;
  onStart?: (study: StudyRow, problem: Problem, optimizer: Optimizer, ctx: OptimizerContext, backend: string) => void;
}

export interface RunStudyResult {
  study: StudyRow;
  reason: StopReason;
  trials: number;
  /** Every COMPLETE trial of the study (all runs). */
  completed: TrialRow[];
  /** The Pareto set over every objective. */
  front: TrialRow[];
  backend: string;
  /** With reason 'failing': the evaluator's last error. */
  error?: string;
  /** How the recommended merge is picked, and the pick (undefined when no trial completed). */
  rule: RecommendRule;
  recommended?: Recommendation<TrialRow>;
  /** Base, tuned task arithmetic and each expert on its own task (zoo studies; command studies when asked; src/search/baselines.ts). */
  baselines?: Baselines;
  /** Command studies: what the summary says about their baselines (how to ask for them, or what they cost). */
  baselineNote?: string;
}

export function buildProblem(config: StudyConfig, log?: (line: string) => void, source?: string, gpu?: GpuScoring, onGpuFailure?: (why: string) => void): Problem {
  if (config.zoo === undefined) return CommandProblem.fromConfig(config, source);
  return ZooProblem.fromConfig(config, log, source, gpu, onGpuFailure);
}

/**
 * @param plannedTrials the trial budget the optimizer plans with (grid's points per coordinate,
 *   MAP's plan): the one the study started with, so a budget changed on --resume only moves the
 *   stopping point and never reshapes a half-walked grid.
 */
export function optimizerContext(config: StudyConfig, problem: Problem, optimizer: Optimizer, source = 'study config', plannedTrials = config.budget.trials): OptimizerContext {
  const settings = resolveSettings(optimizer, config.optimizer.settings, `${source}: optimizer`);
  const ctx: OptimizerContext = {
    dim: problem.space.dim,
    low: problem.space.low,
    high: problem.space.high,
    init: problem.space.init,
    names: problem.space.names,
    objectives: problem.objectives.map((o) => ({ name: o.name, direction: o.direction })),
    seed: config.seed,
    budget: plannedTrials ?? 1_000_000,
    settings,
    // A zoo study scored on the GPU takes its gradients there too.
    gradient: optimizer.family === 'gradient' ? (problem instanceof ZooProblem ? problem.gradientProblem : problem.gradient) : undefined,
  };
  if (optimizer.family === 'gradient' && problem.space.layerSwap) {
    fail('SEARCH_E_OPTIMIZER', `${source}: ${optimizer.name} follows gradients, but which expert supplies a layer is a discrete choice; search a layer_swap space with random, grid, cmaes, nsga2 or map`);
  }
  const bad = optimizer.check?.(ctx);
  if (bad) fail('SEARCH_E_OPTIMIZER', `${source}: ${bad}`);
  return ctx;
}

/** The non-dominated COMPLETE trials of a study (every objective, in its direction). */
export function studyFront(store: StudyStore, study: StudyRow): TrialRow[] {
  const done = store.trials(study.id, { states: ['COMPLETE'] });
  const idx = paretoFront(done.map((t) => toMinimization(t.values, study.objectives)));
  return idx.map((i) => done[i]!).sort((a, b) => a.number - b.number);
}

/** The config's optimizer; an unknown name is refused naming the config file and the closest optimizer. */
function optimizerOf(config: StudyConfig, source: string): Optimizer {
  const name = config.optimizer.name;
  if (!optimizerNames().includes(name)) {
    fail('SEARCH_E_OPTIMIZER', `${source}: optimizer.name "${name}" is not an optimizer${didYouMean(name, optimizerNames())}; optimizers: ${optimizerNames().join(', ')}`);
  }
  return getOptimizer(name);
}

export async function runStudy(o: RunStudyOptions): Promise<RunStudyResult> {
  const { config } = o;
  const source = o.configFile ?? 'study config';
  const log = o.log ?? (() => {});
  const optimizer = optimizerOf(config, source);
  // Settings are checked before any model is loaded.
  resolveSettings(optimizer, config.optimizer.settings, `${source}: optimizer`);
  if ((o.workers ?? 1) > 1 && optimizer.family === 'gradient') {
    fail('SEARCH_E_OPTIMIZER', `${optimizer.name} takes gradient steps one after another; run it with --workers 1`);
  }
  // The database first: a bad --db path, a study name already taken or a changed config is
  // reported before any model is loaded (or a built-in zoo built, which takes a minute).
  // Only a SQLite file can be left behind by a failed first run; a Postgres database is the user's.
  const where = parseLocation(o.db);
  const dbFile = where.kind === 'sqlite' ? where.file : undefined;
  const fresh = dbFile !== undefined && !fs.existsSync(dbFile);
  const store = StudyStore.open(o.db);
  let problem: Problem | undefined;
  let leaveNothing = false;
  try {
    let study = store.findStudy(config.name);
    if (study && !o.resume && !o.join) {
      fail('STUDY_E_EXISTS', `study "${config.name}" is already in ${redactUrl(o.db)} (${store.countTrials(study.id)} trials); continue it with --resume, or set another name: in ${source}`);
    }
    const sameConfig = (found: StudyRow) => {
      const changed = changedIdentityFields(readStoredConfig(found).identity, config);
      if (changed.length > 0) {
        fail('STUDY_E_EXISTS', `study "${config.name}" in ${redactUrl(o.db)} was started with a different config (${changed.join(', ')} changed); only budget, prefer and baselines may change on --resume — use another name: for the new config`);
      }
    };
    if (study) {
      sameConfig(study);
    } else if (o.join) {
      fail('STUDY_E_NOT_FOUND', `study "${config.name}" is not in ${redactUrl(o.db)}; a worker can only join a study that was started`);
    } else if (o.resume) {
      log(`there is no study "${config.name}" in ${redactUrl(o.db)} to resume yet: starting it`);
    }
    const engine = await initEngine(config.backend);
    // Under auto a GPU that fails mid-study hands the scoring to the CPU (a warning); under gpu the trial fails.
    const onGpuFailure = o.device?.choice === 'auto' ? (why: string) => log(`warning: scoring on the GPU failed (${why}); scoring on the CPU from here on`) : undefined;
    problem = buildProblem(config, log, source, o.device?.gpu, onGpuFailure);
    // prefer.weights name objectives, known only now (`tasks: all` expands against the zoo).
    const rule = recommendRule(problem.objectives, config.prefer, defaultScale(config.objectives), source);
    const planned = study ? readStoredConfig(study).budget.trials : config.budget.trials;
    const ctx = optimizerContext(config, problem, optimizer, source, planned);
    if (!study) {
      try {
        study = store.createStudy({
          name: config.name,
          config: storedConfigOf(config, o.configFile ? path.resolve(o.configFile) : null) as unknown as Json,
          backend: engine.backend,
          seed: config.seed,
          optimizer: optimizer.name,
          objectives: problem.objectives.map((ob) => ({ name: ob.name, direction: ob.direction })),
        });
        store.addNote(study.id, `started on ${engine.backend}: ${problem.description}; optimizer ${optimizer.name} ${JSON.stringify(ctx.settings)}`);
      } catch (e) {
        // Another `--resume` created the study since we looked (two first resumes at once): this
        // one was asked to resume, so it joins that study instead of being told to use --resume.
        const raced = o.resume && e instanceof MergeSearchError && e.code === 'STUDY_E_EXISTS' ? store.findStudy(config.name) : undefined;
        if (!raced) throw e;
        sameConfig(raced);
        study = raced;
      }
    }
    const recovered = o.join ? [] : recoverInterruptedTrials(store, study, o.graceMs ?? STALE_HEARTBEAT_MS);
    if (recovered.length > 0) log(`marked ${recovered.length} interrupted trial(s) FAIL (${recovered.map((t) => t.number).join(', ')}); they are retried first`);
    if (!o.join) {
      // What the report shows: the rule of the last run (prefer may change on --resume), the YAML
      // the user wrote, and the coordinates' names (parameter importance, parallel coordinates).
      store.setStudyAttr(study.id, ATTR_PREFER, config.prefer ?? null);
      if (config.yaml !== undefined) store.setStudyAttr(study.id, ATTR_CONFIG_YAML, config.yaml);
      store.setStudyAttr(study.id, ATTR_COORDINATES, ctx.names);
      store.setStudyAttr(study.id, ATTR_DEVICE, o.device ? { choice: o.device.choice, line: o.device.line } : { choice: 'cpu', line: 'cpu' });
    }
    o.onStart?.(study, problem, optimizer, ctx, engine.backend);

    const children = (o.workers ?? 1) > 1 && !o.join ? spawnWorkers(o, (o.workers ?? 1) - 1, log) : [];
    const s = study;
    const p = problem;
    const result = await runTrials({
      store,
      study: s,
      problem: p,
      optimizer,
      ctx,
      budget: config.budget,
      worker: workerId(o.hostId),
      graceMs: o.graceMs,
      signal: o.signal,
      log,
      onTrial: (t, sec) => o.onTrial?.(t, sec, s, p),
    });
    const codes = await Promise.all(children);
    const failed = codes.filter((c) => c !== 0).length;
    if (failed > 0 && !o.signal?.aborted) log(`${failed} worker process(es) exited with an error; see their output above`);
    let baselines = store.studyAttrs(s.id)[ATTR_BASELINES] as Baselines | undefined;
    if (baselines && !baselinesFit(baselines, p.objectives)) baselines = undefined;
    let baselineNote: string | undefined;
    if (!baselines && p instanceof ZooProblem && !o.join && result.reason !== 'stopped') {
      log('scoring the baselines on the same samples: the base, task arithmetic (λ 0.1 to 1.0), each expert on its own task');
      baselines = zooBaselines(p);
      store.setStudyAttr(s.id, ATTR_BASELINES, baselines);
    }
    if (p instanceof CommandProblem) {
      const req = config.baselines;
      const k = p.checkpoints.experts.length;
      const todo = req ? missingParts(req, baselines) : undefined;
      const cost = todo ? baselineCost(todo, k, p.commandCount) : undefined;
      if (req && todo && cost && !o.join && result.reason !== 'stopped' && result.reason !== 'failing' && cost.runs > 0) {
        log(`scoring the baselines with your command: ${describeRequest(todo, k)} (${cost.runs} command run(s), ${cost.merges} merge(s))`);
        const reference = store.trials(s.id, { states: ['COMPLETE'] }).map((t) => t.values!);
        try {
          baselines = await commandBaselines({ problem: p, request: req, stored: baselines, rule, reference, signal: o.signal, log, save: (b) => store.setStudyAttr(s.id, ATTR_BASELINES, b) });
        } catch (e) {
          baselines = (store.studyAttrs(s.id)[ATTR_BASELINES] as Baselines | undefined) ?? undefined;
          baselineNote = `baselines not all scored (${o.signal?.aborted ? 'interrupted' : (e as Error).message}); run again with --resume to score the rest`;
          log(baselineNote);
        }
      }
      const full = baselineCost({ base: true, experts: true, lambdas: defaultCommandLambdas(k) }, k, p.commandCount);
      if (!req) {
        baselineNote = `no baselines (each is a run of your command, so a command study scores them only when asked): add \`baselines: true\` to the config and run it again with --resume for the base, each expert and task arithmetic at λ ${defaultCommandLambdas(k).join(', ')} (${full.runs} command runs, ${full.merges} merges), or name parts: \`baselines: {base: true, task_arithmetic: [0.5]}\``;
      } else if (baselines && !baselineNote) {
        baselineNote = `baselines scored with your command after the search (${baselines.evaluations} command run(s), ${baselines.merges ?? 0} merge(s) in all)${baselines.taskArithmetic && baselines.taskArithmetic.grid.length > 1 ? `; task arithmetic: the best λ of ${baselines.taskArithmetic.grid.join(', ')} by the recommendation's rule` : ''}`;
      } else if (!baselines) {
        baselineNote = 'no baselines yet: they are scored when a search ends (not when it is stopped or its evaluator keeps failing); run again with --resume';
      }
    }
    const done = store.trials(s.id, { states: ['COMPLETE'] });
    const recommended = recommend(done, s.objectives, rule);
    return { study: s, reason: result.reason, trials: result.trials, completed: done, front: studyFront(store, s), backend: engine.backend, error: result.error, rule, recommended, baselines, baselineNote };
  } catch (e) {
    // A database this run created and that holds no study (the zoo or the space was refused before
    // the study began) is removed, so a failed first run leaves nothing behind.
    try {
      leaveNothing = fresh && store.listStudies().length === 0;
    } catch {
      // the database cannot even be read: leave it for the user to look at
    }
    throw e;
  } finally {
    problem?.close();
    store.close();
    if (leaveNothing && dbFile) for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true });
  }
}

const BIN = BIN_PATH;

/** Set in the environment of the workers that --workers starts: their stdin is the starter's pipe. */
export const WORKER_PIPE_ENV = 'MERGESEARCH_WORKER_PIPE';

function spawnWorkers(o: RunStudyOptions, n: number, log: (line: string) => void): Promise<number>[] {
  if (!o.configFile) fail('CLI_E_ARG', 'several workers need the study config as a file');
  const out: Promise<number>[] = [];
  // The workers run in process groups of their own, so a terminal's Ctrl-C reaches this process
  // only, and each worker gets exactly one SIGINT, forwarded below: it stops after its trial. A
  // second Ctrl-C quits this process at once, and it ends its workers as it quits. Each worker's
  // stdin is a pipe from this process: when this process is gone, killed included, the pipe
  // closes and the worker stops after its trial (WORKER_PIPE_ENV) instead of running on alone.
  const alive = new Set<ReturnType<typeof spawn>>();
  const killAll = () => alive.forEach((c) => c.kill('SIGKILL'));
  process.on('exit', killAll);
  for (let i = 0; i < n; i++) {
    const extra = [...(o.device ? ['--device', o.device.choice] : []), ...(o.hostId !== undefined ? ['--host-id', o.hostId] : []), ...(o.graceMs !== undefined ? ['--grace', String(o.graceMs / 1000)] : [])];
    const child = spawn(process.execPath, [BIN, 'search', o.configFile, '--db', o.db, '--join', '--quiet', ...extra], {
      stdio: ['pipe', 'ignore', 'pipe'],
      detached: true,
      env: { ...process.env, [WORKER_PIPE_ENV]: '1' },
    });
    alive.add(child);
    child.stderr.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim() !== '') log(`[worker ${i + 1}] ${line.trimEnd()}`);
    });
    o.signal?.addEventListener('abort', () => child.kill('SIGINT'), { once: true });
    out.push(
      new Promise((resolve) =>
        child.on('exit', (code) => {
          alive.delete(child);
          if (alive.size === 0) process.off('exit', killAll);
          resolve(code ?? 1);
        }),
      ),
    );
  }
  return out;
}

export { budgetUsed };
