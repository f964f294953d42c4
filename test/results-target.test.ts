// Where the results scripts (npm run results:mnist8 / results:search / results:skills4) read their
// zoo and write their table: only the built-in zoo rewrites the tracked RESULTS.md; --zoo DIR writes
// DIR/RESULTS.md (or --out), and a missing folder is reported as given.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planResultsTarget, resultsTarget } from '../experiments/results-target.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';

const tmp = makeTmp('ms-results-target-');
afterAll(() => tmp.cleanup());
const tracked = path.join('experiments', 'mnist8', 'RESULTS.md');
const opts = { family: 'mnist8' as const, script: 'results:mnist8', trackedFile: tracked };

describe('results target', () => {
  it('no --zoo, the family name or its default folder: the built-in zoo and the tracked file', () => {
    for (const args of [[], ['--zoo', 'mnist8'], ['--zoo', 'zoo/mnist8'], ['--zoo', path.resolve('zoo', 'mnist8')]]) {
      expect(planResultsTarget(args, opts), args.join(' ')).toEqual({ zooDir: path.join('zoo', 'mnist8'), builtin: true, out: tracked, command: 'npm run results:mnist8', buildName: 'mnist8' });
    }
    expect(planResultsTarget(['--out', 'x.md'], opts)).toMatchObject({ builtin: true, out: 'x.md', command: 'npm run results:mnist8 -- --out x.md' });
  });

  it('--zoo DIR: that folder, DIR/RESULTS.md (or --out), never the tracked file', () => {
    const dir = path.join(tmp.dir, 'my-zoo');
    expect(planResultsTarget(['--zoo', dir], opts)).toEqual({ zooDir: dir, builtin: false, out: path.join(dir, 'RESULTS.md'), command: `npm run results:mnist8 -- --zoo ${dir}`, buildName: undefined });
    expect(planResultsTarget(['--zoo', dir, '--out', 'elsewhere.md'], opts)).toMatchObject({ zooDir: dir, builtin: false, out: 'elsewhere.md', command: `npm run results:mnist8 -- --zoo ${dir} --out elsewhere.md` });
    // Another built-in zoo of the family (the tiny one) is built in zoo/NAME when missing, but it is
    // not the zoo the tracked file describes.
    const tiny = planResultsTarget(['--zoo', 'mnist8-tiny'], opts);
    expect(tiny.builtin).toBe(false);
    expect(tiny.out).not.toBe(tracked);
  });

  it('a --zoo folder that does not exist is named as given, with no build command; a flag without its value is refused', () => {
    const dir = path.join(tmp.dir, 'missing-zoo');
    const e = expectCode(() => resultsTarget(['--zoo', dir], opts), 'IO_E_NOT_FOUND', `no zoo at ${dir} (`, 'check the path');
    expect(e.message).not.toContain('zoo build mnist8');
    expect(fs.existsSync(dir)).toBe(false);
    expectCode(() => planResultsTarget(['--zoo'], opts), 'CLI_E_ARG', '--zoo needs a value');
    expectCode(() => planResultsTarget(['--zoo', '--out', 'x.md'], opts), 'CLI_E_ARG', '--zoo needs a value');
  });
});
