// TSV-M as a search space: its per-task weights and component groups scale the whitened
// components (so the merge is linear in them), the decompositions are cached by content (so a
// search's trials after the first reuse them), and the differentiable candidate built from the
// fixed factors equals the exact merge and has the gradient of its own float64 finite differences.
// Tolerances: merged weights 1e-5 absolute (float32 products summed in another order); gradients
// 2e-3 relative to the largest entry (float32 forward against float64 central differences, h = 1e-3).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { clearDecompositionCache, decompositionCacheStats } from '../src/merge/decomposition-cache.ts';
import { mergeHostParams, mergeHostParamsYielding, type HostParams } from '../src/merge/host-merge.ts';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { DifferentiableMerge } from '../src/search/differentiable-merge.ts';
import { SearchSpace, type SpaceSpec } from '../src/search/space.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { expectCode } from './helpers/io-tmp.ts';

beforeAll(async () => {
  await initEngine('wasm');
});

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const T = 3;
const SHAPES: Record<string, number[]> = { 'layers.0.w': [12, 9], 'layers.1.w': [7, 10], 'layers.1.b': [7] };
const NAMES = Object.keys(SHAPES);
const base: HostParams = new Map(NAMES.map((n, i) => [n, { shape: SHAPES[n]!, values: values(SHAPES[n]!.reduce((a, b) => a * b, 1), 100 + i) }]));
const experts: HostParams[] = Array.from({ length: T }, (_, t) => new Map(NAMES.map((n, i) => {
  const b = base.get(n)!;
  const d = values(b.values.length, 7 * t + i + 1);
  return [n, { shape: b.shape, values: Float32Array.from(b.values, (v, e) => v + 0.1 * d[e]!) }];
})));
const models = { base, experts, numLayers: 2 };
const MODEL_NAMES = ['a', 'b', 'c'];

const merge = (name: string, global: Record<string, number>, perModel: Array<Record<string, number>>) =>
  mergeTensorInMemory({ method: 'tsv_m', name, shape: SHAPES[name]!, base: base.get(name)!.values, models: experts.map((e) => e.get(name)!.values), global, perModel, seed: 3 });

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('tsv_m weights and component groups', () => {
  const name = 'layers.0.w';
  const ones = MODEL_NAMES.map(() => ({}));

  it('the update is linear in the group scales: c-scaled = Σ c·(one group alone), all ones = TSV-M', () => {
    const b = base.get(name)!.values;
    const plain = merge(name, { alpha: 0.7 }, ones);
    const allOnes = merge(name, { alpha: 0.7 }, MODEL_NAMES.map(() => ({ group_0: 1, group_1: 1, group_2: 1, group_3: 1, weight: 1 })));
    expect(maxAbs(plain, allOnes)).toBe(0);
    const c = [
      [0.5, 1.5, 0, 2],
      [1, 0.25, 0.75, 0],
      [0, 1, 2, 0.5],
    ];
    const scaled = merge(name, { alpha: 0.7 }, c.map((row) => Object.fromEntries(row.map((v, g) => [`group_${g}`, v]))));
    const sum = new Float64Array(b.length);
    c.forEach((row, t) =>
      row.forEach((v, g) => {
        const only = MODEL_NAMES.map((_, k) => Object.fromEntries([0, 1, 2, 3].map((h) => [`group_${h}`, k === t && h === g ? 1 : 0])));
        const one = merge(name, { alpha: 0.7 }, only);
        for (let e = 0; e < b.length; e++) sum[e]! += v * (one[e]! - b[e]!);
      }),
    );
    expect(maxAbs(Array.from(scaled, (v, e) => v - b[e]!), sum)).toBeLessThan(1e-5);
  });

  it('a weight of 0 removes that task\'s components and leaves the whitening of the others as it was', () => {
    const b = base.get(name)!.values;
    const w = [1, 0, 1];
    const got = merge(name, { alpha: 1 }, w.map((weight) => ({ weight })));
    const only = (t: number) => merge(name, { alpha: 1 }, MODEL_NAMES.map((_, k) => ({ weight: k === t ? 1 : 0 })));
    const a = only(0);
    const c = only(2);
    expect(maxAbs(got, Float32Array.from(b, (v, e) => v + (a[e]! - v) + (c[e]! - v)))).toBeLessThan(1e-5);
  });

  it('decompositions are cached by content: merging again with other weights decomposes nothing new', () => {
    clearDecompositionCache();
    merge(name, { alpha: 1 }, [{ weight: 0.3 }, { weight: 0.6 }, { weight: 0.9 }]);
    const after = decompositionCacheStats().entries;
    expect(after).toBe(T + 1); // one SVD per task and the whitened factors
    merge(name, { alpha: 0.5 }, [{ weight: 1.3 }, { weight: 0.1 }, { weight: 0.2, group_1: 0 }]);
    expect(decompositionCacheStats().entries).toBe(after);
  });
});

describe('parameter patterns', () => {
  it('group_* expands to tsv_m\'s 32 component groups in order, explicit keys and fixed ones left out', () => {
    const s = new SearchSpace({ method: 'tsv_m', granularity: 'task', parameters: { group_3: { low: 0, high: 1 }, 'group_*': { low: 0, high: 3, init: 1 } }, fixed: { group_5: 0.5 } }, NAMES, MODEL_NAMES);
    const expected = ['group_3', ...Array.from({ length: 32 }, (_, g) => `group_${g}`).filter((n) => n !== 'group_3' && n !== 'group_5')];
    expect(Object.keys(s.spec.parameters)).toEqual(expected);
    expect(s.dim).toBe(31 * 3);
    expect(s.high.slice(0, 3)).toEqual([1, 1, 1]);
    expect(s.high.slice(3)).toEqual(Array(30 * 3).fill(3));
    expectCode(() => new SearchSpace({ method: 'tsv_m', granularity: 'task', parameters: { 'dens*': { low: 0, high: 1 } } }, NAMES, MODEL_NAMES), 'SEARCH_E_SPACE', 'dens*', 'matches no parameter');
  });
});

describe('where a search starts', () => {
  it('tsv_m (and the other methods whose weights scale a model\'s part) start weight at 1; task arithmetic at 1/N', () => {
    const w = { weight: { low: 0, high: 2 } };
    expect(new SearchSpace({ method: 'tsv_m', granularity: 'task', parameters: w }, NAMES, MODEL_NAMES).init).toEqual([1, 1, 1]);
    expect(new SearchSpace({ method: 'regmean', granularity: 'task', parameters: { weight: { low: 0.1, high: 2 } } }, NAMES, MODEL_NAMES).init).toEqual([1, 1, 1]);
    expect(new SearchSpace({ method: 'task_arithmetic', granularity: 'task', parameters: w }, NAMES, MODEL_NAMES).init).toEqual([1 / 3, 1 / 3, 1 / 3]);
  });
});

describe('the decomposition cache and the yielding merge', () => {
  it('factors are keyed by both singular bases: the same tasks with their columns permuted get their own', () => {
    clearDecompositionCache();
    const name = 'layers.0.w';
    const [m, n] = SHAPES[name]! as [number, number];
    const permuted = (a: Float32Array) => Float32Array.from(a, (_, i) => a[Math.floor(i / n) * n + (n - 1 - (i % n))]!);
    const once = merge(name, { alpha: 1 }, MODEL_NAMES.map(() => ({})));
    const p = mergeTensorInMemory({ method: 'tsv_m', name, shape: [m, n], base: permuted(base.get(name)!.values), models: experts.map((e) => permuted(e.get(name)!.values)), global: { alpha: 1 }, seed: 3 });
    // Permuting the columns of every input permutes the merge's columns: the cache must not hand back the unpermuted factors.
    expect(maxAbs(p, permuted(once))).toBeLessThan(1e-5);
  });

  it('mergeHostParamsYielding gives the event loop a turn and merges exactly what mergeHostParams does', async () => {
    const paramsOf = () => ({ global: { alpha: 0.5 }, perModel: MODEL_NAMES.map(() => ({ weight: 0.7 })) });
    let turned = false;
    setImmediate(() => (turned = true));
    const pending = mergeHostParamsYielding(models, NAMES, 'tsv_m', paramsOf, { seed: 3 });
    expect(turned).toBe(false);
    const got = await pending;
    expect(turned).toBe(true);
    const want = mergeHostParams(models, NAMES, 'tsv_m', paramsOf, { seed: 3 });
    for (const n of NAMES) expect(maxAbs(got.get(n)!.values, want.get(n)!.values)).toBe(0);
  });
});

describe('the differentiable tsv_m candidate', () => {
  const spaceOf = (spec: Partial<SpaceSpec>) => new SearchSpace({ method: 'tsv_m', granularity: 'layer', parameters: { weight: { low: 0, high: 2 } }, ...spec } as SpaceSpec, NAMES, MODEL_NAMES);
  const sources = { base, experts, expertNames: MODEL_NAMES, tensors: NAMES, seed: 3 };
  const cases: Array<[string, SpaceSpec]> = [
    ['per-task weight, layer-wise', { method: 'tsv_m', granularity: 'layer', parameters: { weight: { low: 0, high: 2 } }, fixed: { alpha: 0.8 } }],
    ['component groups, task-wise, weight fixed', { method: 'tsv_m', granularity: 'task', parameters: { group_0: { low: 0, high: 2 }, group_1: { low: 0, high: 2 }, group_2: { low: 0, high: 2 }, group_3: { low: 0, high: 2 } }, fixed: { alpha: 0.8, weight: 0.9 } }],
    ['two component groups searched per tensor, the others fixed', { method: 'tsv_m', granularity: 'tensor', parameters: { group_0: { low: 0, high: 2 }, group_2: { low: 0, high: 2 } }, fixed: { group_1: 0.5 } }],
    ['weight per tensor and component groups per task, together (bilinear)', { method: 'tsv_m', granularity: 'task', parameters: { weight: { low: 0, high: 2, granularity: 'tensor' }, group_0: { low: 0, high: 2 }, group_3: { low: 0, high: 2 } }, fixed: { alpha: 0.9 } }],
  ];

  it.each(cases)('%s: equals the exact merge within 1e-5', (_label, spec) => {
    const space = spaceOf(spec);
    const d = new DifferentiableMerge(space, sources);
    try {
      const x = space.init.map((_, i) => 0.2 + ((i * 7) % 11) / 8);
      const mine = d.mergedHost(x);
      const exact = mergeHostParams(models, NAMES, 'tsv_m', (n) => space.paramsFor(x, n), { seed: 3 });
      for (const n of NAMES) expect(maxAbs(mine.get(n)!.values, exact.get(n)!.values), n).toBeLessThan(1e-5);
    } finally {
      d.dispose();
    }
  });

  it('the gradient in x of Σ merged² equals float64 central differences of the exact merge', () => {
    const space = spaceOf(cases[3]![1]);
    const d = new DifferentiableMerge(space, sources);
    try {
      const x = space.init.map((_, i) => 0.5 + (i % 5) / 10);
      const { grad } = d.lossAndGradInX(x, (m) => tf.addN(NAMES.map((n) => tf.sum(tf.square(m[n]!)))) as tf.Scalar);
      const f = (y: number[]) => {
        const m = mergeHostParams(models, NAMES, 'tsv_m', (n) => space.paramsFor(y, n), { seed: 3 });
        let s = 0;
        for (const n of NAMES) for (const v of m.get(n)!.values) s += v * v;
        return s;
      };
      const h = 1e-3;
      const fd = x.map((_, i) => (f(x.map((v, j) => (j === i ? v + h : v))) - f(x.map((v, j) => (j === i ? v - h : v)))) / (2 * h));
      const scale = Math.max(...fd.map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      fd.forEach((g, i) => expect(Math.abs(grad[i]! - g), `coordinate ${space.names[i]}`).toBeLessThan(2e-3 * scale));
    } finally {
      d.dispose();
    }
  });

  it('refuses other searched parameters, and Frank-Wolfe', () => {
    expectCode(() => new DifferentiableMerge(spaceOf({ parameters: { alpha: { low: 0, high: 2 } } }), sources), 'SEARCH_E_SPACE', 'alpha');
    const d = new DifferentiableMerge(spaceOf({}), sources);
    try {
      expectCode(() => d.vertex(0), 'SEARCH_E_SPACE', 'adamerging');
    } finally {
      d.dispose();
    }
  });
});
