// Per-sample correctness: the raw material for accuracy, exact match, and per-sample statistics
// (paired tests between candidates, bootstrap intervals).
import { argmaxRow, checkLabelled } from './rows.ts';

/** out[i] = 1 where the argmax of row i (ties → lowest index) equals labels[i], else 0. */
export function correctness(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): Uint8Array {
  const n = checkLabelled(logits, labels, numClasses);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = +(argmaxRow(logits, i * numClasses, numClasses) === labels[i]);
  return out;
}
