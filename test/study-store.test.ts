// The study store's conformance suite: every test of the store's contract runs against SQLite and
// against a real PostgreSQL server (a throwaway cluster, test/helpers/pg-cluster.ts), then each
// backend's own checks (files, pragmas, a full disk; URLs, schema table, read-only sessions).
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, StudyStore, decodeJson, encodeJson, type StudyRow } from '../src/study/index.ts';
import type { SqliteConnection } from '../src/study/sqlite-connection.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { PG_PASSWORD, pgClusterOrSkip } from './helpers/pg-cluster.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');

const cluster = await pgClusterOrSkip('study-store.test.ts');
afterAll(() => cluster?.stop());

let tmp: { dir: string; cleanup: () => void };
let open: StudyStore[] = [];
let testNo = 0;

interface Backend {
  name: 'sqlite' | 'postgres';
  /** The --db value of the store called `name` in this test (a file, or a database of its own). */
  url(name: string): string;
  /** Trials in the bulk listing test: Postgres pays a network round trip per statement. */
  bulk: number;
}

const dbsMade = new Map<string, string>();

const SQLITE_BACKEND: Backend = { name: 'sqlite', url: (name) => path.join(tmp.dir, name), bulk: 10_000 };
const PG_BACKEND: Backend = {
  name: 'postgres',
  url(name) {
    const key = `t${testNo}_${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;
    let url = dbsMade.get(key);
    if (url === undefined) {
      url = cluster!.createDatabase(key);
      dbsMade.set(key, url);
    }
    return url;
  },
  bulk: 1_000,
};

function storeOn(b: Backend, name = 'study.db', opts?: { readonly?: boolean; clock?: () => number }): StudyStore {
  const s = StudyStore.open(b.url(name), opts);
  open.push(s);
  return s;
}

function newStudy(store: StudyStore, name = 's1', objectives = 2): StudyRow {
  return store.createStudy({
    name,
    config: { method: 'ties', budget: 10 },
    backend: 'wasm',
    seed: 7,
    optimizer: 'cmaes',
    objectives: Array.from({ length: objectives }, (_, i) => ({ name: `task${i}`, direction: i === 0 ? 'maximize' : 'minimize' })),
  });
}

beforeEach(() => {
  tmp = makeTmp('mergesearch-study-');
  open = [];
  testNo++;
});

afterEach(() => {
  for (const s of open) {
    try {
      s.close();
    } catch {
      // closed by the test already
    }
  }
  tmp.cleanup();
});

function conformance(b: Backend): void {
  const openStore = (name?: string, opts?: { readonly?: boolean; clock?: () => number }) => storeOn(b, name, opts);

  describe('studies', () => {
    it('round-trips every field, refuses a taken name, and lists names when one is missing', () => {
      const store = openStore();
      const config = { method: 'ties', lows: [-Infinity, 0], note: 'NaN', nested: { bad: NaN } };
      const s = store.createStudy({ name: 'alpha', config, backend: 'wasm', seed: 42, optimizer: 'nsga2', objectives: [
        { name: 'acc', direction: 'maximize' },
        { name: 'loss', direction: 'minimize' },
      ] });
      expect(s.id).toBeGreaterThan(0);
      expect(Date.parse(s.created)).not.toBeNaN();
      const back = store.getStudy('alpha');
      expect(back).toEqual({ id: s.id, name: 'alpha', config, backend: 'wasm', seed: 42, optimizer: 'nsga2', created: s.created, objectives: [
        { name: 'acc', direction: 'maximize' },
        { name: 'loss', direction: 'minimize' },
      ] });
      expect(store.studyById(s.id)).toEqual(back);
      expect(store.findStudy('beta')).toBeUndefined();

      expectCode(() => newStudy(store, 'alpha'), 'STUDY_E_EXISTS', '"alpha"', '--resume');
      newStudy(store, 'gamma');
      expectCode(() => store.getStudy('beta'), 'STUDY_E_NOT_FOUND', '"beta"', 'alpha, gamma', store.file);
      expectCode(() => store.studyById(999), 'STUDY_E_NOT_FOUND', '999');
      expectCode(() => store.createTrial(999, { state: 'WAITING', x: [] }), 'STUDY_E_NOT_FOUND', '999');
    });

    it('lists studies with trial counts per state', () => {
      const store = openStore();
      const a = newStudy(store, 'a');
      const b = newStudy(store, 'b', 1);
      store.createTrial(a.id, { state: 'WAITING', x: [] });
      const r = store.createTrial(a.id, { state: 'RUNNING', x: [] });
      store.finishTrial(a.id, r.number, { state: 'COMPLETE', values: [1, 2] });
      store.createTrial(a.id, { state: 'RUNNING', x: [] });
      const f = store.createTrial(b.id, { state: 'RUNNING', x: [] });
      store.finishTrial(b.id, f.number, { state: 'FAIL', error: 'boom' });
      const list = store.listStudies();
      expect(list.map((s) => s.name)).toEqual(['a', 'b']);
      expect(list[0]?.counts).toEqual({ WAITING: 1, RUNNING: 1, COMPLETE: 1, PRUNED: 0, FAIL: 0 });
      expect(list[1]?.counts).toEqual({ WAITING: 0, RUNNING: 0, COMPLETE: 0, PRUNED: 0, FAIL: 1 });
      expect(list[1]?.objectives).toEqual([{ name: 'task0', direction: 'maximize' }]);
    });

    it('versions the optimizer state, keeps attributes and notes', () => {
      const store = openStore();
      const s = newStudy(store);
      expect(store.loadOptimizerState(s.id)).toBeUndefined();
      expect(store.saveOptimizerState(s.id, { mean: [0.5, NaN], best: -Infinity, rng: [1, 2, 3, 4] })).toBe(1);
      expect(store.loadOptimizerState(s.id)).toEqual({ state: { mean: [0.5, NaN], best: -Infinity, rng: [1, 2, 3, 4] }, version: 1 });
      expect(store.saveOptimizerState(s.id, { gen: 2 })).toBe(2);
      expect(store.saveOptimizerState(s.id, null)).toBe(3);
      expect(store.loadOptimizerState(s.id)).toEqual({ state: null, version: 3 });

      store.setStudyAttr(s.id, 'space', { dim: 3, names: ['a', 'b', 'c'] });
      store.setStudyAttr(s.id, 'best', Infinity);
      store.setStudyAttr(s.id, 'best', 0.9);
      expect(store.studyAttrs(s.id)).toEqual({ best: 0.9, space: { dim: 3, names: ['a', 'b', 'c'] } });

      store.addNote(s.id, 'first');
      store.addNote(s.id, 'second');
      const notes = store.notes(s.id);
      expect(notes.map((n) => n.text)).toEqual(['first', 'second']);
      expect(Date.parse(notes[0]?.created ?? '')).not.toBeNaN();
    });
  });

  describe('trials', () => {
    it('round-trip every field, NaN and ±Infinity included', () => {
      const store = openStore();
      const s = newStudy(store, 's1', 3);
      const before = Date.now();
      const t = store.createTrial(s.id, {
        state: 'RUNNING',
        worker: 'host:123',
        x: [0.25, NaN, Infinity, -Infinity, -0.5],
        decoded: { weight: [0.3, 0.7], density: NaN, label: 'Infinity' },
        tag: { gen: 1, idx: 4 },
        retryOf: 0,
      });
      expect(t).toMatchObject({ studyId: s.id, number: 0, state: 'RUNNING', worker: 'host:123', retryOf: 0, error: null, finished: null, values: null });
      expect(t.started).toBeGreaterThanOrEqual(before);
      expect(t.heartbeat).toBe(t.started);
      store.addIntermediate(s.id, 0, [{ step: 0, value: 1.5 }, { step: 1, value: NaN }, { step: 2, value: -Infinity }]);
      store.addIntermediate(s.id, 0, [{ step: 1, value: 0.75 }]);
      store.setTrialAttr(s.id, 0, 'predicted', [0.9, NaN, Infinity]);
      store.setTrialAttr(s.id, 0, 'note', 'NaN');
      const done = store.finishTrial(s.id, 0, { state: 'COMPLETE', values: [NaN, Infinity, -Infinity] });
      expect(done.finished).toBeGreaterThanOrEqual(t.started ?? 0);

      const back = store.trial(s.id, 0);
      expect(back).toEqual({
        id: t.id,
        studyId: s.id,
        number: 0,
        state: 'COMPLETE',
        started: t.started,
        finished: done.finished,
        heartbeat: t.heartbeat,
        worker: 'host:123',
        error: null,
        retryOf: 0,
        x: [0.25, NaN, Infinity, -Infinity, -0.5],
        decoded: { weight: [0.3, 0.7], density: NaN, label: 'Infinity' },
        tag: { gen: 1, idx: 4 },
        values: [NaN, Infinity, -Infinity],
        intermediate: [{ step: 0, value: 1.5 }, { step: 1, value: 0.75 }, { step: 2, value: -Infinity }],
        attrs: { note: 'NaN', predicted: [0.9, NaN, Infinity] },
      });
      expect(store.trials(s.id)).toEqual([back]);

      const plain = store.createTrial(s.id, { state: 'WAITING', x: [] });
      expect(plain).toMatchObject({ number: 1, state: 'WAITING', started: null, heartbeat: null, worker: null, retryOf: null, x: [], decoded: null, tag: null, values: null, intermediate: [], attrs: {} });
      expectCode(() => store.trial(s.id, 5), 'STUDY_E_NOT_FOUND', '"s1"', 'trial 5', '0 to 1');
    });

    it('reads -0 back as 0 in value columns and JSON columns alike (so both backends answer the same)', () => {
      const store = openStore();
      const s = newStudy(store, 's1', 2);
      const t = store.createTrial(s.id, { state: 'RUNNING', x: [-0, 1] });
      store.addIntermediate(s.id, t.number, [{ step: 0, value: -0 }]);
      const done = store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [-0, -1e-300] });
      expect(Object.is(done.values![0], 0)).toBe(true);
      expect(done.values![1]).toBe(-1e-300);
      expect(Object.is(done.x[0], 0)).toBe(true);
      expect(Object.is(done.intermediate[0]!.value, 0)).toBe(true);
    });

    it('numbers trials 0, 1, 2 ... per study', () => {
      const store = openStore();
      const a = newStudy(store, 'a');
      const b = newStudy(store, 'b');
      const numbersA = [0, 1, 2].map(() => store.createTrial(a.id, { state: 'WAITING', x: [] }).number);
      const numbersB = [0, 1].map(() => store.createTrial(b.id, { state: 'RUNNING', x: [] }).number);
      expect(numbersA).toEqual([0, 1, 2]);
      expect(numbersB).toEqual([0, 1]);
      expect(store.createTrial(a.id, { state: 'WAITING', x: [] }).number).toBe(3);
    });

    it('claims the oldest WAITING trial for a worker', () => {
      const store = openStore();
      const s = newStudy(store);
      store.createTrial(s.id, { state: 'RUNNING', x: [0] });
      store.createTrial(s.id, { state: 'WAITING', x: [1] });
      store.createTrial(s.id, { state: 'WAITING', x: [2] });
      const c1 = store.claimWaitingTrial(s.id, 'w1');
      expect(c1).toMatchObject({ number: 1, state: 'RUNNING', worker: 'w1', x: [1] });
      expect(c1?.started).not.toBeNull();
      expect(c1?.heartbeat).not.toBeNull();
      expect(store.claimWaitingTrial(s.id, 'w2')).toMatchObject({ number: 2, worker: 'w2' });
      expect(store.claimWaitingTrial(s.id, 'w3')).toBeUndefined();
      expect(store.countTrials(s.id, ['RUNNING'])).toBe(3);
    });

    it('finishes a trial once; COMPLETE needs one value per objective', () => {
      const store = openStore();
      const s = newStudy(store);
      const t = store.createTrial(s.id, { state: 'RUNNING', x: [] });
      expect(() => store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [1] })).toThrow(/needs 2 values/);
      expect(store.trial(s.id, t.number).state).toBe('RUNNING');
      expect(store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [1, 2] }).values).toEqual([1, 2]);
      expectCode(() => store.finishTrial(s.id, t.number, { state: 'FAIL', error: 'late' }), 'STUDY_E_BUSY', 'trial 0', '"s1"', 'COMPLETE already');
      expectCode(() => store.heartbeat(s.id, t.number), 'STUDY_E_BUSY', 'COMPLETE');
      expect(store.trial(s.id, t.number)).toMatchObject({ state: 'COMPLETE', error: null, values: [1, 2] });

      const p = store.createTrial(s.id, { state: 'RUNNING', x: [] });
      const pruned = store.finishTrial(s.id, p.number, { state: 'PRUNED', values: [0, 0] });
      expect(pruned).toMatchObject({ state: 'PRUNED', values: null });
      const w = store.createTrial(s.id, { state: 'WAITING', x: [] });
      expect(store.finishTrial(s.id, w.number, { state: 'FAIL', error: 'EVAL_E_COMMAND: exit 1' })).toMatchObject({ state: 'FAIL', error: 'EVAL_E_COMMAND: exit 1', values: null });
      expectCode(() => store.finishTrial(s.id, 42, { state: 'FAIL' }), 'STUDY_E_NOT_FOUND', 'trial 42');
    });

    it('finds RUNNING trials whose heartbeat stopped, and fails them', () => {
      // A hand-driven clock: the trials age by exactly 30 ms however loaded the machine is.
      let now = 1_700_000_000_000;
      const store = openStore('study.db', { clock: () => now });
      const s = newStudy(store);
      store.createTrial(s.id, { state: 'RUNNING', x: [] });
      store.createTrial(s.id, { state: 'RUNNING', x: [] });
      const done = store.createTrial(s.id, { state: 'RUNNING', x: [] });
      store.finishTrial(s.id, done.number, { state: 'COMPLETE', values: [1, 1] });
      store.createTrial(s.id, { state: 'WAITING', x: [] });
      now += 30;
      store.heartbeat(s.id, 1);
      expect(store.staleRunningTrials(s.id, 60_000)).toEqual([]);
      expect(store.staleRunningTrials(s.id, 20).map((t) => t.number)).toEqual([0]);
      store.failTrials(s.id, [0, 2], 'worker stopped sending heartbeats');
      const all = store.trials(s.id);
      expect(all.map((t) => t.state)).toEqual(['FAIL', 'RUNNING', 'COMPLETE', 'WAITING']);
      expect(all[0]?.error).toBe('worker stopped sending heartbeats');
      expect(all[2]?.error).toBeNull();
      expect(store.staleRunningTrials(s.id, 20)).toEqual([]);
      const retry = store.createTrial(s.id, { state: 'RUNNING', x: [], retryOf: 0 });
      expect(retry).toMatchObject({ number: 4, retryOf: 0 });
    });

    it('filters by cursor, state and limit', () => {
      const store = openStore();
      const s = newStudy(store);
      for (let i = 0; i < 6; i++) {
        const t = store.createTrial(s.id, { state: 'RUNNING', x: [i] });
        if (i % 2 === 0) store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [i, 10 - i] });
      }
      expect(store.trials(s.id, { after: 3 }).map((t) => t.number)).toEqual([4, 5]);
      expect(store.trials(s.id, { after: 5 })).toEqual([]);
      expect(store.trials(s.id, { states: ['COMPLETE'] }).map((t) => t.values)).toEqual([[0, 10], [2, 8], [4, 6]]);
      expect(store.trials(s.id, { states: ['RUNNING'], after: 1, limit: 1 }).map((t) => t.number)).toEqual([3]);
      expect(store.trials(s.id, { states: [] })).toEqual([]);
      expect(store.countTrials(s.id)).toBe(6);
      expect(store.countTrials(s.id, ['COMPLETE', 'RUNNING'])).toBe(6);
      expect(store.countTrials(s.id, ['PRUNED'])).toBe(0);
      // a poller that keeps its cursor sees only what was added since
      const cursor = 5;
      store.createTrial(s.id, { state: 'WAITING', x: [6] });
      expect(store.trials(s.id, { after: cursor }).map((t) => t.x)).toEqual([[6]]);
    });

    it(`lists ${b.bulk} trials in one call`, () => {
      const n = b.bulk;
      const store = openStore();
      const s = newStudy(store);
      store.transaction(() => {
        for (let i = 0; i < n; i++) {
          const t = store.createTrial(s.id, { state: 'RUNNING', x: [i / n, 1 - i / n], tag: { i } });
          if (i % 3 === 0) store.addIntermediate(s.id, t.number, [{ step: 0, value: i }]);
          if (i % 7 === 0) store.setTrialAttr(s.id, t.number, 'k', i);
          store.finishTrial(s.id, t.number, i % 5 === 0 ? { state: 'PRUNED' } : { state: 'COMPLETE', values: [i, -i] });
        }
      });
      const all = store.trials(s.id);
      expect(all).toHaveLength(n);
      expect(all.map((t) => t.number)).toEqual(Array.from({ length: n }, (_, i) => i));
      // a trial past the middle with an intermediate value (multiple of 3), COMPLETE (not of 5), no attribute (not of 7)
      const k = all.findIndex((_, i) => i >= 0.42 * n && i % 3 === 0 && i % 5 !== 0 && i % 7 !== 0);
      expect(all[k]).toMatchObject({ number: k, state: 'COMPLETE', x: [k / n, 1 - k / n], tag: { i: k }, values: [k, -k], intermediate: [{ step: 0, value: k }], attrs: {} });
      expect(all[k + 1]).toMatchObject({ intermediate: [], attrs: {} });
      const last = n - 1; // 999 and 9999: multiples of 3, not of 5
      expect(all[last]).toMatchObject({ values: [last, -last], intermediate: [{ step: 0, value: last }] });
      expect(all[7]?.attrs).toEqual({ k: 7 });
      expect(all[5]).toMatchObject({ state: 'PRUNED', values: null, intermediate: [] });
      expect(all.filter((x) => x.state === 'PRUNED')).toHaveLength(n / 5);
      expect(store.countTrials(s.id, ['COMPLETE'])).toBe((4 * n) / 5);
      expect(store.trials(s.id, { after: n - 11 })).toHaveLength(10);
    });
  });

  describe('transactions and write failures', () => {
    it('rolls back everything when the function throws, and nests as savepoints', () => {
      const store = openStore();
      const s = newStudy(store);
      expect(() =>
        store.transaction(() => {
          store.createTrial(s.id, { state: 'RUNNING', x: [] });
          store.saveOptimizerState(s.id, { n: 1 });
          throw new Error('optimizer crashed');
        }),
      ).toThrow('optimizer crashed');
      expect(store.countTrials(s.id)).toBe(0);
      expect(store.loadOptimizerState(s.id)).toBeUndefined();

      store.transaction(() => {
        store.createTrial(s.id, { state: 'RUNNING', x: [] });
        expect(() => store.transaction(() => {
          store.createTrial(s.id, { state: 'RUNNING', x: [] });
          throw new Error('inner');
        })).toThrow('inner');
        store.createTrial(s.id, { state: 'RUNNING', x: [] });
      });
      expect(store.trials(s.id).map((t) => t.number)).toEqual([0, 1]);
    });
  });
  describe('several processes on one database', () => {
    function runWorker(file: string, worker: string, iterations: number, mode = 'rmw'): Promise<{ code: number | null; stdout: string; stderr: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'helpers/study-worker.ts'), file, 'shared', worker, String(iterations), mode], {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    }

    it('4 processes × 50 read-modify-write transactions lose nothing and never see "database is locked"', async () => {
      const store = openStore('shared.db');
      const s = newStudy(store, 'shared', 1);
      const results = await Promise.all(['w0', 'w1', 'w2', 'w3'].map((w) => runWorker(b.url('shared.db'), w, 50)));
      for (const r of results) {
        expect(r.stderr).not.toMatch(/locked|busy/i);
        expect(r.code, r.stderr).toBe(0);
      }
      const numbersByWorker = results.map((r) => (JSON.parse(r.stdout) as { numbers: number[] }).numbers);
      expect(numbersByWorker.every((n) => n.length === 50)).toBe(true);
      const all = store.trials(s.id);
      expect(all).toHaveLength(200);
      expect(all.map((t) => t.number)).toEqual(Array.from({ length: 200 }, (_, i) => i));
      expect(new Set(numbersByWorker.flat()).size).toBe(200);
      expect(all.every((t) => t.state === 'COMPLETE')).toBe(true);
      expect(all.every((t) => t.values?.[0] === t.number)).toBe(true);
      // each trial's x is the counter its transaction saved, so the counters are 1..200 exactly once
      expect(all.map((t) => t.x[0]).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(store.loadOptimizerState(s.id)).toEqual({ state: { counter: 200 }, version: 200 });
      expect(new Set(all.map((t) => t.worker))).toEqual(new Set(['w0', 'w1', 'w2', 'w3']));
    });

    it('4 processes claiming 120 WAITING trials at once claim each exactly once', async () => {
      const store = openStore('shared.db');
      const s = newStudy(store, 'shared', 1);
      store.transaction(() => {
        for (let i = 0; i < 120; i++) store.createTrial(s.id, { state: 'WAITING', x: [1000 + i] });
      });
      const results = await Promise.all(['c0', 'c1', 'c2', 'c3'].map((w) => runWorker(b.url('shared.db'), w, 0, 'claim')));
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const claimed = results.map((r) => (JSON.parse(r.stdout) as { numbers: number[] }).numbers);
      // every trial claimed by exactly one worker: the union is 0..119 with no repeats
      expect(claimed.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 120 }, (_, i) => i));
      const all = store.trials(s.id);
      expect(all.every((t) => t.state === 'COMPLETE' && t.values?.[0] === 1000 + t.number)).toBe(true);
      claimed.forEach((nums, i) => expect(all.filter((t) => t.worker === `c${i}`).map((t) => t.number)).toEqual(nums));
    });
  });
}

describe.each([SQLITE_BACKEND, PG_BACKEND])('the study store on $name', (b) => {
  if (b.name === 'postgres' && !cluster) {
    it.skip('needs a PostgreSQL server (see the note on stderr)', () => {});
    return;
  }
  conformance(b);
});

describe('JSON columns', () => {
  it('round-trip NaN, ±Infinity and strings spelled like them', () => {
    const v = { a: [NaN, Infinity, -Infinity, 1.5, 0], s: ['NaN', 'Infinity', '-Infinity', '~NaN', '~~Infinity', 'x'], n: null };
    const text = encodeJson(v);
    expect(() => JSON.parse(text)).not.toThrow();
    expect(decodeJson(text)).toEqual(v);
    expect(decodeJson(encodeJson(undefined))).toBeNull();
    expect(decodeJson(null)).toBeNull();
  });
});

describe('SQLite only', () => {
  const openStore = (name?: string, opts?: { readonly?: boolean; clock?: () => number }) => storeOn(SQLITE_BACKEND, name, opts);

  describe('opening and migrations', () => {
    it('creates the schema in a new file (parent folders too) and records the schema version', () => {
      const store = openStore('deep/er/study.db');
      expect(store.file).toBe(path.join(tmp.dir, 'deep/er/study.db'));
      store.close();
      const db = new Database(path.join(tmp.dir, 'deep/er/study.db'), { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name);
      expect(tables).toEqual([
        'intermediate_values', 'notes', 'objectives', 'optimizer_state', 'studies', 'study_attrs',
        'trial_attrs', 'trial_params', 'trial_values', 'trials',
      ]);
      const indexes = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trials'`).all() as Array<{ name: string }>).map((r) => r.name);
      expect(indexes).toEqual(expect.arrayContaining(['trials_study_number', 'trials_study_state']));
      db.close();
    });

    it('migrates an existing empty file and reopens without migrating again', () => {
      const file = path.join(tmp.dir, 'empty.db');
      fs.writeFileSync(file, '');
      StudyStore.open(file).close();
      const again = StudyStore.open(file);
      newStudy(again);
      again.close();
      const db = new Database(file);
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      db.close();
    });

    it('refuses a database from a newer mergesearch with STUDY_E_VERSION', () => {
      const file = path.join(tmp.dir, 'future.db');
      const db = new Database(file);
      db.pragma('user_version = 999');
      db.close();
      expectCode(() => StudyStore.open(file), 'STUDY_E_VERSION', file, '999', 'upgrade mergesearch');
      expectCode(() => StudyStore.open(file, { readonly: true }), 'STUDY_E_VERSION', '999');
    });

    it('refuses a text file, a truncated database and a foreign SQLite database with STUDY_E_OPEN', () => {
      const text = path.join(tmp.dir, 'notes.txt');
      fs.writeFileSync(text, 'this is a text file, not a database\n'.repeat(10));
      expectCode(() => StudyStore.open(text), 'STUDY_E_OPEN', text, 'not a SQLite database');
      expect(fs.readFileSync(text, 'utf8')).toContain('this is a text file');

      const good = openStore('good.db');
      const s = newStudy(good);
      good.transaction(() => {
        for (let i = 0; i < 300; i++) good.createTrial(s.id, { state: 'WAITING', x: Array(50).fill(i) });
      });
      good.close();
      const bytes = fs.readFileSync(good.file);
      for (const keep of [50, 4096 * 3]) {
        const cut = path.join(tmp.dir, `cut-${keep}.db`);
        fs.writeFileSync(cut, bytes.subarray(0, keep));
        expectCode(() => StudyStore.open(cut), 'STUDY_E_OPEN', cut);
      }

      const foreign = path.join(tmp.dir, 'optuna.db');
      const db = new Database(foreign);
      db.exec('CREATE TABLE trials (trial_id INTEGER PRIMARY KEY)');
      db.close();
      expectCode(() => StudyStore.open(foreign), 'STUDY_E_OPEN', foreign, 'not a mergesearch study database', 'trials');

      expectCode(() => StudyStore.open(tmp.dir), 'STUDY_E_OPEN', 'is a folder');
    });

    it('opens read-only: reads work, writes fail with STUDY_E_WRITE, missing files with STUDY_E_OPEN', () => {
      const writer = openStore();
      const s = newStudy(writer);
      writer.createTrial(s.id, { state: 'RUNNING', x: [1, 2] });

      const reader = openStore('study.db', { readonly: true });
      expect(reader.getStudy('s1').seed).toBe(7);
      expect(reader.trials(s.id).map((t) => t.x)).toEqual([[1, 2]]);
      expectCode(() => reader.addNote(s.id, 'hi'), 'STUDY_E_WRITE', reader.file, 'read-only');
      expectCode(() => reader.createTrial(s.id, { state: 'WAITING', x: [] }), 'STUDY_E_WRITE');
      expect(writer.countTrials(s.id)).toBe(1);
      // the reader sees later writes of other connections
      writer.createTrial(s.id, { state: 'WAITING', x: [3] });
      expect(reader.countTrials(s.id)).toBe(2);

      const missing = path.join(tmp.dir, 'nope.db');
      expectCode(() => StudyStore.open(missing, { readonly: true }), 'STUDY_E_OPEN', missing, 'does not exist');
      expect(fs.existsSync(missing)).toBe(false);
    });
  });

  it('reports a full disk as STUDY_E_WRITE and keeps nothing of the failed write', () => {
    const store = openStore();
    const s = newStudy(store);
    store.createTrial(s.id, { state: 'RUNNING', x: [1] });
    // A page limit on this connection stands in for a full disk: SQLite answers SQLITE_FULL.
    const db = (store.db as SqliteConnection).db;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 2}`);
    expectCode(
      () => store.createTrial(s.id, { state: 'RUNNING', x: [2], decoded: { blob: 'x'.repeat(200_000) } }),
      'STUDY_E_WRITE', store.file, 'disk is full', 'Free disk space',
    );
    expect(store.countTrials(s.id)).toBe(1);
    expect(store.createTrial(s.id, { state: 'RUNNING', x: [3] }).number).toBe(1);
  });

});

describe.skipIf(!cluster)('PostgreSQL only', () => {
  const openStore = (name?: string, opts?: { readonly?: boolean; clock?: () => number }) => storeOn(PG_BACKEND, name, opts);

  it('creates the schema in an empty database, records its version, and reopens without migrating again', () => {
    const store = openStore();
    expect(store.backend).toBe('postgres');
    expect(store.file).not.toContain(PG_PASSWORD);
    expect(store.file).toContain('***');
    newStudy(store);
    store.close();
    const dbName = `t${testNo}_study_db`;
    expect(cluster!.psql('SELECT version FROM mergesearch_schema', dbName).trim()).toBe(String(SCHEMA_VERSION));
    const tables = cluster!.psql(`SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'`, dbName).trim();
    expect(tables.split(',')).toEqual([
      'intermediate_values', 'mergesearch_schema', 'notes', 'objectives', 'optimizer_state', 'studies', 'study_attrs',
      'trial_attrs', 'trial_params', 'trial_values', 'trials',
    ]);
    const again = openStore();
    expect(again.getStudy('s1').seed).toBe(7);
    expect(cluster!.psql('SELECT count(*) FROM mergesearch_schema', dbName).trim()).toBe('1');
  });

  it('refuses a database of a newer schema with STUDY_E_VERSION naming the URL without the password', () => {
    const url = PG_BACKEND.url('future');
    openStore('future').close();
    cluster!.psql('UPDATE mergesearch_schema SET version = 999', `t${testNo}_future`);
    const err = expectCode(() => StudyStore.open(url), 'STUDY_E_VERSION', `127.0.0.1:${cluster!.port}/t${testNo}_future`, '999', 'upgrade mergesearch');
    expect(err.message).not.toContain(PG_PASSWORD);
    expectCode(() => StudyStore.open(url, { readonly: true }), 'STUDY_E_VERSION', '999');
  });

  it('refuses a database whose tables clash with the schema, and leaves it as it was', () => {
    const url = PG_BACKEND.url('foreign');
    cluster!.psql('CREATE TABLE trials (trial_id INTEGER PRIMARY KEY)', `t${testNo}_foreign`);
    expectCode(() => StudyStore.open(url), 'STUDY_E_OPEN', 'trials', 'no schema version');
    expect(cluster!.psql(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`, `t${testNo}_foreign`).trim()).toBe('1');
  });

  it('opens read-only: reads work, writes fail with STUDY_E_WRITE, an empty database with STUDY_E_OPEN', () => {
    const writer = openStore();
    const s = newStudy(writer);
    writer.createTrial(s.id, { state: 'RUNNING', x: [1, 2] });
    const reader = openStore('study.db', { readonly: true });
    expect(reader.trials(s.id).map((t) => t.x)).toEqual([[1, 2]]);
    expectCode(() => reader.addNote(s.id, 'hi'), 'STUDY_E_WRITE', 'read-only');
    writer.createTrial(s.id, { state: 'WAITING', x: [3] });
    expect(reader.countTrials(s.id)).toBe(2);
    expectCode(() => openStore('empty', { readonly: true }), 'STUDY_E_OPEN', 'no schema');
  });

  it('says what changed: the change stamp moves with each commit and stays put otherwise', () => {
    const store = openStore();
    const other = openStore();
    const s = newStudy(store);
    const a = store.changeStamp();
    store.trials(s.id);
    expect(store.changeStamp()).toBe(a);
    other.addNote(s.id, 'from another connection');
    const b2 = store.changeStamp();
    expect(b2).not.toBe(a);
    expect(store.changeStamp()).toBe(b2);
  });
});
