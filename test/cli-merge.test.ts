// End to end through the real CLI (`node bin/mergesearch.js`, a child process): a TIES merge of
// synthetic Llama-shaped checkpoints into a sharded folder with side files, every merged tensor
// checked against mergeTensorInMemory, seeds and thread counts checked for determinism, and the
// `inspect` verb and error exits.
//
// The family is TINY_LLAMA with a 20000-token vocabulary: embed_tokens and lm_head then hold
// 1.28 M elements, more than one row chunk (2^20 elements) and above the parallel threshold
// (2^18), so --threads 2 really merges them in two worker threads, in chunks, with the TIES
// top-k selection and the DARE L1 norms computed across chunks.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint, INDEX_FILE, layerIndexOf } from '../src/io/checkpoint.ts';
import { mergeTensorInMemory } from '../src/merge/in-memory.ts';
import type { Scalar } from '../src/merge/parameters.ts';
import { planMerge } from '../src/merge/plan.ts';
import { readRecipeFile } from '../src/merge/recipe.ts';
import { tensorSeed } from '../src/tensor/random.ts';
import { TINY_LLAMA, writeSyntheticFamily, type LlamaShape } from '../src/zoo/synthetic-llama.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import {
  expectNoOutput,
  f16BitsOf,
  f16UlpDistance,
  readTree,
  runCli,
  toF16Bits,
  writeHandCheckpoint,
  writeRecipe,
  type CliResult,
} from './helpers/recipe-fixtures.ts';

const SHAPE: LlamaShape = { ...TINY_LLAMA, vocab: 20000 };
const LAYERS = SHAPE.layers;

const TIES_RECIPE = `# TIES over three experts; the base is listed among the models, as mergekit allows
merge_method: ties
base_model: base
models:
  - model: base
  - model: expert-1
    parameters:
      weight: [0.2, 1.0]
      density: 0.5
  - model: expert-2
    parameters:
      weight: 0.6
      density: [{filter: self_attn, value: 0.3}, {value: 0.8}]
  - model: expert-3
    parameters:
      density: 0.7
parameters:
  weight: 0.4
  lambda: 1.1
dtype: float16
tokenizer_source: base
`;

/**
 * The parameters TIES_RECIPE means for one tensor, worked out here rather than by planMerge.
 * The gradient is interpolated as mergekit writes it, (1 − t)·a + t·b, to the last bit: TIES' sign
 * election is discontinuous where the weighted task vectors cancel exactly, which f16 inputs and
 * round weights make happen (layer 2 q_proj element 190 here: 11/15·201 − 0.6·185 − 0.4·91 = 0),
 * so 0.2 + 0.8·t, one ulp off, flips that element by hundreds of f16 ulps.
 */
function tiesParams(name: string): { global: Record<string, Scalar>; perModel: Array<Record<string, Scalar>>; t: number } {
  const layer = layerIndexOf(name);
  const t = layer === undefined ? 0 : layer / (LAYERS - 1);
  return {
    t,
    global: { lambda: 1.1 },
    perModel: [
      { weight: (1 - t) * 0.2 + t * 1.0, density: 0.5 },
      { weight: 0.6, density: name.includes('self_attn') ? 0.3 : 0.8 },
      { weight: 0.4, density: 0.7 },
    ],
  };
}

const DARE_RECIPE = `merge_method: dare_ties
base_model: base
parameters:
  weight: 0.5
  density: 0.6
models:
  - model: expert-1
  - model: expert-2
    parameters: {weight: 0.3, density: 0.4}
  - model: expert-3
dtype: float16
`;

function dareParams(): { global: Record<string, Scalar>; perModel: Array<Record<string, Scalar>> } {
  return {
    global: {},
    perModel: [
      { weight: 0.5, density: 0.6 },
      { weight: 0.3, density: 0.4 },
      { weight: 0.5, density: 0.6 },
    ],
  };
}

let tmp: { dir: string; cleanup: () => void };
let fam: string;
let dirs: string[]; // base, expert-1..3
let tiesFile: string;
let dareFile: string;
const out = (name: string) => path.join(tmp.dir, 'runs', name, 'merged');
const runs: Record<string, CliResult> = {};
let handA: string;
let handB: string;
let handC: string;

function merge(recipe: string, outDir: string, ...extra: string[]): CliResult {
  return runCli(['merge', recipe, '--out', outDir, '--shard-size', '100KB', ...extra]);
}

function expectOk(r: CliResult): void {
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.status, r.stderr).toBe(0);
}

beforeAll(() => {
  tmp = makeTmp('mergesearch-cli-');
  fam = path.join(tmp.dir, 'family');
  dirs = writeSyntheticFamily(fam, SHAPE, 3, { dtype: 'F16' });
  // the base's tokenizer is the one copied; the experts' differ (a marker) so a wrong pick shows. One
  // vocabulary of SHAPE.vocab tokens for all: tokenizer_source aligns rows by token, so it must fit the embeddings.
  const vocab = Object.fromEntries(Array.from({ length: SHAPE.vocab }, (_, i) => [`t${i}`, i]));
  dirs.forEach((d, i) => fs.writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify({ version: '1.0', marker: i === 0 ? 'base' : 'expert', model: { type: 'BPE', vocab } })));
  tiesFile = writeRecipe(fam, 'ties', TIES_RECIPE);
  dareFile = writeRecipe(fam, 'dare', DARE_RECIPE);
  runs.ties2 = merge(tiesFile, out('ties-t2'), '--seed', '3', '--threads', '2');
  runs.ties1 = merge(tiesFile, out('ties-t1'), '--seed', '3', '--threads', '1');
  runs.dare3a = merge(dareFile, out('dare-s3-a'), '--seed', '3', '--threads', '2');
  runs.dare3b = merge(dareFile, out('dare-s3-b'), '--seed', '3', '--threads', '1');
  runs.dare4 = merge(dareFile, out('dare-s4'), '--seed', '4', '--threads', '2');
  // small hand-made checkpoints: a and c can be merged, b differs from both
  handA = writeHandCheckpoint(path.join(tmp.dir, 'hand-a'), [
    { name: 'model.layers.0.mlp.up_proj.weight', shape: [2, 3] },
    { name: 'model.norm.weight', shape: [3] },
  ]);
  handB = writeHandCheckpoint(path.join(tmp.dir, 'hand-b'), [
    { name: 'model.layers.0.mlp.up_proj.weight', shape: [4, 3] },
    { name: 'model.extra.weight', shape: [3] },
  ]);
  handC = writeHandCheckpoint(path.join(tmp.dir, 'hand-c'), [
    { name: 'model.layers.0.mlp.up_proj.weight', shape: [2, 3], values: [1, 2, 3, 4, 5, 6] },
    { name: 'model.norm.weight', shape: [3], values: [1, 1, 1] },
  ]);
});

afterAll(() => tmp?.cleanup());

/** Every tensor of the merged folder against mergeTensorInMemory on the decoded inputs. */
function compareWithInMemory(
  outDir: string,
  method: string,
  seed: number,
  params: (name: string) => { global: Record<string, Scalar>; perModel: Array<Record<string, Scalar>>; t?: number },
): { tensors: number; elements: number; exact: number; maxUlp: number } {
  const [base, ...experts] = dirs.map((d) => Checkpoint.open(d));
  const merged = Checkpoint.open(outDir);
  let elements = 0;
  let exact = 0;
  let maxUlp = 0;
  try {
    expect([...merged.tensors.keys()].sort()).toEqual([...base!.tensors.keys()].sort());
    for (const info of base!.tensors.values()) {
      const got = merged.info(info.name);
      expect(got.dtype, info.name).toBe('F16');
      expect(got.shape, info.name).toEqual(info.shape);
      const p = params(info.name);
      const want = toF16Bits(
        mergeTensorInMemory({
          method,
          name: info.name,
          shape: info.shape,
          base: base!.readF32(info.name),
          models: experts.map((e) => e.readF32(info.name)),
          global: p.global,
          perModel: p.perModel,
          t: p.t ?? 0,
          seed,
        }),
      );
      const have = f16BitsOf(merged.readRaw(info.name));
      expect(have.length).toBe(want.length);
      let worst = 0;
      for (let e = 0; e < want.length; e++) {
        const d = f16UlpDistance(have[e]!, want[e]!);
        if (d === 0) exact++;
        if (d > worst) worst = d;
      }
      expect(worst, `${info.name}: merged differs from mergeTensorInMemory by ${worst} f16 ulps`).toBeLessThanOrEqual(1);
      maxUlp = Math.max(maxUlp, worst);
      elements += want.length;
    }
    return { tensors: base!.tensors.size, elements, exact, maxUlp };
  } finally {
    [base!, ...experts, merged].forEach((c) => c.close());
  }
}

describe('mergesearch merge (ties, sharded)', () => {
  it('exits 0 and reports what it wrote', () => {
    expectOk(runs.ties2!);
    expect(runs.ties2!.stdout).toMatch(/merged 39 tensors with ties in [\d.]+ s/);
    expect(runs.ties2!.stdout).toContain(`wrote ${out('ties-t2')}`);
    expect(runs.ties2!.stderr).not.toContain('warning');
    expectNoOutputLeftovers(out('ties-t2'));
  });

  it('writes config.json (the base config; torch_dtype from the recipe), the tokenizer, the recipe and a model card', () => {
    const o = out('ties-t2');
    const files = fs.readdirSync(o);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'mergekit_config.yml', 'README.md', INDEX_FILE]) expect(files).toContain(f);
    const cfg = JSON.parse(fs.readFileSync(path.join(o, 'config.json'), 'utf8')) as Record<string, unknown>;
    const baseCfg = JSON.parse(fs.readFileSync(path.join(dirs[0]!, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg.torch_dtype).toBe('float16');
    const { torch_dtype: _a, ...restOut } = cfg;
    const { torch_dtype: _b, ...restBase } = baseCfg;
    expect(restOut).toEqual(restBase);
    expect(fs.readFileSync(path.join(o, 'tokenizer.json'))).toEqual(fs.readFileSync(path.join(dirs[0]!, 'tokenizer.json')));
    expect(fs.readFileSync(path.join(o, 'tokenizer_config.json'))).toEqual(fs.readFileSync(path.join(dirs[0]!, 'tokenizer_config.json')));
    expect(fs.readFileSync(path.join(o, 'mergekit_config.yml'), 'utf8')).toBe(TIES_RECIPE);
  });

  it('README.md names the method, the base and every expert, and holds the recipe', () => {
    const readme = fs.readFileSync(path.join(out('ties-t2'), 'README.md'), 'utf8');
    expect(readme).toContain('# merged');
    expect(readme).toContain('ties merge method');
    expect(readme).toContain('using base as a base');
    for (const e of ['expert-1', 'expert-2', 'expert-3']) expect(readme).toContain(`* ${e}`);
    expect(readme).not.toContain('* base\n');
    expect(readme).toContain('```yaml\n' + TIES_RECIPE.trimEnd() + '\n```');
  });

  it('shards at 100KB with an index whose total_size is the sum of tensor bytes', () => {
    const o = out('ties-t2');
    const index = JSON.parse(fs.readFileSync(path.join(o, INDEX_FILE), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const shards = fs.readdirSync(o).filter((f) => f.endsWith('.safetensors')).sort();
    expect(shards.length).toBeGreaterThan(2);
    shards.forEach((s, i) => expect(s).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
    expect(fs.existsSync(path.join(o, 'model.safetensors'))).toBe(false);
    expect([...new Set(Object.values(index.weight_map))].sort()).toEqual(shards);
    const merged = Checkpoint.open(o);
    const base = Checkpoint.open(dirs[0]!);
    try {
      expect(Object.keys(index.weight_map).sort()).toEqual([...base.tensors.keys()].sort());
      let total = 0;
      for (const t of merged.tensors.values()) {
        expect(t.byteLength).toBe(t.numel * 2);
        expect(path.basename(t.file)).toBe(index.weight_map[t.name]);
        total += t.byteLength;
      }
      expect(index.metadata.total_size).toBe(total);
      expect(total).toBe(base.totalBytes());
      // each shard stays within 100 kB of tensor data unless it holds one larger tensor
      for (const s of shards) {
        const inShard = [...merged.tensors.values()].filter((t) => path.basename(t.file) === s);
        const bytes = inShard.reduce((a, t) => a + t.byteLength, 0);
        if (inShard.length > 1) expect(bytes, s).toBeLessThanOrEqual(100_000);
      }
    } finally {
      merged.close();
      base.close();
    }
  });

  it('the parameters worked out by hand are the ones planMerge resolves', () => {
    const plan = planMerge(readRecipeFile(tiesFile), 3);
    try {
      expect(plan.jobs).toHaveLength(39);
      for (const job of plan.jobs) {
        const p = tiesParams(job.name);
        expect(job.ctx.t, job.name).toBe(p.t);
        expect(job.ctx.perModel, job.name).toEqual(p.perModel);
        expect(job.ctx.global.lambda).toBe(1.1);
        expect(job.ctx.seed).toBe(tensorSeed(3, job.name));
      }
    } finally {
      plan.close();
    }
  });

  it('every merged tensor equals mergeTensorInMemory on the inputs (within 1 f16 ulp)', () => {
    const r = compareWithInMemory(out('ties-t2'), 'ties', 3, tiesParams);
    expect(r.tensors).toBe(39);
    expect(r.maxUlp).toBeLessThanOrEqual(1);
    // and the merge is not the base: check a tensor moved
    const base = Checkpoint.open(dirs[0]!);
    const merged = Checkpoint.open(out('ties-t2'));
    try {
      expect(Buffer.from(merged.readRaw('model.layers.3.mlp.up_proj.weight')).equals(Buffer.from(base.readRaw('model.layers.3.mlp.up_proj.weight')))).toBe(false);
    } finally {
      base.close();
      merged.close();
    }
  });

  it('--threads 1 and --threads 2 write byte-identical folders', () => {
    expectOk(runs.ties1!);
    const a = readTree(out('ties-t1'));
    const b = readTree(out('ties-t2'));
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [f, bytes] of a) expect(bytes.equals(b.get(f)!), f).toBe(true);
  });
});

describe('mergesearch merge (dare_ties, seeded)', () => {
  it('the same seed gives byte-identical output, on 1 or 2 threads', () => {
    expectOk(runs.dare3a!);
    expectOk(runs.dare3b!);
    const a = readTree(out('dare-s3-a'));
    const b = readTree(out('dare-s3-b'));
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [f, bytes] of a) expect(bytes.equals(b.get(f)!), f).toBe(true);
  });

  it('another seed gives different weights (same side files)', () => {
    expectOk(runs.dare4!);
    const a = readTree(out('dare-s3-a'));
    const c = readTree(out('dare-s4'));
    expect([...a.keys()]).toEqual([...c.keys()]);
    for (const f of ['config.json', 'mergekit_config.yml', 'README.md', INDEX_FILE]) expect(a.get(f)!.equals(c.get(f)!), f).toBe(true);
    const shards = [...a.keys()].filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThan(2);
    for (const f of shards) expect(a.get(f)!.equals(c.get(f)!), `${f} should differ between seeds 3 and 4`).toBe(false);
  });

  it('seed 3 equals mergeTensorInMemory with seed 3 (the per-tensor seed is derived the same way)', () => {
    const r = compareWithInMemory(out('dare-s3-a'), 'dare_ties', 3, dareParams);
    expect(r.maxUlp).toBeLessThanOrEqual(1);
  });

  it('and not mergeTensorInMemory with seed 4', () => {
    const base = Checkpoint.open(dirs[0]!);
    const experts = dirs.slice(1).map((d) => Checkpoint.open(d));
    const merged = Checkpoint.open(out('dare-s3-a'));
    try {
      const name = 'model.layers.2.mlp.gate_proj.weight';
      const info = base.info(name);
      const args = { method: 'dare_ties', name, shape: info.shape, base: base.readF32(name), models: experts.map((e) => e.readF32(name)), ...dareParams() };
      const have = f16BitsOf(merged.readRaw(name));
      const far = (seed: number) => {
        const want = toF16Bits(mergeTensorInMemory({ ...args, seed }));
        let n = 0;
        for (let e = 0; e < want.length; e++) if (f16UlpDistance(have[e]!, want[e]!) > 1) n++;
        return n;
      };
      expect(far(3)).toBe(0);
      expect(far(4)).toBeGreaterThan(info.numel / 10);
    } finally {
      [base, ...experts, merged].forEach((c) => c.close());
    }
  });
});

describe('mergesearch merge errors', () => {
  it('a bad recipe exits 2 with the code on stderr and leaves no output folder', () => {
    const file = writeRecipe(fam, 'bad-method', 'merge_method: dare-ties\nbase_model: base\nparameters: {weight: 1}\nmodels: [expert-1]\n');
    const o = out('bad-method');
    const r = merge(file, o);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('RECIPE_E_METHOD');
    expect(r.stderr).toContain('did you mean dare_ties?');
    expect(r.stdout).toBe('');
    expectNoOutput(o);
  });

  it('a missing model exits 2 with RECIPE_E_MODEL', () => {
    const file = writeRecipe(fam, 'bad-model', 'merge_method: ties\nbase_model: base\nparameters: {weight: 1}\nmodels: [expert-9]\n');
    const o = out('bad-model');
    const r = merge(file, o);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: RECIPE_E_MODEL: .*expert-9/m);
    expectNoOutput(o);
  });

  it('recipe warnings go to stderr and the merge still succeeds', () => {
    const file = writeRecipe(tmp.dir, 'warn', `merge_method: linear\nparameters: {weight: 1, t: 0.5}\nmodels: [${handA}, ${handC}]\n`);
    const o = out('warn');
    const r = runCli(['merge', file, '--out', o, '--threads', '1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('warning: ');
    expect(r.stderr).toContain('t is not a parameter of linear and is ignored');
    const merged = Checkpoint.open(o);
    try {
      expect(merged.tensors.size).toBe(2);
      expect([...merged.readF32('model.norm.weight')].map((v) => Math.round(v * 1e4) / 1e4)).toEqual([0.505, 0.51, 0.515]);
      expect(merged.config).toBeUndefined();
    } finally {
      merged.close();
    }
    // a single file: model.safetensors, no index; no tokenizer or config to copy
    expect(fs.readdirSync(o).sort()).toEqual(['README.md', 'mergekit_config.yml', 'model.safetensors']);
  });

  it('bad arguments exit 2 with CLI_E_ARG before anything is read', () => {
    const o = out('bad-threads');
    const r = merge(tiesFile, o, '--threads', '0');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('CLI_E_ARG');
    expect(r.stderr).toContain('--threads');
    expectNoOutput(o);
  });

  it('a non-empty --out exits 2 with IO_E_OUTPUT_EXISTS and keeps what is there', () => {
    const o = out('nonempty');
    fs.mkdirSync(o, { recursive: true });
    fs.writeFileSync(path.join(o, 'notes.txt'), 'keep me');
    const r = merge(tiesFile, o);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('IO_E_OUTPUT_EXISTS');
    expect(fs.readdirSync(o)).toEqual(['notes.txt']);
    expect(fs.readdirSync(path.dirname(o)).filter((f) => f.startsWith('.merged.partial-'))).toEqual([]);
  });
});

describe('mergesearch inspect', () => {
  it('two mergeable folders: "mergeable: yes", exit 0', () => {
    const r = runCli(['inspect', dirs[0]!, dirs[1]!]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('mergeable: yes');
    expect(r.stdout).toContain(dirs[0]!);
    expect(r.stdout).toContain(dirs[1]!);
    expect(r.stdout).toContain('tensors 39');
    expect(r.stdout).toContain('layers 4');
    expect(r.stdout).toContain('architecture LlamaForCausalLM');
    expect(r.stdout).toContain('F16×39');
  });

  it('two non-mergeable folders: names the differing tensors, exit 1', () => {
    const r = runCli(['inspect', handA, handB]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('mergeable: no');
    expect(r.stdout).toContain(`shape of model.layers.0.mlp.up_proj.weight: [2,3] in ${handA}, [4,3] in ${handB}`);
    expect(r.stdout).toContain(`missing model.norm.weight in ${handB}`);
    expect(r.stdout).toContain(`missing model.extra.weight in ${handA}`);
  });

  it('--json prints the summaries and the comparison', () => {
    const bad = runCli(['inspect', '--json', handA, handB]);
    expect(bad.status).toBe(1);
    const j = JSON.parse(bad.stdout) as {
      checkpoints: Array<{ path: string; tensors: number; parameters: number }>;
      comparison: { mergeable: boolean; missing: Array<{ tensor: string; missingFrom: string[] }>; shapes: Array<{ tensor: string; shapes: Record<string, number[]> }> };
    };
    expect(j.checkpoints.map((c) => c.path)).toEqual([handA, handB]);
    expect(j.checkpoints.map((c) => c.parameters)).toEqual([9, 15]);
    expect(j.comparison.mergeable).toBe(false);
    expect(j.comparison.missing).toEqual([
      { tensor: 'model.extra.weight', missingFrom: [handA] },
      { tensor: 'model.norm.weight', missingFrom: [handB] },
    ]);
    expect(j.comparison.shapes).toEqual([{ tensor: 'model.layers.0.mlp.up_proj.weight', shapes: { [handA]: [2, 3], [handB]: [4, 3] } }]);

    const good = runCli(['inspect', '--json', dirs[0]!, dirs[2]!]);
    expect(good.status).toBe(0);
    const g = JSON.parse(good.stdout) as { comparison: { mergeable: boolean } };
    expect(g.comparison.mergeable).toBe(true);
  });

  it('a merged output inspects as mergeable with its base; a single path prints no comparison', () => {
    const r = runCli(['inspect', out('ties-t2'), dirs[0]!]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('mergeable: yes');
    expect(r.stdout).toMatch(/shards [3-9]|shards \d\d/);
    const one = runCli(['inspect', '--json', dirs[0]!]);
    expect(one.status).toBe(0);
    expect((JSON.parse(one.stdout) as { comparison?: unknown }).comparison).toBeUndefined();
  });

  it('a path that does not exist exits 2 with IO_E_NOT_FOUND', () => {
    const r = runCli(['inspect', dirs[0]!, path.join(tmp.dir, 'nowhere')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('IO_E_NOT_FOUND');
    expect(r.stderr).toContain('nowhere');
  });
});

function expectNoOutputLeftovers(outDir: string): void {
  const prefix = `.${path.basename(outDir)}.partial-`;
  expect(fs.readdirSync(path.dirname(outDir)).filter((f) => f.startsWith(prefix))).toEqual([]);
}
