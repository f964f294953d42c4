// Recipe validation: every bad recipe fails with its stable code and a message naming the key,
// model or tensor at fault, before anything is written; valid spellings pass (some with warnings).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { planMerge } from '../src/merge/plan.ts';
import { parseRecipe, readRecipeFile } from '../src/merge/recipe.ts';
import { TINY_LLAMA, writeSyntheticFamily, writeSyntheticLlama } from '../src/zoo/synthetic-llama.ts';
import type { ErrorCode } from '../src/errors.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { expectCodeAsync, expectNoOutput, writeHandCheckpoint, writeRecipe } from './helpers/recipe-fixtures.ts';

let tmp: { dir: string; cleanup: () => void };
let root: string;

beforeAll(() => {
  tmp = makeTmp('mergesearch-recipe-');
  root = tmp.dir;
  // base, expert-1..3: same architecture (TINY_LLAMA, 4 layers, F16)
  writeSyntheticFamily(root, TINY_LLAMA, 3);
  // no lm_head.weight (tied embeddings): one tensor fewer than the others
  writeSyntheticLlama(path.join(root, 'tied'), { ...TINY_LLAMA, tieEmbeddings: true }, { expert: 1 });
  // same tensors as the family, but config.json says 5 layers
  fs.cpSync(path.join(root, 'expert-1'), path.join(root, 'deep'), { recursive: true });
  const cfgPath = path.join(root, 'deep', 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(cfgPath, JSON.stringify({ ...cfg, num_hidden_layers: 5 }));
  // hand-made pair with one shape difference (outside the embeddings: vocabulary sizes may differ)
  writeHandCheckpoint(path.join(root, 'hand-a'), [
    { name: 'model.embed_tokens.weight', shape: [4, 3] },
    { name: 'model.norm.weight', shape: [3] },
  ]);
  writeHandCheckpoint(path.join(root, 'hand-b'), [
    { name: 'model.embed_tokens.weight', shape: [4, 3] },
    { name: 'model.norm.weight', shape: [4] },
  ]);
  // a model with a NaN: found only while merging, after the output writer has started
  writeHandCheckpoint(path.join(root, 'hand-nan'), [
    { name: 'model.embed_tokens.weight', shape: [4, 3], values: [1, 2, 3, 4, 5, NaN, 7, 8, 9, 10, 11, 12] },
    { name: 'model.norm.weight', shape: [3] },
  ]);
});

afterAll(() => tmp?.cleanup());

const TIES_HEAD = 'merge_method: ties\nbase_model: base\n';

interface BadCase {
  name: string;
  text: string;
  code: ErrorCode;
  mentions: string[];
}

const BAD: BadCase[] = [
  // --- the document itself
  { name: 'invalid-yaml', text: 'merge_method: ties\nmodels: [base, expert-1\n', code: 'RECIPE_E_PARSE', mentions: ['invalid-yaml.yaml', 'not valid YAML'] },
  { name: 'bad-indent', text: 'merge_method: ties\nmodels:\n  - model: base\n   parameters: {weight: 1}\n', code: 'RECIPE_E_PARSE', mentions: ['not valid YAML'] },
  { name: 'duplicate-key', text: 'merge_method: ties\nmerge_method: linear\nmodels: [base]\n', code: 'RECIPE_E_PARSE', mentions: ['not valid YAML'] },
  { name: 'list-not-mapping', text: '- base\n- expert-1\n', code: 'RECIPE_E_FIELD', mentions: ['mapping'] },
  { name: 'scalar-not-mapping', text: '42\n', code: 'RECIPE_E_FIELD', mentions: ['mapping'] },
  { name: 'empty-document', text: '', code: 'RECIPE_E_FIELD', mentions: ['mapping'] },
  // --- top-level keys
  { name: 'unknown-key', text: 'merge_methd: ties\nmodels: [base]\n', code: 'RECIPE_E_FIELD', mentions: ['merge_methd', 'did you mean merge_method?'] },
  { name: 'unknown-key-base', text: 'merge_method: ties\nbase_modle: base\nmodels: [base]\n', code: 'RECIPE_E_FIELD', mentions: ['base_modle', 'did you mean base_model?'] },
  { name: 'literal-top-level-weight', text: `${TIES_HEAD}weight: 0.5\nmodels: [expert-1]\n`, code: 'RECIPE_E_FIELD', mentions: ['unknown key weight'] },
  { name: 'slices-past-the-layers', text: 'merge_method: passthrough\nslices:\n  - sources:\n      - model: base\n        layer_range: [0, 9]\n', code: 'RECIPE_E_SLICE', mentions: ['layer_range [0, 9]', 'base'] },
  { name: 'tokenizer-block-pad', text: `${TIES_HEAD}tokenizer: {source: union, pad_to_multiple_of: 0}\nmodels: [{model: expert-1, parameters: {weight: 1}}]\n`, code: 'RECIPE_E_FIELD', mentions: ['tokenizer.pad_to_multiple_of', 'whole number'] },
  { name: 'tokenizer-block-key', text: `${TIES_HEAD}tokenizer: {sauce: union}\nmodels: [{model: expert-1, parameters: {weight: 1}}]\n`, code: 'RECIPE_E_FIELD', mentions: ['unknown key sauce'] },
  { name: 'tokenizer-token-no-source', text: `${TIES_HEAD}tokenizer: {tokens: {"<x>": {force: true}}}\nmodels: [{model: expert-1, parameters: {weight: 1}}]\n`, code: 'RECIPE_E_FIELD', mentions: ['"<x>"', 'source is required'] },
  { name: 'tokenizer-token-stranger', text: `${TIES_HEAD}tokenizer: {tokens: {"<x>": {source: deep}}}\nmodels: [{model: expert-1, parameters: {weight: 1}}]\n`, code: 'RECIPE_E_FIELD', mentions: ['deep', "not one of the recipe's models"] },
  { name: 'chat-template-bad', text: `${TIES_HEAD}chat_template: vicuna\nparameters: {weight: 1}\nmodels: [expert-1]\n`, code: 'RECIPE_E_FIELD', mentions: ['chat_template', 'vicuna', 'chatml'] },
  // --- merge_method
  { name: 'method-dash', text: 'merge_method: dare-ties\nbase_model: base\nmodels: [expert-1]\n', code: 'RECIPE_E_METHOD', mentions: ['dare-ties', 'did you mean dare_ties?'] },
  { name: 'method-case', text: 'merge_method: TIES\nbase_model: base\nmodels: [expert-1]\n', code: 'RECIPE_E_METHOD', mentions: ['TIES', 'did you mean ties?'] },
  { name: 'method-missing', text: 'base_model: base\nmodels: [expert-1]\n', code: 'RECIPE_E_FIELD', mentions: ['merge_method', 'ties'] },
  { name: 'method-not-string', text: 'merge_method: 3\nmodels: [expert-1]\n', code: 'RECIPE_E_FIELD', mentions: ['merge_method'] },
  // --- models
  { name: 'models-missing', text: 'merge_method: ties\nbase_model: base\n', code: 'RECIPE_E_FIELD', mentions: ['models'] },
  { name: 'models-empty', text: 'merge_method: ties\nbase_model: base\nmodels: []\n', code: 'RECIPE_E_FIELD', mentions: ['models'] },
  { name: 'models-mapping', text: 'merge_method: ties\nbase_model: base\nmodels: {model: expert-1}\n', code: 'RECIPE_E_FIELD', mentions: ['models'] },
  { name: 'model-entry-unknown-key', text: `${TIES_HEAD}models:\n  - model: expert-1\n    weight: 1\n`, code: 'RECIPE_E_FIELD', mentions: ['models[0]', 'unknown key weight'] },
  { name: 'model-entry-no-path', text: `${TIES_HEAD}models:\n  - parameters: {weight: 1}\n`, code: 'RECIPE_E_FIELD', mentions: ['models[0]', 'model must be a path'] },
  { name: 'model-not-found', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: 1}\n  - model: no-such-model\n    parameters: {weight: 1}\n`, code: 'RECIPE_E_MODEL', mentions: ['models[1]', 'no-such-model', 'not found'] },
  { name: 'base-not-found', text: 'merge_method: ties\nbase_model: no-such-base\nmodels: [{model: expert-1, parameters: {weight: 1}}]\n', code: 'RECIPE_E_MODEL', mentions: ['base_model', 'no-such-base'] },
  { name: 'model-plus-lora', text: `${TIES_HEAD}models: [{model: expert-1+some/lora, parameters: {weight: 1}}]\n`, code: 'LORA_E_ADAPTER', mentions: ['some/lora', 'LoRA', 'not found'] },
  // --- parameter names
  { name: 'param-typo-model', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: 1, densty: 0.5}\n`, code: 'RECIPE_E_PARAM', mentions: ['expert-1', 'densty', 'did you mean density?'] },
  { name: 'param-typo-global', text: `${TIES_HEAD}parameters: {weight: 1, lamda: 0.5}\nmodels: [expert-1]\n`, code: 'RECIPE_E_PARAM', mentions: ['parameters', 'lamda', 'did you mean lambda?'] },
  { name: 'global-param-under-model', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: 1, lambda: 0.5}\n`, code: 'RECIPE_E_PARAM', mentions: ['expert-1', 'lambda', 'global parameter'] },
  { name: 'global-param-under-model-slerp', text: 'merge_method: slerp\nbase_model: base\nmodels:\n  - model: expert-1\n    parameters: {t: 0.5}\n', code: 'RECIPE_E_PARAM', mentions: ['expert-1', ' t ', 'global parameter'] },
  // --- parameter values
  { name: 'weight-missing', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: 0.5}\n  - model: expert-2\n    parameters: {density: 0.5}\n`, code: 'RECIPE_E_PARAM', mentions: ['expert-2', 'weight', 'required'] },
  { name: 'weight-missing-in-filter', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: [{filter: mlp, value: 0.5}]}\n`, code: 'RECIPE_E_PARAM', mentions: ['expert-1', 'weight', 'required', 'model.embed_tokens.weight'] },
  { name: 'density-string', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: 1, density: high}\n`, code: 'RECIPE_E_PARAM', mentions: ['expert-1', 'density', 'must be a number', '"high"'] },
  { name: 'weight-bool', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: true}\n`, code: 'RECIPE_E_PARAM', mentions: ['expert-1', 'weight', 'must be a number'] },
  { name: 'weight-mapping', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: {a: 1}}\n`, code: 'RECIPE_E_PARAM', mentions: ['models[0].parameters.weight'] },
  { name: 'weight-empty-list', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: []}\n`, code: 'RECIPE_E_PARAM', mentions: ['weight', 'empty list'] },
  { name: 'weight-nan', text: `${TIES_HEAD}parameters: {weight: .nan}\nmodels: [expert-1]\n`, code: 'RECIPE_E_PARAM', mentions: ['expert-1', 'weight', 'finite'] },
  { name: 'filter-mixed', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: [0.5, {filter: mlp, value: 1}]}\n`, code: 'RECIPE_E_PARAM', mentions: ['weight', 'mixes'] },
  { name: 'filter-no-value', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: [{filter: mlp}]}\n`, code: 'RECIPE_E_PARAM', mentions: ['weight[0]', 'no value'] },
  { name: 'filter-unknown-key', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: [{filter: mlp, value: 1, vale: 2}]}\n`, code: 'RECIPE_E_PARAM', mentions: ['weight[0]', 'vale'] },
  { name: 'filter-not-string', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: [{filter: 3, value: 1}]}\n`, code: 'RECIPE_E_PARAM', mentions: ['weight[0].filter'] },
  { name: 'density-above-1', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: 1, density: 1.5}\n`, code: 'RECIPE_E_PARAM', mentions: ['density', '1.5', 'model.embed_tokens.weight'] },
  { name: 'density-negative', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: 1, density: -0.1}\n`, code: 'RECIPE_E_PARAM', mentions: ['density', '-0.1'] },
  { name: 'density-gradient-leaves-range', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: 1, density: [0.5, 1.5]}\n`, code: 'RECIPE_E_PARAM', mentions: ['density', 'model.layers.2.', '1.1666'] },
  { name: 'della-density-minus-epsilon', text: 'merge_method: della\nbase_model: base\nmodels:\n  - model: expert-1\n    parameters: {weight: 1, density: 0.1, epsilon: 0.15}\n', code: 'RECIPE_E_PARAM', mentions: ['della', 'density', 'epsilon', '0.1', '0.15'] },
  { name: 'della-density-plus-epsilon', text: 'merge_method: della\nbase_model: base\nmodels:\n  - model: expert-1\n    parameters: {weight: 1, density: 0.9, epsilon: 0.15}\n', code: 'RECIPE_E_PARAM', mentions: ['della', 'density', 'epsilon'] },
  { name: 'rescale-unknown', text: 'merge_method: dare_ties\nbase_model: base\nparameters: {weight: 1, rescale: l3}\nmodels: [expert-1]\n', code: 'RECIPE_E_PARAM', mentions: ['rescale', 'inverse_density', '"l3"'] },
  { name: 'bool-param-string', text: `${TIES_HEAD}parameters: {weight: 1, int8_mask: "yes"}\nmodels: [expert-1]\n`, code: 'RECIPE_E_PARAM', mentions: ['int8_mask', 'true or false'] },
  { name: 'linear-weights-sum-zero', text: 'merge_method: linear\nmodels:\n  - model: expert-1\n    parameters: {weight: 1}\n  - model: expert-2\n    parameters: {weight: -1}\n', code: 'RECIPE_E_PARAM', mentions: ['normalize', 'weights sum to 0'] },
  { name: 'slerp-no-t', text: 'merge_method: slerp\nbase_model: base\nmodels: [expert-1]\n', code: 'RECIPE_E_PARAM', mentions: ['parameter t is required by slerp', 'model.embed_tokens.weight'] },
  // --- model counts
  { name: 'slerp-two-models', text: 'merge_method: slerp\nbase_model: base\nparameters: {t: 0.5}\nmodels: [base, expert-1, expert-2]\n', code: 'MERGE_E_MODEL_COUNT', mentions: ['slerp', 'exactly one other model', 'got 2'] },
  { name: 'slerp-no-base', text: 'merge_method: slerp\nparameters: {t: 0.5}\nmodels: [expert-1]\n', code: 'MERGE_E_MODEL_COUNT', mentions: ['slerp', 'base_model'] },
  { name: 'ties-no-base', text: 'merge_method: ties\nmodels: [{model: expert-1, parameters: {weight: 1}}]\n', code: 'MERGE_E_MODEL_COUNT', mentions: ['ties', 'base_model'] },
  { name: 'ties-only-base', text: `${TIES_HEAD}parameters: {weight: 1}\nmodels: [base]\n`, code: 'MERGE_E_MODEL_COUNT', mentions: ['ties', 'at least one model'] },
  { name: 'passthrough-two', text: 'merge_method: passthrough\nmodels: [expert-1, expert-2]\n', code: 'MERGE_E_MODEL_COUNT', mentions: ['passthrough', 'got 2'] },
  // --- architectures
  { name: 'tensor-missing', text: `${TIES_HEAD}parameters: {weight: 1}\nmodels: [expert-1, tied]\n`, code: 'MERGE_E_MISSING_TENSOR', mentions: ['lm_head.weight', 'tied', 'base'] },
  { name: 'tensor-extra', text: 'merge_method: ties\nbase_model: tied\nparameters: {weight: 1}\nmodels: [expert-1]\n', code: 'MERGE_E_MISSING_TENSOR', mentions: ['lm_head.weight', 'expert-1', 'tied'] },
  { name: 'shape-mismatch', text: 'merge_method: linear\nparameters: {weight: 1}\nmodels: [hand-a, hand-b]\n', code: 'MERGE_E_SHAPE', mentions: ['model.norm.weight', '[4]', '[3]', 'hand-a', 'hand-b'] },
  { name: 'layer-count', text: `${TIES_HEAD}parameters: {weight: 1}\nmodels: [expert-1, deep]\n`, code: 'MERGE_E_LAYERS', mentions: ['deep', '5 layers', '4'] },
  // --- dtypes and tokenizer
  { name: 'dtype-float8', text: `${TIES_HEAD}dtype: float8\nparameters: {weight: 1}\nmodels: [expert-1]\n`, code: 'RECIPE_E_FIELD', mentions: ['dtype', 'float8', 'bfloat16'] },
  { name: 'out-dtype-int8', text: `${TIES_HEAD}out_dtype: int8\nparameters: {weight: 1}\nmodels: [expert-1]\n`, code: 'RECIPE_E_FIELD', mentions: ['out_dtype', 'int8'] },
  { name: 'dtype-number', text: `${TIES_HEAD}dtype: 16\nparameters: {weight: 1}\nmodels: [expert-1]\n`, code: 'RECIPE_E_FIELD', mentions: ['dtype', '16'] },
  { name: 'tokenizer-both', text: `${TIES_HEAD}tokenizer_source: union\ntokenizer: {source: base}\nparameters: {weight: 1}\nmodels: [expert-1]\n`, code: 'RECIPE_E_FIELD', mentions: ['tokenizer_source', 'not both'] },
  // --- found only while merging (the writer has started): still nothing left behind
  { name: 'nan-input', text: 'merge_method: linear\nparameters: {weight: 1}\nmodels: [hand-a, hand-nan]\n', code: 'MERGE_E_NONFINITE', mentions: ['model.embed_tokens.weight', 'NaN'] },
];

describe('bad recipes fail with a stable code and write nothing', () => {
  it.each(BAD)('$name → $code', async ({ name, text, code, mentions }) => {
    const file = writeRecipe(root, name, text);
    const out = path.join(root, `out-${name}`);
    if (code !== 'MERGE_E_NONFINITE') {
      // parsing and planning alone already fail: nothing has been read or written
      expectCode(() => planMerge(readRecipeFile(file), 0).close(), code, ...mentions);
    }
    await expectCodeAsync(() => mergeToFolder(readRecipeFile(file), { out, threads: 1 }), code, ...mentions);
    expectNoOutput(out);
  });

  it('a missing recipe file is IO_E_NOT_FOUND', () => {
    expectCode(() => readRecipeFile(path.join(root, 'no-such-recipe.yaml')), 'IO_E_NOT_FOUND', 'no-such-recipe.yaml');
  });

  it('the parse error names the source given to parseRecipe', () => {
    expectCode(() => parseRecipe('models: [a', 'my-recipe.yml'), 'RECIPE_E_PARSE', 'my-recipe.yml');
  });

  it('a failed merge leaves an existing empty --out folder as it was', async () => {
    const out = path.join(root, 'out-existing-empty');
    fs.mkdirSync(out);
    const file = writeRecipe(root, 'nan-into-existing', 'merge_method: linear\nparameters: {weight: 1}\nmodels: [hand-a, hand-nan]\n');
    await expectCodeAsync(() => mergeToFolder(readRecipeFile(file), { out, threads: 1 }), 'MERGE_E_NONFINITE');
    expect(fs.readdirSync(out)).toEqual([]);
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.out-existing-empty.partial-'))).toEqual([]);
  });

  it('a non-empty --out folder is refused before any work, and kept intact', async () => {
    const out = path.join(root, 'out-nonempty');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
    const file = writeRecipe(root, 'valid-nonempty', `${TIES_HEAD}parameters: {weight: 1}\nmodels: [expert-1]\n`);
    await expectCodeAsync(() => mergeToFolder(readRecipeFile(file), { out, threads: 1 }), 'IO_E_OUTPUT_EXISTS', out);
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.out-nonempty.partial-'))).toEqual([]);
  });
});

interface GoodCase {
  name: string;
  text: string;
  warnings?: RegExp[];
}

const GOOD: GoodCase[] = [
  { name: 'gradient-weight', text: `${TIES_HEAD}models:\n  - model: expert-1\n    parameters: {weight: [0, 0.5, 1], density: [1, 0.5]}\n` },
  {
    name: 'filter-lists',
    text:
      `${TIES_HEAD}models:\n  - model: expert-1\n    parameters:\n      weight: [{filter: self_attn, value: 0.3}, {filter: mlp, value: [0.1, 0.9]}, {value: 0.7}]\n` +
      '      density: [{filter: "*", value: 0.6}]\n',
  },
  { name: 'global-weight-fallback', text: `${TIES_HEAD}parameters: {weight: 0.5, density: 0.5}\nmodels: [expert-1, expert-2, {model: expert-3, parameters: {weight: 0.2}}]\n` },
  { name: 'base-listed-among-models', text: `${TIES_HEAD}parameters: {weight: 0.5}\nmodels: [base, expert-1]\n` },
  { name: 'ties-int8-mask', text: `${TIES_HEAD}parameters: {weight: 1, density: 0.5, int8_mask: true, normalize: false, lambda: 0.8}\nmodels: [expert-1, expert-2]\n` },
  { name: 'dare-ties-inverse-density', text: 'merge_method: dare_ties\nbase_model: base\nparameters: {weight: 1, density: 0.5, rescale: inverse_density}\nmodels: [expert-1, expert-2]\n' },
  { name: 'dare-ties-rescale-bool', text: 'merge_method: dare_ties\nbase_model: base\nparameters: {weight: 1, density: 0.5, rescale: false}\nmodels: [expert-1]\n' },
  { name: 'della-inside', text: 'merge_method: della\nbase_model: base\nmodels:\n  - model: expert-1\n    parameters: {weight: 1, density: 0.5, epsilon: 0.15}\n' },
  { name: 'torch-dtypes', text: `${TIES_HEAD}dtype: torch.float32\nout_dtype: bfloat16\ntokenizer_source: base\nname: my-merge\nparameters: {weight: 1}\nmodels: [expert-1]\n` },
  {
    name: 'other-method-param-warns',
    text: `${TIES_HEAD}parameters: {weight: 1, t: 0.5}\nmodels:\n  - model: expert-1\n    parameters: {epsilon: 0.1}\n`,
    warnings: [/parameters: t is not a parameter of ties and is ignored/, /model expert-1: epsilon is not a parameter of ties and is ignored/],
  },
  {
    name: 'linear-ignores-base',
    text: 'merge_method: linear\nbase_model: base\nmodels:\n  - model: expert-1\n    parameters: {weight: 1}\n  - model: expert-2\n    parameters: {weight: 3}\n',
    warnings: [/linear does not use base_model; base is ignored/],
  },
  { name: 'slerp-one-model', text: 'merge_method: slerp\nbase_model: base\nparameters: {t: [0, 0.5, 1]}\nmodels: [base, expert-1]\n' },
];

describe('valid recipes pass', () => {
  it.each(GOOD)('$name', ({ name, text, warnings }) => {
    const recipe = readRecipeFile(writeRecipe(root, `good-${name}`, text));
    const plan = planMerge(recipe, 0);
    try {
      expect(plan.jobs.length).toBeGreaterThan(0);
    } finally {
      plan.close();
    }
    expect(recipe.warnings).toHaveLength(warnings?.length ?? 0);
    for (const [i, w] of (warnings ?? []).entries()) expect(recipe.warnings[i]).toMatch(w);
  });

  it('parses the pieces of a full recipe', () => {
    const recipe = readRecipeFile(writeRecipe(root, 'good-full', `${TIES_HEAD}dtype: torch.float32\nout_dtype: bfloat16\ntokenizer_source: base\nparameters: {weight: 1}\nmodels: [base, expert-1]\n`));
    expect(recipe.method.name).toBe('ties');
    expect(recipe.dtype).toBe('F32');
    expect(recipe.outDtype).toBe('BF16');
    expect(recipe.tokenizerSource).toBe('base');
    expect(recipe.baseModel?.path).toBe(path.join(root, 'base'));
    // the base listed among the models is that same entry, not a copy
    expect(recipe.models[0]).toBe(recipe.baseModel);
  });

  it('a valid recipe merges: out_dtype sets the tensor dtype and config torch_dtype; no temp folder is left', async () => {
    const file = writeRecipe(root, 'good-merge', `${TIES_HEAD}out_dtype: bfloat16\nparameters: {weight: 0.5, density: 0.5}\nmodels: [expert-1, expert-2]\n`);
    const out = path.join(root, 'out-good-merge');
    const summary = await mergeToFolder(readRecipeFile(file), { out, threads: 1 });
    expect(summary.out).toBe(out);
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.out-good-merge.partial-'))).toEqual([]);
    const merged = Checkpoint.open(out);
    try {
      expect(new Set([...merged.tensors.values()].map((t) => t.dtype))).toEqual(new Set(['BF16']));
      expect(merged.config?.raw.torch_dtype).toBe('bfloat16');
      expect(merged.tensors.size).toBe(summary.tensors);
    } finally {
      merged.close();
    }
  });
});

describe('regressions found in review', () => {
  it('a folder given as the recipe is IO_E_NOT_FOUND, not a crash', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-recipe-dir-'));
    try {
      expect(() => readRecipeFile(dir)).toThrow(/IO_E_NOT_FOUND: recipe .* is a folder/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an empty model path is RECIPE_E_FIELD naming the entry', () => {
    expect(() => parseRecipe('merge_method: linear\nmodels:\n  - model: ""\n    parameters: {weight: 1}\n', 'r.yaml')).toThrow(/RECIPE_E_FIELD: r.yaml: models\[0\]: the model path is empty/);
  });
});
