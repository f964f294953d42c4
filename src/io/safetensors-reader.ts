// Lazy safetensors reader: parses and validates the header, then reads any tensor (or a range
// of its rows) by offset. Never reads the whole file into memory.
import fs from 'node:fs';
import { fail, MergeSearchError } from '../errors.ts';
import { openRegularFile } from './file-checks.ts';
import { printable } from './printable.ts';
import { DTYPE_SIZES, isDtype, isFloatDtype, decodeToF32, type Dtype } from './dtype.ts';

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
  numel: number;
  file: string;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsFile {
  readonly path: string;
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  private fd: number | null;

  private constructor(path: string, fd: number, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.path = path;
    this.fd = fd;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  static open(path: string): SafetensorsFile {
    const fd = openRegularFile(path, 'safetensors file');
    try {
      const { tensors, metadata } = parseHeader(path, fd);
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (e) {
      fs.closeSync(fd);
      // Messages quote the header (tensor names, JSON.parse's excerpt): escape what a terminal would obey.
      if (e instanceof MergeSearchError) throw new MergeSearchError(e.code, printable(e.message.slice(e.code.length + 2)));
      throw e;
    }
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) fail('IO_E_NO_TENSOR', `tensor ${name} is not in ${this.path}`);
    return t;
  }

  /** Raw bytes of rows [rowStart, rowEnd) (all of it when omitted). Rows are slices along dim 0. */
  readRaw(name: string, rowStart = 0, rowEnd?: number, into?: Uint8Array): Uint8Array {
    const t = this.info(name);
    const { rows, end } = this.rowRange(t, rowStart, rowEnd);
    const rowBytes = rows === 0 ? 0 : t.byteLength / rows;
    const length = (end - rowStart) * rowBytes;
    const buf = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = fs.readSync(this.handle(), buf, done, length - done, t.offset + rowStart * rowBytes + done);
      } catch (e) {
        fail('IO_E_READ', `cannot read tensor ${name} from ${this.path}: ${(e as Error).message}`);
      }
      if (n === 0) fail('IO_E_TRUNCATED', `${this.path} ended while reading tensor ${name}; the file is truncated — re-download or re-save it`);
      done += n;
    }
    return buf;
  }

  /**
   * Rows [rowStart, rowEnd) of a float tensor as float32. `scratch`, when large enough, receives the
   * raw half-precision bytes (reusing it saves an allocation per read on hot paths).
   */
  readF32(name: string, rowStart = 0, rowEnd?: number, into?: Float32Array, scratch?: Uint8Array): Float32Array {
    const t = this.info(name);
    if (!isFloatDtype(t.dtype)) fail('IO_E_DTYPE', `tensor ${name} in ${this.path} is ${t.dtype}, not a float tensor`);
    const { rows, end } = this.rowRange(t, rowStart, rowEnd);
    const perRow = rows === 0 ? 0 : t.numel / rows;
    const count = (end - rowStart) * perRow;
    const out = into ? into.subarray(0, count) : new Float32Array(count);
    if (t.dtype === 'F32') {
      this.readRaw(name, rowStart, end, new Uint8Array(out.buffer, out.byteOffset, count * 4));
    } else {
      const raw = scratch && scratch.length >= count * 2 ? scratch : undefined;
      decodeToF32(t.dtype, this.readRaw(name, rowStart, end, raw), out);
    }
    return out;
  }

  /** Rows along dim 0 (a scalar is one row) and the checked end of [rowStart, rowEnd). */
  private rowRange(t: TensorInfo, rowStart: number, rowEnd: number | undefined): { rows: number; end: number } {
    const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
    const end = rowEnd ?? rows;
    if (rowStart < 0 || end > rows || rowStart > end) {
      fail('IO_E_OFFSETS', `rows [${rowStart}, ${end}) are outside tensor ${t.name} with ${rows} rows in ${this.path}`);
    }
    return { rows, end };
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private handle(): number {
    if (this.fd === null) throw new Error(`${this.path} was closed`);
    return this.fd;
  }
}

function parseHeader(path: string, fd: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const size = fs.fstatSync(fd).size;
  const bad = (msg: string): never => fail('IO_E_HEADER', `${path}: ${msg}; the file is not a valid safetensors file`);
  if (size < 8) fail('IO_E_TRUNCATED', `${path} is ${size} bytes, too short to hold a safetensors header; the file is truncated`);
  const lenBuf = Buffer.alloc(8);
  fs.readSync(fd, lenBuf, 0, 8, 0);
  const headerLen = Number(lenBuf.readBigUInt64LE(0));
  if (headerLen > size - 8) {
    fail('IO_E_TRUNCATED', `${path}: header length ${headerLen} is beyond the file's ${size} bytes; the file is truncated or not safetensors`);
  }
  if (headerLen > MAX_HEADER_BYTES) bad(`header length ${headerLen} exceeds ${MAX_HEADER_BYTES} bytes`);
  const headerBuf = Buffer.alloc(headerLen);
  fs.readSync(fd, headerBuf, 0, headerLen, 8);
  let header: unknown;
  try {
    header = JSON.parse(headerBuf.toString('utf8'));
  } catch (e) {
    bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const ranges: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) bad('__metadata__ is not an object');
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) bad(`entry for tensor ${name} is not an object`);
    if (!isDtype(e.dtype)) fail('IO_E_DTYPE', `${path}: tensor ${name} has unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(`tensor ${name} has an invalid shape ${JSON.stringify(e.shape)}`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      bad(`tensor ${name} has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    const shape = e.shape as number[];
    const numel = shape.reduce((a, b) => a * b, 1);
    const byteLength = numel * DTYPE_SIZES[e.dtype];
    if (end < begin || end - begin !== byteLength) {
      fail('IO_E_OFFSETS', `${path}: tensor ${name} (${e.dtype} ${JSON.stringify(shape)}) needs ${byteLength} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    ranges.push([begin, end, name]);
    tensors.set(name, { name, dtype: e.dtype, shape, offset: dataStart + begin, byteLength, numel, file: path });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let prevEnd = 0;
  let prevName = '';
  for (const [begin, end, name] of ranges) {
    if (begin < prevEnd) fail('IO_E_OFFSETS', `${path}: tensors ${prevName} and ${name} overlap (data_offsets ${begin} < ${prevEnd})`);
    prevEnd = end;
    prevName = name;
  }
  if (prevEnd > dataLen) {
    // Contiguous offsets that run past the end mean the file was cut short; gaps mean a bad header.
    const contiguous = ranges.every(([b], i) => i === 0 ? b === 0 : b === ranges[i - 1]![1]);
    if (contiguous) {
      fail('IO_E_TRUNCATED', `${path} is truncated: its header describes ${prevEnd} bytes of tensor data but only ${dataLen} are present (tensor ${prevName} is cut). Re-download or re-save the file`);
    }
    fail('IO_E_OFFSETS', `${path}: tensor ${prevName} ends at byte ${prevEnd} of the data section, beyond its ${dataLen} bytes`);
  }
  return { tensors, metadata };
}
