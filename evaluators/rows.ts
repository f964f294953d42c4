// Shared checks and per-row helpers for the scorers. Logits are row-major [n, numClasses];
// every reported number is accumulated in float64 (see src/tensor/reduce.ts for why).

/** The numbers of rows in `logits`, after checking numClasses and that the rows are whole. */
export function rowCount(logits: ArrayLike<number>, numClasses: number): number {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`numClasses must be a positive integer, got ${numClasses}`);
  if (logits.length % numClasses !== 0) {
    throw new Error(`logits have ${logits.length} values, which is not a whole number of rows of numClasses = ${numClasses}`);
  }
  const n = logits.length / numClasses;
  // A mean over no samples is undefined; NaN here would silently poison a search.
  if (n === 0) throw new Error('cannot score an empty batch: logits have no rows');
  return n;
}

/**
 * The number of samples, after checking logits.length = labels.length × numClasses and that every
 * label is an integer class index in [0, numClasses).
 */
export function checkLabelled(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`numClasses must be a positive integer, got ${numClasses}`);
  if (logits.length !== labels.length * numClasses) {
    throw new Error(
      `logits have ${logits.length} values but labels have ${labels.length} entries × numClasses ${numClasses} = ${labels.length * numClasses}`,
    );
  }
  const n = labels.length;
  if (n === 0) throw new Error('cannot score an empty batch: there are no labels');
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new Error(`label ${i} is ${y}, not a class index in [0, ${numClasses})`);
    }
  }
  return n;
}

/** Index of the largest logit in row [start, start + k); ties (and all-NaN rows) go to the lowest index. */
export function argmaxRow(logits: ArrayLike<number>, start: number, k: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let j = 0; j < k; j++) {
    const v = logits[start + j]!;
    if (v > bestValue) {
      bestValue = v;
      best = j;
    }
  }
  return best;
}

/** The largest logit in row [start, start + k). */
export function rowMax(logits: ArrayLike<number>, start: number, k: number): number {
  let m = -Infinity;
  for (let j = 0; j < k; j++) m = Math.max(m, logits[start + j]!);
  return m;
}

/**
 * log Σ exp(x_j − m) over row [start, start + k), m = rowMax. The max term contributes exactly 1,
 * so this is log1p(Σ of the other terms): accurate even when those are tiny, where log(1 + ε)
 * would keep only ~7 digits of a confident row's loss. Non-finite logits give a non-finite result.
 */
export function logSumExpShifted(logits: ArrayLike<number>, start: number, k: number, m: number): number {
  if (!Number.isFinite(m)) return NaN;
  let rest = 0;
  let skipped = false;
  for (let j = 0; j < k; j++) {
    const v = logits[start + j]!;
    if (!skipped && v === m) skipped = true;
    else rest += Math.exp(v - m);
  }
  return Math.log1p(rest);
}
