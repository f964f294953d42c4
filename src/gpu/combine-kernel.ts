// Host side of the combine shader: uploads one tile's raw input bytes, runs the shader, reads the
// encoded output back. Two buffer slots let the next tile upload and run while the previous
// tile's result is read back and written out (submit / collect).
import { fail } from '../errors.ts';
import { DTYPE_SIZES, type FloatDtype } from '../io/dtype.ts';
import type { ElementwiseCombine } from '../merge/elementwise.ts';
import { bernoulliThreshold } from '../tensor/random.ts';
import { AMBIGUOUS_CAPACITY, combineShader, paramRows, STATUS_WORDS, usesBase, type ShaderShape } from './combine-shader.ts';
import { BufferUsage, checkAlive, createBuffer, deviceLost, MapMode, type GpuContext } from './device.ts';
import { floatFloatBits } from './wgsl/float-float.ts';

export interface TileResult {
  /** The encoded output, exactly n · size(out dtype) bytes. */
  bytes: Uint8Array;
  /** Values the output dtype cannot hold (NaN, Inf, overflow), and the first one's element in the tile. */
  nonFinite: number;
  firstBad: number;
  /** Elements to recompute on the CPU (sign election within rounding noise), ascending; 'all' when too many to list. */
  ambiguous: Uint32Array | 'all';
}

const STATUS_BYTES = STATUS_WORDS * 4;

interface Slot {
  capacity: number;
  inputs: GPUBuffer[];
  params: GPUBuffer;
  status: GPUBuffer;
  out: GPUBuffer;
  readback: GPUBuffer;
  busy?: { n: number; outBytes: number; dtype: FloatDtype; done: Promise<void> };
}

export interface TileJob {
  shape: Omit<ShaderShape, 'workgroupSize'>;
  /** Elements in the tile. */
  n: number;
  /** Index of the tile's first element within its tensor (random masks depend on it). */
  first: number;
  /** Raw bytes per input (base first when the combine has one), each padded to a multiple of 4. */
  inputs: Uint8Array[];
}

export function paddedBytes(n: number, dtype: FloatDtype): number {
  return Math.ceil((n * DTYPE_SIZES[dtype]) / 4) * 4;
}

function paramWords(c: ElementwiseCombine, n: number, first: number): Uint32Array {
  const models = c.kind === 'weighted-sum' ? c.weights.length : c.eff.length;
  const w = new Uint32Array(paramRows(models) * 4);
  w.set([0, n, first >>> 0, Math.floor(first / 4294967296)], 0);
  if (c.kind === 'weighted-sum') {
    if (c.baseWeight !== undefined) w.set(floatFloatBits(c.baseWeight), 4);
    c.weights.forEach((x, i) => w.set(floatFloatBits(x), 4 * (2 + i)));
  } else {
    w.set([...floatFloatBits(c.gain), ...floatFloatBits(c.scale)], 4);
    c.eff.forEach((x, i) => w.set([...floatFloatBits(x), ...floatFloatBits(c.weights[i]!)], 4 * (2 + i)));
    c.keep.forEach((k, i) => {
      if (k.kind === 'bernoulli') w.set([k.key >>> 0, bernoulliThreshold(k.density)], 4 * (2 + models + i));
      if (k.kind === 'top') {
        if (!k.none && k.cutoff === undefined) throw new Error('a TIES selection reached the GPU without its cutoff');
        const cut = k.cutoff ?? 0;
        w.set([k.none ? 0xffffffff : k.bits >>> 0, cut >>> 0, Math.floor(cut / 4294967296)], 4 * (2 + models + i));
        if (k.drop) {
          if (k.drop.cutoff === undefined) throw new Error('a dropped selection reached the GPU without its cutoff');
          w.set([k.drop.bits >>> 0, k.drop.cutoff >>> 0, Math.floor(k.drop.cutoff / 4294967296)], 4 * (2 + 2 * models + i));
        }
      }
    });
  }
  return w;
}

export class CombineKernel {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly slots: Slot[] = [];
  private next = 0;

  constructor(private readonly gpu: GpuContext) {}

  private pipeline(shape: ShaderShape): GPUComputePipeline {
    const code = combineShader(shape);
    let p = this.pipelines.get(code);
    if (!p) {
      const module = this.gpu.device.createShaderModule({ code, label: 'merge combine' });
      p = this.gpu.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: 'merge combine' });
      this.pipelines.set(code, p);
    }
    return p;
  }

  private async slot(inputs: number, elements: number, label: string): Promise<Slot> {
    const index = this.next;
    this.next = (this.next + 1) % 2;
    let s = this.slots[index];
    if (s?.busy) await this.collect(s); // a caller that did not collect: finish it first
    if (!s || s.capacity < elements || s.inputs.length < inputs) {
      if (s) destroySlot(s);
      const cap = Math.max(elements, s?.capacity ?? 0);
      const bytes = cap * 4;
      const g = this.gpu;
      const made: GPUBuffer[] = [];
      try {
        for (let i = 0; i < Math.max(inputs, s?.inputs.length ?? 0); i++) made.push(await createBuffer(g, bytes, BufferUsage.STORAGE | BufferUsage.COPY_DST, `${label}: input ${i + 1}`));
        const params = await createBuffer(g, 4096, BufferUsage.UNIFORM | BufferUsage.COPY_DST, `${label}: parameters`);
        const status = await createBuffer(g, STATUS_BYTES, BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC, `${label}: status`);
        const out = await createBuffer(g, bytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC, `${label}: output`);
        const readback = await createBuffer(g, bytes + STATUS_BYTES, BufferUsage.MAP_READ | BufferUsage.COPY_DST, `${label}: read-back`);
        s = { capacity: cap, inputs: made, params, status, out, readback };
      } catch (e) {
        for (const b of made) b.destroy();
        throw e;
      }
      this.slots[index] = s;
    }
    return s;
  }

  /** Upload and start one tile; its result comes from the returned function. */
  async submit(job: TileJob, label: string): Promise<() => Promise<TileResult>> {
    const g = this.gpu;
    checkAlive(g, `merging ${label}`);
    const { shape, n } = job;
    const k = shape.inputs.length;
    if (k + 3 > g.device.limits.maxStorageBuffersPerShaderStage) {
      fail('GPU_E_METHOD', `${label}: ${k} inputs need ${k + 2} storage buffers, more than the adapter's ${g.device.limits.maxStorageBuffersPerShaderStage}; merge fewer models at once or use --device cpu`);
    }
    if (k !== (usesBase(shape.combine) ? 1 : 0) + (shape.combine.kind === 'weighted-sum' ? shape.combine.weights.length : shape.combine.eff.length)) {
      throw new Error(`${label}: ${k} inputs given for a combine of a different number of models`);
    }
    const slot = await this.slot(k, Math.max(2, n + 1), label);
    const pipeline = this.pipeline({ ...shape, workgroupSize: g.workgroupSize });
    const dev = g.device;
    const params = paramWords(shape.combine, n, job.first);
    dev.pushErrorScope('validation');
    dev.queue.writeBuffer(slot.params, 0, params as Uint32Array<ArrayBuffer>);
    dev.queue.writeBuffer(slot.status, 0, new Uint32Array([0, 0xffffffff, 0, 0]));
    job.inputs.forEach((bytes, i) => dev.queue.writeBuffer(slot.inputs[i]!, 0, bytes as Uint8Array<ArrayBuffer>, 0, bytes.length));
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: slot.params, size: params.byteLength } },
      { binding: 1, resource: { buffer: slot.status } },
      { binding: 2, resource: { buffer: slot.out } },
      ...slot.inputs.slice(0, k).map((buffer, i) => ({ binding: 3 + i, resource: { buffer } })),
    ];
    const bind = dev.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pairs = Math.ceil(n / 2);
    const groups = Math.max(1, Math.ceil(pairs / g.workgroupSize));
    const x = Math.min(groups, g.maxWorkgroupsPerDimension);
    const y = Math.ceil(groups / x);
    const outBytes = paddedBytes(n, shape.out);
    const enc = dev.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(x, y);
    pass.end();
    enc.copyBufferToBuffer(slot.out, 0, slot.readback, 0, outBytes);
    enc.copyBufferToBuffer(slot.status, 0, slot.readback, outBytes, STATUS_BYTES);
    dev.queue.submit([enc.finish()]);
    const invalid = await dev.popErrorScope();
    if (invalid) {
      checkAlive(g, `merging ${label}`);
      throw new Error(`GPU combine for ${label} was rejected: ${invalid.message}`);
    }
    slot.busy = { n, outBytes, dtype: shape.out, done: slot.readback.mapAsync(MapMode.READ, 0, outBytes + STATUS_BYTES) };
    // Keep the rejection handled until collected (a lost device rejects it).
    slot.busy.done.catch(() => undefined);
    return () => this.collect(slot, label);
  }

  private async collect(slot: Slot, label = 'a tile'): Promise<TileResult> {
    const busy = slot.busy;
    if (!busy) throw new Error('no tile in flight');
    slot.busy = undefined;
    try {
      await busy.done;
    } catch (e) {
      if (this.gpu.lostReason !== undefined) deviceLost(this.gpu, `merging ${label}`);
      throw e;
    }
    const mapped = new Uint8Array(slot.readback.getMappedRange(0, busy.outBytes + STATUS_BYTES));
    const bytes = mapped.slice(0, busy.n * DTYPE_SIZES[busy.dtype]);
    const status = new Uint32Array(mapped.slice(busy.outBytes, busy.outBytes + STATUS_BYTES).buffer);
    slot.readback.unmap();
    const listed = status[2]!;
    const ambiguous = listed > AMBIGUOUS_CAPACITY ? 'all' : status.slice(4, 4 + listed).sort();
    return { bytes, nonFinite: status[0]!, firstBad: status[0]! > 0 ? status[1]! : -1, ambiguous };
  }

  close(): void {
    for (const s of this.slots) destroySlot(s);
    this.slots.length = 0;
  }
}

function destroySlot(s: Slot): void {
  if (s.busy) return; // its mapping is still pending; the device's destruction frees it
  for (const b of [...s.inputs, s.params, s.status, s.out, s.readback]) b.destroy();
}
