// WUDI merging (Cheng et al. 2025, "Whoever Started the Interference Should End It: Guiding
// Data-Free Model Merging via Task Vectors"). For a 2-D weight the rows of a task vector span the
// inputs its task cares about, so the merged task vector τ should differ from each τₜ as little as
// possible *along τₜ's own rows*:
//   L(τ) = Σₜ ‖(τ − τₜ) τₜᵀ‖²_F / ‖τₜ‖²_F,
// minimised by Adam from τ = Σₜ τₜ; result = base + λ·τ. Other tensors: base + λ·mean(τₜ).
//
// Defaults (FusionBench `wudi_merging`): Adam with lr 1e-5, betas (0.9, 0.999), eps 1e-8, no weight
// decay, 300 iterations (the function's default; FusionBench's wudi.yaml runs 400), initial τ the
// *sum* of the task vectors, non-2-D tensors the *mean*, λ = 1 (the reference adds τ unscaled).
// Deterministic: no randomness anywhere.
//
// Computation: the gradient is 2 Σₜ (τ − τₜ) τₜᵀτₜ / ‖τₜ‖² = 2 (τC − B) with C = Σₜ τₜᵀτₜ/‖τₜ‖²
// [in, in] and B = Σₜ τₜ (τₜᵀτₜ)/‖τₜ‖² [out, in], both formed once; each Adam step is then one
// [out, in]×[in, in] product (out·in² multiply-adds) instead of 2·tasks·out²·in. Tasks whose τₜ
// is zero in this tensor are left out of the loss (their term is 0/0 in the reference).
// Plain float64 typed arrays, not tfjs: merge methods are synchronous and also run inside the
// streaming executor's worker threads, where no tfjs backend is started, and float64 keeps the
// in-memory and streaming paths bit-identical and the gradient checkable by finite differences.
// The cost is CPU time: ~1 GFLOP/s, so 300 steps on a [256, 784] weight take tens of seconds, and
// 4096-wide LLM weights are out of reach until the matmul moves to a native/wasm kernel.
// The whole tensor is needed: one statistics pass gathers the task vectors (float32), the
// optimisation runs when they are combined, and each chunk then takes its rows of the result.
import { allocF32, numberParam, type MergeMethod, type TensorContext } from '../method.ts';

interface WudiStats {
  /** The optimised merged task vector's rows [rowOffset, rowOffset + rows) (2-D tensors only). */
  tau?: Float32Array;
  rowOffset?: number;
}

/** Rows of b per block: a block (≤ 32 rows × n float64) stays in cache while every row of a uses it. */
const BLOCK = 32;

/** a [m, k] · b [k, n] → [m, n], float64, row-major, blocked over k so b's rows are reused from cache. */
function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number, out = new Float64Array(m * n)): Float64Array {
  out.fill(0);
  for (let p0 = 0; p0 < k; p0 += BLOCK) {
    const p1 = Math.min(k, p0 + BLOCK);
    for (let i = 0; i < m; i++) {
      const oi = i * n;
      const ai = i * k;
      for (let p = p0; p < p1; p++) {
        const v = a[ai + p]!;
        if (v === 0) continue;
        const bp = p * n;
        for (let j = 0; j < n; j++) out[oi + j] = out[oi + j]! + v * b[bp + j]!;
      }
    }
  }
  return out;
}

/** aᵀa for a [m, n] → [n, n]. */
function gramOf(a: Float64Array, m: number, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let r = 0; r < m; r++) {
    const ar = r * n;
    for (let i = 0; i < n; i++) {
      const v = a[ar + i]!;
      if (v === 0) continue;
      const oi = i * n;
      for (let j = 0; j < n; j++) out[oi + j] = out[oi + j]! + v * a[ar + j]!;
    }
  }
  return out;
}

export interface WudiObjective {
  /** L(τ) and its gradient, for τ [rows, cols]. */
  lossAndGrad(tau: Float64Array): { loss: number; grad: Float64Array };
  /** The starting point: the sum of the task vectors. */
  init(): Float64Array;
}

/** The WUDI objective over task vectors `tvs` (each [rows, cols], row-major). */
export function wudiObjective(tvs: ArrayLike<number>[], rows: number, cols: number): WudiObjective {
  const size = rows * cols;
  const c = new Float64Array(cols * cols);
  const b = new Float64Array(size);
  let constant = 0;
  for (const t of tvs) {
    const tv = Float64Array.from(t);
    let sq = 0;
    for (let e = 0; e < size; e++) sq += tv[e]! * tv[e]!;
    if (sq === 0) continue;
    const ct = gramOf(tv, rows, cols);
    for (let e = 0; e < ct.length; e++) ct[e] = ct[e]! / sq;
    for (let e = 0; e < ct.length; e++) c[e] = c[e]! + ct[e]!;
    const bt = matmul(tv, ct, rows, cols, cols);
    for (let e = 0; e < size; e++) {
      b[e] = b[e]! + bt[e]!;
      constant += bt[e]! * tv[e]!; // tr(τₜ Cₜ τₜᵀ)
    }
  }
  const tc = new Float64Array(size);
  return {
    init() {
      const s = new Float64Array(size);
      for (const t of tvs) for (let e = 0; e < size; e++) s[e] = s[e]! + t[e]!;
      return s;
    },
    lossAndGrad(tau) {
      matmul(tau, c, rows, cols, cols, tc);
      // L = tr(τCτᵀ) − 2 tr(τBᵀ) + Σₜ tr(τₜCₜτₜᵀ); ∇L = 2(τC − B).
      let loss = constant;
      const grad = new Float64Array(size);
      for (let e = 0; e < size; e++) {
        loss += tau[e]! * (tc[e]! - 2 * b[e]!);
        grad[e] = 2 * (tc[e]! - b[e]!);
      }
      return { loss, grad };
    },
  };
}

/** Adam on the WUDI objective (torch.optim.Adam's update); the losses before each step are recorded. */
export function wudiOptimize(tvs: ArrayLike<number>[], rows: number, cols: number, iterations: number, lr: number, history?: number[]): Float64Array {
  const obj = wudiObjective(tvs, rows, cols);
  const tau = obj.init();
  const m = new Float64Array(tau.length);
  const v = new Float64Array(tau.length);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  for (let step = 1; step <= iterations; step++) {
    const { loss, grad } = obj.lossAndGrad(tau);
    history?.push(loss);
    const bc1 = 1 - beta1 ** step;
    const bc2 = Math.sqrt(1 - beta2 ** step);
    for (let e = 0; e < tau.length; e++) {
      const g = grad[e]!;
      m[e] = beta1 * m[e]! + (1 - beta1) * g;
      v[e] = beta2 * v[e]! + (1 - beta2) * g * g;
      tau[e] = tau[e]! - (lr / bc1) * (m[e]! / (Math.sqrt(v[e]!) / bc2 + eps));
    }
  }
  history?.push(obj.lossAndGrad(tau).loss);
  return tau;
}

function is2d(ctx: TensorContext): boolean {
  return ctx.shape.length === 2;
}

const wudi: MergeMethod<WudiStats> = {
  name: 'wudi',
  description: 'WUDI: data-free per-layer optimisation of the merged task vector against each task vector\'s own subspace (Adam)',
  base: 'required',
  globalParams: [
    { name: 'iterations', kind: 'number', default: 300, doc: 'Adam steps per 2-D weight' },
    { name: 'lr', kind: 'number', default: 1e-5, doc: 'Adam learning rate' },
    { name: 'lambda', kind: 'number', default: 1, doc: 'scale of the merged task vector' },
  ],
  modelParams: [],
  checkModels: (models, hasBase) => (!hasBase ? 'wudi needs base_model' : models < 1 ? 'wudi needs at least one model besides the base' : undefined),
  checkParams(ctx) {
    const it = numberParam(ctx.global.iterations ?? 300, 'iterations');
    if (!(Number.isInteger(it) && it >= 0)) return `iterations is ${it}; it must be a whole number ≥ 0`;
    const lr = numberParam(ctx.global.lr ?? 1e-5, 'lr');
    if (!(lr >= 0)) return `lr is ${lr}; it must be ≥ 0`;
    return undefined;
  },
  statsPasses: (ctx) => (is2d(ctx) ? 1 : 0),
  chunkStats(_ctx, _pass, chunk) {
    return chunk.models.map((x) => {
      const b = chunk.base!;
      const d = new Float32Array(x.length);
      for (let e = 0; e < x.length; e++) d[e] = x[e]! - b[e]!;
      return d;
    });
  },
  combineStats(ctx, _pass, partials) {
    const per = partials as Float32Array[][];
    const size = ctx.rows * ctx.cols;
    const tvs = ctx.perModel.map((_, t) => {
      const all = new Float32Array(size);
      let at = 0;
      for (const p of per) {
        all.set(p[t]!, at);
        at += p[t]!.length;
      }
      return all;
    });
    const tau = wudiOptimize(tvs, ctx.rows, ctx.cols, numberParam(ctx.global.iterations ?? 300, 'iterations'), numberParam(ctx.global.lr ?? 1e-5, 'lr'));
    return { tau: Float32Array.from(tau), rowOffset: 0 };
  },
  statsForChunk(ctx, stats, rowStart, rowEnd) {
    return { tau: stats.tau!.slice(rowStart * ctx.cols, rowEnd * ctx.cols), rowOffset: rowStart };
  },
  merge(ctx, chunk, stats) {
    const base = chunk.base!;
    const lambda = numberParam(ctx.global.lambda ?? 1, 'lambda');
    const out = allocF32(chunk, base.length);
    if (stats?.tau) {
      const off = (chunk.rowStart - (stats.rowOffset ?? 0)) * ctx.cols;
      for (let e = 0; e < base.length; e++) out[e] = base[e]! + lambda * stats.tau[off + e]!;
      return out;
    }
    const n = chunk.models.length;
    for (let e = 0; e < base.length; e++) {
      let acc = 0;
      for (let t = 0; t < n; t++) acc += chunk.models[t]![e]! - base[e]!;
      out[e] = base[e]! + (lambda * acc) / n;
    }
    return out;
  },
};

export default wudi;
