// The streaming executor (row chunks, re-read between statistics passes, worker threads) gives the
// same tensors as the in-memory merge for pcb, consensus, wudi, regmean and fisher; statistics are
// found beside each expert (merge_statistics.safetensors) or through a `statistics` parameter.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors-reader.ts';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { closeStatistics, STATISTICS_FILE } from '../src/merge/statistics/store.ts';
import { writeStatisticsFile } from '../src/merge/statistics/write.ts';
import { expectCodeAsync, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';
import { makeTmp, rng } from './helpers/io-tmp.ts';

// 33000 × 32 floats: two row chunks of the executor (32768 rows hold its 1M elements per chunk).
const ROWS = 33000;
const COLS = 32;
const tmp = makeTmp('ms-stream-stats-');
let dirs: string[];
const values: Float32Array[][] = []; // per model: [w, b]

beforeAll(() => {
  const r = rng(51);
  const base = [Float32Array.from({ length: ROWS * COLS }, () => r() * 2 - 1), Float32Array.from({ length: COLS }, () => r())];
  values.push(base);
  for (let m = 0; m < 3; m++) values.push(base.map((t) => Float32Array.from(t, (v) => v + (r() * 2 - 1) * 0.3)));
  dirs = values.map((v, m) =>
    writeHandCheckpoint(path.join(tmp.dir, m === 0 ? 'base' : `expert${m}`), [
      { name: 'w', shape: [ROWS, COLS], values: v[0] },
      { name: 'b', shape: [COLS], values: v[1] },
    ]),
  );
  for (let m = 1; m < 4; m++) {
    const g = new Float64Array(COLS * COLS);
    const x = Float32Array.from({ length: 50 * COLS }, () => r() * 2 - 1);
    for (let s = 0; s < 50; s++) for (let i = 0; i < COLS; i++) for (let j = 0; j < COLS; j++) g[i * COLS + j] = g[i * COLS + j]! + (x[s * COLS + i]! * x[s * COLS + j]!) / 50;
    writeStatisticsFile(path.join(dirs[m]!, STATISTICS_FILE), {
      grams: new Map([['w', { size: COLS, values: g }]]),
      fishers: new Map([
        ['w', { shape: [ROWS, COLS], values: Float32Array.from({ length: ROWS * COLS }, () => r() * r()) }],
        ['b', { shape: [COLS], values: Float32Array.from({ length: COLS }, () => r()) }],
      ]),
      rows: 50,
      samples: 50,
    });
  }
});
afterAll(() => {
  closeStatistics();
  tmp.cleanup();
});

const CASES: Array<[string, string, Record<string, number | string>]> = [
  ['pcb', 'pcb_ratio: 0.2', { pcb_ratio: 0.2 }],
  ['consensus', 'k: 2, base_method: ties', { k: 2, base_method: 'ties' }],
  ['wudi', 'iterations: 3, lr: 0.001', { iterations: 3, lr: 0.001 }],
  ['regmean', 'alpha: 0.9', { alpha: 0.9 }],
  ['fisher', 'normalize: true', {}],
];

function recipe(method: string, params: string, withBase: boolean): string {
  return `merge_method: ${method}\n${withBase ? `base_model: ${dirs[0]}\n` : ''}parameters: { ${params} }\nmodels:\n${dirs.slice(1).map((d) => `  - model: ${d}`).join('\n')}\n`;
}

describe.each(CASES)('%s', (method, params, global) => {
  it('streams in re-read row chunks on 2 threads to the in-memory result', async () => {
    const withBase = method !== 'regmean' && method !== 'fisher';
    const out = path.join(tmp.dir, `out-${method}`);
    await mergeToFolder(parseRecipe(recipe(method, params, withBase)), { out, threads: 2, memoryBudget: 1e6 });
    const f = SafetensorsFile.open(path.join(out, 'model.safetensors'));
    try {
      for (const [t, name] of ['w', 'b'].entries()) {
        const want = mergeTensorInMemory({
          method,
          name,
          shape: t === 0 ? [ROWS, COLS] : [COLS],
          base: withBase ? values[0]![t] : null,
          models: values.slice(1).map((v) => v[t]!),
          global,
          perModel: dirs.slice(1).map((d) => ({ statistics: path.join(d, STATISTICS_FILE) })),
        });
        const got = f.readF32(name);
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `${method} ${name}`).toBe(true);
        expect(Buffer.from(got.buffer).equals(Buffer.from(values[1]![t]!.buffer))).toBe(false);
      }
    } finally {
      f.close();
    }
  }, 120_000);
});

it('a recipe without statistics stops before writing, naming the file and the command', async () => {
  const bare = writeHandCheckpoint(path.join(tmp.dir, 'bare'), [{ name: 'w', shape: [2, 2] }]);
  const other = writeHandCheckpoint(path.join(tmp.dir, 'bare2'), [{ name: 'w', shape: [2, 2] }]);
  const out = path.join(tmp.dir, 'out-missing');
  await expectCodeAsync(
    () => mergeToFolder(parseRecipe(`merge_method: regmean\nmodels:\n  - model: ${bare}\n  - model: ${other}\n`), { out }),
    'STATS_E_MISSING',
    path.join(bare, STATISTICS_FILE),
    'mergesearch stats',
  );
  expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
});

it('resolves a relative `statistics` parameter against the recipe folder', () => {
  const rel = path.relative(tmp.dir, path.join(dirs[1]!, STATISTICS_FILE));
  const text = `merge_method: fisher\nmodels:\n  - model: ${dirs[1]}\n    parameters: { statistics: ${rel} }\n`;
  const file = path.join(tmp.dir, 'recipe.yml');
  fs.writeFileSync(file, text);
  const r = parseRecipe(text, file);
  expect(r.models[0]!.parameters.statistics).toBe(path.join(dirs[1]!, STATISTICS_FILE));
});
