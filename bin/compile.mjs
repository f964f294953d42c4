#!/usr/bin/env node
// `npm run build` (and `prepare`, which npm runs on `npm install` / `npm ci` in a clone): compile
// src/ and evaluators/ to dist/ so that bin/mergesearch.js starts without transpiling TypeScript.
// The stamp it writes last says when the compiled sources were read; bin/mergesearch.js runs the
// compiled code only while no .ts file under src/ or evaluators/ is newer than that.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const stamp = path.join(dist, 'build-stamp.json');

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // An install without dev dependencies: no compiler, so the CLI runs through tsx (slower start).
  process.stderr.write('mergesearch: typescript is not installed, so dist/ is not built; the CLI runs the TypeScript sources through tsx\n');
  process.exit(0);
}

const started = new Date();
fs.rmSync(dist, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) {
  // A half-built dist/ without its stamp is never run; say so and fail the build.
  process.stderr.write('mergesearch: compiling to dist/ failed; the CLI runs the TypeScript sources through tsx until `npm run build` succeeds\n');
  process.exit(r.status ?? 1);
}
// Worker-thread entry points are plain .mjs files that tsc does not copy: put each beside the
// compiled modules it starts (pg-thread.mjs, the scoring workers' entry), or the threads cannot load.
const copyMjs = (dir) => {
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) copyMjs(rel);
    else if (e.name.endsWith('.mjs')) fs.copyFileSync(path.join(root, rel), path.join(dist, rel));
  }
};
copyMjs('src');
fs.writeFileSync(stamp, JSON.stringify({ built: started.toISOString() }) + '\n');
// The stamp's time is when compiling began: a source saved during the build counts as newer.
fs.utimesSync(stamp, started, started);
