// The streaming executor writes the same checkpoint bytes on the wasm kernels (chunk data in the
// kernel heap, worker threads each with their own instance) as on the JavaScript reference kernels,
// for linear, the task-vector family and WIDEN, in f16, bf16 and f32.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { KERNEL_ENV } from '../src/tensor/kernel-backend.ts';
import { writeSyntheticFamily, type LlamaShape } from '../src/zoo/synthetic-llama.ts';

// The MLP matrices (4608 × 256 ≈ 1.2 M elements) split into two chunks and go to the workers.
const SHAPE: LlamaShape = { hidden: 256, intermediate: 4608, layers: 1, vocab: 300, heads: 4, kvHeads: 2 };
let root: string;
const families: Record<string, string[]> = {};

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-kern-'));
  families.F16 = writeSyntheticFamily(path.join(root, 'f16'), SHAPE, 3, { seed: 3, dtype: 'F16' });
  families.BF16 = writeSyntheticFamily(path.join(root, 'bf16'), SHAPE, 3, { seed: 4, dtype: 'BF16' });
  families.F32 = writeSyntheticFamily(path.join(root, 'f32'), SHAPE, 2, { seed: 5, dtype: 'F32' });
});
afterAll(() => {
  delete process.env[KERNEL_ENV];
  fs.rmSync(root, { recursive: true, force: true });
});

function recipe(dirs: string[], method: string, params: string): string {
  const [base, ...experts] = dirs;
  const models = (method === 'linear' ? dirs : experts).map((d) => `  - model: ${d}\n    parameters: { ${params} }`).join('\n');
  return `merge_method: ${method}\n${method === 'linear' ? '' : `base_model: ${base}\n`}models:\n${models}\n`;
}

const CASES: Array<[string, string, string]> = [
  ['linear', 'weight: 0.3', 'F16'],
  ['linear', 'weight: 0.3', 'BF16'],
  ['task_arithmetic', 'weight: 0.4', 'BF16'],
  ['ties', 'weight: 1.0, density: 0.2', 'F16'],
  ['ties', 'weight: 0.6, density: 0.5', 'BF16'],
  ['dare_ties', 'weight: 0.5, density: 0.3', 'F16'],
  ['dare_linear', 'weight: 0.5, density: 0.3', 'BF16'],
  ['breadcrumbs_ties', 'weight: 0.7, density: 0.5, gamma: 0.02', 'F16'],
  ['widen', '', 'BF16'],
  ['ties', 'weight: 0.8, density: 0.3', 'F32'],
];

describe.each(CASES)('%s (%s) in %s', (method, params, dtype) => {
  it('writes the same bytes with the wasm and the JavaScript kernels, on 1 and 2 threads', async () => {
    const files: Buffer[] = [];
    for (const [backend, threads] of [['js', 2], ['wasm', 2], ['wasm', 1]] as const) {
      process.env[KERNEL_ENV] = backend;
      const out = path.join(root, `${method}-${dtype}-${backend}-${threads}`);
      await mergeToFolder(parseRecipe(recipe(families[dtype]!, method, params)), { out, seed: 9, threads });
      files.push(fs.readFileSync(path.join(out, 'model.safetensors')));
      fs.rmSync(out, { recursive: true, force: true });
    }
    const base = fs.readFileSync(path.join(families[dtype]![0]!, 'model.safetensors'));
    expect(files[0]!.equals(base)).toBe(false);
    expect(files[1]!.equals(files[0]!)).toBe(true);
    expect(files[2]!.equals(files[0]!)).toBe(true);
  });
});
