// The `command` evaluator: score a checkpoint with the user's own program (lm-eval, a pytest
// suite, a script). It runs `/bin/sh -c COMMAND` with the checkpoint folder given two ways —
// `{checkpoint}` in the command text and $MERGESEARCH_CHECKPOINT — and reads the last line of
// stdout that is a JSON object; its numeric fields are the scores.
//
// The command runs in its own process group (detached) so a timeout, an abort, or our own exit
// can SIGKILL everything it started, not just the shell. Being detached also means a Ctrl-C on
// the terminal does not reach it, hence the kill on process exit below.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { MergeSearchError, type ErrorCode } from '../src/errors.ts';

export interface CommandEvaluatorOptions {
  /** Shell command; `{checkpoint}` is replaced by the checkpoint folder's absolute path. */
  command: string;
  /** Checkpoint folder to score; made absolute against our working directory. */
  checkpointDir: string;
  /** Wall-clock limit; past it the command's whole process group is SIGKILLed. */
  timeoutMs: number;
  /** Working directory of the command (default: ours). */
  cwd?: string;
  /** Extra environment variables, added to the inherited environment. */
  env?: Record<string, string>;
  /** Aborting kills the command's process group and rejects. */
  signal?: AbortSignal;
  /** Keep at most this many trailing bytes of stdout (default 1 MiB). */
  maxStdoutBytes?: number;
  /** How the scores are read after a clean exit (default: the last JSON object line of stdout). */
  readScores?: (stdout: string, what: string) => Record<string, number>;
}

// Until errors.ts has evaluator codes (suggested: EVAL_E_COMMAND, EVAL_E_TIMEOUT, EVAL_E_OUTPUT),
// the user's command is treated as a bad argument. Change the codes here only.
const CODES = {
  command: 'EVAL_E_COMMAND',
  timeout: 'EVAL_E_TIMEOUT',
  output: 'EVAL_E_OUTPUT',
} as const satisfies Record<string, ErrorCode>;

const DEFAULT_MAX_STDOUT = 1 << 20;
const MAX_STDERR = 64 << 10;
const STDERR_LINES = 20;
/** After the shell exits, how long to wait for its pipes to drain before giving up on them. */
const DRAIN_GRACE_MS = 2000;

/** Process groups of commands still running, killed if this process exits first. */
const running = new Set<number>();
let exitHookInstalled = false;

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of running) killGroup(pgid);
  });
}

/** Keeps the last `cap` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = 0;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.cap) {
      const first = this.chunks[0]!;
      const excess = this.size - this.cap;
      const cut = Math.min(excess, first.length);
      if (cut === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(cut);
      this.size -= cut;
      this.dropped += cut;
    }
  }

  text(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    // A dropped head leaves a partial first line: never parse it.
    if (this.dropped === 0) return s;
    const nl = s.indexOf('\n');
    return nl < 0 ? '' : s.slice(nl + 1);
  }
}

/** The checkpoint path as it goes into the command text: bare when it needs no quoting. */
function shellWord(p: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

function clip(s: string, max = 200): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

function lastLines(s: string, count: number): string {
  const lines = s.replace(/\s+$/, '').split('\n');
  return lines.slice(-count).join('\n');
}

/** Numeric fields of the last stdout line that parses as a JSON object. */
export function parseScores(stdout: string, what: string): Record<string, number> {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{')) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    // fromEntries defines own properties, so even a "__proto__" key stays a plain score.
    const scores = Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'number'));
    if (Object.keys(scores).length === 0) {
      throw new MergeSearchError(CODES.output, `${what} printed the JSON object ${clip(line)} but it has no numeric field; print the scores as numbers, e.g. {"accuracy": 0.91}`);
    }
    return scores;
  }
  const last = lines.map((l) => l.trim()).filter((l) => l !== '').at(-1);
  throw new MergeSearchError(
    CODES.output,
    `${what} printed no JSON object on stdout (${last === undefined ? 'stdout was empty' : `last line: ${JSON.stringify(clip(last))}`}); its last stdout line must be a JSON object of scores, e.g. {"accuracy": 0.91}`,
  );
}

/**
 * Run the command on one checkpoint and return the numeric fields of the last JSON object line it
 * prints on stdout. Rejects (MergeSearchError) on a non-zero exit (with the exit code and the last
 * 20 lines of stderr), on timeout, on abort, and when no JSON object with a number is printed.
 * Anything the command leaves running in its process group once it exits is killed.
 */
export function runCommandEvaluator(options: CommandEvaluatorOptions): Promise<Record<string, number>> {
  const { command, timeoutMs, cwd, env, signal } = options;
  const maxStdout = options.maxStdoutBytes ?? DEFAULT_MAX_STDOUT;
  if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be positive, got ${timeoutMs}`);
  if (!(maxStdout > 0)) throw new Error(`maxStdoutBytes must be positive, got ${maxStdout}`);
  const checkpoint = path.resolve(options.checkpointDir);
  const text = command.replaceAll('{checkpoint}', shellWord(checkpoint));
  const what = `evaluator command ${JSON.stringify(clip(command, 120))} on ${checkpoint}`;

  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new MergeSearchError(CODES.command, `${what} was aborted before it started`));
      return;
    }
    const child = spawn('/bin/sh', ['-c', text], {
      cwd,
      env: { ...process.env, ...env, MERGESEARCH_CHECKPOINT: checkpoint },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pgid = child.pid;
    const stdout = new TailBuffer(maxStdout);
    const stderr = new TailBuffer(MAX_STDERR);
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));

    let settled = false;
    let stopped: 'timeout' | 'abort' | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const stop = (why: 'timeout' | 'abort'): void => {
      stopped ??= why;
      if (pgid !== undefined) killGroup(pgid);
    };
    const timer = setTimeout(() => stop('timeout'), timeoutMs);
    const onAbort = (): void => stop('abort');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (pgid !== undefined) {
      installExitHook();
      running.add(pgid);
    }

    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      signal?.removeEventListener('abort', onAbort);
      if (pgid !== undefined) running.delete(pgid);
      child.stdout.destroy();
      child.stderr.destroy();
      try {
        resolve(outcome());
      } catch (e) {
        reject(e);
      }
    };

    const outcome = (): Record<string, number> => {
      if (stopped === 'timeout') {
        throw new MergeSearchError(CODES.timeout, `${what} did not finish within the timeout of ${timeoutMs} ms; it and every process it started were killed (raise the timeout if it needs longer)`);
      }
      if (stopped === 'abort') throw new MergeSearchError(CODES.command, `${what} was aborted; it and every process it started were killed`);
      const code = exit?.code ?? null;
      if (code !== 0) {
        const how = code !== null ? `exited with code ${code}` : `was killed by signal ${exit?.signal ?? 'unknown'}`;
        const tail = lastLines(stderr.text(), STDERR_LINES);
        throw new MergeSearchError(CODES.command, `${what} ${how}; ${tail === '' ? 'stderr was empty' : `last lines of stderr:\n${tail}`}`);
      }
      return (options.readScores ?? parseScores)(stdout.text(), what);
    };

    child.on('error', (err) => {
      // Spawn failures (missing cwd, no /bin/sh): no exit or close may follow.
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      signal?.removeEventListener('abort', onAbort);
      if (pgid !== undefined) {
        running.delete(pgid);
        killGroup(pgid);
      }
      reject(new MergeSearchError(CODES.command, `${what} could not be started${cwd === undefined ? '' : ` in ${cwd}`}: ${err.message}`));
    });
    child.on('exit', (code, sig) => {
      exit = { code, signal: sig };
      // Background jobs the command left behind would outlive the trial (and could hold our pipes).
      if (pgid !== undefined) killGroup(pgid);
      // A process that escaped the group (setsid) may still hold the pipes: stop waiting after a grace.
      drainTimer = setTimeout(settle, DRAIN_GRACE_MS);
    });
    child.on('close', settle);
  });
}
