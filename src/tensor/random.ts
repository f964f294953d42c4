// Counter-based random numbers: the value for element i depends only on (seed, stream, i), so a
// random mask comes out identical whether a tensor is merged whole, in chunks, or on several
// threads, and the same seed always gives the same merge. bernoulliMask's loop is the reference
// for the wasm kernel that runs unless MERGESEARCH_KERNELS=js.
import { wasmBernoulli } from './wasm/kernel-calls.ts';

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit key for one random stream (a model's mask within one tensor). */
export function streamKey(seed: number, stream: number): number {
  return fmix32(fmix32(seed ^ 0x9e3779b9) ^ Math.imul(stream + 1, 0x632be5ab));
}

/**
 * Uniform in [0, 1) with 24-bit resolution for element `index` of the stream `key`: one round of
 * murmur3's finaliser (a bijection with full avalanche) over the index mixed with the key.
 */
export function uniformAt(key: number, index: number): number {
  const hi = Math.floor(index / 4294967296);
  return (fmix32((index >>> 0) ^ key ^ Math.imul(hi, 0x9e3779b1)) >>> 8) / 16777216;
}

/** mask[i] = 1 where uniformAt(key, first + i) < p: the same draws, in one tight loop. */
export function bernoulliMask(key: number, first: number, p: number, mask: Uint8Array): void {
  const threshold = Math.ceil(p * 16777216); // u < p  ⇔  (h >>> 8) < p·2^24
  const n = mask.length;
  let i = 0;
  while (i < n) {
    // Within one 2^32 block of indices the high part is constant.
    const index = first + i;
    const hi = Math.floor(index / 4294967296);
    const k = key ^ Math.imul(hi, 0x9e3779b1);
    const end = Math.min(n, i + (4294967296 - (index % 4294967296)));
    if (wasmBernoulli(k, index, threshold, mask.subarray(i, end))) {
      i = end;
      continue;
    }
    // Kept as an int32 (same bits as the unsigned index) so V8 stays on integer arithmetic.
    let lo = index | 0;
    for (; i < end; i++, lo = (lo + 1) | 0) {
      let h = lo ^ k;
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
      mask[i] = +(h >>> 8 < threshold); // a conditional here mispredicts and costs 2.5x
    }
  }
}

/** 32-bit FNV-1a of a string, for deriving per-tensor seeds from names. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function tensorSeed(runSeed: number, tensorName: string): number {
  return fmix32((runSeed >>> 0) ^ hashString(tensorName));
}

/** A small seeded sequential PRNG (mulberry32), uniform in [0, 1): for shuffles and initialisation. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
