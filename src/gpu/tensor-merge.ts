// Merging whole tensors of a merge plan on the GPU: the statistics passes (statistics.ts, run by
// the executor), then the final combine runs as the WGSL kernel over row tiles sized under the
// adapter's binding limit. Tile t+1 is read and uploaded while tile t computes; each tile's
// encoded output goes straight to its place in the output file.
import { writeFully } from '../io/safetensors-writer.ts';
import type { FloatDtype } from '../io/dtype.ts';
import type { ElementwiseCombine } from '../merge/elementwise.ts';
import type { MergePlan, TensorJob } from '../merge/plan.ts';
import type { CheckpointWriter } from '../io/checkpoint-writer.ts';
import { CombineKernel, paddedBytes, type TileResult } from './combine-kernel.ts';
import { usesBase } from './combine-shader.ts';
import { recomputeOnCpu } from './cpu-fixup.ts';
import { selectionCutoff } from './selection-cutoff.ts';
import { GpuStatistics } from './statistics.ts';
import { gpuMethodNames } from './merge-device.ts';
import type { GpuContext } from './device.ts';

const GPU_DTYPES = new Set(['F32', 'F16', 'BF16']);

/** Largest tile (elements) by default: 64 MiB per float32 input, well under real GPUs' binding limits. */
const DEFAULT_TILE_ELEMENTS = 1 << 24;

export interface GpuTensorMergerOptions {
  /** Elements per tile at most (tests use small tiles to exercise tiling). */
  tileElements?: number;
}

export class GpuTensorMerger {
  private readonly kernel: CombineKernel;
  private readonly tileElements: number;
  /** The statistics passes (top-k thresholds, norms) on the same device and tiling. */
  readonly statistics: GpuStatistics;

  constructor(readonly gpu: GpuContext, opts: GpuTensorMergerOptions = {}) {
    this.kernel = new CombineKernel(gpu);
    this.tileElements = Math.max(2, Math.min(opts.tileElements ?? DEFAULT_TILE_ELEMENTS, Math.floor(gpu.maxBindingBytes / 4)));
    this.statistics = new GpuStatistics(gpu, this.tileElements);
  }

  /** The combine to run for this tensor, or why it cannot run on the GPU. */
  combineFor(plan: MergePlan, job: TensorJob, stats: unknown): ElementwiseCombine | string {
    const m = plan.method;
    if (!m.elementwise) return `merge method ${m.name} has no GPU kernel (GPU kernels: ${gpuMethodNames().join(', ')})`;
    const c = m.elementwise(job.ctx, stats);
    if (typeof c === 'string') return c;
    const dtypes = this.inputDtypes(plan, job, c);
    const odd = dtypes.find((d) => !GPU_DTYPES.has(d));
    if (odd) return `tensor ${job.name} is stored as ${odd}; the GPU kernels read F32, F16 and BF16`;
    if (!GPU_DTYPES.has(job.outDtype)) return `tensor ${job.name} is written as ${job.outDtype}; the GPU kernels write F32, F16 and BF16`;
    if (job.ctx.cols > this.tileElements) return `a row of tensor ${job.name} has ${job.ctx.cols} elements, more than one GPU tile (${this.tileElements})`;
    const bindings = dtypes.length + 3;
    if (bindings > this.gpu.device.limits.maxStorageBuffersPerShaderStage) return `${dtypes.length} inputs need ${bindings - 1} storage buffers; the adapter allows ${this.gpu.device.limits.maxStorageBuffersPerShaderStage}`;
    return c;
  }

  private inputDtypes(plan: MergePlan, job: TensorJob, c: ElementwiseCombine): string[] {
    const sources = [...(usesBase(c) ? [plan.base!] : []), ...plan.models];
    return sources.map((s) => s.info(job.name).dtype);
  }

  /**
   * Merge one tensor into its planned place in the output; returns the non-finite count and first
   * such element (-1: none). `ranges`: the row chunks the statistics passes used.
   */
  async mergeTensor(plan: MergePlan, job: TensorJob, planned: ElementwiseCombine, writer: CheckpointWriter, ranges: Array<[number, number]>): Promise<{ nonFinite: number; firstBad: number }> {
    const combine = this.withCutoffs(plan, job, planned, ranges);
    const sources = [...(usesBase(combine) ? [plan.base!] : []), ...plan.models];
    const dtypes = this.inputDtypes(plan, job, combine) as FloatDtype[];
    const out = job.outDtype as FloatDtype;
    const { rows, cols } = job.ctx;
    const rowsPerTile = Math.max(1, Math.floor(this.tileElements / Math.max(1, cols)));
    const placement = writer.placement(job.name);
    const outSize = out === 'F32' ? 4 : 2;
    // Two sets of host buffers: a tile's raw inputs stay until its result is fixed up and written.
    const host = [0, 1].map(() => dtypes.map((d) => new Uint8Array(paddedBytes(Math.min(rows, rowsPerTile) * cols, d))));
    let nonFinite = 0;
    let firstBad = -1;
    const bad = (count: number, at: number) => {
      if (count === 0) return;
      if (nonFinite === 0) firstBad = at;
      nonFinite += count;
    };
    interface Pending {
      collect: () => Promise<TileResult>;
      first: number;
      n: number;
      inputs: Uint8Array[];
    }
    let pending: Pending | undefined;
    const finish = async (p: Pending) => {
      const r = await p.collect();
      bad(r.nonFinite, p.first + r.firstBad);
      if (r.ambiguous === 'all' || r.ambiguous.length > 0) {
        const indices = r.ambiguous === 'all' ? Uint32Array.from({ length: p.n }, (_, i) => i) : r.ambiguous;
        const fixed = recomputeOnCpu(combine, dtypes, p.inputs, p.first, indices, out, r.bytes);
        bad(fixed.nonFinite, p.first + fixed.firstBad);
      }
      if (nonFinite === 0) writeFully(placement.fd, r.bytes, placement.placed.offset + p.first * outSize, placement.file);
    };
    let tile = 0;
    for (let a = 0; a < rows; a += rowsPerTile, tile++) {
      const b = Math.min(rows, a + rowsPerTile);
      const n = (b - a) * cols;
      const inputs = sources.map((s, i) => {
        const buf = host[tile % 2]![i]!.subarray(0, paddedBytes(n, dtypes[i]!));
        s.fileOf(job.name).readRaw(job.name, a, b, buf.subarray(0, n * (dtypes[i] === 'F32' ? 4 : 2)));
        return buf;
      });
      const collect = await this.kernel.submit({ shape: { combine, inputs: dtypes, out }, n, first: a * cols, inputs }, `tensor ${job.name}`);
      if (pending) await finish(pending);
      pending = { collect, first: a * cols, n, inputs };
    }
    if (pending) await finish(pending);
    return { nonFinite, firstBad };
  }

  /** TIES selections with the element where admission of threshold-equal entries stops. */
  private withCutoffs(plan: MergePlan, job: TensorJob, c: ElementwiseCombine, ranges: Array<[number, number]>): ElementwiseCombine {
    if (c.kind !== 'task-vector' || !c.keep.some((k) => k.kind === 'top')) return c;
    const { rows, cols } = job.ctx;
    const keep = c.keep.map((k, i) => {
      if (k.kind !== 'top') return k;
      const tau = (a: number, b: number) => {
        const x = plan.models[i]!.readF32(job.name, a, b);
        const base = plan.base!.readF32(job.name, a, b);
        return x.map((v, e) => v - base[e]!); // float32 τ, as the statistics passes formed it
      };
      const cutoff = k.cutoff ?? selectionCutoff(k, ranges, cols, rows * cols, tau);
      const drop = k.drop && { ...k.drop, cutoff: k.drop.cutoff ?? selectionCutoff({ kind: 'top', ...k.drop }, ranges, cols, rows * cols, tau) };
      return { ...k, cutoff, drop };
    });
    return { ...c, keep };
  }

  close(): void {
    this.kernel.close();
  }
}
