// PCB merging (Du et al. 2024, "Parameter Competition Balancing for Model Merging"), per tensor:
// with task vectors τₜ = modelₜ − base (n tasks, d entries each),
//   1. clamp |τₜ| to its own [q(1e-4), q(1 − 1e-4)] quantiles (outliers), keeping the sign: τ̃ₜ;
//   2. intra-balancing: selfₜ = exp(n · minmaxₜ(|τ̃ₜ|)²), the squashed magnitude within the task;
//   3. inter-balancing: crossₜ = tanh(τₜ ⊙ Σₛ τₛ), agreement with the other tasks;
//   4. pcbₜ = selfₜ ⊙ crossₜ; drop: clamp pcbₜ below at its (1 − pcb_ratio) quantile and min-max
//      normalise, so the lowest entries score 0 and the top pcb_ratio fraction keep (0, 1];
//   5. rescale: merged = Σₜ weightₜ · scaleₜ ⊙ τ̃ₜ / max(Σₜ scaleₜ, 1e-12); result = base + λ·merged.
// Quantiles are the reference's sorted[int(d·q)] picks (so for d < 10⁴ the outlier clamp is a no-op).
//
// Defaults and choices (reference: duguodong7/pcb-merging, `PCB_merge`):
// - pcb_ratio 0.1 (the function's default; its evolutionary-search script uses 0.05), λ = 1,
//   weight 1 per model (the reference tunes one λ per task around 1 by search; here that is
//   `weight`, searchable).
// - The reference works on the whole model flattened into one vector; here every tensor is its own
//   vector (quantiles and min-max per tensor), which is what a streaming merge can do and keeps a
//   tensor's result independent of the others.
// - Where min-max has no range (all |τ̃ₜ| equal, e.g. a task that left the tensor untouched) the
//   intra score is 0 (exp(0) = 1), and when every pcb score of a task is equal its scale is 1
//   everywhere (the reference divides 0 by 0 there).
// Whole-tensor quantiles need the whole tensor: two statistics passes gather the values per task
// (float64, 8 bytes × entries × tasks of working set), so memory follows the largest tensor.
import { allocF32, numberParam, type Chunk, type MergeMethod, type TensorContext } from '../method.ts';

const OUTLIER = 1e-4;

interface PcbStats {
  /** Per task: the clamp range of |τ|. */
  lo: number[];
  hi: number[];
  /** Per task: the drop threshold and the largest pcb score. */
  thr?: number[];
  top?: number[];
}

function taskVectors(chunk: Chunk): Float64Array[] {
  return chunk.models.map((x) => {
    const b = chunk.base!;
    const d = new Float64Array(x.length);
    for (let e = 0; e < x.length; e++) d[e] = x[e]! - b[e]!;
    return d;
  });
}

/** pcb scores of every task for one chunk, given the clamp ranges. */
function pcbScores(tvs: Float64Array[], lo: number[], hi: number[]): Float64Array[] {
  const n = tvs.length;
  const len = tvs[0]!.length;
  const out = tvs.map(() => new Float64Array(len));
  for (let e = 0; e < len; e++) {
    let sum = 0;
    for (let t = 0; t < n; t++) sum += tvs[t]![e]!;
    for (let t = 0; t < n; t++) {
      const v = tvs[t]![e]!;
      const range = hi[t]! - lo[t]!;
      const a = Math.min(Math.max(Math.abs(v), lo[t]!), hi[t]!);
      const norm = range > 0 ? (a - lo[t]!) / range : 0;
      out[t]![e] = Math.exp(n * norm * norm) * Math.tanh(v * sum);
    }
  }
  return out;
}

function concatSorted(parts: Float64Array[]): Float64Array {
  const total = parts.reduce((a, p) => a + p.length, 0);
  const all = new Float64Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all.sort();
}

function ratioOf(ctx: TensorContext): number {
  return numberParam(ctx.global.pcb_ratio ?? 0.1, 'pcb_ratio');
}

const pcb: MergeMethod<PcbStats> = {
  name: 'pcb',
  description: 'PCB: parameter competition balancing (intra- and inter-task balancing, drop the lowest, rescale)',
  base: 'required',
  globalParams: [
    { name: 'pcb_ratio', kind: 'number', default: 0.1, doc: 'fraction of each task vector\'s entries kept (ranked by their balanced score); the rest are dropped' },
    { name: 'lambda', kind: 'number', default: 1, doc: 'scale of the merged task vector' },
  ],
  modelParams: [{ name: 'weight', kind: 'number', default: 1, doc: 'scale of this model\'s task vector in the merge' }],
  checkModels: (models, hasBase) => (!hasBase ? 'pcb needs base_model' : models < 1 ? 'pcb needs at least one model besides the base' : undefined),
  checkParams(ctx) {
    const r = ratioOf(ctx);
    if (!(r > 0 && r <= 1)) return `pcb_ratio is ${r}; it must be in (0, 1]`;
    return undefined;
  },
  statsPasses: () => 2,
  chunkStats(_ctx, pass, chunk, stats) {
    const tvs = taskVectors(chunk);
    if (pass === 0) return tvs.map((t) => t.map(Math.abs));
    return pcbScores(tvs, stats!.lo, stats!.hi);
  },
  combineStats(ctx, pass, partials, stats) {
    const per = partials as Float64Array[][];
    const tasks = ctx.perModel.length;
    const d = ctx.rows * ctx.cols;
    const sortedOf = (t: number) => concatSorted(per.map((p) => p[t]!));
    if (pass === 0) {
      const lo: number[] = [];
      const hi: number[] = [];
      for (let t = 0; t < tasks; t++) {
        const s = sortedOf(t);
        lo.push(s[Math.trunc(d * OUTLIER)]!);
        hi.push(s[Math.trunc(d * (1 - OUTLIER)) - 1]!);
      }
      return { lo, hi };
    }
    const r = ratioOf(ctx);
    const thr: number[] = [];
    const top: number[] = [];
    for (let t = 0; t < tasks; t++) {
      const s = sortedOf(t);
      thr.push(s[Math.min(d - 1, Math.trunc(d * (1 - r)))]!);
      top.push(s[d - 1]!);
    }
    return { ...stats!, thr, top };
  },
  merge(ctx, chunk, stats) {
    const s = stats!;
    const tvs = taskVectors(chunk);
    const scores = pcbScores(tvs, s.lo, s.hi);
    const weights = ctx.perModel.map((p) => numberParam(p.weight ?? 1, 'weight'));
    const lambda = numberParam(ctx.global.lambda ?? 1, 'lambda');
    const base = chunk.base!;
    const out = allocF32(chunk, base.length);
    for (let e = 0; e < base.length; e++) {
      let num = 0;
      let den = 0;
      for (let t = 0; t < tvs.length; t++) {
        const range = s.top![t]! - s.thr![t]!;
        const scale = range > 0 ? (Math.min(Math.max(scores[t]![e]!, s.thr![t]!), s.top![t]!) - s.thr![t]!) / range : 1;
        const v = tvs[t]![e]!;
        const clamped = Math.sign(v) * Math.min(Math.max(Math.abs(v), s.lo[t]!), s.hi[t]!);
        num += weights[t]! * scale * clamped;
        den += scale;
      }
      out[e] = base[e]! + lambda * (num / Math.max(den, 1e-12));
    }
    return out;
  },
};

export default pcb;
