// A bounded cache of decompositions keyed by the content of the matrix decomposed. A search merges
// the same experts hundreds of times with different weights; TSV-M's singular triplets and
// whitening depend only on the task vectors (not on the weights, which scale the whitened
// components), so every trial after the first reuses them and stays the exact merge code. The key
// is a 64-bit content hash of the float64 matrix plus the decomposition's own parameters (rank,
// seed); entries are evicted least-recently-used past a byte budget, so a streaming merge of a big
// model keeps its memory flat (each entry is used once there and quickly evicted).
const BUDGET_BYTES = 128 * 1024 * 1024;

interface Entry {
  value: unknown;
  bytes: number;
}

const entries = new Map<string, Entry>();
let held = 0;

/** Two independent 32-bit FNV-1a style hashes over the matrix's bytes, as one hex key. */
export function contentKey(matrix: Float64Array): string {
  const words = new Uint32Array(matrix.buffer, matrix.byteOffset, matrix.length * 2);
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ matrix.length;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    h1 = Math.imul(h1 ^ w, 0x01000193);
    h2 = Math.imul(h2 ^ ((w << 13) | (w >>> 19)), 0x5bd1e995) ^ (h2 >>> 15);
  }
  return `${matrix.length}:${(h1 >>> 0).toString(16)}:${(h2 >>> 0).toString(16)}`;
}

function sizeOf(v: unknown): number {
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (Array.isArray(v)) return v.reduce((a: number, x) => a + sizeOf(x), 0);
  if (v && typeof v === 'object') return Object.values(v).reduce((a: number, x) => a + sizeOf(x), 0);
  return 8;
}

/** The cached value for `key`, or `make()`'s result cached (when it fits the budget). */
export function cachedDecomposition<T>(key: string, make: () => T): T {
  const hit = entries.get(key);
  if (hit) {
    entries.delete(key);
    entries.set(key, hit);
    return hit.value as T;
  }
  const value = make();
  const bytes = sizeOf(value);
  if (bytes > BUDGET_BYTES / 4) return value;
  entries.set(key, { value, bytes });
  held += bytes;
  for (const [k, e] of entries) {
    if (held <= BUDGET_BYTES) break;
    entries.delete(k);
    held -= e.bytes;
  }
  return value;
}

/** Entries and bytes held (tests). */
export function decompositionCacheStats(): { entries: number; bytes: number } {
  return { entries: entries.size, bytes: held };
}

export function clearDecompositionCache(): void {
  entries.clear();
  held = 0;
}
