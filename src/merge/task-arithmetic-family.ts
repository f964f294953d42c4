// The task-vector family (mergekit's generalized task arithmetic): τᵢ = modelᵢ − base, optionally
// sparsified, weighted, optionally sign-elected (TIES consensus), summed, optionally normalised by
// the summed weights, scaled by lambda (and LiNeS' depth-linear factor), added to the base.
import { allocF32, cached, numberParam, boolParam, type Chunk, type MergeMethod, type ParamDef, type TensorContext } from './method.ts';
import type { ElementwiseKeep, ElementwiseStatistics } from './elementwise.ts';
import {
  combineNorms,
  isSparse,
  keepMask,
  maskKey,
  needsNormPass,
  normPartial,
  parseRescale,
  planSparsity,
  rescaleFactor,
  usesSelection,
  RESCALE_CHOICES,
  type ModelSparsity,
  type SparsifyKind,
} from './sparsify.ts';
import { subtractInto, taskVectorCombine, type Keep } from '../tensor/fused-kernels.ts';
import { wasmDecodeSubtract } from '../tensor/wasm/kernel-calls.ts';
import { bucketMembers, finishSelection, highHistogram, pickBucket, subtractAndHistogram, trivialSelection, type Bucket, type Selection } from '../tensor/select.ts';

export interface FamilyOptions {
  name: string;
  description: string;
  consensus: boolean;
  sparsify: SparsifyKind | null;
  normalize: boolean;
  rescale: boolean;
}

interface FamilyStats {
  buckets?: Array<Array<Bucket | undefined>>;
  selections?: Array<Array<Selection | undefined>>;
  norms?: Array<[number, number] | undefined>;
}

type PassKind = 'high' | 'low' | 'norm';

const LINES_PARAMS: ParamDef[] = [
  { name: 'lines_alpha', kind: 'number', default: 1, doc: 'LiNeS: scale of the merged task vector at depth 0 (the first layer and tensors outside layers)' },
  { name: 'lines_beta', kind: 'number', default: 0, doc: 'LiNeS: extra scale added linearly with depth, reaching alpha+beta at the last layer' },
];

export function taskArithmeticFamily(o: FamilyOptions): MergeMethod<FamilyStats> {
  const globalParams: ParamDef[] = [
    { name: 'normalize', kind: 'boolean', default: o.normalize, doc: 'divide the summed weighted task vectors by the summed weights' },
    { name: 'lambda', kind: 'number', default: 1, doc: 'scale of the merged task vector' },
    { name: 'int8_mask', kind: 'boolean', default: false, doc: 'accepted for mergekit compatibility; has no numeric effect' },
    ...LINES_PARAMS,
  ];
  const modelParams: ParamDef[] = [{ name: 'weight', kind: 'number', required: true, doc: 'weight of this model\'s task vector' }];
  if (o.sparsify) {
    globalParams.splice(1, 0, {
      name: 'rescale',
      kind: 'string',
      default: o.rescale,
      choices: ['true', 'false', ...RESCALE_CHOICES],
      doc: 'rescale kept entries: true/l1 (match the L1 norm, mergekit), l2, linf, inverse_density (1/density, the DARE paper), false',
    });
    modelParams.push({ name: 'density', kind: 'number', default: 1, doc: 'fraction of task-vector entries kept' });
    if (o.sparsify === 'magnitude_outliers') modelParams.push({ name: 'gamma', kind: 'number', default: 0.01, doc: 'fraction of the largest entries removed as outliers' });
    if (o.sparsify === 'della_magprune') modelParams.push({ name: 'epsilon', kind: 'number', default: 0.15, doc: 'spread of keep probabilities around density by magnitude rank' });
  }

  function sparsity(ctx: TensorContext): ModelSparsity[] | null {
    if (!o.sparsify) return null;
    const kind = o.sparsify;
    const rescale = parseRescale(ctx.global.rescale);
    const rowLength = ctx.shape.length < 2 ? ctx.rows * ctx.cols : ctx.cols;
    return ctx.perModel.map((p) =>
      planSparsity(kind, numberParam(p.density, 'density'), numberParam(p.gamma ?? 0.01, 'gamma'), numberParam(p.epsilon ?? 0.15, 'epsilon'), rescale, ctx.rows * ctx.cols, rowLength),
    );
  }

  function passes(ctx: TensorContext): PassKind[] {
    const sp = sparsity(ctx);
    if (!sp) return [];
    const kinds: PassKind[] = [];
    if (sp.some(usesSelection)) kinds.push('high', 'low');
    if (sp.some(needsNormPass)) kinds.push('norm');
    return kinds;
  }

  function tau(chunk: Chunk, i: number): Float32Array {
    return cached(chunk, `tau${i}`, () => {
      const b = chunk.base!;
      const d = allocF32(chunk, b.length);
      const half = chunk.half?.[i];
      // From the file's half-precision bytes when the executor kept them: one pass, no float32 model.
      if (!half || !wasmDecodeSubtract(half.dtype, half.bytes, b, d, false)) subtractInto(d, chunk.models[i]!, b);
      return d;
    });
  }

  function targets(s: ModelSparsity): Array<number | undefined> {
    return [s.keepTop, s.dropTop];
  }

  // Random masks only need the length, so they do not force the task vector to be built.
  function mask(ctx: TensorContext, chunk: Chunk, s: ModelSparsity, i: number, stats: FamilyStats | undefined): Uint8Array | null {
    return cached(chunk, `mask${i}`, () =>
      keepMask(s, s.kind === 'random' ? chunk.models[i]! : tau(chunk, i), chunk.index, chunk.rowStart * ctx.cols, maskKey(ctx.seed, i), stats?.selections?.[i], chunk.alloc),
    );
  }

  // Plain top-k selections are applied inside the kernel; other sparsifications build a mask.
  function keepOf(ctx: TensorContext, chunk: Chunk, s: ModelSparsity, i: number, stats: FamilyStats | undefined): Keep {
    const sel = stats?.selections?.[i];
    const keep = sel?.[0];
    if (s.kind === 'magnitude' && keep && !keep.none && !chunk.cache.has(`mask${i}`)) {
      if (keep.all) return null;
      tau(chunk, i); // the kernel reads |τ| bits, so τ must exist even when the chunk was re-read
      return { bits: keep.bits, admit: keep.admitEqual, seen: keep.equalBefore[chunk.index] ?? 0 };
    }
    return mask(ctx, chunk, s, i, stats);
  }

  /**
   * Per model, whether merge() combines a float32 τ (built by a statistics pass, or for a mask)
   * rather than forming τ in float64 on the fly: the GPU must round where the CPU does.
   */
  function floatTau(ctx: TensorContext, stats: FamilyStats | undefined): boolean[] {
    const sp = sparsity(ctx);
    if (!sp) return ctx.perModel.map(() => false);
    const kinds = passes(ctx);
    const total = ctx.rows * ctx.cols;
    return sp.map((s, i) => {
      const selectionPass = kinds.includes('high') && usesSelection(s) && targets(s).some((m) => m !== undefined && !trivialSelection(m, total));
      const normPass = kinds.includes('norm') && needsNormPass(s);
      if (selectionPass || normPass) return true;
      // merge(): keepOf() reads |τ| for a partial magnitude selection; mask() builds τ for every kind but random.
      const keep = stats?.selections?.[i]?.[0];
      if (s.kind === 'magnitude' && keep && !keep.none && keep.all) return false;
      return s.kind !== 'random';
    });
  }

  /** The numbers merge() combines with, shared with the elementwise description. */
  function combineNumbers(ctx: TensorContext, stats: FamilyStats | undefined) {
    const sp = sparsity(ctx);
    const weights = ctx.perModel.map((p) => numberParam(p.weight, 'weight'));
    const normalize = boolParam(ctx.global.normalize);
    const lambda = numberParam(ctx.global.lambda ?? 1, 'lambda');
    const lines = numberParam(ctx.global.lines_alpha ?? 1, 'lines_alpha') + numberParam(ctx.global.lines_beta ?? 0, 'lines_beta') * ctx.t;
    // weight × rescale factor
    const eff = weights.map((w, i) => {
      const s = sp?.[i];
      return w * (s ? rescaleFactor(s, stats?.norms?.[i]) : 1);
    });
    return { weights, eff, scale: lambda * lines, normalize };
  }

  return {
    name: o.name,
    description: o.description,
    halfInputs: true,
    base: 'required',
    globalParams,
    modelParams,
    checkModels: (models, hasBase) => (hasBase ? undefined : `${o.name} needs base_model`) ?? (models < 1 ? `${o.name} needs at least one model besides the base` : undefined),
    checkParams(ctx) {
      for (const [i, p] of ctx.perModel.entries()) {
        const d = p.density;
        const model = ctx.modelRefs?.[i] ?? `model ${i + 1}`;
        if (typeof d === 'number' && (d < 0 || d > 1)) return `density of ${model} is ${d}; it must be in [0, 1]`;
        const gamma = p.gamma;
        if (typeof gamma === 'number' && (gamma < 0 || gamma > 1)) return `gamma of ${model} is ${gamma}; it must be in [0, 1]`;
        if (typeof p.epsilon === 'number' && p.epsilon < 0) return `epsilon of ${model} is ${p.epsilon}; it must be ≥ 0`;
        // density 0 keeps nothing (as mergekit); otherwise the keep probabilities must be valid.
        if (o.sparsify === 'della_magprune' && typeof d === 'number' && d > 0 && d < 1) {
          const eps = numberParam(p.epsilon ?? 0.15, 'epsilon');
          if (d + eps >= 1 || d - eps <= 0) return `della needs density ± epsilon inside (0, 1); ${model} has density ${d}, epsilon ${eps}`;
        }
      }
      try {
        parseRescale(ctx.global.rescale);
      } catch (e) {
        return (e as Error).message;
      }
      return undefined;
    },
    statsPasses: (ctx) => passes(ctx).length,
    chunkStats(ctx, pass, chunk, stats) {
      const kind = passes(ctx)[pass];
      const sp = sparsity(ctx)!;
      return sp.map((s, i) => {
        if (kind === 'norm') return needsNormPass(s) ? normPartial(s.rescale, tau(chunk, i), mask(ctx, chunk, s, i, stats)) : null;
        if (!usesSelection(s)) return null;
        return targets(s).map((m, j) => {
          if (m === undefined || trivialSelection(m, ctx.rows * ctx.cols)) return null;
          if (kind === 'low') return bucketMembers(tau(chunk, i), stats!.buckets![i]![j]!.bucket);
          // The first pass builds τ: form it and its histogram in one sweep.
          if (!chunk.cache.has(`tau${i}`)) {
            const d = allocF32(chunk, chunk.base!.length);
            const half = chunk.half?.[i];
            const hist = (half && wasmDecodeSubtract(half.dtype, half.bytes, chunk.base!, d, true)) || subtractAndHistogram(d, chunk.models[i]!, chunk.base!);
            chunk.cache.set(`tau${i}`, d);
            return hist;
          }
          return highHistogram(tau(chunk, i));
        });
      });
    },
    combineStats(ctx, pass, partials, stats) {
      const kind = passes(ctx)[pass];
      const sp = sparsity(ctx)!;
      const next: FamilyStats = { ...stats };
      const per = partials as unknown[][];
      if (kind === 'high') {
        next.buckets = sp.map((s, i) =>
          targets(s).map((m, j) => {
            const hists = per.map((p) => (p[i] as Array<Uint32Array | null> | null)?.[j]).filter((h): h is Uint32Array => !!h);
            return m === undefined || hists.length === 0 ? undefined : pickBucket(hists, m);
          }),
        );
      } else if (kind === 'low') {
        const total = ctx.rows * ctx.cols;
        next.selections = sp.map((s, i) =>
          targets(s).map((m, j) => {
            if (m === undefined) return undefined;
            const trivial = trivialSelection(m, total);
            if (trivial) return trivial;
            const members = per.map((p) => (p[i] as Array<Uint16Array | null>)[j]!);
            return finishSelection(m, stats!.buckets![i]![j]!, members);
          }),
        );
      } else {
        next.norms = sp.map((s, i) => (needsNormPass(s) ? combineNorms(s.rescale, per.map((p) => p[i] as [number, number])) : undefined));
      }
      return next;
    },
    statisticsPlan(ctx) {
      const sp = sparsity(ctx) ?? [];
      const models: ElementwiseStatistics['models'] = [];
      for (const [i, s] of sp.entries()) {
        const select = usesSelection(s) ? targets(s) : [];
        if (!needsNormPass(s)) {
          models.push({ select });
          continue;
        }
        const kind = s.rescale as 'l1' | 'l2' | 'linf';
        if (s.kind === 'random') models.push({ select, norm: { kind, keep: { kind: 'bernoulli', key: maskKey(ctx.seed, i), density: s.density } } });
        else if (usesSelection(s)) models.push({ select, norm: { kind, keep: { kind: 'selection' } } });
        else return `${o.name} with ${s.kind} sparsification computes its statistics on the CPU only`;
      }
      return { models };
    },
    statsFromResults(ctx, results) {
      const sp = sparsity(ctx) ?? [];
      const kinds = passes(ctx);
      const out: FamilyStats = {};
      if (kinds.includes('high')) out.selections = sp.map((s, i) => (usesSelection(s) ? results.selections[i] : undefined) ?? targets(s).map(() => undefined));
      if (kinds.includes('norm')) out.norms = sp.map((s, i) => (needsNormPass(s) ? results.norms[i] : undefined));
      return out;
    },
    elementwise(ctx, stats) {
      const sp = sparsity(ctx);
      const keep: ElementwiseKeep[] = [];
      for (let i = 0; i < ctx.perModel.length; i++) {
        const m = sp?.[i];
        if (!m || !isSparse(m)) keep.push({ kind: 'all' });
        else if (m.kind === 'random') keep.push({ kind: 'bernoulli', key: maskKey(ctx.seed, i), density: m.density });
        else if (m.kind === 'magnitude') {
          // Without statistics only whether a kernel exists is asked: any selection answers that.
          const sel = stats?.selections?.[i]?.[0] ?? { bits: 0, admitEqual: 0, equalBefore: [], all: false, none: true };
          keep.push(sel.all ? { kind: 'all' } : { kind: 'top', bits: sel.bits, admitEqual: sel.admitEqual, equalBefore: sel.equalBefore, none: sel.none });
        } else if (m.kind === 'magnitude_outliers') {
          // Breadcrumbs: the keepTop largest, minus the dropTop largest.
          const [sel = { bits: 0, admitEqual: 0, equalBefore: [], all: false, none: true }, drop] = stats?.selections?.[i] ?? [];
          const numel = ctx.rows * ctx.cols;
          const top = sel.all ? { bits: 0, admitEqual: numel, equalBefore: [], none: false, cutoff: numel } : { bits: sel.bits, admitEqual: sel.admitEqual, equalBefore: sel.equalBefore, none: sel.none };
          if (!drop || drop.none) keep.push(sel.all ? { kind: 'all' } : { kind: 'top', ...top });
          else if (drop.all) keep.push({ kind: 'top', bits: 0, admitEqual: 0, equalBefore: [], none: true });
          else keep.push({ kind: 'top', ...top, drop: { bits: drop.bits, admitEqual: drop.admitEqual, equalBefore: drop.equalBefore, none: false } });
        } else return `${o.name} with ${m.kind} sparsification (density ${m.density} < 1 for ${ctx.modelRefs?.[i] ?? `model ${i + 1}`}) has no GPU kernel yet`;
      }
      const c = combineNumbers(ctx, stats);
      // The gain is the double the CPU kernels compute (fused-kernels.ts: Σ weights left to right, then the guard).
      let div = c.weights.reduce((a, b) => a + b);
      if (!c.normalize || Math.abs(div) < 1e-8) div = 1;
      return { kind: 'task-vector', eff: c.eff, weights: c.weights, keep, consensus: o.consensus, normalize: c.normalize, gain: c.scale / div, scale: c.scale, roundTau: floatTau(ctx, stats) };
    },
    merge(ctx, chunk, stats) {
      const base = chunk.base!;
      const n = base.length;
      const k = chunk.models.length;
      const sp = sparsity(ctx);
      const { weights, eff, scale, normalize } = combineNumbers(ctx, stats);
      const masks: Keep[] = [];
      for (let i = 0; i < k; i++) {
        const s = sp?.[i];
        masks.push(s ? keepOf(ctx, chunk, s, i, stats) : null);
      }
      // Task vectors already built by a statistics pass are reused; others are formed on the fly.
      // (Not chunk.models.map: that would decode every model kept as half-precision bytes.)
      const kept = Array.from({ length: k }, (_, i) => chunk.cache.get(`tau${i}`) as Float32Array | undefined);
      const inputs = kept.map((t, i) => t ?? chunk.models[i]!);
      const isDelta = kept.map((t) => t !== undefined);
      const out = allocF32(chunk, n);
      taskVectorCombine(out, base, inputs, isDelta, masks, eff, weights, scale, o.consensus, normalize);
      return out;
    },
  };
}
