// Tokenizers as mergekit builds them, on tiny Llama checkpoints whose character vocabularies differ:
// the union vocabulary's order, every embedding / head row of the output against a float64
// reference worked out here token by token (look the token up in each model's tokenizer.json, take
// the model's row or the fill mergekit's PermutedEmbeddings gives a model that lacks it, then apply
// the method), the tokenizer block (tokens with source / force, pad_to_multiple_of), a model's or
// the base's vocabulary, slices, and chat_template.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { readVocabulary } from '../src/io/tokenizer-vocab.ts';
import { CHAT_TEMPLATES } from '../src/merge/chat-templates.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { planMerge } from '../src/merge/plan.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

const H = 3;
const TOL = 1e-6;
let tmp: { dir: string; cleanup: () => void };

interface ModelSpec {
  tokens: string[];
  added?: Array<{ content: string; special?: boolean }>;
  rows?: number;
  vocabSize?: number;
  layers?: number;
  template?: string;
  templateFile?: string;
}

/** A tiny Llama folder: embeddings and head with one row per token, a BPE tokenizer.json of `tokens` (+ added tokens after them). */
function model(name: string, seed: number, spec: ModelSpec): string {
  const dir = path.join(tmp.dir, name);
  const n = spec.tokens.length + (spec.added?.length ?? 0);
  const rows = spec.rows ?? n;
  const layers = spec.layers ?? 1;
  const ramp = (count: number, k: number) => Array.from({ length: count }, (_, i) => Math.sin(seed * 7.1 + k * 3.3 + i * 0.37));
  const tensors = [{ name: 'model.embed_tokens.weight', shape: [rows, H], values: ramp(rows * H, 1) }];
  for (let l = 0; l < layers; l++) tensors.push({ name: `model.layers.${l}.mlp.up_proj.weight`, shape: [2, H], values: ramp(2 * H, 2 + l) });
  tensors.push({ name: 'lm_head.weight', shape: [rows, H], values: ramp(rows * H, 9) });
  writeHandCheckpoint(dir, tensors, { architectures: ['LlamaForCausalLM'], num_hidden_layers: layers, vocab_size: spec.vocabSize ?? rows, hidden_size: H });
  const vocab = Object.fromEntries(spec.tokens.map((t, i) => [t, i]));
  const added = (spec.added ?? []).map((a, i) => ({ id: spec.tokens.length + i, content: a.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: a.special ?? true }));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', added_tokens: added, model: { type: 'BPE', vocab, merges: [] } }));
  const cfg: Record<string, unknown> = { tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: 64, marker: name };
  if (spec.template) cfg.chat_template = spec.template;
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  if (spec.templateFile) fs.writeFileSync(path.join(dir, 'chat_template.jinja'), spec.templateFile);
  return dir;
}

/** A folder's token → id, read here straight from tokenizer.json. */
function idsOf(dir: string): Map<string, number> {
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  const m = new Map<string, number>(Object.entries(j.model.vocab as Record<string, number>));
  for (const a of j.added_tokens) m.set(a.content, a.id);
  return m;
}

function read64(dir: string, name: string): Float64Array {
  const c = Checkpoint.open(dir);
  try {
    return Float64Array.from(c.readF32(name));
  } finally {
    c.close();
  }
}

type Rule = { force?: boolean; zero?: true; from?: string; token?: string };

/**
 * Each model's row for `token` after alignment: its own (unless forced); else the rule's row; else
 * the one model that has it, zeros when none, the base's when it has it, the mean of those that have it.
 */
function alignedRow(dirs: string[], base: string | undefined, tensor: string, token: string, m: string, rules: Record<string, Rule> = {}): Float64Array {
  const row = (d: string, id: number) => read64(d, tensor).slice(id * H, (id + 1) * H);
  const rule = rules[token];
  const own = idsOf(m).get(token);
  if (own !== undefined && !rule?.force) return row(m, own);
  if (rule) {
    if (rule.zero) return new Float64Array(H);
    return row(rule.from!, idsOf(rule.from!).get(rule.token ?? token)!);
  }
  const having = dirs.filter((d) => idsOf(d).has(token));
  if (having.length === 1) return row(having[0]!, idsOf(having[0]!).get(token)!);
  if (having.length === 0) return new Float64Array(H);
  if (base && idsOf(base).has(token)) return row(base, idsOf(base).get(token)!);
  const acc = new Float64Array(H);
  for (const d of having) row(d, idsOf(d).get(token)!).forEach((v, j) => (acc[j] = acc[j]! + v));
  return acc.map((v) => v / having.length);
}

function expectRowsClose(got: Float64Array, want: Float64Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThan(TOL);
}

let A: string;
let B: string;
let C: string;

beforeAll(() => {
  tmp = makeTmp('mergesearch-tokunion-');
  A = model('A', 1, { tokens: ['<s>', '</s>', 'a', 'b', 'c'] });
  B = model('B', 2, { tokens: ['<s>', '</s>', 'c', 'd', 'a', 'e'] });
  C = model('C', 3, { tokens: ['<s>', '</s>', 'f', 'b', 'd'], added: [{ content: '<|im_end|>' }] });
});
afterAll(() => tmp?.cleanup());

const UNION = ['<s>', '</s>', 'a', 'b', 'c', 'd', 'e', 'f', '<|im_end|>'];

describe('tokenizer_source: union', () => {
  it('linear without a base: the union in mergekit order, and every row = Σ w·(aligned row) against the float64 reference', async () => {
    const out = path.join(tmp.dir, 'out-union-linear');
    const warnings: string[] = [];
    const text = `merge_method: linear\nmodels:\n  - {model: ${A}, parameters: {weight: 0.2}}\n  - {model: ${B}, parameters: {weight: 0.3}}\n  - {model: ${C}, parameters: {weight: 0.5}}\ntokenizer_source: union\n`;
    await mergeToFolder(parseRecipe(text, path.join(tmp.dir, 'r.yml')), { out, threads: 1, onWarning: (w) => warnings.push(w) });
    // the base's (first model's) tokens keep their ids; B's new tokens by B's ids, then C's, then added tokens
    expect([...readVocabulary(out)!.ids].sort((x, y) => x[1] - y[1]).map(([t]) => t)).toEqual(UNION);
    const tj = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8'));
    expect(tj.model.vocab).toEqual(JSON.parse(fs.readFileSync(path.join(A, 'tokenizer.json'), 'utf8')).model.vocab);
    expect(tj.added_tokens.map((a: { id: number; content: string; special: boolean }) => [a.id, a.content, a.special])).toEqual([
      [5, 'd', false],
      [6, 'e', false],
      [7, 'f', false],
      [8, '<|im_end|>', true],
    ]);
    const tc = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8'));
    expect(Object.keys(tc.added_tokens_decoder)).toEqual(['5', '6', '7', '8']);
    expect(tc.marker).toBe('A');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).vocab_size).toBe(9);
    const w = new Map([[A, 0.2], [B, 0.3], [C, 0.5]]);
    for (const tensor of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const got = read64(out, tensor);
      expect(got.length).toBe(UNION.length * H);
      UNION.forEach((token, t) => {
        const want = new Float64Array(H);
        for (const m of [A, B, C]) alignedRow([A, B, C], undefined, tensor, token, m).forEach((v, j) => (want[j] = want[j]! + w.get(m)! * v));
        expectRowsClose(got.slice(t * H, (t + 1) * H), want, `${tensor} ${token}`);
      });
    }
    // the layer is untouched by the vocabulary
    const up = read64(out, 'model.layers.0.mlp.up_proj.weight');
    const ups = [A, B, C].map((d) => read64(d, 'model.layers.0.mlp.up_proj.weight'));
    up.forEach((v, i) => expect(Math.abs(v - (0.2 * ups[0]![i]! + 0.3 * ups[1]![i]! + 0.5 * ups[2]![i]!))).toBeLessThan(TOL));
    expect(warnings.some((x) => /rows merged by position|common-submatrix/.test(x))).toBe(false);
  });

  it('task_arithmetic with a base: a token a model lacks takes the base row when the base has it (zero task vector there)', async () => {
    const out = path.join(tmp.dir, 'out-union-ta');
    const text = `merge_method: task_arithmetic\nbase_model: ${A}\nmodels:\n  - {model: ${B}, parameters: {weight: 0.25}}\n  - {model: ${C}, parameters: {weight: 0.75}}\ntokenizer_source: union\n`;
    await mergeToFolder(parseRecipe(text, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    for (const tensor of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const got = read64(out, tensor);
      UNION.forEach((token, t) => {
        const rb = alignedRow([A, B, C], A, tensor, token, A);
        const want = Float64Array.from(rb);
        for (const [m, wt] of [[B, 0.25], [C, 0.75]] as const) alignedRow([A, B, C], A, tensor, token, m).forEach((v, j) => (want[j] = want[j]! + wt * (v - rb[j]!)));
        expectRowsClose(got.slice(t * H, (t + 1) * H), want, `${tensor} ${token}`);
      });
    }
  });

  it('the tokenizer block: tokens with a forced model row, a zero row, another token\'s row, and pad_to_multiple_of (pad rows = the mean row)', async () => {
    const out = path.join(tmp.dir, 'out-block');
    const text = [
      'merge_method: linear',
      'models:',
      `  - {model: ${A}, parameters: {weight: 0.5}}`,
      `  - {model: ${B}, parameters: {weight: 0.25}}`,
      `  - {model: ${C}, parameters: {weight: 0.25}}`,
      'tokenizer:',
      '  pad_to_multiple_of: 8',
      '  tokens:',
      `    b: {source: ${C}, force: true}`,
      '    "<new>": {source: {kind: zero}}',
      `    e: {source: {kind: model_token, model: ${A}, token: c}}`,
      '',
    ].join('\n');
    await mergeToFolder(parseRecipe(text, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    const vocab = [...UNION, '<new>'];
    expect([...readVocabulary(out)!.ids].sort((x, y) => x[1] - y[1]).map(([t]) => t)).toEqual(vocab);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).vocab_size).toBe(16);
    const rules: Record<string, Rule> = { b: { from: C, force: true }, '<new>': { zero: true }, e: { from: A, token: 'c' } };
    const w = new Map([[A, 0.5], [B, 0.25], [C, 0.25]]);
    for (const tensor of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const got = read64(out, tensor);
      expect(got.length).toBe(16 * H);
      const mean = new Float64Array(H);
      vocab.forEach((token, t) => {
        const want = new Float64Array(H);
        for (const m of [A, B, C]) alignedRow([A, B, C], undefined, tensor, token, m, rules).forEach((v, j) => (want[j] = want[j]! + w.get(m)! * v));
        expectRowsClose(got.slice(t * H, (t + 1) * H), want, `${tensor} ${token}`);
        want.forEach((v, j) => (mean[j] = mean[j]! + v / vocab.length));
      });
      // padding: each model's pad rows are the mean of its aligned rows, so the merged pad row is the mean merged row
      for (let t = vocab.length; t < 16; t++) expectRowsClose(got.slice(t * H, (t + 1) * H), mean, `${tensor} pad ${t}`);
    }
  });
});

describe('tokenizer_source: base or a model', () => {
  it('base: rows follow the base ids (a model with other ids is permuted), tokenizer files copied unchanged', async () => {
    const out = path.join(tmp.dir, 'out-base');
    const text = `merge_method: linear\nbase_model: ${A}\nmodels:\n  - {model: ${A}, parameters: {weight: 0.5}}\n  - {model: ${B}, parameters: {weight: 0.5}}\ntokenizer_source: base\n`;
    await mergeToFolder(parseRecipe(text, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    expect(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe(fs.readFileSync(path.join(A, 'tokenizer.json'), 'utf8'));
    expect(fs.readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8')).toBe(fs.readFileSync(path.join(A, 'tokenizer_config.json'), 'utf8'));
    const vocab = ['<s>', '</s>', 'a', 'b', 'c'];
    for (const tensor of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const got = read64(out, tensor);
      expect(got.length).toBe(5 * H);
      vocab.forEach((token, t) => {
        const want = new Float64Array(H);
        for (const m of [A, B]) alignedRow([A, B], A, tensor, token, m).forEach((v, j) => (want[j] = want[j]! + 0.5 * v));
        expectRowsClose(got.slice(t * H, (t + 1) * H), want, `${tensor} ${token}`);
      });
    }
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).vocab_size).toBe(5);
  });

  it('a model: its vocabulary and tokenizer files; tokens only that model has come from it', async () => {
    const out = path.join(tmp.dir, 'out-model');
    const text = `merge_method: linear\nmodels:\n  - {model: ${A}, parameters: {weight: 0.6}}\n  - {model: ${B}, parameters: {weight: 0.4}}\ntokenizer_source: ${B}\n`;
    await mergeToFolder(parseRecipe(text, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    expect(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe(fs.readFileSync(path.join(B, 'tokenizer.json'), 'utf8'));
    const vocab = ['<s>', '</s>', 'c', 'd', 'a', 'e'];
    const got = read64(out, 'lm_head.weight');
    vocab.forEach((token, t) => {
      const want = new Float64Array(H);
      for (const [m, wt] of [[A, 0.6], [B, 0.4]] as const) alignedRow([A, B], undefined, 'lm_head.weight', token, m).forEach((v, j) => (want[j] = want[j]! + wt * v));
      expectRowsClose(got.slice(t * H, (t + 1) * H), want, `lm_head ${token}`);
    });
  });

  it("base: tokens at ids >= the base's vocab_size are dropped from tokenizer.json and the rows (mergekit's stripped tokenizer)", async () => {
    const padded = model('padded', 4, { tokens: ['<s>', '</s>', 'a', 'b', 'zz'], vocabSize: 4 });
    const out = path.join(tmp.dir, 'out-strip');
    await mergeToFolder(parseRecipe(`merge_method: linear\nparameters: {weight: 0.5}\nbase_model: ${padded}\nmodels: [${padded}, ${A}]\ntokenizer_source: base\n`, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).model.vocab)).toEqual(['<s>', '</s>', 'a', 'b']);
    expect(read64(out, 'model.embed_tokens.weight').length).toBe(4 * H);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).vocab_size).toBe(4);
  });
});

describe('slices with vocabularies that differ', () => {
  it('union: embeddings from the first slice and the head from the last, each aligned to the union (rows no source has are zeros, as mergekit)', async () => {
    const out = path.join(tmp.dir, 'out-slices');
    const warnings: string[] = [];
    const text = `merge_method: passthrough\nslices:\n  - sources: [{model: ${A}, layer_range: [0, 1]}]\n  - sources: [{model: ${B}, layer_range: [0, 1]}]\ntokenizer_source: union\n`;
    await mergeToFolder(parseRecipe(text, path.join(tmp.dir, 'r.yml')), { out, threads: 1, onWarning: (w) => warnings.push(w) });
    const vocab = ['<s>', '</s>', 'a', 'b', 'c', 'd', 'e'];
    expect([...readVocabulary(out)!.ids].sort((x, y) => x[1] - y[1]).map(([t]) => t)).toEqual(vocab);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect([cfg.num_hidden_layers, cfg.vocab_size]).toEqual([2, 7]);
    for (const [tensor, src] of [['model.embed_tokens.weight', A], ['lm_head.weight', B]] as const) {
      const got = read64(out, tensor);
      vocab.forEach((token, t) => expectRowsClose(got.slice(t * H, (t + 1) * H), alignedRow([src], undefined, tensor, token, src), `${tensor} ${token}`));
    }
    expect(warnings.some((w) => w.includes('"d"') && w.includes('model.embed_tokens.weight') && w.includes('zeros'))).toBe(true);
  });

  it('without a tokenizer: embeddings and head of different sizes are RECIPE_E_SLICE, naming both and the fix', () => {
    const r = parseRecipe(`merge_method: passthrough\nslices:\n  - sources: [{model: ${A}, layer_range: [0, 1]}]\n  - sources: [{model: ${B}, layer_range: [0, 1]}]\n`, path.join(tmp.dir, 'r.yml'));
    expectCode(() => planMerge(r).close(), 'RECIPE_E_SLICE', 'model.embed_tokens.weight: 5 rows', 'lm_head.weight: 6 rows', 'tokenizer_source: union');
  });

  it('without a tokenizer: a slice whose sources differ in vocabulary size merges the common rows, with a warning naming each model and size', () => {
    const r = parseRecipe(`merge_method: linear\nparameters: {weight: 0.5}\nslices:\n  - sources: [{model: ${A}, layer_range: [0, 1]}, {model: ${B}, layer_range: [0, 1]}]\n`, path.join(tmp.dir, 'r.yml'));
    const plan = planMerge(r);
    try {
      expect(plan.jobs.find((j) => j.name === 'lm_head.weight')!.shape).toEqual([5, H]);
      expect(plan.warnings.some((w) => w.includes('lm_head.weight') && w.includes(`5 rows in ${A}`) && w.includes(`6 rows in ${B}`))).toBe(true);
      expect(plan.configPatch?.vocab_size).toBeUndefined();
    } finally {
      plan.close();
    }
  });
});

describe('chat_template', () => {
  const T1 = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
  const T2 = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}";
  let D: string;
  let E: string;
  let F: string;
  beforeAll(() => {
    D = model('D', 5, { tokens: ['<s>', 'a'], template: T1, templateFile: T1 });
    E = model('E', 6, { tokens: ['<s>', 'a'], template: T2 });
    F = model('F', 7, { tokens: ['<s>', 'a'], templateFile: `${T2}\n` });
  });
  const merged = async (name: string, extra: string): Promise<Record<string, unknown>> => {
    const out = path.join(tmp.dir, `out-chat-${name}`);
    await mergeToFolder(parseRecipe(`merge_method: linear\nparameters: {weight: 1}\nbase_model: ${D}\nmodels: [${D}, ${E}, ${F}]\n${extra}`, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    expect(fs.existsSync(path.join(out, 'chat_template.jinja')), 'a copied template file would override tokenizer_config.json').toBe(false);
    return JSON.parse(fs.readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8'));
  };

  it('a built-in name: its text goes into tokenizer_config.json, the other keys kept', async () => {
    const cfg = await merged('chatml', 'chat_template: chatml\n');
    expect(cfg.chat_template).toBe(CHAT_TEMPLATES.chatml);
    expect(cfg.chat_template).toContain('<|im_start|>');
    expect(cfg.marker).toBe('D');
  });

  it('every built-in mergekit ships is there', () => {
    expect(Object.keys(CHAT_TEMPLATES).sort()).toEqual(['alpaca', 'chatml', 'exaone', 'llama3', 'mistral']);
  });

  it('a Jinja string is written as given', async () => {
    expect((await merged('literal', `chat_template: "{{messages[0]['content']}}"\n`)).chat_template).toBe("{{messages[0]['content']}}");
  });

  it('auto: the template most models have (read from tokenizer_config.json or chat_template.jinja, whitespace trimmed)', async () => {
    expect((await merged('auto', 'chat_template: auto\n')).chat_template).toBe(T2);
  });

  it('with tokenizer_source: union too', async () => {
    expect((await merged('union', 'chat_template: llama3\ntokenizer_source: union\n')).chat_template).toBe(CHAT_TEMPLATES.llama3);
  });
});
