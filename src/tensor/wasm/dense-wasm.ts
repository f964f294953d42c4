// The float64 matrix product on WebAssembly SIMD (dense-kernels.c): the fastest product dense.ts
// has, and bit-identical to its JavaScript kernel (the C file says why), so the kernel backend
// changes speed, never results.
//
// Operands live in JavaScript memory and can be far larger than what is worth copying at once
// (a 4096×14336 float64 task matrix is 470 MB), so the product runs over blocks: a block of B's
// columns is packed into the kernel's layout once (four columns interleaved), then the rows of A
// pass through in blocks, each block's output copied back. Each block holds about BLOCK_BYTES, so
// the module's memory stays near 3·BLOCK_BYTES whatever the sizes; copying costs about
// (1/columns-per-block + 1/rows-per-block) of the multiply-adds. The module has its own private
// memory (not the merge kernels' heap): nothing else lives there between calls.
import fs from 'node:fs';
import { kernelBackend } from '../kernel-backend.ts';
import { packagePath } from '../../package-root.ts';

interface GemmExports {
  __heap_base: WebAssembly.Global;
  tridiag_matvec(a: number, n: number, k: number, v: number, pv: number): void;
  tridiag_update(a: number, n: number, k: number, v: number, q: number): void;
  householder_apply(p: number, n: number, k: number, v: number, h: number, w: number): void;
  tridiag_syr2k(a: number, n: number, k: number, x: number, y: number, w: number): void;
  rotate_rows(qt: number, n: number, rows: number, cs: number, count: number): void;
  gemm_packed(a: number, packed: number, m: number, k: number, n: number, out: number, ldo: number, upper: number, row0: number, col0: number): void;
}

const PAGE = 65536;
/** Bytes of A rows, and of packed B columns, per block. */
const BLOCK_BYTES = 16 * 1024 * 1024;
let blockBytes = BLOCK_BYTES;
/** Below this many multiply-adds the JavaScript loop is as fast as a call with its copies. */
export const WASM_GEMM_MIN_MACS = 1 << 15;

interface Gemm {
  x: GemmExports;
  memory: WebAssembly.Memory;
  base: number;
}

let loaded: Gemm | null | undefined;

function load(): Gemm | null {
  try {
    const bytes = fs.readFileSync(packagePath('src', 'tensor', 'wasm', 'dense-kernels.wasm'));
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const x = instance.exports as unknown as GemmExports;
    return { x, memory, base: Math.ceil(Number(x.__heap_base.value) / 64) * 64 };
  } catch {
    return null; // no wasm SIMD here: dense.ts runs its JavaScript kernel
  }
}

function gemm(): Gemm | null {
  if (kernelBackend() !== 'wasm') return null;
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** Whether the wasm product loads and is selected (the kernel backend is wasm). */
export function wasmGemmAvailable(): boolean {
  return gemm() !== null;
}

/** Run `f` with blocks of `bytes` (tests: small blocks exercise the block loops on small matrices). */
export function withGemmBlockBytes<T>(bytes: number, f: () => T): T {
  const prev = blockBytes;
  blockBytes = bytes;
  try {
    return f();
  } finally {
    blockBytes = prev;
  }
}

/** Whether dense.ts should hand a product of this many multiply-adds to wasmProduct. */
export function useWasmGemm(macs: number): boolean {
  return macs >= WASM_GEMM_MIN_MACS && gemm() !== null;
}

/**
 * out[i·ldo + off + j] = Σₚ a[i·k + p]·B[p][j] for i < m, j < n, where B[p][j] is bt[j·k + p]
 * (`layout` 'bt': B given transposed, n×k) or b[p·n + j] ('b': k×n row-major). Entries of `out`
 * outside the product are untouched; the product's entries are overwritten (dense.ts calls it on
 * zeros, where that is the same as its kernel's accumulation). With `upper` (a = bt, m = n) only
 * entries with j ≥ i are guaranteed. Returns false, having written nothing, when wasm is unavailable.
 */
/** The eigensolver's rotation workspace: the n×n eigenvector rows in wasm memory, and a batch buffer. */
export interface RotationWorkspace {
  /** The rows the rotations act on (a view into wasm memory: valid until `finish`). */
  qt: Float64Array;
  /** Rotation j of the batch acts on rows rows[j], rows[j] + 1 with c = cs[2j], s = cs[2j+1]. */
  rows: Uint32Array;
  cs: Float64Array;
  apply(count: number): void;
  /** A JavaScript copy of the rows; the workspace is unusable after. */
  finish(): Float64Array;
}

/**
 * A workspace holding a copy of the n×n `qt` in wasm memory, or null (wasm unavailable or the
 * memory cannot grow that far). Nothing else may run on this module until `finish`.
 */
export function wasmRotations(qt: Float64Array, n: number): RotationWorkspace | null {
  const g = gemm();
  if (!g) return null;
  const qOff = g.base;
  const rOff = qOff + n * n * 8;
  const cOff = rOff + Math.ceil((n * 4) / 16) * 16;
  const end = cOff + 2 * n * 8;
  if (!grow(g, end)) return null;
  const buf = g.memory.buffer;
  const view = new Float64Array(buf, qOff, n * n);
  view.set(qt);
  return {
    qt: view,
    rows: new Uint32Array(buf, rOff, n),
    cs: new Float64Array(buf, cOff, 2 * n),
    apply: (count) => g.x.rotate_rows(qOff, n, rOff, cOff, count),
    finish: () => view.slice(),
  };
}

/** The reduction's working arrays and its three O(k²) loops per step (eigen.ts tridiagonalize). */
export interface TridiagonalOps {
  /** n×n, starts as the matrix; its lower triangle is reduced in place. */
  a: Float64Array;
  /** n×n, P built by apply. */
  pm: Float64Array;
  /** The step's Householder vector (first k entries). */
  v: Float64Array;
  /** matvec's output, turned into q by the caller before update. */
  pv: Float64Array;
  /** pv[0..k) = A·v on the lower triangle of the leading k×k block. */
  matvec(k: number): void;
  /** A ← A − v·pvᵀ − pv·vᵀ on that lower triangle. */
  update(k: number): void;
  /** P[0..k) ← (I − v·vᵀ/h)·P[0..k). */
  apply(k: number, h: number): void;
  /** n×PANEL_WIDTH each (row stride w as passed to syr2k): a panel's [V Q] and [Q V], row i = entry i. */
  x: Float64Array;
  y: Float64Array;
  /** A[i][j] −= Σ_c<w x[i·w + c]·y[j·w + c] for j ≤ i < k (the blocked reduction's deferred update). */
  syr2k(k: number, w: number): void;
}

/** The widest panel syr2k takes: twice the blocked reduction's panel of reflectors (eigen.ts). */
export const PANEL_WIDTH = 64;

/** The reduction's arrays in wasm memory (a copy of g in a), or null. Nothing else may use this module meanwhile. */
export function wasmTridiagonal(g: Float64Array, n: number): TridiagonalOps | null {
  const k = gemm();
  if (!k) return null;
  const aOff = k.base;
  const pOff = aOff + n * n * 8;
  const vOff = pOff + n * n * 8;
  const pvOff = vOff + n * 8;
  const wOff = pvOff + n * 8;
  const xOff = wOff + n * 8;
  const yOff = xOff + n * PANEL_WIDTH * 8;
  if (!grow(k, yOff + n * PANEL_WIDTH * 8)) return null;
  const buf = k.memory.buffer;
  const a = new Float64Array(buf, aOff, n * n);
  a.set(g);
  return {
    a,
    pm: new Float64Array(buf, pOff, n * n),
    v: new Float64Array(buf, vOff, n),
    pv: new Float64Array(buf, pvOff, n),
    matvec: (kk) => k.x.tridiag_matvec(aOff, n, kk, vOff, pvOff),
    update: (kk) => k.x.tridiag_update(aOff, n, kk, vOff, pvOff),
    apply: (kk, h) => k.x.householder_apply(pOff, n, kk, vOff, h, wOff),
    x: new Float64Array(buf, xOff, n * PANEL_WIDTH),
    y: new Float64Array(buf, yOff, n * PANEL_WIDTH),
    syr2k: (kk, w) => k.x.tridiag_syr2k(aOff, n, kk, xOff, yOff, w),
  };
}

function grow(g: Gemm, end: number): boolean {
  if (end <= g.memory.buffer.byteLength) return true;
  try {
    g.memory.grow(Math.ceil((end - g.memory.buffer.byteLength) / PAGE));
    return true;
  } catch {
    return false;
  }
}

export function wasmProduct(a: Float64Array, m: number, k: number, b: Float64Array, layout: 'bt' | 'b', n: number, out: Float64Array, ldo: number, off: number, upper: boolean): boolean {
  const g = gemm();
  if (!g || m === 0 || n === 0) return false;
  const rowBytes = 8 * Math.max(k, 1);
  const jb = Math.max(4, Math.floor(blockBytes / rowBytes / 4) * 4);
  const ib = Math.max(4, Math.floor(blockBytes / rowBytes / 4) * 4);
  const wMax = Math.min(jb, Math.ceil(n / 4) * 4);
  const hMax = Math.min(ib, m);
  const aOff = g.base;
  const pOff = aOff + hMax * k * 8;
  const oOff = pOff + wMax * k * 8;
  const end = oOff + hMax * wMax * 8;
  if (!grow(g, end)) return false;
  const buf = g.memory.buffer;
  const aBlock = new Float64Array(buf, aOff, hMax * k);
  const packed = new Float64Array(buf, pOff, wMax * k);
  const oBlock = new Float64Array(buf, oOff, hMax * wMax);
  for (let j0 = 0; j0 < n; j0 += jb) {
    const w = Math.min(jb, n - j0);
    const tiles = Math.ceil(w / 4);
    // packed[t·4k + p·4 + c] = B[p][j0 + 4t + c], zero past the last column.
    for (let t = 0; t < tiles; t++) {
      const base = t * 4 * k;
      for (let c = 0; c < 4; c++) {
        const j = j0 + 4 * t + c;
        if (j >= j0 + w) {
          for (let p = 0; p < k; p++) packed[base + 4 * p + c] = 0;
        } else if (layout === 'bt') {
          const src = j * k;
          for (let p = 0; p < k; p++) packed[base + 4 * p + c] = b[src + p]!;
        }
      }
    }
    if (layout === 'b') {
      // Rows of b are contiguous: read each once, scatter its w entries to their tiles.
      for (let p = 0; p < k; p++) {
        const src = p * n + j0;
        for (let jj = 0; jj < w; jj++) packed[(jj >> 2) * 4 * k + 4 * p + (jj & 3)] = b[src + jj]!;
      }
    }
    for (let i0 = 0; i0 < m; i0 += ib) {
      if (upper && i0 > j0 + w - 1) break;
      const h = Math.min(ib, m - i0);
      aBlock.set(a.subarray(i0 * k, (i0 + h) * k));
      oBlock.fill(0, 0, h * w);
      g.x.gemm_packed(aOff, pOff, h, k, w, oOff, w, upper ? 1 : 0, i0, j0);
      for (let r = 0; r < h; r++) out.set(oBlock.subarray(r * w, r * w + w), (i0 + r) * ldo + off + j0);
    }
  }
  return true;
}
