import { allocF32, cached, type Chunk, type MergeMethod, type TensorContext } from '../method.ts';
import { bucketMembers, finishSelection, highHistogram, pickBucket, trivialSelection, type Bucket } from '../../tensor/select.ts';

// Arcee Fusion (mergekit's `arcee_fusion`): take the other model's change only where it matters
// most. With a = base, b = the other model, per row of the last dimension (the whole tensor when
// it is 1-D):
//   p = softmax(b) + 1e-8, q = softmax(a) + 1e-8, KL = Σ p·log(p/q)   (one number per row);
//   importance = |b − a| · KL of its row;
//   threshold = median + 1.5·(Q3 − Q1) of the importances, the quantile at q being the sorted
//   value at index ⌊q·(n − 1)⌋;
//   merged = a + (b − a) where importance ≥ threshold, a elsewhere.
// No parameters (as mergekit). Exactly one model besides the base.
// Differences on purpose: mergekit estimates the quantiles from 1,000,000 randomly drawn elements
// (unseeded) when a tensor has more; here they are exact over the whole tensor (what that sample
// estimates), so the merge is deterministic. The KL is summed in float64 and clamped at 0 (it is
// ≥ 0 by the log-sum inequality; float32 rounding can make it a hair negative).
// Statistics passes: the three quantiles by exact selection over row chunks (a histogram of the
// importances' float bits, then the members of the chosen buckets).

const EPS = 1e-8;
const QUANTILES = [0.25, 0.5, 0.75];

interface FusionStats {
  /** Per quantile: elements kept counting from the largest, and its high-bits bucket. */
  targets?: Array<{ m: number; bucket?: Bucket; value?: number }>;
  threshold?: number;
}

function rowLength(ctx: TensorContext): number {
  return ctx.shape.length === 0 ? 1 : ctx.shape[ctx.shape.length - 1]!;
}

/** max-shifted softmax of x[from, from+len) into out (float64). */
function softmax(x: Float32Array, from: number, len: number, out: Float64Array): void {
  let max = -Infinity;
  for (let j = 0; j < len; j++) max = Math.max(max, x[from + j]!);
  let sum = 0;
  for (let j = 0; j < len; j++) sum += out[j] = Math.exp(x[from + j]! - max);
  for (let j = 0; j < len; j++) out[j]! /= sum;
}

function importance(ctx: TensorContext, chunk: Chunk): Float32Array {
  return cached(chunk, 'fusion-importance', () => {
    const a = chunk.base!;
    const b = chunk.models[0]!;
    const len = rowLength(ctx);
    const out = new Float32Array(a.length);
    const p = new Float64Array(len);
    const q = new Float64Array(len);
    for (let r = 0; r < a.length; r += len) {
      softmax(b, r, len, p);
      softmax(a, r, len, q);
      let kl = 0;
      for (let j = 0; j < len; j++) {
        const pj = p[j]! + EPS;
        kl += pj * Math.log(pj / (q[j]! + EPS));
      }
      kl = Math.max(0, kl);
      for (let j = r; j < r + len; j++) out[j] = Math.abs(b[j]! - a[j]!) * kl;
    }
    return out;
  });
}

const bitsToFloat = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0]!;

const arceeFusion: MergeMethod<FusionStats> = {
  name: 'arcee_fusion',
  description: 'Arcee Fusion: keep the other model\'s change where |Δ|·KL(softmax rows) is an upper outlier (≥ median + 1.5 IQR)',
  base: 'required',
  globalParams: [],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'arcee_fusion needs base_model' : models !== 1 ? `arcee_fusion merges the base with exactly one other model, got ${models}` : undefined),
  statsPasses: () => 2,
  chunkStats(ctx, pass, chunk, stats) {
    const imp = importance(ctx, chunk);
    if (pass === 0) {
      let min = Infinity;
      for (let e = 0; e < imp.length; e++) if (imp[e]! < min) min = imp[e]!;
      return { hist: highHistogram(imp), min };
    }
    return stats!.targets!.map((t) => (t.bucket ? bucketMembers(imp, t.bucket.bucket) : null));
  },
  combineStats(ctx, pass, partials, stats) {
    const n = ctx.rows * ctx.cols;
    if (pass === 0) {
      const ps = partials as Array<{ hist: Uint32Array; min: number }>;
      const min = Math.min(...ps.map((p) => p.min));
      // The ascending index i is the (n − i)-th largest: a top-(n − i) selection's threshold.
      const targets = QUANTILES.map((q) => {
        const m = n - Math.floor(q * (n - 1));
        return trivialSelection(m, n) ? { m, value: min } : { m, bucket: pickBucket(ps.map((p) => p.hist), m) };
      });
      return { targets };
    }
    const per = partials as Array<Array<Uint16Array | null>>;
    const values = stats!.targets!.map((t, j) => t.value ?? bitsToFloat(finishSelection(t.m, t.bucket!, per.map((p) => p[j]!)).bits));
    const [q1, median, q3] = values as [number, number, number];
    // float32 steps, as mergekit computes it in the tensor's dtype.
    return { threshold: Math.fround(median + Math.fround(1.5 * Math.fround(q3 - q1))) };
  },
  merge(ctx, chunk, stats) {
    const imp = importance(ctx, chunk);
    const a = chunk.base!;
    const b = chunk.models[0]!;
    const t = stats!.threshold!;
    const out = allocF32(chunk, a.length);
    // a + (b − a) in float32, as mergekit adds the masked delta (within an ulp of b).
    for (let e = 0; e < a.length; e++) out[e] = imp[e]! >= t ? a[e]! + Math.fround(b[e]! - a[e]!) : a[e]!;
    return out;
  },
};

export default arceeFusion;
