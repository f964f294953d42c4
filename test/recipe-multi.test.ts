// Several recipe documents in one file (mergekit-multi): names as models, dependency order,
// intermediate results kept under the output, and coded errors for cycles and unknown names.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { planDocuments, recipeDocuments, scratchFolder } from '../src/merge/multi-recipe.ts';
import { writeSyntheticLlama, type LlamaShape } from '../src/zoo/synthetic-llama.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { runCli } from './helpers/recipe-fixtures.ts';

const SHAPE: LlamaShape = { hidden: 16, intermediate: 24, layers: 4, vocab: 32, heads: 2, kvHeads: 1 };

// `blend` uses `halfmix`, defined after it: the file order is not the run order.
const MULTI = `name: blend
merge_method: linear
models:
  - {model: halfmix, parameters: {weight: 0.5}}
  - {model: c, parameters: {weight: 0.5}}
---
name: halfmix
merge_method: linear
models:
  - {model: a, parameters: {weight: 1}}
  - {model: b, parameters: {weight: 1}}
---
slices:
  - sources: [{model: blend, layer_range: [0, 2]}]
  - sources: [{model: a, layer_range: [2, 4]}]
merge_method: passthrough
`;

let tmp: { dir: string; cleanup: () => void };

beforeAll(() => {
  tmp = makeTmp('mergesearch-multi-');
  ['a', 'b', 'c'].forEach((n, i) => writeSyntheticLlama(path.join(tmp.dir, n), SHAPE, { seed: 3 + i, dtype: 'F32' }));
});

afterAll(() => tmp?.cleanup());

describe('multi-document recipes', () => {
  it('runs the documents in dependency order and checks the final model against a float64 computation', () => {
    const file = path.join(tmp.dir, 'multi.yaml');
    fs.writeFileSync(file, MULTI);
    const out = path.join(tmp.dir, 'out');
    const r = runCli(['merge', file, '--out', out, '--threads', '1']);
    expect(r.status, r.stderr).toBe(0);
    const order = [...r.stderr.matchAll(/document \d\/3: (\S+)/g)].map((m) => m[1]);
    expect(order).toEqual(['halfmix', 'blend', 'final']);
    expect(fs.readdirSync(path.join(out, 'intermediate')).sort()).toEqual(['blend', 'halfmix']);
    expect(fs.existsSync(scratchFolder(out))).toBe(false);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => Checkpoint.open(path.join(tmp.dir, n)));
    const merged = Checkpoint.open(out);
    try {
      expect(merged.tensors.size).toBe(a!.tensors.size);
      let worst = 0;
      for (const name of merged.tensors.keys()) {
        const m = /^model\.layers\.(\d+)\./.exec(name);
        const k = m ? Number(m[1]) : -1;
        const have = merged.readF32(name);
        // Layers 0-1 and the embeddings: blend = (a + b)/2 · ½ + c · ½ (linear normalises its weights).
        // Layers 2-3, final norm and head: a's (the last slice), copied.
        const fromBlend = (m && k < 2) || name.includes('embed');
        const av = a!.readF32(name);
        const bv = b!.readF32(name);
        const cv = c!.readF32(name);
        for (let e = 0; e < have.length; e++) {
          const want = fromBlend ? 0.5 * ((av[e]! + bv[e]!) / 2) + 0.5 * cv[e]! : av[e]!;
          // Two float32 roundings (the intermediate, then the final): relative to the inputs' size.
          worst = Math.max(worst, Math.abs(have[e]! - want) / (Math.abs(av[e]!) + Math.abs(bv[e]!) + Math.abs(cv[e]!)));
        }
      }
      expect(worst).toBeLessThan(4 * 2 ** -24);
      const halfmix = Checkpoint.open(path.join(out, 'intermediate', 'halfmix'));
      const q = 'model.layers.1.self_attn.q_proj.weight';
      expect(halfmix.readF32(q)[5]).toBeCloseTo((a!.readF32(q)[5]! + b!.readF32(q)[5]!) / 2, 6);
      halfmix.close();
      // Each folder's mergekit_config.yml is its own document, as written.
      expect(fs.readFileSync(path.join(out, 'intermediate', 'halfmix', 'mergekit_config.yml'), 'utf8')).toBe(MULTI.split('---\n')[1]);
      expect(fs.readFileSync(path.join(out, 'mergekit_config.yml'), 'utf8')).toBe(MULTI.split('---\n')[2]);
    } finally {
      [a, b, c, merged].forEach((x) => x!.close());
    }
  });

  const plan = (text: string) => planDocuments(recipeDocuments(text, path.join(tmp.dir, 'm.yaml')), path.join(tmp.dir, 'm.yaml'), path.join(tmp.dir, 'never'));

  it('a cycle, an unknown name, a repeated name and two unnamed documents are coded errors', () => {
    const doc = (name: string | undefined, model: string) => `${name ? `name: ${name}\n` : ''}merge_method: linear\nmodels:\n  - {model: ${model}, parameters: {weight: 1}}\n  - {model: a, parameters: {weight: 1}}\n`;
    expectCode(() => plan([doc('x', 'y'), doc('y', 'x'), doc(undefined, 'x')].join('---\n')), 'RECIPE_E_DOCUMENT', 'circle', 'x → y → x');
    expectCode(() => plan([doc('x', 'a'), doc(undefined, 'xx')].join('---\n')), 'RECIPE_E_DOCUMENT', 'xx', 'names: x');
    expectCode(() => plan([doc('x', 'a'), doc('x', 'b'), doc(undefined, 'x')].join('---\n')), 'RECIPE_E_DOCUMENT', 'two documents are named x');
    expectCode(() => plan([doc(undefined, 'a'), doc(undefined, 'b')].join('---\n')), 'RECIPE_E_DOCUMENT', 'no name');
    // All named: the last document is the final one, and nothing may read it.
    expectCode(() => plan([doc('early', 'fin'), doc('fin', 'a')].join('---\n')), 'RECIPE_E_DOCUMENT', 'fin is the final document', 'early');
    expectCode(() => plan([doc('../up', 'a'), doc(undefined, 'b')].join('---\n')), 'RECIPE_E_DOCUMENT', '../up');
  });

  it('every document is validated before any merge runs: a bad parameter in the last document stops the first', () => {
    const file = path.join(tmp.dir, 'bad.yaml');
    fs.writeFileSync(file, `name: ok\nmerge_method: linear\nmodels: [a, b]\n---\nmerge_method: linear\nmodels:\n  - {model: ok, parameters: {wieght: 1}}\n`);
    const out = path.join(tmp.dir, 'out-bad');
    const r = runCli(['merge', file, '--out', out]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('RECIPE_E_PARAM');
    expect(fs.existsSync(scratchFolder(out))).toBe(false);
    expect(fs.existsSync(out)).toBe(false);
  });
});
