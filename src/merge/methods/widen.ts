import { numberParam, type Chunk, type MergeMethod, type TensorContext } from '../method.ts';
import { wasmWidenColumnStats, wasmWidenMergeModel } from '../../tensor/wasm/kernel-calls.ts';

// WIDEN (weight disentanglement): for a 2-D weight, each column (each input feature; each token
// row for token embeddings) has a magnitude (its norm) and a direction (the unit column). Per model,
// columns are ranked by how much their magnitude and their direction (1 − cosine) moved from the
// base, ranks r/n in [0, 1); scores are the softmax of the ranks over models, and a rank above
// t × the model's mean rank gets score s instead. A column's weight is the mean of its magnitude
// and direction scores, and merged = base + Σₘ weightₘ[col] · Δₘ[:, col]. Other tensors use the
// raw |Δ| per element in place of ranks. Weights are not normalised (as in the reference).

interface WidenStats {
  /** Per model, per column: the merge weight (2-D), or per model the mean |Δ| (other tensors). */
  weights?: Float64Array[];
  /** For row-wise weights sliced to one chunk: the row that weights[m][0] belongs to. */
  rowOffset?: number;
  meanAbs?: number[];
}

const EMBEDDING_RE = /(?:^|\.)(?:embed_tokens|wte|word_embeddings)\.weight$/;

/** Whether the columns of the tensor are its rows (token embeddings are stored [vocab, hidden]). */
function byRow(ctx: TensorContext): boolean {
  return EMBEDDING_RE.test(ctx.name);
}

function is2d(ctx: TensorContext): boolean {
  return ctx.shape.length === 2;
}

/** Ranks r/n of `values` in ascending order; ties keep index order (a stable sort). */
export function stableRanks(values: Float64Array): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => values[a]! - values[b]! || a - b);
  const ranks = new Float64Array(n);
  order.forEach((idx, r) => (ranks[idx] = r / n));
  return ranks;
}

/** Softmax over models of `scores[m][j]`, then entries above t × their model's mean set to s. */
export function importanceScores(scores: Float64Array[], t: number, s: number): Float64Array[] {
  const m = scores.length;
  const n = scores[0]!.length;
  const out = scores.map(() => new Float64Array(n));
  for (let j = 0; j < n; j++) {
    let max = -Infinity;
    for (let k = 0; k < m; k++) max = Math.max(max, scores[k]![j]!);
    let sum = 0;
    for (let k = 0; k < m; k++) sum += Math.exp(scores[k]![j]! - max);
    for (let k = 0; k < m; k++) out[k]![j] = Math.exp(scores[k]![j]! - max) / sum;
  }
  for (let k = 0; k < m; k++) {
    const row = scores[k]!;
    let mean = 0;
    for (let j = 0; j < n; j++) mean += row[j]!;
    mean /= n;
    for (let j = 0; j < n; j++) if (row[j]! > mean * t) out[k]![j] = s;
  }
  return out;
}

const widen: MergeMethod<WidenStats> = {
  name: 'widen',
  description: 'WIDEN: per-column weights from ranked magnitude and direction changes (weight disentanglement)',
  base: 'required',
  globalParams: [
    { name: 't', kind: 'number', default: 1, doc: 'scores above t × the model\'s mean score are calibrated to s' },
    { name: 's', kind: 'number', default: 1, doc: 'the calibrated score given to important columns' },
  ],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'widen needs base_model' : models < 1 ? 'widen needs at least one model besides the base' : undefined),
  statsPasses: () => 1,
  chunkStats(ctx, _pass, chunk) {
    const base = chunk.base!;
    if (!is2d(ctx)) {
      return chunk.models.map((x) => {
        let sum = 0;
        for (let e = 0; e < x.length; e++) sum += Math.abs(x[e]! - base[e]!);
        return sum;
      });
    }
    // Per column: |base|², and per model |x|² and x·base.
    const rowWise = byRow(ctx);
    const rows = chunk.rowEnd - chunk.rowStart;
    const cols = ctx.cols;
    const width = rowWise ? rows : cols;
    // Column sums vectorise across columns with each column's sum still in row order (wasm).
    const fast = rowWise ? undefined : wasmWidenColumnStats(base, chunk.models, rows, cols);
    if (fast) return fast;
    const bb = new Float64Array(width);
    const xx = chunk.models.map(() => new Float64Array(width));
    const xb = chunk.models.map(() => new Float64Array(width));
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const e = r * cols + c;
        const j = rowWise ? r : c;
        const b = base[e]!;
        bb[j]! += b * b;
        chunk.models.forEach((x, k) => {
          xx[k]![j]! += x[e]! * x[e]!;
          xb[k]![j]! += x[e]! * b;
        });
      }
    }
    return { bb, xx, xb };
  },
  combineStats(ctx, _pass, partials) {
    const t = numberParam(ctx.global.t ?? 1, 't');
    const s = numberParam(ctx.global.s ?? 1, 's');
    if (!is2d(ctx)) {
      const ps = partials as number[][];
      const numel = ctx.rows * ctx.cols;
      return { meanAbs: ps[0]!.map((_, k) => ps.reduce((a, p) => a + p[k]!, 0) / numel) };
    }
    type Part = { bb: Float64Array; xx: Float64Array[]; xb: Float64Array[] };
    const ps = partials as Part[];
    const concatOrSum = (get: (p: Part) => Float64Array): Float64Array => {
      if (byRow(ctx)) {
        // Row statistics: chunks hold consecutive rows, so concatenate.
        const out = new Float64Array(ctx.rows);
        let at = 0;
        for (const p of ps) {
          out.set(get(p), at);
          at += get(p).length;
        }
        return out;
      }
      const out = new Float64Array(ctx.cols);
      for (const p of ps) {
        const v = get(p);
        for (let j = 0; j < v.length; j++) out[j]! += v[j]!;
      }
      return out;
    };
    const bb = concatOrSum((p) => p.bb);
    const k = ps[0]!.xx.length;
    const magRanks: Float64Array[] = [];
    const dirRanks: Float64Array[] = [];
    for (let m = 0; m < k; m++) {
      const xx = concatOrSum((p) => p.xx[m]!);
      const xb = concatOrSum((p) => p.xb[m]!);
      const mag = new Float64Array(bb.length);
      const dir = new Float64Array(bb.length);
      for (let j = 0; j < bb.length; j++) {
        const nb = Math.sqrt(bb[j]!);
        const nx = Math.sqrt(xx[j]!);
        mag[j] = Math.abs(nx - nb);
        // A zero column has no direction: unchanged if both are zero, fully changed otherwise.
        dir[j] = nb === 0 || nx === 0 ? (nb === nx ? 0 : 1) : 1 - xb[j]! / (nb * nx);
      }
      magRanks.push(stableRanks(mag));
      dirRanks.push(stableRanks(dir));
    }
    const magScores = importanceScores(magRanks, t, s);
    const dirScores = importanceScores(dirRanks, t, s);
    return { weights: magScores.map((ms, m) => ms.map((v, j) => 0.5 * (v + dirScores[m]![j]!))) };
  },
  statsForChunk(ctx, stats, rowStart, rowEnd) {
    // Token-embedding weights are per row: a chunk needs only its own rows.
    if (!is2d(ctx) || !byRow(ctx) || !stats.weights) return stats;
    return { weights: stats.weights.map((w) => w.slice(rowStart, rowEnd)), rowOffset: rowStart };
  },
  merge(ctx, chunk: Chunk, stats) {
    const base = chunk.base!;
    const n = base.length;
    const out = Float32Array.from(base);
    if (!is2d(ctx)) {
      const t = numberParam(ctx.global.t ?? 1, 't');
      const s = numberParam(ctx.global.s ?? 1, 's');
      const k = chunk.models.length;
      const diffs = new Float64Array(k);
      for (let e = 0; e < n; e++) {
        let max = -Infinity;
        for (let m = 0; m < k; m++) {
          diffs[m] = Math.abs(chunk.models[m]![e]! - base[e]!);
          max = Math.max(max, diffs[m]!);
        }
        let sum = 0;
        for (let m = 0; m < k; m++) sum += Math.exp(diffs[m]! - max);
        let acc = 0;
        for (let m = 0; m < k; m++) {
          const w = diffs[m]! > stats!.meanAbs![m]! * t ? s : Math.exp(diffs[m]! - max) / sum;
          acc += w * (chunk.models[m]![e]! - base[e]!);
        }
        out[e] = base[e]! + acc;
      }
      return out;
    }
    const cols = ctx.cols;
    const rowWise = byRow(ctx);
    const firstRow = chunk.rowStart - (stats!.rowOffset ?? 0);
    const rows = chunk.rowEnd - chunk.rowStart;
    chunk.models.forEach((x, m) => {
      const w = stats!.weights![m]!;
      if (wasmWidenMergeModel(out, base, x, rowWise ? w.subarray(firstRow, firstRow + rows) : w, rows, cols, rowWise)) return;
      for (let e = 0; e < n; e++) {
        const r = Math.floor(e / cols);
        const j = rowWise ? firstRow + r : e - r * cols;
        out[e]! += w[j]! * (x[e]! - base[e]!);
      }
    });
    return out;
  },
};

export default widen;
