// Deterministic subsets of a calibration set: the same (n, k, seed) gives the same indices on every
// machine and run, so a study's trials are scored on identical samples and a resumed study matches.

/** sfc32 (Chris Doty-Humphrey's small fast counter PRNG), seeded through splitmix32. */
function sfc32(seed: number): () => number {
  // Mix both 32-bit halves of the (safe-integer) seed so seeds above 2^32 differ too.
  let s = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) | 0, 0x9e3779b1);
  const splitmix32 = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
  let a = splitmix32();
  let b = splitmix32();
  let c = splitmix32();
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) next(); // the reference warm-up
  return next;
}

/** k distinct indices from [0, n), chosen uniformly from `seed`, sorted ascending; k ≥ n gives all of them. */
export function subsampleIndices(n: number, k: number, seed: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`subsample: n must be an integer in [0, 2^32), got ${n}`);
  if (!Number.isInteger(k) || k < 0) throw new Error(`subsample: k must be a non-negative integer, got ${k}`);
  if (!Number.isSafeInteger(seed)) throw new Error(`subsample: seed must be a safe integer, got ${seed}`);
  if (k >= n) {
    const all = new Uint32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    return all;
  }
  const next = sfc32(seed);
  // Uniform in [0, m) from 53 random bits: the bias of floor(u·m) is below m / 2^53, i.e. nil.
  const below = (m: number): number => Math.floor(((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992 * m);
  const out = new Uint32Array(k);
  // Partial Fisher-Yates: step i swaps position i with a uniform position in [i, n). A dense
  // array when k is a sizeable part of n, else a sparse map of the displaced entries (O(k)
  // memory for a few samples out of millions); both make the same swaps, so the same indices.
  if (k * 4 >= n) {
    const a = new Uint32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    for (let i = 0; i < k; i++) {
      const j = i + below(n - i);
      const t = a[j]!;
      a[j] = a[i]!;
      a[i] = t;
      out[i] = t;
    }
  } else {
    const moved = new Map<number, number>();
    for (let i = 0; i < k; i++) {
      const j = i + below(n - i);
      const t = moved.get(j) ?? j;
      moved.set(j, moved.get(i) ?? i);
      out[i] = t;
    }
  }
  return out.sort();
}
