// The statistics passes on the GPU (src/gpu/statistics.ts) against the CPU's (the executor's chunk
// passes), over merges of the task-vector family: each top-|τ| selection keeps exactly the CPU's
// elements (masks compared bit for bit in every statistics chunk, with many |τ| tied at the
// threshold and those ties spread over two chunks), norms within 1e-12 relative (max: exact),
// and the merged output within 1 ulp of the CPU's. Under --device gpu the CPU passes do not run.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GpuTensorMerger } from '../src/gpu/tensor-merge.ts';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { DTYPE_SIZES, type FloatDtype } from '../src/io/dtype.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { getMethod } from '../src/merge/registry.ts';
import { markSelected, type Selection } from '../src/tensor/select.ts';
import { requireGpu, skipGpu, testGpu } from './helpers/gpu.ts';
import { makeTmp, rng } from './helpers/io-tmp.ts';
import { writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

const SKIP = await skipGpu();
if (SKIP) console.warn(`gpu-statistics.test.ts SKIPPED: ${await testGpu()}`);

// 1100 rows of 1024: two statistics chunks (2^20 elements each at most), many GPU tiles.
const SHAPES: Array<[string, number[]]> = [
  ['model.layers.0.mlp.up_proj.weight', [1100, 1024]],
  ['model.layers.1.mlp.up_proj.weight', [37, 29]],
  ['model.norm.weight', [300]],
];
const CHUNK_ELEMENTS = 1 << 20; // the executor's statistics chunk size

let tmp: ReturnType<typeof makeTmp>;
const dirs: Record<string, string[]> = {};

beforeAll(() => {
  tmp = makeTmp('mergesearch-gpu-stats-');
  for (const dtype of ['BF16', 'F32'] as const) {
    const r = rng(dtype === 'BF16' ? 3 : 4);
    const base = SHAPES.map(([name, shape]) => ({ name, shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 0.5) }));
    const folders: Array<[string, typeof base]> = [['base', base]];
    for (let m = 0; m < 3; m++) {
      // Task vectors on a coarse grid (multiples of 2^-9, |τ| ≤ 12·2^-9, then rounded by the dtype): thousands of
      // entries share each |τ|.
      folders.push([`expert-${m}`, base.map((t) => ({ ...t, values: t.values.map((v) => v + Math.round((r() - 0.5) * 24) / 512) }))]);
    }
    dirs[dtype] = folders.map(([name, tensors]) => writeHandCheckpoint(path.join(tmp.dir, dtype, name), tensors.map((t) => ({ ...t, dtype })), { architectures: ['LlamaForCausalLM'], num_hidden_layers: 2 }));
  }
});

afterAll(() => {
  tmp?.cleanup();
  void testGpu().then((g) => typeof g !== 'string' && g.close());
});

function recipe(dtype: string, method: string, perModel: string, global: string): string {
  const [base, ...experts] = dirs[dtype]!;
  return [`merge_method: ${method}`, `base_model: ${base}`, 'models:', ...experts.map((d, i) => `  - model: ${d}\n    parameters:\n      weight: ${[0.5, 0.3, 0.2][i]}\n${perModel}`), global].join('\n');
}

interface Captured {
  selections?: Array<Array<Selection | undefined>>;
  norms?: Array<[number, number] | undefined>;
}

function value(bits: number, wide: boolean): number {
  const w = new DataView(new ArrayBuffer(4));
  w.setUint32(0, (wide ? bits : bits << 16) >>> 0);
  return w.getFloat32(0);
}

/** Max ulp distance and differing count between two merged checkpoints (bf16/f32 outputs). */
function compareOutputs(a: string, b: string): { maxUlp: number; differing: number } {
  const x = Checkpoint.open(a);
  const y = Checkpoint.open(b);
  let maxUlp = 0;
  let differing = 0;
  for (const info of x.tensors.values()) {
    const dtype = info.dtype as FloatDtype;
    const u = x.readRaw(info.name);
    const v = y.readRaw(info.name);
    const wide = DTYPE_SIZES[dtype] === 4;
    const sign = wide ? 0x80000000 : 0x8000;
    const ord = (w: number) => (w >= sign ? sign - w : w);
    const dv = (buf: Uint8Array) => new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let i = 0; i < u.length / DTYPE_SIZES[dtype]; i++) {
      const p = wide ? dv(u).getUint32(4 * i, true) : dv(u).getUint16(2 * i, true);
      const q = wide ? dv(v).getUint32(4 * i, true) : dv(v).getUint16(2 * i, true);
      if (p === q) continue;
      // Where the merge cancels to ~0, float64 (CPU) leaves a residual of ~1e-18 that float-float (GPU) may
      // not, or the other way round: many ulps apart but both far below the inputs' resolution.
      if (Math.abs(value(p, wide)) < 1e-12 && Math.abs(value(q, wide)) < 1e-12) continue;
      differing++;
      maxUlp = Math.max(maxUlp, Math.abs(ord(p) - ord(q)));
    }
  }
  return { maxUlp, differing };
}

/** τ of model i for one tensor, in float32, as the statistics passes form it. */
function tau(dtype: string, model: number, name: string): Float32Array {
  const [base, ...experts] = dirs[dtype]!;
  const b = Checkpoint.open(base!).readF32(name);
  const x = Checkpoint.open(experts[model]!).readF32(name);
  return x.map((v, e) => v - b[e]!);
}

const CASES: Array<{ method: string; dtype: string; perModel: string; global: string; selections: boolean; norms: boolean }> = [
  { method: 'ties', dtype: 'BF16', perModel: '      density: 0.3\n', global: '', selections: true, norms: false },
  { method: 'ties', dtype: 'F32', perModel: '      density: 0.55\n', global: 'parameters:\n  rescale: l1', selections: true, norms: true },
  { method: 'dare_ties', dtype: 'BF16', perModel: '      density: 0.6\n', global: '', selections: false, norms: true },
  { method: 'dare_linear', dtype: 'F32', perModel: '      density: 0.5\n', global: 'parameters:\n  rescale: l2', selections: false, norms: true },
  { method: 'dare_linear', dtype: 'BF16', perModel: '      density: 0.4\n', global: 'parameters:\n  rescale: linf\nout_dtype: float32', selections: false, norms: true },
  { method: 'breadcrumbs', dtype: 'BF16', perModel: '      density: 0.5\n      gamma: 0.05\n', global: 'parameters:\n  rescale: l1', selections: true, norms: true },
];

describe.skipIf(SKIP)('statistics passes on the GPU', () => {
  for (const c of CASES) {
    it(`${c.method} (${c.dtype}, ${[c.perModel, c.global].join(' ').replace(/\s+/g, ' ').trim()}): the GPU's selections keep the CPU's elements, norms agree, outputs within 1 ulp`, async () => {
      const gpu = await requireGpu();
      const method = getMethod(c.method)!;
      const r = parseRecipe(recipe(c.dtype, c.method, c.perModel, c.global), `${c.method} recipe`);
      const tag = `${c.method}-${c.dtype}-${c.perModel.replace(/\W+/g, '')}-${c.global.replace(/\W+/g, '')}`;
      const cpuStats = new Map<string, Captured>();
      const gpuStats = new Map<string, Captured>();
      const originalCombine = method.combineStats!.bind(method);
      const originalFromResults = method.statsFromResults!.bind(method);
      const cpuSpy = vi.spyOn(method, 'combineStats').mockImplementation((ctx, pass, partials, stats) => {
        const s = originalCombine(ctx, pass, partials, stats) as Captured;
        cpuStats.set(ctx.name, s);
        return s;
      });
      const gpuSpy = vi.spyOn(method, 'statsFromResults').mockImplementation((ctx, results) => {
        const s = originalFromResults(ctx, results) as Captured;
        gpuStats.set(ctx.name, s);
        return s;
      });
      const merger = new GpuTensorMerger(gpu, { tileElements: 1 << 16 });
      const warnings: string[] = [];
      try {
        await mergeToFolder(r, { out: path.join(tmp.dir, `${tag}-cpu`), seed: 7, threads: 1 });
        const cpuCalls = cpuSpy.mock.calls.length;
        expect(cpuCalls).toBeGreaterThan(0);
        await mergeToFolder(r, { out: path.join(tmp.dir, `${tag}-gpu`), seed: 7, threads: 1, gpu: { merger, strict: true, onWarning: (w) => warnings.push(w) } });
        // No CPU statistics pass ran for the GPU merge.
        expect(cpuSpy.mock.calls.length).toBe(cpuCalls);
        expect(gpuSpy).toHaveBeenCalled();
      } finally {
        cpuSpy.mockRestore();
        gpuSpy.mockRestore();
        merger.close();
      }
      expect(warnings).toEqual([]);
      expect([...gpuStats.keys()].sort()).toEqual([...cpuStats.keys()].sort());
      let compared = 0;
      let split = 0;
      for (const [name, cpu] of cpuStats) {
        const g = gpuStats.get(name)!;
        const cols = SHAPES.find(([n]) => n === name)![1].slice(1).reduce((a, b) => a * b, 1);
        if (c.selections) {
          expect(g.selections?.length).toBe(cpu.selections!.length);
          cpu.selections!.forEach((targets, i) => {
            const t = tau(c.dtype, i, name);
            const rowsPerChunk = SHAPES.find(([n]) => n === name)![1].length < 2 ? t.length : Math.max(1, Math.floor(CHUNK_ELEMENTS / cols));
            targets.forEach((s, j) => {
              const q = g.selections![i]![j];
              if (!s) return expect(q).toBeUndefined();
              expect({ m: q!.m, bits: q!.bits, admitEqual: q!.admitEqual, all: q!.all, none: q!.none }).toEqual({ m: s.m, bits: s.bits, admitEqual: s.admitEqual, all: s.all, none: s.none });
              // Ties at the threshold admitted in part: the GPU counted the equal entries per chunk as the CPU did.
              if (q!.equalBefore.some((v) => v > 0)) {
                expect(q!.equalBefore).toEqual(s.equalBefore);
                split++;
              }
              // The same elements kept in every statistics chunk.
              let kept = 0;
              for (let c0 = 0, chunk = 0; c0 < t.length; c0 += rowsPerChunk * cols, chunk++) {
                const part = t.subarray(c0, Math.min(t.length, c0 + rowsPerChunk * cols));
                const a = new Uint8Array(part.length);
                const b = new Uint8Array(part.length);
                markSelected(part, s, chunk, a);
                markSelected(part, q!, chunk, b);
                expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
                kept += a.reduce((x, y) => x + y, 0);
              }
              expect(kept).toBe(s.m);
              compared++;
            });
          });
        }
        if (c.norms) {
          cpu.norms!.forEach((n, i) => {
            const q = g.norms![i];
            if (!n) return expect(q).toBeUndefined();
            for (const k of [0, 1]) expect(Math.abs(q![k]! - n[k]!)).toBeLessThanOrEqual(1e-12 * Math.abs(n[k]!));
            compared++;
          });
        }
      }
      expect(compared).toBeGreaterThan(0);
      if (c.selections) expect(split).toBeGreaterThan(0);
      const d = compareOutputs(path.join(tmp.dir, `${tag}-cpu`), path.join(tmp.dir, `${tag}-gpu`));
      expect(d.maxUlp).toBeLessThanOrEqual(1);
    });
  }

  it('slerp: the dot and norms on the GPU within 1e-12 of the CPU\'s, the interpolation within 1 ulp, no CPU statistics pass', async () => {
    const gpu = await requireGpu();
    const method = getMethod('slerp')!;
    for (const dtype of ['BF16', 'F32']) {
      const [base, expert] = dirs[dtype]!;
      const r = parseRecipe(`merge_method: slerp\nbase_model: ${base}\nmodels:\n  - model: ${expert}\nparameters:\n  t: 0.35\n`, 'slerp recipe');
      const cpuStats = new Map<string, { dot: number; n0: number; n1: number }>();
      const gpuStats = new Map<string, { dot: number; n0: number; n1: number }>();
      const originalCombine = method.combineStats!.bind(method);
      const originalFromResults = method.statsFromResults!.bind(method);
      const cpuSpy = vi.spyOn(method, 'combineStats').mockImplementation((ctx, pass, partials, stats) => {
        const s = originalCombine(ctx, pass, partials, stats) as { dot: number; n0: number; n1: number };
        cpuStats.set(ctx.name, s);
        return s;
      });
      const gpuSpy = vi.spyOn(method, 'statsFromResults').mockImplementation((ctx, results) => {
        const s = originalFromResults(ctx, results) as { dot: number; n0: number; n1: number };
        gpuStats.set(ctx.name, s);
        return s;
      });
      const merger = new GpuTensorMerger(gpu, { tileElements: 1 << 16 });
      try {
        await mergeToFolder(r, { out: path.join(tmp.dir, `slerp-${dtype}-cpu`), threads: 1 });
        const calls = cpuSpy.mock.calls.length;
        await mergeToFolder(r, { out: path.join(tmp.dir, `slerp-${dtype}-gpu`), threads: 1, gpu: { merger, strict: true } });
        expect(cpuSpy.mock.calls.length).toBe(calls);
      } finally {
        cpuSpy.mockRestore();
        gpuSpy.mockRestore();
        merger.close();
      }
      expect(gpuStats.size).toBe(SHAPES.length);
      for (const [name, c] of cpuStats) {
        const g = gpuStats.get(name)!;
        for (const k of ['dot', 'n0', 'n1'] as const) expect(Math.abs(g[k] - c[k]), `${name} ${k}`).toBeLessThanOrEqual(1e-12 * Math.abs(c[k]));
      }
      expect(compareOutputs(path.join(tmp.dir, `slerp-${dtype}-cpu`), path.join(tmp.dir, `slerp-${dtype}-gpu`)).maxUlp).toBeLessThanOrEqual(1);
    }
  });
});
