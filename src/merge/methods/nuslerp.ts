import { boolParam, numberParam, type Chunk, type MergeMethod, type TensorContext } from '../method.ts';

// Spherical interpolation between two models (or their task vectors when a base is given), with
// t = weight₂ / (weight₁ + weight₂). The vectors are the whole tensor (nuslerp_flatten, default),
// each row of the last dimension, or each slice along dim 0 (nuslerp_row_wise).
type Mode = 'flat' | 'last' | 'first';

interface NuStats {
  /** Per vector: dot, |v0|², |v1|² (one vector for flat, one per column for first). */
  dot: Float64Array;
  n0: Float64Array;
  n1: Float64Array;
}

function mode(ctx: TensorContext): Mode {
  if (boolParam(ctx.global.nuslerp_flatten ?? true) || ctx.shape.length < 2) return 'flat';
  return boolParam(ctx.global.nuslerp_row_wise) ? 'first' : 'last';
}

function interpT(ctx: TensorContext): number {
  const w0 = numberParam(ctx.perModel[0]!.weight, 'weight');
  const w1 = numberParam(ctx.perModel[1]!.weight, 'weight');
  return Math.abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
}

function vectors(chunk: Chunk): [Float32Array, Float32Array] {
  const [a, b] = chunk.models as [Float32Array, Float32Array];
  const base = chunk.base;
  if (!base) return [a, b];
  const v0 = new Float32Array(a.length);
  const v1 = new Float32Array(a.length);
  for (let e = 0; e < a.length; e++) {
    v0[e] = a[e]! - base[e]!;
    v1[e] = b[e]! - base[e]!;
  }
  return [v0, v1];
}

/** Coefficients (c0, c1) of v0 and v1 for one vector pair. */
function coefficients(t: number, dot: number, n0sq: number, n1sq: number): [number, number] {
  const cos = Math.min(1, Math.max(-1, dot / (Math.max(Math.sqrt(n0sq), 1e-7) * Math.max(Math.sqrt(n1sq), 1e-7))));
  const theta = Math.acos(cos);
  const sin = Math.sin(theta);
  if (Math.abs(sin) < 1e-8) return [1 - t, t];
  return [Math.sin((1 - t) * theta) / sin, Math.sin(t * theta) / sin];
}

const nuslerp: MergeMethod<NuStats> = {
  name: 'nuslerp',
  description: 'spherical interpolation of two models (or of their task vectors over a base) with t from their weights',
  base: 'optional',
  globalParams: [
    { name: 'nuslerp_flatten', kind: 'boolean', default: true, doc: 'treat the whole tensor as one vector' },
    { name: 'nuslerp_row_wise', kind: 'boolean', default: false, doc: 'without flatten: interpolate slices along dim 0 instead of rows of the last dim' },
  ],
  modelParams: [{ name: 'weight', kind: 'number', required: true, doc: 'relative weight; t = weight₂ / (weight₁ + weight₂)' }],
  checkModels: (models) => (models !== 2 ? `nuslerp merges exactly two models (plus an optional base_model), got ${models}` : undefined),
  statsPasses: (ctx) => (mode(ctx) === 'last' ? 0 : 1),
  chunkStats(ctx, _pass, chunk) {
    const [v0, v1] = vectors(chunk);
    const cols = mode(ctx) === 'first' ? ctx.cols : 1;
    const s = { dot: new Float64Array(cols), n0: new Float64Array(cols), n1: new Float64Array(cols) };
    for (let e = 0; e < v0.length; e++) {
      const j = cols === 1 ? 0 : e % cols;
      s.dot[j]! += v0[e]! * v1[e]!;
      s.n0[j]! += v0[e]! * v0[e]!;
      s.n1[j]! += v1[e]! * v1[e]!;
    }
    return s;
  },
  combineStats(_ctx, _pass, partials) {
    const ps = partials as NuStats[];
    const total = { dot: new Float64Array(ps[0]!.dot.length), n0: new Float64Array(ps[0]!.dot.length), n1: new Float64Array(ps[0]!.dot.length) };
    for (const p of ps) {
      for (let j = 0; j < p.dot.length; j++) {
        total.dot[j]! += p.dot[j]!;
        total.n0[j]! += p.n0[j]!;
        total.n1[j]! += p.n1[j]!;
      }
    }
    return total;
  },
  merge(ctx, chunk, stats) {
    const t = interpT(ctx);
    const [v0, v1] = vectors(chunk);
    const n = v0.length;
    const out = new Float32Array(n);
    const m = mode(ctx);
    if (m === 'last') {
      const len = ctx.shape[ctx.shape.length - 1]!;
      for (let r = 0; r < n; r += len) {
        let dot = 0;
        let n0 = 0;
        let n1 = 0;
        for (let e = r; e < r + len; e++) {
          dot += v0[e]! * v1[e]!;
          n0 += v0[e]! * v0[e]!;
          n1 += v1[e]! * v1[e]!;
        }
        const [c0, c1] = coefficients(t, dot, n0, n1);
        for (let e = r; e < r + len; e++) out[e] = c0 * v0[e]! + c1 * v1[e]!;
      }
    } else {
      const cols = stats!.dot.length;
      const c = Array.from({ length: cols }, (_, j) => coefficients(t, stats!.dot[j]!, stats!.n0[j]!, stats!.n1[j]!));
      for (let e = 0; e < n; e++) {
        const [c0, c1] = c[cols === 1 ? 0 : e % cols]!;
        out[e] = c0 * v0[e]! + c1 * v1[e]!;
      }
    }
    if (chunk.base) for (let e = 0; e < n; e++) out[e]! += chunk.base[e]!;
    return out;
  },
};

export default nuslerp;
