// Oracle tests: every merge method, run through mergeTensorInMemory (whole, and in 3 row chunks),
// against the independent float64 reference in test/reference/merge-reference.ts.
//
// Tolerance: for a reference result `ref` and the merged Float32Array `out`,
//   max_e |out[e] − ref[e]|  <=  1e-5 · max(1, max_e |ref[e]|)
// and a tensor merged in 3 row chunks must equal the unchunked result within
//   max_e |chunked[e] − whole[e]|  <=  1e-6 · max(1, max_e |whole[e]|).
import { describe, expect, it } from 'vitest';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { evaluateSetting, type Scalar } from '../src/merge/parameters.ts';
import { tensorSeed } from '../src/tensor/random.ts';
import { FAMILY, randomMask, refMerge, type RefParams } from './reference/merge-reference.ts';
import { rng } from './helpers/io-tmp.ts';

const REF_TOL = 1e-5;
const CHUNK_TOL = 1e-6;

// ---------------------------------------------------------------------------------------------
// seeded data

const mulberry32 = rng;

/** Standard normal draws (Box-Muller). */
function gaussians(rng: () => number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = 1 - rng();
    const u2 = rng();
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

const numelOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const quantize = (x: number, q: number) => Math.round(x / q) * q;

interface Data {
  base: Float32Array | null;
  models: Float32Array[];
}

interface DataSpec {
  seed: number;
  shape: number[];
  models: number;
  /** Default true. */
  base?: boolean;
  /**
   * Quantize base to 1/64 and task vectors to 1/16, so τ = model − base is exact in float32,
   * weighted sums with dyadic weights are exact (sign election has no rounding), and |τ| has
   * many exact ties (which exercises the tie-breaking rules).
   */
  quantized?: boolean;
  /** Weight of a component shared by all task vectors (default 0.5) next to each model's own. */
  shared?: number;
  /** Scale of the task vectors (default 0.6; the base is standard normal). */
  spread?: number;
}

function makeData(spec: DataSpec): Data {
  const rng = mulberry32(spec.seed);
  const n = numelOf(spec.shape);
  const q = spec.quantized ?? false;
  const shared = spec.shared ?? 0.5;
  const spread = spec.spread ?? 0.6;
  const base = gaussians(rng, n).map((v) => (q ? quantize(v, 1 / 64) : v));
  const common = gaussians(rng, n);
  const models = Array.from({ length: spec.models }, () => {
    const own = gaussians(rng, n);
    return Float32Array.from(base, (b, e) => {
      const tau = spread * (shared * common[e]! + (1 - shared) * own[e]!);
      return b + (q ? quantize(tau, 1 / 16) : tau);
    });
  });
  return { base: spec.base === false ? null : Float32Array.from(base), models };
}

// ---------------------------------------------------------------------------------------------
// running and comparing

interface Case {
  label: string;
  method: string;
  name?: string;
  shape: number[];
  data: Data;
  global?: Record<string, Scalar | undefined>;
  perModel?: Array<Record<string, Scalar | undefined>>;
  /** Layer position. */
  t?: number;
  seed?: number;
}

function runSrc(c: Case, chunks: number): Float32Array {
  return mergeTensorInMemory({
    method: c.method,
    name: c.name ?? 'model.layers.3.mlp.down_proj.weight',
    shape: c.shape,
    base: c.data.base,
    models: c.data.models,
    global: c.global,
    perModel: c.perModel,
    t: c.t,
    seed: c.seed,
    chunks,
  });
}

function runRef(c: Case): Float64Array {
  return refMerge(c.method, {
    name: c.name ?? 'model.layers.3.mlp.down_proj.weight',
    shape: c.shape,
    base: c.data.base ? Float64Array.from(c.data.base) : null,
    models: c.data.models.map((m) => Float64Array.from(m)),
    global: c.global as RefParams | undefined,
    perModel: c.perModel as RefParams[] | undefined,
    t: c.t,
    seed: c.seed,
  });
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** max|actual − expected| <= tol · max(1, max|expected|), with the worst element in the message. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = -1;
  let diff = 0;
  for (let e = 0; e < expected.length; e++) {
    expect(Number.isFinite(actual[e]), `element ${e} is ${actual[e]}`).toBe(true);
    const d = Math.abs(actual[e]! - expected[e]!);
    if (d > diff) {
      diff = d;
      worst = e;
    }
  }
  const bound = tol * Math.max(1, maxAbs(expected));
  expect(diff, `max |actual − expected| at element ${worst}: actual ${actual[worst]}, expected ${expected[worst]}`).toBeLessThanOrEqual(bound);
}

/** Assert that the merge is not trivially one of its inputs (so a comparison means something). */
function expectNontrivial(c: Case, ref: Float64Array): void {
  const inputs = [c.data.base, ...c.data.models].filter((x): x is Float32Array => x !== null);
  for (const x of inputs) {
    let d = 0;
    for (let e = 0; e < x.length; e++) d = Math.max(d, Math.abs(ref[e]! - x[e]!));
    expect(d).toBeGreaterThan(1e-3);
  }
}

function checkCase(c: Case): void {
  it.each([1, 3])('chunks=%i matches the float64 reference', (chunks) => {
    const ref = runRef(c);
    expectNontrivial(c, ref);
    expectClose(runSrc(c, chunks), ref, REF_TOL);
  });
  it('3 row chunks equal the unchunked merge', () => {
    expectClose(runSrc(c, 3), runSrc(c, 1), CHUNK_TOL);
  });
}

// ---------------------------------------------------------------------------------------------
// task-arithmetic family against the reference

const FAMILY_METHODS = Object.keys(FAMILY);

function familyCases(method: string): Case[] {
  const spec = FAMILY[method]!;
  const d3 = (seed: number, shape = [7, 5], models = 3) => makeData({ seed, shape, models, quantized: true });
  const cases: Case[] = [
    {
      label: 'defaults, 3 models, [7, 5]',
      method,
      shape: [7, 5],
      data: d3(11),
      perModel: [
        { weight: 1, density: 0.5 },
        { weight: 0.5, density: 0.3 },
        { weight: 0.75, density: 0.8 },
      ],
      seed: 7,
    },
    {
      label: `normalize=${!spec.normalize}, lambda 0.6, a negative weight`,
      method,
      shape: [7, 5],
      data: d3(12),
      global: { normalize: !spec.normalize, lambda: 0.6 },
      perModel: [
        { weight: 0.75, density: 0.6 },
        { weight: 1.25, density: 0.4 },
        { weight: -0.5, density: 0.2 },
      ],
      seed: 8,
    },
    {
      label: '1-D tensor [40], 2 models',
      method,
      name: 'model.layers.3.input_layernorm.weight',
      shape: [40],
      data: d3(13, [40], 2),
      perModel: [
        { weight: 1, density: 0.4 },
        { weight: 0.5, density: 0.7 },
      ],
      seed: 9,
    },
    {
      label: '3-D tensor [4, 3, 2]',
      method,
      shape: [4, 3, 2],
      data: d3(14, [4, 3, 2], 2),
      perModel: [
        { weight: 1, density: 0.5 },
        { weight: 1, density: 0.5 },
      ],
      seed: 10,
    },
    {
      label: 'LiNeS alpha 0.5, beta 2 at t = 0.75, lambda 0.8',
      method,
      shape: [7, 5],
      data: d3(15),
      global: { lines_alpha: 0.5, lines_beta: 2, lambda: 0.8 },
      perModel: [
        { weight: 1, density: 0.5 },
        { weight: 0.5, density: 0.5 },
        { weight: 0.25, density: 0.5 },
      ],
      t: 0.75,
      seed: 11,
    },
  ];
  if (spec.sparsify) {
    cases.push({
      label: 'density 1 everywhere (nothing dropped)',
      method,
      shape: [7, 5],
      data: d3(16),
      perModel: [
        { weight: 1, density: 1 },
        { weight: 0.5, density: 1 },
        { weight: 0.75, density: 1 },
      ],
      seed: 12,
    });
    for (const rescale of [true, false, 'inverse_density', 'l2', 'linf'] as const) {
      cases.push({
        label: `rescale ${String(rescale)}`,
        method,
        shape: [6, 6],
        data: d3(17, [6, 6]),
        global: { rescale },
        perModel: [
          { weight: 1, density: 0.5 },
          { weight: 0.5, density: 0.25 },
          { weight: 0.75, density: 0.7 },
        ],
        seed: 13,
      });
    }
    cases.push({
      label: 'another run seed',
      method,
      shape: [7, 5],
      data: d3(11),
      perModel: [
        { weight: 1, density: 0.5 },
        { weight: 0.5, density: 0.3 },
        { weight: 0.75, density: 0.8 },
      ],
      seed: 987654321,
    });
  }
  if (spec.sparsify === 'magnitude_outliers') {
    cases.push({
      label: 'gamma per model 0.1 / 0.05 / 0.2',
      method,
      shape: [8, 5],
      data: d3(18, [8, 5]),
      perModel: [
        { weight: 1, density: 0.6, gamma: 0.1 },
        { weight: 0.5, density: 0.5, gamma: 0.05 },
        { weight: 0.75, density: 0.4, gamma: 0.2 },
      ],
    });
    cases.push({
      label: 'density + gamma > 1 (nBot < 0 moves into nTop)',
      method,
      shape: [7, 5],
      data: d3(19, [7, 5], 2),
      perModel: [
        { weight: 1, density: 0.95, gamma: 0.1 },
        { weight: 0.5, density: 0.9, gamma: 0.2 },
      ],
    });
  }
  if (spec.sparsify === 'della_magprune') {
    cases.push({
      label: 'epsilon per model 0.1 / 0.2 / 0.05',
      method,
      shape: [6, 8],
      data: d3(20, [6, 8]),
      perModel: [
        { weight: 1, density: 0.5, epsilon: 0.1 },
        { weight: 0.5, density: 0.4, epsilon: 0.2 },
        { weight: 0.75, density: 0.7, epsilon: 0.05 },
      ],
      seed: 14,
    });
    cases.push({
      label: 'rows of length 1 (rank/(len − 1) undefined: p = density)',
      method,
      shape: [40, 1],
      data: d3(21, [40, 1], 2),
      perModel: [
        { weight: 1, density: 0.5 },
        { weight: 0.5, density: 0.3 },
      ],
      seed: 15,
    });
  }
  return cases;
}

describe.each(FAMILY_METHODS)('%s matches the reference', (method) => {
  describe.each(familyCases(method))('$label', (c) => checkCase(c));
});

// ---------------------------------------------------------------------------------------------
// the other methods against the reference

const OTHER_CASES: Case[] = [
  {
    label: 'normalized, 3 models',
    method: 'linear',
    shape: [7, 5],
    data: makeData({ seed: 31, shape: [7, 5], models: 3, base: false }),
    perModel: [{ weight: 0.3 }, { weight: 1.7 }, { weight: 0.5 }],
  },
  {
    label: 'normalize false, 1-D',
    method: 'linear',
    shape: [33],
    data: makeData({ seed: 32, shape: [33], models: 2, base: false }),
    global: { normalize: false },
    perModel: [{ weight: 0.3 }, { weight: 0.45 }],
  },
  {
    label: 'scale 0.37',
    method: 'passthrough',
    shape: [7, 5],
    data: makeData({ seed: 33, shape: [7, 5], models: 1, base: false }),
    perModel: [{ scale: 0.37 }],
  },
  {
    label: 't 0.3, correlated vectors',
    method: 'slerp',
    shape: [7, 5],
    data: makeData({ seed: 34, shape: [7, 5], models: 1 }),
    global: { t: 0.3 },
  },
  {
    label: 't 0.7, independent vectors (layer t ignored)',
    method: 'slerp',
    shape: [6, 4],
    data: makeData({ seed: 35, shape: [6, 4], models: 1, shared: 0 }),
    global: { t: 0.7 },
    t: 0.2,
  },
  {
    label: 't 0.4, nearly colinear (cos ≈ 0.99, still spherical)',
    method: 'slerp',
    shape: [8, 6],
    data: makeData({ seed: 50, shape: [8, 6], models: 1, spread: 0.1 }),
    global: { t: 0.4 },
  },
  {
    label: 'with base, flattened',
    method: 'nuslerp',
    shape: [7, 5],
    data: makeData({ seed: 36, shape: [7, 5], models: 2 }),
    perModel: [{ weight: 0.7 }, { weight: 0.3 }],
  },
  {
    label: 'without base, flattened',
    method: 'nuslerp',
    shape: [7, 5],
    data: makeData({ seed: 37, shape: [7, 5], models: 2, base: false }),
    perModel: [{ weight: 1 }, { weight: 2 }],
  },
  {
    label: 'with base, rows of the last dim',
    method: 'nuslerp',
    shape: [7, 5],
    data: makeData({ seed: 38, shape: [7, 5], models: 2 }),
    global: { nuslerp_flatten: false },
    perModel: [{ weight: 0.4 }, { weight: 0.6 }],
  },
  {
    label: 'without base, rows of the last dim of a 3-D tensor',
    method: 'nuslerp',
    shape: [4, 3, 5],
    data: makeData({ seed: 39, shape: [4, 3, 5], models: 2, base: false }),
    global: { nuslerp_flatten: false },
    perModel: [{ weight: 0.4 }, { weight: 0.6 }],
  },
  {
    label: 'with base, row_wise (columns across dim 0)',
    method: 'nuslerp',
    shape: [7, 5],
    data: makeData({ seed: 40, shape: [7, 5], models: 2 }),
    global: { nuslerp_flatten: false, nuslerp_row_wise: true },
    perModel: [{ weight: 0.25 }, { weight: 0.5 }],
  },
  {
    label: 'weights summing to 0 (t = 0.5)',
    method: 'nuslerp',
    shape: [7, 5],
    data: makeData({ seed: 41, shape: [7, 5], models: 2 }),
    perModel: [{ weight: 1 }, { weight: -1 }],
  },
  {
    label: '2 models',
    method: 'model_stock',
    shape: [7, 5],
    data: makeData({ seed: 42, shape: [7, 5], models: 2 }),
  },
  {
    label: '4 models',
    method: 'model_stock',
    shape: [7, 5],
    data: makeData({ seed: 43, shape: [7, 5], models: 4 }),
  },
  {
    label: 'filter_wise, 3 models',
    method: 'model_stock',
    shape: [7, 5],
    data: makeData({ seed: 44, shape: [7, 5], models: 3 }),
    global: { filter_wise: true },
  },
  {
    label: '1-D, 3 models',
    method: 'model_stock',
    shape: [30],
    data: makeData({ seed: 45, shape: [30], models: 3 }),
  },
  {
    label: '2-D [6, 9], 3 models, defaults',
    method: 'widen',
    shape: [6, 9],
    data: makeData({ seed: 46, shape: [6, 9], models: 3 }),
  },
  {
    label: '2-D [8, 5], 2 models, t 0.8, s 1.5 (layer t ignored)',
    method: 'widen',
    shape: [8, 5],
    data: makeData({ seed: 47, shape: [8, 5], models: 2 }),
    global: { t: 0.8, s: 1.5 },
    t: 0.4,
  },
  {
    label: 'embed_tokens: columns are rows',
    method: 'widen',
    name: 'model.embed_tokens.weight',
    shape: [9, 4],
    data: makeData({ seed: 48, shape: [9, 4], models: 3 }),
    global: { t: 0.9, s: 1.2 },
  },
  {
    label: '1-D, raw |Δ| scores',
    method: 'widen',
    name: 'model.layers.0.post_attention_layernorm.weight',
    shape: [25],
    data: makeData({ seed: 49, shape: [25], models: 3 }),
    global: { t: 1.1, s: 0.8 },
  },
];

describe.each(OTHER_CASES)('$method: $label', (c) => checkCase(c));

// ---------------------------------------------------------------------------------------------
// hand-computed values

/** Merge whole and in 3 row chunks; both must match `expected` (and the reference). */
function expectMerged(c: Omit<Case, 'label'>, expected: number[]): void {
  for (const chunks of [1, 3]) expectClose(runSrc({ ...c, label: '' }, chunks), expected, REF_TOL);
  expectClose(runRef({ ...c, label: '' }), expected, 1e-12);
}

const f32 = (a: number[]) => Float32Array.from(a);
const col = (n: number) => [n, 1];

describe('TIES edge cases (hand-computed)', () => {
  it('a weighted sum of exactly zero elects +; an all-zero element keeps the base', () => {
    const base = [0.5, 0.5, 0.5, 0.5];
    const t1 = [1, -1, 2, 0];
    const t2 = [-1, 1, -2, 0];
    expectMerged(
      {
        method: 'ties',
        shape: col(4),
        data: { base: f32(base), models: [f32(base.map((b, e) => b + t1[e]!)), f32(base.map((b, e) => b + t2[e]!))] },
        perModel: [{ weight: 1 }, { weight: 1 }],
      },
      // element 0: v = [1, −1], Σ = 0 → +, only model 1 agrees → 1/1; element 1 likewise model 2;
      // element 2: v = [2, −2] → + → 2; element 3: no entry agrees, divisor 0 → 1 → 0.
      [1.5, 1.5, 2.5, 0.5],
    );
  });

  it('all-zero rows merge to the base rows, whole and chunked', () => {
    const base = [1, 2, 3, 4, 5, 6];
    const t1 = [0.5, -0.25, 0, 0, 1, 1];
    const t2 = [0.25, 0.75, 0, 0, -1, 0.5];
    expectMerged(
      {
        method: 'ties',
        shape: [3, 2],
        data: { base: f32(base), models: [f32(base.map((b, e) => b + t1[e]!)), f32(base.map((b, e) => b + t2[e]!))] },
        perModel: [{ weight: 1 }, { weight: 1 }],
      },
      // row 0: Σ > 0 both times; element 0 both agree → 0.75/2; element 1 only model 2 → 0.75/1.
      // row 2: element 4 Σ = 0 → + → model 1: 1/1; element 5 both → 1.5/2.
      [1.375, 2.75, 3, 4, 6, 6.75],
    );
  });

  it('negative weights: the divisor sums the signed weights of agreeing models (0 → 1)', () => {
    const t1 = [1, 1, 0.5, 1];
    const t2 = [3, 1, -1, 2];
    expectMerged(
      {
        method: 'ties',
        shape: col(4),
        data: { base: f32([0, 0, 0, 0]), models: [f32(t1), f32(t2)] },
        perModel: [{ weight: 2 }, { weight: -1 }],
      },
      // v1 = [2, 2, 1, 2], v2 = [−3, −1, 1, −2]
      // e0: Σ −1 → −, model 2 → −3 / −1 = 3;  e1: Σ 1 → +, model 1 → 2 / 2 = 1
      // e2: Σ 2 → +, both → 2 / (2 − 1) = 2;  e3: Σ 0 → +, model 1 → 2 / 2 = 1
      [3, 1, 2, 1],
    );
    expectMerged(
      {
        method: 'ties',
        shape: col(2),
        data: { base: f32([0, 0]), models: [f32([1, 2]), f32([1, -3])] },
        perModel: [{ weight: 1 }, { weight: -1 }],
      },
      // v1 = [1, 2], v2 = [−1, 3]; e0: Σ 0 → +, model 1 → 1; e1: both agree, divisor 1 − 1 = 0 → 1 → 5
      [1, 5],
    );
  });

  it('a pruned (zero) entry is not counted in the divisor', () => {
    expectMerged(
      {
        method: 'ties',
        shape: col(4),
        data: { base: f32([0, 0, 0, 0]), models: [f32([4, 0.125, 3, 0.25]), f32([1, 2, 0.5, 0.125])] },
        perModel: [
          { weight: 1, density: 0.5 },
          { weight: 3, density: 0.5 },
        ],
      },
      // kept: τ1' = [4, 0, 3, 0], τ2' = [1, 2, 0, 0]; v1 = [4, 0, 3, 0], v2 = [3, 6, 0, 0]
      // e0: (4 + 3) / (1 + 3); e1: 6 / 3 (model 1 pruned); e2: 3 / 1; e3: nothing → 0
      [1.75, 2, 3, 0],
    );
  });

  it('everything pruned with L1 rescale: no 0/0, the base comes back', () => {
    const base = [1, 2, 3, 4, 5];
    for (const method of ['ties', 'breadcrumbs_ties']) {
      expectMerged(
        {
          method,
          shape: col(5),
          data: { base: f32(base), models: [f32([2, 2.5, 4, 3, 7]), f32([0, 1, 3.5, 6, 4])] },
          global: { rescale: true },
          perModel: [
            { weight: 1, density: 0.1, gamma: 0 },
            { weight: 1, density: 0.1, gamma: 0 },
          ],
        },
        // floor(0.1 · 5) = 0 entries kept per model
        base,
      );
    }
  });

  it('magnitude ties keep the lower index', () => {
    expectMerged(
      {
        method: 'ties',
        shape: col(6),
        data: { base: f32([0, 0, 0, 0, 0, 0]), models: [f32([-1, 1, 2, 1, -1, 1])] },
        perModel: [{ weight: 1, density: 0.5 }],
      },
      // k = 3: |2| then the first two of the five 1s
      [-1, 1, 2, 0, 0, 0],
    );
  });
});

describe('breadcrumbs outlier mask (hand-computed)', () => {
  const tau = [3, 3, 2, 2, 1, 1, 1, 1, 0.5, 0.5];
  const data: Data = { base: f32(new Array(10).fill(0)), models: [f32(tau)] };
  it('gamma 0.1, density 0.5: drops rank 0 and the 4 smallest', () => {
    // descending order (lower index first on ties): 0 1 2 3 4 5 6 7 8 9; keep ranks [1, 6)
    expectMerged({ method: 'breadcrumbs', shape: col(10), data, perModel: [{ weight: 1, density: 0.5, gamma: 0.1 }] }, [0, 3, 2, 2, 1, 1, 0, 0, 0, 0]);
  });
  it('gamma 0 keeps the top density (no empty slice)', () => {
    expectMerged({ method: 'breadcrumbs', shape: col(10), data, perModel: [{ weight: 1, density: 0.5, gamma: 0 }] }, [3, 3, 2, 2, 1, 0, 0, 0, 0, 0]);
  });
  it('default gamma 0.01 on 10 elements is nTop = 0', () => {
    expectMerged({ method: 'breadcrumbs', shape: col(10), data, perModel: [{ weight: 1, density: 0.3 }] }, [3, 3, 2, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('density 0.9 + gamma 0.2: nBot = −1 moves into nTop', () => {
    // target 9, nTop 2, nBot −1 → nTop 1, nBot 0: keep ranks [1, 10)
    expectMerged({ method: 'breadcrumbs', shape: col(10), data, perModel: [{ weight: 1, density: 0.9, gamma: 0.2 }] }, [0, 3, 2, 2, 1, 1, 1, 1, 0.5, 0.5]);
  });
});

describe('task_arithmetic and LiNeS (hand-computed)', () => {
  const data: Data = { base: f32([1, 1]), models: [f32([2, 3]), f32([0, 1.5])] };
  it('base + lambda · Σ wτ', () => {
    // τ1 = [1, 2], τ2 = [−1, 0.5]; Σ wτ with w = [1, 2] = [−1, 3]
    expectMerged({ method: 'task_arithmetic', shape: col(2), data, global: { lambda: 0.5 }, perModel: [{ weight: 1 }, { weight: 2 }] }, [0.5, 2.5]);
  });
  it('normalize divides by Σw; Σw ≈ 0 divides by 1', () => {
    expectMerged({ method: 'task_arithmetic', shape: col(2), data, global: { normalize: true }, perModel: [{ weight: 1 }, { weight: 2 }] }, [1 - 1 / 3, 2]);
    // w = [1, −1]: Σ wτ = [2, 1.5], Σw = 0 → 1
    expectMerged({ method: 'task_arithmetic', shape: col(2), data, global: { normalize: true }, perModel: [{ weight: 1 }, { weight: -1 }] }, [3, 2.5]);
  });
  it('LiNeS scales the task vector by alpha + beta · t on top of lambda', () => {
    // factor = 0.5 · (0.25 + 1.5 · 0.5) = 0.5
    expectMerged(
      { method: 'task_arithmetic', shape: col(2), data, global: { lambda: 0.5, lines_alpha: 0.25, lines_beta: 1.5 }, perModel: [{ weight: 1 }, { weight: 2 }], t: 0.5 },
      [0.5, 2.5],
    );
    expectMerged(
      { method: 'ties', shape: col(2), data, global: { lines_alpha: 2, lines_beta: -1 }, perModel: [{ weight: 1 }, { weight: 2 }], t: 1 },
      // factor 1; e0: v = [1, −2] → − → −2/2 = −1; e1: v = [2, 1] → 3/3 = 1
      [0, 2],
    );
  });
});

describe('slerp, passthrough, linear, widen (hand-computed)', () => {
  const v0 = makeData({ seed: 60, shape: [4, 3], models: 1 });
  it('slerp t = 0 gives the base and t = 1 the model', () => {
    expectMerged({ method: 'slerp', shape: [4, 3], data: v0, global: { t: 0 } }, Array.from(v0.base!));
    expectMerged({ method: 'slerp', shape: [4, 3], data: v0, global: { t: 1 } }, Array.from(v0.models[0]!));
  });
  it('slerp of colinear or opposite vectors falls back to lerp', () => {
    const b = v0.base!;
    expectMerged({ method: 'slerp', shape: [4, 3], data: { base: b, models: [b.map((x) => 2 * x)] }, global: { t: 0.25 } }, Array.from(b, (x) => 1.25 * x));
    expectMerged({ method: 'slerp', shape: [4, 3], data: { base: b, models: [b.map((x) => -x)] }, global: { t: 0.25 } }, Array.from(b, (x) => 0.5 * x));
  });
  it('slerp of orthogonal unit vectors at t = 0.5', () => {
    expectMerged({ method: 'slerp', shape: col(2), data: { base: f32([1, 0]), models: [f32([0, 1])] }, global: { t: 0.5 } }, [Math.SQRT1_2, Math.SQRT1_2]);
  });
  it('nuslerp of orthogonal task vectors, weights 1 : 1', () => {
    expectMerged(
      { method: 'nuslerp', shape: col(2), data: { base: f32([1, 1]), models: [f32([3, 1]), f32([1, 3])] }, perModel: [{ weight: 1 }, { weight: 1 }] },
      // τ0 = [2, 0], τ1 = [0, 2]: θ = π/2, sin(π/4)/1 · (τ0 + τ1)
      [1 + 2 * Math.SQRT1_2, 1 + 2 * Math.SQRT1_2],
    );
  });
  it('model_stock of orthogonal offsets is the base; of identical offsets the mean', () => {
    const base = f32([1, 2]);
    expectMerged({ method: 'model_stock', shape: col(2), data: { base, models: [f32([2, 2]), f32([1, 3])] } }, [1, 2]);
    expectMerged({ method: 'model_stock', shape: col(2), data: { base, models: [f32([2, 3]), f32([2, 3])] } }, [2, 3]);
  });
  it('passthrough without scale is the model; linear of one model is the model', () => {
    const m = v0.models[0]!;
    expectMerged({ method: 'passthrough', shape: [4, 3], data: { base: null, models: [m] } }, Array.from(m));
    expectMerged({ method: 'linear', shape: [4, 3], data: { base: null, models: [m] }, perModel: [{ weight: 0.3 }] }, Array.from(m));
  });
  it('widen of a single model (softmax over one model, s = 1) is the model', () => {
    expectMerged({ method: 'widen', shape: [4, 3], data: v0 }, Array.from(v0.models[0]!));
  });
});

// ---------------------------------------------------------------------------------------------
// random masks: exact reproduction and statistics

describe('DARE random mask', () => {
  const shape = [250, 400];
  const n = numelOf(shape);
  const ones = new Float32Array(n).fill(1);
  const zeros = new Float32Array(n);
  const name = 'model.layers.1.self_attn.o_proj.weight';
  const density = 0.3;
  const sigma = Math.sqrt((density * (1 - density)) / n);
  // With base 0 and τ = 1, a model with weight 0 contributes nothing: the output is model 1's mask.
  const maskOf = (model: 0 | 1, rescale: Scalar, chunks = 1) =>
    mergeTensorInMemory({
      method: 'dare_linear',
      name,
      shape,
      base: zeros,
      models: [ones, ones],
      global: { rescale },
      perModel: [
        { weight: model === 0 ? 1 : 0, density },
        { weight: model === 1 ? 1 : 0, density },
      ],
      seed: 42,
      chunks,
    });

  it('is exactly uniformAt(maskKey(tensorSeed(seed, name), model), e) < density', () => {
    for (const model of [0, 1] as const) {
      const expected = randomMask(n, density, tensorSeed(42, name), model);
      const got = maskOf(model, false);
      let mismatches = 0;
      for (let e = 0; e < n; e++) if ((got[e] !== 0 ? 1 : 0) !== expected[e]) mismatches++;
      expect(mismatches).toBe(0);
      expect(maskOf(model, false, 7)).toEqual(got);
    }
  });

  it('keeps a fraction within 4σ of the density, independently per model', () => {
    const m0 = maskOf(0, false);
    const m1 = maskOf(1, false);
    let k0 = 0;
    let k1 = 0;
    let both = 0;
    for (let e = 0; e < n; e++) {
      k0 += m0[e]! ? 1 : 0;
      k1 += m1[e]! ? 1 : 0;
      both += m0[e]! && m1[e]! ? 1 : 0;
    }
    expect(Math.abs(k0 / n - density)).toBeLessThan(4 * sigma);
    expect(Math.abs(k1 / n - density)).toBeLessThan(4 * sigma);
    const d2 = density * density;
    expect(Math.abs(both / n - d2)).toBeLessThan(4 * Math.sqrt((d2 * (1 - d2)) / n));
  });

  it('L1 rescale multiplies kept entries by ‖τ‖₁ / ‖mask·τ‖₁ (≈ 1/density)', () => {
    const plain = maskOf(0, false);
    const kept = plain.reduce((s, v) => s + (v ? 1 : 0), 0);
    const factor = n / kept;
    expect(Math.abs(factor - 1 / density)).toBeLessThan((4 * sigma) / (density * (density - 4 * sigma)));
    for (const chunks of [1, 3]) {
      const scaled = maskOf(0, true, chunks);
      expectClose(scaled, Float64Array.from(plain, (v) => v * factor), REF_TOL);
    }
    // inverse_density: exactly 1/density on what is kept
    expectClose(maskOf(0, 'inverse_density'), Float64Array.from(plain, (v) => v / density), REF_TOL);
  });
});

describe('DELLA magnitude-ranked mask (statistics)', () => {
  // 200 rows of 500: τ in each row is a shuffled 1..500, so ranks are known without ties.
  const rows = 200;
  const len = 500;
  const n = rows * len;
  const density = 0.4;
  const epsilon = 0.2;
  const rng = mulberry32(77);
  const tau = new Float32Array(n);
  const rank = new Int32Array(n);
  for (let r = 0; r < rows; r++) {
    const perm = Array.from({ length: len }, (_, i) => i);
    for (let i = len - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    perm.forEach((rk, i) => {
      tau[r * len + i] = rk + 1;
      rank[r * len + i] = rk;
    });
  }
  const merge = () => mergeTensorInMemory({
    method: 'della_linear',
    name: 'model.layers.2.mlp.up_proj.weight',
    shape: [rows, len],
    base: new Float32Array(n),
    models: [tau],
    global: { rescale: false },
    perModel: [{ weight: 1, density, epsilon }],
    seed: 5,
  });

  it('keeps each entry with probability d − ε + 2ε · rank/(len − 1): totals within 4σ', () => {
    const out = merge();
    for (const [lo, hi] of [
      [0, len / 2],
      [len / 2, len],
    ] as const) {
      let kept = 0;
      let changed = 0;
      let mean = 0;
      let variance = 0;
      for (let e = 0; e < n; e++) {
        if (rank[e]! < lo || rank[e]! >= hi) continue;
        const p = density - epsilon + (rank[e]! / (len - 1)) * 2 * epsilon;
        mean += p;
        variance += p * (1 - p);
        if (out[e] !== 0) {
          kept++;
          if (out[e] !== tau[e]) changed++;
        }
      }
      expect(changed).toBe(0);
      expect(Math.abs(kept - mean)).toBeLessThan(4 * Math.sqrt(variance));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// evaluateSetting

describe('evaluateSetting', () => {
  const name = 'model.layers.4.self_attn.q_proj.weight';
  it.each([
    [[0, 1], 0.25, 0.25],
    [[1, 2, 3], 0.75, 2.5],
    [[1, 2, 3], 0, 1],
    [[1, 2, 3], 1, 3],
    [[0.5, 1, 0], 0.25, 0.75],
    [[4], 0.6, 4],
  ])('gradient %j at t = %s is %s', (list, t, expected) => {
    expect(evaluateSetting(name, list, t)).toBeCloseTo(expected, 12);
  });

  it('scalars are returned as they are', () => {
    expect(evaluateSetting(name, 0.3, 0.9)).toBe(0.3);
    expect(evaluateSetting(name, true, 0.9)).toBe(true);
    expect(evaluateSetting(name, 'l2', 0.9)).toBe('l2');
  });

  it('non-number lists pick index floor(t · (len − 1))', () => {
    expect(evaluateSetting(name, ['a', 'b', 'c'], 0)).toBe('a');
    expect(evaluateSetting(name, ['a', 'b', 'c'], 0.5)).toBe('b');
    expect(evaluateSetting(name, ['a', 'b', 'c'], 0.99)).toBe('b');
    expect(evaluateSetting(name, ['a', 'b', 'c'], 1)).toBe('c');
    expect(evaluateSetting(name, [true, false], 0.5)).toBe(true);
    expect(evaluateSetting(name, [1, 'x', 3], 0.6)).toBe('x');
  });

  it('filter lists: first entry whose filter is a substring of the name; none or * matches all', () => {
    const setting = [
      { filter: 'mlp', value: 0.1 },
      { filter: 'self_attn', value: [0, 1] },
      { value: 0.9 },
    ];
    expect(evaluateSetting('model.layers.4.mlp.up_proj.weight', setting, 0.5)).toBe(0.1);
    expect(evaluateSetting(name, setting, 0.25)).toBeCloseTo(0.25, 12);
    expect(evaluateSetting('model.norm.weight', setting, 0.5)).toBe(0.9);
    expect(evaluateSetting('model.norm.weight', [{ filter: '*', value: 7 }, { value: 8 }], 0)).toBe(7);
    expect(evaluateSetting('model.norm.weight', [{ filter: 'mlp', value: 7 }], 0)).toBeUndefined();
  });

  it('null and undefined are undefined', () => {
    expect(evaluateSetting(name, null, 0.5)).toBeUndefined();
    expect(evaluateSetting(name, undefined, 0.5)).toBeUndefined();
  });
});
