// The WebAssembly SIMD merge kernels (merge-kernels.c, built into merge-kernels.wasm) and the heap
// their data lives in.
//
// Threads: every thread (the main thread and each merge worker) owns its own instance and its own
// memory; nothing is shared between threads. The executor already gives each worker whole row
// chunks that it reads from the files itself, so no data ever needs to be seen by two threads, and
// private memories need no locks, no atomic allocator, and never make one thread wait on another's
// growth. The memory is nevertheless created `shared: true`: a shared memory grows in place, so
// the Float32Array views handed out earlier stay valid after a later allocation grows it (growing a
// plain memory detaches every view, which would silently empty the chunk arrays a method holds).
//
// Data path: the streaming executor allocates its chunk arrays here (WasmHeap.f32), reads the raw
// file bytes straight into this memory, and decodes, computes and encodes in place. Arrays that
// live elsewhere (in-memory merges, tests) are copied in and out around a call ("staged"); when
// the heap cannot hold them the caller runs the JavaScript reference instead.
import fs from 'node:fs';
import { packagePath } from '../../package-root.ts';
import { kernelBackend } from '../kernel-backend.ts';

type View = Float32Array | Float64Array | Uint8Array | Uint16Array | Uint32Array;

interface Exports {
  __heap_base: WebAssembly.Global;
  decode_f16(inp: number, out: number, n: number): void;
  decode_bf16(inp: number, out: number, n: number): void;
  encode_f16(inp: number, out: number, n: number): void;
  encode_bf16(inp: number, out: number, n: number): void;
  count_out_of_range(inp: number, n: number, limit: number, first: number): number;
  subtract(x: number, b: number, out: number, n: number): void;
  high_histogram(bits: number, n: number, hist: number, scratch4: number): void;
  subtract_histogram(x: number, b: number, out: number, n: number, hist: number): void;
  bucket_members(bits: number, n: number, bucket: number, out: number): number;
  mark_selected(bits: number, n: number, t: number, admit: number, seen: number, out: number): number;
  mask_and_not(mask: number, drop: number, n: number): void;
  bernoulli_mask(key: number, lo: number, threshold: number, mask: number, n: number): void;
  norm_partial(kind: number, tau: number, mask: number, n: number, out: number): void;
  dot_f64(a: number, b: number, n: number): number;
  weighted_sum(out: number, inputs: number, weights: number, k: number, n: number): void;
  task_vector_combine(combine: number, models: number): void;
  weighted_sum_half(inputs: number, kinds: number, w: number, k: number, n: number, out: number, outKind: number, limit: number, first: number): number;
  decode_subtract(x: number, kind: number, b: number, out: number, n: number, hist: number): void;
  widen_col_stats(base: number, xs: number, k: number, rows: number, cols: number, bb: number, xx: number, xb: number): void;
  widen_merge_model(out: number, base: number, x: number, w: number, rows: number, cols: number, rowWise: number): void;
}

const PAGE = 65536;
/** Allocations are rounded to this, which also keeps every array 16-byte aligned for SIMD loads. */
const ALIGN = 64;
/** wasm32 addresses 4 GiB; stop short of it, and let MERGESEARCH_WASM_HEAP_MB lower the cap. */
const DEFAULT_MAX_BYTES = 3.5 * 1024 * 1024 * 1024;

/** A thread's kernel memory: size-keyed free lists over a bump pointer, offsets into one memory. */
export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  private readonly start: number;
  private top: number;
  private readonly free = new Map<number, number[]>();
  private readonly live = new Map<number, number>();
  private readonly maxBytes: number;
  /** Every buffer object this memory has had (a grown shared memory hands out a new one). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private buffer: ArrayBufferLike;

  constructor(memory: WebAssembly.Memory, start: number, maxBytes: number) {
    this.memory = memory;
    this.start = this.top = Math.ceil(start / ALIGN) * ALIGN;
    this.maxBytes = maxBytes;
    this.buffer = memory.buffer;
    this.buffers.add(this.buffer);
  }

  /** Byte offset of a new block, or -1 when the heap cannot grow that far. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const reuse = this.free.get(size)?.pop();
    if (reuse !== undefined) {
      this.live.set(reuse, size);
      return reuse;
    }
    const offset = this.top;
    if (offset + size > this.maxBytes) return -1;
    const have = this.memory.buffer.byteLength;
    if (offset + size > have) {
      // Grow by at least an eighth, so a run of allocations grows a few times, not every time.
      const need = Math.ceil((offset + size - have) / PAGE);
      const pages = Math.min(Math.max(need, Math.ceil(have / 8 / PAGE)), Math.floor(this.maxBytes / PAGE) - have / PAGE);
      try {
        this.memory.grow(Math.max(need, pages));
      } catch {
        return -1;
      }
      this.refresh();
    }
    this.top = offset + size;
    this.live.set(offset, size);
    return offset;
  }

  release(offset: number): void {
    const size = this.live.get(offset);
    if (size === undefined) throw new Error(`wasm heap: release of ${offset}, which is not allocated`);
    this.live.delete(offset);
    // With nothing allocated, start again from the bottom: the next tensor's sizes may differ.
    if (this.live.size === 0) {
      this.free.clear();
      this.top = this.start;
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(offset);
  }

  /** Whether a view lies in this heap (and so can be passed to a kernel by its offset). */
  owns(v: ArrayBufferView): boolean {
    return this.buffers.has(v.buffer);
  }

  f32(n: number): Float32Array | undefined {
    const o = this.alloc(n * 4);
    return o < 0 ? undefined : new Float32Array(this.current(), o, n);
  }

  u8(n: number): Uint8Array | undefined {
    const o = this.alloc(n);
    return o < 0 ? undefined : new Uint8Array(this.current(), o, n);
  }

  /** Release an array allocated by f32/u8 (its whole block). */
  give(v: ArrayBufferView): void {
    this.release(v.byteOffset);
  }

  current(): ArrayBufferLike {
    if (this.buffer.byteLength !== this.memory.buffer.byteLength) this.refresh();
    return this.buffer;
  }

  get liveBlocks(): number {
    return this.live.size;
  }

  get reservedBytes(): number {
    return this.memory.buffer.byteLength;
  }

  private refresh(): void {
    this.buffer = this.memory.buffer;
    this.buffers.add(this.buffer);
  }
}

export interface WasmKernels {
  heap: WasmHeap;
  x: Exports;
}

let loaded: WasmKernels | null | undefined;

function load(): WasmKernels | null {
  try {
    const bytes = fs.readFileSync(packagePath('src', 'tensor', 'wasm', 'merge-kernels.wasm'));
    const module = new WebAssembly.Module(bytes);
    const memory = new WebAssembly.Memory({ initial: 32, maximum: 65536, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const x = instance.exports as unknown as Exports;
    const mb = Number(process.env.MERGESEARCH_WASM_HEAP_MB);
    const max = Number.isFinite(mb) && mb > 0 ? Math.min(mb * 1024 * 1024, DEFAULT_MAX_BYTES) : DEFAULT_MAX_BYTES;
    return { heap: new WasmHeap(memory, Number(x.__heap_base.value), max), x };
  } catch {
    // No SIMD or no shared memory in this runtime: the JavaScript kernels do the work.
    return null;
  }
}

/** This thread's kernels when the wasm backend is selected and loads, else null. */
export function wasmKernels(): WasmKernels | null {
  if (kernelBackend() !== 'wasm') return null;
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** The heap the executor should allocate chunk data in (null on the JavaScript path). */
export function kernelHeap(): WasmHeap | null {
  return wasmKernels()?.heap ?? null;
}

/**
 * Run a kernel on views that may or may not live in the heap: views outside it are copied into
 * temporary blocks (inputs before, outputs after the call). Returns undefined, having run nothing,
 * when the temporaries do not fit.
 */
export function staged<T>(k: WasmKernels, inputs: View[], outputs: View[], run: (inPtrs: number[], outPtrs: number[]) => T): T | undefined {
  // A wasm memory never shrinks: staging whole large arrays would leave the heap at their size for
  // the life of the thread. Large foreign arrays take the JavaScript path instead.
  let foreign = 0;
  for (const v of [...inputs, ...outputs]) if (!k.heap.owns(v)) foreign += v.byteLength;
  if (foreign > STAGE_MAX_BYTES) return undefined;
  const temps: number[] = [];
  const place = (v: View): number => {
    if (k.heap.owns(v)) return v.byteOffset;
    const o = k.heap.alloc(v.byteLength);
    if (o >= 0) temps.push(o);
    return o;
  };
  try {
    const inPtrs = inputs.map(place);
    const outPtrs = outputs.map(place);
    if (inPtrs.includes(-1) || outPtrs.includes(-1)) return undefined;
    const mem = new Uint8Array(k.heap.current());
    inputs.forEach((v, i) => {
      if (!k.heap.owns(v)) mem.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), inPtrs[i]!);
    });
    const result = run(inPtrs, outPtrs);
    const after = new Uint8Array(k.heap.current());
    outputs.forEach((v, i) => {
      if (!k.heap.owns(v)) new Uint8Array(v.buffer, v.byteOffset, v.byteLength).set(after.subarray(outPtrs[i]!, outPtrs[i]! + v.byteLength));
    });
    return result;
  } finally {
    for (const o of temps) k.heap.release(o);
  }
}

/** Most bytes copied into the heap for one call (see staged). */
export const STAGE_MAX_BYTES = 64 * 1024 * 1024;

/** Below this many elements a kernel call (and any staging) costs more than the JS loop. */
export const WASM_MIN_ELEMENTS = 64;
