// safetensors writer + lazy reader: round trips, row ranges, header layout, metadata, scalars and
// empty tensors.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFromF32, f16BitsToF32 } from '../src/io/dtype.ts';
import { SafetensorsFile } from '../src/io/safetensors-reader.ts';
import { layoutSafetensors, SafetensorsWriter, tensorByteLength, writeSafetensorsFile } from '../src/io/safetensors-writer.ts';
import { expectCode, f32Bits, f32Bytes, f32FromBits, makeTmp, rawSafetensors } from './helpers/io-tmp.ts';

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = makeTmp();
});
afterEach(() => tmp.cleanup());

const open: SafetensorsFile[] = [];
afterEach(() => {
  for (const f of open.splice(0)) f.close();
});
function openFile(p: string): SafetensorsFile {
  const f = SafetensorsFile.open(p);
  open.push(f);
  return f;
}

function readHeader(p: string): { len: number; json: Record<string, any>; text: string; size: number } {
  const buf = fs.readFileSync(p);
  const len = Number(buf.readBigUInt64LE(0));
  const text = buf.subarray(8, 8 + len).toString('utf8');
  return { len, json: JSON.parse(text), text, size: buf.length };
}

function encoded(dtype: 'F16' | 'BF16', values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  encodeFromF32(dtype, values, out);
  return out;
}

describe('write / read round trip', () => {
  // values exactly representable in f16 and bf16 so all three formats read back identically
  const f32Vals = Float32Array.from({ length: 15 }, (_, i) => (i - 7) * 0.25 + (i % 3) * 1e-3);
  const halfVals = Float32Array.from({ length: 12 }, (_, i) => (i - 5) * 0.5);
  const i64 = BigInt64Array.of(-1n, 0n, 1n, 2n ** 62n, -(2n ** 63n), 123456789012345n);
  const bools = Uint8Array.of(1, 0, 0, 1, 1);

  function writeMixed(p: string) {
    writeSafetensorsFile(p, [
      { name: 'w.f32', dtype: 'F32', shape: [5, 3], data: f32Bytes(f32Vals) },
      { name: 'w.f16', dtype: 'F16', shape: [4, 3], data: encoded('F16', halfVals) },
      { name: 'w.bf16', dtype: 'BF16', shape: [2, 2, 3], data: encoded('BF16', halfVals) },
      { name: 'pos_ids', dtype: 'I64', shape: [2, 3], data: new Uint8Array(i64.buffer) },
      { name: 'mask', dtype: 'BOOL', shape: [5], data: bools },
    ]);
  }

  it('F32, F16 and BF16 read back as float32 with the values written', () => {
    const p = path.join(tmp.dir, 'm.safetensors');
    writeMixed(p);
    const f = openFile(p);
    expect(Array.from(f.readF32('w.f32'))).toEqual(Array.from(f32Vals));
    expect(Array.from(f.readF32('w.f16'))).toEqual(Array.from(halfVals));
    expect(Array.from(f.readF32('w.bf16'))).toEqual(Array.from(halfVals));
    expect([...f.tensors.keys()]).toEqual(['w.f32', 'w.f16', 'w.bf16', 'pos_ids', 'mask']);
    const info = f.info('w.bf16');
    expect(info).toMatchObject({ name: 'w.bf16', dtype: 'BF16', shape: [2, 2, 3], numel: 12, byteLength: 24, file: p });
  });

  it('F16/BF16 values that are not representable come back rounded, as the encoder rounds', () => {
    const p = path.join(tmp.dir, 'r.safetensors');
    const vals = Float32Array.of(1 + 3 * 2 ** -11, 0.1, 70000, f32FromBits(0x3f818000));
    writeSafetensorsFile(p, [
      { name: 'h', dtype: 'F16', shape: [4], data: encoded('F16', vals) },
      { name: 'b', dtype: 'BF16', shape: [4], data: encoded('BF16', vals) },
    ]);
    const f = openFile(p);
    // f16: tie -> 1 + 2^-9; 0.1 -> 0x2e66; 70000 > 65520 -> Inf; 1.01171875 = 1 + 12/1024 is exact
    expect(Array.from(f.readF32('h'))).toEqual([1 + 2 ** -9, f16BitsToF32(0x2e66), Infinity, 1.01171875]);
    const b = f.readF32('b');
    expect(f32Bits(b[0]!)).toBe(0x3f800000); // 1 + 3*2^-11 is below bf16's half-ulp 2^-8
    expect(f32Bits(b[1]!)).toBe(0x3dcd0000); // 0.1 = 0x3dcccccd, low half 0xcccd > 0x8000 rounds up
    expect(f32Bits(b[2]!)).toBe(0x47890000); // 70000 = 0x4788b800 -> 70144
    expect(f32Bits(b[3]!)).toBe(0x3f820000);
  });

  it('I64 and BOOL tensors are carried as raw bytes and are not readable as float', () => {
    const p = path.join(tmp.dir, 'm.safetensors');
    writeMixed(p);
    const f = openFile(p);
    const raw = f.readRaw('pos_ids');
    expect(raw.length).toBe(48);
    const back = new BigInt64Array(new Uint8Array(raw).buffer);
    expect(Array.from(back)).toEqual(Array.from(i64));
    expect(Array.from(f.readRaw('pos_ids', 1, 2))).toEqual(Array.from(new Uint8Array(i64.buffer, 24, 24)));
    expect(Array.from(f.readRaw('mask'))).toEqual([1, 0, 0, 1, 1]);
    expect(Array.from(f.readRaw('mask', 2, 4))).toEqual([0, 1]);
    expectCode(() => f.readF32('pos_ids'), 'IO_E_DTYPE', 'pos_ids', p, 'I64');
    expectCode(() => f.readF32('mask'), 'IO_E_DTYPE', 'mask', 'BOOL');
  });

  it('the data section is the tensors\' bytes back to back, largest element size first (stable), right after the header', () => {
    const p = path.join(tmp.dir, 'm.safetensors');
    writeMixed(p);
    const { len, json, size } = readHeader(p);
    const buf = fs.readFileSync(p);
    const data = buf.subarray(8 + len);
    // Element sizes 8, 4, 2, 2, 1: every tensor starts on a multiple of its element size.
    expect(json['pos_ids']).toEqual({ dtype: 'I64', shape: [2, 3], data_offsets: [0, 48] });
    expect(json['w.f32']).toEqual({ dtype: 'F32', shape: [5, 3], data_offsets: [48, 108] });
    expect(json['w.f16']).toEqual({ dtype: 'F16', shape: [4, 3], data_offsets: [108, 132] });
    expect(json['w.bf16']).toEqual({ dtype: 'BF16', shape: [2, 2, 3], data_offsets: [132, 156] });
    expect(json['mask']).toEqual({ dtype: 'BOOL', shape: [5], data_offsets: [156, 161] });
    expect(size).toBe(8 + len + 161);
    expect(Array.from(data.subarray(48, 108))).toEqual(Array.from(f32Bytes(f32Vals)));
    expect(Array.from(data.subarray(0, 48))).toEqual(Array.from(new Uint8Array(i64.buffer)));
    const f = openFile(p);
    expect(f.info('pos_ids').offset).toBe(8 + len);
  });

  it('reads a file whose header is not padded and whose tensors are listed out of data order', () => {
    // written by hand as another writer might: b's data comes first
    const a = f32Bytes([1, 2, 3, 4]);
    const b = f32Bytes([-1, -2]);
    const p = path.join(tmp.dir, 'hand.safetensors');
    const header = '{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect((8 + header.length) % 8).not.toBe(0);
    fs.writeFileSync(p, rawSafetensors(header, Buffer.concat([b, a])));
    const f = openFile(p);
    expect(Array.from(f.readF32('a'))).toEqual([1, 2, 3, 4]);
    expect(Array.from(f.readF32('a', 1, 2))).toEqual([3, 4]);
    expect(Array.from(f.readF32('b'))).toEqual([-1, -2]);
    expect(f.metadata).toEqual({});
  });
});

describe('row ranges', () => {
  const rows = 7;
  const cols = 5;
  const full = Float32Array.from({ length: rows * cols }, (_, i) => i * 0.5 - 9);

  it.each(['F32', 'F16', 'BF16'] as const)('readF32(name, r0, r1) of %s equals the slice of the full tensor', (dtype) => {
    const p = path.join(tmp.dir, `${dtype}.safetensors`);
    const data = dtype === 'F32' ? f32Bytes(full) : encoded(dtype, full);
    // a leading tensor so the target does not start at data offset 0
    writeSafetensorsFile(p, [
      { name: 'lead', dtype: 'F16', shape: [3], data: encoded('F16', Float32Array.of(1, 2, 3)) },
      { name: 't', dtype, shape: [rows, cols], data },
    ]);
    const f = openFile(p);
    const all = f.readF32('t');
    expect(Array.from(all)).toEqual(Array.from(full));
    for (let r0 = 0; r0 <= rows; r0++) {
      for (let r1 = r0; r1 <= rows; r1++) {
        const part = f.readF32('t', r0, r1);
        expect(part.length).toBe((r1 - r0) * cols);
        expect(Array.from(part), `${r0}..${r1}`).toEqual(Array.from(all.slice(r0 * cols, r1 * cols)));
        const raw = f.readRaw('t', r0, r1);
        const size = dtype === 'F32' ? 4 : 2;
        expect(Array.from(raw)).toEqual(Array.from(data.subarray(r0 * cols * size, r1 * cols * size)));
      }
    }
    // omitted end means "to the last row"
    expect(Array.from(f.readF32('t', 4))).toEqual(Array.from(full.slice(4 * cols)));
  });

  it('row ranges of a 3-d tensor slice along dim 0', () => {
    const p = path.join(tmp.dir, 'three.safetensors');
    const vals = Float32Array.from({ length: 4 * 2 * 3 }, (_, i) => i);
    writeSafetensorsFile(p, [{ name: 't', dtype: 'F32', shape: [4, 2, 3], data: f32Bytes(vals) }]);
    const f = openFile(p);
    expect(Array.from(f.readF32('t', 1, 3))).toEqual(Array.from(vals.slice(6, 18)));
  });

  it('reads into a caller-supplied buffer', () => {
    const p = path.join(tmp.dir, 'into.safetensors');
    writeSafetensorsFile(p, [
      { name: 'a', dtype: 'F32', shape: [rows, cols], data: f32Bytes(full) },
      { name: 'h', dtype: 'F16', shape: [rows, cols], data: encoded('F16', full) },
    ]);
    const f = openFile(p);
    for (const name of ['a', 'h']) {
      const buf = new Float32Array(100).fill(42);
      const got = f.readF32(name, 2, 5, buf);
      expect(got.buffer).toBe(buf.buffer);
      expect(Array.from(got)).toEqual(Array.from(full.slice(10, 25)));
      expect(buf[15]).toBe(42);
    }
  });

  it('out-of-range rows fail with IO_E_OFFSETS naming tensor and file', () => {
    const p = path.join(tmp.dir, 'rng.safetensors');
    writeSafetensorsFile(p, [{ name: 'a', dtype: 'F32', shape: [rows, cols], data: f32Bytes(full) }]);
    const f = openFile(p);
    expectCode(() => f.readF32('a', 0, rows + 1), 'IO_E_OFFSETS', 'a', p);
    expectCode(() => f.readRaw('a', -1, 2), 'IO_E_OFFSETS', p);
    expectCode(() => f.readRaw('a', 5, 3), 'IO_E_OFFSETS', p);
    expectCode(() => f.readF32('nope'), 'IO_E_NO_TENSOR', 'nope', p);
    expectCode(() => f.info('nope'), 'IO_E_NO_TENSOR', 'nope', p);
  });
});

describe('header layout and metadata', () => {
  it('the header is padded with spaces so the data starts on an 8-byte boundary, for every name length', () => {
    for (let n = 1; n <= 16; n++) {
      for (const name of ['x'.repeat(n), 'é'.repeat(n)]) {
        const p = path.join(tmp.dir, `pad.safetensors`);
        writeSafetensorsFile(p, [{ name, dtype: 'F32', shape: [1], data: f32Bytes([n]) }]);
        const { len, text, size } = readHeader(p);
        expect((8 + len) % 8, `${name}`).toBe(0);
        expect(text.trimEnd().length).toBeGreaterThan(text.length - 8);
        expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
        expect(size).toBe(8 + len + 4);
        const f = SafetensorsFile.open(p);
        expect(Array.from(f.readF32(name))).toEqual([n]);
        f.close();
      }
    }
  });

  it('layoutSafetensors gives exact header bytes and placements', () => {
    const { header, placed, fileSize } = layoutSafetensors([
      { name: 'a', dtype: 'F32', shape: [2] },
      { name: 'b', dtype: 'BF16', shape: [3] },
    ]);
    const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]}}';
    const pad = (8 - ((json.length + 8) % 8)) % 8;
    expect(header.length).toBe(8 + json.length + pad);
    expect(header.readBigUInt64LE(0)).toBe(BigInt(json.length + pad));
    expect(header.subarray(8).toString('utf8')).toBe(json + ' '.repeat(pad));
    expect(placed.map((t) => [t.name, t.offset, t.byteLength])).toEqual([
      ['a', header.length, 8],
      ['b', header.length + 8, 6],
    ]);
    expect(fileSize).toBe(header.length + 14);
    expect(tensorByteLength({ name: 's', dtype: 'I64', shape: [] })).toBe(8);
    expect(tensorByteLength({ name: 'e', dtype: 'F16', shape: [3, 0] })).toBe(0);
  });

  it('__metadata__ round-trips, including non-ASCII text, and comes first in the header', () => {
    const p = path.join(tmp.dir, 'meta.safetensors');
    const metadata = { format: 'pt', note: 'merged — Ünïcode ✓', empty: '' };
    writeSafetensorsFile(p, [{ name: 'a', dtype: 'F32', shape: [1], data: f32Bytes([1]) }], metadata);
    const { json, text, len } = readHeader(p);
    expect((8 + len) % 8).toBe(0);
    expect(json.__metadata__).toEqual(metadata);
    expect(text.startsWith('{"__metadata__":')).toBe(true);
    const f = openFile(p);
    expect(f.metadata).toEqual(metadata);
    expect(f.tensors.has('__metadata__')).toBe(false);
    expect([...f.tensors.keys()]).toEqual(['a']);
  });

  it('no metadata means no __metadata__ key and an empty metadata object', () => {
    const p = path.join(tmp.dir, 'nometa.safetensors');
    writeSafetensorsFile(p, [{ name: 'a', dtype: 'F32', shape: [1], data: f32Bytes([1]) }]);
    expect('__metadata__' in readHeader(p).json).toBe(false);
    expect(openFile(p).metadata).toEqual({});
  });

  it('a file with no tensors at all', () => {
    const p = path.join(tmp.dir, 'none.safetensors');
    writeSafetensorsFile(p, [], { k: 'v' });
    const { len, size } = readHeader(p);
    expect(size).toBe(8 + len);
    const f = openFile(p);
    expect(f.tensors.size).toBe(0);
    expect(f.metadata).toEqual({ k: 'v' });
  });
});

describe('scalars and empty tensors', () => {
  it('a 0-d tensor has one element, one "row", and reads back', () => {
    const p = path.join(tmp.dir, 'scalar.safetensors');
    writeSafetensorsFile(p, [
      { name: 's32', dtype: 'F32', shape: [], data: f32Bytes([3.5]) },
      { name: 's16', dtype: 'F16', shape: [], data: encoded('F16', Float32Array.of(-0.75)) },
      { name: 'sbf', dtype: 'BF16', shape: [], data: encoded('BF16', Float32Array.of(256)) },
      { name: 'step', dtype: 'I64', shape: [], data: new Uint8Array(BigInt64Array.of(7n).buffer) },
    ]);
    const { json } = readHeader(p);
    expect(json.step).toEqual({ dtype: 'I64', shape: [], data_offsets: [0, 8] });
    expect(json.s32).toEqual({ dtype: 'F32', shape: [], data_offsets: [8, 12] });
    const f = openFile(p);
    expect(f.info('s32')).toMatchObject({ shape: [], numel: 1, byteLength: 4 });
    expect(Array.from(f.readF32('s32'))).toEqual([3.5]);
    expect(Array.from(f.readF32('s16'))).toEqual([-0.75]);
    expect(Array.from(f.readF32('sbf'))).toEqual([256]);
    expect(Array.from(f.readF32('s32', 0, 1))).toEqual([3.5]);
    expect(new BigInt64Array(new Uint8Array(f.readRaw('step')).buffer)[0]).toBe(7n);
    expectCode(() => f.readRaw('s32', 0, 2), 'IO_E_OFFSETS', 's32');
  });

  it('empty tensors ([0], [0, 4], [3, 0]) take no bytes, read back empty and do not disturb their neighbours', () => {
    const p = path.join(tmp.dir, 'empty.safetensors');
    writeSafetensorsFile(p, [
      { name: 'e0', dtype: 'F32', shape: [0], data: new Uint8Array(0) },
      { name: 'a', dtype: 'F32', shape: [2], data: f32Bytes([1, 2]) },
      { name: 'e1', dtype: 'F16', shape: [0, 4], data: new Uint8Array(0) },
      { name: 'e2', dtype: 'BF16', shape: [3, 0], data: new Uint8Array(0) },
      { name: 'b', dtype: 'F16', shape: [2], data: encoded('F16', Float32Array.of(5, 6)) },
      { name: 'e3', dtype: 'F32', shape: [0], data: new Uint8Array(0) },
    ]);
    const { json, len, size } = readHeader(p);
    expect(json.e0.data_offsets).toEqual([0, 0]);
    expect(json.a.data_offsets).toEqual([0, 8]);
    expect(json.e3.data_offsets).toEqual([8, 8]);
    expect(json.e1.data_offsets).toEqual([8, 8]);
    expect(json.e2.data_offsets).toEqual([8, 8]);
    expect(json.b.data_offsets).toEqual([8, 12]);
    expect(size).toBe(8 + len + 12);
    const f = openFile(p);
    for (const n of ['e0', 'e1', 'e2', 'e3']) {
      expect(f.info(n).byteLength).toBe(0);
      expect(f.readF32(n).length).toBe(0);
      expect(f.readRaw(n).length).toBe(0);
    }
    expect(f.info('e2').numel).toBe(0);
    expect(f.readF32('e2', 1, 3).length).toBe(0);
    expect(Array.from(f.readF32('a'))).toEqual([1, 2]);
    expect(Array.from(f.readF32('b'))).toEqual([5, 6]);
  });
});

describe('SafetensorsWriter', () => {
  it('writes chunks by offset in any order', () => {
    const p = path.join(tmp.dir, 'chunks.safetensors');
    const vals = Float32Array.from({ length: 32 }, (_, i) => i * i);
    const bytes = f32Bytes(vals);
    const w = new SafetensorsWriter(p, [
      { name: 'a', dtype: 'F32', shape: [8, 4] },
      { name: 'b', dtype: 'F32', shape: [2] },
    ]);
    w.write('b', f32Bytes([9, 8]));
    for (let off = 128 - 32; off >= 0; off -= 32) w.write('a', bytes.subarray(off, off + 32), off);
    w.close();
    const f = openFile(p);
    expect(Array.from(f.readF32('a'))).toEqual(Array.from(vals));
    expect(Array.from(f.readF32('b'))).toEqual([9, 8]);
  });

  it('rejects writes past a tensor and to unplanned tensors with IO_E_WRITE', () => {
    const p = path.join(tmp.dir, 'bad.safetensors');
    const w = new SafetensorsWriter(p, [{ name: 'a', dtype: 'F32', shape: [2] }]);
    try {
      expectCode(() => w.write('a', new Uint8Array(12)), 'IO_E_WRITE', 'a', p);
      expectCode(() => w.write('a', new Uint8Array(4), 6), 'IO_E_WRITE', 'a');
      expectCode(() => w.write('zz', new Uint8Array(4)), 'IO_E_WRITE', 'zz', p);
    } finally {
      w.close();
    }
  });
});

describe('fixed bugs (regression tests)', () => {
  // src/io/safetensors-reader.ts readF32 computes `count = (end - rowStart) * perRow` and allocates
  // before readRaw validates the range, so a reversed range throws a bare RangeError
  // ("Invalid typed array length: -4") instead of IO_E_OFFSETS as readRaw does.
  it('readF32 with rowStart > rowEnd is IO_E_OFFSETS like readRaw', () => {
    const p = path.join(tmp.dir, 'rev.safetensors');
    writeSafetensorsFile(p, [{ name: 'x', dtype: 'F32', shape: [4, 2], data: new Uint8Array(32) }]);
    const f = openFile(p);
    expectCode(() => f.readRaw('x', 3, 1), 'IO_E_OFFSETS', p);
    expectCode(() => f.readF32('x', 3, 1), 'IO_E_OFFSETS', p);
  });
});
