// The results scripts' file handling: a partial run (--only, --skip-studies) merges its rows into
// the table already in RESULTS.md instead of dropping the others; wall times go to TIMINGS.md (not
// tracked), one section per script.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { firstCell, mergeNotes, mergeTableRows, writeTimings } from '../experiments/results-file.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';

const tmp = makeTmp('mergesearch-results-file-');
afterAll(() => tmp.cleanup());

const HEADER = '| merge | add | avg | best trial |';
const PREVIOUS = `# skills4 results

Some prose quoting the cmaes row.

${HEADER}
|---|---:|---:|---:|
| base (pre-trained) | 0.0 | 7.3 | — |
| task arithmetic, λ = 0.4 (validation) | 2.1 | 9.4 | — |
| cmaes (cmaes; task_arithmetic, layer) | 0.4 | 15.3 | 89 |
| nsga2 (nsga2; task_arithmetic, task) | 0.0 | 31.7 | 61 |

- map: the surrogates predicted 30.1 %; they scored 11.8 %.

## Observations
`;
const key = (row: string) => firstCell(row).replace(/λ = [^ ,()]+/, 'λ');

describe('mergeTableRows', () => {
  it('--skip-studies: the baselines are replaced, the study rows kept in their place', () => {
    const fresh = ['| base (pre-trained) | 0.0 | 7.3 | — |', '| task arithmetic, λ = 0.6 (validation) | 3.0 | 9.9 | — |'];
    expect(mergeTableRows(PREVIOUS, 'RESULTS.md', HEADER, fresh, key)).toEqual([
      '| base (pre-trained) | 0.0 | 7.3 | — |',
      '| task arithmetic, λ = 0.6 (validation) | 3.0 | 9.9 | — |',
      '| cmaes (cmaes; task_arithmetic, layer) | 0.4 | 15.3 | 89 |',
      '| nsga2 (nsga2; task_arithmetic, task) | 0.0 | 31.7 | 61 |',
    ]);
  });

  it('--only cmaes,random: cmaes replaced in place, random (new) appended', () => {
    const fresh = ['| cmaes (cmaes; task_arithmetic, layer) | 1.0 | 16.0 | 12 |', '| random (random; task_arithmetic, layer) | 1.0 | 13.5 | 40 |'];
    const rows = mergeTableRows(PREVIOUS, 'RESULTS.md', HEADER, fresh, key);
    expect(rows.map(firstCell)).toEqual(['base (pre-trained)', 'task arithmetic, λ = 0.4 (validation)', 'cmaes (cmaes; task_arithmetic, layer)', 'nsga2 (nsga2; task_arithmetic, task)', 'random (random; task_arithmetic, layer)']);
    expect(rows[2]).toBe(fresh[0]);
  });

  it('no previous file, or one without the table: the new rows; a table with other columns is refused', () => {
    const fresh = ['| base (pre-trained) | 0.0 | 7.3 | — |'];
    expect(mergeTableRows(undefined, 'RESULTS.md', HEADER, fresh, key)).toEqual(fresh);
    expect(mergeTableRows('# empty\n', 'RESULTS.md', HEADER, fresh, key)).toEqual(fresh);
    const older = PREVIOUS.replace(HEADER, '| merge | add | avg | wall (s) | best trial |');
    expectCode(() => mergeTableRows(older, 'experiments/skills4/RESULTS.md', HEADER, fresh, key), 'CLI_E_ARG', 'experiments/skills4/RESULTS.md', 'other columns', '--out FILE');
  });

  it('mergeNotes keeps the notes of studies not rerun', () => {
    expect(mergeNotes(['map: old', 'nsga2: kept'], ['map: new'])).toEqual(['nsga2: kept', 'map: new']);
  });
});

describe('writeTimings', () => {
  it('writes TIMINGS.md beside the results file, one section per script, replaced on the next run', () => {
    const results = path.join(tmp.dir, 'RESULTS.md');
    const file = writeTimings(results, 'results:mnist8', 'wasm', ['the table: 12 s']);
    expect(file).toBe(path.join(tmp.dir, 'TIMINGS.md'));
    writeTimings(results, 'results:search', 'wasm', ['random: 40 s']);
    writeTimings(results, 'results:mnist8', 'wasm', ['the table: 15 s']);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('- the table: 15 s\n');
    expect(text).not.toContain('12 s');
    expect(text).toContain('- random: 40 s\n');
    expect(text.match(/results:mnist8:start/g)?.length).toBe(1);
    expect(fs.existsSync(results)).toBe(false);
  });
});
