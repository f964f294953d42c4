// npm run bench:startup [-- --runs 7]
// How long a CLI call takes before it does any work: `mergesearch --help` through the compiled
// dist/ (what `npm install` builds), the same through tsx (the TypeScript sources, as before dist/
// existed), and `export --help` (a verb's own help), each beside `node -e 0` — node's own start on
// this machine, measured in the same run, interleaved, so a loaded machine slows all alike.
// Prints the median wall time of each and its ratio to node's start.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const RUNS = args.includes('--runs') ? Number(args[args.indexOf('--runs') + 1]) : 7;
const bin = path.join(root, 'bin', 'mergesearch.js');

if (!fs.existsSync(path.join(root, 'dist', 'build-stamp.json'))) {
  process.stderr.write('dist/ is not built: run `npm run build` first\n');
  process.exit(2);
}

const cases: Array<{ name: string; args: string[]; env?: Record<string, string> }> = [
  { name: 'node -e 0 (baseline)', args: ['-e', '0'] },
  { name: 'mergesearch --help (dist)', args: [bin, '--help'] },
  { name: 'mergesearch export --help (dist)', args: [bin, 'export', '--help'] },
  { name: 'mergesearch --help (tsx)', args: [bin, '--help'], env: { MERGESEARCH_FROM_SOURCE: '1' } },
];

const times = cases.map(() => [] as number[]);
for (let r = 0; r < RUNS; r++) {
  cases.forEach((c, i) => {
    const t0 = process.hrtime.bigint();
    const out = spawnSync(process.execPath, c.args, { cwd: root, env: { ...process.env, ...c.env }, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (out.status !== 0) throw new Error(`${c.name} exited ${out.status}: ${out.stderr}`);
    times[i]!.push(ms);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(times[0]!);
process.stdout.write(`start-up, median of ${RUNS} runs (interleaved)\n`);
cases.forEach((c, i) => {
  const m = median(times[i]!);
  process.stdout.write(`${c.name.padEnd(36)} ${m.toFixed(0).padStart(6)} ms  ${(m / base).toFixed(2)}× node's start  (+${(m - base).toFixed(0)} ms)\n`);
});
