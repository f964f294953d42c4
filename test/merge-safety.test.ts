// Merges that must stop with a clear error and write nothing: an output that would overwrite an
// input, tensors whose dtype kinds differ between models, results the output dtype cannot hold;
// and worker threads that die must fail the merge rather than hang it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSafetensorsFile } from '../src/io/safetensors-writer.ts';
import type { ChunkTask } from '../src/merge/chunk-runner.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { WorkerPool } from '../src/merge/worker-pool.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { expectCodeAsync, expectNoOutput, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

const tmp = makeTmp('ms-safety-');
afterAll(() => tmp.cleanup());

function pair(name: string, values: [number[], number[]]): [string, string] {
  const a = writeHandCheckpoint(path.join(tmp.dir, name, 'base'), [{ name: 'w', shape: [2, 2], values: values[0] }]);
  const b = writeHandCheckpoint(path.join(tmp.dir, name, 'expert'), [{ name: 'w', shape: [2, 2], values: values[1] }]);
  return [a, b];
}

const ta = (base: string, expert: string, extra = '') =>
  parseRecipe(`merge_method: task_arithmetic\nbase_model: ${base}\nmodels:\n  - model: ${expert}\n    parameters: {weight: 1}\n${extra}`);

describe('the output never overwrites an input', () => {
  it('--out equal to an input folder is MERGE_E_OUTPUT, even with overwrite, and the input survives', async () => {
    const [base, expert] = pair('same', [[1, 2, 3, 4], [2, 3, 4, 5]]);
    const before = fs.readFileSync(path.join(base, 'model.safetensors'));
    await expectCodeAsync(() => mergeToFolder(ta(base, expert), { out: base, overwrite: true, threads: 1 }), 'MERGE_E_OUTPUT', base);
    expect(fs.readFileSync(path.join(base, 'model.safetensors')).equals(before)).toBe(true);
  });

  it('--out that contains an input folder is MERGE_E_OUTPUT', async () => {
    const [base, expert] = pair('parent', [[1, 2, 3, 4], [2, 3, 4, 5]]);
    await expectCodeAsync(() => mergeToFolder(ta(base, expert), { out: path.dirname(base), overwrite: true, threads: 1 }), 'MERGE_E_OUTPUT');
    expect(fs.existsSync(path.join(base, 'model.safetensors'))).toBe(true);
  });

  it('--overwrite replaces an older merge completely', async () => {
    const [base, expert] = pair('replace', [[1, 2, 3, 4], [2, 3, 4, 5]]);
    const out = path.join(tmp.dir, 'replace', 'out');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'stale.txt'), 'old');
    await mergeToFolder(ta(base, expert), { out, overwrite: true, threads: 1 });
    expect(fs.existsSync(path.join(out, 'stale.txt'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(true);
    expect(fs.readdirSync(path.dirname(out)).filter((n) => n.includes('.partial-'))).toEqual([]);
  });
});

describe('checked before any data is read', () => {
  it('a tensor that is float in one model and integer in another is MERGE_E_DTYPE', async () => {
    const base = path.join(tmp.dir, 'dtype', 'base');
    const expert = path.join(tmp.dir, 'dtype', 'expert');
    fs.mkdirSync(base, { recursive: true });
    fs.mkdirSync(expert, { recursive: true });
    writeSafetensorsFile(path.join(base, 'model.safetensors'), [{ name: 'ids', dtype: 'F32', shape: [2], data: new Uint8Array(8) }]);
    writeSafetensorsFile(path.join(expert, 'model.safetensors'), [{ name: 'ids', dtype: 'I32', shape: [2], data: new Uint8Array(8) }]);
    const out = path.join(tmp.dir, 'dtype', 'out');
    await expectCodeAsync(() => mergeToFolder(ta(base, expert), { out, threads: 1 }), 'MERGE_E_DTYPE', 'ids', 'I32', 'F32');
    expectNoOutput(out);
  });
});

describe('results the output dtype cannot hold', () => {
  it('float32 inputs merged into float16 beyond 65504 are MERGE_E_NONFINITE naming the dtype', async () => {
    const [base, expert] = pair('overflow', [[1, 2, 3, 4], [40000, 3, 4, 5]]);
    const out = path.join(tmp.dir, 'overflow', 'out');
    const err = await expectCodeAsync(() => mergeToFolder(ta(base, expert, 'parameters: {lambda: 2}\nout_dtype: float16\n'), { out, threads: 1 }), 'MERGE_E_NONFINITE', 'tensor w', 'F16');
    expect(err.message).toContain('1 NaN/Inf');
    expectNoOutput(out);
  });

  it('the same merge into float32 succeeds with the exact value', async () => {
    const [base, expert] = pair('overflow32', [[1, 2, 3, 4], [40000, 3, 4, 5]]);
    const out = path.join(tmp.dir, 'overflow32', 'out');
    await mergeToFolder(ta(base, expert, 'parameters: {lambda: 2}\n'), { out, threads: 1 });
    const bytes = fs.readFileSync(path.join(out, 'model.safetensors'));
    const headerLen = Number(bytes.readBigUInt64LE(0));
    const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + headerLen, bytes.byteOffset + 8 + headerLen + 16));
    expect(Array.from(values)).toEqual([1 + 2 * 39999, 2 + 2, 3 + 2, 4 + 2]);
  });
});

describe('worker threads', () => {
  it('a task that fails in a worker rejects with its error; a dead worker fails later calls instead of hanging', async () => {
    const pool = new WorkerPool(2);
    try {
      const task: ChunkTask = { kind: 'stats', method: 'no_such_method', ctx: { name: 'x', shape: [1], rows: 1, cols: 1, t: 0, global: {}, perModel: [], seed: 0 }, baseFile: null, modelFiles: [], index: 0, rowStart: 0, rowEnd: 1, pass: 0, stats: undefined, keep: false };
      await expect(pool.run([task])).rejects.toThrow('unknown method no_such_method');
      await (pool as unknown as { workers: Array<{ terminate(): Promise<number> }> }).workers[1]!.terminate();
      await expect(pool.run([task, task])).rejects.toThrow(/exited|unknown method/);
      await expect(pool.reset()).resolves.toBeUndefined();
    } finally {
      await pool.close();
    }
  });
});
