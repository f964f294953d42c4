// The scoring forward pass's WebAssembly SIMD kernels (forward-kernels.c, built into
// forward-kernels.wasm): one instance and one plain memory per thread. The memory is laid out once
// for a data set (DenseMemory.layout) and grown before any view is taken, so views stay valid.
import fs from 'node:fs';
import { packagePath } from '../../package-root.ts';

export interface ForwardExports {
  pack_panels(w: number, out: number, inSize: number, p: number): void;
  linear_rows(x: number, ldx: number, rows: number, inSize: number, p: number, b: number, outPad: number, h: number): void;
  norm_relu_rows(h: number, rows: number, stride: number, width: number, layerNorm: number, g: number, beta: number, eps: number): void;
  l2_normalize_rows(h: number, rows: number, stride: number, width: number, floor: number): void;
  compact_scaled(h: number, rows: number, stride: number, width: number, scale: number, out: number): void;
  basis_gram(b: number, e: number, k: number, n: number, gram: number): void;
  basis_dots(w: number, b: number, e: number, k: number, n: number, out: number): void;
  basis_residual(w: number, b: number, e: number, k: number, n: number, lambda: number): number;
  combine_planes(planes: number, count: number, rows: number, pad: number, coef: number, bias: number, out: number): void;
  difference(a: number, b: number, n: number, out: number): void;
}

/** Output columns per packed panel (PANEL in forward-kernels.c). */
export const PANEL = 8;
export const padToPanel = (n: number) => Math.ceil(n / PANEL) * PANEL;

const PAGE = 65536;
const ALIGN = 64;
/** First byte the layout may use: above the module's data and its 64 KiB stack. */
const BASE = 1 << 17;

let compiled: WebAssembly.Module | null | undefined;

function module(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(fs.readFileSync(packagePath('src', 'tensor', 'wasm', 'forward-kernels.wasm')));
    } catch {
      compiled = null; // no SIMD in this runtime: callers use the tfjs forward pass
    }
  }
  return compiled;
}

/** Whether this runtime can run the forward kernels. */
export function forwardKernelsAvailable(): boolean {
  return module() !== null;
}

/** One thread's kernels and memory, with named float32 blocks at fixed offsets. */
export class DenseMemory {
  readonly x: ForwardExports;
  private readonly memory: WebAssembly.Memory;
  private readonly offsets = new Map<string, { offset: number; length: number }>();

  /** Lay out blocks of `sizes` (name → float32 count; a float64 block takes two per value) and grow the memory to hold them. */
  constructor(sizes: ReadonlyMap<string, number>) {
    const m = module();
    if (!m) throw new Error('the forward kernels need WebAssembly SIMD, which this runtime lacks');
    let top = BASE;
    for (const [name, length] of sizes) {
      this.offsets.set(name, { offset: top, length });
      top += Math.ceil((length * 4) / ALIGN) * ALIGN;
    }
    if (top > 3.5 * 1024 ** 3) throw new RangeError(`the forward pass needs ${(top / 1e9).toFixed(2)} GB of wasm memory, past wasm32's limit; score fewer samples at once`);
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(top / PAGE), maximum: 65536 });
    this.x = new WebAssembly.Instance(m, { env: { memory: this.memory } }).exports as unknown as ForwardExports;
  }

  /** Byte offset of a block (what the kernels take as a pointer). */
  ptr(name: string): number {
    const b = this.offsets.get(name);
    if (!b) throw new Error(`forward memory: no block ${name}`);
    return b.offset;
  }

  /** A view of a block (the memory never grows after construction, so views stay valid). */
  f32(name: string): Float32Array {
    const b = this.offsets.get(name);
    if (!b) throw new Error(`forward memory: no block ${name}`);
    return new Float32Array(this.memory.buffer, b.offset, b.length);
  }

  /** A float64 view of a block (half as many values as its float32 count). */
  f64(name: string): Float64Array {
    const b = this.offsets.get(name);
    if (!b) throw new Error(`forward memory: no block ${name}`);
    return new Float64Array(this.memory.buffer, b.offset, b.length >> 1);
  }
}
