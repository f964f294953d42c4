// The optimizers' random stream. Its whole state is one unsigned 32-bit integer (a JSON number), so
// an optimizer keeps it inside its own JSON state and a resumed search draws exactly the numbers an
// uninterrupted one would. `Math.random` is never used in src/search: it cannot be saved.
//
// Generator: mulberry32 (a Weyl sequence stepped by 0x6d2b79f5, then a 32-bit mixing function). Its
// period is 2^32, far more than a search draws (a few thousand trials × a few hundred coordinates).
//
// Usage: `const rng = new Rng(state.rng); ...draws...; next.rng = rng.state;`
import { fmix32, mulberry32Output, MULBERRY_STEP } from '../tensor/hash.ts';

/** Mixes a seed (and an optional stream number) into a well-spread 32-bit starting state. */
export function rngState(seed: number, stream = 0): number {
  // murmur3's finaliser: nearby seeds (0, 1, 2, ...) give unrelated streams.
  return fmix32((Math.trunc(seed) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0);
}

export class Rng {
  #a: number;

  /** Continues the stream from a saved `state` (use `rngState(seed)` for a fresh one). */
  constructor(state: number) {
    if (!Number.isInteger(state) || state < 0 || state > 0xffffffff) throw new Error(`Rng: state must be an unsigned 32-bit integer, got ${state}`);
    this.#a = state;
  }

  /** The state to store; `new Rng(rng.state)` continues exactly where this one stands. */
  get state(): number {
    return this.#a;
  }

  /** The next raw 32-bit output. */
  next32(): number {
    this.#a = (this.#a + MULBERRY_STEP) >>> 0;
    return mulberry32Output(this.#a);
  }

  /** Uniform in [0, 1) with 53-bit resolution (two outputs), like Math.random's. */
  uniform(): number {
    const hi = this.next32() >>> 5; // 27 bits
    const lo = this.next32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [low, high). */
  between(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /**
   * Standard normal by Box-Muller. Only the cosine value is used; the sine partner is dropped rather
   * than cached, so the state stays one integer.
   */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1]: log(0) is impossible
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [0, n). The bias of flooring a 53-bit uniform is below 2^-40 for n < 2^13. */
  integer(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Rng.integer: n must be a positive integer, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}
