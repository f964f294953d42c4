// Moving studies between stores and reading them from either: `mergesearch db copy` takes a SQLite
// study (trials in every state, NaN and ±Infinity values, intermediate values, attributes, the
// optimizer state, notes) into PostgreSQL and the copy reads back equal field by field; the report
// server's JSON API answers the same bytes over the SQLite file and over the Postgres copy.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/server/app.ts';
import { StudyStore } from '../src/study/index.ts';
import { pgClusterOrSkip, PG_PASSWORD } from './helpers/pg-cluster.ts';
import { runCli } from './helpers/recipe-fixtures.ts';

const cluster = await pgClusterOrSkip('study-copy-serve.test.ts');
afterAll(() => cluster?.stop());

let root: string;
let file: string;

/** acc maximised, loss minimised; trial 3 fails, 5 has a NaN accuracy, 6 runs, 7 waits. */
const POINTS: Array<{ values?: number[]; error?: string; running?: boolean; waiting?: boolean }> = [
  { values: [0.9, 0.5] },
  { values: [0.8, 0.2] },
  { values: [0.7, 0.6] },
  { error: 'evaluator said "no"' },
  { values: [0.95, Infinity] },
  { values: [NaN, 0.1] },
  { running: true },
  { waiting: true },
];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-copy-'));
  file = path.join(root, 'studies.db');
  let now = 1_700_000_000_000;
  const store = StudyStore.open(file, { clock: () => (now += 1000) });
  const s = store.createStudy({
    name: 'demo',
    config: { identity: { zoo: null, seed: 4, lows: [-Infinity] }, budget: { trials: 10 } },
    backend: 'wasm',
    seed: 4,
    optimizer: 'random',
    objectives: [
      { name: 'acc', direction: 'maximize' },
      { name: 'loss', direction: 'minimize' },
    ],
  });
  POINTS.forEach((p, i) => {
    const t = store.createTrial(s.id, { state: p.waiting ? 'WAITING' : 'RUNNING', worker: p.waiting ? undefined : `host${i % 2}:${100 + i}`, x: [i / 10, 1 - i / 10], decoded: { w: [i, NaN] }, tag: { tag: i }, ...(i === 7 ? { retryOf: 3 } : {}) });
    if (p.running || p.waiting) return;
    store.finishTrial(s.id, t.number, p.values ? { state: 'COMPLETE', values: p.values } : { state: 'FAIL', error: p.error });
  });
  store.addIntermediate(s.id, 0, [{ step: 0, value: 0.5 }, { step: 1, value: Infinity }]);
  store.setTrialAttr(s.id, 1, 'best', -Infinity);
  store.setTrialAttr(s.id, 1, 'predicted', [0.5, NaN]);
  store.addStudyCounter(s.id, 'elapsed_seconds', 12.5);
  store.saveOptimizerState(s.id, { mean: [0.1, NaN], gen: 3 });
  store.saveOptimizerState(s.id, { mean: [0.2, NaN], gen: 4 });
  store.addNote(s.id, 'started by the test');
  store.createStudy({ name: 'other', config: {}, backend: 'cpu', seed: 0, optimizer: 'grid', objectives: [{ name: 'score', direction: 'maximize' }] });
  store.close();
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Everything a user sees of a store's studies (ids are each store's own). */
function snapshot(db: string) {
  const store = StudyStore.open(db, { readonly: true });
  try {
    return store.listStudies().map(({ id, ...summary }) => ({
      summary,
      trials: store.trials(id).map(({ id: _i, studyId: _s, ...t }) => t),
      state: store.loadOptimizerState(id),
      attrs: store.studyAttrs(id),
      notes: store.notes(id),
    }));
  } finally {
    store.close();
  }
}

describe.skipIf(!cluster)('db copy and the report server on Postgres', () => {
  it('copies every study from a SQLite file to Postgres, equal field by field; a second copy is refused', () => {
    const url = cluster!.createDatabase('copied');
    const r = runCli(['db', 'copy', '--from', file, '--to', url]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('copied study demo (8 trials)');
    expect(r.stdout).toContain('copied study other (0 trials)');
    expect(r.stdout + r.stderr).not.toContain(PG_PASSWORD);
    const before = snapshot(file);
    const after = snapshot(url);
    expect(after).toEqual(before);
    // what the copy must hold, checked by hand as well (toEqual treats NaN as equal to NaN)
    const demo = after[0]!;
    expect(demo.trials.map((t) => t.state)).toEqual(['COMPLETE', 'COMPLETE', 'COMPLETE', 'FAIL', 'COMPLETE', 'COMPLETE', 'RUNNING', 'WAITING']);
    expect(demo.trials[4]!.values).toEqual([0.95, Infinity]);
    expect(demo.trials[5]!.values![0]).toBeNaN();
    expect(demo.trials[7]!.retryOf).toBe(3);
    // the clock ticks 1 s per stamp: trial 0 created (+1 s) and finished (+2 s), trial 1 created (+3 s)
    expect(demo.trials[1]!.started).toBe(1_700_000_000_000 + 3000);
    expect(demo.state).toEqual({ state: { mean: [0.2, NaN], gen: 4 }, version: 2 });
    expect(demo.attrs).toEqual({ elapsed_seconds: 12.5 });

    const again = runCli(['db', 'copy', '--from', file, '--to', url]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('STUDY_E_EXISTS');
    expect(again.stderr).toContain('"demo", "other"');
    expect(again.stderr).not.toContain(PG_PASSWORD);
  });

  it('the report API answers the same over the SQLite file and over the Postgres copy', async () => {
    const url = cluster!.createDatabase('served');
    expect(runCli(['db', 'copy', '--from', file, '--to', url]).status).toBe(0);
    const sqliteApp = await buildApp({ db: file, outputRoot: root, pageMaxStaleMs: 0 });
    const pgApp = await buildApp({ db: url, outputRoot: root, pageMaxStaleMs: 0 });
    try {
      expect(pgApp.ctx.store.backend).toBe('postgres');
      for (const route of ['/api/studies', '/api/studies/demo', '/api/studies/demo/trials', '/api/studies/demo/trials?state=COMPLETE&after=1', '/api/studies/demo/trials/4', '/api/studies/demo/trials.csv', '/api/studies/demo/pareto', '/api/studies/other/pareto']) {
        const a = await sqliteApp.inject({ url: route });
        const b = await pgApp.inject({ url: route });
        expect(a.statusCode, route).toBe(200);
        expect(b.statusCode, route).toBe(200);
        expect(b.body, route).toBe(a.body);
      }
      // a write through another connection shows up at once (the change stamp moved)
      const w = StudyStore.open(url);
      w.addNote(w.getStudy('demo').id, 'later');
      w.close();
      const notes = JSON.parse((await pgApp.inject({ url: '/api/studies/demo' })).body) as { notes?: Array<{ text: string }>; study?: { notes?: Array<{ text: string }> } };
      expect(JSON.stringify(notes)).toContain('later');
      // the saved report reads the Postgres copy too, and keeps the password out of the page
      const out = path.join(root, 'report.html');
      const rep = runCli(['report', '--db', url, '--out', out]);
      expect(rep.status, rep.stderr).toBe(0);
      const page = fs.readFileSync(out, 'utf8');
      expect(page).toContain('started by the test');
      expect(page).toContain(`postgres://postgres:***@127.0.0.1:${cluster!.port}/served`);
      expect(page).not.toContain(PG_PASSWORD);
    } finally {
      await sqliteApp.close();
      await pgApp.close();
    }
  });
});
