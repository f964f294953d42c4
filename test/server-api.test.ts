// The report server's JSON API through app.inject, on a study database this test writes with
// StudyStore: every route's status and values (the Pareto set and hypervolume of a hand-made
// two-objective set against a hand computation, the CSV text, the polling cursor), the token,
// path confinement, error shapes, and a real launch of a tiny zoo study through to an export.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MergeSearchError } from '../src/errors.ts';
import { buildApp, BODY_LIMIT, type ReportApp } from '../src/server/app.ts';
import { checkServeHost, isLoopbackHost } from '../src/server/auth.ts';
import { confinePath } from '../src/server/paths.ts';
import { StudyStore } from '../src/study/index.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { readZooManifest } from '../src/zoo/zoo-eval.ts';
import { REPO_ROOT } from './helpers/recipe-fixtures.ts';
import { copyTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';

let root: string;
let db: string;
let app: ReportApp;
let studyId: number;

const DECODED = {
  method: 'task_arithmetic',
  fixed: { normalize: true },
  parameters: {
    weight: { scope: 'model', granularity: 'layer', units: ['layers.0', 'layers.1'], values: [[0.1, 0.2], [0.3, 0.4]] },
    lambda: { scope: 'global', granularity: 'layer', units: ['layers.0', 'layers.1'], values: [1, 0.5] },
  },
};

/** Hand-made values (acc maximised, loss minimised). Trial 3 fails, 5 has a NaN accuracy, 6 runs. */
const POINTS: Array<{ values?: number[]; error?: string; running?: boolean }> = [
  { values: [0.9, 0.5] },
  { values: [0.8, 0.2] },
  { values: [0.7, 0.6] },
  { error: 'evaluator said "no", twice\nthen gave up' },
  { values: [0.95, 0.9] },
  { values: [NaN, 0.1] },
  { running: true },
];

function body<T = any>(r: { body: string }): T {
  return JSON.parse(r.body) as T;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-server-'));
  db = path.join(root, 'studies.db');
  const store = StudyStore.open(db);
  const s = store.createStudy({
    name: 'demo',
    config: { identity: { zoo: null, checkpoints: { base: '/models/base', experts: ['/models/math', '/models/code'] }, seed: 4 }, budget: { trials: 10 } },
    backend: 'wasm',
    seed: 4,
    optimizer: 'random',
    objectives: [
      { name: 'acc', direction: 'maximize' },
      { name: 'loss', direction: 'minimize' },
    ],
  });
  studyId = s.id;
  POINTS.forEach((p, i) => {
    const t = store.createTrial(s.id, { state: 'RUNNING', worker: 'w1', x: [i / 10, 1 - i / 10], decoded: DECODED });
    if (p.running) return;
    store.finishTrial(s.id, t.number, p.values ? { state: 'COMPLETE', values: p.values } : { state: 'FAIL', error: p.error });
  });
  store.addIntermediate(s.id, 0, [
    { step: 0, value: 0.5 },
    { step: 1, value: Infinity },
  ]);
  store.setTrialAttr(s.id, 1, 'best', -Infinity);
  store.setTrialAttr(s.id, 1, 'evaluations', 3);
  store.setStudyAttr(s.id, 'elapsed_seconds', 12.5);
  store.setStudyAttr(s.id, 'map_front', [[0.9, 0.4]]);
  store.addNote(s.id, 'started by the test');
  store.createStudy({ name: 'other', config: {}, backend: 'cpu', seed: 0, optimizer: 'grid', objectives: [{ name: 'score', direction: 'maximize' }] });
  store.close();
  // Answers reflect every write at once (the cursor test below writes, then polls).
  app = await buildApp({ db, outputRoot: root, pageMaxStaleMs: 0 });
});

afterAll(async () => {
  await app?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('study routes', () => {
  it('GET /api/studies lists every study with objectives and counts per state', async () => {
    const r = await app.inject({ url: '/api/studies' });
    expect(r.statusCode).toBe(200);
    const { studies } = body(r);
    expect(studies.map((s: any) => s.name)).toEqual(['demo', 'other']);
    expect(studies[0]).toMatchObject({
      name: 'demo',
      optimizer: 'random',
      backend: 'wasm',
      seed: 4,
      objectives: [
        { name: 'acc', direction: 'maximize' },
        { name: 'loss', direction: 'minimize' },
      ],
      counts: { WAITING: 0, RUNNING: 1, COMPLETE: 5, PRUNED: 0, FAIL: 1 },
    });
    expect(typeof studies[0].created).toBe('string');
    expect(studies[1].counts).toEqual({ WAITING: 0, RUNNING: 0, COMPLETE: 0, PRUNED: 0, FAIL: 0 });
  });

  it('GET /api/studies/:name gives config, study attributes and notes', async () => {
    const r = await app.inject({ url: '/api/studies/demo' });
    expect(r.statusCode).toBe(200);
    const { study } = body(r);
    expect(study.counts.COMPLETE).toBe(5);
    expect(study.config.identity.checkpoints.experts).toEqual(['/models/math', '/models/code']);
    expect(study.config.budget).toEqual({ trials: 10 });
    expect(study.attrs).toEqual({ elapsed_seconds: 12.5, map_front: [[0.9, 0.4]] });
    expect(study.notes).toHaveLength(1);
    expect(study.notes[0].text).toBe('started by the test');
  });

  it('an unknown study is a 404 that names it (and not the other studies: see security.test.ts)', async () => {
    for (const url of ['/api/studies/nope', '/api/studies/nope/trials', '/api/studies/nope/pareto', '/api/studies/nope/trials.csv', '/api/studies/nope/trials/0']) {
      const r = await app.inject({ url });
      expect(r.statusCode, url).toBe(404);
      const { error } = body(r);
      expect(error.code).toBe('STUDY_E_NOT_FOUND');
      expect(error.message).toContain('"nope"');
      expect(error.message).not.toContain('other');
    }
  });
});

describe('trials', () => {
  it('lists trials in number order with values, NaN as a string, and no decoded parameters', async () => {
    const r = await app.inject({ url: '/api/studies/demo/trials' });
    expect(r.statusCode).toBe(200);
    const { trials, last, more } = body(r);
    expect(trials.map((t: any) => t.number)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(trials.map((t: any) => t.state)).toEqual(['COMPLETE', 'COMPLETE', 'COMPLETE', 'FAIL', 'COMPLETE', 'COMPLETE', 'RUNNING']);
    expect(last).toBe(6);
    expect(more).toBe(false);
    expect(trials[0].values).toEqual([0.9, 0.5]);
    expect(trials[5].values).toEqual(['NaN', 0.1]);
    expect(trials[3].values).toBeNull();
    expect(trials[3].error).toBe(POINTS[3]!.error);
    expect(trials[6].values).toBeNull();
    expect(trials[6].finished).toBeNull();
    expect(trials[0].intermediate).toEqual([
      { step: 0, value: 0.5 },
      { step: 1, value: 'Infinity' },
    ]);
    expect(trials[1].attrs).toEqual({ best: '-Infinity', evaluations: 3 });
    expect(trials[2].x).toEqual([0.2, 0.8]);
    expect(trials[2]).toMatchObject({ worker: 'w1', retryOf: null });
    expect(typeof trials[2].started).toBe('number');
    expect(trials[0]).not.toHaveProperty('decoded');
  });

  it('pages with after and limit, filters by state, and the cursor picks up new trials', async () => {
    let r = await app.inject({ url: '/api/studies/demo/trials?after=2&limit=2' });
    expect(body(r).trials.map((t: any) => t.number)).toEqual([3, 4]);
    expect(body(r).last).toBe(4);
    expect(body(r).more).toBe(true);
    r = await app.inject({ url: '/api/studies/demo/trials?after=4&limit=2' });
    expect(body(r).trials.map((t: any) => t.number)).toEqual([5, 6]);
    expect(body(r).more).toBe(false);
    r = await app.inject({ url: '/api/studies/demo/trials?state=COMPLETE' });
    expect(body(r).trials.map((t: any) => t.number)).toEqual([0, 1, 2, 4, 5]);
    r = await app.inject({ url: '/api/studies/demo/trials?state=FAIL,RUNNING' });
    expect(body(r).trials.map((t: any) => t.number)).toEqual([3, 6]);

    r = await app.inject({ url: '/api/studies/demo/trials?after=6' });
    expect(body(r)).toEqual({ trials: [], last: null, more: false });
    // Another process (here: another connection) adds a trial; the next poll from the cursor sees it.
    const store = StudyStore.open(db);
    try {
      const t = store.createTrial(studyId, { state: 'WAITING', x: [0.5, 0.5] });
      r = await app.inject({ url: '/api/studies/demo/trials?after=6' });
      expect(body(r).trials.map((x: any) => [x.number, x.state])).toEqual([[7, 'WAITING']]);
      expect(body(r).last).toBe(7);
      store.failTrials(studyId, [t.number], 'removed by the test');
    } finally {
      store.close();
    }
  });

  it('refuses bad query parameters with 400 and the schema message', async () => {
    for (const q of ['state=DONE', 'limit=0', 'limit=100000', 'after=x', 'after=-5']) {
      const r = await app.inject({ url: `/api/studies/demo/trials?${q}` });
      expect(r.statusCode, q).toBe(400);
      expect(body(r).error.code).toBe('SERVER_E_REQUEST');
      expect(body(r).error.message).toMatch(/querystring/);
    }
  });

  it('GET .../trials/:number adds the decoded parameters and per-parameter coefficient tables', async () => {
    const r = await app.inject({ url: '/api/studies/demo/trials/0' });
    expect(r.statusCode).toBe(200);
    const { trial } = body(r);
    expect(trial.values).toEqual([0.9, 0.5]);
    expect(trial.intermediate[1].value).toBe('Infinity');
    expect(trial.decoded).toEqual(DECODED);
    // Checkpoint studies name their models after the expert folders.
    expect(trial.models).toEqual(['math', 'code']);
    expect(trial.modelsFrom).toBe('checkpoints');
    expect(trial.coefficients).toEqual({
      weight: { scope: 'model', granularity: 'layer', models: ['math', 'code'], units: ['layers.0', 'layers.1'], values: [[0.1, 0.2], [0.3, 0.4]] },
      lambda: { scope: 'global', granularity: 'layer', models: null, units: ['layers.0', 'layers.1'], values: [[1, 0.5]] },
    });
    const missing = await app.inject({ url: '/api/studies/demo/trials/99' });
    expect(missing.statusCode).toBe(404);
    expect(body(missing).error.message).toContain('no trial 99');
    expect((await app.inject({ url: '/api/studies/demo/trials/-1' })).statusCode).toBe(400);
  });

  it('GET .../trials.csv writes every trial with quoted fields', async () => {
    const r = await app.inject({ url: '/api/studies/demo/trials.csv' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/csv/);
    expect(r.headers['content-disposition']).toBe('attachment; filename="demo-trials.csv"');
    const lines = r.body.split('\r\n');
    expect(lines[0]).toBe('number,state,acc,loss,x[0],x[1],error');
    expect(lines[1]).toBe('0,COMPLETE,0.9,0.5,0,1,');
    expect(lines[2]).toBe('1,COMPLETE,0.8,0.2,0.1,0.9,');
    // A field with quotes, a comma and a newline is quoted, its quotes doubled.
    expect(r.body).toContain('3,FAIL,,,0.3,0.7,"evaluator said ""no"", twice\nthen gave up"\r\n');
    expect(r.body).toContain('\r\n5,COMPLETE,NaN,0.1,0.5,0.5,\r\n');
    expect(r.body).toContain('\r\n6,RUNNING,,,0.6,0.4,\r\n');
    expect(r.body.endsWith('\r\n')).toBe(true);
  });
});

describe('pareto', () => {
  it('front, reference and hypervolume of the hand-made set match a hand computation', async () => {
    const r = await app.inject({ url: '/api/studies/demo/pareto' });
    expect(r.statusCode).toBe(200);
    const p = body(r);
    expect(p.objectives).toEqual(['acc', 'loss']);
    expect(p.directions).toEqual(['maximize', 'minimize']);
    // (0.7, 0.6) is dominated by (0.9, 0.5); trial 5 (NaN accuracy) is left out.
    expect(p.trials).toEqual([0, 1, 4]);
    expect(p.considered).toBe(4);
    // acc: worst 0.7, range 0.25 → 0.7 − 0.025; loss: worst 0.9, range 0.7 → 0.9 + 0.07.
    expect(p.reference[0]).toBeCloseTo(0.675, 12);
    expect(p.reference[1]).toBeCloseTo(0.97, 12);
    // Slices along acc: (0.9, 0.95] × (0.97 − 0.9) + (0.8, 0.9] × (0.97 − 0.5) + (0.675, 0.8] × (0.97 − 0.2).
    const hand = 0.05 * 0.07 + 0.1 * 0.47 + 0.125 * 0.77;
    expect(p.hypervolume).toBeCloseTo(hand, 12);
    expect(hand).toBeCloseTo(0.14675, 12);
  });

  it('over chosen objectives; a trial counts where its chosen values are finite', async () => {
    let p = body(await app.inject({ url: '/api/studies/demo/pareto?objectives=acc' }));
    expect(p).toMatchObject({ objectives: ['acc'], directions: ['maximize'], trials: [4], considered: 4 });
    expect(p.hypervolume).toBeCloseTo(0.95 - 0.675, 12);
    p = body(await app.inject({ url: '/api/studies/demo/pareto?objectives=loss' }));
    // Trial 5's loss is finite: it is the best.
    expect(p.trials).toEqual([5]);
    expect(p.reference[0]).toBeCloseTo(0.9 + 0.08, 12);
    expect(p.hypervolume).toBeCloseTo(0.98 - 0.1, 12);
    p = body(await app.inject({ url: '/api/studies/demo/pareto?objectives=loss,acc' }));
    expect(p.objectives).toEqual(['loss', 'acc']);
    expect(p.trials).toEqual([0, 1, 4]);
    const bad = await app.inject({ url: '/api/studies/demo/pareto?objectives=acc,nope' });
    expect(bad.statusCode).toBe(400);
    expect(body(bad).error.message).toContain('no objective "nope"; its objectives: acc, loss');
  });

  it('a study without completed trials has an empty front and no reference', async () => {
    const p = body(await app.inject({ url: '/api/studies/other/pareto' }));
    expect(p).toEqual({ objectives: ['score'], directions: ['maximize'], trials: [], hypervolume: 0, reference: null, considered: 0 });
  });
});

describe('errors', () => {
  it('unknown API routes are 404 JSON; malformed JSON is 400', async () => {
    const r = await app.inject({ url: '/api/nothing' });
    expect(r.statusCode).toBe(404);
    expect(body(r).error.code).toBe('SERVER_E_NOT_FOUND');
    const j = await app.inject({ method: 'POST', url: '/api/launch', headers: { 'content-type': 'application/json' }, payload: '{"config": ' });
    expect(j.statusCode).toBe(400);
    expect(body(j).error.code).toBe('SERVER_E_REQUEST');
  });

  it('a body over 1 MiB is refused with 413', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/launch', payload: { config: `# ${'x'.repeat(BODY_LIMIT)}` } });
    expect(r.statusCode).toBe(413);
    expect(body(r).error.code).toBe('SERVER_E_REQUEST');
    expect(fs.existsSync(path.join(root, 'launches'))).toBe(false);
  });

  it('an unexpected error is a 500 with a fixed message and no stack or detail', async () => {
    const a = await buildApp({ db, outputRoot: root });
    a.get('/api/boom', async () => {
      throw new TypeError('secret detail at /home/user/project');
    });
    try {
      const r = await a.inject({ url: '/api/boom' });
      expect(r.statusCode).toBe(500);
      expect(body(r)).toEqual({ error: { code: 'SERVER_E_INTERNAL', message: 'internal error; see the server log' } });
      expect(r.body).not.toMatch(/secret|\bat \/|TypeError|stack/);
    } finally {
      await a.close();
    }
  });
});

describe('auth', () => {
  let secured: ReportApp;
  beforeAll(async () => {
    secured = await buildApp({ db, outputRoot: root, token: 's3cret-token' });
  });
  afterAll(async () => {
    await secured.close();
  });

  it('needs Authorization: Bearer TOKEN on every /api/ route when a token is set', async () => {
    for (const url of ['/api/studies', '/api/studies/demo/trials', '/api/nothing']) {
      const r = await secured.inject({ url });
      expect(r.statusCode, url).toBe(401);
      expect(body(r).error.code).toBe('SERVER_E_AUTH');
      expect(body(r).error.message).toContain('Authorization: Bearer TOKEN');
    }
    const post = await secured.inject({ method: 'POST', url: '/api/launch', payload: { config: 'x: 1' } });
    expect(post.statusCode).toBe(401);
    const wrong = await secured.inject({ url: '/api/studies', headers: { authorization: 'Bearer s3cret-tokeN' } });
    expect(wrong.statusCode).toBe(401);
    const ok = await secured.inject({ url: '/api/studies', headers: { authorization: 'Bearer s3cret-token' } });
    expect(ok.statusCode).toBe(200);
    expect(body(ok).studies).toHaveLength(2);
    // Links (the CSV download) may carry the token in the query instead.
    const csv = await secured.inject({ url: '/api/studies/demo/trials.csv?token=s3cret-token' });
    expect(csv.statusCode).toBe(200);
    // The page itself needs no token (it holds no data).
    expect((await secured.inject({ url: '/' })).statusCode).toBe(200);
  });

  it('without a token, the API answers only requests addressed to a loopback name', async () => {
    const r = await app.inject({ url: '/api/studies', headers: { host: 'evil.example:8080' } });
    expect(r.statusCode).toBe(403);
    expect(body(r).error.message).toContain('evil.example');
    for (const host of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080']) {
      expect((await app.inject({ url: '/api/studies', headers: { host } })).statusCode, host).toBe(200);
    }
    // With a token, any host name is fine.
    expect((await secured.inject({ url: '/api/studies', headers: { host: 'box.lan:8080', authorization: 'Bearer s3cret-token' } })).statusCode).toBe(200);
  });

  it('serve refuses a non-loopback host without a token', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('127.1.2.3')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('192.168.1.4')).toBe(false);
    expect(() => checkServeHost('127.0.0.1', undefined)).not.toThrow();
    expect(() => checkServeHost('0.0.0.0', 'tok')).not.toThrow();
    try {
      checkServeHost('0.0.0.0', undefined);
      expect.unreachable();
    } catch (e) {
      expect((e as MergeSearchError).code).toBe('SERVER_E_TOKEN');
      expect((e as Error).message).toContain('--token');
    }
  });
});

describe('path confinement', () => {
  it('keeps paths under the output root: .., absolute paths elsewhere and links leaving it are refused', () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-outside-'));
    try {
      fs.symlinkSync(outside, path.join(root, 'escape'));
      fs.mkdirSync(path.join(root, 'inner'), { recursive: true });
      fs.symlinkSync(path.join(root, 'inner'), path.join(root, 'inner-link'));
      const real = fs.realpathSync(root);
      expect(confinePath(root, 'exports/a', 'out')).toBe(path.join(real, 'exports', 'a'));
      expect(confinePath(root, path.join(root, 'exports/b'), 'out')).toBe(path.join(real, 'exports', 'b'));
      expect(confinePath(root, 'inner-link/x', 'out')).toBe(path.join(real, 'inner', 'x'));
      expect(confinePath(root, 'a/../b', 'out')).toBe(path.join(real, 'b'));
      const refused = (p: string, ...mentions: string[]) => {
        try {
          confinePath(root, p, 'out');
          expect.unreachable(p);
        } catch (e) {
          expect((e as MergeSearchError).code, p).toBe('SERVER_E_PATH');
          for (const m of mentions) expect((e as Error).message).toContain(m);
        }
      };
      refused('../x', '".." leaves it');
      refused('a/../../x', '".." leaves it');
      refused('/etc/x', 'absolute paths must lie under it');
      refused('escape/sub', 'symbolic link');
      refused('escape', 'symbolic link');
      refused('.', 'output root');
      refused('');
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
      fs.rmSync(path.join(root, 'escape'));
      fs.rmSync(path.join(root, 'inner-link'));
    }
  });

  it('export refuses out paths that leave the output root with 400, before any work', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-outside-'));
    fs.symlinkSync(outside, path.join(root, 'link-out'));
    try {
      for (const out of ['../x', '/etc/x', 'link-out/x', path.join(outside, 'y')]) {
        const r = await app.inject({ method: 'POST', url: '/api/studies/demo/trials/0/export', payload: { out } });
        expect(r.statusCode, out).toBe(400);
        expect(body(r).error.code).toBe('SERVER_E_PATH');
        expect(body(r).error.message).toContain('outside the output root');
      }
      expect(fs.readdirSync(outside)).toEqual([]);
    } finally {
      fs.rmSync(path.join(root, 'link-out'));
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('export refuses a trial that is not COMPLETE, a folder holding the database, and unknown body keys', async () => {
    let r = await app.inject({ method: 'POST', url: '/api/studies/demo/trials/3/export', payload: { out: 'exports/t3' } });
    expect(r.statusCode).toBe(409);
    expect(body(r).error.message).toContain('is FAIL');
    r = await app.inject({ method: 'POST', url: '/api/studies/demo/trials/0/export', payload: { out: 'exports/t0', overwite: true } });
    expect(r.statusCode).toBe(400);
    expect(body(r).error.message).toContain('must NOT have additional properties');
    // A folder holding the study database would be replaced by an overwriting export.
    const dataDb = path.join(root, 'data', 'studies.db');
    const store = StudyStore.open(dataDb);
    const s2 = store.createStudy({ name: 'd', config: {}, backend: 'cpu', seed: 0, optimizer: 'random', objectives: [{ name: 'a', direction: 'maximize' }] });
    store.finishTrial(s2.id, store.createTrial(s2.id, { state: 'RUNNING', x: [0] }).number, { state: 'COMPLETE', values: [1] });
    store.close();
    const a = await buildApp({ db: dataDb, outputRoot: root });
    try {
      r = await a.inject({ method: 'POST', url: '/api/studies/d/trials/0/export', payload: { out: 'data', overwrite: true } });
      expect(r.statusCode).toBe(400);
      expect(body(r).error.message).toContain('holds the study database');
    } finally {
      await a.close();
    }
  });
});

describe('static files', () => {
  it('serves the page folder at / and nothing outside it', async () => {
    const pub = path.join(root, 'public');
    fs.mkdirSync(pub, { recursive: true });
    fs.writeFileSync(path.join(pub, 'index.html'), '<p>report</p>');
    fs.writeFileSync(path.join(pub, 'app.js'), 'console.log(1)');
    fs.mkdirSync(path.join(pub, 'page'));
    fs.writeFileSync(path.join(pub, 'page', 'part.js'), 'export const x = 1;');
    fs.writeFileSync(path.join(root, 'secret.txt'), 'secret');
    const a = await buildApp({ db, outputRoot: root, publicDir: pub });
    try {
      const index = await a.inject({ url: '/' });
      expect(index.statusCode).toBe(200);
      expect(index.headers['content-type']).toMatch(/^text\/html/);
      expect(index.body).toBe('<p>report</p>');
      const js = await a.inject({ url: '/app.js?token=x' });
      expect(js.headers['content-type']).toMatch(/^text\/javascript/);
      expect(js.body).toBe('console.log(1)');
      // A module in a sub-folder (as the report page's report/*.js), with a JavaScript type: browsers refuse module scripts of any other type.
      const part = await a.inject({ url: '/page/part.js' });
      expect(part.statusCode).toBe(200);
      expect(part.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(part.body).toBe('export const x = 1;');
      for (const url of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/missing.js']) {
        const r = await a.inject({ url });
        expect(r.statusCode, url).toBe(404);
        expect(body(r).error.code).toBe('SERVER_E_NOT_FOUND');
      }
    } finally {
      await a.close();
    }
  });
});

describe('launch', () => {
  let zoo: string;
  beforeAll(async () => {
    await initEngine('wasm');
    zoo = await copyTinyZoo(TINY_MNIST8, path.join(root, 'zoo-tiny'));
  });

  const tinyConfig = (name: string, extra = '') => `# launched by the test
name: ${name}
seed: 2
backend: wasm
zoo: zoo-tiny
space: {method: task_arithmetic, granularity: task, parameters: {weight: {low: 0, high: 1}}}
objectives: {tasks: all, evaluator: accuracy}
samples: 50
optimizer: {name: random${extra}}
budget: {trials: 3}
`;

  it('a broken config is a 400 naming the fault, and starts nothing', async () => {
    const cases: Array<[string, string, string]> = [
      ['name: a\nspace: [', 'CONFIG_E_PARSE', 'not valid YAML'],
      [tinyConfig('b').replace('budget', 'budgett'), 'CONFIG_E_FIELD', 'did you mean "budget"'],
      [tinyConfig('c').replace('name: random', 'name: randm'), 'SEARCH_E_OPTIMIZER', 'did you mean "random"'],
      [tinyConfig('d', ', popsize: 3'), 'SEARCH_E_OPTIMIZER', 'no setting "popsize"'],
      [tinyConfig('e').replace('zoo: zoo-tiny', 'zoo: no-such-zoo'), 'CONFIG_E_FIELD', 'no-such-zoo'],
      [tinyConfig('f').replace('task_arithmetic', 'task_arith'), 'CONFIG_E_FIELD', 'not a merge method'],
    ];
    for (const [config, code, mention] of cases) {
      const r = await app.inject({ method: 'POST', url: '/api/launch', payload: { config } });
      expect(r.statusCode, code).toBe(400);
      expect(body(r).error.code).toBe(code);
      expect(body(r).error.message).toContain(mention);
    }
    // A study name already in the database is a conflict.
    const dup = await app.inject({ method: 'POST', url: '/api/launch', payload: { config: tinyConfig('demo') } });
    expect(dup.statusCode).toBe(409);
    expect(body(dup).error.code).toBe('STUDY_E_EXISTS');
    expect(body(await app.inject({ url: '/api/launch' })).launches).toEqual([]);
    expect(fs.existsSync(path.join(root, 'launches'))).toBe(false);
    expect(body(await app.inject({ url: '/api/studies' })).studies.map((s: any) => s.name)).toEqual(['demo', 'other']);
    const unknown = await app.inject({ url: '/api/launch/42' });
    expect(unknown.statusCode).toBe(404);
  });

  it('a valid tiny study runs to completion in a child process and its trials show through the API', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/launch', payload: { config: tinyConfig('tiny') } });
    expect(r.statusCode, r.body).toBe(202);
    const { launch, study } = body(r);
    expect(study).toBe('tiny');
    const running = body(await app.inject({ url: `/api/launch/${launch}` }));
    expect(running.id).toBe(launch);
    expect(running.study).toBe('tiny');
    // The config was written with its name and its zoo path made absolute (relative to the output root).
    const written = fs.readFileSync(path.join(root, 'launches', 'tiny.yaml'), 'utf8');
    expect(written).toContain('# launched by the test');
    expect(written).toContain(`zoo: ${zoo}\n`);
    expect(written).toContain('name: tiny');
    const done = await app.ctx.launches.wait(launch);
    const info = body(await app.inject({ url: `/api/launch/${launch}` }));
    expect(info.state, info.log.join('\n')).toBe('exited');
    expect(info.code, info.log.join('\n')).toBe(0);
    expect(done.code).toBe(0);
    expect(info.log.length).toBeLessThanOrEqual(50);

    const manifest = readZooManifest(zoo);
    const listed = body(await app.inject({ url: '/api/studies' })).studies.find((s: any) => s.name === 'tiny');
    expect(listed.counts.COMPLETE).toBe(3);
    expect(listed.optimizer).toBe('random');
    expect(listed.objectives.map((o: any) => o.name)).toEqual(manifest.tasks);
    const { trials } = body(await app.inject({ url: '/api/studies/tiny/trials' }));
    expect(trials.map((t: any) => t.state)).toEqual(['COMPLETE', 'COMPLETE', 'COMPLETE']);
    for (const t of trials) {
      expect(t.values).toHaveLength(manifest.tasks.length);
      for (const v of t.values) expect(v).toBeGreaterThanOrEqual(0), expect(v).toBeLessThanOrEqual(1);
    }
    // Zoo studies name the models by the zoo's tasks.
    const { trial } = body(await app.inject({ url: '/api/studies/tiny/trials/1' }));
    expect(trial.modelsFrom).toBe('zoo');
    expect(trial.coefficients.weight.models).toEqual(manifest.tasks);
    expect(trial.coefficients.weight.values.map((row: number[]) => row[0])).toEqual(trial.x);

    // Launching the same name again: the study exists now.
    const again = await app.inject({ method: 'POST', url: '/api/launch', payload: { config: tinyConfig('tiny') } });
    expect(again.statusCode).toBe(409);

    // Export a trial under the output root; a second export into it needs overwrite.
    const front = body(await app.inject({ url: '/api/studies/tiny/pareto' }));
    expect(front.trials.length).toBeGreaterThan(0);
    const pick = front.trials[0];
    const ex = await app.inject({ method: 'POST', url: `/api/studies/tiny/trials/${pick}/export`, payload: { out: 'exports/tiny-best' } });
    expect(ex.statusCode, ex.body).toBe(200);
    const res = body(ex);
    expect(res.out).toBe(path.join(fs.realpathSync(root), 'exports', 'tiny-best'));
    expect(res.files).toContain('mergekit_config.yml');
    expect(res.recipe).toContain('merge_method: task_arithmetic');
    expect(res.seconds).toBeGreaterThan(0);
    for (const f of res.files) expect(fs.existsSync(path.join(res.out, f)), f).toBe(true);
    const clash = await app.inject({ method: 'POST', url: `/api/studies/tiny/trials/${pick}/export`, payload: { out: 'exports/tiny-best' } });
    expect(clash.statusCode).toBe(409);
    expect(body(clash).error.code).toBe('IO_E_OUTPUT_EXISTS');
    expect(body(clash).error.message).toContain('"overwrite": true');
    const over = await app.inject({ method: 'POST', url: `/api/studies/tiny/trials/${pick}/export`, payload: { out: 'exports/tiny-best', overwrite: true } });
    expect(over.statusCode, over.body).toBe(200);
  });
});

describe('mergesearch serve', () => {
  it('refuses a non-loopback host without --token', () => {
    return new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['bin/mergesearch.js', 'serve', '--db', db, '--host', '0.0.0.0', '--port', '0'], { cwd: REPO_ROOT, env: { ...process.env, MERGESEARCH_TOKEN: '' } });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('close', (code) => {
        try {
          expect(code).toBe(2);
          expect(err).toContain('SERVER_E_TOKEN');
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  });

  it('prints its URL and answers the API', async () => {
    const child = spawn(process.execPath, ['bin/mergesearch.js', 'serve', '--db', db, '--port', '0', '--token', 'tok', '--out-root', root], { cwd: REPO_ROOT });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /(http:\/\/127\.0\.0\.1:\d+\/\?token=tok)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('close', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
      });
      const base = url.replace(/\/\?token=tok$/, '');
      const r = await fetch(`${base}/api/studies`, { headers: { authorization: 'Bearer tok' } });
      expect(r.status).toBe(200);
      const names = ((await r.json()) as { studies: Array<{ name: string }> }).studies.map((s) => s.name);
      expect(names).toContain('demo');
      expect((await fetch(`${base}/api/studies`)).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.on('close', resolve));
    }
  });
});
