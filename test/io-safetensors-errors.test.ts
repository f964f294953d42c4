// Malformed safetensors files, built by hand with Buffer: each gives its own error code and the
// message names the file.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors-reader.ts';
import { writeSafetensorsFile } from '../src/io/safetensors-writer.ts';
import { expectCode, f32Bytes, makeTmp, rawSafetensors } from './helpers/io-tmp.ts';

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = makeTmp();
});
afterEach(() => tmp.cleanup());

function file(name: string, bytes: Uint8Array): string {
  const p = path.join(tmp.dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

const t = (dtype: string, shape: number[], data_offsets: number[]) => ({ dtype, shape, data_offsets });

describe('IO_E_NOT_FOUND', () => {
  it('a missing file', () => {
    const p = path.join(tmp.dir, 'missing.safetensors');
    expectCode(() => SafetensorsFile.open(p), 'IO_E_NOT_FOUND', p);
  });
});

describe('IO_E_TRUNCATED', () => {
  it.each([0, 1, 5, 7])('a file of %i bytes (shorter than the 8-byte length)', (n) => {
    const p = file(`short${n}.safetensors`, new Uint8Array(n));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_TRUNCATED', p);
  });

  it('a header length beyond the end of the file', () => {
    const header = JSON.stringify({ a: t('F32', [1], [0, 4]) });
    const p = file('long-header.safetensors', rawSafetensors(header, f32Bytes([1]), 1000));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_TRUNCATED', p, '1000');
  });

  it('a header length one byte beyond the file', () => {
    const header = '{}';
    const p = file('plus-one.safetensors', rawSafetensors(header, new Uint8Array(0), 3));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_TRUNCATED', p);
  });

  it('a header length of 2^64 - 1', () => {
    const buf = rawSafetensors('{}');
    buf.writeBigUInt64LE(2n ** 64n - 1n, 0);
    const p = file('huge.safetensors', buf);
    expectCode(() => SafetensorsFile.open(p), 'IO_E_TRUNCATED', p);
  });

  it('a valid file truncated in the middle of its data', () => {
    const p = path.join(tmp.dir, 'cut.safetensors');
    writeSafetensorsFile(p, [
      { name: 'a', dtype: 'F32', shape: [4], data: f32Bytes([1, 2, 3, 4]) },
      { name: 'b', dtype: 'F32', shape: [4], data: f32Bytes([5, 6, 7, 8]) },
    ]);
    const size = fs.statSync(p).size;
    // cut inside b, then inside a
    fs.truncateSync(p, size - 6);
    expectCode(() => SafetensorsFile.open(p), 'IO_E_TRUNCATED', p, 'b');
    fs.truncateSync(p, size - 22);
    expectCode(() => SafetensorsFile.open(p), 'IO_E_TRUNCATED', p);
  });

  it('a file cut right after its header', () => {
    const p = path.join(tmp.dir, 'nodata.safetensors');
    writeSafetensorsFile(p, [{ name: 'a', dtype: 'F16', shape: [3], data: new Uint8Array(6) }]);
    const len = Number(fs.readFileSync(p).readBigUInt64LE(0));
    fs.truncateSync(p, 8 + len);
    expectCode(() => SafetensorsFile.open(p), 'IO_E_TRUNCATED', p);
  });

  it('a file truncated after it was opened fails when the cut tensor is read', () => {
    const p = path.join(tmp.dir, 'later.safetensors');
    writeSafetensorsFile(p, [
      { name: 'a', dtype: 'F32', shape: [2], data: f32Bytes([1, 2]) },
      { name: 'b', dtype: 'F32', shape: [2], data: f32Bytes([3, 4]) },
    ]);
    const f = SafetensorsFile.open(p);
    try {
      fs.truncateSync(p, fs.statSync(p).size - 4);
      expect(Array.from(f.readF32('a'))).toEqual([1, 2]);
      expect(Array.from(f.readF32('b', 0, 1))).toEqual([3]);
      expectCode(() => f.readF32('b'), 'IO_E_TRUNCATED', p, 'b');
    } finally {
      f.close();
    }
  });
});

describe('IO_E_HEADER', () => {
  it.each([
    ['not JSON', '{"a": {"dtype": "F32", '],
    ['trailing garbage', '{} x'],
    ['an empty header', ''],
    ['a JSON array', '[]'],
    ['a JSON string', '"hello"'],
    ['JSON null', 'null'],
    ['a tensor entry that is a number', '{"a": 5}'],
    ['__metadata__ that is a string', '{"__metadata__": "x"}'],
    ['a negative dimension', JSON.stringify({ a: t('F32', [-1], [0, 4]) })],
    ['a fractional dimension', JSON.stringify({ a: t('F32', [1.5], [0, 4]) })],
    ['a missing shape', JSON.stringify({ a: { dtype: 'F32', data_offsets: [0, 4] } })],
    ['one data offset', JSON.stringify({ a: t('F32', [1], [4]) })],
    ['a negative data offset', JSON.stringify({ a: t('F32', [1], [-4, 0]) })],
    ['string data offsets', JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: ['0', '4'] } })],
  ])('%s', (_label, header) => {
    const p = file('bad-header.safetensors', rawSafetensors(header, new Uint8Array(16)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_HEADER', p);
  });

  it('a header of invalid UTF-8 bytes', () => {
    const body = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(body.length));
    const p = file('utf8.safetensors', Buffer.concat([len, body]));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_HEADER', p);
  });
});

describe('IO_E_DTYPE', () => {
  it.each(['F4', 'f32', 'FLOAT', 'toString', '', 7])('unknown dtype %j', (dtype) => {
    const p = file('dtype.safetensors', rawSafetensors({ weird: { dtype, shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_DTYPE', p, 'weird');
  });
});

describe('IO_E_OFFSETS', () => {
  it('data_offsets spanning fewer bytes than the shape needs', () => {
    const p = file('short-span.safetensors', rawSafetensors({ a: t('F32', [2], [0, 4]) }, new Uint8Array(8)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p, 'a');
  });

  it('data_offsets spanning more bytes than the shape needs', () => {
    const p = file('long-span.safetensors', rawSafetensors({ a: t('F16', [2, 2], [0, 16]) }, new Uint8Array(16)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p, 'a');
  });

  it('data_offsets with end before begin', () => {
    const p = file('reversed.safetensors', rawSafetensors({ a: t('F32', [1], [8, 4]) }, new Uint8Array(8)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p, 'a');
  });

  it('a scalar given no bytes', () => {
    const p = file('scalar.safetensors', rawSafetensors({ s: t('F32', [], [0, 0]) }, new Uint8Array(4)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p, 's');
  });

  it('overlapping tensors', () => {
    const header = { a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) };
    const p = file('overlap.safetensors', rawSafetensors(header, new Uint8Array(12)));
    const err = expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p, 'overlap');
    expect(err.message).toMatch(/\ba\b.*\bb\b/);
  });

  it('two tensors at the same offsets', () => {
    const header = { a: t('F32', [2], [0, 8]), b: t('I32', [2], [0, 8]) };
    const p = file('same.safetensors', rawSafetensors(header, new Uint8Array(8)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p);
  });

  it('one tensor inside another', () => {
    const header = { outer: t('F32', [4], [0, 16]), inner: t('F16', [2], [4, 8]) };
    const p = file('nested.safetensors', rawSafetensors(header, new Uint8Array(16)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p);
  });

  it('a non-contiguous offset running past the end of the file', () => {
    // a gap between a and b, and b ends beyond the 20 data bytes: a bad header, not truncation
    const header = { a: t('F32', [2], [0, 8]), b: t('F32', [2], [16, 24]) };
    const p = file('gap.safetensors', rawSafetensors(header, new Uint8Array(20)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p, 'b');
  });

  it('a single tensor starting after 0 and running past the end', () => {
    const header = { a: t('F32', [2], [8, 16]) };
    const p = file('late.safetensors', rawSafetensors(header, new Uint8Array(12)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_OFFSETS', p, 'a');
  });

  it('the same file with contiguous offsets but short data is IO_E_TRUNCATED instead', () => {
    const header = { a: t('F32', [2], [0, 8]), b: t('F32', [2], [8, 16]) };
    const p = file('contig.safetensors', rawSafetensors(header, new Uint8Array(12)));
    expectCode(() => SafetensorsFile.open(p), 'IO_E_TRUNCATED', p, 'b');
  });
});

describe('resource handling', () => {
  it.skipIf(!fs.existsSync('/proc/self/fd'))('a failed open closes its file descriptor', () => {
    const p = file('x.safetensors', rawSafetensors('{oops', new Uint8Array(0)));
    const before = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 200; i++) expectCode(() => SafetensorsFile.open(p), 'IO_E_HEADER', p);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(before);
  });
});
