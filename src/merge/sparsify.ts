// Sparsification of task vectors (mergekit's sparsify): which entries of τ = model − base are
// kept, and the rescale applied to what is kept. Masks are computed per chunk; whole-tensor
// numbers (top-k thresholds, norms before and after masking) come from statistics passes.
import { bernoulliMask, uniformAt, streamKey } from '../tensor/random.ts';
import { markSelected, type Selection } from '../tensor/select.ts';
import { wasmMaskAndNot, wasmNormPartial } from '../tensor/wasm/kernel-calls.ts';

export type SparsifyKind = 'magnitude' | 'random' | 'magnitude_outliers' | 'della_magprune';
export type RescaleKind = 'none' | 'l1' | 'l2' | 'linf' | 'inverse_density';

export const RESCALE_CHOICES = ['l1', 'l2', 'linf', 'inverse_density'] as const;

/** mergekit's `rescale` is a boolean meaning L1-norm matching; strings pick another rule. */
export function parseRescale(v: unknown): RescaleKind {
  if (v === true) return 'l1';
  if (v === false || v === undefined || v === null || v === 0) return 'none';
  if (v === 1) return 'l1';
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (s === 'true') return 'l1';
    if (s === 'false' || s === 'none') return 'none';
    if ((RESCALE_CHOICES as readonly string[]).includes(s)) return s as RescaleKind;
  }
  throw new Error(`rescale must be true, false, or one of ${RESCALE_CHOICES.join(', ')}; got ${JSON.stringify(v)}`);
}

/** How one model's task vector is sparsified within one tensor. */
export interface ModelSparsity {
  kind: SparsifyKind;
  density: number;
  gamma: number;
  epsilon: number;
  rescale: RescaleKind;
  /** Keep the `keepTop` largest |τ| ... */
  keepTop?: number;
  /** ... except the `dropTop` largest (breadcrumbs' outliers). */
  dropTop?: number;
  /** Row length used for della's per-row ranks (the whole tensor for 1-D). */
  rowLength: number;
}

export function planSparsity(kind: SparsifyKind, density: number, gamma: number, epsilon: number, rescale: RescaleKind, numel: number, rowLength: number): ModelSparsity {
  const s: ModelSparsity = { kind, density, gamma, epsilon, rescale, rowLength };
  if (density >= 1) return s;
  if (kind === 'magnitude') s.keepTop = Math.floor(density * numel);
  if (kind === 'magnitude_outliers') {
    const target = Math.floor(density * numel);
    let nTop = Math.floor(gamma * numel);
    let nBot = numel - target - nTop;
    if (nBot < 0) {
      nTop += nBot;
      nBot = 0;
    }
    // mergekit slices indices[n_bot:-n_top], which is empty when n_top is 0; we keep the
    // intended set (everything above the n_bot smallest) instead.
    s.keepTop = numel - nBot;
    s.dropTop = nTop;
  }
  return s;
}

export function isSparse(s: ModelSparsity): boolean {
  return s.density < 1;
}

export function usesSelection(s: ModelSparsity): boolean {
  return isSparse(s) && (s.kind === 'magnitude' || s.kind === 'magnitude_outliers');
}

export function needsNormPass(s: ModelSparsity): boolean {
  return isSparse(s) && (s.rescale === 'l1' || s.rescale === 'l2' || s.rescale === 'linf');
}

/**
 * Keep-mask of one model's task vector over one chunk (1 = kept), or null when all is kept.
 * `selections` holds [keepTop, dropTop] selections for the magnitude kinds. `alloc` gives the
 * mask's memory (the chunk's allocator: in the wasm kernels' heap, so the mask kernels write it and
 * the norm and combine kernels read it in place instead of copying it in and out on every call).
 */
export function keepMask(
  s: ModelSparsity,
  tau: Float32Array,
  chunkIndex: number,
  firstElement: number,
  key: number,
  selections: Array<Selection | undefined> | undefined,
  alloc?: (n: number) => Float32Array,
): Uint8Array | null {
  if (!isSparse(s)) return null;
  const n = tau.length;
  let mask: Uint8Array;
  if (alloc) {
    const block = alloc(Math.ceil(n / 4));
    mask = new Uint8Array(block.buffer, block.byteOffset, n);
    mask.fill(0); // a reused block holds old values
  } else mask = new Uint8Array(n);
  if (s.kind === 'magnitude' || s.kind === 'magnitude_outliers') {
    const keep = selections?.[0];
    if (!keep) throw new Error('magnitude sparsification needs its selection statistics');
    markSelected(tau, keep, chunkIndex, mask);
    const drop = selections?.[1];
    if (drop && !drop.none) {
      const dropMask = new Uint8Array(n);
      markSelected(tau, drop, chunkIndex, dropMask);
      if (!wasmMaskAndNot(mask, dropMask)) for (let i = 0; i < n; i++) if (dropMask[i]) mask[i] = 0;
    }
    return mask;
  }
  if (s.kind === 'random') {
    bernoulliMask(key, firstElement, s.density, mask);
    return mask;
  }
  // della_magprune: keep probability grows linearly with the entry's rank of |τ| within its row,
  // from density − ε (smallest) to density + ε (largest).
  if (s.density <= 0) return mask;
  const len = s.rowLength;
  // Sort keys |τ|-bits · 2^21 + column: exact in a double, so a native numeric sort (no comparator,
  // several times faster) orders by magnitude with ties in index order.
  const keys = new Float64Array(len);
  const bits = new Uint32Array(tau.buffer, tau.byteOffset, n);
  const packed = len <= 1 << 21;
  for (let r0 = 0; r0 < n; r0 += len) {
    let order: ArrayLike<number>;
    if (packed) {
      for (let j = 0; j < len; j++) keys[j] = (bits[r0 + j]! & 0x7fffffff) * 2097152 + j;
      keys.sort();
      order = keys;
    } else {
      const idx = Array.from({ length: len }, (_, j) => j);
      idx.sort((a, b) => Math.abs(tau[r0 + a]!) - Math.abs(tau[r0 + b]!) || a - b);
      order = idx;
    }
    for (let rank = 0; rank < len; rank++) {
      const j = packed ? order[rank]! & 0x1fffff : order[rank]!; // low 21 bits of an exact integer
      const norm = len > 1 ? rank / (len - 1) : 0.5;
      const p = s.density - s.epsilon + norm * 2 * s.epsilon;
      mask[r0 + j] = +(uniformAt(key, firstElement + r0 + j) < p);
    }
  }
  return mask;
}

/** Partial norms of τ before and after masking, for the rescale factor. */
export function normPartial(kind: RescaleKind, tau: Float32Array, mask: Uint8Array | null): [number, number] {
  if (kind === 'l1' || kind === 'l2' || kind === 'linf') {
    const fast = wasmNormPartial(kind, tau, mask);
    if (fast) return fast;
  }
  let before = 0;
  let after = 0;
  const n = tau.length;
  if (kind === 'linf') {
    for (let i = 0; i < n; i++) {
      const a = Math.abs(tau[i]!);
      if (a > before) before = a;
      if ((mask === null || mask[i]) && a > after) after = a;
    }
  } else if (kind === 'l2') {
    for (let i = 0; i < n; i++) {
      const a = tau[i]! * tau[i]!;
      before += a;
      after += mask === null ? a : a * mask[i]!;
    }
  } else if (mask === null) {
    for (let i = 0; i < n; i++) before += Math.abs(tau[i]!);
    after = before;
  } else {
    for (let i = 0; i < n; i++) {
      const a = Math.abs(tau[i]!);
      before += a;
      after += a * mask[i]!;
    }
  }
  return [before, after];
}

export function combineNorms(kind: RescaleKind, partials: Array<[number, number]>): [number, number] {
  let before = 0;
  let after = 0;
  for (const [b, a] of partials) {
    if (kind === 'linf') {
      before = Math.max(before, b);
      after = Math.max(after, a);
    } else {
      before += b;
      after += a;
    }
  }
  return kind === 'l2' ? [Math.sqrt(before), Math.sqrt(after)] : [before, after];
}

/** The factor applied to kept entries (mergekit: no rescale when either norm is below 1e-7). */
export function rescaleFactor(s: ModelSparsity, norms: [number, number] | undefined): number {
  if (!isSparse(s)) return 1;
  if (s.rescale === 'inverse_density') return s.density > 0 ? 1 / s.density : 1;
  if (s.rescale === 'none' || !norms) return 1;
  const [before, after] = norms;
  if (before < 1e-7 || after < 1e-7) return 1;
  return before / after;
}

export function maskKey(seed: number, model: number): number {
  return streamKey(seed, model);
}
