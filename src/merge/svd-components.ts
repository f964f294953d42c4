// Fixed per-task singular components of one 2-D tensor, for component-granularity searches
// (AdaRank-style): each task vector τₜ is decomposed once, τₜ ≈ Σᵢ sₜᵢ·uₜᵢ·vₜᵢᵀ (top k triplets),
// its k components are split into groups, and a candidate is
//   base + Σₜ Σ_g c[t][g] · Σ_{i ∈ g} sₜᵢ·uₜᵢ·vₜᵢᵀ,
// linear in the coefficients c, so gradient optimizers can differentiate through it and black-box
// ones can treat c as a plain vector. c = 1 everywhere with k = r is task arithmetic; a 0/1 mask
// per component is AdaRank's search space.
import { type Svd, svdTopK } from '../tensor/svd.ts';

export interface TaskComponents extends Svd {
  rows: number;
  cols: number;
}

export interface ComponentOptions {
  /** Seed for the randomized top-k path (large matrices); results are deterministic from it. */
  seed?: number;
  exact?: boolean;
}

/**
 * Top ⌊rankFraction · min(rows, cols)⌋ (at least 1) singular triplets of each task vector (row-major
 * rows×cols), in float64. Fewer are kept for a task vector of lower rank.
 */
export function taskComponents(deltas: ArrayLike<number>[], rows: number, cols: number, rankFraction: number, opts: ComponentOptions = {}): TaskComponents[] {
  if (!(rankFraction > 0 && rankFraction <= 1)) throw new Error(`rankFraction is ${rankFraction}; it must be in (0, 1]`);
  const k = Math.max(1, Math.floor(rankFraction * Math.min(rows, cols)));
  return deltas.map((d, t) => {
    if (d.length !== rows * cols) throw new Error(`task ${t} has ${d.length} values, expected ${rows}×${cols}`);
    const svd = svdTopK(Float64Array.from(d), rows, cols, k, { seed: ((opts.seed ?? 0) + 7919 * t) >>> 0, exact: opts.exact });
    return { ...svd, rows, cols };
  });
}

/** `groups` contiguous ranges [start, end) splitting k components as evenly as possible, top first. */
export function componentGroups(k: number, groups: number): Array<[number, number]> {
  const g = Math.max(1, Math.min(groups, Math.max(k, 1)));
  return Array.from({ length: g }, (_, i) => [Math.floor((i * k) / g), Math.floor(((i + 1) * k) / g)] as [number, number]);
}

/**
 * Σₜ Σ_g coefficients[t][g] · (task t's components in group g), as a row-major rows×cols update
 * (float64 accumulation, float32 result). Each task's components are grouped by componentGroups(kₜ, G)
 * with G = coefficients[t].length.
 */
export function combineComponents(components: TaskComponents[], coefficients: number[][]): Float32Array {
  const { rows, cols } = components[0]!;
  const acc = new Float64Array(rows * cols);
  components.forEach((c, t) => {
    const coef = coefficients[t]!;
    const groups = componentGroups(c.k, coef.length);
    groups.forEach(([a, b], g) => {
      const w = coef[g]!;
      if (w === 0) return;
      for (let i = a; i < b; i++) {
        const f = w * c.s[i]!;
        const u = c.ut.subarray(i * rows, (i + 1) * rows);
        const v = c.vt.subarray(i * cols, (i + 1) * cols);
        for (let r = 0; r < rows; r++) {
          const ur = f * u[r]!;
          if (ur === 0) continue;
          const o = r * cols;
          for (let e = 0; e < cols; e++) acc[o + e]! += ur * v[e]!;
        }
      }
    });
  });
  return Float32Array.from(acc);
}
