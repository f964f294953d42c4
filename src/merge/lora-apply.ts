// A LoRA patch applied to rows [rowStart, rowEnd) of a model tensor as it is read for merging:
// W' = W + scale · B·A (transposed for [in, out] storage), the products summed in float64, the
// result stored as float32 and rounded to the tensor's stored dtype, as if the adapter had been merged into the model and the model saved.
// Only the rows at hand are changed, so a tensor is never held whole for this.
import { decodeToF32, encodeFromF32, type FloatDtype } from '../io/dtype.ts';
import type { LoraPatch } from '../io/lora-adapter.ts';

/** Reads rows [rowStart, rowEnd) (all rows when absent) of a tensor of the patch's file as float32. */
export type ReadAdapterRows = (tensor: string, rowStart?: number, rowEnd?: number) => Float32Array;

export function applyLoraRows(w: Float32Array, dtype: FloatDtype, patch: LoraPatch, rowStart: number, rowEnd: number, cols: number, read: ReadAdapterRows): void {
  const r = patch.rank;
  const s = patch.scale;
  if (!patch.transpose) {
    // W [out, in]: row i gets Σk B[i, k] · A[k, :].
    const b = read(patch.b, rowStart, rowEnd);
    const a = read(patch.a);
    const acc = new Float64Array(cols);
    for (let i = 0; i < rowEnd - rowStart; i++) {
      acc.fill(0);
      for (let k = 0; k < r; k++) {
        const bik = b[i * r + k]!;
        if (bik === 0) continue;
        const ak = k * cols;
        for (let j = 0; j < cols; j++) acc[j] = acc[j]! + bik * a[ak + j]!;
      }
      const row = i * cols;
      for (let j = 0; j < cols; j++) w[row + j] = w[row + j]! + s * acc[j]!;
    }
  } else {
    // W [in, out]: W[i, j] gets Σk B[j, k] · A[k, i]; A's columns rowStart.. are this chunk's rows.
    const a = read(patch.a);
    const b = read(patch.b);
    const inDim = a.length / r;
    for (let i = 0; i < rowEnd - rowStart; i++) {
      const col = rowStart + i;
      const row = i * cols;
      for (let j = 0; j < cols; j++) {
        let d = 0;
        for (let k = 0; k < r; k++) d += b[j * r + k]! * a[k * inDim + col]!;
        w[row + j] = w[row + j]! + s * d;
      }
    }
  }
  roundToDtype(w, dtype);
}

/** Round float32 values in place to the nearest value of `dtype` (round to nearest even). */
export function roundToDtype(v: Float32Array, dtype: FloatDtype): void {
  if (dtype === 'F32') return;
  const bytes = new Uint8Array(v.length * 2);
  encodeFromF32(dtype, v, bytes);
  decodeToF32(dtype, bytes, v);
}
