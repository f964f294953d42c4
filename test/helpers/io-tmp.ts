// Helpers for the I/O tests: temporary folders, float32 bit access, hand-built safetensors files
// and an assertion for MergeSearchError codes.
import { seededRandom } from '../../src/tensor/random.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { MergeSearchError, type ErrorCode } from '../../src/errors.ts';

/** A fresh temporary folder; `cleanup()` removes it and everything under it. */
export function makeTmp(prefix = 'mergesearch-io-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const scratch = new DataView(new ArrayBuffer(4));

/** The IEEE-754 binary32 bits of `x` (after rounding x to float32). */
export function f32Bits(x: number): number {
  scratch.setFloat32(0, x, true);
  return scratch.getUint32(0, true);
}

/** The float32 whose bits are `bits`. */
export function f32FromBits(bits: number): number {
  scratch.setUint32(0, bits >>> 0, true);
  return scratch.getFloat32(0, true);
}

/** A safetensors file assembled by hand: 8-byte LE header length, header text, data bytes. */
export function rawSafetensors(header: string | object, data: Uint8Array = new Uint8Array(0), declaredLen?: number): Buffer {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(declaredLen ?? text.length), 0);
  return Buffer.concat([len, text, data]);
}

/** Run `fn`, expect a MergeSearchError with `code` whose message contains every string in `mentions`. */
export function expectCode(fn: () => unknown, code: ErrorCode, ...mentions: string[]): MergeSearchError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code} to be thrown`).toBeInstanceOf(MergeSearchError);
  const err = thrown as MergeSearchError;
  expect(err.code).toBe(code);
  expect(err.message.startsWith(`${code}: `)).toBe(true);
  for (const m of mentions) expect(err.message).toContain(m);
  return err;
}

/** A tiny deterministic PRNG (mulberry32), so random tests are reproducible. */
export const rng = seededRandom;

/** Float32 values as little-endian bytes. */
export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  const a = Float32Array.from(values);
  return new Uint8Array(a.buffer);
}
