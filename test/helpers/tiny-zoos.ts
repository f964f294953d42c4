// The tiny zoos the tests share, built once and cached across files and runs instead of once per
// test file (a tiny mnist8 takes about 20 s to build on a quiet core, a tiny skills4 minutes; nine
// files used to build them in their own beforeAll, which also overran vitest's hook timeout on a
// loaded machine).
//
// Cache: one folder per zoo under $MERGESEARCH_TEST_ZOO_CACHE (default: <os tmpdir>/mergesearch-
// test-zoos), named by a hash of everything the build depends on: the build options, the source of
// every module the builder imports (followed through relative imports from src/zoo/<family>.ts),
// this file's build script and package-lock.json (the mnist data and tfjs versions). A change to
// any of them gives a new folder, so a stale zoo is never used. Concurrent test files (and
// concurrent runs) coordinate through a lock folder created with mkdir, which is atomic: the holder
// builds in a child process into a private folder and renames it into place, so a reader never sees
// a half-written zoo; the others wait for the folder to appear. A lock left by a process that died
// is taken over.
//
// Tests copy the cached zoo into their own temporary folder (copyTinyZoo), so nothing a test writes
// can reach another test.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const BUILD_SCRIPT = path.join(here, 'build-tiny-zoo.ts');
/** Bump to invalidate every cached zoo when the cache layout itself changes. */
const CACHE_FORMAT = 1;

export interface TinyZooSpec {
  family: 'mnist8' | 'skills4';
  seed: number;
  /** Training steps override (skills4 only), as buildSkills4's `steps`. */
  steps?: { base: number; experts: number };
}

/** The tiny mnist8 zoo most tests use. */
export const TINY_MNIST8: TinyZooSpec = { family: 'mnist8', seed: 1 };
/** The tiny skills4 zoo with few training steps: distinct experts, not good ones (search-lm). */
export const TINY_SKILLS4_FAST: TinyZooSpec = { family: 'skills4', seed: 2, steps: { base: 40, experts: 20 } };
/** The tiny skills4 zoo with its full tiny training plan (zoo-skills4 checks the experts learn). */
export const TINY_SKILLS4: TinyZooSpec = { family: 'skills4', seed: 1 };

export function zooCacheRoot(): string {
  return process.env.MERGESEARCH_TEST_ZOO_CACHE || path.join(os.tmpdir(), 'mergesearch-test-zoos');
}

/** Relative imports of a TypeScript module (packages are covered by package-lock.json). */
function relativeImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(path.resolve(path.dirname(file), m[1]!));
  return out;
}

/** Every source file reachable from `entry` through relative imports, sorted. */
export function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (seen.has(f) || !fs.existsSync(f)) continue;
    seen.add(f);
    if (/\.[cm]?[jt]s$/.test(f)) stack.push(...relativeImports(f));
  }
  return [...seen].sort();
}

/** The cache key of a spec: a hash of the options and of every input of the build. */
export function tinyZooKey(spec: TinyZooSpec): string {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify({ CACHE_FORMAT, spec, node: process.versions.node.split('.')[0] }));
  const files = [...importClosure(path.join(repoRoot, 'src', 'zoo', `${spec.family}.ts`)), ...importClosure(BUILD_SCRIPT), path.join(repoRoot, 'package-lock.json')];
  for (const f of [...new Set(files)].sort()) {
    h.update(`\0${path.relative(repoRoot, f)}\0`);
    h.update(fs.readFileSync(f));
  }
  const steps = spec.steps ? `-steps${spec.steps.base}x${spec.steps.experts}` : '';
  return `${spec.family}-tiny-seed${spec.seed}${steps}-${h.digest('hex').slice(0, 16)}`;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const run = promisify(execFile);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The folder `root/name`, made by `build(out)` the first time any process asks (later calls,
 * concurrent ones included, return it as is). `build` writes into a private folder that is renamed
 * into place when it succeeds, under a lock folder (mkdir is atomic) naming the holder's pid and
 * host; a lock whose holder died on this host is taken over.
 */
export async function cachedFolder(root: string, name: string, build: (out: string) => Promise<void>, o: { pollMs?: number } = {}): Promise<string> {
  fs.mkdirSync(root, { recursive: true });
  const final = path.join(root, name);
  const lock = `${final}.lock`;
  const owner = path.join(lock, 'owner.json');
  for (;;) {
    if (fs.existsSync(final)) return final;
    try {
      fs.mkdirSync(lock);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // Someone else builds it: wait, unless the builder died (same host; its pid is gone).
      let holder: { pid?: number; host?: string } = {};
      try {
        holder = JSON.parse(fs.readFileSync(owner, 'utf8')) as typeof holder;
      } catch {
        // the owner file is written right after the mkdir; not there yet
      }
      if (holder.pid !== undefined && holder.host === os.hostname() && !processAlive(holder.pid)) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      await pause(o.pollMs ?? 500);
      continue;
    }
    try {
      fs.writeFileSync(owner, JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() }));
      if (!fs.existsSync(final)) {
        const partial = `${final}.partial-${process.pid}`;
        fs.rmSync(partial, { recursive: true, force: true });
        try {
          await build(partial);
          fs.renameSync(partial, final);
        } finally {
          fs.rmSync(partial, { recursive: true, force: true });
        }
      }
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

/**
 * The folder of the cached tiny zoo for `spec`, building it first when no run has yet. Treat it as
 * read-only (copy it with copyTinyZoo to write beside it).
 */
export function cachedTinyZoo(spec: TinyZooSpec): Promise<string> {
  // A child process: the build's tfjs state and memory stay out of the test worker.
  return cachedFolder(zooCacheRoot(), tinyZooKey(spec), async (out) => {
    await run(process.execPath, ['--import', 'tsx', BUILD_SCRIPT, JSON.stringify(spec), out], { cwd: repoRoot, maxBuffer: 64 << 20 });
  });
}

/** Copy the cached tiny zoo for `spec` to `dest` (which must not exist yet); returns dest. */
export async function copyTinyZoo(spec: TinyZooSpec, dest: string): Promise<string> {
  const src = await cachedTinyZoo(spec);
  fs.cpSync(src, dest, { recursive: true, errorOnExist: true, force: false });
  return dest;
}
