// The classifier MLP's forward pass over a fixed set of input rows on host arrays, with the
// WebAssembly SIMD dense kernels (src/tensor/wasm/forward-kernels.c): the inputs are copied into
// the kernels' memory once, then each call takes a parameter map (a candidate's backbone and the
// heads) and returns the logits of every row, each row through the head of its segment's task.
// All rows share one pass through the backbone (large matmuls); only the heads run per segment.
// The numbers are those of mlpLogits (mlp-classifier.ts) up to float32 rounding: the same
// operations, with each dot product summed in plain order and LayerNorm's and the cosine head's
// reductions in float64.
import { fail } from '../errors.ts';
import { DenseMemory, padToPanel } from '../tensor/wasm/forward-kernels.ts';
import type { MlpConfig } from './mlp-classifier.ts';
import { LAYER_NORM_EPS, NORM_FLOOR, mlpHeadName, mlpLayerName } from './mlp-names.ts';

/** Rows [start, start + count) are scored through `task`'s head. */
export interface RowSegment {
  start: number;
  count: number;
  task: string;
}

/** Float32 values of the named tensors a forward pass reads (backbone, norms, the segments' heads). */
export type MlpWeights = Record<string, Float32Array>;

/** The tensor names (and element counts) a forward pass over `tasks`' heads reads. */
export function mlpWeightSizes(config: MlpConfig, tasks: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  let fanIn = config.inputSize;
  config.hiddenSizes.forEach((width, i) => {
    out.set(`${mlpLayerName(i)}.weight`, width * fanIn).set(`${mlpLayerName(i)}.bias`, width);
    if (config.layerNorm) out.set(`${mlpLayerName(i)}.norm.weight`, width).set(`${mlpLayerName(i)}.norm.bias`, width);
    fanIn = width;
  });
  for (const t of new Set(tasks)) {
    out.set(`${mlpHeadName(t)}.weight`, config.numClasses * fanIn);
    if (config.head === 'linear') out.set(`${mlpHeadName(t)}.bias`, config.numClasses);
  }
  return out;
}

/** Refuse weights that miss a tensor or have the wrong size, naming it (before any thread sees them). */
export function checkMlpWeights(config: MlpConfig, tasks: readonly string[], weights: MlpWeights): void {
  for (const [name, size] of mlpWeightSizes(config, tasks)) {
    const w = weights[name];
    if (!w) fail('IO_E_NO_TENSOR', `tensor ${name} is missing from the parameters scored; the model's config needs it`);
    if (w.length !== size) fail('MERGE_E_SHAPE', `tensor ${name} has ${w.length} values in the parameters scored but the model's config needs ${size}`);
  }
}

export class MlpRowsForward {
  readonly rows: number;
  private readonly mem: DenseMemory;
  private readonly width: number;

  /** inputs: rows × config.inputSize values, row-major; segments cover the rows. */
  constructor(
    private readonly config: MlpConfig,
    inputs: Float32Array,
    private readonly segments: readonly RowSegment[],
  ) {
    if (inputs.length % config.inputSize !== 0) throw new RangeError(`inputs hold ${inputs.length} values, not a whole number of rows of ${config.inputSize}`);
    this.rows = inputs.length / config.inputSize;
    for (const s of segments) {
      if (s.start < 0 || s.count < 0 || s.start + s.count > this.rows) throw new RangeError(`segment ${s.task} [${s.start}, ${s.start + s.count}) lies outside the ${this.rows} rows`);
      if (!config.tasks.includes(s.task)) fail('MODEL_E_PARAMS', `task "${s.task}" has no head in this model; its config.json lists tasks ${config.tasks.join(', ')}`);
    }
    const widest = Math.max(...config.hiddenSizes.map(padToPanel));
    const fanIns = [config.inputSize, ...config.hiddenSizes];
    const biggestWeight = Math.max(...config.hiddenSizes.map((w, i) => padToPanel(w) * fanIns[i]!));
    this.width = config.hiddenSizes[config.hiddenSizes.length - 1]!;
    const classesPad = padToPanel(config.numClasses);
    const segRows = Math.max(1, ...segments.map((s) => s.count));
    const sizes = new Map<string, number>([
      ['x', inputs.length],
      ['stage', Math.max(biggestWeight, classesPad * this.width)],
      ['packed', Math.max(biggestWeight, classesPad * this.width)],
      ['bias', Math.max(widest, classesPad)],
      ['g', widest],
      ['beta', widest],
      ['hA', this.rows * widest],
      ['hB', this.rows * widest],
      ['scores', segRows * classesPad],
      ['logits', this.rows * config.numClasses],
    ]);
    this.mem = new DenseMemory(sizes);
    this.mem.f32('x').set(inputs);
  }

  /** Logits [rows, numClasses] for the weights (checked by checkMlpWeights beforehand). */
  run(weights: MlpWeights): Float32Array {
    const { config, mem } = this;
    const k = mem.x;
    let x = mem.ptr('x');
    let ldx = config.inputSize;
    let fanIn = config.inputSize;
    let into = 'hA';
    config.hiddenSizes.forEach((width, i) => {
      const pad = padToPanel(width);
      this.pack(weights[`${mlpLayerName(i)}.weight`]!, width, fanIn);
      const bias = mem.f32('bias');
      bias.fill(0);
      bias.set(weights[`${mlpLayerName(i)}.bias`]!);
      k.linear_rows(x, ldx, this.rows, fanIn, mem.ptr('packed'), mem.ptr('bias'), pad, mem.ptr(into));
      if (config.layerNorm) {
        mem.f32('g').set(weights[`${mlpLayerName(i)}.norm.weight`]!);
        mem.f32('beta').set(weights[`${mlpLayerName(i)}.norm.bias`]!);
      }
      k.norm_relu_rows(mem.ptr(into), this.rows, pad, width, config.layerNorm ? 1 : 0, mem.ptr('g'), mem.ptr('beta'), LAYER_NORM_EPS);
      x = mem.ptr(into);
      ldx = pad;
      fanIn = width;
      into = into === 'hA' ? 'hB' : 'hA';
    });
    const cosine = config.head === 'cosine';
    if (cosine) k.l2_normalize_rows(x, this.rows, ldx, fanIn, NORM_FLOOR);
    const classes = config.numClasses;
    const classesPad = padToPanel(classes);
    const logits = mem.ptr('logits');
    for (const s of this.segments) {
      if (s.count === 0) continue;
      const w = weights[`${mlpHeadName(s.task)}.weight`]!;
      if (cosine) {
        mem.f32('stage').set(w);
        k.l2_normalize_rows(mem.ptr('stage'), classes, fanIn, fanIn, NORM_FLOOR);
        k.pack_panels(mem.ptr('stage'), classes, fanIn, mem.ptr('packed'));
      } else this.pack(w, classes, fanIn);
      const bias = mem.f32('bias');
      bias.fill(0);
      if (!cosine) bias.set(weights[`${mlpHeadName(s.task)}.bias`]!);
      k.linear_rows(x + s.start * ldx * 4, ldx, s.count, fanIn, mem.ptr('packed'), mem.ptr('bias'), classesPad, mem.ptr('scores'));
      k.compact_scaled(mem.ptr('scores'), s.count, classesPad, classes, cosine ? config.logitScale : 1, logits + s.start * classes * 4);
    }
    return mem.f32('logits').slice();
  }

  private pack(w: Float32Array, out: number, inSize: number): void {
    this.mem.f32('stage').set(w);
    this.mem.x.pack_panels(this.mem.ptr('stage'), out, inSize, this.mem.ptr('packed'));
  }
}
