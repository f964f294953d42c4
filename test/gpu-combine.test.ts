// The WGSL combine kernels against the CPU kernels they stand in for (fused-kernels.ts, the
// dtype codecs, the counter-hash masks), on the test adapter: masks byte for byte, merged values
// within 1 ulp of the output dtype (the CPU evaluates in float64, the shader in float-float), and
// both against a float64 oracle written out here. Cancellation-heavy cases are included: float32
// arithmetic alone is hundreds of ulps off on them.
import { afterAll, describe, expect, it } from 'vitest';
import { CombineKernel, paddedBytes } from '../src/gpu/combine-kernel.ts';
import { recomputeOnCpu } from '../src/gpu/cpu-fixup.ts';
import { DTYPE_SIZES, decodeToF32, encodeFromF32, type FloatDtype } from '../src/io/dtype.ts';
import { roundsTau, type ElementwiseCombine, type ElementwiseKeep } from '../src/merge/elementwise.ts';
import { taskVectorCombine, weightedSum, type Keep } from '../src/tensor/fused-kernels.ts';
import { bernoulliMask, streamKey } from '../src/tensor/random.ts';
import { requireGpu, skipGpu, testGpu } from './helpers/gpu.ts';
import { rng } from './helpers/io-tmp.ts';

const SKIP = await skipGpu();
if (SKIP) console.warn(`gpu-combine.test.ts SKIPPED: ${await testGpu()}`);

const DTYPES: FloatDtype[] = ['F32', 'F16', 'BF16'];

/** Values as stored in `dtype` (so the CPU and the GPU start from the same numbers): raw bytes, padded, and their float32 values. */
function stored(values: Float32Array, dtype: FloatDtype): { raw: Uint8Array; f32: Float32Array } {
  const raw = new Uint8Array(paddedBytes(values.length, dtype));
  encodeFromF32(dtype, values, raw);
  const f32 = new Float32Array(values.length);
  decodeToF32(dtype, raw, f32);
  return { raw, f32 };
}

function encoded(values: Float32Array, dtype: FloatDtype): Uint8Array {
  const out = new Uint8Array(values.length * DTYPE_SIZES[dtype]);
  encodeFromF32(dtype, values, out);
  return out;
}

/** Ordered integer of a float's bits (sign-magnitude → two's complement order), for ulp distances. */
function ordered(bits: number, signBit: number): number {
  return bits >= signBit ? signBit - bits : bits;
}

/**
 * Largest distance in ulps of `dtype` between two encodings, and how many elements differ at all.
 * With `mag`: elements whose values differ by at most 2^-40·mag[e] are not counted — there the
 * terms cancelled to below what float-float (about 2^-44 relative) resolves, and the float64 CPU
 * result is itself rounding noise of the same kind (e.g. w·x0 − 2w·x1 + w·x2 with x in arithmetic
 * progression: exactly 0, computed as ±1e-18 in float64 and ±3e-17 in float-float).
 */
function ulpDistance(a: Uint8Array, b: Uint8Array, dtype: FloatDtype, mag?: Float64Array): { max: number; differing: number; noise: number } {
  const fa = new Float32Array(a.length / DTYPE_SIZES[dtype]);
  const fb = new Float32Array(fa.length);
  decodeToF32(dtype, a, fa);
  decodeToF32(dtype, b, fb);
  let noise = 0;
  const wide = dtype === 'F32';
  const n = a.length / DTYPE_SIZES[dtype];
  const va = wide ? new Uint32Array(a.buffer, a.byteOffset, n) : new Uint16Array(a.buffer, a.byteOffset, n);
  const vb = wide ? new Uint32Array(b.buffer, b.byteOffset, n) : new Uint16Array(b.buffer, b.byteOffset, n);
  const sign = wide ? 0x80000000 : 0x8000;
  let max = 0;
  let differing = 0;
  for (let i = 0; i < n; i++) {
    if (va[i] === vb[i]) continue;
    if (mag && Math.abs(fa[i]! - fb[i]!) <= 2 ** -40 * mag[i]!) {
      noise++;
      continue;
    }
    differing++;
    max = Math.max(max, Math.abs(ordered(va[i]!, sign) - ordered(vb[i]!, sign)));
  }
  return { max, differing, noise };
}

interface Case {
  name: string;
  /** At least this many elements must be flagged ambiguous (and recomputed on the CPU). */
  minAmbiguous?: number;
  n: number;
  first?: number;
  base: Float32Array | null;
  models: Float32Array[];
  combine: ElementwiseCombine;
}

/** A DARE keep's mask from the CPU's counter hash (the cases here use no other kind). */
function maskOf(k: ElementwiseKeep, c: Case): Uint8Array | null {
  if (k.kind === 'all') return null;
  if (k.kind !== 'bernoulli') throw new Error('only DARE masks in these cases');
  const m = new Uint8Array(c.n);
  bernoulliMask(k.key, c.first ?? 0, k.density, m);
  return m;
}

/** The CPU path's output for the case (the kernels a streaming merge runs), in float32. */
function cpuOutput(c: Case, base: Float32Array | null, models: Float32Array[]): Float32Array {
  const out = new Float32Array(c.n);
  const cb = c.combine;
  if (cb.kind === 'weighted-sum') {
    weightedSum(out, models, cb.weights);
    return out;
  }
  const masks: Keep[] = cb.keep.map((k) => maskOf(k, c));
  const inputs = models.map((x, i) => (roundsTau(cb, i) ? x.map((v, e) => v - base![e]!) : x));
  taskVectorCombine(out, base!, inputs, models.map((_, i) => roundsTau(cb, i)), masks, cb.eff, cb.weights, cb.scale, cb.consensus, cb.normalize);
  return out;
}

/**
 * float64 oracle, straight from the definitions in elementwise.ts; `mag` is each element's scale
 * (|base| + the summed magnitudes of the terms), below which a result is cancellation noise.
 */
function oracle(c: Case, base: Float32Array | null, models: Float32Array[]): { out: Float32Array; mag: Float64Array } {
  const out = new Float32Array(c.n);
  const mag = new Float64Array(c.n);
  const cb = c.combine;
  const keepOf = cb.kind === 'task-vector' ? cb.keep.map((k) => maskOf(k, c)) : [];
  for (let e = 0; e < c.n; e++) {
    if (cb.kind === 'weighted-sum') {
      out[e] = models.reduce((s, x, i) => s + cb.weights[i]! * x[e]!, 0);
      mag[e] = models.reduce((s, x, i) => s + Math.abs(cb.weights[i]! * x[e]!), 0);
      continue;
    }
    const b = base![e]!;
    const tau = (x: number, i: number) => (roundsTau(cb, i) ? Math.fround(x - b) : x - b);
    const a = models.map((x, i) => (keepOf[i] && !keepOf[i]![e] ? 0 : tau(x[e]!, i) * cb.eff[i]!));
    const total = a.reduce((s, v) => s + v, 0);
    mag[e] = Math.abs(b) + a.reduce((s, v) => s + Math.abs(v), 0) * Math.max(Math.abs(cb.gain), Math.abs(cb.scale)) * (cb.consensus && cb.normalize ? 1 / Math.min(...cb.weights.map(Math.abs)) : 1);
    if (!cb.consensus) {
      out[e] = b + total * cb.gain;
      continue;
    }
    const sign = total >= 0 ? 1 : -1;
    const agree = a.map((v) => v * sign > 0);
    const s = a.reduce((acc, v, i) => acc + (agree[i] ? v : 0), 0);
    const d = cb.weights.reduce((acc, w, i) => acc + (agree[i] ? w : 0), 0);
    out[e] = b + (cb.normalize ? s / (d === 0 ? 1 : d) : s) * cb.scale;
  }
  return { out, mag };
}

function randomTensor(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 2 * scale);
}

/** Models close to the base (fine-tune deltas ~1e-3 of the weights), so τ and its sums cancel. */
function finetunes(base: Float32Array, k: number, seed: number, delta = 1e-3): Float32Array[] {
  return Array.from({ length: k }, (_, i) => base.map((b, e) => b + randomTensor(1, seed * 131 + i * 7919 + e)[0]! * delta * (1 + Math.abs(b))));
}

function cases(): Case[] {
  const n = 10_001; // odd: the last pair of a 16-bit tile is half empty
  const base = randomTensor(n, 1, 0.05);
  const models = finetunes(base, 3, 2);
  const key = (i: number) => streamKey(1234, i);
  // Base on a 1/64 grid, task vectors in {−1, 0, 1}/16: with weights 0.5, 0.3, 0.2 the election
  // sum is often exactly 0 mathematically (τ = (q, −q, −q)) and rounding noise decides its sign.
  const r = rng(3);
  const qBase = Float32Array.from({ length: n }, () => Math.round((r() - 0.5) * 64) / 64);
  const qModels = [0, 1, 2].map(() => qBase.map((b) => b + (Math.floor(r() * 3) - 1) / 16));
  return [
    {
      name: 'ties on a grid (elections decided by rounding noise)',
      minAmbiguous: 50,
      n,
      base: qBase,
      models: qModels,
      combine: { kind: 'task-vector', eff: [0.5, 0.3, 0.2], weights: [0.5, 0.3, 0.2], keep: [{ kind: 'all' }, { kind: 'all' }, { kind: 'all' }], consensus: true, normalize: true, gain: 1, scale: 1, roundTau: false },
    },
    { name: 'linear, 3 models', n, base: null, models, combine: { kind: 'weighted-sum', weights: [0.2, 0.3, 0.5] } },
    // Weights summing to ~0: the output is all cancellation.
    { name: 'linear, cancelling weights', n, base: null, models, combine: { kind: 'weighted-sum', weights: [1 / 3, -2 / 3, 1 / 3] } },
    {
      name: 'task_arithmetic',
      n,
      base,
      models,
      combine: { kind: 'task-vector', eff: [0.3, 0.7, 1.1], weights: [0.3, 0.7, 1.1], keep: [{ kind: 'all' }, { kind: 'all' }, { kind: 'all' }], consensus: false, normalize: false, gain: 0.9, scale: 0.9, roundTau: false },
    },
    {
      name: 'ties (sign election, normalized)',
      n,
      base,
      models,
      combine: { kind: 'task-vector', eff: [1, 0.5, 0.25], weights: [1, 0.5, 0.25], keep: [{ kind: 'all' }, { kind: 'all' }, { kind: 'all' }], consensus: true, normalize: true, gain: 0.7, scale: 0.7, roundTau: false },
    },
    {
      name: 'dare_linear (masks, rescale, float32 τ)',
      n,
      first: 4096 * 3,
      base,
      models,
      combine: { kind: 'task-vector', eff: [0.5 / 0.3, 0.5 / 0.6, 0.2 / 0.9], weights: [0.5, 0.5, 0.2], keep: [{ kind: 'bernoulli', key: key(0), density: 0.3 }, { kind: 'bernoulli', key: key(1), density: 0.6 }, { kind: 'bernoulli', key: key(2), density: 0.9 }], consensus: false, normalize: false, gain: 1, scale: 1, roundTau: [true, false, true] },
    },
    {
      name: 'dare_ties (masks and sign election)',
      n,
      first: 77,
      base,
      models,
      combine: { kind: 'task-vector', eff: [2, 2, 2], weights: [1, 1, 1], keep: [{ kind: 'bernoulli', key: key(0), density: 0.5 }, { kind: 'bernoulli', key: key(1), density: 0.5 }, { kind: 'bernoulli', key: key(2), density: 0.5 }], consensus: true, normalize: true, gain: 1, scale: 1, roundTau: false },
    },
  ];
}

describe.skipIf(SKIP)('GPU combine kernels match the CPU path', () => {
  let kernel: CombineKernel | undefined;
  afterAll(() => {
    kernel?.close();
    void testGpu().then((g) => typeof g !== 'string' && g.close());
  });

  for (const c of cases()) {
    for (const inDtype of DTYPES) {
      for (const outDtype of DTYPES) {
        it(`${c.name}: ${inDtype} in, ${outDtype} out`, async () => {
          kernel ??= new CombineKernel(await requireGpu());
          const base = c.base ? stored(c.base, inDtype) : null;
          const models = c.models.map((m) => stored(m, inDtype));
          const inputs = [...(base ? [base.raw] : []), ...models.map((m) => m.raw)];
          const shape = { combine: c.combine, inputs: inputs.map(() => inDtype), out: outDtype };
          const result = await (await kernel.submit({ shape, n: c.n, first: c.first ?? 0, inputs }, c.name))();
          expect(result.nonFinite).toBe(0);
          const flagged = result.ambiguous === 'all' ? c.n : result.ambiguous.length;
          expect(flagged).toBeGreaterThanOrEqual(c.minAmbiguous ?? 0);
          if (flagged > 0) {
            const indices = result.ambiguous === 'all' ? Uint32Array.from({ length: c.n }, (_, i) => i) : result.ambiguous;
            expect(recomputeOnCpu(c.combine, shape.inputs, inputs, c.first ?? 0, indices, outDtype, result.bytes).nonFinite).toBe(0);
          }
          expect(result.bytes.length).toBe(c.n * DTYPE_SIZES[outDtype]);
          const cpu = encoded(cpuOutput(c, base?.f32 ?? null, models.map((m) => m.f32)), outDtype);
          const ref = oracle(c, base?.f32 ?? null, models.map((m) => m.f32));
          const exact = encoded(ref.out, outDtype);
          const vsCpu = ulpDistance(result.bytes, cpu, outDtype, ref.mag);
          expect(vsCpu.max).toBeLessThanOrEqual(1);
          // Near-ties of the final rounding only: a handful of elements in ten thousand.
          expect(vsCpu.differing).toBeLessThanOrEqual(c.n / 1000);
          expect(ulpDistance(result.bytes, exact, outDtype, ref.mag).max).toBeLessThanOrEqual(1);
        });
      }
    }
  }

  it('float32 arithmetic alone would be far off on the cancelling case (the test can fail)', () => {
    const c = cases()[2]!;
    const w = (c.combine as { weights: number[] }).weights.map(Math.fround);
    const naive = new Float32Array(c.n);
    for (let e = 0; e < c.n; e++) {
      let s = 0;
      for (let i = 0; i < 3; i++) s = Math.fround(s + Math.fround(w[i]! * c.models[i]![e]!));
      naive[e] = s;
    }
    const ref = oracle(c, null, c.models);
    expect(ulpDistance(encoded(naive, 'F32'), encoded(ref.out, 'F32'), 'F32', ref.mag).max).toBeGreaterThan(8);
  });

  it('DARE masks are the CPU masks bit for bit, across a 2^32 element boundary', async () => {
    kernel ??= new CombineKernel(await requireGpu());
    // base 0, model 1, weight 1: the output is the mask itself.
    const n = 200_003;
    const first = 2 ** 32 - 100_000;
    for (const density of [0.1, 0.5, 0.9]) {
      const keyValue = streamKey(99, 3);
      const combine: ElementwiseCombine = { kind: 'task-vector', eff: [1], weights: [1], keep: [{ kind: 'bernoulli', key: keyValue, density }], consensus: false, normalize: false, gain: 1, scale: 1, roundTau: false };
      const zeros = new Uint8Array(paddedBytes(n, 'F32'));
      const ones = new Uint8Array(paddedBytes(n, 'F32'));
      new Float32Array(ones.buffer).fill(1);
      const r = await (await kernel.submit({ shape: { combine, inputs: ['F32', 'F32'], out: 'F32' }, n, first, inputs: [zeros, ones] }, 'mask'))();
      const gpuMask = Uint8Array.from(new Float32Array(r.bytes.buffer, r.bytes.byteOffset, n), (v) => v);
      const cpuMask = new Uint8Array(n);
      bernoulliMask(keyValue, first, density, cpuMask);
      expect(Buffer.from(gpuMask).equals(Buffer.from(cpuMask))).toBe(true);
      const kept = cpuMask.reduce((a, b) => a + b, 0) / n;
      expect(Math.abs(kept - density)).toBeLessThan(0.01);
    }
  });

  it('values the output dtype cannot hold are counted with the first one located', async () => {
    kernel ??= new CombineKernel(await requireGpu());
    const n = 1001;
    const x = new Float32Array(n).fill(1);
    x[17] = 40000;
    x[900] = NaN;
    const raw = stored(x, 'F32').raw;
    const r = await (await kernel.submit({ shape: { combine: { kind: 'weighted-sum', weights: [2] }, inputs: ['F32'], out: 'F16' }, n, first: 0, inputs: [raw] }, 'overflow'))();
    expect(r.nonFinite).toBe(2); // 80000 overflows f16, NaN stays NaN
    expect(r.firstBad).toBe(17);
  });
});
