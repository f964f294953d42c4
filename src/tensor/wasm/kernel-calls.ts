// Typed entry points to the wasm merge kernels, one per JavaScript reference kernel. Each returns
// true (or a result) when the wasm kernel ran, and false/undefined when the caller must run its
// JavaScript loop: the js backend is selected, the input is too small to be worth a call, or the
// heap cannot take a staged copy. The wasm kernels give the same bits as the loops they replace.
import { staged, wasmKernels, WASM_MIN_ELEMENTS } from './wasm-kernels.ts';

const kernels = (n: number) => (n >= WASM_MIN_ELEMENTS ? wasmKernels() : null);

export function wasmDecode(dtype: 'F16' | 'BF16', bytes: Uint8Array, out: Float32Array): boolean {
  const n = out.length;
  const k = kernels(n);
  if (!k) return false;
  const src = bytes.subarray(0, n * 2);
  return staged(k, [src], [out], ([i], [o]) => (dtype === 'F16' ? k.x.decode_f16(i!, o!, n) : k.x.decode_bf16(i!, o!, n), true)) ?? false;
}

export function wasmEncode(dtype: 'F16' | 'BF16', values: Float32Array, out: Uint8Array): boolean {
  const n = values.length;
  const k = kernels(n);
  if (!k) return false;
  const dst = out.subarray(0, n * 2);
  return staged(k, [values], [dst], ([i], [o]) => (dtype === 'F16' ? k.x.encode_f16(i!, o!, n) : k.x.encode_bf16(i!, o!, n), true)) ?? false;
}

/** How many |x| are not below `limit` and where the first is, or undefined (run the JS loop). */
export function wasmCountOutOfRange(values: Float32Array, limit: number): { count: number; first: number } | undefined {
  const k = kernels(values.length);
  if (!k) return undefined;
  const first = new Uint32Array(1);
  const count = staged(k, [values], [first], ([i], [f]) => k.x.count_out_of_range(i!, values.length, limit, f!));
  return count === undefined ? undefined : { count, first: count > 0 ? first[0]! : -1 };
}

export function wasmSubtract(out: Float32Array, x: Float32Array, b: Float32Array): boolean {
  const n = out.length;
  const k = kernels(n);
  if (!k) return false;
  return staged(k, [x.subarray(0, n), b.subarray(0, n)], [out], ([xi, bi], [o]) => (k.x.subtract(xi!, bi!, o!, n), true)) ?? false;
}

/** A fresh 32768-bucket histogram of |x|'s high bits, or undefined. */
export function wasmHighHistogram(values: Float32Array): Uint32Array | undefined {
  const k = kernels(values.length);
  if (!k) return undefined;
  const hist = new Uint32Array(1 << 15);
  const big = values.length >= 65536;
  const scratch = big ? k.heap.alloc(4 * 4 * 32768) : 0;
  if (scratch < 0) return undefined;
  try {
    return staged(k, [values], [hist], ([v], [h]) => (k.x.high_histogram(v!, values.length, h!, scratch), hist));
  } finally {
    if (big) k.heap.release(scratch);
  }
}

/** out = x − b and the histogram of |out|'s high bits, in one pass; or undefined. */
export function wasmSubtractHistogram(out: Float32Array, x: Float32Array, b: Float32Array): Uint32Array | undefined {
  const n = out.length;
  const k = kernels(n);
  if (!k) return undefined;
  const hist = new Uint32Array(1 << 15);
  return staged(k, [x.subarray(0, n), b.subarray(0, n)], [out, hist], ([xi, bi], [o, h]) => (k.x.subtract_histogram(xi!, bi!, o!, n, h!), hist));
}

/**
 * out = decode(bytes) − b from a model's half-precision bytes (the bits of decodeToF32 then
 * subtractInto), with the histogram of |out|'s high bits when `histogram` is set (that of
 * highHistogram); true or the histogram when the kernel ran, undefined when it did not.
 */
export function wasmDecodeSubtract(dtype: 'F16' | 'BF16', bytes: Uint8Array, b: Float32Array, out: Float32Array, histogram: true): Uint32Array | undefined;
export function wasmDecodeSubtract(dtype: 'F16' | 'BF16', bytes: Uint8Array, b: Float32Array, out: Float32Array, histogram: false): true | undefined;
export function wasmDecodeSubtract(dtype: 'F16' | 'BF16', bytes: Uint8Array, b: Float32Array, out: Float32Array, histogram: boolean): Uint32Array | true | undefined {
  const n = out.length;
  const k = kernels(n);
  if (!k) return undefined;
  const hist = histogram ? new Uint32Array(1 << 15) : undefined;
  return staged(k, [bytes.subarray(0, n * 2), b.subarray(0, n)], hist ? [out, hist] : [out], ([x, bb], [o, h]) => {
    k.x.decode_subtract(x!, dtype === 'BF16' ? 1 : 0, bb!, o!, n, h ?? 0);
    return hist ?? (true as const);
  });
}

/** The low 16 bits of the |x| in high bucket `bucket`, in index order, or undefined. */
export function wasmBucketMembers(values: Float32Array, bucket: number): Uint16Array | undefined {
  const n = values.length;
  const k = kernels(n);
  if (!k) return undefined;
  const o = k.heap.alloc(n * 2 + 16);
  if (o < 0) return undefined;
  try {
    return staged(k, [values], [], ([v]) => {
      const count = k.x.bucket_members(v!, n, bucket, o);
      return new Uint16Array(k.heap.current(), o, count).slice();
    });
  } finally {
    k.heap.release(o);
  }
}

export function wasmMarkSelected(values: Float32Array, bits: number, admit: number, seen: number, out: Uint8Array): boolean {
  const n = values.length;
  const k = kernels(n);
  if (!k) return false;
  return staged(k, [values], [out.subarray(0, n)], ([v], [o]) => (k.x.mark_selected(v!, n, bits >>> 0, admit, seen, o!), true)) ?? false;
}

export function wasmMaskAndNot(mask: Uint8Array, drop: Uint8Array): boolean {
  const n = mask.length;
  const k = kernels(n);
  if (!k) return false;
  // The mask is both read and written: staged as an input and as an output.
  return staged(k, [mask, drop.subarray(0, n)], [mask], ([m, d], [mo]) => {
    if (m !== mo) new Uint8Array(k.heap.current()).copyWithin(mo!, m!, m! + n);
    k.x.mask_and_not(mo!, d!, n);
    return true;
  }) ?? false;
}

/** Bernoulli draws for mask[0..n) at indices lo.. of one 2^32 block (key already folded). */
export function wasmBernoulli(key: number, lo: number, threshold: number, mask: Uint8Array): boolean {
  const k = kernels(mask.length);
  if (!k) return false;
  return staged(k, [], [mask], (_, [m]) => (k.x.bernoulli_mask(key >>> 0, lo >>> 0, threshold, m!, mask.length), true)) ?? false;
}

const NORM_KINDS = { l1: 0, l2: 1, linf: 2 } as const;

export function wasmNormPartial(kind: 'l1' | 'l2' | 'linf', tau: Float32Array, mask: Uint8Array | null): [number, number] | undefined {
  const n = tau.length;
  const k = kernels(n);
  if (!k) return undefined;
  const out = new Float64Array(2);
  const ins = mask === null ? [tau] : [tau, mask.subarray(0, n)];
  const ok = staged(k, ins, [out], (p, [o]) => (k.x.norm_partial(NORM_KINDS[kind], p[0]!, mask === null ? 0 : p[1]!, n, o!), true));
  return ok ? [out[0]!, out[1]!] : undefined;
}

export function wasmWeightedSum(out: Float32Array, inputs: Float32Array[], weights: number[]): boolean {
  const n = out.length;
  const k = kernels(n);
  if (!k || inputs.length === 0) return false;
  const ptrs = new Uint32Array(inputs.length);
  const w = new Float64Array(weights.slice(0, inputs.length));
  return staged(k, [...inputs.map((x) => x.subarray(0, n)), w], [out], (p, [o]) => {
    inputs.forEach((_, i) => (ptrs[i] = p[i]!));
    return staged(k, [ptrs], [], ([pp]) => (k.x.weighted_sum(o!, pp!, p[inputs.length]!, inputs.length, n), true));
  }) ?? false;
}

/** One model's part of taskVectorCombine, as the C struct `Model` lays it out (48 bytes). */
export interface CombineModel {
  input: Float32Array;
  isDelta: boolean;
  /** null: all kept; a byte mask; or a threshold on |τ| bits with its admissions. */
  keep: Uint8Array | { bits: number; admit: number; seen: number } | null;
  eff: number;
  weight: number;
}

const MAX_MODELS = 32;

export function wasmTaskVectorCombine(out: Float32Array, base: Float32Array, models: CombineModel[], consensus: boolean, normalize: boolean, scale: number): boolean {
  const n = out.length;
  const k = kernels(n);
  if (!k || models.length === 0 || models.length > MAX_MODELS) return false;
  const masks = models.map((m) => (m.keep instanceof Uint8Array ? m.keep.subarray(0, n) : null));
  const views = [base.subarray(0, n), ...models.map((m) => m.input.subarray(0, n)), ...masks.filter((m): m is Uint8Array => m !== null)];
  const params = new ArrayBuffer(32 + 48 * models.length);
  return staged(k, views, [out], (p, [o]) => {
    const u32 = new Uint32Array(params);
    const f64 = new Float64Array(params);
    u32[0] = o!;
    u32[1] = p[0]!;
    u32[2] = n;
    u32[3] = models.length;
    u32[4] = +consensus;
    u32[5] = +normalize;
    f64[3] = scale;
    let maskPtr = 1 + models.length;
    models.forEach((m, i) => {
      const at = (32 + 48 * i) / 4;
      u32[at] = p[1 + i]!;
      u32[at + 1] = masks[i] ? p[maskPtr++]! : 0;
      f64[at / 2 + 1] = m.eff;
      f64[at / 2 + 2] = m.weight;
      u32[at + 6] = +m.isDelta;
      if (m.keep === null) u32[at + 7] = 0;
      else if (m.keep instanceof Uint8Array) u32[at + 7] = 1;
      else {
        u32[at + 7] = 2;
        u32[at + 8] = m.keep.bits >>> 0;
        u32[at + 9] = m.keep.admit;
        u32[at + 10] = m.keep.seen;
      }
    });
    const bytes = new Uint8Array(params);
    return staged(k, [bytes.subarray(0, 32), bytes.subarray(32)], [], ([c, ms]) => (k.x.task_vector_combine(c!, ms!), true));
  }) ?? false;
}

/** WIDEN's per-column sums (|base|², |x|², x·base per model) over a chunk's rows, or undefined. */
export function wasmWidenColumnStats(base: Float32Array, models: Float32Array[], rows: number, cols: number): { bb: Float64Array; xx: Float64Array[]; xb: Float64Array[] } | undefined {
  const k = kernels(rows * cols);
  if (!k || models.length === 0) return undefined;
  const n = rows * cols;
  const bb = new Float64Array(cols);
  const xx = new Float64Array(models.length * cols);
  const xb = new Float64Array(models.length * cols);
  const ptrs = new Uint32Array(models.length);
  const ok = staged(k, [base.subarray(0, n), ...models.map((x) => x.subarray(0, n))], [bb, xx, xb], (p, [pb, pxx, pxb]) => {
    models.forEach((_, i) => (ptrs[i] = p[1 + i]!));
    return staged(k, [ptrs], [], ([pp]) => (k.x.widen_col_stats(p[0]!, pp!, models.length, rows, cols, pb!, pxx!, pxb!), true));
  });
  if (!ok) return undefined;
  return { bb, xx: models.map((_, i) => xx.slice(i * cols, (i + 1) * cols)), xb: models.map((_, i) => xb.slice(i * cols, (i + 1) * cols)) };
}

/** out[e] += w[col or row of e] · (x[e] − base[e]), rounded to float32; w has one entry per column (or per row). */
export function wasmWidenMergeModel(out: Float32Array, base: Float32Array, x: Float32Array, w: Float64Array, rows: number, cols: number, rowWise: boolean): boolean {
  const n = rows * cols;
  const k = kernels(n);
  if (!k) return false;
  return staged(k, [out.subarray(0, n), base.subarray(0, n), x.subarray(0, n), w], [out.subarray(0, n)], ([o, b, xi, wi], [oo]) => {
    if (o !== oo) new Uint8Array(k.heap.current()).copyWithin(oo!, o!, o! + n * 4);
    k.x.widen_merge_model(oo!, b!, xi!, wi!, rows, cols, +rowWise);
    return true;
  }) ?? false;
}

/**
 * out = encode(Σᵢ weights[i] · decode(inputs[i])) for half-precision inputs and output, in one pass
 * (the bits of decodeToF32 → weightedSum → encodeFromF32). Returns how many results fall outside
 * the output's range (then `out` is not to be used) and the first, or undefined (not run).
 */
export function wasmWeightedSumHalf(inputs: Uint8Array[], kinds: Array<'F16' | 'BF16'>, weights: number[], out: Uint8Array, outKind: 'F16' | 'BF16', limit: number): { count: number; first: number } | undefined {
  const n = out.length / 2;
  const k = kernels(n);
  if (!k || inputs.length === 0) return undefined;
  const ptrs = new Uint32Array(inputs.length);
  const kindCodes = new Uint32Array(kinds.map((d) => (d === 'BF16' ? 1 : 0)));
  const w = new Float64Array(weights.slice(0, inputs.length));
  const first = new Uint32Array(1);
  const count = staged(k, [...inputs.map((x) => x.subarray(0, n * 2)), kindCodes, w], [out, first], (p, [o, f]) => {
    inputs.forEach((_, i) => (ptrs[i] = p[i]!));
    return staged(k, [ptrs], [], ([pp]) => k.x.weighted_sum_half(pp!, p[inputs.length]!, p[inputs.length + 1]!, inputs.length, n, o!, outKind === 'BF16' ? 1 : 0, limit, f!));
  });
  return count === undefined ? undefined : { count, first: count > 0 ? first[0]! : -1 };
}
