// mergekit's run options inside a recipe (lazy_unpickle, allow_crimes, ...) are ignored with a
// warning naming the key, as mergekit's config reader ignores them; misspelt keys are still refused
// with a suggestion. Recipes mergekit cannot reproduce (methods it lacks, LiNeS, rescale kinds it
// cannot read) say so on the console and in the model card, naming what mergekit would compute
// instead, while mergekit_config.yml stays the recipe as given.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { mergekitNotes, MERGEKIT_METHODS } from '../src/merge/mergekit-compat.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { methodNames } from '../src/merge/registry.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

const tmp = makeTmp('ms-mergekit-keys-');
let base: string;
let e1: string;
let e2: string;

beforeAll(() => {
  const tensors = (shift: number) => [
    { name: 'model.layers.0.mlp.up_proj.weight', shape: [4, 3], values: Array.from({ length: 12 }, (_, i) => Math.sin(i + shift)) },
    { name: 'model.layers.1.mlp.up_proj.weight', shape: [4, 3], values: Array.from({ length: 12 }, (_, i) => Math.cos(i * shift)) },
  ];
  base = writeHandCheckpoint(path.join(tmp.dir, 'base'), tensors(0), { num_hidden_layers: 2 });
  e1 = writeHandCheckpoint(path.join(tmp.dir, 'e1'), tensors(0.3), { num_hidden_layers: 2 });
  e2 = writeHandCheckpoint(path.join(tmp.dir, 'e2'), tensors(0.7), { num_hidden_layers: 2 });
});
afterAll(() => tmp.cleanup());

const ties = (extra: string, params = 'weight: 0.5, density: 0.5') => `merge_method: ties\nbase_model: ${base}\nmodels:\n  - model: ${e1}\n    parameters: { ${params} }\n  - model: ${e2}\n    parameters: { ${params} }\n${extra}`;

describe('mergekit run options in a recipe', () => {
  it('top-level run options are ignored with a warning naming each key', () => {
    const r = parseRecipe(ties('lazy_unpickle: true\nallow_crimes: true\nout_shard_size: 1000000000\ncopy_tokenizer: false\ntrust_remote_code: true\n'), 'r.yml');
    expect(r.warnings).toHaveLength(5);
    for (const [i, key] of ['lazy_unpickle', 'allow_crimes', 'out_shard_size', 'copy_tokenizer', 'trust_remote_code'].entries()) {
      expect(r.warnings[i]).toBe(`r.yml: ${key} is a mergekit run option (mergekit-yaml --${key.replace(/_/g, '-')}), not a recipe key; mergekit ignores it here, and so does mergesearch`);
    }
    expect(r.method.name).toBe('ties');
  });
  it('a run option among the parameters is ignored with a warning', () => {
    const r = parseRecipe(ties('parameters: { lambda: 0.5, allow_crimes: true }\n', 'weight: 0.5, lazy_unpickle: true'), 'r.yml');
    expect(r.warnings).toEqual([
      expect.stringMatching(/^r\.yml: parameters: allow_crimes is a mergekit run option/),
      expect.stringMatching(new RegExp(`^r\\.yml: model ${e1}: lazy_unpickle is a mergekit run option`)),
      expect.stringMatching(new RegExp(`^r\\.yml: model ${e2}: lazy_unpickle is a mergekit run option`)),
    ]);
  });
  it('misspelt keys are still refused, with the closest name (run options included)', () => {
    expectCode(() => parseRecipe(ties('lazy_unpicle: true\n'), 'r.yml'), 'RECIPE_E_FIELD', 'unknown key lazy_unpicle', 'did you mean lazy_unpickle?');
    expectCode(() => parseRecipe(ties('merge_methd: ties\n'), 'r.yml'), 'RECIPE_E_FIELD', 'unknown key merge_methd', 'did you mean merge_method?');
    expectCode(() => parseRecipe(ties('', 'weight: 0.5, densty: 0.5'), 'r.yml'), 'RECIPE_E_PARAM', 'densty', 'did you mean density?');
  });
});

describe('notes for merges mergekit cannot reproduce', () => {
  it('lists exactly the methods mergekit lacks', () => {
    const missing = methodNames().filter((m) => !MERGEKIT_METHODS.has(m));
    expect(missing.sort()).toEqual(['cart', 'consensus', 'fisher', 'iso_c', 'iso_cts', 'pcb', 'regmean', 'regmean_plus', 'tsv_m', 'widen', 'wudi']);
    // every method mergekit has is here too
    expect([...MERGEKIT_METHODS].filter((m) => !methodNames().includes(m))).toEqual([]);
  });
  it('a method mergekit lacks names the nearest mergekit method', () => {
    const r = parseRecipe(`merge_method: widen\nbase_model: ${base}\nmodels: [${e1}, ${e2}]\n`);
    expect(mergekitNotes(r)).toEqual([expect.stringMatching(/^mergekit has no widen method and stops on this recipe .*nearest it computes is `task_arithmetic`/)]);
  });
  it('rescale kinds mergekit cannot read name rescale: true', () => {
    const dare = (rescale: string) => parseRecipe(`merge_method: dare_ties\nbase_model: ${base}\nparameters: { rescale: ${rescale} }\nmodels:\n  - model: ${e1}\n    parameters: { weight: 1, density: 0.5 }\n`);
    expect(mergekitNotes(dare('inverse_density'))).toEqual([expect.stringMatching(/refuses rescale: inverse_density; the nearest it computes is rescale: true \(L1-norm matching of what is kept, not 1\/density\)/)]);
    expect(mergekitNotes(dare('l1'))).toEqual([expect.stringMatching(/refuses rescale: l1; write rescale: true for the same merge/)]);
    expect(mergekitNotes(dare('true'))).toEqual([]);
    expect(mergekitNotes(dare('false'))).toEqual([]);
  });
  it('LiNeS is noted only when it changes the merge', () => {
    expect(mergekitNotes(parseRecipe(ties('parameters: { lines_beta: 0.5 }\n')))).toEqual([expect.stringMatching(/mergekit has no LiNeS: it ignores lines_alpha and lines_beta/)]);
    expect(mergekitNotes(parseRecipe(ties('parameters: { lines_alpha: [1, 0.8] }\n')))).toHaveLength(1);
    expect(mergekitNotes(parseRecipe(ties('parameters: { lines_alpha: 1, lines_beta: 0 }\n')))).toEqual([]);
    expect(mergekitNotes(parseRecipe(ties('')))).toEqual([]);
  });
  it('the console and the model card carry the note; mergekit_config.yml is the recipe as given', async () => {
    const text = ties('parameters: { lines_alpha: 0.5, lines_beta: 1 }\n');
    const warnings: string[] = [];
    const out = path.join(tmp.dir, 'out-lines');
    await mergeToFolder(parseRecipe(text), { out, threads: 1, onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([expect.stringMatching(/^not reproducible with mergekit: mergekit has no LiNeS/)]);
    const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(card).toContain('### Reproducing with mergekit');
    expect(card).toContain('* mergekit has no LiNeS: it ignores lines_alpha and lines_beta and computes the same merge with the merged task vector unscaled by depth (lines_alpha 1, lines_beta 0).');
    expect(fs.readFileSync(path.join(out, 'mergekit_config.yml'), 'utf8')).toBe(text);
  });
  it('a merge mergekit reproduces gets no such section', async () => {
    const out = path.join(tmp.dir, 'out-sce');
    const warnings: string[] = [];
    await mergeToFolder(parseRecipe(`merge_method: sce\nbase_model: ${base}\nparameters: { select_topk: 0.5 }\nmodels: [${e1}, ${e2}]\n`), { out, threads: 1, onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).not.toContain('Reproducing with mergekit');
  });
});
