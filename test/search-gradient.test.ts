// The gradient optimizers and their differentiable problem on the tiny mnist8 zoo: the coefficient
// gradient against an independent float64 forward pass, the differentiable merge against the exact
// merge code, AdaMerging's descent, golden traces and resumption, Frank-Wolfe's oracle and update
// rule, and no tensor leaks.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DifferentiableZoo } from '../src/search/differentiable-zoo.ts';
import type { OptimizerContext, Proposal } from '../src/search/optimizer.ts';
import adamerging, { sampleSeed } from '../src/search/optimizers/adamerging.ts';
import frankWolfe from '../src/search/optimizers/frank-wolfe.ts';
import { SearchSpace, type Granularity } from '../src/search/space.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { LAYER_NORM_EPS } from '../src/models/mlp-classifier.ts';
import { buildMnist8 } from '../src/zoo/mnist8.ts';
import { readTaskData, toInputs } from '../src/zoo/task-data.ts';
import { mergeBackbone, type LoadedClassifierZoo } from '../src/zoo/zoo-models.ts';
import { loadMnist8Zoo } from '../src/zoo/mnist8-family.ts';
import type { LoadedZoo } from '../src/zoo/family.ts';
import { type HostParams } from '../src/merge/host-merge.ts';
import type { Json, Optimizer } from '../src/search/optimizer.ts';
import { expectGolden } from './helpers/golden.ts';
import { makeTmp } from './helpers/io-tmp.ts';

const tmp = makeTmp('ms-gradient-');
let zoo: LoadedZoo & LoadedClassifierZoo;
let backbone: string[];

beforeAll(async () => {
  await initEngine('wasm');
  const dir = path.join(tmp.dir, 'tiny');
  buildMnist8({ out: dir, seed: 1, tiny: true });
  zoo = loadMnist8Zoo(dir);
  backbone = [...zoo.base.keys()].filter((n) => n.startsWith('backbone.'));
}, 120_000);
afterAll(() => tmp.cleanup());

function space(granularity: Granularity, method = 'task_arithmetic', fixed: Record<string, number | boolean> = {}, bounds = { low: 0, high: 1 }): SearchSpace {
  return new SearchSpace({ method, granularity, parameters: { weight: { ...bounds, init: 0.3 } }, fixed }, backbone, zoo.tasks);
}

function ctxOf(s: SearchSpace, problem: DifferentiableZoo | undefined, o: Optimizer<Json>, settings: Record<string, Json>, seed = 1): OptimizerContext {
  const defaults = Object.fromEntries(o.settings.map((d) => [d.name, d.default]));
  return { dim: s.dim, low: s.low, high: s.high, init: s.init, names: s.names, objectives: [{ name: 'accuracy', direction: 'maximize' }], seed, budget: 1000, settings: { ...defaults, ...settings }, gradient: problem };
}

/** Run `asks` asks (or until done), optionally round-tripping the state through JSON after `roundTripAt` asks. */
function run<S extends Json>(o: Optimizer<S>, ctx: OptimizerContext, asks: number, roundTripAt = -1): { proposals: Proposal[]; states: S[] } {
  let state = o.init(ctx);
  const proposals: Proposal[] = [];
  const states: S[] = [state];
  for (let i = 0; i < asks; i++) {
    if (i === roundTripAt) state = JSON.parse(JSON.stringify(state)) as S;
    const r = o.ask(state, ctx);
    if (r.kind !== 'propose') break;
    state = o.tell(r.state, ctx, r.proposal, [0.5]);
    proposals.push(r.proposal);
    states.push(state);
  }
  return { proposals, states };
}

// ---------------------------------------------------------------------------------------------
// An independent float64 forward pass of the merged model (plain JS loops, no tfjs): task
// arithmetic merge, Linear → LayerNorm → ReLU per layer, cosine head, mean entropy per task.

function entropy64(x: readonly number[], s: SearchSpace, batches: Float32Array[][], lambda = 1): number {
  const W = new Map<string, Float64Array>();
  for (const t of backbone) {
    const b = zoo.base.get(t)!.values;
    const u = s.unitOfTensor('weight', t);
    const out = new Float64Array(b.length);
    for (let i = 0; i < b.length; i++) {
      let v = b[i]!;
      zoo.experts.forEach((e, k) => (v += lambda * x[s.coordinate('weight', k, u)]! * (e.get(t)!.values[i]! - b[i]!)));
      out[i] = v;
    }
    W.set(t, out);
  }
  const cfg = zoo.config;
  let total = 0;
  zoo.tasks.forEach((task, ti) => {
    const head = zoo.experts[ti]!.get(`heads.${task}.weight`)!.values;
    let sum = 0;
    for (const input of batches[ti]!) {
      let a = Float64Array.from(input);
      cfg.hiddenSizes.forEach((width, l) => {
        const w = W.get(`backbone.layers.${l}.weight`)!;
        const bias = W.get(`backbone.layers.${l}.bias`)!;
        const g = W.get(`backbone.layers.${l}.norm.weight`)!;
        const beta = W.get(`backbone.layers.${l}.norm.bias`)!;
        const z = new Float64Array(width);
        for (let o = 0; o < width; o++) {
          let v = bias[o]!;
          for (let i = 0; i < a.length; i++) v += w[o * a.length + i]! * a[i]!;
          z[o] = v;
        }
        const mean = z.reduce((p, v) => p + v, 0) / width;
        const variance = z.reduce((p, v) => p + (v - mean) ** 2, 0) / width;
        for (let o = 0; o < width; o++) z[o] = Math.max(0, ((z[o]! - mean) / Math.sqrt(variance + LAYER_NORM_EPS)) * g[o]! + beta[o]!);
        a = z;
      });
      const fNorm = Math.max(Math.sqrt(a.reduce((p, v) => p + v * v, 0)), 1e-12);
      const logits = Array.from({ length: cfg.numClasses }, (_, c) => {
        let d = 0;
        let n = 0;
        for (let i = 0; i < a.length; i++) {
          d += head[c * a.length + i]! * a[i]!;
          n += head[c * a.length + i]! ** 2;
        }
        return (cfg.logitScale * d) / (fNorm * Math.max(Math.sqrt(n), 1e-12));
      });
      const m = Math.max(...logits);
      const logZ = Math.log(logits.reduce((p, l) => p + Math.exp(l - m), 0)) + m;
      sum -= logits.reduce((p, l) => p + Math.exp(l - logZ) * (l - logZ), 0);
    }
    total += sum / batches[ti]!.length;
  });
  return total;
}

function calibrationBatches(problem: DifferentiableZoo, batch: number, seed: number): Float32Array[][] {
  return zoo.tasks.map((task, ti) => {
    const all = toInputs(readTaskData(path.join(zoo.dir, zoo.manifest.data[task]!.calibration)).images);
    return [...problem.hostIndices(ti, batch, seed)].map((j) => all.subarray(j * 784, (j + 1) * 784));
  });
}

function maxAbsDiff(a: HostParams, b: HostParams, names: string[]): number {
  let d = 0;
  for (const n of names) {
    const x = a.get(n)!.values;
    const y = b.get(n)!.values;
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  }
  return d;
}

describe('DifferentiableZoo', () => {
  // Why not finite differences of the float32 tfjs loss at h = 1e-2: the backbone's ReLUs after
  // LayerNorm put kinks everywhere along a coefficient, and a 1e-2 step crosses some; measured, the
  // float32 central difference at h = 1e-2 misses the true derivative by up to 25 % on first-layer
  // coefficients (h = 1e-3: still 30 % on a small one), while the float64 difference at h = 1e-6
  // agrees with the tfjs gradient to 5 digits. So the oracle is an independent float64 forward.
  it.each(['task', 'tensor'] as const)('the entropy gradient matches central differences of an independent float64 forward (%s granularity)', (granularity) => {
    const s = space(granularity);
    const p = new DifferentiableZoo(zoo, s);
    try {
      const x = s.init.map((v, i) => v + 0.05 * Math.sin(3 * i + 1));
      const batch = 8;
      const seed = 11;
      const { loss, grad } = p.entropyAndGrad(x, batch, seed);
      const batches = calibrationBatches(p, batch, seed);
      // The same function: float32 tfjs vs float64 JS.
      expect(Math.abs(loss - entropy64(x, s, batches)) / loss).toBeLessThan(1e-5);
      expect(grad.length).toBe(s.dim);
      const h = 1e-6;
      const coords = granularity === 'task' ? [...Array(s.dim).keys()] : [0, 5, 9, 18, 27, 36, 43, 52, 63];
      for (const i of coords) {
        const xp = [...x];
        const xm = [...x];
        xp[i]! += h;
        xm[i]! -= h;
        const fd = (entropy64(xp, s, batches) - entropy64(xm, s, batches)) / (2 * h);
        // relative 2e-3 or absolute 1e-4 (float32 backward over sums of 50k products)
        expect(Math.abs(grad[i]! - fd), `${s.names[i]}: tfjs ${grad[i]} vs float64 FD ${fd}`).toBeLessThan(Math.max(1e-4, 2e-3 * Math.abs(fd)));
      }
      // A gradient that is actually informative: not all zero, several signs or sizes.
      expect(Math.max(...grad.map(Math.abs))).toBeGreaterThan(0.05);
    } finally {
      p.dispose();
    }
  }, 60_000);

  it('builds the same backbone as mergeBackbone (task_arithmetic, any coefficients, lambda 0.7) within 1e-5', () => {
    const s = space('tensor', 'task_arithmetic', { lambda: 0.7 });
    const p = new DifferentiableZoo(zoo, s);
    try {
      const x = s.init.map((_, i) => 0.05 + ((i * 37) % 19) / 20);
      const mine = p.mergedHost(x);
      let worst = 0;
      for (const t of backbone) {
        const u = s.unitOfTensor('weight', t);
        const ref = mergeBackbone(zoo, { method: 'task_arithmetic', global: { lambda: 0.7 }, perModel: zoo.tasks.map((_, k) => ({ weight: x[s.coordinate('weight', k, u)]! })) });
        worst = Math.max(worst, maxAbsDiff(mine, ref, [t]));
      }
      expect(worst).toBeLessThan(1e-5);
      // and not trivially: the merge moved away from the base
      expect(maxAbsDiff(mine, zoo.base, backbone)).toBeGreaterThan(1e-2);
    } finally {
      p.dispose();
    }
  });

  it('over ties (AdaMerging++) equals mergeBackbone ties, normalize false, with uniform coefficients', () => {
    const s = space('task', 'ties', { normalize: false, density: 0.4, lambda: 0.9 });
    const p = new DifferentiableZoo(zoo, s);
    try {
      const x = s.init.map(() => 0.35);
      const mine = p.mergedHost(x);
      const ref = mergeBackbone(zoo, { method: 'ties', global: { normalize: false, lambda: 0.9 }, perModel: zoo.tasks.map(() => ({ weight: 0.35, density: 0.4 })) });
      expect(maxAbsDiff(mine, ref, backbone)).toBeLessThan(1e-5);
      // The TIES preprocessing did something: plain task arithmetic is far from it.
      const ta = mergeBackbone(zoo, { method: 'task_arithmetic', global: { lambda: 0.9 }, perModel: zoo.tasks.map(() => ({ weight: 0.35 })) });
      expect(maxAbsDiff(ta, ref, backbone)).toBeGreaterThan(1e-2);
    } finally {
      p.dispose();
    }
  });

  it('refuses spaces it cannot differentiate, with the fix in the message', () => {
    expect(() => new DifferentiableZoo(zoo, space('task', 'ties'))).toThrow(/normalize: false/);
    expect(() => new DifferentiableZoo(zoo, space('task', 'dare_linear'))).toThrow(/linear in the weights.*dare_linear/);
    const both = new SearchSpace({ method: 'task_arithmetic', granularity: 'task', parameters: { weight: { low: 0, high: 1 }, lambda: { low: 0.5, high: 1.5 } } }, backbone, zoo.tasks);
    expect(() => new DifferentiableZoo(zoo, both)).toThrow(/move lambda under space.fixed/);
  });

  it('the oracle: cosines per tensor equal an independent float64 computation, and a task vector anti-aligned with the gradient is picked', () => {
    const s = space('tensor');
    const p = new DifferentiableZoo(zoo, s);
    const zero = s.init.map(() => 0);
    let g: Map<string, Float32Array>;
    try {
      const x = s.init.map((v, i) => v + 0.1 * Math.cos(i));
      const candidates = [p.vertex(3), x];
      const { loss, cosine } = p.alignment(x, { candidates, samples: 50, sampleSeed: 4, against: 'weights' });
      const { loss: loss2, grads } = p.labelledLossAndGrad(x, 50, 4);
      expect(loss).toBe(loss2);
      expect(loss).toBeGreaterThan(0.1);
      const merged = p.mergedHost(x);
      for (const t of backbone) {
        const u = s.unitOfTensor('weight', t);
        const gt = grads.get(t)!;
        const cos = (w: ArrayLike<number>) => {
          let d = 0;
          let a = 0;
          let b = 0;
          for (let i = 0; i < gt.length; i++) {
            d += gt[i]! * w[i]!;
            a += gt[i]! * gt[i]!;
            b += w[i]! * w[i]!;
          }
          return d / Math.sqrt(a * b);
        };
        // candidate 0 is expert 3's own weights; candidate 1 the current merge itself (float32 copy)
        expect(cosine[u]![0]!).toBeCloseTo(cos(zoo.experts[3]!.get(t)!.values), 5);
        expect(cosine[u]![1]!).toBeCloseTo(cos(merged.get(t)!.values), 5);
      }
      // all 200 calibration samples per task: the same gradient whatever the sample seed
      g = p.labelledLossAndGrad(zero, 200, 9).grads;
    } finally {
      p.dispose();
    }

    // A hand-made zoo: expert 2's task vector is exactly −∇ of the labelled loss at the base (x = 0,
    // where the candidate does not depend on the task vectors, so the gradient is the same).
    const experts = zoo.experts.map((e, k) => {
      if (k !== 2) return e;
      const copy: HostParams = new Map(e);
      for (const t of backbone) {
        const b = zoo.base.get(t)!;
        const gt = g.get(t)!;
        const norm = Math.sqrt(gt.reduce((a, v) => a + v * v, 0)) || 1;
        copy.set(t, { shape: b.shape, values: Float32Array.from(b.values, (v, i) => v - (0.05 * gt[i]!) / norm) });
      }
      return copy;
    });
    const handMade: LoadedZoo = { ...zoo, experts };
    for (const granularity of ['tensor', 'task'] as const) {
      const s2 = space(granularity);
      const q = new DifferentiableZoo(handMade, s2);
      try {
        const zero2 = s2.init.map(() => 0);
        const { cosine } = q.alignment(zero2, { candidates: zoo.tasks.map((_, m) => q.vertex(m)), samples: 200, sampleSeed: 9, against: 'task_vector' });
        const perUnit = s2.unitsOf('weight').map((_, u) => backbone.filter((t) => s2.unitOfTensor('weight', t) === u).length);
        cosine.forEach((row, u) => {
          expect(row[2]!).toBeCloseTo(-perUnit[u]!, 4); // cosine −1 on every tensor of the unit
          expect(row.indexOf(Math.min(...row))).toBe(2);
        });
        // FW-Hard from the base, comparing with task vectors: the first step goes toward expert 2 only.
        const ctx = ctxOf(s2, q, frankWolfe as unknown as Optimizer<Json>, { start: 'base', against: 'task_vector', include_initial: false, samples: 200 }, 3);
        const { proposals } = run(frankWolfe as unknown as Optimizer<Json>, ctx, 1);
        const gamma0 = 0.3 * 0.1 * (2 / 2);
        expect(proposals[0]!.x).toEqual(zoo.tasks.flatMap((_, k) => s2.unitsOf('weight').map(() => (k === 2 ? gamma0 : 0))));
      } finally {
        q.dispose();
      }
    }
  });

  it('does not leak tensors across steps, oracle calls and merges; dispose frees everything', () => {
    const before = tf.memory().numTensors;
    const s = space('layer');
    const p = new DifferentiableZoo(zoo, s);
    const kept = tf.memory().numTensors;
    expect(kept).toBeGreaterThan(before);
    const x = [...s.init];
    p.entropyAndGrad(x, 8, 1);
    p.alignment(x, { candidates: [p.vertex(0)], samples: 10, sampleSeed: 1, against: 'weights' });
    p.mergedHost(x);
    p.entropyValue(x, 8, 1);
    const warm = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      p.entropyAndGrad(x, 8, i);
      p.alignment(x, { candidates: [p.vertex(i), x], samples: 10, sampleSeed: i, against: 'task_vector', tasks: [i] });
      p.mergedHost(x);
      p.entropyValue(x, 8, i);
    }
    const ctxA = ctxOf(s, p, adamerging as unknown as Optimizer<Json>, { steps: 6, eval_every: 3, batch: 4 });
    run(adamerging as unknown as Optimizer<Json>, ctxA, 2);
    const ctxF = ctxOf(s, p, frankWolfe as unknown as Optimizer<Json>, { variant: 'soft', iterations: 1, ada_steps: 2, samples: 5, ada_batch: 4 });
    run(frankWolfe as unknown as Optimizer<Json>, ctxF, 1);
    expect(tf.memory().numTensors).toBe(warm);
    expect(warm).toBe(kept);
    p.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => p.entropyAndGrad(x, 8, 1)).toThrow(/after dispose/);
  });
});

describe('adamerging', () => {
  const opt = adamerging as unknown as Optimizer<Json>;

  it('says clearly that it needs an in-memory zoo', () => {
    const s = space('task');
    expect(adamerging.check!(ctxOf(s, undefined, opt, {}))).toMatch(/adamerging needs an in-memory zoo.*cannot search checkpoints scored by a command/);
  });

  it('lowers the calibration entropy over its steps and stays in bounds (tensor granularity)', () => {
    const s = space('tensor', 'task_arithmetic', {}, { low: 0, high: 0.6 });
    const p = new DifferentiableZoo(zoo, s);
    try {
      // lr 1e-2 (not the default 1e-3) so that 60 steps move far enough to measure
      const ctx = ctxOf(s, p, opt, { lr: 1e-2, steps: 60, eval_every: 20, batch: 16 });
      const t0 = performance.now();
      const { proposals, states } = run(opt, ctx, 10);
      const perSecond = 60 / ((performance.now() - t0) / 1000);
      expect(proposals.length).toBe(3); // then done
      expect(opt.ask(states[3]!, ctx).kind).toBe('done');
      // Entropy on a fixed evaluation set (all 200 calibration samples per task), before and after.
      const before = p.entropyValue(s.init, 200, 0);
      const after = p.entropyValue(proposals[2]!.x, 200, 0);
      console.log(`adamerging tiny zoo, tensor granularity: entropy (sum of 8 tasks) ${before.toFixed(3)} → ${after.toFixed(3)} in 60 steps; ${perSecond.toFixed(1)} steps/s`);
      expect(after).toBeLessThan(before - 1);
      for (const pr of proposals) {
        expect(pr.x.every((v, i) => v >= s.low[i]! && v <= s.high[i]!)).toBe(true);
        expect(pr.intermediate!.length).toBe(20);
      }
      expect(proposals.flatMap((pr) => pr.intermediate!.map((e) => e.step))).toEqual([...Array(60).keys()].map((i) => i + 1));
      expect(proposals.some((pr) => pr.x.some((v) => v === 0.6 || v === 0))).toBe(true); // the projection is active
      const mean = (a: Array<{ value: number }>) => a.reduce((q, e) => q + e.value, 0) / a.length;
      expect(mean(proposals[2]!.intermediate!)).toBeLessThan(mean(proposals[0]!.intermediate!.slice(0, 5)));
    } finally {
      p.dispose();
    }
  }, 60_000);

  it('golden trace: the same seed gives identical proposals, a JSON round trip of the state mid-run changes nothing, another seed differs', () => {
    const s = space('layer');
    const p = new DifferentiableZoo(zoo, s);
    try {
      const settings = { steps: 24, eval_every: 8, batch: 8 };
      const a = run(opt, ctxOf(s, p, opt, settings, 5), 5).proposals;
      const b = run(opt, ctxOf(s, p, opt, settings, 5), 5).proposals;
      const c = run(opt, ctxOf(s, p, opt, settings, 5), 5, 1).proposals;
      const d = run(opt, ctxOf(s, p, opt, settings, 6), 5).proposals;
      expect(a.length).toBe(3);
      expect(b).toEqual(a);
      expect(c).toEqual(a);
      expect(d[2]!.x).not.toEqual(a[2]!.x);
      expect(a[0]!.x).not.toEqual(s.init);
    } finally {
      p.dispose();
    }
  }, 60_000);
});

describe('golden traces of the gradient optimizers (committed in test/golden/)', () => {
  // Proposals and their intermediate values, rounded to 9 significant digits (float32 forward and
  // backward): any change in the problem's losses, the merge or the optimizer shows here.
  it.each([
    ['adamerging-mnist8-layer', adamerging, 'layer', 'task_arithmetic', { steps: 12, eval_every: 4, batch: 8 }],
    ['adamerging-mnist8-ce-scaled', adamerging, 'task', 'task_arithmetic', { steps: 6, eval_every: 3, batch: 8, loss: 'cross_entropy', logit_scale: 32 }],
    ['adamerging-plus-mnist8', adamerging, 'tensor', 'ties', { steps: 6, eval_every: 3, batch: 8 }],
    ['frank-wolfe-hard-mnist8', frankWolfe, 'task', 'task_arithmetic', { variant: 'hard', iterations: 3, samples: 20 }],
    ['frank-wolfe-soft-mnist8', frankWolfe, 'layer', 'task_arithmetic', { variant: 'soft', iterations: 2, samples: 20, ada_steps: 3, ada_batch: 4 }],
  ] as const)('%s', (name, optimizer, granularity, method, settings) => {
    const s = space(granularity, method, method === 'ties' ? { density: 0.5, normalize: false } : {});
    const p = new DifferentiableZoo(zoo, s);
    try {
      const o = optimizer as unknown as Optimizer<Json>;
      const { proposals } = run(o, ctxOf(s, p, o, settings as unknown as Record<string, Json>, 7), 4);
      expect(proposals.length).toBeGreaterThan(0);
      expectGolden(`gradient-${name}`, proposals.map((pr) => ({ x: pr.x, intermediate: pr.intermediate ?? null })), 9);
    } finally {
      p.dispose();
    }
  }, 120_000);
});

describe('frank-wolfe', () => {
  const opt = frankWolfe as unknown as Optimizer<Json>;
  type FwState = { x: number[]; oracles: Array<{ loss: number; cosine: number[][] }> | null; start: number[] };

  it('says clearly that it needs an in-memory zoo, and that the bounds must hold the vertices', () => {
    const s = space('task');
    expect(frankWolfe.check!(ctxOf(s, undefined, opt, {}))).toMatch(/frank-wolfe needs an in-memory zoo/);
    const narrow = space('task', 'task_arithmetic', {}, { low: 0, high: 0.5 });
    const p = new DifferentiableZoo(zoo, narrow);
    try {
      expect(frankWolfe.check!(ctxOf(narrow, p, opt, {}))).toMatch(/widen the bounds.*contain 0 and 1/);
    } finally {
      p.dispose();
    }
  });

  it.each(['task', 'tensor'] as const)('FW-Hard (%s): c ← (1−γ)c + γ·v_pick exactly, picks = the oracle’s argmin, γ = 0.3·0.1·2/(t+2)', (granularity) => {
    const s = space(granularity);
    const p = new DifferentiableZoo(zoo, s);
    try {
      const ctx = ctxOf(s, p, opt, { samples: 40, iterations: 3 }, 2);
      const { proposals, states } = run(opt, ctx, 3);
      expect(proposals.length).toBe(3);
      const candidates = [...zoo.tasks.map((_, m) => p.vertex(m)), s.init];
      for (let t = 0; t < 3; t++) {
        const prev = states[t] as unknown as FwState;
        const tag = proposals[t]!.tag as { gamma: number; picks: number[] };
        const gamma = 0.3 * 0.1 * (2 / (t + 2));
        expect(tag.gamma).toBeCloseTo(gamma, 15);
        // picks: the argmin of the oracle at the previous point (at t = 0 computed here the same way)
        const oracle = prev.oracles?.[0] ?? p.alignment(prev.x, { candidates, samples: 40, sampleSeed: sampleSeed(2, 0), against: 'weights' });
        tag.picks.forEach((c, u) => expect(c).toBe(oracle.cosine[u]!.indexOf(Math.min(...oracle.cosine[u]!))));
        const expected = [...prev.x];
        tag.picks.forEach((c, u) => zoo.tasks.forEach((_, k) => {
          const i = s.coordinate('weight', k, u);
          expected[i] = (1 - gamma) * prev.x[i]! + gamma * candidates[c]![i]!;
        }));
        expect(proposals[t]!.x).toEqual(expected);
        expect(proposals[t]!.intermediate![0]!.value).toBe((states[t + 1] as unknown as FwState).oracles![0]!.loss);
      }
      expect(opt.ask(states[3]!, ctx).kind).toBe('done');
    } finally {
      p.dispose();
    }
  }, 60_000);

  it('FW-Hard lowers the labelled loss (fixed evaluation set) over 4 iterations', () => {
    const s = space('tensor');
    const p = new DifferentiableZoo(zoo, s);
    try {
      const ctx = ctxOf(s, p, opt, { iterations: 4 }, 7);
      const { proposals } = run(opt, ctx, 4);
      const losses = [s.init, ...proposals.map((pr) => pr.x)].map((x) => p.labelledLossAndGrad(x, 200, 123).loss);
      console.log(`frank-wolfe hard, tiny zoo: labelled loss on all calibration samples ${losses.map((l) => l.toFixed(4)).join(' → ')}`);
      // The reference's fixed step schedule does not guarantee monotone descent; with steps this
      // small (γ ≤ 0.03) and fresh samples each iteration it holds here, which is what we assert,
      // with a small allowance per iteration for the sample noise.
      for (let i = 1; i < losses.length; i++) expect(losses[i]!).toBeLessThan(losses[i - 1]! + 2e-3);
      expect(losses[4]!).toBeLessThan(losses[0]!);
    } finally {
      p.dispose();
    }
  }, 60_000);

  it('FW-Soft: every task picks a distinct model per unit, starts from the base with inner weights 0.3, stays in bounds, resumes exactly', () => {
    const s = space('layer');
    const p = new DifferentiableZoo(zoo, s);
    try {
      const settings = { variant: 'soft', iterations: 2, ada_steps: 6, ada_batch: 8, samples: 30 };
      const a = run(opt, ctxOf(s, p, opt, settings, 4), 3);
      expect(a.proposals.length).toBe(2);
      expect((a.states[0] as unknown as FwState).x.every((v) => v === 0)).toBe(true);
      for (const pr of a.proposals) {
        const picks = (pr.tag as { picks: number[][] }).picks;
        expect(picks.length).toBe(zoo.tasks.length);
        for (let u = 0; u < s.unitsOf('weight').length; u++) expect(new Set(picks.map((row) => row[u])).size).toBe(zoo.tasks.length);
        expect(pr.x.every((v, i) => v >= s.low[i]! && v <= s.high[i]!)).toBe(true);
      }
      // From the base, every model picked once per unit: x = w, started at 0.3 and moved ≤ ~lr per step.
      for (const v of a.proposals[0]!.x) expect(Math.abs(v - 0.3)).toBeLessThan(6 * 1e-3 * 3.2);
      const b = run(opt, ctxOf(s, p, opt, settings, 4), 3, 1);
      expect(b.proposals).toEqual(a.proposals);
    } finally {
      p.dispose();
    }
  }, 60_000);
});

describe('AdaMerging objective variants (logit_scale, cross_entropy)', () => {
  // Independent check: the loss the problem reports equals one computed here from the merged
  // backbone (the exact merge code), the experts' heads and the same calibration samples, through
  // the plain float64 evaluators.
  it('reports the rescaled entropy and the labelled cross-entropy of the same samples', async () => {
    const { entropy, crossEntropy } = await import('../evaluators/index.ts');
    const { mlpLogits } = await import('../src/models/mlp-classifier.ts');
    const space = new SearchSpace({ method: 'task_arithmetic', granularity: 'task', parameters: { weight: { low: 0, high: 1 } } }, backbone, zoo.tasks);
    const p = new DifferentiableZoo(zoo, space);
    const x = zoo.tasks.map((_, i) => 0.2 + 0.05 * i);
    const merged = mergeBackbone(zoo, { method: 'task_arithmetic', global: { lambda: 1 }, perModel: x.map((w) => ({ weight: w })) });
    const k = zoo.config.numClasses;
    let ent = 0;
    let ce = 0;
    zoo.tasks.forEach((task, i) => {
      const d = readTaskData(path.join(zoo.dir, zoo.manifest.data[task]!.calibration), k);
      const idx = p.hostIndices(i, 8, 3);
      const rows = new Uint8Array(idx.length * zoo.config.inputSize);
      idx.forEach((j, r) => rows.set(d.images.subarray(j * zoo.config.inputSize, (j + 1) * zoo.config.inputSize), r * zoo.config.inputSize));
      const labels = Array.from(idx, (j) => d.labels[j]!);
      const logits = tf.tidy(() => {
        const params: Record<string, tf.Tensor> = {};
        for (const [n, t] of merged) params[n] = tf.tensor(t.values, t.shape);
        for (const [n, t] of zoo.experts[i]!) if (n.startsWith(`heads.${task}.`)) params[n] = tf.tensor(t.values, t.shape);
        return mlpLogits(params, zoo.config, tf.tensor2d(toInputs(rows), [idx.length, zoo.config.inputSize]), task).dataSync() as Float32Array;
      });
      ent += entropy(logits.map((v) => v * (100 / zoo.config.logitScale)), k);
      ce += crossEntropy(logits, labels, k);
    });
    const scaled = p.entropyAndGrad(x, 8, 3, { logitScale: 100 });
    const labelled = p.entropyAndGrad(x, 8, 3, { labels: true });
    // float32 forward vs float64 evaluators over 8 tasks × 8 samples
    expect(Math.abs(scaled.loss - ent)).toBeLessThan(1e-3);
    expect(Math.abs(labelled.loss - ce)).toBeLessThan(1e-3);
    expect(scaled.loss).not.toBeCloseTo(p.entropyAndGrad(x, 8, 3).loss, 2);
    // Descending the labelled loss lowers it (a gradient that points the right way).
    const step = x.map((v, i) => v - 0.05 * labelled.grad[i]! / Math.max(...labelled.grad.map(Math.abs)));
    expect(p.entropyAndGrad(step, 8, 3, { labels: true }).loss).toBeLessThan(labelled.loss);
    p.dispose();
  });
});
