// Studies that span machines, on a real PostgreSQL server (a throwaway cluster): four worker
// processes with distinct host identities share one study, one is killed with SIGKILL in the middle
// of a trial and its trial is requeued with the same point after the heartbeat grace period and
// finished by another; the black-box optimizers' golden traces come out identical on Postgres and
// on SQLite (the same committed files); and bad --db values fail with coded errors that name the
// URL without its password.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetUsed, hostId, recoverInterruptedTrials, runTrials } from '../src/search/loop.ts';
import { getOptimizer, resolveSettings } from '../src/search/optimizers/index.ts';
import { StudyStore } from '../src/study/index.ts';
import { expectGolden } from './helpers/golden.ts';
import { expectCode } from './helpers/io-tmp.ts';
import { contextFor } from './helpers/optimizer-context.ts';
import { PG_PASSWORD, pgClusterOrSkip } from './helpers/pg-cluster.ts';
import { REPO_ROOT, runCli, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';
import { SyntheticProblem } from './helpers/synthetic-problem.ts';

const cluster = await pgClusterOrSkip('study-hosts.test.ts');
afterAll(() => cluster?.stop());

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-hosts-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe.skipIf(!cluster)('golden traces on PostgreSQL', () => {
  // The same setup as test/search-loop.test.ts, which checks these files against SQLite.
  it.each(['random', 'grid', 'cmaes', 'nsga2', 'map'])('%s proposes exactly its committed golden trace', async (name) => {
    const problem = new SyntheticProblem();
    const optimizer = getOptimizer(name);
    const ctx = contextFor(problem.space, problem.objectives, {
      seed: 0,
      budget: 40,
      settings: resolveSettings(optimizer, name === 'nsga2' || name === 'cmaes' ? { population: 6 } : {}),
    });
    const store = StudyStore.open(cluster!.createDatabase(`golden_${name}`));
    try {
      expect(store.backend).toBe('postgres');
      const study = store.createStudy({ name: 'loop', config: {}, backend: 'cpu', seed: ctx.seed, optimizer: name, objectives: ctx.objectives });
      await runTrials({ store, study, problem, optimizer, ctx, budget: { trials: 40 } });
      const xs = store.trials(study.id).map((t) => t.x.map((v) => Number(v.toPrecision(12))));
      expect(xs.length).toBeGreaterThan(0);
      expectGolden(`search-${name}`, xs);
    } finally {
      store.close();
    }
  });
});

describe.skipIf(!cluster)('liveness by heartbeat alone on Postgres', () => {
  it('a trial is requeued with the same point once its heartbeat is older than the grace period, not before; pids are never consulted', () => {
    // A hand-driven clock: the trial ages by exactly the amounts below however loaded the machine is.
    let now = 1_800_000_000_000;
    const store = StudyStore.open(cluster!.createDatabase('liveness'), { clock: () => now });
    try {
      const study = store.createStudy({ name: 'live', config: {}, backend: 'cpu', seed: 0, optimizer: 'random', objectives: [{ name: 'y', direction: 'maximize' }] });
      // a worker on another machine, and one that claims this host's name with a pid that does not exist
      const far = store.createTrial(study.id, { state: 'RUNNING', worker: 'gpu-b:4242', x: [0.25, 0.5], decoded: { w: 1 }, tag: { tag: 7 } });
      store.setTrialAttr(study.id, far.number, 'predicted', [0.9]);
      const ghost = store.createTrial(study.id, { state: 'RUNNING', worker: `${hostId()}:999999999`, x: [0.75, 0.125] });
      const grace = 5000;
      now += grace - 1;
      store.heartbeat(study.id, ghost.number);
      expect(recoverInterruptedTrials(store, study, grace, now)).toEqual([]);
      now += 1;
      // the far trial's heartbeat is now exactly `grace` old; the ghost's pid is dead but its heartbeat is fresh
      expect(recoverInterruptedTrials(store, study, grace, now).map((t) => t.number)).toEqual([far.number]);
      const all = store.trials(study.id);
      expect(all.map((t) => [t.number, t.state, t.retryOf])).toEqual([[0, 'FAIL', null], [1, 'RUNNING', null], [2, 'WAITING', 0]]);
      expect(all[2]).toMatchObject({ x: [0.25, 0.5], decoded: { w: 1 }, tag: { tag: 7 }, attrs: { predicted: [0.9] } });
      // noticed once: a second worker looking at the same moment finds nothing more to requeue
      expect(recoverInterruptedTrials(store, study, grace, now)).toEqual([]);
      expect(store.studyAttrs(study.id).interrupted_trials).toBe(1);
      // the requeued point is claimed by the next worker, on whatever host
      expect(store.claimWaitingTrial(study.id, 'gpu-c:7')).toMatchObject({ number: 2, worker: 'gpu-c:7', x: [0.25, 0.5] });
    } finally {
      store.close();
    }
  });
});

// Scores a merged checkpoint (layers.0.w and layers.1.w) and logs each evaluation with its host.
// The worker whose host is $HANG_HOST writes $HANG_MARKER (with its pid) and hangs, to be killed
// mid-trial; every other worker's evaluation waits until $GO_FILE exists, which the test writes
// once every worker holds a trial: all four take part, whatever the machine's speed.
const SCORER = `
import fs from 'node:fs';
const file = process.argv[2] + '/model.safetensors';
const buf = fs.readFileSync(file);
const n = Number(buf.readBigUInt64LE(0));
const header = JSON.parse(buf.subarray(8, 8 + n).toString());
const read = (name) => { const t = header[name]; const [a, b] = t.data_offsets; return Array.from(new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + n + a, buf.byteOffset + 8 + n + b))); };
const w = [...read('layers.0.w'), ...read('layers.1.w')];
const host = process.env.MERGESEARCH_HOST_ID ?? 'flag';
if (host === process.env.HANG_HOST) {
  fs.writeFileSync(process.env.HANG_MARKER, String(process.pid));
  setTimeout(() => {}, 600000);
} else {
  const go = () => {
    if (!fs.existsSync(process.env.GO_FILE)) return setTimeout(go, 50);
    fs.appendFileSync(process.env.SCORE_LOG, JSON.stringify(w) + '\\n');
    console.log(JSON.stringify({ near: 1 - w.reduce((s, v) => s + (v - 0.2) ** 2, 0) }));
  };
  go();
}
`;

interface Proc {
  child: ReturnType<typeof spawn>;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function cli(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/mergesearch.js'), ...args], { cwd: root, env: { ...process.env, CI: 'true', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return { child, done: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }))) };
}

async function until(what: string, ok: () => boolean, proc?: Proc): Promise<void> {
  let exited = false;
  void proc?.done.then(() => (exited = true));
  while (!ok()) {
    if (exited) throw new Error(`a process exited before ${what}: ${(await proc!.done).stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!cluster)('four worker processes on one Postgres study', () => {
  it('finish the budget with no duplicate and no lost trial; a worker killed mid-trial has its trial requeued and finished by another', async () => {
    const url = cluster!.createDatabase('hosts');
    const t = (name: string, values: number[]) => ({ name, shape: [2], values });
    writeHandCheckpoint(path.join(root, 'models/base'), [t('layers.0.w', [0, 0]), t('layers.1.w', [0, 0])]);
    writeHandCheckpoint(path.join(root, 'models/e1'), [t('layers.0.w', [1, 0]), t('layers.1.w', [0, 1])]);
    writeHandCheckpoint(path.join(root, 'models/e2'), [t('layers.0.w', [0, 1]), t('layers.1.w', [1, 0])]);
    fs.writeFileSync(path.join(root, 'scorer.mjs'), SCORER);
    fs.writeFileSync(
      path.join(root, 'hosts.yaml'),
      `name: hosts
seed: 5
checkpoints: {base: models/base, experts: [models/e1, models/e2]}
space:
  method: task_arithmetic
  granularity: layer
  parameters: {weight: {low: 0, high: 1}}
objectives:
  - {name: near, command: "node scorer.mjs {checkpoint}", direction: maximize}
optimizer: {name: random}
budget: {trials: 16}
`,
    );
    const marker = path.join(root, 'hang.pid');
    const scoreLog = path.join(root, 'scores.log');
    const goFile = path.join(root, 'go');
    const env = { HANG_HOST: 'victim', HANG_MARKER: marker, GO_FILE: goFile, SCORE_LOG: scoreLog };
    const grace = ['--grace', '3'];
    const starter = cli(['search', 'hosts.yaml', '--db', url, '--host-id', 'h0', ...grace], env);
    await until('the study exists', () => {
      try {
        const s = StudyStore.open(url, { readonly: true });
        try {
          return s.findStudy('hosts') !== undefined;
        } finally {
          s.close();
        }
      } catch {
        return false; // the schema is not there yet
      }
    }, starter);
    // The victim names its host through the environment variable, the others through the flag.
    const victim = cli(['worker', '--db', url, '--study', 'hosts', ...grace], { ...env, MERGESEARCH_HOST_ID: 'victim' });
    await until('the victim hangs in its trial', () => fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') !== '', victim);
    const others = ['h1', 'h2'].map((h) => cli(['worker', '--db', url, '--study', 'hosts', '--host-id', h, ...grace], env));
    const runningHosts = () => {
      const s = StudyStore.open(url, { readonly: true });
      try {
        return new Set(s.trials(s.getStudy('hosts').id, { states: ['RUNNING'] }).map((x) => x.worker!.split(':')[0]));
      } finally {
        s.close();
      }
    };
    for (const [i, h] of ['h1', 'h2'].entries()) await until(`${h} holds a trial`, () => runningHosts().has(h), others[i]);
    expect([...runningHosts()].sort()).toEqual(['h0', 'h1', 'h2', 'victim']);
    fs.writeFileSync(goFile, '');
    victim.child.kill('SIGKILL');
    process.kill(Number(fs.readFileSync(marker, 'utf8')), 'SIGKILL');
    const v = await victim.done;
    expect(v.signal).toBe('SIGKILL');
    for (const p of [starter, ...others]) {
      const r = await p.done;
      expect(r.code, r.stderr).toBe(0);
    }

    const store = StudyStore.open(url, { readonly: true });
    try {
      const study = store.getStudy('hosts');
      const all = store.trials(study.id);
      const complete = all.filter((x) => x.state === 'COMPLETE');
      // budget finished; nothing left RUNNING or WAITING (0 lost)
      expect(budgetUsed(store, study).trials).toBe(16);
      expect(complete).toHaveLength(16);
      expect(all.filter((x) => x.state === 'RUNNING' || x.state === 'WAITING')).toEqual([]);
      // the killed worker's one trial: FAIL, requeued once with the same point, finished elsewhere
      const failed = all.filter((x) => x.state === 'FAIL');
      expect(failed).toHaveLength(1);
      expect(failed[0]!.worker).toMatch(/^victim:\d+$/);
      expect(failed[0]!.error).toContain('interrupted');
      const retry = all.filter((x) => x.retryOf === failed[0]!.number);
      expect(retry).toHaveLength(1);
      expect(retry[0]!.state).toBe('COMPLETE');
      expect(retry[0]!.x).toEqual(failed[0]!.x);
      expect(retry[0]!.worker).toMatch(/^h[012]:\d+$/);
      expect(store.studyAttrs(study.id).interrupted_trials).toBe(1);
      // 0 duplicates: every point evaluated once (random draws are distinct), one score per COMPLETE trial
      expect(new Set(complete.map((x) => JSON.stringify(x.x))).size).toBe(16);
      const evaluations = fs.readFileSync(scoreLog, 'utf8').trim().split('\n');
      expect(evaluations).toHaveLength(16);
      // the hosts: four distinct identities took part, the three live ones finished trials
      expect([...new Set(all.map((x) => x.worker!.split(':')[0]))].sort()).toEqual(['h0', 'h1', 'h2', 'victim']);
      expect([...new Set(complete.map((x) => x.worker!.split(':')[0]))].sort()).toEqual(['h0', 'h1', 'h2']);
      // each value is the scorer's formula on the merged weights the point gives (independent recomputation)
      for (const x of complete) {
        const [a0, a1, b0, b1] = [x.x[0]!, x.x[1]!, x.x[2]!, x.x[3]!];
        const w = [a0, b0, b1, a1];
        expect(x.values![0]).toBeCloseTo(1 - w.reduce((s, v) => s + (v - 0.2) ** 2, 0), 5);
      }
    } finally {
      store.close();
    }
  });
});

describe.skipIf(!cluster)('bad --db values', () => {
  it('an unreachable server, a wrong password and a missing database: STUDY_E_CONNECT naming the URL, never the password', () => {
    const port = cluster!.port;
    const closedPort = port === 1 ? 2 : 1; // nothing listens on port 1
    const cases: Array<[string, string]> = [
      [`postgres://postgres:${PG_PASSWORD}@127.0.0.1:${closedPort}/x`, 'cannot reach'],
      [`postgres://postgres:not-the-${PG_PASSWORD}@127.0.0.1:${port}/postgres`, 'refused the login'],
      [`postgresql://postgres:${PG_PASSWORD}@127.0.0.1:${port}/no_such_db`, 'no such database'],
    ];
    for (const [url, says] of cases) {
      const err = expectCode(() => StudyStore.open(url), 'STUDY_E_CONNECT', says, `@127.0.0.1:`, 'postgres:***@');
      expect(err.message).not.toContain(PG_PASSWORD);
    }
  });

  it('the CLI says the same, with exit code 2 and no password on screen', () => {
    const url = `postgres://postgres:wrong-${PG_PASSWORD}@127.0.0.1:${cluster!.port}/postgres`;
    const r = runCli(['worker', '--db', url, '--study', 'x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STUDY_E_CONNECT');
    expect(r.stderr).toContain(`postgres://postgres:***@127.0.0.1:${cluster!.port}/postgres`);
    expect(r.stderr + r.stdout).not.toContain(PG_PASSWORD);
  });

  it('a database of a newer schema: STUDY_E_VERSION through the CLI', () => {
    const url = cluster!.createDatabase('newer');
    StudyStore.open(url).close();
    cluster!.psql('UPDATE mergesearch_schema SET version = 999', 'newer');
    const r = runCli(['worker', '--db', url, '--study', 'x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('STUDY_E_VERSION');
    expect(r.stderr).toContain('999');
    expect(r.stderr).not.toContain(PG_PASSWORD);
  });
});

describe('--db values that are neither a file nor a postgres:// URL', () => {
  it('an unknown scheme or a one-slash postgres: is refused with STUDY_E_URL, and no folder is made', () => {
    const cwd = process.cwd();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-url-'));
    process.chdir(dir);
    try {
      expectCode(() => StudyStore.open('mysql://user@host:3306/db'), 'STUDY_E_URL', 'mysql', 'postgres://');
      expectCode(() => StudyStore.open('postgres:/user@host:5432/db'), 'STUDY_E_URL', 'names no server');
      const http = expectCode(() => StudyStore.open('http://user:hunter2@host/db'), 'STUDY_E_URL', 'http://user:***@host/db');
      expect(http.message).not.toContain('hunter2');
      expect(fs.readdirSync(dir)).toEqual([]);
      // sqlite: and a plain path are SQLite files
      const a = StudyStore.open('sqlite:a.db');
      expect(a.backend).toBe('sqlite');
      expect(a.file).toBe(path.join(fs.realpathSync(dir), 'a.db'));
      a.close();
      const b = StudyStore.open('./b:1.db');
      expect(b.file).toBe(path.join(fs.realpathSync(dir), 'b:1.db'));
      b.close();
    } finally {
      process.chdir(cwd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
