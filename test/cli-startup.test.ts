// Start-up: bin/mergesearch.js runs dist/ only while it is current with the sources, and the
// command line's own modules load no heavy package (tfjs, fastify, SQLite) before a verb runs —
// which is what keeps `--help` and argument errors fast (timed in `npm run bench:startup`).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the bin folder, without type declarations
import { compiledIsCurrent } from '../bin/compiled-is-current.mjs';
import { MLP_ARCHITECTURE } from '../src/models/mlp-classifier.ts';
import { PACKAGE_ROOT, packagePath } from '../src/package-root.ts';
import { FAMILY_CARDS } from '../src/zoo/catalog.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { REPO_ROOT } from './helpers/recipe-fixtures.ts';

const isCurrent = compiledIsCurrent as (root: string) => boolean;

/** The .ts and .mjs files under a folder of the repository (relative paths). */
const sources = (dir: string): string[] =>
  fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') || e.name.endsWith('.mjs') ? [path.join(dir, e.name)] : []));

describe('bin/mergesearch.js: compiled or sources', () => {
  let cleanup = () => {};
  afterEach(() => cleanup());

  function fakeRoot(): string {
    const t = makeTmp('mergesearch-bin-');
    cleanup = t.cleanup;
    fs.mkdirSync(path.join(t.dir, 'src', 'cli'), { recursive: true });
    fs.mkdirSync(path.join(t.dir, 'evaluators'));
    fs.writeFileSync(path.join(t.dir, 'src', 'cli', 'main.ts'), '');
    fs.writeFileSync(path.join(t.dir, 'evaluators', 'index.ts'), '');
    return t.dir;
  }
  const at = (file: string, seconds: number) => fs.utimesSync(file, seconds, seconds);

  it('no dist/ stamp: the sources run', () => {
    const root = fakeRoot();
    expect(isCurrent(root)).toBe(false);
    fs.mkdirSync(path.join(root, 'dist'));
    expect(isCurrent(root)).toBe(false);
  });

  it('a stamp newer than every .ts file: dist/ runs; one source saved later: the sources run', () => {
    const root = fakeRoot();
    fs.mkdirSync(path.join(root, 'dist'));
    const stamp = path.join(root, 'dist', 'build-stamp.json');
    fs.writeFileSync(stamp, '{}');
    at(path.join(root, 'src', 'cli', 'main.ts'), 1_000_000);
    at(path.join(root, 'evaluators', 'index.ts'), 1_000_000);
    at(stamp, 2_000_000);
    expect(isCurrent(root)).toBe(true);
    // equal times (npm pack sets every file to one date) still count as current
    at(path.join(root, 'src', 'cli', 'main.ts'), 2_000_000);
    expect(isCurrent(root)).toBe(true);
    // a file that is not compiled (a report page asset) does not make dist/ stale
    fs.writeFileSync(path.join(root, 'src', 'style.css'), '');
    at(path.join(root, 'src', 'style.css'), 3_000_000);
    expect(isCurrent(root)).toBe(true);
    at(path.join(root, 'evaluators', 'index.ts'), 2_000_001);
    expect(isCurrent(root)).toBe(false);
  });

  it('the package root is found from the sources (the compiled copy goes up one folder more)', () => {
    expect(PACKAGE_ROOT).toBe(REPO_ROOT);
    for (const f of [['bin', 'mergesearch.js'], ['src', 'tensor', 'wasm', 'merge-kernels.wasm'], ['src', 'tensor', 'wasm', 'dense-kernels.wasm'], ['src', 'tensor', 'wasm', 'forward-kernels.wasm'], ['src', 'server', 'public', 'index.html'], ['experiments', 'mnist8', 'studies', 'quickstart.yaml']]) {
      expect(fs.existsSync(packagePath(...f)), f.join('/')).toBe(true);
    }
  });

  // tsc copies no asset into dist/: a module that loads a file beside itself by URL finds it there
  // only if it is a worker entry (.mjs, which bin/compile.mjs copies) or compiled code (.js).
  it('files loaded beside a module by URL are .mjs worker entries or compiled .js (other assets go through packagePath)', () => {
    const byUrl = sources('src').flatMap((f) => [...fs.readFileSync(path.join(REPO_ROOT, f), 'utf8').matchAll(/new URL\('([^']+)', import\.meta\.url\)/g)].map((m) => `${f}: ${m[1]}`));
    expect(byUrl.length).toBeGreaterThan(0);
    expect(byUrl.filter((x) => !/\.(mjs|js)$/.test(x))).toEqual([]);
  });

  it('a current dist/ holds a copy of every .mjs worker entry under src/ (CI builds dist/ in npm ci)', () => {
    if (!isCurrent(REPO_ROOT)) {
      expect(process.env.CI, 'CI=true: npm ci must have built a current dist/ (prepare)').toBeFalsy();
      return;
    }
    const entries = sources('src').filter((f) => f.endsWith('.mjs'));
    expect(entries).toContain(path.join('src', 'study', 'pg-thread.mjs'));
    for (const f of entries) expect(fs.existsSync(path.join(REPO_ROOT, 'dist', f)), f).toBe(true);
  });
});

describe('the published package (package.json files, as npm pack lists them)', () => {
  it('ships bin/, dist/, every file the code reads through packagePath, README and LICENSE; no tests, sources, zoo or experiments', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    const packed = new Set((JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
    // Every literal packagePath('a', 'b', ...) in src/: the file, or every file of the folder.
    const called = sources('src').flatMap((f) =>
      [...fs.readFileSync(path.join(REPO_ROOT, f), 'utf8').matchAll(/packagePath\(((?:\s*'[^']+'\s*,?)+)\)/g)].map((m) => [...m[1]!.matchAll(/'([^']+)'/g)].map((q) => q[1]!).join('/')),
    );
    expect(called).toEqual(expect.arrayContaining(['src/server/public', 'src/tensor/wasm/merge-kernels.wasm', 'experiments/mnist8/studies/quickstart.yaml', 'bin/mergesearch.js']));
    const files = (rel: string): string[] => (fs.statSync(path.join(REPO_ROOT, rel)).isDirectory() ? fs.readdirSync(path.join(REPO_ROOT, rel)).flatMap((e) => files(`${rel}/${e}`)) : [rel]);
    for (const rel of called) for (const f of files(rel)) expect(packed.has(f), f).toBe(true);
    for (const f of ['bin/compiled-is-current.mjs', 'README.md', 'LICENSE', 'package.json']) expect(packed.has(f), f).toBe(true);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('dist/');
    const stray = [...packed].filter((f) => /^(test|zoo|\.ci)\//.test(f) || (f.startsWith('experiments/') && f !== 'experiments/mnist8/studies/quickstart.yaml') || /\.(ts|c|sh)$/.test(f) || (f.startsWith('src/') && !f.startsWith('src/server/public/') && !f.endsWith('.wasm')));
    expect(stray).toEqual([]);
    // With a current build (CI builds dist/ in npm ci), the compiled CLI and its worker entries are in.
    if (!isCurrent(REPO_ROOT)) {
      expect(process.env.CI, 'CI=true: npm ci must have built a current dist/ (prepare)').toBeFalsy();
      return;
    }
    for (const f of ['dist/build-stamp.json', 'dist/src/cli/main.js', 'dist/evaluators/index.js', ...sources('src').filter((x) => x.endsWith('.mjs')).map((x) => `dist/${x}`)]) expect(packed.has(f), f).toBe(true);
  }, 300_000);
});

describe('the catalog the command line reads without loading the families', () => {
  it('lists the registry\'s families, in order, with the cards they spread', async () => {
    const { FAMILIES } = await import('../src/zoo/registry.ts');
    expect(FAMILY_CARDS.map((c) => c.name)).toEqual(FAMILIES.map((f) => f.name));
    FAMILY_CARDS.forEach((card, i) => expect({ name: FAMILIES[i]!.name, holds: FAMILIES[i]!.holds, summary: FAMILIES[i]!.summary, buildTime: FAMILIES[i]!.buildTime }).toEqual(card));
    expect(MLP_ARCHITECTURE).toBe('MlpClassifier'); // the literal checkpoint-kind.ts recognises without loading the model code
  });
});

describe('the command line loads no heavy package before a verb runs', () => {
  it('importing src/cli/main.ts and building the program loads commander and nothing else from node_modules', () => {
    const probe = `
      import { createRequire } from 'node:module';
      const { buildProgram } = await import(${JSON.stringify(path.join(REPO_ROOT, 'src/cli/main.ts'))});
      buildProgram().helpInformation();
      const cache = Object.keys(createRequire(import.meta.url).cache);
      const pkgs = new Set(cache.map((k) => (k.match(/node_modules\\/((@[^/]+\\/)?[^/]+)/) || [])[1]).filter(Boolean));
      pkgs.delete('tsx'); pkgs.delete('esbuild'); pkgs.delete('get-tsconfig'); pkgs.delete('resolve-pkg-maps');
      process.stdout.write(JSON.stringify([...pkgs].sort()));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['commander']);
  });
});
