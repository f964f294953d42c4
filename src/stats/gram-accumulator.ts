// Running input Gram matrices of linear layers: each batch's xᵀx is formed by the tensor engine
// (float32, one batch at a time) and summed on the host in float64, then divided by the row count,
// as RegMean's reference keeps the mean of xᵀx over the calibration rows.
import * as tf from '@tensorflow/tfjs';

export class GramAccumulator {
  private readonly sums = new Map<string, { size: number; values: Float64Array; rows: number }>();

  /** Add the rows of x [rows, in] to the Gram of `weight`. */
  add(weight: string, x: tf.Tensor2D): void {
    const [rows, size] = x.shape;
    const g = tf.tidy(() => tf.matMul(x, x, true, false)).dataSync() as Float32Array;
    let s = this.sums.get(weight);
    if (!s) {
      s = { size, values: new Float64Array(size * size), rows: 0 };
      this.sums.set(weight, s);
    }
    for (let k = 0; k < g.length; k++) s.values[k] = s.values[k]! + g[k]!;
    s.rows += rows;
  }

  /** Mean Grams by weight name, and the rows behind them (the largest count, for the metadata). */
  finish(): { grams: Map<string, { size: number; values: Float64Array }>; rows: number } {
    const grams = new Map<string, { size: number; values: Float64Array }>();
    let rows = 0;
    for (const [name, s] of this.sums) {
      const values = s.values.map((v) => v / Math.max(1, s.rows));
      grams.set(name, { size: s.size, values });
      rows = Math.max(rows, s.rows);
    }
    return { grams, rows };
  }
}
