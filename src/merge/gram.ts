// Gram matrices of whole tensors, gathered over row chunks: G[i][j] = Σₑ vᵢ[e]·vⱼ[e] in float64.
// Methods whose result lies in the span of their inputs (karcher, multislerp) need nothing else
// from the data: their iterations run on k×k numbers, and the merge is one weighted sum.
import type { Chunk } from './method.ts';

/** Upper triangle and diagonal of the Gram matrix of `vectors` (row-major k×k, lower half zero). */
export function gramPartial(vectors: Float32Array[]): Float64Array {
  const k = vectors.length;
  const g = new Float64Array(k * k);
  const n = vectors[0]!.length;
  for (let i = 0; i < k; i++) {
    const a = vectors[i]!;
    for (let j = i; j < k; j++) {
      const b = vectors[j]!;
      let s = 0;
      for (let e = 0; e < n; e++) s += a[e]! * b[e]!;
      g[i * k + j] = s;
    }
  }
  return g;
}

/** The full symmetric Gram matrix from the chunks' partials. */
export function combineGram(partials: Float64Array[], k: number): Float64Array {
  const g = new Float64Array(k * k);
  for (const p of partials) for (let x = 0; x < p.length; x++) g[x]! += p[x]!;
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) g[i * k + j] = g[j * k + i]!;
  return g;
}

/** xᵀGy for coefficient vectors over the same inputs. */
export function gramDot(g: Float64Array, x: ArrayLike<number>, y: ArrayLike<number>): number {
  const k = x.length;
  let s = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) s += x[i]! * g[i * k + j]! * y[j]!;
  return s;
}

/** out = Σᵢ cᵢ·vᵢ over one chunk, plus `add` when given. */
export function combineInto(out: Float32Array, vectors: Float32Array[], c: ArrayLike<number>, add: Float32Array | null): void {
  for (let e = 0; e < out.length; e++) {
    let s = add ? add[e]! : 0;
    for (let i = 0; i < vectors.length; i++) s += c[i]! * vectors[i]![e]!;
    out[e] = s;
  }
}

export function chunkInputs(chunk: Chunk, withBase: boolean): Float32Array[] {
  return withBase && chunk.base ? [...chunk.models, chunk.base] : chunk.models;
}
