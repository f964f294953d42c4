// Streaming merge executor: tensors one at a time, each in row chunks sized to a memory budget,
// statistics passes first where the method needs them, chunks spread over worker threads.
// Peak memory follows the budget, not the model size.
import os from 'node:os';
import { fail, MergeSearchError } from '../errors.ts';
import type { GpuTensorMerger } from '../gpu/tensor-merge.ts';
import type { CheckpointWriter } from '../io/checkpoint-writer.ts';
import type { FloatDtype } from '../io/dtype.ts';
import { ChunkRunner, nonFiniteError, type ChunkResult, type ChunkTask } from './chunk-runner.ts';
import type { ElementwiseStatistics } from './elementwise.ts';
import type { MergePlan, TensorJob } from './plan.ts';
import { defaultThreads } from './threads.ts';
import { WorkerPool } from './worker-pool.ts';

export interface ExecuteOptions {
  /** Worker threads for large tensors (1: everything on the main thread). */
  threads?: number;
  /** Bytes of working set allowed for one tensor's chunks in flight (default 768 MB). */
  memoryBudget?: number;
  onProgress?: (doneBytes: number, totalBytes: number, tensor: string) => void;
  /**
   * Run each tensor's statistics passes and final combine on this GPU. strict
   * (--device gpu): a tensor the GPU cannot merge is an error; otherwise (auto) it is merged on
   * the CPU, and running out of GPU memory moves the rest of the merge to the CPU, with a warning.
   */
  gpu?: { merger: GpuTensorMerger; strict: boolean; onWarning?: (message: string) => void };
}

/** Fail (strict) or warn once per reason about tensors the GPU cannot merge, before any data is read. */
function checkGpuPlan(plan: MergePlan, gpu: NonNullable<ExecuteOptions['gpu']>): void {
  const reasons = new Set<string>();
  for (const job of plan.jobs) {
    if (!job.merge) continue;
    const c = gpu.merger.combineFor(plan, job, undefined);
    if (typeof c !== 'string') {
      const s = statisticsRefusal(plan, job, gpu);
      if (s === undefined) continue;
      if (gpu.strict) fail('GPU_E_METHOD', `--device gpu cannot run this merge: ${s}; use --device cpu (or auto, which computes such statistics on the CPU)`);
      reasons.add(`statistics on the CPU: ${s}`);
      continue;
    }
    if (gpu.strict) fail('GPU_E_METHOD', `--device gpu cannot run this merge: ${c}; use --device cpu (or auto, which merges such tensors on the CPU)`);
    reasons.add(`merged on the CPU: ${c}`);
  }
  for (const r of reasons) gpu.onWarning?.(r);
}

/** Why this tensor's statistics passes cannot run on the GPU (undefined: they can, or there are none). */
function statisticsRefusal(plan: MergePlan, job: TensorJob, gpu: NonNullable<ExecuteOptions['gpu']>): string | undefined {
  const m = plan.method;
  if ((m.statsPasses?.(job.ctx) ?? 0) === 0) return undefined;
  const desc = m.statisticsPlan?.(job.ctx);
  if (desc === undefined || !m.statsFromResults) return `merge method ${m.name} has no GPU statistics passes`;
  if (typeof desc === 'string') return desc;
  return gpu.merger.statistics.refusal(plan, job);
}

/** Tensors smaller than this are merged on the main thread: a worker round trip costs more. */
const PARALLEL_MIN_ELEMENTS = 1 << 18;
/** Elements per chunk: 4 MB per float32 input, so a chunk's arrays stay in cache. */
const CHUNK_ELEMENTS = 1 << 20;

export { defaultThreads };

interface ChunkLayout {
  ranges: Array<[number, number]>;
  keep: boolean;
}

export function layoutChunks(job: TensorJob, inputs: number, budget: number): ChunkLayout {
  const { rows, cols } = job.ctx;
  // Rough working set per element: inputs, a task vector and mask per model, the output.
  const total = rows * cols * (4 * (2 * inputs + 2) + inputs);
  if (job.shape.length < 2 || rows <= 1) return { ranges: [[0, rows]], keep: true };
  // Chunks small enough to stay in cache between a method's passes over them; many of them, so
  // they spread over the workers. Data is kept between statistics passes when the whole tensor's
  // working set fits the budget, and read again otherwise.
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / Math.max(1, cols)));
  const ranges: Array<[number, number]> = [];
  for (let a = 0; a < rows; a += rowsPerChunk) ranges.push([a, Math.min(rows, a + rowsPerChunk)]);
  return { ranges, keep: total <= budget };
}

export async function executeMerge(plan: MergePlan, writer: CheckpointWriter, opts: ExecuteOptions = {}): Promise<void> {
  const threads = Math.max(1, opts.threads ?? defaultThreads());
  const budget = opts.memoryBudget ?? 768 * 1024 * 1024;
  const local = new ChunkRunner();
  let pool: WorkerPool | undefined;
  let done = 0;
  const gpu = opts.gpu ? { ...opts.gpu, on: true } : undefined;
  if (gpu) checkGpuPlan(plan, gpu);
  try {
    pool = threads > 1 ? new WorkerPool(threads) : undefined;
    for (const job of plan.jobs) {
      if (!job.merge) {
        writer.write(job.name, job.copyFrom.checkpoint.readRaw(job.copyFrom.tensor));
      } else {
        await mergeTensor(plan, job, writer, local, pool, budget, gpu);
      }
      done += job.inputBytes;
      opts.onProgress?.(done, plan.totalInputBytes, job.name);
      // Let the event loop run between tensors, so signals (Ctrl-C) are handled mid-merge.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    local.reset(true);
    await pool?.close();
  }
}

type GpuState = NonNullable<ExecuteOptions['gpu']> & { on: boolean };

async function mergeTensor(plan: MergePlan, job: TensorJob, writer: CheckpointWriter, local: ChunkRunner, pool: WorkerPool | undefined, budget: number, gpu: GpuState | undefined): Promise<void> {
  const method = plan.method;
  const { base, models } = job.inputs;
  const baseFile = base ? base.checkpoint.info(base.tensor).file : null;
  const modelFiles = models.map((m) => m.checkpoint.info(m.tensor).file);
  const layout = layoutChunks(job, modelFiles.length + (baseFile ? 1 : 0), budget);
  const useWorkers = pool !== undefined && layout.ranges.length > 1 && job.ctx.rows * job.ctx.cols >= PARALLEL_MIN_ELEMENTS;
  const run = (tasks: ChunkTask[]): Promise<ChunkResult[]> => (useWorkers ? pool.run(tasks) : Promise.resolve(tasks.map((t) => local.run(t))));
  const placement = writer.placement(job.name);
  const tasks = (kind: 'stats' | 'merge', pass: number, stats: unknown): ChunkTask[] =>
    layout.ranges.map(([rowStart, rowEnd], index) => ({
      kind,
      method: method.name,
      ctx: job.ctx,
      baseFile,
      modelFiles,
      baseTensor: base?.tensor ?? null,
      modelTensors: models.map((m) => m.tensor),
      baseLora: base?.lora ?? null,
      modelLoras: models.map((m) => m.lora ?? null),
      index,
      rowStart,
      rowEnd,
      pass,
      stats: kind === 'merge' && method.statsForChunk && stats !== undefined ? method.statsForChunk(job.ctx, stats, rowStart, rowEnd) : stats,
      keep: layout.keep,
      out: kind === 'merge' ? { fd: placement.fd, offset: placement.placed.offset, dtype: job.outDtype as FloatDtype, file: placement.file } : undefined,
    }));
  let stats: unknown;
  const passes = method.statsPasses?.(job.ctx) ?? 0;
  try {
    const onGpu = gpu?.on && passes > 0 ? await statisticsOnGpu(plan, job, gpu, layout.ranges) : undefined;
    if (onGpu) stats = onGpu.stats;
    else for (let pass = 0; pass < passes; pass++) {
      const results = await run(tasks('stats', pass, stats));
      stats = method.combineStats!(job.ctx, pass, results.map((r) => r.partial), stats);
    }
    if (gpu?.on && (await mergeOnGpu(plan, job, writer, stats, gpu, layout.ranges))) return;
    const results = await run(tasks('merge', passes, stats));
    const bad = results.find((r) => r.nonFinite);
    if (bad) nonFiniteError(job.name, results.reduce((a, r) => a + (r.nonFinite ?? 0), 0), bad.firstBad ?? 0, job.outDtype as FloatDtype);
  } finally {
    local.reset();
    if (useWorkers) await pool.reset();
  }
}

/** The statistics passes on the GPU; undefined when they run on the CPU instead. */
async function statisticsOnGpu(plan: MergePlan, job: TensorJob, gpu: GpuState, ranges: Array<[number, number]>): Promise<{ stats: unknown } | undefined> {
  const why = statisticsRefusal(plan, job, gpu);
  if (why !== undefined) {
    if (gpu.strict) fail('GPU_E_METHOD', `--device gpu cannot compute the statistics of tensor ${job.name}: ${why}; use --device cpu or auto`);
    return undefined;
  }
  const m = plan.method;
  try {
    const results = await gpu.merger.statistics.compute(plan, job, m.statisticsPlan!(job.ctx) as ElementwiseStatistics, ranges);
    return { stats: m.statsFromResults!(job.ctx, results) };
  } catch (e) {
    if (gpu.strict || !(e instanceof MergeSearchError) || e.code !== 'GPU_E_OUT_OF_MEMORY') throw e;
    gpu.on = false;
    gpu.onWarning?.(`${e.message.replace(/^GPU_E_OUT_OF_MEMORY: /, '')} — merging the rest on the CPU`);
    return undefined;
  }
}

/** The final combine on the GPU; false when this tensor goes to the CPU instead. */
async function mergeOnGpu(plan: MergePlan, job: TensorJob, writer: CheckpointWriter, stats: unknown, gpu: GpuState, ranges: Array<[number, number]>): Promise<boolean> {
  const combine = gpu.merger.combineFor(plan, job, stats);
  if (typeof combine === 'string') {
    if (gpu.strict) fail('GPU_E_METHOD', `--device gpu cannot merge tensor ${job.name}: ${combine}; use --device cpu or auto`);
    return false;
  }
  try {
    const r = await gpu.merger.mergeTensor(plan, job, combine, writer, ranges);
    if (r.nonFinite > 0) nonFiniteError(job.name, r.nonFinite, r.firstBad, job.outDtype as FloatDtype);
    return true;
  } catch (e) {
    if (gpu.strict || !(e instanceof MergeSearchError) || e.code !== 'GPU_E_OUT_OF_MEMORY') throw e;
    gpu.on = false;
    gpu.onWarning?.(`${e.message.replace(/^GPU_E_OUT_OF_MEMORY: /, '')} — merging the rest on the CPU`);
    return false;
  }
}
