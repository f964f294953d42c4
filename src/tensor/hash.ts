// The integer hashing and mixing the seeded random streams are built from, in one place: murmur3's
// 32-bit finaliser, 32-bit FNV-1a over a string, and mulberry32's output function. Every seed in the
// project (merge masks, optimizer streams, zoo initialisation and data) goes through these, so their
// outputs must never change: the golden traces and the byte-identical zoo builds depend on them.

/** murmur3's 32-bit finaliser: a bijection with full avalanche (one flipped input bit flips about half the output bits). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of the UTF-16 code units of `s`, continuing from `h` (the FNV offset basis by default). */
export function fnv1a32(s: string, h: number = FNV_OFFSET): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** mulberry32's state increment (a Weyl sequence: the state steps by this odd constant mod 2^32). */
export const MULBERRY_STEP = 0x6d2b79f5;

/** mulberry32's 32-bit output for an (already stepped) state `a`. */
export function mulberry32Output(a: number): number {
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}
