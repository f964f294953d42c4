// npm run bench:server [-- --trials 2000 --requests 600 --concurrency 50 --write-every 100]
// The report server under load, on loopback only: a study of --trials trials (64 coefficients and
// three objectives each, about the size of a layer-wise search), a second process adding a trial
// every --write-every ms (a running search), and --concurrency clients sending --requests requests
// per route over keep-alive connections. For each route: requests per second and the p50/p99
// latency; the baseline is a trivial route (`{ok: true}`) measured in the same run on the same
// server, so the ratio shows what the route itself costs on this machine.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../../src/server/app.ts';
import { StudyStore } from '../../src/study/index.ts';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const TRIALS = arg('--trials', 2000);
const REQUESTS = Math.min(arg('--requests', 600), 20_000);
const CONCURRENCY = Math.min(arg('--concurrency', 50), 500);
const WRITE_EVERY = arg('--write-every', 100);
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
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function get(p: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent, headers: { host: `127.0.0.1:${port}` } }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes, status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
  });
}

async function load(p: string): Promise<{ rps: number; p50: number; p99: number; bytes: number; errors: number }> {
  const lat: number[] = [];
  let next = 0;
  let bytes = 0;
  let errors = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        next++;
        const r = await get(p);
        lat.push(r.ms);
        bytes = r.bytes;
        if (r.status !== 200) errors++;
      }
    }),
  );
  const seconds = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!;
  return { rps: REQUESTS / seconds, p50: q(0.5), p99: q(0.99), bytes, errors };
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
let baseline = 0;
for (const [label, p] of routes) {
  const r = await load(typeof p === 'string' ? p : p());
  if (baseline === 0) baseline = r.rps;
  console.log(`${label.padEnd(38)} ${r.rps.toFixed(0).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.bytes).padStart(9)} ${String(r.errors).padStart(6)}   ${(r.rps / baseline).toFixed(2)}× baseline`);
}
writer.stdin.end();
await new Promise((r) => writer.on('close', r));
const pages = (app.ctx as { pages?: { hits: number; misses: number } }).pages;
console.log(`\nthe writer added ${written.trim()} trials during the run${pages ? `; page cache: ${pages.hits} hits, ${pages.misses} misses` : ''}`);
agent.destroy();
await app.close();
fs.rmSync(tmp, { recursive: true, force: true });
