// Layer swapping as a search space: the per-layer weights against a hand-worked table, the exported
// `slices` recipe merged by the streaming engine against a float64 computation from that table, and
// studies over tiny Llama checkpoints scored by a command: random search finds the planted swap
// pattern, the exported best trial scores what the study recorded, cmaes and nsga2 run on it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { mergeHostParams } from '../src/merge/host-merge.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { exportTrial } from '../src/search/export.ts';
import { runStudy } from '../src/search/run-study.ts';
import { SearchSpace } from '../src/search/space.ts';
import { parseStudyConfig } from '../src/search/study-config.ts';
import { recipeFor, recipeYaml } from '../src/search/to-recipe.ts';
import { StudyStore } from '../src/study/index.ts';
import { runCommandEvaluator } from '../evaluators/index.ts';
import { writeSyntheticLlama, type LlamaShape } from '../src/zoo/synthetic-llama.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';

const SHAPE: LlamaShape = { hidden: 16, intermediate: 24, layers: 6, vocab: 32, heads: 2, kvHeads: 1 };
const LAYERS = Array.from({ length: 6 }, (_, l) => `model.layers.${l}.mlp.up_proj.weight`);
const TENSORS = ['model.embed_tokens.weight', ...LAYERS, 'model.norm.weight', 'lm_head.weight'];

// Scores a merged checkpoint by how close each layer's input_layernorm is to the target's (a
// checkpoint folder given as the second argument): fit = −Σ_l mean |merged − target|.
const SCORER = `
import fs from 'node:fs';
const load = (dir) => {
  const buf = fs.readFileSync(dir + '/model.safetensors');
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString());
  return (name) => { const [a, b] = header[name].data_offsets; return new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + n + a, buf.byteOffset + 8 + n + b)); };
};
const got = load(process.argv[2]);
const want = load(process.argv[3]);
let fit = 0;
for (let l = 0; l < 6; l++) {
  const name = 'model.layers.' + l + '.input_layernorm.weight';
  const g = got(name), w = want(name);
  for (let i = 0; i < g.length; i++) fit -= Math.abs(g[i] - w[i]) / g.length;
}
console.log(JSON.stringify({ fit, neg_fit: -fit }));
`;

let tmp: { dir: string; cleanup: () => void };
let experts: string[];
let target: string;

beforeAll(async () => {
  tmp = makeTmp('mergesearch-layer-swap-');
  experts = ['lang', 'math', 'code'].map((n, i) => path.join(tmp.dir, 'models', n));
  experts.forEach((d, i) => writeSyntheticLlama(d, SHAPE, { seed: 40 + i, dtype: 'F32' }));
  // The planted answer: the paper's shape — the language expert at the bottom and top, math in the middle.
  fs.writeFileSync(path.join(tmp.dir, 'scorer.mjs'), SCORER);
  target = path.join(tmp.dir, 'target');
  const recipe = `merge_method: passthrough
slices:
  - sources: [{model: ${experts[0]}, layer_range: [0, 2]}]
  - sources: [{model: ${experts[1]}, layer_range: [2, 4]}]
  - sources: [{model: ${experts[0]}, layer_range: [4, 6]}]
`;
  await mergeToFolder(parseRecipe(recipe, path.join(tmp.dir, 'target.yaml')), { out: target, threads: 1 });
});

afterAll(() => tmp?.cleanup());

describe('layer-swap weights', () => {
  it('blocks of 2 with a blend of 1 give the hand-worked table', () => {
    const space = new SearchSpace({ method: 'linear', granularity: 'layer', parameters: {}, layerSwap: { blockSize: 2, blend: 1 } }, TENSORS, ['a', 'b']);
    expect(space.dim).toBe(4);
    expect(space.names).toEqual(['expert[layers 0-1]', 'expert[layers 2-3]', 'expert[layers 4-5]', 'blend']);
    expect(space.high).toEqual([2, 2, 2, 2]);
    // Blocks a, b, a; blend 1: seams at layers 2 (a→b) and 4 (b→a), one layer blended on each side.
    // Layer 1: α_b = (1 − 1 + ½)/2 = ¼; layer 2: ¾; layer 3: α_a = ¼; layer 4: ¾.
    const x = [0.3, 1.7, 0.2, 1.5];
    const table = [
      [1, 0],
      [0.75, 0.25],
      [0.25, 0.75],
      [0.75, 0.25].reverse(),
      [0.75, 0.25],
      [1, 0],
    ];
    expect(space.layerSwap!.layerWeights(x)).toEqual(table);
    for (let l = 0; l < 6; l++) expect(space.paramsFor(x, LAYERS[l]!).perModel.map((p) => p.weight)).toEqual(table[l]);
    // Embeddings with layer 0, final norm and head with layer 5.
    expect(space.paramsFor(x, 'model.embed_tokens.weight').perModel.map((p) => p.weight)).toEqual([1, 0]);
    expect(space.paramsFor(x, 'lm_head.weight').perModel.map((p) => p.weight)).toEqual([1, 0]);
    expect(space.decode(x).parameters.expert!.values).toEqual([0, 1, 0]);
    expect(space.encode(space.decode(x))).toEqual([0.5, 1.5, 0.5, 1.5]);
  });

  it('a blend never reaches past the middle of a short run: single-layer runs get hard seams', () => {
    const space = new SearchSpace({ method: 'linear', granularity: 'layer', parameters: {}, layerSwap: { blockSize: 1, blend: 3 } }, TENSORS, ['a', 'b', 'c']);
    // Runs: a a a a | c | b  → seam a→c: w' = min(3, 2, 0) = 0; seam c→b: 0. Hard.
    expect(space.layerSwap!.layerWeights([0, 0, 0, 0, 2.9, 1.2, 3.5])).toEqual([
      [1, 0, 0],
      [1, 0, 0],
      [1, 0, 0],
      [1, 0, 0],
      [0, 0, 1],
      [0, 1, 0],
    ]);
    // Runs a a a a | b b, blend 3: w' = min(3, 2, 1) = 1: layers 3 and 4 at ¼ and ¾ of b.
    expect(space.layerSwap!.layerWeights([0, 0, 0, 0, 1, 1, 3.5]).slice(3, 5)).toEqual([
      [0.75, 0.25, 0],
      [0.25, 0.75, 0],
    ]);
  });

  it('the exported slices recipe, merged by the streaming engine, is Σ weight · expert per layer (float64)', async () => {
    const names = [...(Checkpoint.open(experts[0]!).tensors.keys())];
    const space = new SearchSpace({ method: 'linear', granularity: 'layer', parameters: {}, layerSwap: { blockSize: 2, blend: 1 } }, names, ['lang', 'math']);
    const x = [0.3, 1.7, 0.2, 1.5];
    const recipeObject = recipeFor(space, x, { base: experts[0]!, experts: experts.slice(0, 2) }, { numLayers: 6 });
    // Runs of equal weights: layer 0 | 1 | 2-3 | 4 | 5.
    expect((recipeObject.slices as Array<{ sources: Array<{ layer_range: number[] }> }>).map((sl) => sl.sources[0]!.layer_range)).toEqual([[0, 1], [1, 2], [2, 4], [4, 5], [5, 6]]);
    const out = path.join(tmp.dir, 'swap-out');
    await mergeToFolder(parseRecipe(recipeYaml(recipeObject), path.join(tmp.dir, 'swap.yaml')), { out, threads: 1 });
    const table = [
      [1, 0],
      [0.75, 0.25],
      [0.25, 0.75],
      [0.25, 0.75],
      [0.75, 0.25],
      [1, 0],
    ];
    const [a, b] = experts.slice(0, 2).map((d) => Checkpoint.open(d));
    const merged = Checkpoint.open(out);
    try {
      expect(merged.tensors.size).toBe(a!.tensors.size);
      for (const name of merged.tensors.keys()) {
        const m = /layers\.(\d+)\./.exec(name);
        const w = table[m ? Number(m[1]) : name.includes('embed') ? 0 : 5]!;
        const av = a!.readF32(name);
        const bv = b!.readF32(name);
        const have = merged.readF32(name);
        for (let e = 0; e < have.length; e++) {
          const want = w[0]! * av[e]! + w[1]! * bv[e]!;
          expect(Math.abs(have[e]! - want), `${name}[${e}]`).toBeLessThanOrEqual(2 ** -22 * (Math.abs(av[e]!) + Math.abs(bv[e]!)));
        }
      }
    } finally {
      [a, b, merged].forEach((c) => c!.close());
    }
  });

  it('the in-memory candidate a zoo search scores is the checkpoint the export writes, bit for bit', async () => {
    const opened = experts.map((d) => Checkpoint.open(d));
    const names = [...opened[0]!.tensors.keys()];
    const host = (c: Checkpoint) => new Map(names.map((n) => [n, { shape: c.info(n).shape, values: c.readF32(n) }]));
    const space = new SearchSpace({ method: 'linear', granularity: 'layer', parameters: {}, layerSwap: { blockSize: 1, blend: 2 } }, names, ['lang', 'math', 'code']);
    // Runs lang ×3 | code ×2 | math: seams blended over w' = min(2, 1, 1) = 1 and min(2, 1, 0) = 0 layers.
    const x = [0.1, 0.9, 0.5, 2.2, 2.7, 1.4, 2.9];
    const inMemory = mergeHostParams({ base: host(opened[0]!), experts: opened.map(host), numLayers: 6 }, names, 'linear', (n) => space.paramsFor(x, n));
    opened.forEach((c) => c.close());
    const out = path.join(tmp.dir, 'swap-in-memory');
    await mergeToFolder(parseRecipe(recipeYaml(recipeFor(space, x, { base: experts[0]!, experts }, { numLayers: 6 })), path.join(tmp.dir, 'x.yaml')), { out, threads: 1 });
    const merged = Checkpoint.open(out);
    try {
      expect(space.layerSwap!.layerWeights(x)[2]).toEqual([0.75, 0, 0.25]);
      for (const n of names) expect(Buffer.from(merged.readF32(n).buffer).equals(Buffer.from(inMemory.get(n)!.values.buffer)), n).toBe(true);
    } finally {
      merged.close();
    }
  });
});

describe('layer-swap studies', () => {
  const studyConfig = (name: string, optimizer: string, trials: number, space = '{layer_swap: {block_size: 2}}') =>
    parseStudyConfig(
      `name: ${name}
seed: 1
checkpoints: {base: models/lang, experts: [models/lang, models/math, models/code]}
space: ${space}
objectives:
  - {name: fit, command: "node scorer.mjs {checkpoint} target", direction: maximize}
  - {name: neg_fit, command: "node scorer.mjs {checkpoint} target", direction: minimize}
optimizer: ${optimizer}
budget: {trials: ${trials}}
`,
      'layer-swap.yaml',
      { dir: tmp.dir },
    );

  it('a grid over the 27 patterns finds the planted one, and the exported best trial scores what the study recorded', async () => {
    const db = path.join(tmp.dir, 'swap.db');
    const cwd = process.cwd();
    process.chdir(tmp.dir); // the scorer's relative paths
    try {
      // 3 points per coordinate over [0, 3): 0, 1.5 and 3 pick experts 0, 1 and 2 — every pattern once.
      const r = await runStudy({ config: studyConfig('grid-swap', 'grid', 27), db });
      expect(r.trials).toBe(27);
      const store = StudyStore.open(db, { readonly: true });
      const done = store.trials(r.study.id, { states: ['COMPLETE'] });
      store.close();
      expect(done).toHaveLength(27);
      expect(new Set(done.map((t) => JSON.stringify((t.decoded as { parameters: { expert: { values: number[] } } }).parameters.expert.values))).size).toBe(27);
      const best = done.reduce((p, t) => (t.values![0]! > p.values![0]! ? t : p));
      // 27 patterns (3 experts, 3 blocks): the planted one scores exactly 0, every other below.
      expect(best.values![0]).toBe(0);
      expect((best.decoded as { parameters: { expert: { values: number[] } } }).parameters.expert.values).toEqual([0, 1, 0]);
      const out = path.join(tmp.dir, 'best');
      const ex = await exportTrial({ db, study: 'grid-swap', trial: best.number, out, threads: 1 });
      expect(ex.recipe).toContain('slices:');
      expect(ex.recipe).toContain('merge_method: linear');
      const rescored = await runCommandEvaluator({ command: `node scorer.mjs ${out} target`, checkpointDir: out, timeoutMs: 60_000 });
      expect(rescored.fit).toBe(best.values![0]);
      // The export is the planted frankenmerge itself, tensor by tensor, bit for bit.
      const [got, want] = [Checkpoint.open(out), Checkpoint.open(target)];
      try {
        expect([...got.tensors.keys()].sort()).toEqual([...want.tensors.keys()].sort());
        for (const name of want.tensors.keys()) expect(Buffer.from(got.readRaw(name)).equals(Buffer.from(want.readRaw(name))), name).toBe(true);
      } finally {
        got.close();
        want.close();
      }
    } finally {
      process.chdir(cwd);
    }
  }, 300_000);

  it.each(['random', 'cmaes', 'nsga2'])('%s searches a blended layer-swap space', async (optimizer) => {
    const db = path.join(tmp.dir, `${optimizer}.db`);
    const cwd = process.cwd();
    process.chdir(tmp.dir);
    try {
      const r = await runStudy({ config: studyConfig(`${optimizer}-swap`, optimizer === 'nsga2' ? '{name: nsga2, population: 4}' : optimizer, 8, '{layer_swap: {block_size: 2, blend: 1}}'), db });
      const store = StudyStore.open(db, { readonly: true });
      const done = store.trials(r.study.id, { states: ['COMPLETE'] });
      store.close();
      expect(done).toHaveLength(8);
      for (const t of done) {
        t.x.forEach((v, i) => expect(v >= 0 && v <= (i < 3 ? 3 : 2), `${t.x}`).toBe(true));
        // fit and neg_fit are one score, read from one command run.
        expect(t.values![1]! + t.values![0]!).toBe(0);
      }
    } finally {
      process.chdir(cwd);
    }
  }, 300_000);

  it('refuses what cannot work: searched parameters beside layer_swap, a gradient optimizer, one expert', async () => {
    expectCode(() => studyConfigText(`{layer_swap: {block_size: 2}, parameters: {weight: {low: 0, high: 1}}}`), 'CONFIG_E_FIELD', 'space.parameters', 'layer_swap');
    expectCode(() => studyConfigText(`{layer_swap: {block_sise: 2}}`), 'CONFIG_E_FIELD', 'layer_swap.block_sise');
    expectCode(() => new SearchSpace({ method: 'linear', granularity: 'layer', parameters: {}, layerSwap: { blockSize: 7, blend: 0 } }, TENSORS, ['a', 'b']), 'SEARCH_E_SPACE', 'block_size');
    expectCode(() => new SearchSpace({ method: 'linear', granularity: 'layer', parameters: {}, layerSwap: { blockSize: 1, blend: 0 } }, TENSORS, ['a']), 'SEARCH_E_SPACE', 'at least two');
    const db = path.join(tmp.dir, 'grad.db');
    const cwd = process.cwd();
    process.chdir(tmp.dir);
    try {
      let thrown: unknown;
      await runStudy({ config: studyConfig('grad-swap', 'adamerging', 2), db }).catch((e) => (thrown = e));
      expect((thrown as { code?: string }).code).toBe('SEARCH_E_OPTIMIZER');
      expect(String(thrown)).toContain('discrete');
    } finally {
      process.chdir(cwd);
    }
  });
});

function studyConfigText(space: string) {
  return parseStudyConfig(
    `checkpoints: {base: a, experts: [a, b]}\nspace: ${space}\nobjectives: [{name: s, command: "true", direction: maximize}]\noptimizer: random\nbudget: {trials: 1}\n`,
    'bad.yaml',
  );
}
