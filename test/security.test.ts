// Security and hardening (issue 12), in one file a reviewer can read top to bottom. Each test
// failed before its fix.
//  - the report server decides protection from the matched route: no spelling of a URL (percent-
//    encoded segments, doubled slashes, `..`, mixed case, absolute-form request targets) reaches
//    the API without the token, and a token-less server answers only Host headers naming its
//    listen address (trailing dots, other names and ports refused);
//  - launching a study scored by shell commands is opt-in (--allow-command-launch), and launches
//    are limited in number;
//  - API errors name what the caller sent, not the server's paths or other studies; the page's
//    files are answered once; a bad --host or an unresolvable one is a coded error, no stack;
//  - FIFOs, /dev/zero and link loops as model paths are coded errors before anything is opened;
//    IO_E_HEADER shows header bytes escaped;
//  - trial pages are bounded and served from a cache that another process's write invalidates;
//  - a stale heartbeat means a dead worker whatever its pid says, a waiting worker says what it
//    waits for (clock injected), two first --resume runs both resume, one Ctrl-C exits 130;
//  - the report page escapes objective names in plot titles.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MergeSearchError } from '../src/errors.ts';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { SafetensorsFile } from '../src/io/safetensors-reader.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { recoverInterruptedTrials, runTrials, STALE_HEARTBEAT_MS, workerIsDead } from '../src/search/loop.ts';
import type { Optimizer } from '../src/search/optimizer.ts';
import { runStudy } from '../src/search/run-study.ts';
import { readStudyConfig } from '../src/search/study-config.ts';
import { buildApp, type ReportApp } from '../src/server/app.ts';
import { checkServeHost, isLoopbackHost } from '../src/server/auth.ts';
import { PageCache } from '../src/server/page-cache.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../src/server/routes/trials.ts';
import { StudyStore } from '../src/study/index.ts';
import { expectCode, rawSafetensors } from './helpers/io-tmp.ts';
import { SyntheticProblem } from './helpers/synthetic-problem.ts';
import { REPO_ROOT, runCli, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';
import { contextFor } from './helpers/optimizer-context.ts';

const TOKEN = 'sec-token-41';
let root: string;
let db: string;

function body<T = any>(r: { body: string }): T {
  return JSON.parse(r.body) as T;
}

/** A config that scores with a shell command (which would create MARKER in the output root). */
function commandConfig(name: string): string {
  return `name: ${name}
checkpoints: {base: models/base, experts: [models/e1, models/e2]}
space: {method: task_arithmetic, granularity: task, parameters: {weight: {low: 0, high: 1}}}
objectives:
  - {name: pwned, command: "touch MARKER; echo '{\\"pwned\\": 1}'", direction: maximize}
optimizer: random
budget: {trials: 1}
`;
}

/** Send one raw HTTP/1.1 request on a fresh loopback socket; the status code and body. */
function rawRequest(port: number, requestLine: string, host: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`${requestLine}\r\n${host === null ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`);
    });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (out += d));
    s.on('error', reject);
    s.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
      resolve({ status, body: out.slice(out.indexOf('\r\n\r\n') + 4) });
    });
  });
}

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-sec-'));
  db = path.join(root, 'studies.db');
  const store = StudyStore.open(db);
  const s = store.createStudy({
    name: 'demo',
    config: {},
    backend: 'cpu',
    seed: 0,
    optimizer: 'random',
    objectives: [{ name: 'acc', direction: 'maximize' }],
  });
  for (let i = 0; i < 3; i++) {
    const t = store.createTrial(s.id, { state: 'RUNNING', worker: 'w', x: [i / 4] });
    store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [i / 10] });
  }
  store.createStudy({ name: 'private-other', config: {}, backend: 'cpu', seed: 0, optimizer: 'grid', objectives: [{ name: 'x', direction: 'maximize' }] });
  store.close();
  for (const d of ['models/base', 'models/e1', 'models/e2']) fs.mkdirSync(path.join(root, d), { recursive: true });
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('the token cannot be bypassed by spelling the URL differently', () => {
  let app: ReportApp;
  beforeAll(async () => {
    app = await buildApp({ db, outputRoot: root, token: TOKEN });
  });
  afterAll(async () => {
    await app.close();
  });

  const SPELLINGS = [
    '/api/studies',
    '/%61pi/studies',
    '/ap%69/studies',
    '/%61%70%69/studies',
    '/api/%73tudies',
    '/api/studies/%64emo/trials',
    '//api/studies',
    '/api//studies',
    '/API/studies',
    '/Api/Studies',
    '/x/../api/studies',
    '/api/./studies',
    '/%2e%2e/api/studies',
    '/api/studies/demo/trials.csv',
    '/api/studies/demo/trials/0',
    '/api/studies/demo/pareto',
    '/api/studies/demo/recommendation',
    '/api/studies/demo/importance',
    '/api/studies/demo/compare',
    '/api/launch',
    '/api/nothing',
  ];

  it('every spelling of an API path is refused without the token (401) or unknown (404), and leaks no study', async () => {
    for (const url of SPELLINGS) {
      for (const headers of [{}, { host: 'localhost:80' }, { host: 'evil.example' }]) {
        const r = await app.inject({ url, headers });
        expect([401, 404], `${url} ${JSON.stringify(headers)}`).toContain(r.statusCode);
        expect(r.body, url).not.toContain('"studies"');
        expect(r.body, url).not.toContain('"trials"');
        expect(r.body, url).not.toContain('private-other');
      }
    }
    // With the token, the plain spelling and the encoded ones reach the API (decoding is the router's).
    for (const url of ['/api/studies', '/%61pi/studies']) {
      const ok = await app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.statusCode, url).toBe(200);
      expect(body(ok).studies.map((s: any) => s.name)).toEqual(['demo', 'private-other']);
    }
  });

  it('POST /%61pi/launch with a command objective is refused before anything runs', async () => {
    for (const url of ['/%61pi/launch', '/ap%69/launch', '/api/launch', '/API/launch', '//api/launch']) {
      const r = await app.inject({ method: 'POST', url, payload: { config: commandConfig('pwn') } });
      expect([401, 404], url).toContain(r.statusCode);
    }
    expect(app.ctx.launches.list()).toEqual([]);
    expect(fs.existsSync(path.join(root, 'launches'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'MARKER'))).toBe(false);
  });

  it('the page and the plotting library stay public; nothing else is', async () => {
    expect((await app.inject({ url: '/' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/report/main.js' })).statusCode).toBe(200);
    // Every module of the page, without the token, as JavaScript.
    for (const f of fs.readdirSync(path.join(REPO_ROOT, 'src/server/public/report'))) {
      const r = await app.inject({ url: `/report/${f}` });
      expect(r.statusCode, f).toBe(200);
      expect(r.headers['content-type'], f).toBe('text/javascript; charset=utf-8');
    }
    expect((await app.inject({ url: '/vendor/plotly.min.js', method: 'HEAD' })).statusCode).toBe(200);
    // A method no route has (outside /api/) is still guarded, then unknown.
    expect((await app.inject({ method: 'POST', url: '/report/main.js' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'DELETE', url: '/', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(404);
  });

  it('absolute-form request targets over a real socket are guarded too', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as net.AddressInfo).port;
    for (const target of [`http://127.0.0.1:${port}/api/studies`, 'http://evil.example/api/studies', `http://localhost:${port}/%61pi/studies`, 'HTTP://EVIL/API/studies']) {
      const r = await rawRequest(port, `GET ${target} HTTP/1.1`, `127.0.0.1:${port}`);
      expect([401, 404], target).toContain(r.status);
      expect(r.body, target).not.toContain('"studies"');
    }
  });
});

describe('without a token, only Host headers naming the listen address are answered', () => {
  let app: ReportApp;
  let port: number;
  beforeAll(async () => {
    app = await buildApp({ db, outputRoot: root, host: '127.0.0.1' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
  });

  it('accepts 127.0.0.1:PORT and localhost:PORT (any case); refuses other names, trailing dots, other ports, no Host', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`]) {
      const r = await rawRequest(port, 'GET /api/studies HTTP/1.1', host);
      expect(r.status, host).toBe(200);
    }
    const refused = [
      `evil.example:${port}`,
      `localhost.:${port}`,
      `127.0.0.1.:${port}`,
      `evil.localhost:${port}`,
      `localhost.evil.example:${port}`,
      `127.0.0.2:${port}`,
      `[::1]:${port}`,
      `127.0.0.1:${port + 1}`,
      '127.0.0.1',
      `127.0.0.1:${port}@evil.example`,
      null,
    ];
    for (const host of refused) {
      for (const target of ['/api/studies', '/%61pi/studies', `http://127.0.0.1:${port}/api/studies`, '/x/../api/studies']) {
        const r = await rawRequest(port, `GET ${target} HTTP/1.1`, host);
        // 400: node refuses an HTTP/1.1 request without Host before any route runs.
        expect([400, 403, 404], `${target} Host: ${host}`).toContain(r.status);
        expect(r.body).not.toContain('"studies"');
      }
    }
    const r = await rawRequest(port, 'GET /api/studies HTTP/1.1', `evil.example:${port}`);
    expect(r.status).toBe(403);
    expect(body(r).error.code).toBe('SERVER_E_AUTH');
    expect(body(r).error.message).toContain(`127.0.0.1:${port}`);
  });
});

describe('launching command-scored studies is opt-in, and launches are limited', () => {
  const stub = () => {
    // Stands in for bin/mergesearch.js: runs until SIGTERM (the server's shutdown), so the launch
    // stays "running" for as long as the test needs, with no timing involved.
    const file = path.join(root, 'stub-search.mjs');
    fs.writeFileSync(file, "process.on('SIGTERM', () => process.exit(0));\nsetInterval(() => {}, 1 << 30);\n");
    return file;
  };

  it('is refused with SERVER_E_COMMAND by default, before anything is written or started', async () => {
    const app = await buildApp({ db, outputRoot: root, bin: stub() });
    try {
      const r = await app.inject({ method: 'POST', url: '/api/launch', payload: { config: commandConfig('cmd') } });
      expect(r.statusCode).toBe(403);
      expect(body(r).error.code).toBe('SERVER_E_COMMAND');
      expect(body(r).error.message).toContain('--allow-command-launch');
      expect(body(r).error.message).toContain('"pwned"');
      expect(app.ctx.launches.list()).toEqual([]);
      expect(fs.existsSync(path.join(root, 'launches'))).toBe(false);
    } finally {
      await app.close();
    }
  });

  it('starts with --allow-command-launch, up to --max-launches at once (429 beyond)', async () => {
    const app = await buildApp({ db, outputRoot: root, bin: stub(), allowCommandLaunch: true, maxLaunches: 1 });
    try {
      const first = await app.inject({ method: 'POST', url: '/api/launch', payload: { config: commandConfig('cmd-a') } });
      expect(first.statusCode, first.body).toBe(202);
      const second = await app.inject({ method: 'POST', url: '/api/launch', payload: { config: commandConfig('cmd-b') } });
      expect(second.statusCode).toBe(429);
      expect(body(second).error.code).toBe('SERVER_E_LAUNCH');
      expect(body(second).error.message).toContain('--max-launches 1');
      expect(app.ctx.launches.list().map((l) => l.study)).toEqual(['cmd-a']);
    } finally {
      await app.close();
    }
    fs.rmSync(path.join(root, 'launches'), { recursive: true, force: true });
  });
});

describe('API errors name what the caller sent, nothing of the server', () => {
  let app: ReportApp;
  beforeAll(async () => {
    app = await buildApp({ db, outputRoot: root });
  });
  afterAll(async () => {
    await app.close();
  });

  it('an unknown study names only itself; path errors and launch errors show no absolute server path', async () => {
    const real = fs.realpathSync(root);
    const r = await app.inject({ url: '/api/studies/nope/trials' });
    expect(r.statusCode).toBe(404);
    expect(body(r).error.code).toBe('STUDY_E_NOT_FOUND');
    expect(body(r).error.message).toContain('"nope"');
    const missingTrial = await app.inject({ url: '/api/studies/demo/trials/99' });
    expect(missingTrial.statusCode).toBe(404);
    const ex = await app.inject({ method: 'POST', url: '/api/studies/demo/trials/0/export', payload: { out: '../../etc/x' } });
    expect(ex.statusCode).toBe(400);
    const zoo = await app.inject({ method: 'POST', url: '/api/launch', payload: { config: 'name: z\nzoo: no-such-zoo\nspace: {method: task_arithmetic, granularity: task, parameters: {weight: {low: 0, high: 1}}}\nobjectives: {tasks: all, evaluator: accuracy}\noptimizer: random\nbudget: {trials: 1}\n' } });
    expect(zoo.statusCode).toBe(400);
    expect(body(zoo).error.message).toContain('no-such-zoo');
    for (const res of [r, missingTrial, ex, zoo]) {
      const msg = body(res).error.message as string;
      expect(msg).not.toContain('private-other');
      expect(msg).not.toContain(root);
      expect(msg).not.toContain(real);
      expect(msg).not.toContain(os.homedir() + path.sep);
    }
  });
});

describe('the page files are answered once', () => {
  it('a static file logs no "Reply was already sent"', async () => {
    const log = new PassThrough();
    let text = '';
    log.on('data', (d) => (text += d));
    const app = await buildApp({ db, outputRoot: root, logger: true, logStream: log });
    try {
      for (const url of ['/report/main.js', '/style.css', '/', '/missing.js']) {
        const r = await app.inject({ url });
        expect(r.statusCode, url).toBe(url === '/missing.js' ? 404 : 200);
      }
    } finally {
      await app.close();
    }
    expect(text).not.toContain('already sent');
  });
});

describe('serve --host', () => {
  it('trusts only loopback addresses and localhost (not *.localhost)', () => {
    for (const h of ['127.0.0.1', '127.3.2.1', '::1', '[::1]', 'localhost', 'LOCALHOST']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['evil.localhost', 'localhost.', 'localhost.evil.example', '0.0.0.0', '127.0.0.1.', '::', '10.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
    try {
      checkServeHost('evil.localhost', undefined);
      expect.unreachable();
    } catch (e) {
      expect((e as MergeSearchError).code).toBe('SERVER_E_TOKEN');
    }
  });

  const serve = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['bin/mergesearch.js', 'serve', '--db', db, '--port', '0', ...args], { cwd: REPO_ROOT, env: { ...process.env, MERGESEARCH_TOKEN: '' } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });

  it('evil.localhost without a token, and an unresolvable name with one, are coded errors without a stack', async () => {
    const [noToken, unresolvable] = await Promise.all([serve(['--host', 'evil.localhost']), serve(['--host', 'no-such-host.invalid', '--token', 't'])]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('SERVER_E_TOKEN');
    expect(unresolvable.code, unresolvable.stderr).toBe(2);
    expect(unresolvable.stderr).toContain('SERVER_E_LISTEN');
    expect(unresolvable.stderr).toContain('no-such-host.invalid');
    for (const r of [noToken, unresolvable]) expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});

describe('inputs that are not regular files or folders are refused before they are opened', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(root, 'inputs');
    fs.mkdirSync(dir, { recursive: true });
    writeHandCheckpoint(path.join(dir, 'good'), [{ name: 'w', shape: [2, 2] }]);
    // A checkpoint folder whose weights file is a FIFO: opening it for reading would block forever.
    fs.mkdirSync(path.join(dir, 'fifo-model'));
    execFileSync('mkfifo', [path.join(dir, 'fifo-model', 'model.safetensors')]);
    execFileSync('mkfifo', [path.join(dir, 'bare.fifo')]);
    fs.symlinkSync('loop-b', path.join(dir, 'loop-a'));
    fs.symlinkSync('loop-a', path.join(dir, 'loop-b'));
    fs.symlinkSync('nowhere', path.join(dir, 'dangling'));
  });

  it('a FIFO, /dev/zero, a FIFO inside a folder: IO_E_NOT_REGULAR naming what it is', () => {
    expectCode(() => Checkpoint.open(path.join(dir, 'bare.fifo')), 'IO_E_NOT_REGULAR', 'bare.fifo', 'FIFO');
    expectCode(() => Checkpoint.open('/dev/zero'), 'IO_E_NOT_REGULAR', '/dev/zero', 'character device');
    expectCode(() => Checkpoint.open(path.join(dir, 'fifo-model')), 'IO_E_NOT_REGULAR', 'model.safetensors', 'FIFO');
    expect(Checkpoint.open(path.join(dir, 'good')).tensors.has('w')).toBe(true);
  });

  it('`mergesearch merge` with a FIFO checkpoint exits 2 with the code, no hang and no stack', () => {
    const recipe = path.join(dir, 'fifo.yaml');
    fs.writeFileSync(recipe, `merge_method: task_arithmetic\nbase_model: ${path.join(dir, 'good')}\nmodels:\n  - model: ${path.join(dir, 'fifo-model')}\n    parameters: {weight: 1}\n`);
    // The timeout only bounds a regression (the old open() hung until killed).
    const r = runCli(['merge', recipe, '--out', path.join(dir, 'out')], 60_000);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('IO_E_NOT_REGULAR');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
  }, 90_000);

  it('a symbolic link loop is named as a loop (also from a recipe); a dangling link names its target', () => {
    const loop = expectCode(() => Checkpoint.open(path.join(dir, 'loop-a')), 'IO_E_LINK_LOOP', 'loop-a', 'loop-b');
    expect(loop.message).not.toContain('does not exist');
    const recipe = parseRecipe(`merge_method: linear\nmodels:\n  - model: ${path.join(dir, 'loop-a')}\n    parameters: {weight: 1}\n`, 'r.yaml');
    expect(recipe.models[0]!.path).toBe(path.join(dir, 'loop-a'));
    expectCode(() => Checkpoint.open(path.join(dir, 'dangling')), 'IO_E_NOT_FOUND', 'symbolic link', 'nowhere');
  });

  it('IO_E_HEADER quotes the header with terminal escapes escaped', () => {
    const file = path.join(dir, 'escape.safetensors');
    fs.writeFileSync(file, rawSafetensors('{"x": o\u001b[2J\u001b]0;pwned\u0007}'));
    const err = expectCode(() => SafetensorsFile.open(file), 'IO_E_HEADER', 'escape.safetensors');
    expect(err.message).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(err.message).toContain('\\x1b');
    const named = path.join(dir, 'name.safetensors');
    fs.writeFileSync(named, rawSafetensors({ 'evil\u001b[31m': { dtype: 'F32', shape: [1], data_offsets: [0, 3] } }, new Uint8Array(4)));
    const off = expectCode(() => SafetensorsFile.open(named), 'IO_E_OFFSETS', 'evil\\x1b[31m');
    expect(off.message).not.toContain('\u001b');
  });
});

describe('trial pages under load: bounded and cached', () => {
  it('refuses limit above 1000; the default page is 200 trials', async () => {
    const app = await buildApp({ db, outputRoot: root });
    try {
      expect((await app.inject({ url: '/api/studies/demo/trials?limit=1001' })).statusCode).toBe(400);
      expect((await app.inject({ url: '/api/studies/demo/trials?limit=1000' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
    expect(DEFAULT_LIMIT).toBe(200);
    expect(MAX_LIMIT).toBe(1000);
  });

  it('a page is built once while the database is unchanged, rebuilt after another process writes', async () => {
    const app = await buildApp({ db, outputRoot: root, pageMaxStaleMs: 0 });
    try {
      const url = '/api/studies/demo/trials?state=COMPLETE';
      const first = await app.inject({ url });
      const misses = app.ctx.pages.misses;
      const again = await app.inject({ url });
      expect(again.body).toBe(first.body);
      expect(app.ctx.pages.misses).toBe(misses);
      expect(app.ctx.pages.hits).toBeGreaterThanOrEqual(1);
      // Another connection (a running search) finishes a trial: the next answer has it.
      const store = StudyStore.open(db);
      try {
        const s = store.getStudy('demo');
        const t = store.createTrial(s.id, { state: 'RUNNING', worker: 'w', x: [0.9] });
        store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [0.99] });
      } finally {
        store.close();
      }
      const after = await app.inject({ url });
      expect(body(after).trials.map((t: any) => t.values[0])).toEqual([0, 0.1, 0.2, 0.99]);
      expect(app.ctx.pages.misses).toBe(misses + 1);
    } finally {
      await app.close();
    }
  });

  it('while writes keep coming, an answer is reused for maxStaleMs, then rebuilt (clock injected)', () => {
    let now = 1000;
    const cache = new PageCache(500, () => now);
    let builds = 0;
    const build = () => `body-${++builds}`;
    const get = (stamp: string) => cache.get('k', stamp, build).toString('utf8');
    expect(get('stamp-1')).toBe('body-1');
    now += 499;
    expect(get('stamp-2')).toBe('body-1');
    now += 1;
    expect(get('stamp-3')).toBe('body-2');
    // Unchanged database: reused however old.
    now += 60_000;
    expect(get('stamp-3')).toBe('body-2');
    expect(builds).toBe(2);
  });
});

describe('search liveness, resume races and Ctrl-C', () => {
  let dir: string;
  let configFile: string;
  beforeAll(() => {
    dir = path.join(root, 'search');
    for (const [name, v] of [['base', 0], ['e1', 1], ['e2', -1]] as const) {
      writeHandCheckpoint(path.join(dir, 'models', name), [{ name: 'layers.0.w', shape: [2], values: [v, v] }]);
    }
    fs.writeFileSync(path.join(dir, 'score.mjs'), "console.log(JSON.stringify({ s: 0.5 }));\n");
    configFile = path.join(dir, 'study.yaml');
    fs.writeFileSync(
      configFile,
      `name: raced
checkpoints: {base: models/base, experts: [models/e1, models/e2]}
space: {method: task_arithmetic, granularity: task, parameters: {weight: {low: 0, high: 1}}}
objectives:
  - {name: s, command: "node score.mjs {checkpoint}", direction: maximize}
optimizer: random
budget: {trials: 100000}
`,
    );
  });

  function waitingStudy(name: string) {
    const problem = new SyntheticProblem();
    const ctx = contextFor(problem.space, problem.objectives, { budget: 1 });
    const store = StudyStore.open(path.join(dir, `${name}.db`));
    const study = store.createStudy({ name, config: {}, backend: 'cpu', seed: 0, optimizer: 'waiter', objectives: ctx.objectives });
    // A trial left RUNNING by a worker "on this host" whose pid is alive but is not that worker
    // (the pid was reused after a reboot): this test runner's parent process.
    const t = store.createTrial(study.id, { state: 'RUNNING', worker: `${os.hostname()}:${process.ppid}`, x: [0.1, 0.2, 0.3] });
    return { problem, ctx, store, study, trial: t };
  }

  /** An optimizer that always waits for other workers (as NSGA-II does at a generation's end). */
  const waiter: Optimizer = {
    name: 'waiter',
    family: 'black-box',
    multiObjective: false,
    description: 'waits',
    settings: [],
    init: () => ({}),
    ask: () => ({ kind: 'wait' }),
    tell: (state) => state,
  };

  it('a stale heartbeat means dead even when the pid is alive (reused); a fresh one from a live pid does not', () => {
    const { store, study, trial } = waitingStudy('stale');
    try {
      const beat = trial.heartbeat!;
      expect(workerIsDead(trial.worker, beat, STALE_HEARTBEAT_MS, beat + 1000)).toBe(false);
      expect(workerIsDead(trial.worker, beat, STALE_HEARTBEAT_MS, beat + STALE_HEARTBEAT_MS)).toBe(true);
      expect(recoverInterruptedTrials(store, study, STALE_HEARTBEAT_MS, beat + 1000)).toEqual([]);
      const recovered = recoverInterruptedTrials(store, study, STALE_HEARTBEAT_MS, beat + STALE_HEARTBEAT_MS + 1);
      expect(recovered.map((t) => t.number)).toEqual([0]);
      expect(store.trials(study.id).map((t) => [t.number, t.state, t.retryOf])).toEqual([
        [0, 'FAIL', null],
        [1, 'WAITING', 0],
      ]);
    } finally {
      store.close();
    }
  });

  it('a waiting worker says what it waits for, then retries the trial once its heartbeat is stale (clock injected)', async () => {
    const { problem, ctx, store, study, trial } = waitingStudy('waiting');
    const lines: string[] = [];
    const stop = new AbortController();
    // Each look at the clock moves it 6 s on; a loop that never recovers is stopped after 40 looks
    // (about four simulated minutes), which fails the test instead of hanging it.
    let now = trial.heartbeat!;
    let looks = 0;
    const clock = () => {
      if (++looks > 40) stop.abort();
      return (now += 6000);
    };
    try {
      // Budget 2: the stuck trial and its retry (the interrupted one does not count). The run is
      // stopped once the retry is done (the waiter would wait on).
      const r = await runTrials({ store, study, problem, optimizer: waiter, ctx, budget: { trials: 2 }, log: (l) => lines.push(l), now: clock, signal: stop.signal, onTrial: () => stop.abort() });
      expect(r).toEqual({ reason: 'stopped', trials: 1 });
      expect(looks).toBeLessThan(40);
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines[0]).toContain(`waiting for trial(s) 0 (worker ${os.hostname()}:${process.ppid}, last heartbeat`);
      expect(lines[0]).toContain('no heartbeat for 30 s is retried here');
      const trials = store.trials(study.id);
      expect(trials.map((t) => [t.number, t.state, t.retryOf])).toEqual([
        [0, 'FAIL', null],
        [1, 'COMPLETE', 0],
      ]);
      expect(trials[1]!.x).toEqual([0.1, 0.2, 0.3]);
    } finally {
      store.close();
    }
  });

  it('two first `--resume` runs at once: both resume the one study, neither is told to use --resume', async () => {
    const db = path.join(dir, 'race.db');
    const config = readStudyConfig(configFile);
    // Both look for the study before either creates it (runStudy awaits between the two steps).
    const results = await Promise.allSettled([0, 1].map(() => runStudy({ config, configFile, db, resume: true, signal: AbortSignal.abort() })));
    for (const r of results) expect(r.status, r.status === 'rejected' ? String(r.reason) : '').toBe('fulfilled');
    const store = StudyStore.open(db, { readonly: true });
    try {
      expect(store.listStudies().map((s) => s.name)).toEqual(['raced']);
    } finally {
      store.close();
    }
  }, 60_000);

  it('one Ctrl-C stops `search` after its trial with exit code 130 and the --resume command', async () => {
    const db = path.join(dir, 'ctrlc.db');
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/mergesearch.js'), 'search', configFile, '--db', db], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      // The first finished trial's line: interrupt once.
      if (!sent && /trial\s+0\s/.test(d.toString())) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(sent, stderr).toBe(true);
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('--resume');
    expect(stderr).not.toMatch(/\n\s+at /);
  }, 90_000);
});

describe('the report page escapes objective names in plot titles', () => {
  it('axisTitle (every objective axis title) escapes HTML: plotly renders <a href> in titles as a live link', async () => {
    // The page's modules are plain browser JavaScript without types: imported by URL, untyped.
    const url = pathToFileURL(path.join(REPO_ROOT, 'src/server/public/report/format.js')).href;
    const { axisTitle } = (await import(url)) as { axisTitle: (o: { name: string; direction: string }) => string };
    expect(axisTitle({ name: '<a href="http://evil.example/">x</a>', direction: 'maximize' })).toBe('&lt;a href=&#34;http://evil.example/&#34;&gt;x&lt;/a&gt; (↑ max)');
  });
});

describe.skipIf(!fs.existsSync('/usr/bin/chromium'))('the report page escapes objective names in plot titles (headless Chromium)', () => {
  // Not run where /usr/bin/chromium is missing (CI installs it, as for report-browser.test.ts).
  it('an objective named <a href=...> shows as text in the axis titles, never as a link', async () => {
    const evilDb = path.join(root, 'evil.db');
    const store = StudyStore.open(evilDb);
    const LINK = '<a href="http://evil.example/">click</a>';
    const s = store.createStudy({
      name: 'evil',
      config: {},
      backend: 'cpu',
      seed: 0,
      optimizer: 'random',
      objectives: [
        { name: LINK, direction: 'maximize' },
        { name: '<b>bold</b>', direction: 'minimize' },
        { name: 'third', direction: 'minimize' },
      ],
    });
    for (let i = 0; i < 3; i++) {
      const t = store.createTrial(s.id, { state: 'RUNNING', worker: 'w', x: [i] });
      store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [i, 2 - i, i % 2] });
    }
    store.close();
    const app = await buildApp({ db: evilDb, outputRoot: root, token: TOKEN });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as net.AddressInfo).port;
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}&study=evil`);
      await page.waitForFunction(() => document.body.dataset.ready === 'true' && document.querySelectorAll('#pareto-plot .xtitle').length > 0, undefined, { timeout: 30_000 });
      const found = await page.evaluate(() => ({
        links: [...document.querySelectorAll('.js-plotly-plot a')].map((a) => a.getAttribute('href') ?? (a as Element).getAttribute('xlink:href')),
        bold: document.querySelectorAll('.js-plotly-plot .xtitle b, .js-plotly-plot .ytitle b').length,
        titles: [...document.querySelectorAll('#pareto-plot .xtitle, #pareto-plot .ytitle')].map((e) => e.textContent),
      }));
      expect(found.links.filter((h) => h?.includes('evil.example'))).toEqual([]);
      expect(found.bold).toBe(0);
      // The first two objectives are plotted by default; their names show as typed.
      expect(found.titles.join(' ')).toContain(`${LINK} (↑ max)`);
      expect(found.titles.join(' ')).toContain('<b>bold</b> (↓ min)');
    } finally {
      await browser.close();
      await app.close();
    }
  }, 90_000);
});
