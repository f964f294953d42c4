// What a new user sees when they get something wrong: misspelt verbs, flags, config keys, values,
// zoo and optimizer names each get a "did you mean", a coded error naming the file or flag, and
// exit code 2; hints print the command to type (`npx mergesearch ...`); a first run that fails
// leaves no empty database behind; the quickstart's time estimate is the same everywhere.
// The CLI runs in this process (main(), with stdout/stderr captured) — the parse errors happen
// before any verb loads a model.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { didYouMean } from '../src/closest-name.ts';
import { main } from '../src/cli/main.ts';
import { QUICKSTART_STUDY, QUICKSTART_TIME } from '../src/cli/quickstart.ts';
import { parseStudyConfig } from '../src/search/study-config.ts';
import { writeReport } from '../src/server/report-file.ts';
import { StudyStore } from '../src/study/index.ts';
import { missingZooAdvice } from '../src/zoo/registry.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { REPO_ROOT } from './helpers/recipe-fixtures.ts';

let tmp: ReturnType<typeof makeTmp>;
beforeAll(() => {
  tmp = makeTmp('mergesearch-messages-');
});
afterAll(() => tmp.cleanup());
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Run the CLI in this process: its exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  process.exitCode = undefined;
  try {
    await main(['node', 'mergesearch', ...args]);
  } finally {
    vi.restoreAllMocks();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, out, err };
}

const QUICKSTART_YAML = fs.readFileSync(QUICKSTART_STUDY, 'utf8');

/** The quickstart config with one line replaced, written to the temporary folder. */
function variant(name: string, from: string, to: string): string {
  expect(QUICKSTART_YAML).toContain(from);
  const file = path.join(tmp.dir, `${name}.yaml`);
  fs.writeFileSync(file, QUICKSTART_YAML.replace(from, to));
  return file;
}

describe('command-line parse errors exit 2', () => {
  it('a misspelt verb: "unknown command", the closest verb, exit 2', async () => {
    const r = await cli('serch', 'x.yaml');
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown command 'serch'");
    expect(r.err).toContain('Did you mean search?');
  });

  it('export --trail 67: the unknown option is reported (with --trial suggested), not a missing --trial', async () => {
    const r = await cli('export', '--trail', '67', '--out', path.join(tmp.dir, 'never'));
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option '--trail'");
    expect(r.err).toContain('--trial?');
    expect(r.err).not.toContain('required option');
    expect(fs.existsSync(path.join(tmp.dir, 'never'))).toBe(false);
  });

  it('a required option that is missing is still reported, exit 2; --help and --version exit 0', async () => {
    const missing = await cli('export', '--out', path.join(tmp.dir, 'never'));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("required option '--trial <n>' not specified");
    const help = await cli('export', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('--trial <n>');
    const version = await cli('--version');
    expect(version.code).toBe(0);
    expect(version.out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('study configs: did you mean', () => {
  const parse = (text: string) => () => parseStudyConfig(text, 'study.yaml', { dir: tmp.dir });
  const replaced = (from: string, to: string) => {
    expect(QUICKSTART_YAML).toContain(from);
    return QUICKSTART_YAML.replace(from, to);
  };

  it('misspelt keys at every level name the closest key', () => {
    expectCode(parse(replaced('  granularity: task', '  granulartiy: task')), 'CONFIG_E_FIELD', 'study.yaml', 'unknown key "space.granulartiy"', '(did you mean "granularity"?)');
    expectCode(parse(replaced('optimizer:', 'optimiser:')), 'CONFIG_E_FIELD', 'unknown key "optimiser"', '(did you mean "optimizer"?)');
    expectCode(parse(replaced('  trials: 200', '  trails: 200')), 'CONFIG_E_FIELD', 'unknown key "budget.trails"', '(did you mean "trials"?)');
    expectCode(parse(replaced('  split: calibration', '  splt: calibration')), 'CONFIG_E_FIELD', 'unknown key "objectives[0].splt"', '(did you mean "split"?)');
    expectCode(parse(replaced('{low: 0, high: 1, init: 0.3}', '{low: 0, high: 1, int: 0.3}')), 'CONFIG_E_FIELD', 'unknown key "space.parameters.weight.int"', '(did you mean "init"?)');
  });

  it('misspelt values name the closest choice', () => {
    expectCode(parse(replaced('evaluator: accuracy', 'evaluator: acuracy')), 'CONFIG_E_FIELD', 'objectives[0].evaluator "acuracy" is not the mnist8 zoo\'s evaluator (did you mean "accuracy"?)');
    expectCode(parse(replaced('granularity: task', 'granularity: layr')), 'CONFIG_E_FIELD', 'space.granularity must be one of', '(did you mean "layer"?)');
    expectCode(parse(replaced('split: calibration', 'split: calibraton')), 'CONFIG_E_FIELD', '(did you mean "calibration"?)');
    expectCode(parse(replaced('seed: 0', 'seed: 0\nbackend: wsam')), 'CONFIG_E_FIELD', 'backend must be one of', '(did you mean "wasm"?)');
  });

  it('zoo: mnist9 (no such folder) names the built-in zoo instead of building one into mnist9/', () => {
    const e = expectCode(parse(replaced('zoo: mnist8', 'zoo: mnist9')), 'CONFIG_E_FIELD', 'zoo "mnist9" is not a built-in zoo', 'did you mean "mnist8"?');
    expect(e.message).not.toContain('zoo build');
    // a folder of that name that exists is taken as the zoo folder
    const dir = path.join(tmp.dir, 'with-folder');
    fs.mkdirSync(path.join(dir, 'mnist9'), { recursive: true });
    expect(parseStudyConfig(replaced('zoo: mnist8', 'zoo: mnist9'), 'study.yaml', { dir }).zoo).toBe(path.join(dir, 'mnist9'));
  });

  it('the closest-name rule: near names only', () => {
    expect(didYouMean('nsgaii', ['random', 'nsga2', 'cmaes'])).toBe(' (did you mean "nsga2"?)');
    expect(didYouMean('Frank_Wolfe', ['frank-wolfe', 'map'])).toBe(' (did you mean "frank-wolfe"?)');
    expect(didYouMean('something-else', ['random', 'nsga2', 'cmaes'])).toBe('');
  });
});

describe('search: messages and what a failed first run leaves', () => {
  it('zoo: mnist9 through the CLI: exit 2, did you mean mnist8, and no database file', async () => {
    const db = path.join(tmp.dir, 'mnist9.db');
    const r = await cli('search', variant('mnist9', 'zoo: mnist8', 'zoo: mnist9'), '--db', db);
    expect(r.code).toBe(2);
    expect(r.err).toContain('did you mean "mnist8"?');
    expect(fs.existsSync(db)).toBe(false);
  });

  it('an unknown optimizer: the message names the config file and the closest optimizer', async () => {
    const file = variant('nsgaii', 'name: nsga2', 'name: nsgaii');
    const db = path.join(tmp.dir, 'nsgaii.db');
    const r = await cli('search', file, '--db', db);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`SEARCH_E_OPTIMIZER: ${file}: optimizer.name "nsgaii" is not an optimizer (did you mean "nsga2"?)`);
    expect(fs.existsSync(db)).toBe(false);
  });

  it('a zoo folder that does not exist: refused after the database was opened, which is then removed; a database that was there stays', async () => {
    const file = variant('nozoo', 'zoo: mnist8', 'zoo: ./no-such-folder');
    const db = path.join(tmp.dir, 'fresh.db');
    const r = await cli('search', file, '--db', db);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no zoo at ${path.join(tmp.dir, 'no-such-folder')}`);
    expect(r.err).toContain('npx mergesearch zoo build NAME --out DIR');
    for (const f of [db, `${db}-wal`, `${db}-shm`]) expect(fs.existsSync(f), f).toBe(false);

    const kept = path.join(tmp.dir, 'kept.db');
    StudyStore.open(kept).close();
    const again = await cli('search', file, '--db', kept);
    expect(again.code).toBe(2);
    expect(fs.existsSync(kept)).toBe(true);
  });
});

describe('hints print the command to type', () => {
  it('a missing zoo: the build command for a built-in zoo folder, the built-in name for a misspelt one', () => {
    expect(missingZooAdvice('zoo/mnist8')).toBe('build it with: npx mergesearch zoo build mnist8');
    expect(missingZooAdvice(path.join(tmp.dir, 'mnist9'))).toBe('did you mean the built-in zoo mnist8? (give --zoo mnist8, or build it with: npx mergesearch zoo build mnist8)');
    expect(missingZooAdvice(path.join(tmp.dir, 'skills-4'))).toContain('npx mergesearch zoo build skills4');
    expect(missingZooAdvice(path.join(tmp.dir, 'elsewhere'))).toMatch(/^check the path: .*`npx mergesearch zoo build NAME --out DIR`/);
  });

  it('eval --zoo with a misspelt built-in name hints the zoo and how to build it', async () => {
    const r = await cli('eval', '--model', tmp.dir, '--zoo', path.join(tmp.dir, 'mnist8-tyni'));
    expect(r.code).toBe(2);
    expect(r.err).toContain('IO_E_NOT_FOUND: no zoo at');
    expect(r.err).toContain('did you mean the built-in zoo mnist8-tiny? (give --zoo mnist8-tiny, or build it with: npx mergesearch zoo build mnist8 --tiny)');
  });

  it('a report of an empty database says how to start a study', () => {
    const db = path.join(tmp.dir, 'empty.db');
    StudyStore.open(db).close();
    expectCode(() => writeReport({ db, out: path.join(tmp.dir, 'r.html') }), 'STUDY_E_NOT_FOUND', `npx mergesearch search STUDY.yaml --db ${db}`);
  });
});

describe('serve on a port in use', () => {
  it('a coded error that suggests --port 0, exit 2', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await cli('serve', '--db', path.join(tmp.dir, 'serve.db'), '--port', String(port));
      expect(r.code).toBe(2);
      expect(r.err).toContain(`SERVER_E_LISTEN: serve cannot listen on 127.0.0.1:${port}: port ${port} on 127.0.0.1 is in use by another program`);
      expect(r.err).toContain('--port 0');
      expect(r.err).not.toContain('internal error');
    } finally {
      blocker.close();
    }
  });
});

describe('one estimate of the quickstart\'s time', () => {
  const flat = (s: string) => s.replace(/\s*\n\s*(#\s*)?/g, ' ');
  it('README, the study config\'s comment, --help and the start message say the same', async () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    // the paragraph above `npm install && npx mergesearch quickstart`
    const intro = readme.slice(readme.indexOf('## Two commands'), readme.indexOf('npm install && npx mergesearch quickstart'));
    expect(flat(intro)).toContain(QUICKSTART_TIME);
    expect(flat(QUICKSTART_YAML)).toContain(QUICKSTART_TIME);
    const help = await cli('--help');
    expect(flat(help.out)).toContain(QUICKSTART_TIME);
    // no second, different estimate
    for (const text of [intro, QUICKSTART_YAML, help.out]) expect(flat(text)).not.toMatch(/about a minute|a few minutes|about 80 s|about 15 s/);
  });
});
