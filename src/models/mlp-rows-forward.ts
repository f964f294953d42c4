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

/**
 * The first layer's weights of the base and of each expert. A candidate whose first-layer weight
 * is the base's plus a linear combination of the experts' differences (task arithmetic, linear
 * merges, per-tensor coefficients) has that layer's products combined from products computed once
 * (x·Bᵀ and each x·(Eₖ − B)ᵀ) instead of multiplied out: the same numbers up to float32 rounding.
 */
export interface FirstLayerBasis {
  base: Float32Array;
  experts: Float32Array[];
}

/**
 * A first-layer weight counts as the combination when its distance from it is at most this fraction
 * of its own norm: 16 float32 roundings of W (2⁻²⁴ ≈ 6e-8 each), so the shortcut changes the
 * layer's products no more than storing W in float32 does, while any masked merge (TIES, DARE, ...)
 * lies orders of magnitude further away.
 */
export const BASIS_TOLERANCE = 1e-6;

export class MlpRowsForward {
  readonly rows: number;
  private readonly mem: DenseMemory;
  private readonly width: number;
  private readonly basisCount: number;
  private planesReady = false;
  private gram: Float64Array | undefined;

  /** inputs: rows × config.inputSize values, row-major; segments cover the rows. */
  constructor(
    private readonly config: MlpConfig,
    inputs: Float32Array,
    private readonly segments: readonly RowSegment[],
    basis?: FirstLayerBasis,
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
    const K = basis?.experts.length ?? 0;
    const n0 = config.hiddenSizes[0]! * config.inputSize;
    this.basisCount = K;
    if (basis) {
      if (basis.base.length !== n0 || basis.experts.some((e) => e.length !== n0)) throw new RangeError(`the first-layer basis must hold ${n0} values per model`);
      sizes
        .set('basisB', n0)
        .set('basisE', K * n0)
        .set('planes', (K + 1) * this.rows * padToPanel(config.hiddenSizes[0]!))
        .set('gram', 2 * K * K)
        .set('dots', 2 * (K + 1))
        .set('lambda', 2 * Math.max(K, 1))
        .set('coef', K + 1)
        .set('w0', n0);
    }
    this.mem = new DenseMemory(sizes);
    this.mem.f32('x').set(inputs);
    if (basis) {
      this.mem.f32('basisB').set(basis.base);
      basis.experts.forEach((e, k) => this.mem.f32('basisE').set(e, k * n0));
    }
  }

  /**
   * λ with first-layer weight w0 = B + Σₖ λₖ (Eₖ − B) within BASIS_TOLERANCE, or undefined when w0
   * is no such combination (or there is no basis). Least squares in float64, then a check of the fit.
   */
  firstLayerCoefficients(w0: Float32Array): Float64Array | undefined {
    const K = this.basisCount;
    if (K === 0) return undefined;
    const { mem } = this;
    const k = mem.x;
    const n = w0.length;
    if (!this.gram) {
      k.basis_gram(mem.ptr('basisB'), mem.ptr('basisE'), K, n, mem.ptr('gram'));
      this.gram = mem.f64('gram').slice(0, K * K);
    }
    mem.f32('w0').set(w0);
    k.basis_dots(mem.ptr('w0'), mem.ptr('basisB'), mem.ptr('basisE'), K, n, mem.ptr('dots'));
    const dots = mem.f64('dots');
    const lambda = solveSymmetric(this.gram, dots.slice(0, K), K);
    mem.f64('lambda').set(lambda);
    const residual = k.basis_residual(mem.ptr('w0'), mem.ptr('basisB'), mem.ptr('basisE'), K, n, mem.ptr('lambda'));
    return residual <= BASIS_TOLERANCE ** 2 * dots[K]! ? lambda : undefined;
  }

  /**
   * Logits [rows, numClasses] for the weights (checked by checkMlpWeights beforehand). With
   * `lambda` (from firstLayerCoefficients), the first layer's products are combined from the basis's.
   */
  run(weights: MlpWeights, lambda?: ArrayLike<number>): Float32Array {
    const { config, mem } = this;
    const k = mem.x;
    let x = mem.ptr('x');
    let ldx = config.inputSize;
    let fanIn = config.inputSize;
    let into = 'hA';
    config.hiddenSizes.forEach((width, i) => {
      const pad = padToPanel(width);
      const combine = i === 0 && lambda !== undefined && this.basisCount > 0;
      if (combine) this.preparePlanes(); // (uses the bias block: before it is filled)
      const bias = mem.f32('bias');
      bias.fill(0);
      bias.set(weights[`${mlpLayerName(i)}.bias`]!);
      if (combine) {
        const coef = mem.f32('coef');
        coef[0] = 1;
        for (let j = 0; j < this.basisCount; j++) coef[j + 1] = lambda[j]!;
        k.combine_planes(mem.ptr('planes'), this.basisCount + 1, this.rows, pad, mem.ptr('coef'), mem.ptr('bias'), mem.ptr(into));
      } else {
        this.pack(weights[`${mlpLayerName(i)}.weight`]!, width, fanIn);
        k.linear_rows(x, ldx, this.rows, fanIn, mem.ptr('packed'), mem.ptr('bias'), pad, mem.ptr(into));
      }
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

  /** The basis's first-layer products x·Bᵀ and x·(Eₖ − B)ᵀ, without bias, made on first use. */
  private preparePlanes(): void {
    if (this.planesReady) return;
    const { mem, config } = this;
    const k = mem.x;
    const width = config.hiddenSizes[0]!;
    const pad = padToPanel(width);
    const n0 = width * config.inputSize;
    const plane = this.rows * pad * 4;
    mem.f32('bias').fill(0);
    for (let j = 0; j <= this.basisCount; j++) {
      if (j === 0) k.pack_panels(mem.ptr('basisB'), width, config.inputSize, mem.ptr('packed'));
      else {
        k.difference(mem.ptr('basisE') + (j - 1) * n0 * 4, mem.ptr('basisB'), n0, mem.ptr('stage'));
        k.pack_panels(mem.ptr('stage'), width, config.inputSize, mem.ptr('packed'));
      }
      k.linear_rows(mem.ptr('x'), config.inputSize, this.rows, config.inputSize, mem.ptr('packed'), mem.ptr('bias'), pad, mem.ptr('planes') + j * plane);
    }
    this.planesReady = true;
  }

  private pack(w: Float32Array, out: number, inSize: number): void {
    this.mem.f32('stage').set(w);
    this.mem.x.pack_panels(this.mem.ptr('stage'), out, inSize, this.mem.ptr('packed'));
  }
}

/** x with G·x = r (G symmetric K×K, row-major), by Gaussian elimination with partial pivoting; directions with a negligible pivot get 0. */
export function solveSymmetric(G: Float64Array, r: Float64Array, K: number): Float64Array {
  const a = Array.from({ length: K }, (_, i) => [...G.subarray(i * K, (i + 1) * K), r[i]!]);
  const scale = Math.max(0, ...Array.from({ length: K }, (_, i) => Math.abs(G[i * K + i]!)));
  const pivotRow: number[] = [];
  for (let col = 0, row = 0; col < K && row < K; col++) {
    let best = row;
    for (let i = row + 1; i < K; i++) if (Math.abs(a[i]![col]!) > Math.abs(a[best]![col]!)) best = i;
    if (Math.abs(a[best]![col]!) <= 1e-12 * scale) continue;
    [a[row], a[best]] = [a[best]!, a[row]!];
    for (let i = 0; i < K; i++) {
      if (i === row) continue;
      const f = a[i]![col]! / a[row]![col]!;
      if (f !== 0) for (let j = col; j <= K; j++) a[i]![j]! -= f * a[row]![j]!;
    }
    pivotRow[col] = row++;
  }
  const x = new Float64Array(K);
  for (let col = 0; col < K; col++) if (pivotRow[col] !== undefined) x[col] = a[pivotRow[col]!]![K]! / a[pivotRow[col]!]![col]!;
  return x;
}
