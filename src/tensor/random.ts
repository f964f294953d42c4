// Counter-based random numbers: the value for element i depends only on (seed, stream, i), so a
// random mask comes out identical whether a tensor is merged whole, in chunks, or on several
// threads, and the same seed always gives the same merge. bernoulliMask's loop is the reference
// for the wasm kernel that runs unless MERGESEARCH_KERNELS=js.
import { fmix32, fnv1a32, mulberry32Output, MULBERRY_STEP } from './hash.ts';
import { wasmBernoulli } from './wasm/kernel-calls.ts';

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

/** The integer form of `uniformAt(key, i) < p`: (fmix32(...) >>> 8) < bernoulliThreshold(p). */
export function bernoulliThreshold(p: number): number {
  return Math.ceil(p * 16777216); // u < p  ⇔  (h >>> 8) < p·2^24
}

/** mask[i] = 1 where uniformAt(key, first + i) < p: the same draws, in one tight loop. */
export function bernoulliMask(key: number, first: number, p: number, mask: Uint8Array): void {
  const threshold = bernoulliThreshold(p);
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
      // fmix32 written out, like the rest of this hand-tuned loop (same bits: uniformAt < p, tested).
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
  return fnv1a32(s);
}

/** The seed of one tensor's random streams in a merge (its masks): the run seed mixed with its name. */
export function tensorSeed(runSeed: number, tensorName: string): number {
  return fmix32((runSeed >>> 0) ^ hashString(tensorName));
}

/** A small seeded sequential PRNG (mulberry32), uniform in [0, 1): for shuffles and initialisation. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + MULBERRY_STEP) >>> 0;
    return mulberry32Output(a) / 4294967296;
  };
}
