// Mean negative log-likelihood of the labels under softmax(logits), in float64 with a
// max-shifted log-sum-exp so large logits neither overflow nor lose the small terms.
// Non-finite logits give a NaN score (a diverged merge), which the caller must treat as a failure.
import { checkLabelled, logSumExpShifted, rowMax } from './rows.ts';

export function crossEntropy(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number {
  const n = checkLabelled(logits, labels, numClasses);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const start = i * numClasses;
    const m = rowMax(logits, start, numClasses);
    // (m − x_label) + log Σ exp(x − m): no cancellation between two large numbers.
    total += m - logits[start + labels[i]!]! + logSumExpShifted(logits, start, numClasses, m);
  }
  return total / n;
}
