// Shannon entropy (nats) of the softmax predictions, averaged over samples: needs no labels.
// AdaMerging minimises it on unlabelled calibration inputs, so a differentiable tfjs twin lives
// here too. Both use log-softmax (x − logsumexp x) rather than log(softmax x), which would give
// −Inf · 0 = NaN for confident rows.
import * as tf from '@tensorflow/tfjs';
import { logSumExpShifted, rowCount, rowMax } from './rows.ts';

/** Mean over rows of −Σ p log p, p = softmax(row), accumulated in float64 (NaN for non-finite logits). */
export function entropy(logits: ArrayLike<number>, numClasses: number): number {
  const n = rowCount(logits, numClasses);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const start = i * numClasses;
    const m = rowMax(logits, start, numClasses);
    const logZ = logSumExpShifted(logits, start, numClasses, m);
    let h = 0;
    for (let j = 0; j < numClasses; j++) {
      const logP = logits[start + j]! - m - logZ;
      h -= Math.exp(logP) * logP;
    }
    total += h;
  }
  return total / n;
}

/**
 * Differentiable mean prediction entropy of a [batch, classes] logits tensor (float32 on the
 * backend; per-row sums are over the class axis only, far below the sizes where wasm's float32
 * reductions drift). The caller disposes the returned scalar; intermediates are freed here.
 */
export function entropyLoss(logits: tf.Tensor2D): tf.Scalar {
  if (logits.rank !== 2) throw new Error(`entropyLoss needs [batch, classes] logits, got shape [${logits.shape.join(', ')}]`);
  if (logits.shape[0] === 0 || logits.shape[1] === 0) throw new Error(`entropyLoss cannot score an empty batch (shape [${logits.shape.join(', ')}])`);
  return tf.tidy((): tf.Scalar => {
    const logP = tf.logSoftmax(logits, -1);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.exp(logP), logP), -1))) as tf.Scalar;
  });
}
