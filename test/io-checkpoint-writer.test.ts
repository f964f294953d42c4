// CheckpointWriter: atomic output (temporary folder renamed on commit), abort, refusing to
// overwrite, shard planning, and parseByteSize.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Checkpoint, INDEX_FILE } from '../src/io/checkpoint.ts';
import { CheckpointWriter, parseByteSize, planShards } from '../src/io/checkpoint-writer.ts';
import { SafetensorsFile } from '../src/io/safetensors-reader.ts';
import type { PlannedTensor } from '../src/io/safetensors-writer.ts';
import { expectCode, f32Bytes, makeTmp } from './helpers/io-tmp.ts';

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = makeTmp();
});
afterEach(() => tmp.cleanup());

const A = f32Bytes([1, 2, 3, 4, 5, 6]);
const B = f32Bytes([-1, -2]);
const plan: PlannedTensor[] = [
  { name: 'a', dtype: 'F32', shape: [2, 3] },
  { name: 'b', dtype: 'F32', shape: [2] },
];
const ls = (d: string) => fs.readdirSync(d).sort();
const partials = (d: string) => fs.readdirSync(d).filter((n) => n.includes('.partial-'));

function readBack(dir: string): Record<string, number[]> {
  const ck = Checkpoint.open(dir);
  try {
    return Object.fromEntries([...ck.tensors.keys()].map((n) => [n, Array.from(ck.readF32(n))]));
  } finally {
    ck.close();
  }
}

describe('commit', () => {
  it('the output folder does not exist until commit(); the data lives in a temporary folder beside it', () => {
    const out = path.join(tmp.dir, 'out');
    const w = new CheckpointWriter(out, plan);
    expect(fs.existsSync(out)).toBe(false);
    expect(path.dirname(w.tmpDir)).toBe(tmp.dir);
    expect(path.basename(w.tmpDir).startsWith('.out.partial-')).toBe(true);
    expect(ls(w.tmpDir)).toEqual(['model.safetensors']);
    w.write('a', A);
    w.write('b', B);
    w.addFile('config.json', '{"num_hidden_layers": 1}');
    expect(fs.existsSync(out)).toBe(false);
    w.commit();
    expect(fs.existsSync(w.tmpDir)).toBe(false);
    expect(ls(tmp.dir)).toEqual(['out']);
    expect(ls(out)).toEqual(['config.json', 'model.safetensors']);
    expect(readBack(out)).toEqual({ a: [1, 2, 3, 4, 5, 6], b: [-1, -2] });
    const f = SafetensorsFile.open(path.join(out, 'model.safetensors'));
    expect(f.metadata).toEqual({ format: 'pt' });
    f.close();
  });

  it('creates missing parent folders', () => {
    const out = path.join(tmp.dir, 'x', 'y', 'out');
    const w = new CheckpointWriter(out, plan);
    w.write('a', A);
    w.write('b', B);
    w.commit();
    expect(readBack(out).b).toEqual([-1, -2]);
    expect(ls(path.join(tmp.dir, 'x', 'y'))).toEqual(['out']);
  });

  it('an existing empty folder is fine without overwrite', () => {
    const out = path.join(tmp.dir, 'empty');
    fs.mkdirSync(out);
    const w = new CheckpointWriter(out, plan);
    w.write('a', A);
    w.write('b', B);
    w.commit();
    expect(ls(out)).toEqual(['model.safetensors']);
    expect(ls(tmp.dir)).toEqual(['empty']);
  });

  it('placement() exposes the fd and absolute offset so data can be written directly', () => {
    const out = path.join(tmp.dir, 'direct');
    const w = new CheckpointWriter(out, plan);
    const { fd, placed, file } = w.placement('a');
    expect(file).toBe(path.join(w.tmpDir, 'model.safetensors'));
    expect(placed).toMatchObject({ name: 'a', byteLength: 24 });
    fs.writeSync(fd, A, 0, 24, placed.offset);
    w.write('b', B);
    w.commit();
    expect(readBack(out).a).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('copyFile copies a file into the output', () => {
    const src = path.join(tmp.dir, 'tokenizer.json');
    fs.writeFileSync(src, '{"v":1}');
    const out = path.join(tmp.dir, 'copied');
    const w = new CheckpointWriter(out, plan);
    w.write('a', A);
    w.write('b', B);
    w.copyFile(src);
    w.copyFile(src, 'renamed.json');
    w.commit();
    expect(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe('{"v":1}');
    expect(fs.readFileSync(path.join(out, 'renamed.json'), 'utf8')).toBe('{"v":1}');
  });

  it('unplanned tensors and overruns are IO_E_WRITE', () => {
    const out = path.join(tmp.dir, 'bad-write');
    const w = new CheckpointWriter(out, plan);
    try {
      expectCode(() => w.write('zzz', B), 'IO_E_WRITE', 'zzz', out);
      expectCode(() => w.placement('zzz'), 'IO_E_WRITE', 'zzz');
      expectCode(() => w.write('b', A), 'IO_E_WRITE', 'b');
    } finally {
      w.abort();
    }
    expect(ls(tmp.dir)).toEqual([]);
  });
});

describe('abort', () => {
  it('leaves no output folder and no temporary folder', () => {
    const before = ls(tmp.dir);
    const out = path.join(tmp.dir, 'out');
    const w = new CheckpointWriter(out, plan, { shardSize: 24 });
    w.write('a', A);
    expect(fs.existsSync(w.tmpDir)).toBe(true);
    w.abort();
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(w.tmpDir)).toBe(false);
    expect(ls(tmp.dir)).toEqual(before);
    w.abort(); // twice is harmless
    expect(ls(tmp.dir)).toEqual(before);
  });

  it('abort after commit keeps the committed output', () => {
    const out = path.join(tmp.dir, 'kept');
    const w = new CheckpointWriter(out, plan);
    w.write('a', A);
    w.write('b', B);
    w.commit();
    w.abort();
    expect(ls(out)).toEqual(['model.safetensors']);
  });

  it('abort on an existing output folder leaves that folder as it was', () => {
    const out = path.join(tmp.dir, 'prev');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'old.txt'), 'old');
    const w = new CheckpointWriter(out, plan, { overwrite: true });
    w.write('a', A);
    w.abort();
    expect(ls(out)).toEqual(['old.txt']);
    expect(ls(tmp.dir)).toEqual(['prev']);
  });
});

describe('existing output', () => {
  it('a non-empty folder without overwrite is IO_E_OUTPUT_EXISTS and is left untouched, with no temporary folder', () => {
    const out = path.join(tmp.dir, 'taken');
    fs.mkdirSync(path.join(out, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(out, 'model.safetensors'), 'not really');
    fs.writeFileSync(path.join(out, 'sub', 'note.txt'), 'keep me');
    const mtime = fs.statSync(path.join(out, 'model.safetensors')).mtimeMs;
    expectCode(() => new CheckpointWriter(out, plan), 'IO_E_OUTPUT_EXISTS', out);
    expect(ls(out)).toEqual(['model.safetensors', 'sub']);
    expect(fs.readFileSync(path.join(out, 'model.safetensors'), 'utf8')).toBe('not really');
    expect(fs.readFileSync(path.join(out, 'sub', 'note.txt'), 'utf8')).toBe('keep me');
    expect(fs.statSync(path.join(out, 'model.safetensors')).mtimeMs).toBe(mtime);
    expect(ls(tmp.dir)).toEqual(['taken']);
  });

  it('with overwrite the old contents are replaced on commit, not before', () => {
    const out = path.join(tmp.dir, 'replace');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'stale.safetensors'), 'x');
    const w = new CheckpointWriter(out, plan, { overwrite: true });
    w.write('a', A);
    w.write('b', B);
    expect(ls(out)).toEqual(['stale.safetensors']);
    w.commit();
    expect(ls(out)).toEqual(['model.safetensors']);
    expect(partials(tmp.dir)).toEqual([]);
  });

  it('an output path that is a file is IO_E_OUTPUT_EXISTS even with overwrite', () => {
    const out = path.join(tmp.dir, 'afile');
    fs.writeFileSync(out, 'data');
    expectCode(() => new CheckpointWriter(out, plan), 'IO_E_OUTPUT_EXISTS', out);
    expectCode(() => new CheckpointWriter(out, plan, { overwrite: true }), 'IO_E_OUTPUT_EXISTS', out);
    expect(fs.readFileSync(out, 'utf8')).toBe('data');
    expect(ls(tmp.dir)).toEqual(['afile']);
  });

  it('a folder that fills up while writing is refused at commit, and abort then cleans up', () => {
    const out = path.join(tmp.dir, 'race');
    const w = new CheckpointWriter(out, plan);
    w.write('a', A);
    w.write('b', B);
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'someone-else.txt'), 'theirs');
    expectCode(() => w.commit(), 'IO_E_OUTPUT_EXISTS', out);
    expect(ls(out)).toEqual(['someone-else.txt']);
    w.abort();
    expect(ls(tmp.dir)).toEqual(['race']);
  });
});

describe('sharding', () => {
  const t = (name: string, n: number): PlannedTensor => ({ name, dtype: 'F32', shape: [n] });

  it('planShards is greedy in order; a tensor larger than the limit gets its own shard', () => {
    const ts = [t('a', 10), t('b', 10), t('c', 30), t('d', 5), t('e', 5), t('f', 20)];
    const names = (shards: PlannedTensor[][]) => shards.map((s) => s.map((x) => x.name));
    // byte sizes 40, 40, 120, 20, 20, 80
    expect(names(planShards(ts, 80))).toEqual([['a', 'b'], ['c'], ['d', 'e'], ['f']]);
    expect(names(planShards(ts, 120))).toEqual([['a', 'b'], ['c'], ['d', 'e', 'f']]);
    expect(names(planShards(ts, 119))).toEqual([['a', 'b'], ['c'], ['d', 'e'], ['f']]);
    expect(names(planShards(ts, Infinity))).toEqual([['a', 'b', 'c', 'd', 'e', 'f']]);
    expect(names(planShards(ts, 1))).toEqual([['a'], ['b'], ['c'], ['d'], ['e'], ['f']]);
    expect(names(planShards([], 10))).toEqual([[]]);
    // exactly at the limit stays in one shard
    expect(names(planShards([t('a', 2), t('b', 2)], 16))).toEqual([['a', 'b']]);
  });

  it('a single shard is named model.safetensors with no index', () => {
    const out = path.join(tmp.dir, 'one');
    const w = new CheckpointWriter(out, plan, { shardSize: 1000 });
    w.write('a', A);
    w.write('b', B);
    w.commit();
    expect(ls(out)).toEqual(['model.safetensors']);
  });

  it('two shards get HF names and an index', () => {
    const out = path.join(tmp.dir, 'two');
    const w = new CheckpointWriter(out, plan, { shardSize: 24 });
    w.write('a', A);
    w.write('b', B);
    w.commit();
    expect(ls(out)).toEqual([INDEX_FILE, 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].sort());
    const index = JSON.parse(fs.readFileSync(path.join(out, INDEX_FILE), 'utf8'));
    expect(index).toEqual({
      metadata: { total_size: 32 },
      weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
    });
    expect(readBack(out)).toEqual({ a: [1, 2, 3, 4, 5, 6], b: [-1, -2] });
  });
});

describe('parseByteSize', () => {
  it.each([
    ['5GB', 5e9],
    ['2GiB', 2 * 1024 ** 3],
    ['500MB', 5e8],
    ['1000000', 1e6],
    ['10KB', 1e4],
    ['3KiB', 3072],
    ['1.5GB', 1.5e9],
    ['1TB', 1e12],
    ['1TiB', 1024 ** 4],
    ['5gb', 5e9],
    [' 5 GB ', 5e9],
    ['100B', 100],
    ['10M', 1e7],
  ])('%j = %d', (s, n) => {
    expect(parseByteSize(s)).toBe(n);
  });

  it.each(['', 'abc', 'GB', '5XB', '-5GB', '5 G B', '1e9', '5GBs', '0', '0MB', '0.0001KB', 'five GB'])('%j is CLI_E_ARG', (s) => {
    expectCode(() => parseByteSize(s), 'CLI_E_ARG', s);
  });
});

describe('fixed bugs (regression tests)', () => {
  // src/io/checkpoint-writer.ts parseByteSize: the unit regex [KMGT]?i?B? accepts "Gi" (and "iB",
  // "i"), but the power lookup only strips "IB"/"B", so "GI" is not found and `?? 0` silently
  // makes it bytes: parseByteSize('2Gi') === 2 instead of 2 GiB (or an error).
  it('2Gi is either 2 GiB or rejected, never 2 bytes', () => {
    let v: number | string;
    try {
      v = parseByteSize('2Gi');
    } catch {
      v = 'rejected';
    }
    expect([2 * 1024 ** 3, 'rejected']).toContain(v);
  });
});
