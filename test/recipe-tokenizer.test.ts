// tokenizer_source and vocabularies of different sizes: embeddings whose row counts differ are
// merged over the rows all models have (checked against a hand computation), tokenizer files come
// from the named model, and folders without tokenizer files (recipe-tokenizer-union.test.ts has the
// permuted vocabularies).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { readVocabulary } from '../src/io/tokenizer-vocab.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { planMerge } from '../src/merge/plan.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { expectCodeAsync, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

const H = 4;
let tmp: { dir: string; cleanup: () => void };

function model(name: string, vocab: number, seed: number, tokens?: string[], marker = name): string {
  const dir = path.join(tmp.dir, name);
  const ramp = (n: number, k: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 7 + k * 3 + i * 0.37));
  writeHandCheckpoint(
    dir,
    [
      { name: 'model.embed_tokens.weight', shape: [vocab, H], values: ramp(vocab * H, 1) },
      { name: 'model.layers.0.mlp.up_proj.weight', shape: [3, H], values: ramp(3 * H, 2) },
      { name: 'lm_head.weight', shape: [vocab, H], values: ramp(vocab * H, 3) },
    ],
    { architectures: ['LlamaForCausalLM'], num_hidden_layers: 1, vocab_size: vocab, hidden_size: H },
  );
  if (tokens) {
    const vocabObj = Object.fromEntries(tokens.map((t, i) => [t, i]));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', marker, added_tokens: [], model: { type: 'BPE', vocab: vocabObj, merges: [] } }));
  }
  return dir;
}

function read64(dir: string, name: string): Float64Array {
  const c = Checkpoint.open(dir);
  try {
    return Float64Array.from(c.readF32(name));
  } finally {
    c.close();
  }
}

const TOKENS = ['<s>', '</s>', 'a', 'b', 'c', 'd'];

beforeAll(() => {
  tmp = makeTmp('mergesearch-tokenizer-');
});
afterAll(() => tmp?.cleanup());

describe('vocabularies of different sizes', () => {
  it('embeddings and head with 8 and 6 rows merge their first 6 rows (hand-computed linear), with a warning and vocab_size 6', async () => {
    const big = model('big', 8, 1);
    const small = model('small', 6, 2);
    const out = path.join(tmp.dir, 'out-common');
    const warnings: string[] = [];
    const recipe = parseRecipe(`merge_method: linear\nmodels:\n  - {model: ${big}, parameters: {weight: 0.25}}\n  - {model: ${small}, parameters: {weight: 0.75}}\n`, path.join(tmp.dir, 'r.yml'));
    await mergeToFolder(recipe, { out, threads: 1, onWarning: (w) => warnings.push(w) });
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight', 'model.layers.0.mlp.up_proj.weight']) {
      const a = read64(big, name);
      const b = read64(small, name);
      const got = read64(out, name);
      const rows = name.includes('up_proj') ? 3 : 6;
      expect(got.length, name).toBe(rows * H);
      for (let i = 0; i < rows * H; i++) expect(Math.abs(got[i]! - (0.25 * a[i]! + 0.75 * b[i]!)), `${name}[${i}]`).toBeLessThan(1e-6);
    }
    expect(warnings.some((w) => w.includes('model.embed_tokens.weight') && w.includes(`8 rows in ${big}`) && w.includes(`6 rows in ${small}`))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).vocab_size).toBe(6);
  });

  it('a different hidden size is still MERGE_E_SHAPE', () => {
    const wide = path.join(tmp.dir, 'wide');
    writeHandCheckpoint(wide, [
      { name: 'model.embed_tokens.weight', shape: [6, H + 1] },
      { name: 'model.layers.0.mlp.up_proj.weight', shape: [3, H] },
      { name: 'lm_head.weight', shape: [6, H] },
    ]);
    const small = model('small2', 6, 2);
    const r = parseRecipe(`merge_method: linear\nmodels: [${wide}, ${small}]\n`, path.join(tmp.dir, 'r.yml'));
    expectCode(() => planMerge(r).close(), 'MERGE_E_SHAPE', 'model.embed_tokens.weight', '[6,5]', '[6,4]');
  });
});

describe('tokenizer_source', () => {
  it('a model path: tokenizer files come from that model when all vocabularies agree', async () => {
    const a = model('tok-a', 6, 3, TOKENS);
    const b = model('tok-b', 6, 4, TOKENS);
    const out = path.join(tmp.dir, 'out-tok-b');
    await mergeToFolder(parseRecipe(`merge_method: linear\nparameters: {weight: 0.5}\nmodels: [${a}, ${b}]\ntokenizer_source: ${b}\n`, path.join(tmp.dir, 'r.yml')), { out, threads: 1 });
    expect(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe(fs.readFileSync(path.join(b, 'tokenizer.json'), 'utf8'));
    expect(JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).marker).toBe('tok-b');
  });

  it('a base without tokenizer files while another model has them is TOKENIZER_E_VOCAB, before anything is written', async () => {
    const bare = model('tok-bare', 6, 5);
    const other = model('tok-other', 6, 6, ['<s>', '</s>', 'a', 'c', 'b', 'd']);
    const out = path.join(tmp.dir, 'never-tok');
    await expectCodeAsync(
      () => mergeToFolder(parseRecipe(`merge_method: task_arithmetic\nbase_model: ${bare}\nmodels: [{model: ${other}, parameters: {weight: 1}}]\ntokenizer_source: union\n`, path.join(tmp.dir, 'r.yml')), { out, threads: 1 }),
      'TOKENIZER_E_VOCAB',
      bare,
      'no tokenizer.json',
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  it("a model without tokenizer files is taken to share the base's vocabulary, with a warning (mergekit's assumption)", async () => {
    const a = model('tok-e', 6, 7, TOKENS);
    const bare = model('tok-bare2', 6, 8);
    const warnings: string[] = [];
    const out = path.join(tmp.dir, 'out-bare');
    await mergeToFolder(parseRecipe(`merge_method: linear\nparameters: {weight: 0.5}\nmodels: [${a}, ${bare}]\ntokenizer_source: union\n`, path.join(tmp.dir, 'r.yml')), { out, threads: 1, onWarning: (w) => warnings.push(w) });
    expect(warnings.some((w) => w.includes(bare) && w.includes('no tokenizer files'))).toBe(true);
    const x = read64(a, 'lm_head.weight');
    const y = read64(bare, 'lm_head.weight');
    read64(out, 'lm_head.weight').forEach((v, i) => expect(Math.abs(v - 0.5 * (x[i]! + y[i]!))).toBeLessThan(1e-6));
  });

  it('a Unigram tokenizer.json (a list of pieces) is read with ids by position, added tokens by their id', () => {
    const dir = path.join(tmp.dir, 'unigram');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ added_tokens: [{ id: 3, content: '<pad>' }], model: { type: 'Unigram', vocab: [['<unk>', 0], ['▁a', -1.5], ['▁b', -2]] } }));
    expect([...readVocabulary(dir)!.ids]).toEqual([['<unk>', 0], ['▁a', 1], ['▁b', 2], ['<pad>', 3]]);
  });
});
