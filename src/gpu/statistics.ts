// The statistics passes of a merge on the GPU (a method's ElementwiseStatistics): top-|τ|
// thresholds by histogram, the counts of threshold-equal entries per statistics chunk, and the
// norms DARE/TIES rescaling needs. The counts are exact (integer atomics), so the selections are
// the CPU path's (select.ts) element for element; the norms are float-float partials summed in
// float64 (within ~1e-13 relative of the CPU's float64 sums). Where the threshold's equal entries
// are admitted only in part, the element where admission stops is found on the CPU from one
// statistics chunk (selection-cutoff.ts), as for the combine.
import type { FloatDtype } from '../io/dtype.ts';
import type { ElementwiseStatistics, StatisticsResults } from '../merge/elementwise.ts';
import type { MergePlan, TensorJob } from '../merge/plan.ts';
import { bernoulliThreshold } from '../tensor/random.ts';
import { pickBucket, trivialSelection, type Selection } from '../tensor/select.ts';
import { BufferUsage, checkAlive, createBuffer, deviceLost, MapMode, type GpuContext } from './device.ts';
import { HIGH_BINS, LOW_BINS, PARAM_ROWS, statisticsShader, type StatisticsShape } from './statistics-shader.ts';
import { selectionCutoff } from './selection-cutoff.ts';

const GPU_DTYPES = new Set(['F32', 'F16', 'BF16']);

interface Dispatch {
  model: number;
  shape: Omit<StatisticsShape, 'base' | 'model' | 'workgroupSize'>;
  /** Row 1 of the parameters, and rows 2-4 (mask parameters). */
  arg: [number, number];
  masks?: number[];
  out: GPUBuffer;
  params: GPUBuffer;
}

function paddedBytes(n: number, dtype: FloatDtype): number {
  return Math.ceil((n * (dtype === 'F32' ? 4 : 2)) / 4) * 4;
}

export class GpuStatistics {
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(
    private readonly gpu: GpuContext,
    private readonly tileElements: number,
  ) {}

  /** Why this tensor's statistics cannot run on the GPU, or undefined when they can. */
  refusal(plan: MergePlan, job: TensorJob): string | undefined {
    const dtypes = [plan.base, ...plan.models].map((s) => s?.info(job.name).dtype);
    const odd = dtypes.find((d) => !GPU_DTYPES.has(d ?? ''));
    if (odd) return `tensor ${job.name} is stored as ${odd}; the GPU statistics read F32, F16 and BF16`;
    if (job.ctx.rows * job.ctx.cols >= 2 ** 32) return `tensor ${job.name} has 2^32 elements or more; the GPU statistics count them in 32 bits`;
    if (job.ctx.cols > this.tileElements) return `a row of tensor ${job.name} has ${job.ctx.cols} elements, more than one GPU tile (${this.tileElements})`;
    if ((this.gpu.workgroupSize & (this.gpu.workgroupSize - 1)) !== 0) return `the adapter's workgroup size ${this.gpu.workgroupSize} is not a power of two`;
    return undefined;
  }

  private pipeline(shape: StatisticsShape): GPUComputePipeline {
    const code = statisticsShader(shape);
    let p = this.pipelines.get(code);
    if (!p) {
      const module = this.gpu.device.createShaderModule({ code, label: `merge statistics (${shape.pass})` });
      p = this.gpu.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: `merge statistics (${shape.pass})` });
      this.pipelines.set(code, p);
    }
    return p;
  }

  /** The statistics `desc` asks for, over the tensor `job`; `ranges` are the CPU path's statistics chunks. */
  async compute(plan: MergePlan, job: TensorJob, desc: ElementwiseStatistics, ranges: Array<[number, number]>): Promise<StatisticsResults> {
    const { rows, cols } = job.ctx;
    const numel = rows * cols;
    const label = `statistics of tensor ${job.name}`;
    const owned: GPUBuffer[] = [];
    const make = async (bytes: number, usage: number, what: string) => {
      const b = await createBuffer(this.gpu, bytes, usage, `${label}: ${what}`);
      owned.push(b);
      return b;
    };
    try {
      const k = desc.models.length;
      const results: StatisticsResults = { selections: desc.models.map((m) => m.select.map(() => undefined)), norms: desc.models.map(() => undefined) };
      const sweeper = await this.sweeper(plan, job, make);
      // 1. High histograms, one per model with a selection to make.
      const needHigh = desc.models.map((m) => m.select.some((t) => t !== undefined && !trivialSelection(t, numel)));
      const high: Dispatch[] = [];
      for (let i = 0; i < k; i++) {
        if (needHigh[i]) high.push({ model: i, shape: { pass: 'high' }, arg: [0, 0], out: await make(HIGH_BINS * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, `model ${i + 1} histogram`), params: await make(PARAM_ROWS * 16, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'parameters') });
      }
      const highCounts = high.length ? await sweeper(high) : [];
      // 2. Low histograms within each selection's bucket.
      const low: Array<Dispatch & { target: number; m: number; bucket: ReturnType<typeof pickBucket> }> = [];
      for (let i = 0; i < k; i++) {
        for (const [j, m] of desc.models[i]!.select.entries()) {
          if (m === undefined) continue;
          const trivial = trivialSelection(m, numel);
          if (trivial) {
            results.selections[i]![j] = trivial;
            continue;
          }
          const bucket = pickBucket([highCounts[high.findIndex((h) => h.model === i)]!], m);
          low.push({ model: i, target: j, m, bucket, shape: { pass: 'low' }, arg: [bucket.bucket, 0], out: await make(LOW_BINS * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, `model ${i + 1} bucket histogram`), params: await make(PARAM_ROWS * 16, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'parameters') });
        }
      }
      const lowCounts = low.length ? await sweeper(low) : [];
      // 3. Where the threshold's equal entries are admitted only in part: how many lie in each statistics chunk.
      const chunkElements = (ranges[0]![1] - ranges[0]![0]) * cols;
      const equal: Array<Dispatch & { sel: Selection }> = [];
      low.forEach((l, d) => {
        const hist = lowCounts[d]!;
        let greater = l.bucket.above;
        let lowBits = -1;
        for (let b = LOW_BINS - 1; b >= 0; b--) {
          if (greater + hist[b]! >= l.m) {
            lowBits = b;
            break;
          }
          greater += hist[b]!;
        }
        if (lowBits < 0) throw new Error(`GPU selection of ${l.m} elements of ${job.name} found only ${greater}`);
        const bits = (l.bucket.bucket << 16) | lowBits;
        const admitEqual = l.m - greater;
        // All equal entries admitted: markSelected admits each whatever the counts before it.
        const sel: Selection = { m: l.m, bits, admitEqual, equalBefore: ranges.map(() => 0), all: false, none: false };
        results.selections[l.model]![l.target] = sel;
        if (admitEqual < hist[lowBits]!) equal.push({ ...l, sel, shape: { pass: 'equal' }, arg: [bits, chunkElements] });
      });
      for (const e of equal) e.out = await make(ranges.length * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, `model ${e.model + 1} equal counts`);
      const equalCounts = equal.length ? await sweeper(equal) : [];
      equal.forEach((e, d) => {
        let before = 0;
        e.sel.equalBefore = Array.from(equalCounts[d]!.subarray(0, ranges.length), (c) => {
          const at = before;
          before += c;
          return at;
        });
      });
      // 4. Norms before and after the keep mask.
      const norms: Dispatch[] = [];
      for (let i = 0; i < k; i++) {
        const n = desc.models[i]!.norm;
        if (!n) continue;
        let masks: number[] = [];
        let drop = false;
        if (n.keep.kind === 'bernoulli') masks = [n.keep.key >>> 0, bernoulliThreshold(n.keep.density), 0, 0];
        if (n.keep.kind === 'selection') {
          const [keep, dropSel] = results.selections[i]!;
          const row = (s: Selection | undefined, absent: number[]) => {
            if (!s) return absent;
            if (s.none) return [0xffffffff, 0, 0, 0];
            if (s.all) return [0, 0, 0, 0]; // every nonzero entry: zeros add nothing to a norm
            return [s.bits >>> 0, this.cutoff(plan, job, i, s, ranges), 0, 0];
          };
          masks = [0, 0, 0, 0, ...row(keep, [0, 0, 0, 0]), ...row(dropSel, [0xffffffff, 0, 0, 0])];
          drop = dropSel !== undefined;
        }
        norms.push({ model: i, shape: { pass: 'norm', norm: n.kind, mask: n.keep.kind, drop }, arg: [0, 0], masks, out: undefined as unknown as GPUBuffer, params: await make(PARAM_ROWS * 16, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'parameters') });
      }
      if (desc.gram) {
        const slots = sweeper.normSlots();
        const d: Dispatch = { model: 0, shape: { pass: 'gram' }, arg: [0, 0], out: await make(slots * 32, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, 'gram partials'), params: await make(PARAM_ROWS * 16, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'parameters') };
        const [w] = await sweeper([d]);
        const f = new Float32Array(w!.buffer, w!.byteOffset, slots * 8);
        const g: [number, number, number] = [0, 0, 0];
        for (let s = 0; s < slots; s++) {
          g[0] += f[8 * s]! + f[8 * s + 1]!;
          g[1] += f[8 * s + 2]! + f[8 * s + 3]!;
          g[2] += f[8 * s + 4]! + f[8 * s + 5]!;
        }
        results.gram = g;
      }
      if (norms.length) {
        const slots = sweeper.normSlots();
        for (const d of norms) d.out = await make(slots * 16, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, `model ${d.model + 1} norm partials`);
        const partials = await sweeper(norms);
        norms.forEach((d, x) => {
          const f = new Float32Array(partials[x]!.buffer, partials[x]!.byteOffset, slots * 4);
          let before = 0;
          let after = 0;
          for (let s = 0; s < slots; s++) {
            if (d.shape.norm === 'linf') {
              before = Math.max(before, f[4 * s]!);
              after = Math.max(after, f[4 * s + 2]!);
            } else {
              before += f[4 * s]! + f[4 * s + 1]!;
              after += f[4 * s + 2]! + f[4 * s + 3]!;
            }
          }
          results.norms[d.model] = d.shape.norm === 'l2' ? [Math.sqrt(before), Math.sqrt(after)] : [before, after];
        });
      }
      return results;
    } finally {
      for (const b of owned) b.destroy();
    }
  }

  /** The element where the admission of `sel`'s threshold-equal entries stops. */
  private cutoff(plan: MergePlan, job: TensorJob, model: number, sel: Selection, ranges: Array<[number, number]>): number {
    const tau = (a: number, b: number) => {
      const x = plan.models[model]!.readF32(job.name, a, b);
      const base = plan.base!.readF32(job.name, a, b);
      return x.map((v, e) => v - base[e]!);
    };
    return selectionCutoff({ kind: 'top', bits: sel.bits, admitEqual: sel.admitEqual, equalBefore: sel.equalBefore, none: sel.none }, ranges, job.ctx.cols, job.ctx.rows * job.ctx.cols, tau);
  }

  /**
   * A function running dispatches over every tile of the tensor (base and models read from disk
   * and uploaded once per tile), returning each dispatch's output buffer read back.
   */
  private async sweeper(plan: MergePlan, job: TensorJob, make: (bytes: number, usage: number, what: string) => Promise<GPUBuffer>) {
    const g = this.gpu;
    const { rows, cols } = job.ctx;
    const rowsPerTile = Math.max(1, Math.floor(this.tileElements / Math.max(1, cols)));
    const sources = [plan.base!, ...plan.models];
    const dtypes = sources.map((s) => s.info(job.name).dtype as FloatDtype);
    const tileRows = Math.min(rows, rowsPerTile);
    const host = dtypes.map((d) => new Uint8Array(paddedBytes(tileRows * cols, d)));
    const inputs: GPUBuffer[] = [];
    for (const [i, d] of dtypes.entries()) inputs.push(await make(paddedBytes(Math.max(2, tileRows * cols), d), BufferUsage.STORAGE | BufferUsage.COPY_DST, i === 0 ? 'base tile' : `model ${i} tile`));
    const wg = g.workgroupSize;
    const grid = (n: number) => {
      const groups = Math.max(1, Math.ceil(Math.ceil(n / 2) / wg));
      const x = Math.min(groups, g.maxWorkgroupsPerDimension);
      return [x, Math.ceil(groups / x)] as const;
    };
    const tiles: Array<[number, number]> = [];
    for (let a = 0; a < rows; a += rowsPerTile) tiles.push([a, Math.min(rows, a + rowsPerTile)]);
    const slotsBefore: number[] = [];
    let slots = 0;
    for (const [a, b] of tiles) {
      slotsBefore.push(slots);
      const [x, y] = grid((b - a) * cols);
      slots += x * y;
    }
    const run = async (dispatches: Dispatch[]): Promise<Uint32Array[]> => {
      const dev = g.device;
      const used = [...new Set([0, ...dispatches.map((d) => d.model + 1)])];
      for (const d of dispatches) if (d.shape.pass !== 'norm' && d.shape.pass !== 'gram') dev.queue.writeBuffer(d.out, 0, new Uint8Array(d.out.size));
      let previous: Promise<void> | undefined;
      for (const [t, [a, b]] of tiles.entries()) {
        const n = (b - a) * cols;
        for (const s of used) {
          const buf = host[s]!.subarray(0, paddedBytes(n, dtypes[s]!));
          buf.fill(0, n * (dtypes[s] === 'F32' ? 4 : 2));
          sources[s]!.fileOf(job.name).readRaw(job.name, a, b, buf.subarray(0, n * (dtypes[s] === 'F32' ? 4 : 2)));
        }
        // One tile in flight: the next tile is read from disk while this one computes.
        if (previous) await previous;
        checkAlive(g, `computing the ${label(job)}`);
        dev.pushErrorScope('validation');
        for (const s of used) dev.queue.writeBuffer(inputs[s]!, 0, host[s]!, 0, paddedBytes(n, dtypes[s]!));
        const enc = dev.createCommandEncoder();
        for (const d of dispatches) {
          const params = new Uint32Array(PARAM_ROWS * 4);
          params.set([0, n, a * cols, slotsBefore[t]!, d.arg[0] >>> 0, d.arg[1] >>> 0, 0, 0]);
          if (d.masks) params.set(d.masks, 8);
          dev.queue.writeBuffer(d.params, 0, params);
          const pipeline = this.pipeline({ ...d.shape, base: dtypes[0]!, model: dtypes[d.model + 1]!, workgroupSize: wg });
          const bind = dev.createBindGroup({
            layout: pipeline.getBindGroupLayout(0),
            entries: [
              { binding: 0, resource: { buffer: d.params } },
              { binding: 1, resource: { buffer: d.out } },
              { binding: 2, resource: { buffer: inputs[0]! } },
              { binding: 3, resource: { buffer: inputs[d.model + 1]! } },
            ],
          });
          const pass = enc.beginComputePass();
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, bind);
          const [x, y] = grid(n);
          pass.dispatchWorkgroups(x, y);
          pass.end();
        }
        dev.queue.submit([enc.finish()]);
        const invalid = await dev.popErrorScope();
        if (invalid) {
          checkAlive(g, `computing the ${label(job)}`);
          throw new Error(`GPU statistics for ${job.name} were rejected: ${invalid.message}`);
        }
        previous = dev.queue.onSubmittedWorkDone();
      }
      if (previous) await previous;
      return Promise.all(dispatches.map(async (d) => words(await this.readBack(d.out, job))));
    };
    return Object.assign(run, { normSlots: () => slots });
  }

  private async readBack(src: GPUBuffer, job: TensorJob): Promise<Uint8Array> {
    const g = this.gpu;
    const rb = await createBuffer(g, src.size, BufferUsage.MAP_READ | BufferUsage.COPY_DST, `${label(job)}: read-back`);
    try {
      const enc = g.device.createCommandEncoder();
      enc.copyBufferToBuffer(src, 0, rb, 0, src.size);
      g.device.queue.submit([enc.finish()]);
      try {
        await rb.mapAsync(MapMode.READ);
      } catch (e) {
        if (g.lostReason !== undefined) deviceLost(g, `computing the ${label(job)}`);
        throw e;
      }
      const out = new Uint8Array(rb.getMappedRange().slice(0));
      rb.unmap();
      return out;
    } finally {
      rb.destroy();
    }
  }
}

function label(job: TensorJob): string {
  return `statistics of tensor ${job.name}`;
}

/** Uint32 view of read-back bytes. */
export function words(b: Uint8Array): Uint32Array {
  return new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}
