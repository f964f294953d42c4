// safetensors writer with a header computed up front: every tensor's place in the file is known
// before any data is written, so chunks can be written in any order, from any thread, by offset.
import fs from 'node:fs';
import { fail } from '../errors.ts';
import { DTYPE_SIZES, type Dtype } from './dtype.ts';

export interface PlannedTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export interface PlacedTensor extends PlannedTensor {
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
}

export function tensorByteLength(t: PlannedTensor): number {
  return t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[t.dtype];
}

/** Build the header bytes (padded to 8 bytes, as the reference writer does) and place each tensor. */
export function layoutSafetensors(
  tensors: PlannedTensor[],
  metadata: Record<string, string> = {},
): { header: Buffer; placed: PlacedTensor[]; fileSize: number } {
  // A prototype-free object, so a tensor named __proto__ is an ordinary key.
  const json: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) json.__metadata__ = metadata;
  // Data is laid out by element size, largest first (stable), so every tensor starts at a multiple
  // of its element size (the data section itself starts 8-byte aligned), as memory-mapped loaders
  // need. Offsets stay contiguous, as the format requires.
  const order = tensors.map((_, i) => i).sort((a, b) => DTYPE_SIZES[tensors[b]!.dtype] - DTYPE_SIZES[tensors[a]!.dtype] || a - b);
  const rel: Array<[number, number]> = new Array(tensors.length);
  let cursor = 0;
  for (const i of order) {
    const len = tensorByteLength(tensors[i]!);
    rel[i] = [cursor, len];
    cursor += len;
  }
  for (const [i, t] of tensors.entries()) {
    json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [rel[i]![0], rel[i]![0] + rel[i]![1]] };
  }
  let text = JSON.stringify(json);
  const pad = (8 - ((Buffer.byteLength(text) + 8) % 8)) % 8;
  text += ' '.repeat(pad);
  const body = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8 + body.length);
  header.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(header, 8);
  const placed = tensors.map((t, i) => ({ ...t, offset: header.length + rel[i]![0], byteLength: rel[i]![1] }));
  return { header, placed, fileSize: header.length + cursor };
}

/** An open output file: header written, tensor data written by offset. */
export class SafetensorsWriter {
  readonly path: string;
  readonly fd: number;
  readonly placed: Map<string, PlacedTensor>;

  constructor(path: string, tensors: PlannedTensor[], metadata: Record<string, string> = {}) {
    this.path = path;
    const { header, placed } = layoutSafetensors(tensors, metadata);
    this.placed = new Map(placed.map((p) => [p.name, p]));
    try {
      this.fd = fs.openSync(path, 'w');
    } catch (e) {
      fail('IO_E_WRITE', `cannot create ${path}: ${(e as Error).message}`);
    }
    try {
      writeFully(this.fd, header, 0, path);
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  /** Write bytes of tensor `name` starting `byteOffset` bytes into its data. */
  write(name: string, bytes: Uint8Array, byteOffset = 0): void {
    const p = this.placed.get(name);
    if (!p) fail('IO_E_WRITE', `tensor ${name} was not planned for ${this.path}`);
    if (byteOffset + bytes.length > p.byteLength) {
      fail('IO_E_WRITE', `writing ${bytes.length} bytes at ${byteOffset} overruns tensor ${name} (${p.byteLength} bytes) in ${this.path}`);
    }
    writeFully(this.fd, bytes, p.offset + byteOffset, this.path);
  }

  close(): void {
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      fail('IO_E_WRITE', `cannot finish ${this.path}: ${err.message}${err.code === 'ENOSPC' ? ' — the disk is full' : ''}`);
    }
  }
}

export function writeFully(fd: number, bytes: Uint8Array, position: number, path: string): void {
  let done = 0;
  try {
    while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'ENOSPC'
      ? ' — the disk is full; free space or choose another --out'
      : err.code === 'EFBIG' ? ' — the file system limits file size; use a smaller --shard-size' : '';
    fail('IO_E_WRITE', `cannot write ${path}: ${err.message}${hint}`);
  }
}

/** Write a whole safetensors file from float32 or raw data in one call (tests, zoo builders). */
export function writeSafetensorsFile(
  path: string,
  tensors: Array<PlannedTensor & { data: Uint8Array }>,
  metadata: Record<string, string> = {},
): void {
  const w = new SafetensorsWriter(path, tensors, metadata);
  try {
    for (const t of tensors) w.write(t.name, t.data);
  } finally {
    w.close();
  }
}
