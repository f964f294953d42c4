// Checkpoint.open on the folder layouts it supports, and the ways a folder can be wrong.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFromF32 } from '../src/io/dtype.ts';
import { Checkpoint, INDEX_FILE, layerCountFromNames, layerIndexOf } from '../src/io/checkpoint.ts';
import { CheckpointWriter } from '../src/io/checkpoint-writer.ts';
import { writeSafetensorsFile, type PlannedTensor } from '../src/io/safetensors-writer.ts';
import { expectCode, f32Bytes, makeTmp } from './helpers/io-tmp.ts';

let tmp: { dir: string; cleanup: () => void };
const opened: Checkpoint[] = [];
beforeEach(() => {
  tmp = makeTmp();
});
afterEach(() => {
  for (const c of opened.splice(0)) c.close();
  tmp.cleanup();
});
function openCk(p: string): Checkpoint {
  const c = Checkpoint.open(p);
  opened.push(c);
  return c;
}
function mkdir(...parts: string[]): string {
  const d = path.join(tmp.dir, ...parts);
  fs.mkdirSync(d, { recursive: true });
  return d;
}
function half(dtype: 'F16' | 'BF16', vals: number[]): Uint8Array {
  const out = new Uint8Array(vals.length * 2);
  encodeFromF32(dtype, Float32Array.from(vals), out);
  return out;
}
/** A one-tensor-per-name F32 shard: each tensor [2] holds [k, k + 0.5]. */
function shard(p: string, names: string[], base = 0): void {
  writeSafetensorsFile(p, names.map((name, i) => ({ name, dtype: 'F32' as const, shape: [2], data: f32Bytes([base + i, base + i + 0.5]) })));
}
function writeIndex(dir: string, weightMap: Record<string, unknown>, totalSize = 0): void {
  fs.writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }));
}

describe('folder with model.safetensors', () => {
  it('opens it, reads tensors and derives the layer count from names', () => {
    const dir = mkdir('single');
    writeSafetensorsFile(path.join(dir, 'model.safetensors'), [
      { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [2, 2], data: f32Bytes([1, 2, 3, 4]) },
      { name: 'model.layers.0.mlp.weight', dtype: 'F16', shape: [3], data: half('F16', [0.5, -1, 8]) },
      { name: 'model.layers.2.mlp.weight', dtype: 'BF16', shape: [1], data: half('BF16', [3]) },
    ]);
    // stray files that are not part of the checkpoint
    shard(path.join(dir, 'other.safetensors'), ['stray']);
    const ck = openCk(dir);
    expect(ck.dir).toBe(dir);
    expect(ck.path).toBe(dir);
    expect(ck.files.map((f) => path.basename(f.path))).toEqual(['model.safetensors']);
    expect([...ck.tensors.keys()].sort()).toEqual(['model.embed_tokens.weight', 'model.layers.0.mlp.weight', 'model.layers.2.mlp.weight']);
    expect(Array.from(ck.readF32('model.embed_tokens.weight', 1, 2))).toEqual([3, 4]);
    expect(Array.from(ck.readF32('model.layers.0.mlp.weight'))).toEqual([0.5, -1, 8]);
    expect(Array.from(ck.readF32('model.layers.2.mlp.weight'))).toEqual([3]);
    expect(Array.from(ck.readRaw('model.layers.2.mlp.weight'))).toEqual([0x40, 0x40]);
    expect(ck.config).toBeUndefined();
    expect(ck.numLayers()).toBe(3);
    expect(ck.totalBytes()).toBe(16 + 6 + 2);
    expect(ck.fileOf('model.embed_tokens.weight')).toBe(ck.files[0]);
    expectCode(() => ck.readF32('stray'), 'IO_E_NO_TENSOR', 'stray', dir);
    expectCode(() => ck.info('missing.weight'), 'IO_E_NO_TENSOR', 'missing.weight');
  });

  it('a folder of loose .safetensors files (no model.safetensors, no index) opens all of them', () => {
    const dir = mkdir('loose');
    shard(path.join(dir, 'b.safetensors'), ['y'], 10);
    shard(path.join(dir, 'a.safetensors'), ['x'], 20);
    fs.writeFileSync(path.join(dir, 'README.md'), 'hi');
    const ck = openCk(dir);
    expect(ck.files.map((f) => path.basename(f.path))).toEqual(['a.safetensors', 'b.safetensors']);
    expect(Array.from(ck.readF32('x'))).toEqual([20, 20.5]);
    expect(Array.from(ck.readF32('y'))).toEqual([10, 10.5]);
  });
});

describe('sharded folder written by CheckpointWriter', () => {
  const tensors: Array<PlannedTensor & { data: Uint8Array }> = [
    { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [4, 4], data: f32Bytes(Array.from({ length: 16 }, (_, i) => i / 4)) },
    { name: 'model.layers.0.attn.weight', dtype: 'F16', shape: [4, 8], data: half('F16', Array.from({ length: 32 }, (_, i) => i - 16)) },
    { name: 'model.layers.0.mlp.weight', dtype: 'BF16', shape: [8, 4], data: half('BF16', Array.from({ length: 32 }, (_, i) => -i * 2)) },
    { name: 'model.layers.1.attn.weight', dtype: 'F32', shape: [2, 8], data: f32Bytes(Array.from({ length: 16 }, (_, i) => 100 + i)) },
    { name: 'model.layers.1.mask', dtype: 'BOOL', shape: [16], data: Uint8Array.from({ length: 16 }, (_, i) => i % 3 === 0 ? 1 : 0) },
    { name: 'lm_head.weight', dtype: 'F32', shape: [16], data: f32Bytes(Array.from({ length: 16 }, (_, i) => -i)) },
    { name: 'model.norm.weight', dtype: 'F16', shape: [], data: half('F16', [0.125]) },
  ];
  // sizes 64, 64 | 64, 64 | 16, 64, 2 with shardSize 128
  const expectShard = [1, 1, 2, 2, 3, 3, 3];
  const totalBytes = 64 * 5 + 16 + 2;
  const shardName = (i: number) => `model-0000${i}-of-00003.safetensors`;

  function build(): string {
    const out = path.join(tmp.dir, 'sharded');
    const w = new CheckpointWriter(out, tensors, { shardSize: 128, metadata: { merged_by: 'test' } });
    // write in reverse, in two halves, to check placement does not depend on order
    for (const t of [...tensors].reverse()) {
      const h = Math.floor(t.data.length / 2);
      w.write(t.name, t.data.subarray(h), h);
      w.write(t.name, t.data.subarray(0, h));
    }
    w.commit();
    return out;
  }

  it('writes 3 shards and an index whose total_size is the sum of tensor bytes and whose weight_map names every tensor', () => {
    const out = build();
    expect(fs.readdirSync(out).sort()).toEqual([INDEX_FILE, shardName(1), shardName(2), shardName(3)].sort());
    const index = JSON.parse(fs.readFileSync(path.join(out, INDEX_FILE), 'utf8'));
    expect(index.metadata.total_size).toBe(totalBytes);
    expect(Object.keys(index.weight_map).sort()).toEqual(tensors.map((t) => t.name).sort());
    tensors.forEach((t, i) => expect(index.weight_map[t.name], t.name).toBe(shardName(expectShard[i]!)));
  });

  it('every tensor reads back equal, from the shard the index names', () => {
    const out = build();
    const ck = openCk(out);
    expect(ck.files.length).toBe(3);
    expect(ck.totalBytes()).toBe(totalBytes);
    expect(ck.numLayers()).toBe(2);
    tensors.forEach((t, i) => {
      const info = ck.info(t.name);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(path.basename(info.file)).toBe(shardName(expectShard[i]!));
      expect(Array.from(ck.readRaw(t.name)), t.name).toEqual(Array.from(t.data));
    });
    expect(Array.from(ck.readF32('model.layers.0.attn.weight', 1, 2))).toEqual(Array.from({ length: 8 }, (_, i) => i + 8 - 16));
    expect(Array.from(ck.readF32('model.layers.0.mlp.weight', 7))).toEqual([-56, -58, -60, -62]);
    expect(Array.from(ck.readF32('model.norm.weight'))).toEqual([0.125]);
    for (const f of ck.files) expect(f.metadata).toEqual({ format: 'pt', merged_by: 'test' });
  });
});

describe('single file path', () => {
  it('opens a .safetensors file directly; dir is its folder and config.json beside it is read', () => {
    const dir = mkdir('file');
    const p = path.join(dir, 'weights.safetensors');
    shard(p, ['a', 'b'], 1);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ num_hidden_layers: 5 }));
    const ck = openCk(p);
    expect(ck.path).toBe(p);
    expect(ck.dir).toBe(dir);
    expect(ck.files.length).toBe(1);
    expect(Array.from(ck.readF32('b'))).toEqual([2, 2.5]);
    expect(ck.numLayers()).toBe(5);
  });

  it('a malformed single file keeps its own error code', () => {
    const p = path.join(tmp.dir, 'bad.safetensors');
    fs.writeFileSync(p, Buffer.alloc(3));
    expectCode(() => Checkpoint.open(p), 'IO_E_TRUNCATED', p);
  });
});

describe('config.json', () => {
  function folder(config: unknown, names = ['model.layers.0.w', 'model.layers.1.w']): string {
    const dir = mkdir(`cfg-${Math.random().toString(36).slice(2)}`);
    shard(path.join(dir, 'model.safetensors'), names);
    if (config !== undefined) fs.writeFileSync(path.join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    return dir;
  }

  it('numLayers comes from num_hidden_layers, over the count from names', () => {
    const ck = openCk(folder({ architectures: ['LlamaForCausalLM'], num_hidden_layers: 32, hidden_size: 8 }));
    expect(ck.numLayers()).toBe(32);
    expect(ck.config?.numLayers).toBe(32);
    expect(ck.config?.architecture).toBe('LlamaForCausalLM');
    expect(ck.config?.raw.hidden_size).toBe(8);
  });

  it('falls back to n_layer, then num_layers, then tensor names', () => {
    expect(openCk(folder({ n_layer: 12 })).numLayers()).toBe(12);
    expect(openCk(folder({ num_layers: 6 })).numLayers()).toBe(6);
    const ck = openCk(folder({ architectures: 'not-a-list', num_hidden_layers: '4' }));
    expect(ck.config?.architecture).toBeUndefined();
    expect(ck.config?.numLayers).toBeUndefined();
    expect(ck.numLayers()).toBe(2);
  });

  it('invalid JSON is IO_E_CONFIG naming the file', () => {
    const dir = folder('{"num_hidden_layers": ');
    expectCode(() => Checkpoint.open(dir), 'IO_E_CONFIG', path.join(dir, 'config.json'));
  });
});

describe('broken folders', () => {
  it('an index naming a missing shard is IO_E_INDEX naming the shard', () => {
    const dir = mkdir('missing-shard');
    shard(path.join(dir, 'model-00001-of-00002.safetensors'), ['a']);
    writeIndex(dir, { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' });
    expectCode(() => Checkpoint.open(dir), 'IO_E_INDEX', 'model-00002-of-00002.safetensors', INDEX_FILE);
  });

  it('the same tensor in two indexed shards is IO_E_INDEX naming the tensor and both files', () => {
    const dir = mkdir('dup-indexed');
    const s1 = 'model-00001-of-00002.safetensors';
    const s2 = 'model-00002-of-00002.safetensors';
    shard(path.join(dir, s1), ['a', 'shared']);
    shard(path.join(dir, s2), ['b', 'shared']);
    writeIndex(dir, { a: s1, shared: s1, b: s2 });
    expectCode(() => Checkpoint.open(dir), 'IO_E_INDEX', 'shared', s1, s2);
  });

  it('the same tensor in two loose files is IO_E_INDEX too', () => {
    const dir = mkdir('dup-loose');
    shard(path.join(dir, 'part1.safetensors'), ['x', 'y']);
    shard(path.join(dir, 'part2.safetensors'), ['y']);
    expectCode(() => Checkpoint.open(dir), 'IO_E_INDEX', 'y', 'part1.safetensors', 'part2.safetensors');
  });

  it('an index that maps a tensor to the wrong shard, or to no shard holding it, is IO_E_INDEX', () => {
    const dir = mkdir('wrong-shard');
    const s1 = 'model-00001-of-00002.safetensors';
    const s2 = 'model-00002-of-00002.safetensors';
    shard(path.join(dir, s1), ['a', 'c']);
    shard(path.join(dir, s2), ['b']);
    // both shards are listed, a is in s1 but mapped to s2
    writeIndex(dir, { a: s2, c: s1, b: s2 });
    expectCode(() => Checkpoint.open(dir), 'IO_E_INDEX', 'tensor a', `but it is in ${s1}`);
    // only s2 is listed, so a is found nowhere
    writeIndex(dir, { a: s2, b: s2 });
    expectCode(() => Checkpoint.open(dir), 'IO_E_INDEX', 'tensor a', s2);
    writeIndex(dir, { a: s1, c: s1, b: s2, ghost: s2 });
    expectCode(() => Checkpoint.open(dir), 'IO_E_INDEX', 'ghost');
    writeIndex(dir, { a: s1, c: s1, b: s2 });
    expect(Array.from(openCk(dir).readF32('c'))).toEqual([1, 1.5]);
  });

  it.each([
    ['not JSON', '{"weight_map": '],
    ['no weight_map', '{"metadata": {}}'],
    ['a weight_map array', '{"weight_map": []}'],
    ['a shard path with a folder', '{"weight_map": {"a": "../model.safetensors"}}'],
    ['a shard name that is not a string', '{"weight_map": {"a": 5}}'],
  ])('an index with %s is IO_E_INDEX', (_label, text) => {
    const dir = mkdir('bad-index');
    shard(path.join(dir, 'model.safetensors'), ['a']);
    fs.writeFileSync(path.join(dir, INDEX_FILE), text);
    expectCode(() => Checkpoint.open(dir), 'IO_E_INDEX', INDEX_FILE);
  });

  it('a folder with no safetensors is IO_E_NOT_FOUND naming the folder', () => {
    const dir = mkdir('empty-ish');
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    fs.writeFileSync(path.join(dir, 'model.bin'), 'x');
    expectCode(() => Checkpoint.open(dir), 'IO_E_NOT_FOUND', dir);
    expectCode(() => Checkpoint.open(mkdir('really-empty')), 'IO_E_NOT_FOUND', 'really-empty');
  });

  it('a path that does not exist is IO_E_NOT_FOUND', () => {
    const p = path.join(tmp.dir, 'nope');
    expectCode(() => Checkpoint.open(p), 'IO_E_NOT_FOUND', p);
  });

  it('a bad shard keeps its own code and names the shard', () => {
    const dir = mkdir('bad-shard');
    shard(path.join(dir, 'model-00001-of-00002.safetensors'), ['a']);
    const bad = path.join(dir, 'model-00002-of-00002.safetensors');
    fs.writeFileSync(bad, Buffer.from([1, 2, 3]));
    writeIndex(dir, { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' });
    expectCode(() => Checkpoint.open(dir), 'IO_E_TRUNCATED', bad);
  });

  it.skipIf(!fs.existsSync('/proc/self/fd'))('a failed open closes the shards it had opened', () => {
    const dir = mkdir('leak');
    shard(path.join(dir, 'part1.safetensors'), ['x']);
    shard(path.join(dir, 'part2.safetensors'), ['x']);
    const before = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 50; i++) expectCode(() => Checkpoint.open(dir), 'IO_E_INDEX');
    expect(fs.readdirSync('/proc/self/fd').length).toBe(before);
  });
});

describe('layer names', () => {
  it.each([
    ['model.layers.12.mlp.down_proj.weight', 12],
    ['transformer.h.3.attn.c_attn.weight', 3],
    ['encoder.block.0.layer.1.DenseReluDense.wi.weight', 0],
    ['blocks.7.norm.weight', 7],
    ['model.embed_tokens.weight', undefined],
    ['lm_head.weight', undefined],
    ['model.layers.x.weight', undefined],
  ])('layerIndexOf(%s) = %s', (name, idx) => {
    expect(layerIndexOf(name)).toBe(idx);
  });

  it('layerCountFromNames is the highest index + 1, 0 without layers', () => {
    expect(layerCountFromNames(['model.layers.0.a', 'model.layers.9.b', 'model.layers.3.c'])).toBe(10);
    expect(layerCountFromNames(['embed', 'head'])).toBe(0);
  });
});

describe('fixed bugs (regression tests)', () => {
  // src/io/checkpoint.ts readConfig: JSON.parse('null') gives null and `raw.architectures` throws a
  // TypeError instead of a MergeSearchError IO_E_CONFIG.
  it('config.json holding JSON null is IO_E_CONFIG', () => {
    const dir = mkdir('null-config');
    shard(path.join(dir, 'model.safetensors'), ['a']);
    fs.writeFileSync(path.join(dir, 'config.json'), 'null');
    expectCode(() => Checkpoint.open(dir), 'IO_E_CONFIG', 'config.json');
  });
});
