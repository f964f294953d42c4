// A method's final per-element combine, described as data: what the CPU kernels in
// tensor/fused-kernels.ts compute for a chunk, given the statistics passes' results. Other
// executors (the WGSL kernels in src/gpu/) run this description instead of the method's merge(),
// so the two paths take every number (weights, rescale factors, mask keys) from the same place.
import type { Selection } from '../tensor/select.ts';

/** Which task-vector entries are kept. */
export type ElementwiseKeep =
  | { kind: 'all' }
  /** DARE: element e (global index in the tensor) is kept when the counter hash uniformAt(key, e) < density. */
  | { kind: 'bernoulli'; key: number; density: number }
  /**
   * TIES trimming (select.ts): entries whose |τ| bit pattern (τ in float32) is above `bits`, plus
   * the first `admitEqual` entries equal to it in index order; equalBefore[c] counts those in the
   * statistics passes' row chunks before chunk c. `none`: nothing kept.
   */
  | {
      kind: 'top';
      bits: number;
      admitEqual: number;
      equalBefore: number[];
      none: boolean;
      /** Element index from which equal entries are no longer admitted (found from the data by the executor). */
      cutoff?: number;
      /** Breadcrumbs: entries of this second selection (the largest outliers) are dropped again. */
      drop?: TopSelection;
    };

/** A top-|τ| selection as the 'top' keep states it. */
export interface TopSelection {
  bits: number;
  admitEqual: number;
  equalBefore: number[];
  none: boolean;
  cutoff?: number;
}

export type ElementwiseCombine =
  /**
   * out[e] = Σᵢ weights[i] · modelᵢ[e] (double arithmetic, rounded once to float32); with
   * baseWeight, baseWeight · base[e] comes first (slerp: s0 · base + s1 · model).
   */
  | { kind: 'weighted-sum'; weights: number[]; baseWeight?: number }
  /**
   * The task-vector family: aᵢ = keepᵢ · effᵢ · τᵢ with τᵢ = modelᵢ − base. Without consensus:
   * out = base + (Σ aᵢ) · gain. With consensus (TIES sign election): the aᵢ agreeing with the sign
   * of Σ aᵢ (zero counts as +) are summed, and with normalize divided by the sum of their
   * weights (0 → 1); out = base + that · scale.
   */
  | {
      kind: 'task-vector';
      eff: number[];
      weights: number[];
      keep: ElementwiseKeep[];
      consensus: boolean;
      normalize: boolean;
      /** Multiplier of Σ aᵢ without consensus (scale / Σ weights when normalizing). */
      gain: number;
      /** Multiplier of the elected mean with consensus. */
      scale: number;
      /**
       * τ rounded to float32 before use, for all models or per model (as the CPU path does where it
       * built τ as a float32 array: in a statistics pass, or for a mask).
       */
      roundTau: boolean | boolean[];
    };

/**
 * A method's statistics passes, described as data (what chunkStats/combineStats compute), for
 * executors that compute them elsewhere (src/gpu/statistics.ts). Per model, over τ = model − base
 * in float32: `select` lists the top-|τ| selections wanted (element counts; the select.ts rule,
 * ties admitted in index order), `norm` the norm of τ before and after its keep mask.
 */
export interface ElementwiseStatistics {
  /** Σ base·model₀, Σ base², Σ model₀² over the whole tensor (slerp's angle). */
  gram?: boolean;
  models: Array<{
    select: Array<number | undefined>;
    norm?: {
      kind: 'l1' | 'l2' | 'linf';
      /** The keep mask: all entries, DARE's counter-hash draw, or the model's selections (keep the first, minus the second). */
      keep: { kind: 'all' } | { kind: 'bernoulli'; key: number; density: number } | { kind: 'selection' };
    };
  }>;
}

/** What an executor hands back for an ElementwiseStatistics (shapes as select.ts and sparsify.ts give them). */
export interface StatisticsResults {
  selections: Array<Array<Selection | undefined>>;
  /** Norm before and after masking (combineNorms' form: l2 already square-rooted). */
  norms: Array<[number, number] | undefined>;
  /** With `gram`: [Σ base·model₀, Σ base², Σ model₀²]. */
  gram?: [number, number, number];
}

/** Whether model i's τ is rounded to float32 in a task-vector combine. */
export function roundsTau(c: Extract<ElementwiseCombine, { kind: 'task-vector' }>, i: number): boolean {
  return Array.isArray(c.roundTau) ? c.roundTau[i] === true : c.roundTau;
}
