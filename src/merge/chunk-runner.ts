// One unit of merge work: a row chunk of one tensor, for a statistics pass or the final merge.
// The same code runs on the main thread and inside worker threads; tasks are plain data.
import { fail } from '../errors.ts';
import { encodeFromF32, DTYPE_SIZES, type FloatDtype } from '../io/dtype.ts';
import { SafetensorsFile } from '../io/safetensors-reader.ts';
import { writeFully } from '../io/safetensors-writer.ts';
import type { Chunk, TensorContext } from './method.ts';
import { getMethod } from './registry.ts';
import { F32Pool } from '../tensor/array-pool.ts';

export interface ChunkTask {
  kind: 'stats' | 'merge';
  method: string;
  ctx: TensorContext;
  /** Files holding the tensor, for the base (or null) and each model. */
  baseFile: string | null;
  modelFiles: string[];
  index: number;
  rowStart: number;
  rowEnd: number;
  pass: number;
  stats: unknown;
  /** Keep the chunk's data for later passes over the same tensor. */
  keep: boolean;
  /** For merge tasks: where the tensor's data goes. */
  out?: { fd: number; offset: number; dtype: FloatDtype; file: string };
}

export interface ChunkResult {
  partial?: unknown;
  nonFinite?: number;
  firstBad?: number;
}

/** Smallest magnitude that encodes to Inf in each output dtype (round to nearest even). */
const OVERFLOW: Record<FloatDtype, number> = {
  F32: Infinity,
  F16: 65520,
  BF16: new Float32Array(new Uint32Array([0x7f7f8000]).buffer)[0]!,
};

/** Per-thread state: open input files and chunks kept between passes. */
export class ChunkRunner {
  private readonly files = new Map<string, SafetensorsFile>();
  private readonly kept = new Map<string, Chunk>();
  private readonly pool = new F32Pool();
  private readonly owned = new Map<Chunk, Float32Array[]>();
  /** Reused for raw input bytes and encoded output, which never outlive one call. */
  private scratch = new Uint8Array(0);

  private scratchOf(bytes: number): Uint8Array {
    if (this.scratch.length < bytes) this.scratch = new Uint8Array(Math.max(bytes, this.scratch.length * 2));
    return this.scratch.subarray(0, bytes);
  }

  run(task: ChunkTask): ChunkResult {
    const method = getMethod(task.method);
    if (!method) throw new Error(`unknown method ${task.method}`);
    const chunk = this.chunk(task);
    let keepChunk = task.kind === 'stats' && this.kept.has(key(task));
    try {
      if (task.kind === 'stats') return { partial: method.chunkStats!(task.ctx, task.pass, chunk, task.stats) };
      const merged = method.merge(task.ctx, chunk, task.stats);
      return this.write(task, merged);
    } catch (e) {
      keepChunk = false;
      this.kept.delete(key(task));
      throw e;
    } finally {
      if (!keepChunk) {
        this.kept.delete(key(task));
        this.release(chunk);
      }
    }
  }

  private write(task: ChunkTask, merged: Float32Array): ChunkResult {
    const out = task.out!;
    // Values the output dtype cannot hold become Inf when encoded: count them with NaN and Inf.
    const limit = OVERFLOW[out.dtype];
    let nonFinite = 0;
    let firstBad = -1;
    for (let i = 0; i < merged.length; i++) {
      if (!(Math.abs(merged[i]!) < limit)) {
        if (nonFinite === 0) firstBad = task.rowStart * task.ctx.cols + i;
        nonFinite++;
      }
    }
    if (nonFinite > 0) return { nonFinite, firstBad };
    const size = DTYPE_SIZES[out.dtype];
    const bytes = this.scratchOf(merged.length * size);
    encodeFromF32(out.dtype, merged, bytes);
    writeFully(out.fd, bytes, out.offset + task.rowStart * task.ctx.cols * size, out.file);
    return {};
  }

  /** Forget everything kept for earlier tensors and close input files. */
  reset(closeFiles = false): void {
    for (const c of this.kept.values()) this.release(c);
    this.kept.clear();
    if (closeFiles) {
      for (const f of this.files.values()) f.close();
      this.files.clear();
      this.pool.clear();
    }
  }

  /** Hand a chunk's arrays back to the pool; the chunk must not be used afterwards. */
  private release(chunk: Chunk): void {
    for (const a of this.owned.get(chunk) ?? []) this.pool.give(a);
    this.owned.delete(chunk);
  }

  private chunk(task: ChunkTask): Chunk {
    const k = key(task);
    const have = this.kept.get(k);
    if (have) return have;
    const count = (task.rowEnd - task.rowStart) * task.ctx.cols;
    const owned: Float32Array[] = [];
    const alloc = (n: number) => {
      const a = this.pool.take(n);
      owned.push(a);
      return a;
    };
    const read = (file: string) => this.file(file).readF32(task.ctx.name, task.rowStart, task.rowEnd, alloc(count), this.scratchOf(count * 2));
    const chunk: Chunk = {
      alloc,
      index: task.index,
      rowStart: task.rowStart,
      rowEnd: task.rowEnd,
      base: task.baseFile ? read(task.baseFile) : null,
      models: task.modelFiles.map(read),
      cache: new Map(),
    };
    this.owned.set(chunk, owned);
    if (task.keep && task.kind === 'stats') this.kept.set(k, chunk);
    return chunk;
  }

  private file(path: string): SafetensorsFile {
    let f = this.files.get(path);
    if (!f) {
      f = SafetensorsFile.open(path);
      this.files.set(path, f);
    }
    return f;
  }
}

function key(task: ChunkTask): string {
  return `${task.ctx.name}#${task.index}`;
}

export function nonFiniteError(tensor: string, count: number, firstBad: number, dtype: FloatDtype): never {
  const range = dtype === 'F32' ? '' : ` or values beyond the range of ${dtype} (choose out_dtype: float32 or smaller weights)`;
  fail('MERGE_E_NONFINITE', `tensor ${tensor} merged to ${count} NaN/Inf values${range} (first at element ${firstBad}); check the inputs for NaN/Inf and the parameters (weights summing to 0, extreme lambda)`);
}
