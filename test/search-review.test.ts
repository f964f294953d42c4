// Review findings on the search path, each pinned by a test: a search space whose bounds or fixed
// values the method refuses is rejected up front (not by a crash mid-search), a candidate the
// method refuses is a FAIL trial, Ctrl-C is heard during a zoo search (and by --workers), a worker
// that dies mid-generation does not hang the others, a seconds budget is wall time with several
// workers, a grid keeps its shape when the budget changes on --resume, the database is checked
// before models load, and the point → recipe → export path is exact in the corner cases.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { evaluateSetting, layerPosition, type Setting } from '../src/merge/parameters.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { CommandProblem } from '../src/search/command-problem.ts';
import { exportTrial } from '../src/search/export.ts';
import { budgetUsed, runTrials } from '../src/search/loop.ts';
import { getOptimizer, resolveSettings } from '../src/search/optimizers/index.ts';
import type { Evaluation } from '../src/search/problem.ts';
import { rescoreExport } from '../src/search/rescore.ts';
import { runStudy } from '../src/search/run-study.ts';
import { SearchSpace, type SpaceSpec } from '../src/search/space.ts';
import { parseStudyConfig } from '../src/search/study-config.ts';
import { recipeFor } from '../src/search/to-recipe.ts';
import { StudyStore } from '../src/study/index.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { expectCode, makeTmp, rng } from './helpers/io-tmp.ts';
import { expectCodeAsync, REPO_ROOT, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';
import { SyntheticProblem } from './helpers/synthetic-problem.ts';
import { copyTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';
import { contextFor } from './helpers/optimizer-context.ts';

const tmp = makeTmp('ms-search-review-');
afterAll(() => tmp.cleanup());
let dbCount = 0;
const newDb = () => path.join(tmp.dir, `r${dbCount++}.db`);

const TENSORS = ['model.embed_tokens.weight', 'model.layers.0.mlp.weight', 'model.layers.1.mlp.weight', 'model.norm.weight'];
const space = (spec: Partial<SpaceSpec>) =>
  new SearchSpace({ method: 'ties', granularity: 'task', parameters: { weight: { low: 0, high: 1 } }, ...spec }, TENSORS, ['a', 'b', 'c']);

describe('search space: values the method refuses are caught before the search', () => {
  it('a fixed value of the wrong kind names space.fixed', () => {
    expectCode(() => space({ fixed: { density: 'abc' } }), 'SEARCH_E_SPACE', 'space.fixed.density', 'number');
    expectCode(() => space({ fixed: { normalize: 'yes' } }), 'SEARCH_E_SPACE', 'space.fixed.normalize', 'true or false');
  });

  it('a fixed value out of the method range refuses the starting point', () => {
    expectCode(() => space({ fixed: { density: 2 } }), 'SEARCH_E_SPACE', 'starting point', 'density of a is 2');
  });

  it('a bound out of the method range names the parameter and the bound', () => {
    expectCode(() => space({ parameters: { weight: { low: 0, high: 1 }, density: { low: 0.1, high: 3 } } }), 'SEARCH_E_SPACE', 'space.parameters.density: high = 3', 'narrow the bounds');
  });

  it('a NaN init is refused', () => {
    expectCode(() => space({ parameters: { weight: { low: 0, high: 1, init: NaN } } }), 'SEARCH_E_SPACE', 'init = NaN');
  });

  it('spaces whose corners only are invalid are still accepted (linear, weights that may sum to 0)', () => {
    expect(space({ method: 'linear', parameters: { weight: { low: -1, high: 1 } } }).dim).toBe(3);
    expect(space({ method: 'linear', parameters: { weight: { low: 0, high: 1 } } }).dim).toBe(3);
  });
});

describe('point → recipe', () => {
  it('an outside tensor whose name is part of a layer tensor name does not capture that tensor', () => {
    const tensors = ['norm.weight', 'model.layers.0.norm.weight', 'model.layers.1.norm.weight'];
    const s = new SearchSpace({ method: 'task_arithmetic', granularity: 'layer', parameters: { weight: { low: 0, high: 1 } } }, tensors, ['a', 'b']);
    const r = rng(3);
    const x = s.low.map(() => r());
    const recipe = recipeFor(s, x, { base: 'base', experts: ['a', 'b'] }, { numLayers: 2 }) as { models: Array<{ parameters: Record<string, Setting> }> };
    for (const t of tensors) {
      const want = s.paramsFor(x, t);
      recipe.models.forEach((m, i) => expect(evaluateSetting(t, m.parameters.weight, layerPosition(t, 2)), `${t} model ${i}`).toBeCloseTo(want.perModel[i]!.weight as number, 12));
    }
  });

  it('a checkpoint whose config.json counts fewer layers than its names (an extra block) merges each layer with its own weight', async () => {
    const root = path.join(tmp.dir, 'extra-layer');
    const t = (name: string, v: number[]) => ({ name, shape: [2], values: v });
    const names = ['layers.0.w', 'layers.1.w', 'layers.2.w'];
    const cfg = { architectures: ['X'], num_hidden_layers: 2 };
    writeHandCheckpoint(path.join(root, 'base'), names.map((n) => t(n, [0, 0])), cfg);
    writeHandCheckpoint(path.join(root, 'e1'), names.map((n, i) => t(n, [1 + i, 0])), cfg);
    writeHandCheckpoint(path.join(root, 'e2'), names.map((n, i) => t(n, [0, 1 + i])), cfg);
    const problem = new CommandProblem(
      { base: path.join(root, 'base'), experts: [path.join(root, 'e1'), path.join(root, 'e2')] },
      [],
      { method: 'task_arithmetic', granularity: 'layer', parameters: { weight: { low: 0, high: 1 } } },
      0,
    );
    const x = [0.1, 0.2, 0.3, 0.6, 0.5, 0.4];
    const out = path.join(root, 'merged');
    await mergeToFolder(parseRecipe(problem.recipe(x), 'trial recipe'), { out, threads: 1 });
    const c = Checkpoint.open(out);
    try {
      names.forEach((n, i) => {
        const got = Array.from(c.readF32(n));
        const p = problem.space.paramsFor(x, n).perModel.map((m) => m.weight as number);
        expect(got[0], n).toBeCloseTo(p[0]! * (1 + i), 6);
        expect(got[1], n).toBeCloseTo(p[1]! * (1 + i), 6);
      });
    } finally {
      c.close();
    }
  });
});

describe('checkpoints scored by a command', () => {
  it('checkpoints that cannot be merged are refused before the first trial, not once per trial', () => {
    const root = path.join(tmp.dir, 'mismatch');
    writeHandCheckpoint(path.join(root, 'base'), [{ name: 'layers.0.w', shape: [2] }]);
    writeHandCheckpoint(path.join(root, 'e1'), [{ name: 'layers.0.w', shape: [2] }]);
    writeHandCheckpoint(path.join(root, 'e2'), [{ name: 'layers.0.w', shape: [3] }]);
    expectCode(
      () =>
        new CommandProblem(
          { base: path.join(root, 'base'), experts: [path.join(root, 'e1'), path.join(root, 'e2')] },
          [],
          { method: 'task_arithmetic', granularity: 'task', parameters: { weight: { low: 0, high: 1 } } },
          0,
        ),
      'MERGE_E_SHAPE',
      'layers.0.w',
    );
  });
});

function loopSetup(optimizerName: string, settings: Record<string, number> = {}) {
  const problem = new SyntheticProblem();
  const optimizer = getOptimizer(optimizerName);
  const ctx = contextFor(problem.space, problem.objectives, { budget: 1000, settings: resolveSettings(optimizer, settings) });
  const store = StudyStore.open(newDb());
  const study = store.createStudy({ name: 'loop', config: {}, backend: 'cpu', seed: 0, optimizer: optimizerName, objectives: ctx.objectives });
  return { problem, optimizer, ctx, store, study };
}

describe('trial loop', () => {
  it('hears an abort while candidates are scored synchronously (a zoo search on Ctrl-C)', async () => {
    const s = loopSetup('random');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const r = await runTrials({ ...s, budget: { trials: 3000 }, signal: controller.signal });
    expect(r.reason).toBe('stopped');
    expect(r.trials).toBeLessThan(3000);
    s.store.close();
  });

  it('a worker that died with a trial of the generation in flight is retried, not waited for forever', async () => {
    const s = loopSetup('cmaes', { population: 4 });
    await runTrials({ ...s, budget: { trials: 2 } });
    // Another worker on this host proposes member 2 of the generation and dies before its tell.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const ask = s.optimizer.ask(s.store.loadOptimizerState(s.study.id)!.state as never, s.ctx);
    if (ask.kind !== 'propose') throw new Error('expected a proposal');
    s.store.transaction(() => {
      s.store.saveOptimizerState(s.study.id, ask.state);
      s.store.createTrial(s.study.id, { state: 'RUNNING', worker: `${os.hostname()}:${dead}`, x: ask.proposal.x, tag: { tag: ask.proposal.tag ?? null } });
    });
    const guard = new AbortController();
    // Only a guard against waiting forever (the failure this test catches); generous for a loaded machine.
    const timer = setTimeout(() => guard.abort(), 120_000);
    const r = await runTrials({ ...s, budget: { trials: 10 }, signal: guard.signal });
    clearTimeout(timer);
    expect(r.reason).toBe('budget');
    const all = s.store.trials(s.study.id);
    expect(all[2]!.state).toBe('FAIL');
    expect(all.find((t) => t.retryOf === 2)?.state).toBe('COMPLETE');
    expect(all.some((t) => t.state === 'RUNNING' || t.state === 'WAITING')).toBe(false);
    s.store.close();
  });

  it('a seconds budget is wall time when two workers share the study', async () => {
    const s = loopSetup('random');
    const slow = {
      space: s.problem.space,
      objectives: s.problem.objectives,
      description: 'slow',
      close: () => {},
      evaluate: async (x: number[]): Promise<Evaluation> => {
        await new Promise((r) => setTimeout(r, 40));
        return s.problem.evaluate(x);
      },
    };
    const other = StudyStore.open(s.store.file);
    const t0 = Date.now();
    await Promise.all([
      runTrials({ ...s, problem: slow, worker: 'w1', budget: { seconds: 1 } }),
      runTrials({ ...s, store: other, problem: slow, worker: 'w2', budget: { seconds: 1 } }),
    ]);
    const wall = (Date.now() - t0) / 1000;
    const used = budgetUsed(s.store, s.study).seconds;
    expect(wall).toBeGreaterThan(0.85);
    expect(used).toBeGreaterThan(0.85);
    expect(used).toBeLessThan(wall + 0.1);
    other.close();
    s.store.close();
  });
});

describe('studies on a zoo', () => {
  let zooDir: string;
  beforeAll(async () => {
    await initEngine('wasm');
    zooDir = await copyTinyZoo(TINY_MNIST8, path.join(tmp.dir, 'zoo'));
  });

  const config = (name: string, body: string) => parseStudyConfig(`name: ${name}\nzoo: zoo\nsamples: 60\nbackend: wasm\n${body}`, `${name}.yaml`, { dir: tmp.dir });

  it('a candidate the method refuses (linear weights summing to 0) is a FAIL trial and the search reaches its budget', async () => {
    const c = config('linear', `space: {method: linear, granularity: task, parameters: {weight: {low: -1, high: 1}}}
objectives: [{task: plain}]
optimizer: grid
budget: {trials: 20}`);
    const db = newDb();
    const r = await runStudy({ config: c, db });
    expect(r.reason).toBe('budget');
    const store = StudyStore.open(db, { readonly: true });
    const trials = store.trials(r.study.id);
    store.close();
    expect(trials.length).toBe(20);
    const failed = trials.filter((t) => t.state === 'FAIL');
    expect(failed.length).toBeGreaterThan(0);
    for (const t of failed) expect(t.error).toMatch(/^RECIPE_E_PARAM: tensor backbone\..*normalize would divide by zero/);
  });

  it('a grid keeps its shape when the trial budget is raised on --resume', async () => {
    const db = newDb();
    const body = (trials: number) => `space: {method: task_arithmetic, granularity: task, parameters: {lambda: {low: 0.5, high: 1.5}}, fixed: {weight: 0.3}}
objectives: [{task: plain}]
optimizer: grid
budget: {trials: ${trials}}`;
    await runStudy({ config: config('grid', body(5)), db });
    const r = await runStudy({ config: config('grid', body(9)), db, resume: true });
    expect(r.reason).toBe('done');
    const store = StudyStore.open(db, { readonly: true });
    const xs = store.trials(r.study.id).map((t) => t.x[0]);
    store.close();
    expect(xs).toEqual([0.5, 0.75, 1, 1.25, 1.5]);
  });

  it('a resume refused for a changed config says which part changed', async () => {
    const db = newDb();
    const body = (task: string) => `space: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: [{task: ${task}}]\noptimizer: random\nbudget: {trials: 1}`;
    await runStudy({ config: config('changed', body('plain')), db });
    await expectCodeAsync(() => runStudy({ config: config('changed', body('rot90')), db, resume: true }), 'STUDY_E_EXISTS', '(objectives changed)');
  });

  it('checks the database before loading models: a folder as --db is reported, not a missing zoo', async () => {
    const dbDir = path.join(tmp.dir, 'db-folder');
    fs.mkdirSync(dbDir);
    const c = parseStudyConfig(`zoo: no-such-zoo\nspace: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: [{task: plain}]\noptimizer: random\nbudget: {trials: 1}`, 'x.yaml', { dir: tmp.dir });
    await expectCodeAsync(() => runStudy({ config: c, db: dbDir }), 'STUDY_E_OPEN', 'is a folder');
  });

  it('an export with LiNeS fixed keeps the heads as the search scored them', async () => {
    const db = newDb();
    const c = config('lines', `space: {method: task_arithmetic, granularity: layer, parameters: {weight: {low: 0, high: 1}}, fixed: {lines_alpha: 0.5, lines_beta: 0.5}}
objectives:
  - {tasks: all, evaluator: accuracy}
  - {name: plain_loss, task: plain, evaluator: cross_entropy}
optimizer: random
budget: {trials: 2}`);
    await runStudy({ config: c, db });
    const out = path.join(tmp.dir, 'lines-export');
    await exportTrial({ db, study: 'lines', trial: 1, out, threads: 1 });
    for (const row of rescoreExport(db, 'lines', 1, out)) {
      expect(Math.abs(row.rescored! - row.recorded), row.objective).toBeLessThanOrEqual(row.objective === 'plain_loss' ? 1e-4 : 0);
    }
  });

  it('an export of a method without per-model weights warns that heads are merged', async () => {
    const db = newDb();
    await runStudy({ config: config('widen', `space: {method: widen, parameters: {t: {low: 0.5, high: 2}}}\nobjectives: [{task: plain}]\noptimizer: random\nbudget: {trials: 1}`), db });
    const lines: string[] = [];
    await exportTrial({ db, study: 'widen', trial: 0, out: path.join(tmp.dir, 'widen-export'), threads: 1, log: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(/warning: widen has no per-model weight, so the task heads cannot be routed/);
    // mergekit has no WIDEN: the console and the model card say so and name its nearest method
    expect(lines.join('\n')).toMatch(/warning: not reproducible with mergekit: mergekit has no widen method .* nearest it computes is `task_arithmetic`/);
    const card = fs.readFileSync(path.join(tmp.dir, 'widen-export', 'README.md'), 'utf8');
    expect(card).toMatch(/### Reproducing with mergekit\n\nmergekit cannot reproduce this merge exactly .*\n\n\* mergekit has no widen method/);
    expect(card).toContain('mergekit cannot, as said above.');
  });

  it('a --join worker given Ctrl-C twice at once (terminal + forwarded) still stops after its trial', async () => {
    const file = path.join(tmp.dir, 'joined.yaml');
    fs.writeFileSync(file, `zoo: zoo\nspace: {method: ties, granularity: layer, parameters: {weight: {low: 0, high: 1}}, fixed: {density: 0.5}}\nobjectives: {tasks: all}\noptimizer: random\nbudget: {trials: 100000}\n`);
    const db = path.join(tmp.dir, 'joined.db');
    await runStudy({ config: parseStudyConfig(fs.readFileSync(file, 'utf8'), file, { defaultName: 'joined', dir: tmp.dir }), db, signal: AbortSignal.abort() });
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/mergesearch.js'), 'search', file, '--db', db, '--join', '--quiet'], { cwd: tmp.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const count = () => {
      const store = StudyStore.open(db, { readonly: true });
      try {
        return store.countTrials(store.getStudy('joined').id);
      } finally {
        store.close();
      }
    };
    const t0 = Date.now();
    while (count() < 5 && Date.now() - t0 < 40_000) await new Promise((r) => setTimeout(r, 50));
    // The parent forwards its Ctrl-C a few ms after the terminal's (two signals sent at once would
    // be merged into one by the kernel).
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    // 130: stopped by Ctrl-C (not a finished run), README "Exit codes". One exception: when the
    // trial in progress ends within the 10 ms, the second signal can land while Node tears the
    // process down (its signal handlers already closed), which ends it by the signal (code null)
    // after it stopped cleanly. What a quit at once would break is checked below either way: the
    // first Ctrl-C was taken as "stop after the trial" and no trial is left RUNNING.
    const code = await exited;
    expect(stderr).toContain('stopping after the current trial');
    if (code !== null) expect(code, stderr).toBe(130);
    const store = StudyStore.open(db, { readonly: true });
    const trials = store.trials(store.getStudy('joined').id);
    store.close();
    expect(trials.filter((t) => t.state === 'RUNNING')).toEqual([]);
    expect(trials.filter((t) => t.state === 'COMPLETE').length).toBeGreaterThanOrEqual(5);
  });

  it('Ctrl-C in a terminal with --workers: every process stops after its trial, none is left RUNNING', async () => {
    const file = path.join(tmp.dir, 'ctrlc.yaml');
    fs.writeFileSync(file, `zoo: zoo\nsamples: 60\nspace: {method: ties, granularity: layer, parameters: {weight: {low: 0, high: 1}}, fixed: {density: 0.5}}\nobjectives: {tasks: all}\noptimizer: random\nbudget: {trials: 100000}\n`);
    const db = path.join(tmp.dir, 'ctrlc.db');
    // A process group of its own, as a terminal's foreground job: the SIGINT below reaches every
    // process in it, the workers included, as Ctrl-C does.
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/mergesearch.js'), 'search', file, '--db', db, '--workers', '3', '--quiet'], { cwd: tmp.dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const workers = () => {
      if (!fs.existsSync(db)) return 0;
      try {
        const store = StudyStore.open(db, { readonly: true });
        try {
          const s = store.findStudy('ctrlc');
          return s ? new Set(store.trials(s.id).map((t) => t.worker)).size : 0;
        } finally {
          store.close();
        }
      } catch {
        return 0; // created but not migrated yet
      }
    };
    // Waits for a state, not a time: the limit only stops a hung start (three processes loading the
    // zoo took over 40 s on a loaded 2-core machine), well inside the suite's 300 s test timeout.
    const t0 = Date.now();
    let code: number | null;
    try {
      while (workers() < 3 && Date.now() - t0 < 240_000) await new Promise((r) => setTimeout(r, 100));
      expect(workers(), stderr).toBe(3);
      process.kill(-child.pid!, 'SIGINT');
      code = await exited;
    } finally {
      // A failed wait must not leave the group searching its 100,000-trial budget after the test.
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    expect(code, stderr).toBe(130);
    const store = StudyStore.open(db, { readonly: true });
    const trials = store.trials(store.getStudy('ctrlc').id);
    store.close();
    expect(trials.filter((t) => t.state === 'RUNNING')).toEqual([]);
    expect(stderr).not.toMatch(/exited with an error/);
  });

  it('--workers: when the starting process is killed outright, its workers stop after their trial instead of running on', async () => {
    const file = path.join(tmp.dir, 'orphan.yaml');
    fs.writeFileSync(file, `zoo: zoo\nsamples: 60\nspace: {method: ties, granularity: layer, parameters: {weight: {low: 0, high: 1}}, fixed: {density: 0.5}}\nobjectives: {tasks: all}\noptimizer: random\nbudget: {trials: 100000}\n`);
    const db = path.join(tmp.dir, 'orphan.db');
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/mergesearch.js'), 'search', file, '--db', db, '--workers', '2', '--quiet'], { cwd: tmp.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // The worker process's pid, from the trials it records ("host:pid").
    const workerPids = (): number[] => {
      if (!fs.existsSync(db)) return [];
      try {
        const store = StudyStore.open(db, { readonly: true });
        try {
          const s = store.findStudy('orphan');
          return s ? [...new Set(store.trials(s.id).map((t) => Number(t.worker!.split(':').pop())))].filter((pid) => pid !== child.pid) : [];
        } finally {
          store.close();
        }
      } catch {
        return [];
      }
    };
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const t0 = Date.now();
    let pids: number[] = [];
    try {
      while ((pids = workerPids()).length < 1 && Date.now() - t0 < 240_000) await new Promise((r) => setTimeout(r, 100));
      expect(pids).toHaveLength(1);
      child.kill('SIGKILL');
      await exited;
      // Waits for the state; the limit only stops a worker that would run on its 100,000 trials.
      const t1 = Date.now();
      while (alive(pids[0]!) && Date.now() - t1 < 120_000) await new Promise((r) => setTimeout(r, 100));
      expect(alive(pids[0]!)).toBe(false);
    } finally {
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    const store = StudyStore.open(db, { readonly: true });
    const trials = store.trials(store.getStudy('orphan').id).filter((t) => t.worker!.endsWith(`:${pids[0]}`));
    store.close();
    // The worker's own trials: every one finished, none left RUNNING (the killed starter's may be).
    expect(trials.length).toBeGreaterThan(0);
    expect(trials.filter((t) => t.state === 'RUNNING')).toEqual([]);
  });
});
