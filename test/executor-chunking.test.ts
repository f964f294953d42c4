// The streaming executor must give byte-identical checkpoints whatever the chunking: one chunk per
// tensor, many chunks kept between statistics passes, or chunks re-read on every pass (a memory
// budget too small to keep them), on the main thread or on worker threads.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { writeSyntheticFamily, type LlamaShape } from '../src/zoo/synthetic-llama.ts';

// Wide enough that the large tensors are split into several chunks (chunks hold ~1M elements).
const SHAPE: LlamaShape = { hidden: 512, intermediate: 2560, layers: 2, vocab: 2200, heads: 4, kvHeads: 2 };
let root: string;
let dirs: string[];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-exec-'));
  dirs = writeSyntheticFamily(path.join(root, 'models'), SHAPE, 3, { seed: 11, dtype: 'F16' });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function recipe(method: string, params: string): string {
  const [base, ...experts] = dirs;
  return `merge_method: ${method}\nbase_model: ${base}\nmodels:\n${experts.map((d) => `  - model: ${d}\n    parameters: { ${params} }`).join('\n')}\n`;
}

const CASES: Array<[string, string]> = [
  ['ties', 'weight: 1.0, density: 0.2'],
  ['dare_ties', 'weight: 0.5, density: 0.3'],
  ['breadcrumbs_ties', 'weight: 0.7, density: 0.5, gamma: 0.02'],
  ['della', 'weight: 0.5, density: 0.4'],
  ['task_arithmetic', 'weight: 0.4'],
  ['widen', ''],
  ['model_stock', ''],
];

describe.each(CASES)('%s', (method, params) => {
  it('writes the same bytes with whole tensors, kept chunks, re-read chunks and 1 or 2 threads', async () => {
    const runs = [
      { name: 'whole-1', threads: 1, memoryBudget: 4e9 },
      { name: 'kept-2', threads: 2, memoryBudget: 4e9 },
      { name: 'reread-1', threads: 1, memoryBudget: 1e6 },
      { name: 'reread-2', threads: 2, memoryBudget: 1e6 },
    ];
    const files: Buffer[] = [];
    for (const r of runs) {
      const out = path.join(root, `${method}-${r.name}`);
      await mergeToFolder(parseRecipe(recipe(method, params)), { out, seed: 5, threads: r.threads, memoryBudget: r.memoryBudget });
      files.push(fs.readFileSync(path.join(out, 'model.safetensors')));
    }
    const base = fs.readFileSync(path.join(dirs[0]!, 'model.safetensors'));
    expect(files[0]!.equals(base)).toBe(false); // the merge changed something
    for (const f of files.slice(1)) expect(f.equals(files[0]!)).toBe(true);
  });
});
