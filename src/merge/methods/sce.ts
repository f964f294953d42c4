import { allocF32, cached, numberParam, type Chunk, type MergeMethod, type TensorContext } from '../method.ts';
import { bucketMembers, finishSelection, highHistogram, markSelected, pickBucket, trivialSelection, type Bucket, type Selection } from '../../tensor/select.ts';

// SCE: Select, Calculate, Erase (mergekit's `sce`, arXiv 2408.07990). With τᵢ = modelᵢ − base:
//   Select: when select_topk < 1, keep the elements whose variance across the models (population
//     variance, over i) is among the top ⌊nonzero·select_topk⌋, nonzero being the number of elements
//     of non-zero variance; the same mask for every model (select_topk ≤ 0 keeps nothing).
//   Calculate: each model's weight is the mean of its masked τᵢ² over the tensor, divided by the
//     sum over models (all equal, 1/N, when that sum is below 1e-6 — often so for small deltas).
//   Erase: elect the sign of Σᵢ τᵢ per element (zero counts as +); keep the entries of that sign.
//   merged = base + Σᵢ wᵢ·mᵢ·τᵢ / max(Σᵢ wᵢ·mᵢ, 1e-6), mᵢ the kept entries.
// Parameters as mergekit's: select_topk (1), int8_mask (false, no numeric effect). No per-model
// weights. Ties at the variance threshold are kept in index order (torch.topk leaves that open).
// Statistics passes: the variance's top-k selection (two histogram passes) when it applies, then
// the masked energies.

type Mode = 'all' | 'none' | 'select';

interface SceStats {
  buckets?: Bucket | null;
  nonzero?: number;
  selection?: Selection;
  weights?: number[];
}

const MIN_WEIGHT_SUM = 1e-6;
const MIN_DIVISOR = 1e-6;

function mode(ctx: TensorContext): Mode {
  const k = numberParam(ctx.global.select_topk, 'select_topk');
  return k >= 1 ? 'all' : k <= 0 ? 'none' : 'select';
}

function taus(chunk: Chunk): Float32Array[] {
  return cached(chunk, 'sce-tau', () =>
    chunk.models.map((m) => {
      const base = chunk.base!;
      const d = new Float32Array(base.length);
      for (let e = 0; e < d.length; e++) d[e] = m[e]! - base[e]!;
      return d;
    }),
  );
}

/** Population variance of the task vectors across models, per element. */
function variance(chunk: Chunk): Float32Array {
  return cached(chunk, 'sce-var', () => {
    const ts = taus(chunk);
    const k = ts.length;
    const v = new Float32Array(ts[0]!.length);
    for (let e = 0; e < v.length; e++) {
      let mean = 0;
      for (let i = 0; i < k; i++) mean += ts[i]![e]!;
      mean /= k;
      let s = 0;
      for (let i = 0; i < k; i++) s += (ts[i]![e]! - mean) ** 2;
      v[e] = s / k;
    }
    return v;
  });
}

/** 1 where the element is kept by the variance selection; null when everything is kept. */
function keep(ctx: TensorContext, chunk: Chunk, stats: SceStats | undefined): Uint8Array | null {
  const m = mode(ctx);
  if (m === 'all') return null;
  return cached(chunk, 'sce-mask', () => {
    const out = new Uint8Array(chunk.base!.length);
    if (m === 'select') markSelected(variance(chunk), stats!.selection!, chunk.index, out);
    return out;
  });
}

function passKinds(ctx: TensorContext): Array<'high' | 'low' | 'energy'> {
  return mode(ctx) === 'select' ? ['high', 'low', 'energy'] : ['energy'];
}

const sce: MergeMethod<SceStats> = {
  name: 'sce',
  description: 'SCE: keep the elements of highest variance across models, weight models by their masked energy, erase minority signs',
  base: 'required',
  globalParams: [
    { name: 'select_topk', kind: 'number', default: 1, doc: 'fraction of the non-zero-variance elements kept (1: all)' },
    { name: 'int8_mask', kind: 'boolean', default: false, doc: 'accepted for mergekit compatibility; has no numeric effect' },
  ],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'sce needs base_model' : models < 1 ? 'sce needs at least one model besides the base' : undefined),
  statsPasses: (ctx) => passKinds(ctx).length,
  chunkStats(ctx, pass, chunk, stats) {
    const kind = passKinds(ctx)[pass];
    if (kind === 'high') {
      const v = variance(chunk);
      let nonzero = 0;
      for (let e = 0; e < v.length; e++) nonzero += +(v[e] !== 0);
      return { hist: highHistogram(v), nonzero };
    }
    if (kind === 'low') return stats!.buckets ? bucketMembers(variance(chunk), stats!.buckets.bucket) : null;
    const mask = keep(ctx, chunk, stats);
    return taus(chunk).map((t) => {
      let s = 0;
      for (let e = 0; e < t.length; e++) if (mask === null || mask[e]) s += t[e]! * t[e]!;
      return s;
    });
  },
  combineStats(ctx, pass, partials, stats) {
    const kind = passKinds(ctx)[pass];
    const total = ctx.rows * ctx.cols;
    if (kind === 'high') {
      const ps = partials as Array<{ hist: Uint32Array; nonzero: number }>;
      const nonzero = ps.reduce((a, p) => a + p.nonzero, 0);
      const m = Math.floor(nonzero * numberParam(ctx.global.select_topk, 'select_topk'));
      const trivial = trivialSelection(m, total);
      return { nonzero, selection: trivial, buckets: trivial ? null : pickBucket(ps.map((p) => p.hist), m) };
    }
    if (kind === 'low') {
      if (stats!.selection) return stats!;
      const m = Math.floor(stats!.nonzero! * numberParam(ctx.global.select_topk, 'select_topk'));
      return { ...stats, selection: finishSelection(m, stats!.buckets!, partials as Uint16Array[]) };
    }
    const energies = (partials as number[][]).reduce((acc, p) => acc.map((a, i) => a + p[i]!));
    const means = energies.map((s) => s / Math.max(1, total));
    const sum = means.reduce((a, b) => a + b, 0);
    const weights = Math.abs(sum) < MIN_WEIGHT_SUM ? means.map(() => 1 / means.length) : means.map((m) => m / sum);
    return { ...stats, weights };
  },
  merge(ctx, chunk, stats) {
    const base = chunk.base!;
    const ts = taus(chunk);
    const mask = keep(ctx, chunk, stats);
    const w = stats!.weights!;
    const k = ts.length;
    const out = allocF32(chunk, base.length);
    for (let e = 0; e < base.length; e++) {
      if (mask !== null && !mask[e]) {
        out[e] = base[e]!; // every τ is erased here: Σ 0 / 1e-6
        continue;
      }
      let sum = 0;
      for (let i = 0; i < k; i++) sum += ts[i]![e]!;
      const sign = sum >= 0 ? 1 : -1;
      let num = 0;
      let den = 0;
      for (let i = 0; i < k; i++) {
        const d = ts[i]![e]!;
        if (Math.sign(d) === sign) {
          num += w[i]! * d;
          den += w[i]!;
        }
      }
      out[e] = base[e]! + num / Math.max(den, MIN_DIVISOR);
    }
    return out;
  },
};

export default sce;
