import { numberParam, type MergeMethod, type TensorContext } from '../method.ts';

// Spherical interpolation from the base (t = 0) to the other model (t = 1), over the whole
// tensor as one vector; nearly colinear tensors (|cos| > 0.9995) are interpolated linearly.
const DOT_THRESHOLD = 0.9995;
const EPS = 1e-8;

interface SlerpStats {
  dot: number;
  n0: number;
  n1: number;
}

/** The interpolation's two coefficients (base, model) from the whole-tensor dot and norms. */
function coefficients(ctx: TensorContext, stats: SlerpStats): [number, number] {
  const t = numberParam(ctx.global.t, 't');
  const { dot, n0, n1 } = stats;
  // Each vector is normalised only when its norm exceeds eps, as the reference does.
  const cos = dot / ((n0 > EPS ? n0 : 1) * (n1 > EPS ? n1 : 1));
  if (Math.abs(cos) > DOT_THRESHOLD) return [1 - t, t];
  const theta0 = Math.acos(cos);
  const sin0 = Math.sin(theta0);
  return [Math.sin(theta0 - theta0 * t) / sin0, Math.sin(theta0 * t) / sin0];
}

const slerp: MergeMethod<SlerpStats> = {
  name: 'slerp',
  description: 'spherical interpolation between the base (t=0) and one other model (t=1)',
  base: 'required',
  globalParams: [{ name: 't', kind: 'number', required: true, doc: 'interpolation factor: 0 gives the base, 1 the other model' }],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'slerp needs base_model' : models !== 1 ? `slerp merges the base with exactly one other model, got ${models}` : undefined),
  statsPasses: () => 1,
  chunkStats(_ctx, _pass, chunk) {
    const a = chunk.base!;
    const b = chunk.models[0]!;
    let dot = 0;
    let n0 = 0;
    let n1 = 0;
    for (let e = 0; e < a.length; e++) {
      dot += a[e]! * b[e]!;
      n0 += a[e]! * a[e]!;
      n1 += b[e]! * b[e]!;
    }
    return [dot, n0, n1];
  },
  combineStats(_ctx, _pass, partials) {
    const s = { dot: 0, n0: 0, n1: 0 };
    for (const p of partials as number[][]) {
      s.dot += p[0]!;
      s.n0 += p[1]!;
      s.n1 += p[2]!;
    }
    s.n0 = Math.sqrt(s.n0);
    s.n1 = Math.sqrt(s.n1);
    return s;
  },
  // The GPU path: the dot and norms as a statistics pass, then s0 · base + s1 · model.
  statisticsPlan: () => ({ gram: true, models: [{ select: [] }] }),
  statsFromResults(_ctx, results) {
    const [dot, n0, n1] = results.gram!;
    return { dot, n0: Math.sqrt(n0), n1: Math.sqrt(n1) };
  },
  elementwise(ctx, stats) {
    // Without statistics only whether a kernel exists is asked.
    const [s0, s1] = stats ? coefficients(ctx, stats) : [1, 0];
    return { kind: 'weighted-sum', baseWeight: s0, weights: [s1] };
  },
  merge(ctx, chunk, stats) {
    const [s0, s1] = coefficients(ctx, stats!);
    const a = chunk.base!;
    const b = chunk.models[0]!;
    const out = new Float32Array(a.length);
    for (let e = 0; e < a.length; e++) out[e] = s0 * a[e]! + s1 * b[e]!;
    return out;
  },
};

export default slerp;
