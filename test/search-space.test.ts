// The search space (vector ⇄ merge parameters per tensor), the point → mergekit recipe conversion
// (checked against mergekit's own setting semantics, `evaluateSetting`), and study-config validation.
import { describe, expect, it } from 'vitest';
import { evaluateSetting, layerPosition, type Setting } from '../src/merge/parameters.ts';
import { SearchSpace, type SpaceSpec } from '../src/search/space.ts';
import { parseStudyConfig, resolveZooObjectives } from '../src/search/study-config.ts';
import { recipeFor } from '../src/search/to-recipe.ts';
import { rng } from './helpers/io-tmp.ts';

const TENSORS = [
  'model.embed_tokens.weight',
  'model.layers.0.self_attn.q_proj.weight',
  'model.layers.0.mlp.up_proj.weight',
  'model.layers.1.self_attn.q_proj.weight',
  'model.layers.1.mlp.up_proj.weight',
  'model.norm.weight',
];
const MODELS = ['a', 'b', 'c'];

const space = (spec: Partial<SpaceSpec>) =>
  new SearchSpace({ method: 'task_arithmetic', granularity: 'task', parameters: { weight: { low: 0, high: 1 } }, ...spec }, TENSORS, MODELS);

describe('SearchSpace layout', () => {
  it('task granularity: one weight per model, init 1/N', () => {
    const s = space({});
    expect(s.dim).toBe(3);
    expect(s.init).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(s.names).toEqual(['weight[a]', 'weight[b]', 'weight[c]']);
    const p = s.paramsFor([0.1, 0.2, 0.3], 'model.layers.1.mlp.up_proj.weight');
    expect(p.perModel.map((m) => m.weight)).toEqual([0.1, 0.2, 0.3]);
  });

  it('layer granularity: units are the layers plus one for tensors outside them; globals take one coordinate per unit', () => {
    const s = space({ granularity: 'layer', parameters: { weight: { low: 0, high: 2, init: 0.5 }, lambda: { low: 0.5, high: 1.5, granularity: 'task' } } });
    expect(s.unitsOf('weight').map((u) => u.key)).toEqual(['outside layers', 'layer 0', 'layer 1']);
    expect(s.dim).toBe(3 * 3 + 1);
    const x = Array.from({ length: s.dim }, (_, i) => i / 10);
    // weight of model b (index 1) on layer 1 (unit 2) is coordinate 1·3 + 2 = 5.
    expect(s.coordinate('weight', 1, 2)).toBe(5);
    const p = s.paramsFor(x, 'model.layers.1.self_attn.q_proj.weight');
    expect(p.perModel.map((m) => m.weight)).toEqual([0.2, 0.5, 0.8]);
    expect(p.global.lambda).toBe(0.9);
    expect(s.paramsFor(x, 'model.norm.weight').perModel.map((m) => m.weight)).toEqual([0, 0.3, 0.6]);
    expect(s.encode(s.decode(x))).toEqual(x);
  });

  it('groups split units by tensor name; unmatched tensors form the group "other"', () => {
    const s = space({ granularity: 'layer', groups: [{ name: 'attn', filter: 'self_attn' }, { name: 'mlp', filter: 'mlp' }] });
    expect(s.unitsOf('weight').map((u) => u.key)).toEqual(['outside layers/other', 'layer 0/attn', 'layer 0/mlp', 'layer 1/attn', 'layer 1/mlp']);
    expect(s.dim).toBe(15);
  });

  it('tensor granularity: one unit per tensor', () => {
    const s = space({ granularity: 'tensor' });
    expect(s.dim).toBe(3 * TENSORS.length);
    expect(s.unitOfTensor('weight', 'model.norm.weight')).toBe(5);
  });

  it.each([
    [{ parameters: { wieght: { low: 0, high: 1 } } }, /no parameter "wieght"/],
    [{ parameters: { weight: { low: 1, high: 0 } } }, /low < high/],
    [{ parameters: { weight: { low: 0, high: 1, init: 2 } } }, /init = 2 is outside/],
    [{ parameters: { lambda: { low: 0, high: 1 } } }, /needs "weight" per model/],
    [{ groups: [{ name: 'x', filter: 'nothing-like-this' }] }, /matches no tensor/],
    [{ method: 'nonsense' }, /unknown merge method/],
    [{ parameters: {} }, /space.parameters is empty/],
  ])('rejects %j', (spec, message) => {
    expect(() => space(spec as Partial<SpaceSpec>)).toThrow(message);
  });
});

describe('point → mergekit recipe', () => {
  // Independent check: mergekit's own reading of each setting (evaluateSetting at the tensor's
  // depth) must give back exactly the value the space assigns to that tensor.
  const check = (s: SearchSpace) => {
    const r = rng(7);
    const x = s.low.map((lo, i) => lo + r() * (s.high[i]! - lo));
    const recipe = recipeFor(s, x, { base: 'base', experts: MODELS }, { numLayers: 2 }) as {
      models: Array<{ parameters: Record<string, Setting> }>;
      parameters?: Record<string, Setting>;
    };
    for (const t of TENSORS) {
      const want = s.paramsFor(x, t);
      const depth = layerPosition(t, 2);
      recipe.models.forEach((m, i) => {
        for (const [k, v] of Object.entries(want.perModel[i]!)) expect(evaluateSetting(t, m.parameters[k], depth)).toBeCloseTo(v as number, 12);
      });
      for (const [k, v] of Object.entries(want.global)) expect(evaluateSetting(t, recipe.parameters?.[k], depth)).toBe(v);
    }
    return recipe;
  };

  it('task granularity gives scalars', () => {
    const recipe = check(space({ fixed: { lambda: 0.8 } }));
    expect(typeof recipe.models[0]!.parameters.weight).toBe('number');
    expect(recipe.parameters?.lambda).toBe(0.8);
  });

  it('layer granularity gives one gradient anchor per layer plus filters outside layers', () => {
    const recipe = check(space({ granularity: 'layer' }));
    const w = recipe.models[0]!.parameters.weight as Array<{ filter?: string; value: unknown }>;
    expect(w.map((e) => e.filter)).toEqual(['model.embed_tokens.weight', 'model.norm.weight', undefined]);
    expect((w[2]!.value as number[]).length).toBe(2);
  });

  it('tensor and grouped granularities give exact per-tensor filters', () => {
    check(space({ granularity: 'tensor', parameters: { weight: { low: 0, high: 1 }, lambda: { low: 0.5, high: 2 } } }));
    check(space({ granularity: 'layer', groups: [{ name: 'attn', filter: 'self_attn' }] }));
  });
});

describe('study configs', () => {
  const base = `
zoo: mnist8
space: {method: ties, granularity: layer, parameters: {weight: {low: 0, high: 1}}, fixed: {density: 0.2}}
objectives: {tasks: all, evaluator: accuracy}
optimizer: {name: cmaes, sigma0: 0.2}
budget: {trials: 10}
`;
  it('parses a valid config with defaults', () => {
    const c = parseStudyConfig(base, 'x.yaml', { defaultName: 'x' });
    expect(c.name).toBe('x');
    expect(c.seed).toBe(0);
    expect(c.optimizer).toEqual({ name: 'cmaes', settings: { sigma0: 0.2 } });
    expect(c.space.fixed).toEqual({ density: 0.2 });
    const objectives = resolveZooObjectives(c.objectives, ['plain', 'rot90'], 'x.yaml');
    expect(objectives.map((o) => [o.name, o.direction])).toEqual([['plain', 'maximize'], ['rot90', 'maximize']]);
  });

  it.each([
    ['budgt: {trials: 1}', /unknown key "budgt" \(did you mean "budget"\?\)/],
    ['space: {method: tis, parameters: {weight: {low: 0, high: 1}}}', /did you mean "ties"/],
    ['budget: {}', /budget must be at least one of/],
    ['objectives: [{task: plain, evaluator: accurcy}]', /evaluator "accurcy" is not the mnist8 zoo's evaluator \(did you mean "accuracy"\?\); evaluators: accuracy,/],
    ['objectives: [{task: plain, split: train}]', /split must be one of calibration, validation, test \(got "train"\)/],
    ['checkpoints: {base: b, experts: [e]}', /exactly one of zoo/],
  ])('rejects %s', (line, message) => {
    const key = line.split(':')[0]!;
    const text = base.split('\n').filter((l) => !l.startsWith(`${key}:`) && !(key === 'budgt' && l.startsWith('budget'))).join('\n') + `\n${line}\n`;
    let err: unknown;
    try {
      parseStudyConfig(text, 'x.yaml');
    } catch (e) {
      err = e;
    }
    expect(String(err)).toMatch(message);
    expect(String(err)).toMatch(/^MergeSearchError: CONFIG_E_/);
  });

  it('rejects an objective task the zoo does not have', () => {
    const c = parseStudyConfig(base.replace('{tasks: all, evaluator: accuracy}', '[{task: rot45}]'), 'x.yaml');
    expect(() => resolveZooObjectives(c.objectives, ['plain'], 'x.yaml')).toThrow(/objective task "rot45" is not in the zoo; its tasks are plain/);
  });
});
