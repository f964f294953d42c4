// Exact selection of the m largest |x| over data seen in row chunks, without sorting. |x| orders
// like its bit pattern, so two passes find the threshold value: a histogram of the high 16 bits
// picks the bucket, then the low bits of that bucket's elements pin the value. Ties at the
// threshold are admitted in index order, so exactly m elements are kept.

import { subtractInto } from './fused-kernels.ts';
import { wasmBucketMembers, wasmHighHistogram, wasmMarkSelected, wasmSubtractHistogram } from './wasm/kernel-calls.ts';

const HIGH_BUCKETS = 1 << 15; // bits of |x| >>> 16 (the sign bit is cleared)
const LOW_BUCKETS = 1 << 16;

export interface Selection {
  /** How many elements are kept. */
  m: number;
  /** Bit pattern of the smallest kept |x|. */
  bits: number;
  /** How many elements equal to the threshold are admitted, counted in index order. */
  admitEqual: number;
  /** For each chunk, how many threshold-equal elements lie in earlier chunks. */
  equalBefore: number[];
  all: boolean;
  none: boolean;
}

export interface Bucket {
  bucket: number;
  /** Elements in buckets above `bucket`. */
  above: number;
}

function absBits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

export function highHistogram(values: Float32Array): Uint32Array {
  const fast = wasmHighHistogram(values);
  if (fast) return fast;
  const hist = new Uint32Array(HIGH_BUCKETS);
  const bits = absBits(values);
  for (let i = 0, n = bits.length; i < n; i++) hist[(bits[i]! & 0x7fffffff) >>> 16]!++;
  return hist;
}

/** out = x − b (a task vector) and highHistogram(out), fused into one pass on the wasm path. */
export function subtractAndHistogram(out: Float32Array, x: Float32Array, b: Float32Array): Uint32Array {
  const fast = wasmSubtractHistogram(out, x, b);
  if (fast) return fast;
  subtractInto(out, x, b);
  return highHistogram(out);
}

/** The high bucket holding the m-th largest element, from the chunks' summed histograms. */
export function pickBucket(hists: Uint32Array[], m: number): Bucket {
  let above = 0;
  for (let b = HIGH_BUCKETS - 1; b >= 0; b--) {
    let count = 0;
    for (const h of hists) count += h[b]!;
    if (above + count >= m) return { bucket: b, above };
    above += count;
  }
  return { bucket: 0, above };
}

/**
 * The low 16 bits of every |x| in the high bucket `bucket`: usually a small fraction of the chunk,
 * so keeping one list per chunk costs far less than a dense histogram per chunk.
 */
export function bucketMembers(values: Float32Array, bucket: number): Uint16Array {
  const fast = wasmBucketMembers(values, bucket);
  if (fast) return fast;
  const bits = absBits(values);
  if (scratch.length < bits.length) scratch = new Uint16Array(bits.length);
  let count = 0;
  for (let i = 0, n = bits.length; i < n; i++) {
    const a = bits[i]! & 0x7fffffff;
    scratch[count] = a & 0xffff; // written always, kept only when in the bucket: no branch
    count += +(a >>> 16 === bucket);
  }
  return scratch.slice(0, count);
}

let scratch = new Uint16Array(0);

export function trivialSelection(m: number, total: number): Selection | undefined {
  if (m <= 0) return { m: 0, bits: 0, admitEqual: 0, equalBefore: [], all: false, none: true };
  if (m >= total) return { m: total, bits: 0, admitEqual: 0, equalBefore: [], all: true, none: false };
  return undefined;
}

/** Finish the selection from the chunks' bucket members (in chunk order). */
export function finishSelection(m: number, b: Bucket, members: Uint16Array[]): Selection {
  const hist = new Uint32Array(LOW_BUCKETS);
  for (const list of members) for (let i = 0; i < list.length; i++) hist[list[i]!]!++;
  let greater = b.above;
  for (let low = LOW_BUCKETS - 1; low >= 0; low--) {
    const count = hist[low]!;
    if (greater + count >= m) {
      const equalBefore: number[] = [];
      let before = 0;
      for (const list of members) {
        equalBefore.push(before);
        for (let i = 0; i < list.length; i++) if (list[i] === low) before++;
      }
      return { m, bits: (b.bucket << 16) | low, admitEqual: m - greater, equalBefore, all: false, none: false };
    }
    greater += count;
  }
  throw new Error(`selection of ${m} elements found only ${greater}`);
}

/** Set out[i] = 1 for the selected elements of chunk `chunkIndex` (0 elsewhere). */
export function markSelected(values: Float32Array, sel: Selection, chunkIndex: number, out: Uint8Array): void {
  if (sel.all) {
    out.fill(1);
    return;
  }
  if (sel.none) {
    out.fill(0);
    return;
  }
  if (wasmMarkSelected(values, sel.bits, sel.admitEqual, sel.equalBefore[chunkIndex] ?? 0, out)) return;
  const bits = absBits(values);
  const t = sel.bits;
  let equalSeen = sel.equalBefore[chunkIndex] ?? 0;
  for (let i = 0, n = bits.length; i < n; i++) {
    const a = bits[i]! & 0x7fffffff;
    out[i] = +(a > t); // branch-free: which side of the threshold is unpredictable
    if (a === t) {
      if (equalSeen < sel.admitEqual) out[i] = 1;
      equalSeen++;
    }
  }
}
