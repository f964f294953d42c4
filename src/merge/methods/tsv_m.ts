import { type Svd, polarStacked, svdTopK } from '../../tensor/svd.ts';
import { ALPHA_DOC, alphaOf, checkFraction, columnsTimes, copyBase, meanTaskVectorFallback, svdFamily } from '../svd-family.ts';
import { numberParam, type Chunk, type TensorContext } from '../method.ts';
import { cachedDecomposition, contentKey } from '../decomposition-cache.ts';

// TSV-M, Task Singular Vectors merge (Gargiulo et al., CVPR 2025; FusionBench
// `TaskSingularVectorMerging`, TSVM_utils.compute_and_sum_svd_mem_reduction).
//
// Per 2-D weight (r = min(rows, cols), T tasks, τₜ = modelₜ − base):
//   1. each τₜ is cut to its top k singular triplets Uₜ, σₜ, Vₜ, k = ⌊rank_fraction · r / T⌋
//      (at least 1): the rank budget r is shared equally among the tasks (FusionBench: k = ⌊r/T⌋);
//   2. the concatenations U = [U₁ … U_T] (rows×Tk) and V = [V₁ … V_T] (cols×Tk) are each replaced
//      by their nearest matrix with orthonormal columns, the polar factor (SVD U = PΣQᵀ → PQᵀ;
//      computed here as U(UᵀU)^-1/2, the same matrix; with two tasks from the k×k block C = U₁ᵀU₂
//      alone, svd.ts polarStacked) — this decorrelates the tasks' directions;
//   3. merged = base + α · U⊥ · diag(c ⊙ σ) · V⊥ᵀ, where component j of task t is scaled by
//      cⱼ = weightₜ · group_gₜ (g: which of the TSV_GROUPS (32) contiguous groups of task t's kept
//      triplets, largest first, j falls in). All 1 (the defaults) is TSV-M; `weight` is the
//      per-task scale (FusionBench's per-task list, which scales τₜ before the SVD: the same merge
//      for weight > 0, since the singular vectors and the whitening do not depend on it); the
//      `group_g` scales are the component granularity a search can tune (AdaRank's analogue).
//      The merge is linear in every c, so gradient optimizers differentiate through it with the
//      whitened factors fixed (src/search/linear-candidate.ts).
// Defaults taken from FusionBench: α = 1 (`alpha`), rank budget ⌊r/T⌋ per task (rank_fraction 1),
// per-task weights 1 (FusionBench's per-task `alpha` list, which scales each τₜ before the SVD).
// Other tensors (not 2-D, token embeddings, LM heads): base + α · mean of the weighted task
// vectors — task arithmetic with weights 1/T — as FusionBench averages them.
// Numerics: float64 throughout the decompositions (src/tensor/svd.ts); top-k by the exact Gram
// eigendecomposition when min(rows, cols) ≤ 512 or k is large relative to r (3·(k + 10) ≥ r: T ≤ 3), else
// by a randomized range finder seeded from the tensor's seed (deterministic; svdTopK's rule).

interface TsvAcc {
  tasks: Svd[];
}

/** Number of component groups each task's kept triplets are split into (top first). */
export const TSV_GROUPS = 32;
/** The per-model parameters scaling each component group: group_0 … group_31. */
export const GROUP_PARAMS = Array.from({ length: TSV_GROUPS }, (_, g) => `group_${g}`);

/** `groups` contiguous ranges [start, end) splitting k components as evenly as possible, top first. */
export function componentGroups(k: number, groups: number): Array<[number, number]> {
  const g = Math.max(1, Math.min(groups, Math.max(k, 1)));
  return Array.from({ length: g }, (_, i) => [Math.floor((i * k) / g), Math.floor(((i + 1) * k) / g)] as [number, number]);
}

function rankPerTask(ctx: Pick<TensorContext, 'rows' | 'cols' | 'global' | 'perModel'>): number {
  const r = Math.min(ctx.rows, ctx.cols);
  const frac = typeof ctx.global.rank_fraction === 'number' ? ctx.global.rank_fraction : 1;
  return Math.max(1, Math.floor((frac * r) / ctx.perModel.length));
}

/** Task t's top triplets of its (unweighted) task vector, with the seed the method uses for pass t. */
export function tsvTaskSvd(matrix: Float64Array, ctx: Pick<TensorContext, 'rows' | 'cols' | 'global' | 'perModel' | 'seed'>, t: number): Svd {
  const k = rankPerTask(ctx);
  const seed = (ctx.seed + 7919 * t) >>> 0;
  // Cached by content: a search re-merges the same task vectors with other weights (see decomposition-cache.ts).
  return cachedDecomposition(`tsv-svd:${ctx.rows}x${ctx.cols}:${k}:${seed}:${contentKey(matrix)}`, () => svdTopK(matrix, ctx.rows, ctx.cols, k, { seed }));
}

/** The whitened factors of TSV-M: update = Σⱼ scaleⱼ·σⱼ·u⊥ⱼ·v⊥ⱼᵀ, with the task and group of each component j. */
export interface TsvFactors {
  /** kk vectors of length rows (vector-major): the polar factor of the stacked U's. */
  ut: Float64Array;
  /** kk vectors of length cols: the polar factor of the stacked V's. */
  vt: Float64Array;
  s: Float64Array;
  kk: number;
  task: Int32Array;
  group: Int32Array;
}

export function tsvFactors(tasks: readonly Svd[], rows: number, cols: number): TsvFactors {
  // By content: the streaming engine hands finish copies of the task decompositions (moved onto
  // shared memory between passes), so object identity would never repeat.
  const key = `tsv-factors:${rows}x${cols}:${tasks.map((t) => `${t.k}/${contentKey(t.s)}/${contentKey(t.ut)}/${contentKey(t.vt)}`).join(',')}`;
  return cachedDecomposition(key, () => whiten(tasks, rows, cols));
}

function whiten(tasks: readonly Svd[], rows: number, cols: number): TsvFactors {
  const kk = tasks.reduce((a, t) => a + t.k, 0);
  const ut = new Float64Array(kk * rows);
  const vt = new Float64Array(kk * cols);
  const s = new Float64Array(kk);
  const task = new Int32Array(kk);
  const group = new Int32Array(kk);
  let at = 0;
  tasks.forEach((t, ti) => {
    ut.set(t.ut, at * rows);
    vt.set(t.vt, at * cols);
    s.set(t.s, at);
    componentGroups(t.k, TSV_GROUPS).forEach(([a, b], g) => {
      for (let i = a; i < b; i++) {
        task[at + i] = ti;
        group[at + i] = g;
      }
    });
    at += t.k;
  });
  const sizes = tasks.map((t) => t.k);
  return { ut: polarStacked(ut, sizes, rows), vt: polarStacked(vt, sizes, cols), s, kk, task, group };
}

/** The scale of component j: weightₜ · group_gₜ (α applied by the caller). */
export function componentScale(ctx: Pick<TensorContext, 'perModel'>, task: number, group: number): number {
  const p = ctx.perModel[task] ?? {};
  return numberParam(p.weight ?? 1, 'weight') * numberParam(p[GROUP_PARAMS[group]!] ?? 1, GROUP_PARAMS[group]!);
}

export default svdFamily<TsvAcc>({
  name: 'tsv_m',
  description: 'TSV-M: each task vector cut to its top singular triplets, the stacked singular vectors orthogonalised, recombined (per 2-D weight)',
  base: 'required',
  globalParams: [
    { name: 'alpha', kind: 'number', default: 1, doc: ALPHA_DOC },
    { name: 'rank_fraction', kind: 'number', default: 1, doc: 'fraction of min(rows, cols) shared equally among the tasks as their number of kept singular triplets' },
  ],
  searchInit: { weight: 1 },
  modelParams: [
    { name: 'weight', kind: 'number', default: 1, doc: "scale of this model's recombined components (the same as scaling its task vector before the decomposition, for weight > 0)" },
    ...GROUP_PARAMS.map((name, g) => ({
      name,
      kind: 'number' as const,
      default: 1,
      doc: `scale of this model's component group ${g + 1} of ${TSV_GROUPS} (its kept singular triplets split evenly, largest first): a component-granularity search`,
    })),
  ],
  checkModels: (models, hasBase) => (!hasBase ? 'tsv_m needs base_model' : models < 1 ? 'tsv_m needs at least one model besides the base' : undefined),
  checkParams: (ctx) => checkFraction(ctx, 'rank_fraction'),
  passes: (ctx) => ctx.perModel.length,
  // Unweighted: the weights scale the whitened components in finish, which keeps the merge linear
  // in them (a zero weight would otherwise leave a zero matrix to decompose).
  gather: (_ctx, pass, chunk) => delta(chunk, pass),
  absorb: (ctx, pass, matrix, acc) => ({ tasks: [...(acc?.tasks ?? []), tsvTaskSvd(matrix, ctx, pass)] }),
  finish(ctx, acc) {
    const f = tsvFactors(acc.tasks, ctx.rows, ctx.cols);
    const alpha = alphaOf(ctx);
    const scale = f.s.map((sj, j) => alpha * sj * componentScale(ctx, f.task[j]!, f.group[j]!));
    return { l: columnsTimes(f.ut, f.kk, ctx.rows, scale), rt: f.vt, kk: f.kk };
  },
  centre: copyBase,
  fallback: meanTaskVectorFallback,
});

function delta(chunk: Chunk, t: number): Float32Array {
  const x = chunk.models[t]!;
  const b = chunk.base!;
  const out = new Float32Array(x.length);
  for (let e = 0; e < x.length; e++) out[e] = x[e]! - b[e]!;
  return out;
}
