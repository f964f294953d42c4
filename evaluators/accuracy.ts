// Top-1 accuracy: the fraction of samples whose argmax (ties → lowest index) is the label.
import { correctness } from './correctness.ts';

export function accuracy(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number {
  const c = correctness(logits, labels, numClasses);
  let hits = 0;
  for (let i = 0; i < c.length; i++) hits += c[i]!;
  return hits / c.length;
}
