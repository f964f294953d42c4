// Whole merges with the final combine on the GPU (the test adapter), against the same merges on
// the CPU: every tensor within 1 ulp of its dtype and nearly all bit-identical, over tiles smaller
// than the tensors; the --device rules (coded errors naming the method, auto's fallback), a device
// lost mid-merge leaving no output, and the CLI printing the adapter.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDevice } from '../src/gpu/device.ts';
import { openMergeDevice } from '../src/gpu/merge-device.ts';
import { GpuTensorMerger } from '../src/gpu/tensor-merge.ts';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { DTYPE_SIZES, type FloatDtype } from '../src/io/dtype.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { getMethod } from '../src/merge/registry.ts';
import { requireGpu, skipGpu, testGpu } from './helpers/gpu.ts';
import { makeTmp, rng } from './helpers/io-tmp.ts';
import { expectCodeAsync, expectNoOutput, runCli, writeHandCheckpoint, type HandTensor } from './helpers/recipe-fixtures.ts';

const SKIP = await skipGpu();
if (SKIP) console.warn(`gpu-merge.test.ts SKIPPED: ${await testGpu()}`);

let tmp: ReturnType<typeof makeTmp>;
let dirs: string[] = [];

const SHAPES: Array<[string, number[]]> = [
  ['model.embed_tokens.weight', [40, 24]],
  ['model.layers.0.mlp.up_proj.weight', [97, 33]],
  ['model.layers.1.mlp.up_proj.weight', [97, 33]],
  ['model.layers.1.input_layernorm.weight', [33]],
  ['model.norm.weight', [24]],
];

beforeAll(() => {
  tmp = makeTmp('mergesearch-gpu-');
  const r = rng(5);
  const base = SHAPES.map(([name, shape]) => ({ name, shape, values: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 0.2) }));
  const folders: Array<[string, HandTensor[]]> = [['base', base.map((t) => ({ ...t, dtype: 'BF16' as const }))]];
  for (let m = 0; m < 3; m++) {
    // Fine-tunes: small deltas, a part shared by all experts so signs agree often but not always.
    const shared = base.map((t) => t.values.map(() => (r() - 0.5) * 0.01));
    folders.push([`expert-${m}`, base.map((t, i) => ({ ...t, dtype: 'BF16' as const, values: t.values.map((v, e) => v + shared[i]![e]! + (r() - 0.5) * 0.01) }))]);
  }
  dirs = folders.map(([name, tensors]) => writeHandCheckpoint(path.join(tmp.dir, name), tensors, { architectures: ['LlamaForCausalLM'], num_hidden_layers: 2 }));
});

afterAll(() => {
  tmp?.cleanup();
  void testGpu().then((g) => typeof g !== 'string' && g.close());
});

function recipe(method: string, params: string, extra = ''): string {
  const [base, ...experts] = dirs;
  return [
    `merge_method: ${method}`,
    method === 'linear' ? '' : `base_model: ${base}`,
    'models:',
    ...experts.map((d, i) => `  - model: ${d}\n    parameters:\n      weight: ${[0.5, 0.3, 0.2][i]}\n${params}`),
    extra,
  ].join('\n');
}

/** Each tensor's largest ulp distance and the count of differing elements, GPU output vs CPU output. */
function compare(cpuDir: string, gpuDir: string): { maxUlp: number; differing: number; elements: number } {
  const a = Checkpoint.open(cpuDir);
  const b = Checkpoint.open(gpuDir);
  let maxUlp = 0;
  let differing = 0;
  let elements = 0;
  try {
    for (const info of a.tensors.values()) {
      const dtype = info.dtype as FloatDtype;
      expect(b.info(info.name).dtype).toBe(dtype);
      const x = a.readRaw(info.name);
      const y = b.readRaw(info.name);
      const n = x.length / DTYPE_SIZES[dtype];
      const wide = dtype === 'F32';
      const sign = wide ? 0x80000000 : 0x8000;
      const read = (buf: Uint8Array, i: number) => (wide ? Buffer.from(buf).readUInt32LE(4 * i) : Buffer.from(buf).readUInt16LE(2 * i));
      const ord = (v: number) => (v >= sign ? sign - v : v);
      for (let i = 0; i < n; i++) {
        const u = read(x, i);
        const v = read(y, i);
        if (u === v) continue;
        differing++;
        maxUlp = Math.max(maxUlp, Math.abs(ord(u) - ord(v)));
      }
      elements += n;
    }
  } finally {
    a.close?.();
    b.close?.();
  }
  return { maxUlp, differing, elements };
}

const CASES: Array<[string, string, string]> = [
  ['linear', '', ''],
  ['task_arithmetic', '', 'parameters:\n  lambda: [0.5, 1.0]'],
  ['ties', '      density: 1.0\n', 'parameters:\n  lambda: 0.9'],
  // bf16 task vectors repeat |τ| values often: many entries tie at the trimming threshold.
  ['ties', '      density: 0.3\n', ''],
  ['dare_linear', '      density: 0.5\n', 'dtype: bfloat16\nout_dtype: float32'],
  ['dare_ties', '      density: 0.7\n', 'parameters:\n  rescale: false\nout_dtype: float16'],
  // breadcrumbs: the largest outliers dropped again (a second selection subtracted in the kernel)
  ['breadcrumbs', '      density: 0.5\n      gamma: 0.05\n', ''],
  ['breadcrumbs_ties', '      density: 0.6\n      gamma: 0.1\n', 'parameters:\n  rescale: l1'],
];

describe.skipIf(SKIP)('merges with the combine on the GPU', () => {
  for (const [method, params, extra] of CASES) {
    it(`${method}${params.includes('density') ? ` (${params.trim().replace(/\s+/g, ' ')})` : ''}: GPU output within 1 ulp of the CPU output, tiles smaller than the tensors`, async () => {
      const gpu = await requireGpu();
      const r = parseRecipe(recipe(method, params, extra), `${method} recipe`);
      const tag = `${method}-${params.replace(/\W+/g, '')}`;
      const cpuOut = path.join(tmp.dir, `${tag}-cpu`);
      const gpuOut = path.join(tmp.dir, `${tag}-gpu`);
      await mergeToFolder(r, { out: cpuOut, seed: 11, threads: 1 });
      const merger = new GpuTensorMerger(gpu, { tileElements: 256 }); // 7 rows of 33: many tiles per tensor
      const warnings: string[] = [];
      try {
        await mergeToFolder(r, { out: gpuOut, seed: 11, threads: 1, gpu: { merger, strict: true, onWarning: (w) => warnings.push(w) } });
      } finally {
        merger.close();
      }
      expect(warnings).toEqual([]);
      const c = compare(cpuOut, gpuOut);
      expect(c.elements).toBe(SHAPES.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0));
      expect(c.maxUlp).toBeLessThanOrEqual(1);
      expect(c.differing).toBeLessThanOrEqual(Math.ceil(c.elements / 1000));
    });
  }

  it('--device gpu refuses a setting without a kernel (della\'s rank-based keep probabilities) before writing anything; auto merges it on the CPU with a warning', async () => {
    const gpu = await requireGpu();
    const r = parseRecipe(recipe('della', '      density: 0.5\n      epsilon: 0.1\n'), 'della recipe');
    const out = path.join(tmp.dir, 'della-gpu');
    const merger = new GpuTensorMerger(gpu);
    try {
      await expectCodeAsync(() => mergeToFolder(r, { out, gpu: { merger, strict: true } }), 'GPU_E_METHOD', 'della', 'della_magprune', '--device cpu');
      expectNoOutput(out);
      const warnings: string[] = [];
      await mergeToFolder(r, { out, threads: 1, gpu: { merger, strict: false, onWarning: (w) => warnings.push(w) } });
      expect(warnings).toEqual([expect.stringMatching(/^merged on the CPU: della with della_magprune sparsification/)]);
      await mergeToFolder(r, { out: `${out}-cpu`, threads: 1 });
      expect(compare(`${out}-cpu`, out).differing).toBe(0);
    } finally {
      merger.close();
    }
  });

  it('a method without GPU kernels: gpu is GPU_E_METHOD naming it, auto says why it runs on the CPU', async () => {
    const karcher = getMethod('karcher')!;
    await expectCodeAsync(() => openMergeDevice('gpu', karcher, () => undefined), 'GPU_E_METHOD', 'karcher', 'GPU kernels: linear, task_arithmetic, ties');
    const auto = await openMergeDevice('auto', karcher, () => undefined);
    expect(auto.line).toMatch(/^cpu \(merge method karcher has no GPU kernel/);
    expect(auto.gpu).toBeUndefined();
  });

  it('a device lost mid-merge fails with GPU_E_DEVICE_LOST and leaves no output', async () => {
    const own = await openDevice('gpu', { backends: [(await requireGpu()).adapter.backend] });
    if (own.kind !== 'gpu') throw new Error('expected a GPU');
    const merger = new GpuTensorMerger(own.gpu, { tileElements: 256 });
    const out = path.join(tmp.dir, 'lost');
    const r = parseRecipe(recipe('task_arithmetic', ''), 'recipe');
    let seen = 0;
    await expectCodeAsync(
      () =>
        mergeToFolder(r, {
          out,
          threads: 1,
          gpu: { merger, strict: true },
          onProgress: () => {
            if (++seen === 2) own.gpu.device.destroy(); // as a driver reset would, after two tensors
          },
        }),
      'GPU_E_DEVICE_LOST',
    );
    expectNoOutput(out);
    merger.close();
    own.gpu.close();
  });

  it('the CLI: --device gpu prints the adapter and writes what the API wrote; --device cpu says cpu', () => {
    const file = path.join(tmp.dir, 'ta.yaml');
    fs.writeFileSync(file, recipe('task_arithmetic', '', 'parameters:\n  lambda: [0.5, 1.0]'));
    const g = runCli(['merge', file, '--out', path.join(tmp.dir, 'cli-gpu'), '--device', 'gpu', '--seed', '11']);
    expect(g.status, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/^device: gpu: .+/m);
    const c = runCli(['merge', file, '--out', path.join(tmp.dir, 'cli-cpu'), '--device', 'cpu', '--seed', '11']);
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^device: cpu$/m);
    const d = compare(path.join(tmp.dir, 'cli-cpu'), path.join(tmp.dir, 'cli-gpu'));
    expect(d.maxUlp).toBeLessThanOrEqual(1);
    const bad = runCli(['merge', file, '--out', path.join(tmp.dir, 'cli-bad'), '--device', 'tpu']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('CLI_E_ARG: --device must be one of auto, cpu, gpu');
  });
});
