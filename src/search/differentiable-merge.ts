// The model-agnostic half of gradient search: a merged parameter map built in tfjs from the
// coefficient vector x, so tfjs gives gradients with respect to x (AdaMerging) or to the merged
// weights (Frank-Wolfe's linear minimisation oracle).
//
//   merged_t = θ₀_t + lambda · Σₖ x[coordinate('weight', k, unit(t))] · τ̃ₖ_t      for each merged tensor t
//
// τ̃ₖ = θₖ − θ₀ (task_arithmetic), or the TIES-processed task vector (ties, i.e. AdaMerging++):
// τₖ trimmed per tensor to its top `density` fraction by magnitude, then only the entries whose sign
// agrees with sign(Σₖ trimmed τₖ) (zero counts as +) are kept — TIES' election with uniform weights,
// done once, so the candidate stays linear in x. With uniform x this is exactly the `ties` merge
// (normalize false); with non-uniform x the exact merge would re-elect signs with those weights,
// which AdaMerging++ deliberately does not do (its reference preprocesses once, then learns λ).
// The AdaMerging++ reference trims over the whole flattened model (top 20 %) and gives zero sums
// the majority sign; here trimming is per tensor with zero → +, mergekit's TIES, so that a proposal
// means the same merge on the export path.
//
// tsv_m (TSV-M): each 2-D tensor's task vectors are decomposed and whitened once (the same
// functions and cache as the merge method, so the factors are the method's own), and
//   merged_t = θ₀_t + U⊥ · diag(α · σ ⊙ c(x)) · V⊥ᵀ,
// where component j of task k is scaled by weight_k · group_g,k (each searched or fixed): linear in
// each of them (bilinear when both are searched), and equal to the tsv_m merge at x. Other tensors
// follow tsv_m's fallback, θ₀ + α · mean_k(weight_k · τ_k). This is the component granularity of
// the SVD family: searching group_0..group_3 per task (AdaRank's analogue), the per-task weight, or
// both (the weight then also reaches the tensors outside the SVD, e.g. norms and biases).
//
// The model-specific half (which forward, which data, which loss) lives in the family's loss terms
// (src/zoo/*-scoring.ts), used through `differentiable-zoo.ts`.
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import { streamKey, tensorSeed } from '../tensor/random.ts';
import type { HostParams } from '../merge/host-merge.ts';
import { isSvdMatrix } from '../merge/svd-family.ts';
import { GROUP_PARAMS as TSV_GROUP_PARAMS, tsvFactors, tsvTaskSvd } from '../merge/methods/tsv_m.ts';
import type { SearchSpace } from './space.ts';

const SUPPORTED_METHODS = ['task_arithmetic', 'ties', 'tsv_m'] as const;
/** Fixed parameters that leave the candidate linear in x (or have no numeric effect). */
const ALLOWED_FIXED = new Set(['lambda', 'density', 'normalize', 'rescale', 'int8_mask', 'lines_alpha', 'lines_beta']);
const TSV_FIXED = new Set(['alpha', 'rank_fraction', 'weight', ...TSV_GROUP_PARAMS]);

/** A tsv_m 2-D tensor: θ₀ + L·diag(a ⊙ (selW·x) ⊙ (selG·x + gOff))·R (absent selections: 1). */
interface FactoredPlan {
  kind: 'factored';
  name: string;
  shape: number[];
  base: tf.Tensor;
  /** rows×kk (the whitened left vectors as columns) and kk×cols. */
  l: tf.Tensor2D;
  r: tf.Tensor2D;
  /** One-hot rows [kk, dim] picking each component's weight coordinate (null: weight fixed). */
  selW: tf.Tensor2D | null;
  /** One-hot rows [kk, dim] picking each component's group coordinate (null: groups fixed). */
  selG: tf.Tensor2D | null;
  /** 1 where a component's group is fixed (its factor then comes from a), else 0. */
  gOff: tf.Tensor1D;
  /** The fixed factors α·σ_j·(fixed weight)·(fixed group). */
  a: tf.Tensor1D;
}

/** A tensor that does not depend on x (tsv_m's fallback tensors when only component groups are searched). */
interface ConstantPlan {
  kind: 'constant';
  name: string;
  shape: number[];
  base: tf.Tensor;
}

type TensorPlan = DensePlan | FactoredPlan | ConstantPlan;

interface DensePlan {
  kind: 'dense';
  name: string;
  shape: number[];
  unit: number;
  /** Base weights [shape] and the K processed task vectors [K, numel], kept on the backend. */
  base: tf.Tensor;
  taus: tf.Tensor2D;
  /** Host copies for the oracle's float64 dot products. */
  hostBase: Float32Array;
  hostTaus: Float32Array[];
  /** Gram matrix (K+1)×(K+1) of [θ₀, τ̃₁..τ̃_K], row-major, float64. */
  gram: Float64Array;
}

export interface MergeSources {
  base: HostParams;
  /** One parameter map per model, in the space's model order. */
  experts: HostParams[];
  /** Names of the experts, for messages. */
  expertNames: string[];
  /** The tensors merged (the others are the caller's business: heads, or nothing). */
  tensors: string[];
  /** The merge's seed (the study's), for methods with seeded decompositions (tsv_m). Default 0. */
  seed?: number;
}

export class DifferentiableMerge {
  readonly models: number;
  readonly units: number;
  /** The scale applied to Σ xₖ τ̃ₖ (the space's fixed `lambda`, default 1). */
  readonly lambda: number;
  readonly tensorNames: string[];
  private readonly plans: TensorPlan[] = [];
  /** One-hot rows [units·K, dim]: row u·K + k picks x[coordinate('weight', k, u)] (when weight is searched). */
  private readonly select: tf.Tensor2D | null = null;
  private disposed = false;

  constructor(
    readonly space: SearchSpace,
    sources: MergeSources,
  ) {
    checkLinearSpace(space);
    const method = space.method;
    const lambda = method === 'tsv_m' ? 1 : (space.spec.fixed?.lambda ?? 1);
    if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda === 0) fail('SEARCH_E_SPACE', `space.fixed.lambda must be a finite non-zero number, got ${JSON.stringify(lambda)}`);
    this.lambda = lambda;

    this.models = sources.experts.length;
    if (space.modelNames.length !== this.models) {
      fail('SEARCH_E_SPACE', `the space has ${space.modelNames.length} models but the zoo has ${this.models} experts`);
    }
    const missing = sources.tensors.filter((n) => !space.tensors.includes(n));
    if (missing.length > 0) fail('SEARCH_E_SPACE', `the space does not cover merged tensor ${missing[0]}; build it over every merged tensor of the zoo`);
    const extra = space.tensors.filter((n) => !sources.tensors.includes(n));
    if (extra.length > 0) fail('SEARCH_E_SPACE', `the space names tensor ${extra[0]}, which is not a merged tensor of the zoo`);
    const searched = Object.keys(space.spec.parameters);
    this.units = space.unitsOf(searched.includes('weight') ? 'weight' : searched[0]!).length;
    this.tensorNames = [...sources.tensors];

    const K = this.models;
    if (method === 'tsv_m') {
      for (const name of sources.tensors) this.plans.push(this.tsvPlan(name, sources));
      if (searched.includes('weight')) this.select = this.weightSelect();
      return;
    }
    for (const name of sources.tensors) {
      const b = sources.base.get(name);
      if (!b) fail('IO_E_NO_TENSOR', `tensor ${name} is missing from the base model`);
      const raw = sources.experts.map((e, k) => {
        const t = e.get(name);
        if (!t || t.values.length !== b.values.length) fail('MERGE_E_SHAPE', `tensor ${name} is missing or has another size in expert ${sources.expertNames[k]}`);
        const tau = new Float32Array(b.values.length);
        for (let i = 0; i < tau.length; i++) tau[i] = t.values[i]! - b.values[i]!;
        return tau;
      });
      let taus: Float32Array[] = raw;
      if (method === 'ties') {
        const p = space.paramsFor(space.init, name);
        const densities = p.perModel.map((m) => (m.density === undefined ? 1 : Number(m.density)));
        taus = tiesProcess(raw, densities);
      }
      this.plans.push(densePlan(name, b, taus, space.unitOfTensor('weight', name)));
    }

    this.select = this.weightSelect();
  }

  private weightSelect(): tf.Tensor2D {
    const K = this.models;
    const dim = this.space.dim;
    const sel = new Float32Array(this.units * K * dim);
    for (let u = 0; u < this.units; u++) for (let k = 0; k < K; k++) sel[(u * K + k) * dim + this.coordinate(k, u)] = 1;
    return tf.keep(tf.tensor2d(sel, [this.units * K, dim]));
  }

  /** tsv_m: the tensor's whitened factors (the method's own, through its cache), or its fallback. */
  private tsvPlan(name: string, sources: MergeSources): TensorPlan {
    const space = this.space;
    const b = sources.base.get(name);
    if (!b) fail('IO_E_NO_TENSOR', `tensor ${name} is missing from the base model`);
    const K = this.models;
    const numel = b.values.length;
    const taus = sources.experts.map((e, k) => {
      const t = e.get(name);
      if (!t || t.values.length !== numel) fail('MERGE_E_SHAPE', `tensor ${name} is missing or has another size in expert ${sources.expertNames[k]}`);
      const tau = new Float32Array(numel);
      for (let i = 0; i < numel; i++) tau[i] = t.values[i]! - b.values[i]!;
      return tau;
    });
    // The fixed values (x is irrelevant for them) and which of weight/group_g are searched.
    const fixed = space.paramsFor(space.init, name);
    const alpha = Number(fixed.global.alpha ?? 1);
    const searched = (param: string) => param in space.spec.parameters;
    const fixedOf = (k: number, param: string) => (searched(param) ? 1 : Number(fixed.perModel[k]![param] ?? 1));
    if (!isSvdMatrix({ name, shape: b.shape })) {
      // tsv_m's fallback: θ₀ + α · mean_k(weight_k · τ_k).
      if (!searched('weight')) {
        const out = Float32Array.from(b.values);
        taus.forEach((tau, k) => {
          const c = (alpha * fixedOf(k, 'weight')) / K;
          for (let i = 0; i < numel; i++) out[i] = out[i]! + c * tau[i]!;
        });
        return { kind: 'constant', name, shape: b.shape, base: tf.keep(tf.tensor(out, b.shape)) };
      }
      const scaled = taus.map((tau) => Float32Array.from(tau, (v) => (alpha / K) * v));
      return densePlan(name, b, scaled, space.unitOfTensor('weight', name));
    }
    const [rows, cols] = b.shape as [number, number];
    taus.forEach((tau, k) => {
      const bad = tau.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail('MERGE_E_NONFINITE', `tensor ${name}: expert ${sources.expertNames[k]} differs from the base by ${tau[bad]} at element ${bad}; check the models for NaN/Inf values`);
    });
    const ctx = { rows, cols, global: fixed.global, perModel: fixed.perModel, seed: tensorSeed(sources.seed ?? 0, name) };
    const f = tsvFactors(
      taus.map((tau, k) => tsvTaskSvd(Float64Array.from(tau), ctx, k)),
      rows,
      cols,
    );
    const kk = f.kk;
    const l = new Float32Array(rows * kk);
    for (let j = 0; j < kk; j++) for (let i = 0; i < rows; i++) l[i * kk + j] = f.ut[j * rows + i]!;
    // scale_j = a_j · (selW·x)_j · (selG·x + gOff)_j: the fixed factors in a, the searched weight
    // and group coordinates picked by one-hot rows (a group not searched contributes 1 via gOff).
    const dim = space.dim;
    const anyGroup = TSV_GROUP_PARAMS.some(searched);
    const selW = searched('weight') ? new Float32Array(kk * dim) : null;
    const selG = anyGroup ? new Float32Array(kk * dim) : null;
    const gOff = new Float32Array(kk);
    const a = new Float32Array(kk);
    for (let j = 0; j < kk; j++) {
      const k = f.task[j]!;
      const group = TSV_GROUP_PARAMS[f.group[j]!]!;
      a[j] = alpha * f.s[j]! * fixedOf(k, 'weight') * fixedOf(k, group);
      if (selW) selW[j * dim + space.coordinate('weight', k, space.unitOfTensor('weight', name))] = 1;
      if (selG) {
        if (searched(group)) selG[j * dim + space.coordinate(group, k, space.unitOfTensor(group, name))] = 1;
        else gOff[j] = 1;
      }
    }
    return {
      kind: 'factored',
      name,
      shape: b.shape,
      base: tf.keep(tf.tensor(b.values, b.shape)),
      l: tf.keep(tf.tensor2d(l, [rows, kk])),
      r: tf.keep(tf.tensor2d(Float32Array.from(f.vt), [kk, cols])),
      selW: selW ? tf.keep(tf.tensor2d(selW, [kk, dim])) : null,
      selG: selG ? tf.keep(tf.tensor2d(selG, [kk, dim])) : null,
      gOff: tf.keep(tf.tensor1d(gOff)),
      a: tf.keep(tf.tensor1d(a)),
    };
  }

  coordinate(model: number, unit: number): number {
    return this.space.coordinate('weight', model, unit);
  }

  /** x whose candidate is model m's own weights (θ₀ + τ̃ₘ): 1/lambda at m's coordinates, 0 elsewhere. */
  vertex(model: number): number[] {
    if (this.space.method === 'tsv_m') fail('SEARCH_E_SPACE', 'frank-wolfe moves toward the experts\' own weights; over tsv_m use adamerging or a black-box optimizer');
    const x = new Array<number>(this.space.dim).fill(0);
    for (let u = 0; u < this.units; u++) x[this.coordinate(model, u)] = 1 / this.lambda;
    return x;
  }

  /** θ₀ + lambda · Σₖ x[k, unit(t)] τ̃ₖ per merged tensor, differentiable in `coef` [dim, 1]. */
  mergedTensors(coef: tf.Tensor): Record<string, tf.Tensor> {
    this.checkLive();
    const K = this.models;
    let rows: tf.Tensor2D[] = [];
    if (this.select) {
      const w = tf.reshape(tf.mul(tf.matMul(this.select, coef as tf.Tensor2D), this.lambda), [this.units, K]);
      // slice, not split: tfjs 4.22's split gradient throws for a single piece (task granularity)
      rows = Array.from({ length: this.units }, (_, u) => tf.slice(w, [u, 0], [1, K]) as tf.Tensor2D);
    }
    const out: Record<string, tf.Tensor> = {};
    for (const p of this.plans) {
      if (p.kind === 'dense') out[p.name] = tf.add(p.base, tf.reshape(tf.matMul(rows[p.unit]!, p.taus), p.shape));
      else if (p.kind === 'constant') out[p.name] = tf.add(p.base, 0);
      else {
        const kk = p.a.shape[0];
        const pick = (sel: tf.Tensor2D) => tf.reshape(tf.matMul(sel, coef as tf.Tensor2D), [kk]);
        let scale: tf.Tensor = p.a;
        if (p.selW) scale = tf.mul(scale, pick(p.selW));
        if (p.selG) scale = tf.mul(scale, tf.add(pick(p.selG), p.gOff));
        out[p.name] = tf.add(p.base, tf.matMul(tf.mul(p.l, tf.reshape(scale, [1, kk])), p.r));
      }
    }
    return out;
  }

  /**
   * A scalar loss of the merged tensors at x, and its gradient with respect to x. `loss` builds the
   * loss from the merged tensors inside one tidy scope (tensors it makes are freed).
   */
  lossAndGradInX(x: readonly number[], loss: (merged: Record<string, tf.Tensor>) => tf.Scalar): { loss: number; grad: number[] } {
    const { value, grad } = this.valueAndGradInX(x, loss);
    try {
      return { loss: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
    } finally {
      tf.dispose([value, grad]);
    }
  }

  /** lossAndGradInX, read with `await data()` (backends without synchronous reads: the GPU scoring thread). */
  async lossAndGradInXAsync(x: readonly number[], loss: (merged: Record<string, tf.Tensor>) => tf.Scalar): Promise<{ loss: number; grad: number[] }> {
    const { value, grad } = this.valueAndGradInX(x, loss);
    try {
      return { loss: (await value.data())[0]!, grad: Array.from(await grad.data()) };
    } finally {
      tf.dispose([value, grad]);
    }
  }

  private valueAndGradInX(x: readonly number[], loss: (merged: Record<string, tf.Tensor>) => tf.Scalar): { value: tf.Scalar; grad: tf.Tensor } {
    this.checkX(x);
    const coef = tf.tensor2d([...x], [x.length, 1]);
    try {
      return tf.tidy(() => tf.valueAndGrad((c: tf.Tensor) => loss(this.mergedTensors(c)))(coef));
    } finally {
      coef.dispose();
    }
  }

  /**
   * A scalar loss of the merged tensors at x, and its gradient with respect to each merged tensor
   * (host float32, by name): what Frank-Wolfe's oracle compares with the candidates.
   */
  lossAndGradInWeights(x: readonly number[], loss: (merged: Record<string, tf.Tensor>) => tf.Scalar): { loss: number; grads: Map<string, Float32Array> } {
    const names = this.tensorNames;
    const { value, grads } = this.valueAndGradsInWeights(x, loss);
    const out = new Map<string, Float32Array>();
    names.forEach((n, i) => out.set(n, grads[i]!.dataSync() as Float32Array));
    const result = { loss: value.dataSync()[0]!, grads: out };
    tf.dispose([value, ...grads]);
    return result;
  }

  /** lossAndGradInWeights, read with `await data()` (the GPU scoring thread). */
  async lossAndGradInWeightsAsync(x: readonly number[], loss: (merged: Record<string, tf.Tensor>) => tf.Scalar): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    const names = this.tensorNames;
    const { value, grads } = this.valueAndGradsInWeights(x, loss);
    try {
      const out = new Map<string, Float32Array>();
      for (const [i, n] of names.entries()) out.set(n, (await grads[i]!.data()) as Float32Array);
      return { loss: (await value.data())[0]!, grads: out };
    } finally {
      tf.dispose([value, ...grads]);
    }
  }

  private valueAndGradsInWeights(x: readonly number[], loss: (merged: Record<string, tf.Tensor>) => tf.Scalar): { value: tf.Scalar; grads: tf.Tensor[] } {
    this.checkX(x);
    const names = this.tensorNames;
    return tf.tidy(() => {
      const merged = this.mergedTensors(tf.tensor2d([...x], [x.length, 1]));
      return tf.valueAndGrads((...ws: tf.Tensor[]) => loss(Object.fromEntries(names.map((n, i) => [n, ws[i]!]))))(names.map((n) => merged[n]!));
    });
  }

  /** The merged tensors for x as host arrays (what the gradient path optimises). */
  mergedHost(x: readonly number[]): HostParams {
    this.checkX(x);
    const merged = tf.tidy(() => this.mergedTensors(tf.tensor2d([...x], [x.length, 1])));
    const out: HostParams = new Map();
    for (const p of this.plans) out.set(p.name, { shape: p.shape, values: merged[p.name]!.dataSync() as Float32Array });
    tf.dispose(Object.values(merged));
    return out;
  }

  /**
   * Per unit and candidate c, the sum over the unit's tensors of cosine(∇_t, W_c,t), where ∇_t is a
   * loss's gradient with respect to merged tensor t (`grads`) and W_c,t is candidate c's weights
   * θ₀ + lambda·Σₖ c[k,u]·τ̃ₖ ('weights', the Frank-Wolfe reference) or its task vector
   * lambda·Σₖ c[k,u]·τ̃ₖ ('task_vector'). Dot products and norms in float64 (a zero norm gives 0).
   */
  alignmentOf(grads: Map<string, Float32Array>, candidates: number[][], against: 'weights' | 'task_vector'): number[][] {
    for (const c of candidates) this.checkX(c);
    const K = this.models;
    const cosine = Array.from({ length: this.units }, () => new Array<number>(candidates.length).fill(0));
    const a = new Float64Array(K + 1);
    for (const p of this.plans) {
      if (p.kind !== 'dense') fail('SEARCH_E_SPACE', `frank-wolfe moves toward the experts' own weights; over ${this.space.method} use adamerging or a black-box optimizer`);
      const g = grads.get(p.name);
      if (!g) throw new Error(`no gradient for merged tensor ${p.name}`);
      // d[0] = ∇·θ₀, d[k+1] = ∇·τ̃ₖ
      const d = [p.hostBase, ...p.hostTaus].map((v) => dot(g, v));
      const gNorm = Math.sqrt(dot(g, g));
      candidates.forEach((c, ci) => {
        a[0] = against === 'weights' ? 1 : 0;
        for (let k = 0; k < K; k++) a[k + 1] = this.lambda * c[this.coordinate(k, p.unit)]!;
        let num = 0;
        let sq = 0;
        for (let i = 0; i <= K; i++) {
          num += a[i]! * d[i]!;
          for (let j = 0; j <= K; j++) sq += a[i]! * a[j]! * p.gram[i * (K + 1) + j]!;
        }
        const denom = gNorm * Math.sqrt(Math.max(sq, 0));
        cosine[p.unit]![ci]! += denom > 0 ? num / denom : 0;
      });
    }
    return cosine;
  }

  checkX(x: readonly number[]): void {
    this.checkLive();
    if (x.length !== this.space.dim) throw new Error(`coefficient vector has ${x.length} entries, the space has ${this.space.dim}`);
  }

  /** Free the kept tensors; the merge cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose([...this.plans.flatMap((p) => (p.kind === 'dense' ? [p.base, p.taus] : p.kind === 'factored' ? [p.base, p.l, p.r, p.gOff, p.a, ...(p.selW ? [p.selW] : []), ...(p.selG ? [p.selG] : [])] : [p.base])), ...(this.select ? [this.select] : [])]);
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('differentiable merge used after dispose()');
  }
}

/** θ₀ + Σₖ cₖ·τₖ for one tensor: the base and the K task vectors kept on the backend, host copies for the oracle. */
function densePlan(name: string, b: { shape: number[]; values: Float32Array }, taus: Float32Array[], unit: number): DensePlan {
  const numel = b.values.length;
  const stacked = new Float32Array(taus.length * numel);
  taus.forEach((t, k) => stacked.set(t, k * numel));
  return {
    kind: 'dense',
    name,
    shape: b.shape,
    unit,
    base: tf.keep(tf.tensor(b.values, b.shape)),
    taus: tf.keep(tf.tensor2d(stacked, [taus.length, numel])),
    hostBase: b.values,
    hostTaus: taus,
    gram: gramOf([b.values, ...taus]),
  };
}

/** Refuse spaces whose candidates are not linear in x (gradient search learns the per-model weight only). */
function checkLinearSpace(space: SearchSpace): void {
  const method = space.method;
  if (!(SUPPORTED_METHODS as readonly string[]).includes(method)) {
    fail('SEARCH_E_SPACE', `gradient search needs a merge that is linear in the weights: method task_arithmetic, ties (AdaMerging++) or tsv_m (its per-task weight or component groups); the space uses ${method}`);
  }
  if (method === 'tsv_m') {
    const searched = Object.keys(space.spec.parameters);
    const other = searched.filter((p) => p !== 'weight' && !TSV_GROUP_PARAMS.includes(p));
    if (other.length > 0 || searched.length === 0) {
      fail('SEARCH_E_SPACE', `gradient search over tsv_m learns the per-model weight and/or the component groups (${TSV_GROUP_PARAMS.join(', ')}); move ${other.join(', ') || 'the others'} under space.fixed`);
    }
    for (const name of Object.keys(space.spec.fixed ?? {})) {
      if (!TSV_FIXED.has(name)) fail('SEARCH_E_SPACE', `space.fixed.${name}: tsv_m takes ${[...TSV_FIXED].join(', ')}`);
    }
    return;
  }
  const searched = Object.keys(space.spec.parameters);
  const other = searched.filter((p) => p !== 'weight');
  if (!searched.includes('weight') || other.length > 0) {
    fail('SEARCH_E_SPACE', `gradient search learns the per-model weight only; search space.parameters.weight and move ${other.join(', ') || 'the others'} under space.fixed`);
  }
  const fixed = space.spec.fixed ?? {};
  for (const [name, value] of Object.entries(fixed)) {
    if (!ALLOWED_FIXED.has(name)) fail('SEARCH_E_SPACE', `space.fixed.${name}: gradient search supports only lambda${method === 'ties' ? ', density and normalize: false' : ''} as fixed parameters`);
    if (name === 'rescale' && !(value === false || value === 'false' || value === 'none')) fail('SEARCH_E_SPACE', `space.fixed.rescale = ${JSON.stringify(value)}: gradient search supports only rescale false`);
    if ((name === 'lines_alpha' && value !== 1) || (name === 'lines_beta' && value !== 0)) fail('SEARCH_E_SPACE', `space.fixed.${name}: gradient search does not support LiNeS depth scaling; remove it`);
  }
  // ties normalises by default (mergekit); a normalised merge is not linear in the weights, and
  // the proposals must mean the same merge when the trial loop scores them.
  if (method === 'ties' && fixed.normalize !== false) {
    fail('SEARCH_E_SPACE', 'gradient search over ties (AdaMerging++) combines the TIES-processed task vectors linearly: set space.fixed.normalize: false');
  }
  if (method === 'task_arithmetic' && fixed.normalize === true) {
    fail('SEARCH_E_SPACE', 'gradient search over task_arithmetic needs normalize false (a normalised merge is not linear in the weights)');
  }
}

/** A 32-bit seed for task i's calibration samples from a (safe-integer) sample seed. */
export function taskSampleSeed(seed: number, task: number): number {
  const hi = Math.floor(seed / 4294967296);
  return streamKey((seed >>> 0) ^ Math.imul(hi, 0x9e3779b1), task);
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function gramOf(vs: Float32Array[]): Float64Array {
  const n = vs.length;
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = dot(vs[i]!, vs[j]!);
      g[i * n + j] = v;
      g[j * n + i] = v;
    }
  }
  return g;
}

/**
 * TIES preprocessing of one tensor's task vectors (mergekit's semantics, uniform weights): keep the
 * top floor(density·numel) |τₖ| (ties at the threshold admitted in index order, as the merge
 * kernels do), elect the sign of Σₖ trimmed τₖ (zero → +), zero the entries that disagree.
 */
export function tiesProcess(taus: Float32Array[], densities: number[]): Float32Array[] {
  const trimmed = taus.map((t, k) => trimTopMagnitude(t, densities[k] ?? 1));
  const n = taus[0]?.length ?? 0;
  const out = trimmed.map((t) => new Float32Array(t.length));
  for (let e = 0; e < n; e++) {
    let s = 0;
    for (const t of trimmed) s += t[e]!;
    const sign = s >= 0 ? 1 : -1;
    trimmed.forEach((t, k) => {
      if (t[e]! * sign > 0) out[k]![e] = t[e]!;
    });
  }
  return out;
}

function trimTopMagnitude(tau: Float32Array, density: number): Float32Array {
  if (!(density >= 0 && density <= 1)) fail('SEARCH_E_SPACE', `density must be in [0, 1], got ${density}`);
  const n = tau.length;
  if (density >= 1) return tau;
  const keep = Math.floor(density * n);
  const out = new Float32Array(n);
  if (keep === 0) return out;
  const abs = Float32Array.from(tau, Math.abs);
  const threshold = abs.slice().sort()[n - keep]!;
  let greater = 0;
  for (let i = 0; i < n; i++) if (abs[i]! > threshold) greater++;
  let admit = keep - greater;
  for (let i = 0; i < n; i++) {
    if (abs[i]! > threshold || (abs[i] === threshold && admit-- > 0)) out[i] = tau[i]!;
  }
  return out;
}
