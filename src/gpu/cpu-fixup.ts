// Elements the GPU flagged as ambiguous (a TIES sign election decided by rounding noise) are
// recomputed here with the CPU path's own kernels (fused-kernels.ts, random.ts), from the tile's
// raw input bytes, and written over the GPU's values: the output then follows the CPU path.
import { DTYPE_SIZES, encodeFromF32, f16BitsToF32, type FloatDtype } from '../io/dtype.ts';
import { roundsTau, type ElementwiseCombine } from '../merge/elementwise.ts';
import { taskVectorCombine, weightedSum, type Keep } from '../tensor/fused-kernels.ts';
import { bernoulliMask } from '../tensor/random.ts';
import { usesBase } from './combine-shader.ts';
import { OVERFLOW_BITS } from './wgsl/half-precision.ts';

const bitsView = new Uint32Array(1);
const floatView = new Float32Array(bitsView.buffer);

function elementAt(raw: Uint8Array, dtype: FloatDtype, e: number): number {
  if (dtype === 'F32') return new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getFloat32(4 * e, true);
  const h = raw[2 * e]! | (raw[2 * e + 1]! << 8);
  if (dtype === 'F16') return f16BitsToF32(h);
  bitsView[0] = h << 16;
  return floatView[0]!;
}

/**
 * Recompute elements `indices` of a tile (first element `first` of its tensor) on the CPU and
 * write them into `bytes` (the tile's encoded output). Returns how many of them the output dtype
 * cannot hold, and the first such element.
 */
export function recomputeOnCpu(
  combine: ElementwiseCombine,
  dtypes: FloatDtype[],
  raw: Uint8Array[],
  first: number,
  indices: ArrayLike<number>,
  out: FloatDtype,
  bytes: Uint8Array,
): { nonFinite: number; firstBad: number } {
  const m = indices.length;
  const values = raw.map((r, i) => Float32Array.from({ length: m }, (_, j) => elementAt(r, dtypes[i]!, indices[j]!)));
  const result = new Float32Array(m);
  if (combine.kind === 'weighted-sum') {
    weightedSum(result, values, combine.baseWeight !== undefined ? [combine.baseWeight, ...combine.weights] : combine.weights);
  } else {
    const [base, ...models] = usesBase(combine) ? values : [new Float32Array(m), ...values];
    const masks: Keep[] = combine.keep.map((k, i) => {
      if (k.kind === 'all') return null;
      const mask = new Uint8Array(m);
      if (k.kind === 'bernoulli') {
        for (let j = 0; j < m; j++) bernoulliMask(k.key, first + indices[j]!, k.density, mask.subarray(j, j + 1));
        return mask;
      }
      // The selection rule of select.ts markSelected, with the equal entries' cutoff already found.
      if (k.none) return mask;
      const bits = new Uint32Array(1);
      const f = new Float32Array(bits.buffer);
      for (let j = 0; j < m; j++) {
        f[0] = models[i]![j]! - base![j]!;
        const a = bits[0]! & 0x7fffffff;
        const e = first + indices[j]!;
        const dropped = k.drop !== undefined && (a > k.drop.bits || (a === k.drop.bits && e < (k.drop.cutoff ?? 0)));
        mask[j] = +((a > k.bits || (a === k.bits && e < (k.cutoff ?? 0))) && !dropped);
      }
      return mask;
    });
    // The CPU path subtracts in float32 where a statistics pass built τ, on the fly otherwise.
    const inputs = models.map((x, i) => (roundsTau(combine, i) ? x.map((v, j) => v - base![j]!) : x));
    taskVectorCombine(result, base!, inputs, models.map((_, i) => roundsTau(combine, i)), masks, combine.eff, combine.weights, combine.scale, combine.consensus, combine.normalize);
  }
  const size = DTYPE_SIZES[out];
  const one = new Uint8Array(size);
  let nonFinite = 0;
  let firstBad = -1;
  for (let j = 0; j < m; j++) {
    floatView[0] = result[j]!;
    if ((bitsView[0]! & 0x7fffffff) >= OVERFLOW_BITS[out]) {
      if (nonFinite === 0) firstBad = indices[j]!;
      nonFinite++;
    }
    encodeFromF32(out, result.subarray(j, j + 1), one);
    bytes.set(one, indices[j]! * size);
  }
  return { nonFinite, firstBad };
}
