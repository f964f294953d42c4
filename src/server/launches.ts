// Studies started from the API. A launch config (YAML text) is checked as `mergesearch search` would
// check it — YAML, every key, the optimizer and its settings, the zoo or checkpoint folders, the
// study name free in the database — before anything starts; then it is written to
// <outputRoot>/launches/<name>.yaml and `mergesearch search FILE --db DB --quiet` runs as a child
// process in the output root, independent of the request. The child writes its trials to the same
// database, so they show through the ordinary trial routes while it runs; the server keeps the last
// lines of its output and its exit status.
//
// Relative paths in a launched config (zoo, checkpoints) resolve against the output root, not
// against launches/: they are rewritten to absolute paths in the file written. Objective commands
// run in the output root. A built-in zoo (mnist8, skills4, their -tiny versions) is built under <outputRoot>/zoo/.
//
// A `command:` objective runs a shell command as the user running serve, so configs with one are
// refused unless serve was started with --allow-command-launch (SERVER_E_COMMAND); and at most
// `maxRunning` launches run at once (each is a search process using the machine's cores).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { fail } from '../errors.ts';
import { BIN_PATH } from '../package-root.ts';
import { statInput } from '../io/file-checks.ts';
import { getOptimizer, resolveSettings } from '../search/optimizers/index.ts';
import { parseStudyConfig, type StudyConfig } from '../search/study-config.ts';
import { isBuiltinZoo } from '../zoo/registry.ts';
import type { StudyStore } from '../study/index.ts';
import { HttpError } from './auth.ts';
import { DEFAULT_MAX_LAUNCHES } from './launch-limits.ts';
import { confinePath } from './paths.ts';

export const BIN = BIN_PATH;
export const LOG_LINES = 50;
export { DEFAULT_MAX_LAUNCHES };
/** Longest line kept from a child's output (a runaway line without newlines is cut). */
const MAX_LINE = 2000;

export interface LaunchInfo {
  id: string;
  study: string;
  state: 'running' | 'exited';
  /** Exit code once exited; null while running or when killed by a signal. */
  code: number | null;
  signal: string | null;
  pid: number | null;
  started: number;
  finished: number | null;
  config: string;
  log: string[];
}

interface Launch extends LaunchInfo {
  child: ChildProcess | null;
  done: Promise<void>;
}

function checkFolder(dir: string, what: string, wantFile?: string): void {
  const target = wantFile ? path.join(dir, wantFile) : dir;
  if (!fs.existsSync(target)) fail('CONFIG_E_FIELD', `launch config: ${what} ${dir} ${wantFile ? `has no ${wantFile}` : 'does not exist'} on the server (relative paths resolve against the output root)`);
  // A FIFO or device where a manifest or checkpoint should be is refused here, not hung on later.
  statInput(target, `launch config: ${what}`);
}

export class Launches {
  private readonly all = new Map<string, Launch>();
  private next = 1;

  constructor(private readonly o: { db: string; outputRoot: string; store: StudyStore; bin?: string; allowCommands?: boolean; maxRunning?: number }) {}

  /** Check `text` fully; the parsed config and the YAML to write. Throws a coded error otherwise. */
  validate(text: string, defaultName: string): { config: StudyConfig; yaml: string } {
    const source = 'launch config';
    const config = parseStudyConfig(text, source, { defaultName, dir: this.o.outputRoot });
    const commands = config.objectives.filter((ob) => ob.kind === 'command');
    if (commands.length > 0 && this.o.allowCommands !== true) {
      throw new HttpError(
        'SERVER_E_COMMAND',
        403,
        `${source}: objective "${commands[0]!.name}" is scored by a shell command, and this server was started without --allow-command-launch, so launches may only score with a zoo's evaluators; ` +
          'run the study yourself with `npx mergesearch search FILE`, or restart serve with --allow-command-launch if everyone who can reach the API may run commands as you',
      );
    }
    const optimizer = getOptimizer(config.optimizer.name);
    resolveSettings(optimizer, config.optimizer.settings, `${source}: optimizer`);
    if (config.zoo !== undefined && !isBuiltinZoo(config.zoo)) checkFolder(config.zoo, 'zoo folder', 'manifest.json');
    if (config.checkpoints) {
      checkFolder(config.checkpoints.base, 'checkpoints.base');
      config.checkpoints.experts.forEach((e, i) => checkFolder(e, `checkpoints.experts[${i}]`));
    }
    if (optimizer.family === 'gradient' && config.zoo === undefined) {
      fail('SEARCH_E_OPTIMIZER', `${source}: ${optimizer.name} differentiates through the model, so it needs zoo:, not checkpoints:`);
    }
    if (this.o.store.findStudy(config.name)) {
      fail('STUDY_E_EXISTS', `a study named "${config.name}" is already in the study database; a launch starts a new study, so set another name: in the config`);
    }
    const max = this.o.maxRunning ?? DEFAULT_MAX_LAUNCHES;
    const running = [...this.all.values()].filter((l) => l.state === 'running');
    if (running.length >= max) {
      throw new HttpError('SERVER_E_LAUNCH', 429, `${running.length} launched search(es) are running already (launches ${running.map((l) => l.id).join(', ')}), the most this server runs at once (serve --max-launches ${max}); wait for one to finish`);
    }
    for (const l of this.all.values()) {
      if (l.study === config.name && l.state === 'running') throw new HttpError('SERVER_E_LAUNCH', 409, `study "${config.name}" is being launched already (launch ${l.id}); set another name: in the config`);
    }
    // The file written keeps the user's text (comments included) with the name made explicit and
    // folder paths made absolute, so it runs the same from launches/.
    const doc = YAML.parseDocument(text);
    doc.set('name', config.name);
    if (config.zoo !== undefined) doc.set('zoo', config.zoo);
    if (config.checkpoints) {
      doc.setIn(['checkpoints', 'base'], config.checkpoints.base);
      doc.setIn(['checkpoints', 'experts'], config.checkpoints.experts);
    }
    return { config, yaml: String(doc) };
  }

  start(text: string): { id: string; study: string } {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
    const { config, yaml } = this.validate(text, `launch-${stamp}`);
    const file = confinePath(this.o.outputRoot, path.join('launches', `${config.name}.yaml`), 'launch config file');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, yaml);
    const id = String(this.next++);
    const launch: Launch = {
      id,
      study: config.name,
      state: 'running',
      code: null,
      signal: null,
      pid: null,
      started: Date.now(),
      finished: null,
      config: file,
      log: [],
      child: null,
      done: Promise.resolve(),
    };
    this.all.set(id, launch);
    const push = (line: string) => {
      launch.log.push(line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)} …` : line);
      if (launch.log.length > LOG_LINES) launch.log.splice(0, launch.log.length - LOG_LINES);
    };
    const child = spawn(process.execPath, [this.o.bin ?? BIN, 'search', file, '--db', this.o.db, '--quiet'], {
      cwd: this.o.outputRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    launch.child = child;
    launch.pid = child.pid ?? null;
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const lines = (partial + chunk).split(/\r?\n/);
        partial = lines.pop() ?? '';
        if (partial.length > MAX_LINE) {
          push(partial);
          partial = '';
        }
        for (const l of lines) push(l);
      });
      stream?.on('end', () => {
        if (partial) push(partial);
        partial = '';
      });
    }
    launch.done = new Promise<void>((resolve) => {
      const finish = (code: number | null, signal: string | null) => {
        if (launch.state === 'exited') return;
        launch.state = 'exited';
        launch.code = code;
        launch.signal = signal;
        launch.finished = Date.now();
        launch.child = null;
        resolve();
      };
      // 'close' waits for the output streams too, so the log is complete when the state flips.
      child.on('close', (code, signal) => finish(code, signal));
      child.on('error', (e) => {
        push(`could not start ${process.execPath} ${this.o.bin ?? BIN}: ${e.message}`);
        finish(null, null);
      });
    });
    return { id, study: config.name };
  }

  get(id: string): LaunchInfo {
    const l = this.all.get(id);
    if (!l) {
      throw new HttpError('SERVER_E_NOT_FOUND', 404, `no launch "${id}" on this server; GET /api/launch lists the launches`);
    }
    return this.info(l);
  }

  list(): LaunchInfo[] {
    return [...this.all.values()].map((l) => this.info(l));
  }

  /** Resolves when launch `id` has exited (tests, shutdown). */
  async wait(id: string): Promise<LaunchInfo> {
    const l = this.all.get(id);
    if (!l) return this.get(id);
    await l.done;
    return this.info(l);
  }

  /**
   * Stop running launches: SIGTERM asks a search to stop after its current trial (the study can be
   * continued with --resume); after `graceMs` the rest are killed.
   */
  async stopAll(graceMs = 10_000): Promise<void> {
    const running = [...this.all.values()].filter((l) => l.state === 'running' && l.child);
    for (const l of running) l.child!.kill('SIGTERM');
    const timer = setTimeout(() => running.forEach((l) => l.child?.kill('SIGKILL')), graceMs);
    await Promise.all(running.map((l) => l.done));
    clearTimeout(timer);
  }

  private info(l: Launch): LaunchInfo {
    const { child: _c, done: _d, ...rest } = l;
    return { ...rest, log: [...l.log] };
  }
}
