// The SVD-family merges on the streaming path: a weight large enough to be split into several row
// chunks (the executor's chunks hold ~1M elements), merged with chunks kept between passes or re-read
// on every pass, on the main thread or on worker threads — the same bytes every time, and equal to
// mergeTensorInMemory on the same inputs; and one recipe end to end through `mergesearch merge`.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { seededRandom } from '../src/tensor/random.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { runCli, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

// 140000×8: 131072 rows per chunk, so 2 chunks; the rest are small enough for one.
const TENSORS = [
  { name: 'model.layers.0.mlp.up_proj.weight', shape: [140_000, 8] },
  { name: 'model.layers.0.self_attn.q_proj.weight', shape: [12, 9] },
  { name: 'model.layers.0.input_layernorm.weight', shape: [9] },
  { name: 'model.embed_tokens.weight', shape: [6, 9] },
];

let tmp: { dir: string; cleanup: () => void };
let dirs: string[];

function values(seed: number, n: number, base?: Float32Array): number[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => (base ? base[i]! + 0.05 * (r() - 0.5) : r() - 0.5));
}

beforeAll(() => {
  tmp = makeTmp('ms-svd-stream-');
  const base = TENSORS.map((t, i) => Float32Array.from(values(100 + i, t.shape.reduce((a, b) => a * b, 1))));
  dirs = [0, 1, 2, 3].map((m) =>
    writeHandCheckpoint(
      path.join(tmp.dir, m === 0 ? 'base' : `expert-${m}`),
      TENSORS.map((t, i) => ({ ...t, values: m === 0 ? Array.from(base[i]!) : values(10 * m + i, base[i]!.length, base[i]) })),
      { model_type: 'llama', num_hidden_layers: 1 },
    ),
  );
}, 60_000);
afterAll(() => tmp?.cleanup());

function recipe(method: string, params: string, modelParams = ''): string {
  const [base, ...experts] = dirs;
  const models = experts.map((d) => `  - model: ${d}${modelParams ? `\n    parameters: { ${modelParams} }` : ''}`).join('\n');
  return `merge_method: ${method}\nbase_model: ${base}\nparameters: { ${params} }\nmodels:\n${models}\n`;
}

const CASES: Array<[string, string, Record<string, number>]> = [
  ['tsv_m', 'alpha: 0.8', { alpha: 0.8 }],
  ['iso_c', 'alpha: 1.2', { alpha: 1.2 }],
  ['iso_cts', 'alpha: 1.0, common_space_fraction: 0.5', { alpha: 1.0, common_space_fraction: 0.5 }],
  ['cart', 'alpha: 1.5, rank_fraction: 0.25', { alpha: 1.5, rank_fraction: 0.25 }],
];

describe.each(CASES)('%s', (method, params, global) => {
  it('streams the same bytes kept or re-read, on 1 or 2 threads, equal to the in-memory merge', async () => {
    const runs = [
      { name: 'kept-1', threads: 1, memoryBudget: 4e9 },
      { name: 'reread-2', threads: 2, memoryBudget: 1e6 },
    ];
    const files: Buffer[] = [];
    for (const r of runs) {
      const out = path.join(tmp.dir, `${method}-${r.name}`);
      await mergeToFolder(parseRecipe(recipe(method, params)), { out, seed: 5, threads: r.threads, memoryBudget: r.memoryBudget });
      files.push(fs.readFileSync(path.join(out, 'model.safetensors')));
    }
    expect(files[1]!.equals(files[0]!)).toBe(true);
    const merged = Checkpoint.open(path.join(tmp.dir, `${method}-kept-1`));
    const inputs = dirs.map((d) => Checkpoint.open(d));
    try {
      for (const t of TENSORS) {
        const [base, ...models] = inputs.map((c) => c.readF32(t.name));
        const expected = mergeTensorInMemory({ method, name: t.name, shape: t.shape, base, models, global, seed: 5 });
        const got = merged.readF32(t.name);
        let worst = 0;
        for (let e = 0; e < got.length; e++) worst = Math.max(worst, Math.abs(got[e]! - expected[e]!));
        expect(worst, t.name).toBeLessThanOrEqual(1e-6);
        if (t.name.includes('up_proj')) expect(got.some((v, e) => v !== base![e])).toBe(true);
      }
    } finally {
      merged.close();
      inputs.forEach((c) => c.close());
    }
  }, 60_000);
});

describe('mergesearch merge with an SVD-family recipe', () => {
  it('tsv_m with per-model weights: exit 0, tensors equal to the in-memory merge', () => {
    const file = path.join(tmp.dir, 'tsv.yaml');
    fs.writeFileSync(file, recipe('tsv_m', 'alpha: 0.9, rank_fraction: 0.5', 'weight: 0.7'));
    const out = path.join(tmp.dir, 'cli-tsv');
    const r = runCli(['merge', file, '--out', out, '--seed', '2']);
    expect(r.status, r.stderr).toBe(0);
    const merged = Checkpoint.open(out);
    const inputs = dirs.map((d) => Checkpoint.open(d));
    try {
      for (const t of TENSORS) {
        const [base, ...models] = inputs.map((c) => c.readF32(t.name));
        const expected = mergeTensorInMemory({
          method: 'tsv_m',
          name: t.name,
          shape: t.shape,
          base,
          models,
          global: { alpha: 0.9, rank_fraction: 0.5 },
          perModel: models.map(() => ({ weight: 0.7 })),
          seed: 2,
        });
        const got = merged.readF32(t.name);
        let worst = 0;
        for (let e = 0; e < got.length; e++) worst = Math.max(worst, Math.abs(got[e]! - expected[e]!));
        expect(worst, t.name).toBeLessThanOrEqual(1e-6);
      }
    } finally {
      merged.close();
      inputs.forEach((c) => c.close());
    }
  }, 120_000);
});
