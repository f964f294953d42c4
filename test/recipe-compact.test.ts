// The recipes mergesearch writes are compact but exact: compactFilters() against hand-worked lists
// and, on random name trees, against an independent first-match evaluation; recipeYaml() puts
// gradients and filter entries on one line each and reads back to the same object.
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { FilterEntry, Scalar } from '../src/merge/parameters.ts';
import { compactFilters } from '../src/search/compact-filters.ts';
import { recipeYaml } from '../src/search/to-recipe.ts';
import { seededRandom } from '../src/tensor/random.ts';

/** mergekit's rule, written out independently: the first entry without filter, or whose filter is in the name, wins. */
function firstMatch(list: FilterEntry[], name: string): unknown {
  for (const e of list) if (e.filter === undefined || name.includes(e.filter)) return e.value;
  return undefined;
}

const TASKS = ['plain', 'rot90', 'rot180', 'invert', 'mirror', 'permute', 'blocks', 'noise'];
const BACKBONE = [0, 1, 2].flatMap((i) => [`backbone.layers.${i}.weight`, `backbone.layers.${i}.bias`, `backbone.layers.${i}.norm.weight`, `backbone.layers.${i}.norm.bias`]);

describe('compactFilters', () => {
  it('routes eight task heads with two entries and a default (hand-worked)', () => {
    // expert "rot90": its own head 1, the other heads 0, the backbone its searched weight 0.3
    const values = new Map<string, Scalar>([...BACKBONE.map((n) => [n, 0.3] as const), ...TASKS.map((t) => [`heads.${t}.weight`, t === 'rot90' ? 1 : 0] as const)]);
    expect(compactFilters(values, 3)).toEqual([
      { filter: 'heads.rot90.', value: 1 },
      { filter: 'heads.', value: 0 },
      { value: 0.3 },
    ]);
  });

  it('a prefix filter ends with a dot, so heads.a. does not also catch heads.ab.', () => {
    const values = new Map<string, Scalar>([
      ['heads.a.weight', 1],
      ['heads.ab.weight', 0],
      ['heads.abc.weight', 0],
      ['body.weight', 0.5],
      ['body.bias', 0.5],
    ]);
    const list = compactFilters(values, 1)!;
    for (const [n, v] of values) expect(firstMatch(list, n), n).toBe(v);
    expect(list.map((e) => e.filter)).toEqual(['heads.a.', 'heads.', undefined]);
  });

  it('with a gradient over the layers last, only the tensors outside the layers get entries', () => {
    const layers = [0.1, 0.2, 0.3];
    const domain = new Map<string, Scalar>([
      ...[0, 1, 2].map((i) => [`model.layers.${i}.mlp.weight`, layers[i]!] as const),
      ['model.embed_tokens.weight', 0.7],
      ['lm_head.weight', 0.9],
      ['model.norm.weight', 0.7],
    ]);
    const outside = new Map([...domain].filter(([n]) => !n.includes('layers')));
    const list = compactFilters(outside, 3, { value: layers, domain })!;
    // model. would also catch the layers: its parts get entries of their own
    expect(list).toEqual([{ filter: 'model.embed_tokens.', value: 0.7 }, { filter: 'model.norm.', value: 0.7 }, { filter: 'lm_head.', value: 0.9 }, { value: layers }]);
  });

  it('random name trees: whenever a list is returned, first-match gives every tensor its value', () => {
    const rand = seededRandom(7);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
    const partsPool = ['a', 'b', 'ab', 'layers', 'heads', 'x1', 'x11', 'w'];
    let returned = 0;
    for (let trial = 0; trial < 300; trial++) {
      const values = new Map<string, Scalar>();
      const n = 2 + Math.floor(rand() * 12);
      const palette = [0, 1, 0.5, 0.25].slice(0, 1 + Math.floor(rand() * 4));
      for (let i = 0; i < n; i++) {
        const depth = 1 + Math.floor(rand() * 4);
        const name = Array.from({ length: depth }, () => pick(partsPool)).join('.');
        values.set(name, pick(palette));
      }
      if (new Set(values.values()).size < 2) continue;
      // Half the time some tensors fall through to a last entry of their own (a stand-in for a gradient).
      const withTail = rand() < 0.5;
      const own = new Map([...values].filter(() => !withTail || rand() < 0.6));
      const domain = new Map([...values].map(([k, v]) => [k, own.has(k) ? v : 9]));
      const list = withTail ? compactFilters(own, 1, { value: 9, domain }) : compactFilters(values, 1);
      if (!list) continue;
      returned++;
      for (const [name, v] of domain) expect(firstMatch(list, name), `${name} in ${JSON.stringify(list)}`).toBe(v);
    }
    // the name parts are chosen to collide (a in ab, x1 in x11): many trees get no list, many do
    expect(returned).toBeGreaterThan(40);
  });
});

describe('recipeYaml', () => {
  it('puts gradients and filter entries on one line each, and reads back to the same object', () => {
    const recipe = {
      merge_method: 'ties',
      base_model: '../zoo/base',
      models: [
        { model: '../zoo/e1', parameters: { weight: [0.1, 0.25, 0.5], density: [{ filter: 'heads.e1.', value: 1 }, { filter: 'heads.', value: 0 }, { value: [0.2, 0.4] }] } },
      ],
      parameters: { lambda: 1 },
    };
    const text = recipeYaml(recipe, 'study s, trial 3');
    expect(text).toContain('# study s, trial 3\n');
    expect(text).toContain('weight: [0.1, 0.25, 0.5]\n');
    expect(text).toContain('- {filter: heads.e1., value: 1}\n');
    expect(text).toContain('- {value: [0.2, 0.4]}\n');
    expect(YAML.parse(text)).toEqual(recipe);
    expect(text.split('\n').length).toBeLessThanOrEqual(16);
  });
});
