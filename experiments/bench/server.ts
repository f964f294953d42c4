// npm run bench:server [-- --trials 2000 --requests 400 --concurrency 50 --write-every 250]
// The report server under load, on loopback only: a study of --trials trials (64 coefficients and
// three objectives each, about the size of a layer-wise search), a second process adding a trial
// every --write-every ms (a running search), and --concurrency clients sending --requests requests
// per route over keep-alive connections. For each route: requests per second and the p50/p99
// latency; the baseline is a trivial route (`{ok: true}`) measured in the same run on the same
// server, so the ratio shows what the route itself costs on this machine.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildApp } from '../../src/server/app.ts';
import { StudyStore } from '../../src/study/index.ts';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const TRIALS = arg('--trials', 2000);
const REQUESTS = Math.min(arg('--requests', 400), 20_000);
const CONCURRENCY = Math.min(arg('--concurrency', 50), 500);
const WRITE_EVERY = arg('--write-every', 250);
const DIM = 64;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-server-'));
const db = path.join(tmp, 'bench.db');
{
  const store = StudyStore.open(db);
  const s = store.createStudy({
    name: 'bench',
    config: {},
    backend: 'cpu',
    seed: 0,
    optimizer: 'random',
    objectives: [
      { name: 'acc', direction: 'maximize' },
      { name: 'loss', direction: 'minimize' },
      { name: 'size', direction: 'minimize' },
    ],
  });
  store.transaction(() => {
    for (let n = 0; n < TRIALS; n++) {
      const t = store.createTrial(s.id, { state: 'RUNNING', worker: 'bench', x: Array.from({ length: DIM }, (_, i) => Math.sin(n * 31 + i)) });
      store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [Math.abs(Math.sin(n)), Math.abs(Math.cos(n)), (n % 13) / 13] });
    }
  });
  store.close();
}

const app = await buildApp({ db, outputRoot: tmp });
app.get('/bench/trivial', { config: { public: true } }, async () => ({ ok: true }));
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as AddressInfo).port;
// The clients run on a worker thread, so that reading the answers (megabytes per second) does not
// compete with the server for its event loop.
const CLIENT = `
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
parentPort.on('message', async ({ port, path, requests, concurrency }) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const get = () => new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers: { host: '127.0.0.1:' + port } }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes, status: res.statusCode }));
    });
    req.on('error', reject);
  });
  const lat = [];
  let next = 0, bytes = 0, errors = 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < requests) {
      next++;
      const r = await get();
      lat.push(r.ms);
      bytes = r.bytes;
      if (r.status !== 200) errors++;
    }
  }));
  agent.destroy();
  parentPort.postMessage({ lat, bytes, errors, seconds: (Date.now() - t0) / 1000 });
});
`;
const client = new Worker(CLIENT, { eval: true });

async function load(p: string, requests = REQUESTS): Promise<{ rps: number; p50: number; p99: number; bytes: number; errors: number }> {
  const r = await new Promise<{ lat: number[]; bytes: number; errors: number; seconds: number }>((resolve) => {
    client.once('message', resolve);
    client.postMessage({ port, path: p, requests, concurrency: CONCURRENCY });
  });
  const lat = r.lat.sort((a, b) => a - b);
  const q = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!;
  return { rps: requests / r.seconds, p50: q(0.5), p99: q(0.99), bytes: r.bytes, errors: r.errors };
}

const writer = spawn(process.execPath, ['--import', 'tsx', path.join(path.dirname(fileURLToPath(import.meta.url)), 'server-writer.ts'), db, 'bench', String(WRITE_EVERY), String(DIM)], { stdio: ['pipe', 'pipe', 'inherit'] });
let written = '';
writer.stdout.on('data', (d) => (written += d));

// The cursor poll asks for what is newer than 10 trials before the current last one, as a page
// polling every 2 s would.
const lastNumber = () => {
  const store = StudyStore.open(db, { readonly: true });
  try {
    return store.countTrials(store.getStudy('bench').id) - 1;
  } finally {
    store.close();
  }
};
const routes: Array<[string, string | (() => string)]> = [
  ['trivial route (baseline)', '/bench/trivial'],
  ['trials, first page (default limit)', '/api/studies/bench/trials'],
  ['trials, limit=1000', '/api/studies/bench/trials?limit=1000'],
  ['trials, poll from a cursor', () => `/api/studies/bench/trials?after=${lastNumber() - 10}`],
  ['trials.csv', '/api/studies/bench/trials.csv'],
  ['pareto (2 objectives)', '/api/studies/bench/pareto?objectives=acc,loss'],
  ['study list', '/api/studies'],
];
console.log(`report server on 127.0.0.1, study of ${TRIALS} trials (${DIM} coefficients), a writer adding a trial every ${WRITE_EVERY} ms; ${REQUESTS} requests per route, ${CONCURRENCY} at once\n`);
console.log(`${'route'.padEnd(38)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'bytes'.padStart(9)} ${'errors'.padStart(6)}`);
// Warm up (JIT, connections) on the trivial route, unmeasured; the baseline is measured again at
// the end and the faster of the two is used, so machine noise does not favour the routes.
await load('/bench/trivial', 200);
const row = (label: string, r: Awaited<ReturnType<typeof load>>, baseline: number) =>
  `${label.padEnd(38)} ${r.rps.toFixed(0).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.bytes).padStart(9)} ${String(r.errors).padStart(6)}   ${(r.rps / baseline).toFixed(2)}× baseline`;
const measured: Array<[string, Awaited<ReturnType<typeof load>>]> = [];
for (const [label, p] of routes) measured.push([label, await load(typeof p === 'string' ? p : p())]);
measured.push(['trivial route again (baseline)', await load('/bench/trivial')]);
const baseline = Math.max(measured[0]![1].rps, measured[measured.length - 1]![1].rps);
for (const [label, r] of measured) console.log(row(label, r, baseline));
writer.stdin.end();
await new Promise((r) => writer.on('close', r));
const pages = (app.ctx as { pages?: { hits: number; misses: number } }).pages;
console.log(`\nthe writer added ${written.trim()} trials during the run${pages ? `; page cache: ${pages.hits} hits, ${pages.misses} misses` : ''}`);
await client.terminate();
await app.close();
fs.rmSync(tmp, { recursive: true, force: true });
