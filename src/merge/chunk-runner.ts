// One unit of merge work: a row chunk of one tensor, for a statistics pass or the final merge.
// The same code runs on the main thread and inside worker threads; tasks are plain data.
import { fail } from '../errors.ts';
import { decodeToF32, encodeFromF32, DTYPE_SIZES, type FloatDtype } from '../io/dtype.ts';
import { SafetensorsFile } from '../io/safetensors-reader.ts';
import { writeFully } from '../io/safetensors-writer.ts';
import type { Chunk, HalfRows, TensorContext } from './method.ts';
import { getMethod } from './registry.ts';
import { F32Pool } from '../tensor/array-pool.ts';
import type { LoraPatch } from '../io/lora-adapter.ts';
import { applyLoraRows } from './lora-apply.ts';
import { kernelHeap, type WasmHeap } from '../tensor/wasm/wasm-kernels.ts';
import { wasmCountOutOfRange, wasmWeightedSumHalf } from '../tensor/wasm/kernel-calls.ts';

export interface ChunkTask {
  kind: 'stats' | 'merge';
  method: string;
  ctx: TensorContext;
  /** Files holding the tensor, for the base (or null) and each model. */
  baseFile: string | null;
  modelFiles: string[];
  /** The tensor's name in each input file (ctx.name, the output's name, when absent: a layer moved by a slice is read under its own name). */
  baseTensor?: string | null;
  modelTensors?: string[];
  /** LoRA patches applied to the base's / each model's rows as they are read (lora-apply.ts). */
  baseLora?: LoraPatch | null;
  modelLoras?: Array<LoraPatch | null>;
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

/**
 * Per-thread state: open input files and chunks kept between passes. With the wasm kernels, a
 * chunk's arrays live in this thread's kernel heap: file bytes are read straight into it, decoded,
 * merged and encoded there without copies (arrays fall back to the JS pool when the heap is full).
 */
export class ChunkRunner {
  private readonly files = new Map<string, SafetensorsFile>();
  private readonly kept = new Map<string, Chunk>();
  private readonly pool = new F32Pool();
  private readonly owned = new Map<Chunk, Array<Float32Array | Uint8Array>>();
  /** Reused for raw input bytes and encoded output, which never outlive one call. */
  private scratch = new Uint8Array(0);

  private scratchOf(bytes: number): Uint8Array {
    if (this.scratch.length < bytes) this.scratch = new Uint8Array(Math.max(bytes, this.scratch.length * 2));
    return this.scratch.subarray(0, bytes);
  }

  run(task: ChunkTask): ChunkResult {
    const method = getMethod(task.method);
    if (!method) throw new Error(`unknown method ${task.method}`);
    const patched = !!task.baseLora || !!task.modelLoras?.some((p) => p);
    if (task.kind === 'merge' && method.plainWeightedSum && !patched) {
      const fused = this.fusedWeightedSum(task, method.plainWeightedSum(task.ctx));
      if (fused) return fused;
    }
    const chunk = this.chunk(task, method.halfInputs === true);
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
    const fast = wasmCountOutOfRange(merged, limit);
    let nonFinite = fast?.count ?? 0;
    let firstBad = fast && fast.count > 0 ? task.rowStart * task.ctx.cols + fast.first : -1;
    if (!fast) {
      for (let i = 0; i < merged.length; i++) {
        if (!(Math.abs(merged[i]!) < limit)) {
          if (nonFinite === 0) firstBad = task.rowStart * task.ctx.cols + i;
          nonFinite++;
        }
      }
    }
    if (nonFinite > 0) return { nonFinite, firstBad };
    const size = DTYPE_SIZES[out.dtype];
    const at = out.offset + task.rowStart * task.ctx.cols * size;
    if (out.dtype === 'F32') {
      writeFully(out.fd, new Uint8Array(merged.buffer, merged.byteOffset, merged.byteLength), at, out.file);
      return {};
    }
    const heap = kernelHeap();
    const inHeap = heap?.u8(merged.length * size);
    const bytes = inHeap ?? this.scratchOf(merged.length * size);
    try {
      encodeFromF32(out.dtype, merged, bytes);
      writeFully(out.fd, bytes, at, out.file);
    } finally {
      if (inHeap) heap!.give(inHeap);
    }
    return {};
  }

  /**
   * A plain weighted sum of half-precision inputs into a half-precision output, in one wasm pass
   * from the raw file bytes (no float32 arrays in between); undefined when it does not apply.
   */
  private fusedWeightedSum(task: ChunkTask, weights: number[]): ChunkResult | undefined {
    const out = task.out!;
    const heap = kernelHeap();
    if (!heap || out.dtype === 'F32') return undefined;
    const kinds = task.modelFiles.map((f, i) => this.file(f).info(modelTensor(task, i)).dtype);
    if (!kinds.every((d): d is 'F16' | 'BF16' => d === 'F16' || d === 'BF16')) return undefined;
    const count = (task.rowEnd - task.rowStart) * task.ctx.cols;
    const blocks: Uint8Array[] = [];
    try {
      for (let i = 0; i <= task.modelFiles.length; i++) {
        const b = heap.u8(count * 2);
        if (!b) return undefined;
        blocks.push(b);
      }
      const encoded = blocks.pop()!;
      task.modelFiles.forEach((f, i) => this.file(f).readRaw(modelTensor(task, i), task.rowStart, task.rowEnd, blocks[i]));
      blocks.push(encoded);
      const r = wasmWeightedSumHalf(blocks.slice(0, -1), kinds, weights, encoded, out.dtype, OVERFLOW[out.dtype]);
      if (!r) return undefined;
      if (r.count > 0) return { nonFinite: r.count, firstBad: task.rowStart * task.ctx.cols + r.first };
      writeFully(out.fd, encoded, out.offset + task.rowStart * task.ctx.cols * 2, out.file);
      return {};
    } finally {
      for (const b of blocks) heap.give(b);
    }
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

  /** Hand a chunk's arrays back to the heap or pool; the chunk must not be used afterwards. */
  private release(chunk: Chunk): void {
    const heap = this.heapOf.get(chunk);
    for (const a of this.owned.get(chunk) ?? []) {
      if (heap?.owns(a)) heap.give(a);
      else if (a instanceof Float32Array) this.pool.give(a);
    }
    this.owned.delete(chunk);
    this.heapOf.delete(chunk);
  }

  /** The heap a chunk's arrays were taken from (the backend may change between merges). */
  private readonly heapOf = new Map<Chunk, WasmHeap>();

  private chunk(task: ChunkTask, halfInputs: boolean): Chunk {
    const k = key(task);
    const have = this.kept.get(k);
    if (have) return have;
    const count = (task.rowEnd - task.rowStart) * task.ctx.cols;
    const owned: Array<Float32Array | Uint8Array> = [];
    const heap = kernelHeap();
    const alloc = (n: number) => {
      const a = heap?.f32(n) ?? this.pool.take(n);
      owned.push(a);
      return a;
    };
    const read = (file: string, tensor: string, lora?: LoraPatch | null) => {
      const into = alloc(count);
      // Raw half-precision bytes go to the heap too, so the decode reads and writes wasm memory.
      const raw = heap?.u8(count * 2);
      let w: Float32Array;
      try {
        w = this.file(file).readF32(tensor, task.rowStart, task.rowEnd, into, raw ?? this.scratchOf(count * 2));
      } finally {
        if (raw) heap!.give(raw);
      }
      if (lora) {
        const dtype = this.file(file).info(tensor).dtype as FloatDtype;
        const adapter = this.file(lora.file);
        applyLoraRows(w, dtype, lora, task.rowStart, task.rowEnd, task.ctx.cols, (t, a, b) => adapter.readF32(t, a, b));
      }
      return w;
    };
    /**
     * A half-precision model read into the heap as its raw bytes, decoded to float32 on first use
     * of chunk.models[i] only (a method that needs just τ forms it from the bytes); undefined when
     * the bytes stay elsewhere (no heap, a LoRA patch, float32 data, a full heap).
     */
    const readHalf = (file: string, tensor: string, lora: LoraPatch | null | undefined): HalfRows | undefined => {
      if (!halfInputs || !heap || lora) return undefined;
      const dtype = this.file(file).info(tensor).dtype;
      if (dtype !== 'F16' && dtype !== 'BF16') return undefined;
      const bytes = heap.u8(count * 2);
      if (!bytes) return undefined;
      owned.push(bytes);
      this.file(file).readRaw(tensor, task.rowStart, task.rowEnd, bytes);
      return { bytes, dtype };
    };
    const chunk: Chunk = { alloc, index: task.index, rowStart: task.rowStart, rowEnd: task.rowEnd, base: null, models: [], cache: new Map() };
    // Registered before reading, so a failed read still hands back what was allocated.
    this.owned.set(chunk, owned);
    if (heap) this.heapOf.set(chunk, heap);
    try {
      chunk.base = task.baseFile ? read(task.baseFile, task.baseTensor ?? task.ctx.name, task.baseLora) : null;
      const models: Float32Array[] = [];
      const half: Array<HalfRows | undefined> = [];
      task.modelFiles.forEach((f, i) => {
        const tensor = modelTensor(task, i);
        const lora = task.modelLoras?.[i];
        const h = chunk.base ? readHalf(f, tensor, lora) : undefined;
        if (!h) {
          models[i] = read(f, tensor, lora);
          return;
        }
        half[i] = h;
        let decoded: Float32Array | undefined;
        Object.defineProperty(models, i, {
          enumerable: true,
          configurable: true,
          get: () => (decoded ??= decodeInto(h, alloc(count))),
          set: (v: Float32Array) => (decoded = v),
        });
      });
      chunk.models = models;
      if (half.some((h) => h)) chunk.half = half;
    } catch (e) {
      this.release(chunk);
      throw e;
    }
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

function decodeInto(h: HalfRows, out: Float32Array): Float32Array {
  decodeToF32(h.dtype, h.bytes, out);
  return out;
}

function modelTensor(task: ChunkTask, i: number): string {
  return task.modelTensors?.[i] ?? task.ctx.name;
}

function key(task: ChunkTask): string {
  return `${task.ctx.name}#${task.index}`;
}

export function nonFiniteError(tensor: string, count: number, firstBad: number, dtype: FloatDtype): never {
  const range = dtype === 'F32' ? '' : ` or values beyond the range of ${dtype} (choose out_dtype: float32 or smaller weights)`;
  fail('MERGE_E_NONFINITE', `tensor ${tensor} merged to ${count} NaN/Inf values${range} (first at element ${firstBad}); check the inputs for NaN/Inf and the parameters (weights summing to 0, extreme lambda)`);
}
