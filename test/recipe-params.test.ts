// Parameter resolution per tensor, as planMerge does it: gradients over layer depth, filter lists,
// a model's own setting before the global one before the method default.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerIndexOf } from '../src/io/checkpoint.ts';
import { planMerge, type MergePlan, type TensorJob } from '../src/merge/plan.ts';
import { evaluateSetting, layerPosition } from '../src/merge/parameters.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { tensorSeed } from '../src/tensor/random.ts';
import { TINY_LLAMA, writeSyntheticFamily, writeSyntheticLlama } from '../src/zoo/synthetic-llama.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

let tmp: { dir: string; cleanup: () => void };
let root: string;

beforeAll(() => {
  tmp = makeTmp('mergesearch-params-');
  root = tmp.dir;
  writeSyntheticFamily(root, TINY_LLAMA, 2); // 4 layers
  writeSyntheticLlama(path.join(root, 'one-layer-base'), { ...TINY_LLAMA, layers: 1 });
  writeSyntheticLlama(path.join(root, 'one-layer-expert'), { ...TINY_LLAMA, layers: 1 }, { expert: 1 });
  // no config.json: the layer count comes from the tensor names (3 layers)
  const names = ['model.embed_tokens.weight', 'model.layers.0.mlp.up_proj.weight', 'model.layers.1.mlp.up_proj.weight', 'model.layers.2.mlp.up_proj.weight'];
  writeHandCheckpoint(path.join(root, 'noconfig-a'), names.map((name) => ({ name, shape: [2, 2] })));
  writeHandCheckpoint(path.join(root, 'noconfig-b'), names.map((name) => ({ name, shape: [2, 2], values: [1, 2, 3, 4] })));
});

afterAll(() => tmp?.cleanup());

/** Plan `text` (a recipe whose paths are relative to the family root), run `fn`, close. */
function withPlan(text: string, fn: (plan: MergePlan, job: (name: string) => TensorJob) => void, seed = 0): void {
  const plan = planMerge(parseRecipe(text, path.join(root, 'recipe.yaml')), seed);
  try {
    const byName = new Map(plan.jobs.map((j) => [j.name, j]));
    fn(plan, (name) => {
      const j = byName.get(name);
      if (!j) throw new Error(`no job for ${name}`);
      return j;
    });
  } finally {
    plan.close();
  }
}

const OUTSIDE = ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight'];
const IN_LAYER = ['input_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'mlp.down_proj.weight'];

describe('gradients over layer depth', () => {
  const recipe = 'merge_method: ties\nbase_model: base\nmodels:\n  - model: base\n  - model: expert-1\n    parameters: {weight: [0, 1]}\n  - model: expert-2\n    parameters: {weight: [1, 0, 1]}\n';

  it('layer i of 4 sits at t = i/3; tensors outside the layers sit at t = 0', () => {
    withPlan(recipe, (plan, job) => {
      expect(plan.numLayers).toBe(4);
      for (let i = 0; i < 4; i++) for (const s of IN_LAYER) expect(job(`model.layers.${i}.${s}`).ctx.t).toBeCloseTo(i / 3, 14);
      for (const n of OUTSIDE) expect(job(n).ctx.t).toBe(0);
    });
  });

  it('weight: [0, 1] resolves to 0, 1/3, 2/3, 1 for layers 0..3 and 0 outside the layers', () => {
    withPlan(recipe, (plan, job) => {
      // the base (listed among the models) is not an input of its own
      for (const j of plan.jobs) expect(j.ctx.perModel).toHaveLength(2);
      for (let i = 0; i < 4; i++) {
        for (const s of IN_LAYER) expect(job(`model.layers.${i}.${s}`).ctx.perModel[0]!.weight).toBeCloseTo(i / 3, 12);
      }
      for (const n of OUTSIDE) expect(job(n).ctx.perModel[0]!.weight).toBe(0);
    });
  });

  it('a three-point gradient interpolates piecewise: [1, 0, 1] → 1, 1/3, 1/3, 1', () => {
    withPlan(recipe, (_plan, job) => {
      const want = [1, 1 / 3, 1 / 3, 1];
      for (let i = 0; i < 4; i++) expect(job(`model.layers.${i}.mlp.up_proj.weight`).ctx.perModel[1]!.weight).toBeCloseTo(want[i]!, 12);
      for (const n of OUTSIDE) expect(job(n).ctx.perModel[1]!.weight).toBe(1);
    });
  });

  it('every job holds all resolved values; each is a plain number', () => {
    withPlan(recipe, (plan) => {
      for (const j of plan.jobs) {
        expect(j.merge).toBe(true);
        for (const p of j.ctx.perModel) expect(typeof p.weight).toBe('number');
        expect(j.ctx.perModel[0]!.density).toBe(1); // ties' default density
        expect(j.ctx.global.normalize).toBe(true); // ties' default
        expect(j.ctx.global.lambda).toBe(1);
      }
    });
  });

  it('global parameters take gradients too: lambda: [1, 2]', () => {
    withPlan('merge_method: task_arithmetic\nbase_model: base\nparameters: {weight: 1, lambda: [1, 2]}\nmodels: [expert-1]\n', (_plan, job) => {
      for (let i = 0; i < 4; i++) expect(job(`model.layers.${i}.self_attn.o_proj.weight`).ctx.global.lambda).toBeCloseTo(1 + i / 3, 12);
      expect(job('lm_head.weight').ctx.global.lambda).toBe(1);
      expect(job('lm_head.weight').ctx.global.normalize).toBe(false); // task_arithmetic's default
    });
  });

  it('a list of non-numbers picks an entry by floor(t · (n − 1)) (rescale per layer)', () => {
    withPlan('merge_method: dare_ties\nbase_model: base\nparameters: {weight: 1, density: 0.5, rescale: [l1, l2, linf, inverse_density]}\nmodels: [expert-1]\n', (_plan, job) => {
      const want = ['l1', 'l2', 'linf', 'inverse_density'];
      for (let i = 0; i < 4; i++) expect(job(`model.layers.${i}.mlp.gate_proj.weight`).ctx.global.rescale).toBe(want[i]);
      expect(job('model.norm.weight').ctx.global.rescale).toBe('l1');
    });
  });

  it('a one-layer model puts its layer at t = 1 (as mergekit) and other tensors at t = 0', () => {
    withPlan('merge_method: ties\nbase_model: one-layer-base\nmodels:\n  - model: one-layer-expert\n    parameters: {weight: [0.25, 1]}\n', (plan) => {
      expect(plan.numLayers).toBe(1);
      for (const j of plan.jobs) {
        const inLayer = layerIndexOf(j.name) !== undefined;
        expect(j.ctx.t).toBe(inLayer ? 1 : 0);
        expect(j.ctx.perModel[0]!.weight).toBe(inLayer ? 1 : 0.25);
      }
    });
  });

  it('a gradient of booleans interpolates as 0/1 and reads as true where non-zero (Python\'s bool is an int)', () => {
    // mergekit's evaluate_setting takes [false, true] as numbers: (1 − f)·0 + f·1 = f, truthy for
    // every t > 0; [true, false, true] is 0 only at t = 0.5 exactly.
    expect([0, 0.2, 0.5, 1].map((t) => evaluateSetting('x', [false, true], t))).toEqual([false, true, true, true]);
    expect([0, 0.25, 0.5, 0.75, 1].map((t) => evaluateSetting('x', [true, false, true], t))).toEqual([true, true, false, true, true]);
    expect([0, 0.5, 1].map((t) => evaluateSetting('x', [true, false], t))).toEqual([true, true, false]);
    // Strings are still picked by index, not interpolated.
    expect([0, 0.6, 1].map((t) => evaluateSetting('x', ['l1', 'l2'], t))).toEqual(['l1', 'l1', 'l2']);
  });

  it('a layer index past the layer count is clamped to t = 1 (no NaN from a gradient)', () => {
    expect(layerPosition('vision.blocks.40.attn.weight', 24)).toBe(1);
    expect(evaluateSetting('x', [0, 1], layerPosition('model.layers.30.mlp.up_proj.weight', 4))).toBe(1);
  });

  it('without config.json the layer count comes from the tensor names', () => {
    withPlan('merge_method: linear\nmodels:\n  - model: noconfig-a\n    parameters: {weight: 1}\n  - model: noconfig-b\n    parameters: {weight: [0, 1]}\n', (plan, job) => {
      expect(plan.numLayers).toBe(3);
      expect(job('model.layers.0.mlp.up_proj.weight').ctx.perModel[1]!.weight).toBe(0);
      expect(job('model.layers.1.mlp.up_proj.weight').ctx.perModel[1]!.weight).toBeCloseTo(0.5, 14);
      expect(job('model.layers.2.mlp.up_proj.weight').ctx.perModel[1]!.weight).toBe(1);
    });
  });
});

describe('filter lists', () => {
  it('[{filter: self_attn, value: 0.3}, {value: 0.7}]: 0.3 for attention tensors, 0.7 for the rest', () => {
    const text = 'merge_method: ties\nbase_model: base\nmodels:\n  - model: expert-1\n    parameters:\n      weight: [{filter: self_attn, value: 0.3}, {value: 0.7}]\n';
    withPlan(text, (plan, job) => {
      for (let i = 0; i < 4; i++) {
        for (const p of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) expect(job(`model.layers.${i}.self_attn.${p}.weight`).ctx.perModel[0]!.weight).toBe(0.3);
        for (const p of ['gate_proj', 'up_proj', 'down_proj']) expect(job(`model.layers.${i}.mlp.${p}.weight`).ctx.perModel[0]!.weight).toBe(0.7);
        expect(job(`model.layers.${i}.input_layernorm.weight`).ctx.perModel[0]!.weight).toBe(0.7);
      }
      for (const n of OUTSIDE) expect(job(n).ctx.perModel[0]!.weight).toBe(0.7);
      for (const j of plan.jobs) expect(j.ctx.perModel[0]!.weight).toBe(j.name.includes('self_attn') ? 0.3 : 0.7);
    });
  });

  it('the first matching entry wins, and "*" matches everything', () => {
    const text =
      'merge_method: ties\nbase_model: base\nmodels:\n  - model: expert-1\n    parameters:\n' +
      '      weight: [{filter: proj, value: 0.1}, {filter: mlp, value: 0.9}, {filter: "*", value: 0.5}, {value: 0.2}]\n';
    withPlan(text, (_plan, job) => {
      expect(job('model.layers.0.mlp.up_proj.weight').ctx.perModel[0]!.weight).toBe(0.1);
      expect(job('model.layers.0.self_attn.q_proj.weight').ctx.perModel[0]!.weight).toBe(0.1);
      expect(job('model.layers.0.post_attention_layernorm.weight').ctx.perModel[0]!.weight).toBe(0.5);
      expect(job('lm_head.weight').ctx.perModel[0]!.weight).toBe(0.5);
    });
  });

  it('a filter entry may hold a gradient', () => {
    const text = 'merge_method: ties\nbase_model: base\nmodels:\n  - model: expert-1\n    parameters:\n      weight: [{filter: mlp, value: [0, 1]}, {value: 0.5}]\n';
    withPlan(text, (_plan, job) => {
      for (let i = 0; i < 4; i++) {
        expect(job(`model.layers.${i}.mlp.down_proj.weight`).ctx.perModel[0]!.weight).toBeCloseTo(i / 3, 12);
        expect(job(`model.layers.${i}.self_attn.v_proj.weight`).ctx.perModel[0]!.weight).toBe(0.5);
      }
    });
  });

  it('a filter list that matches nothing falls back to the global setting', () => {
    const text = 'merge_method: ties\nbase_model: base\nparameters: {weight: 0.4}\nmodels:\n  - model: expert-1\n    parameters:\n      weight: [{filter: mlp, value: 0.9}]\n';
    withPlan(text, (_plan, job) => {
      expect(job('model.layers.1.mlp.gate_proj.weight').ctx.perModel[0]!.weight).toBe(0.9);
      expect(job('model.layers.1.self_attn.q_proj.weight').ctx.perModel[0]!.weight).toBe(0.4);
      expect(job('model.embed_tokens.weight').ctx.perModel[0]!.weight).toBe(0.4);
    });
  });
});

describe('model settings, global settings, defaults', () => {
  const text =
    'merge_method: ties\nbase_model: base\nparameters:\n  weight: 0.5\n  density: [{filter: mlp, value: 0.2}, {value: 0.8}]\n  lambda: 1.25\n' +
    'models:\n  - model: expert-1\n    parameters: {weight: 0.9}\n  - model: expert-2\n    parameters: {density: 0.6}\n';

  it("a model's own setting overrides the global one; the others fall back to it", () => {
    withPlan(text, (plan, job) => {
      for (const j of plan.jobs) {
        const [m1, m2] = j.ctx.perModel as [Record<string, unknown>, Record<string, unknown>];
        expect(m1.weight).toBe(0.9);
        expect(m2.weight).toBe(0.5);
        expect(m1.density).toBe(j.name.includes('mlp') ? 0.2 : 0.8);
        expect(m2.density).toBe(0.6);
        expect(j.ctx.global.lambda).toBe(1.25);
        expect(j.ctx.global.normalize).toBe(true);
        expect(j.ctx.global.int8_mask).toBe(false);
      }
      expect(job('model.layers.3.mlp.up_proj.weight').ctx.perModel[0]!.density).toBe(0.2);
    });
  });

  it('perModel follows the recipe order of the non-base models', () => {
    const swapped = 'merge_method: ties\nbase_model: base\nmodels:\n  - model: expert-2\n    parameters: {weight: 2}\n  - model: base\n  - model: expert-1\n    parameters: {weight: 1}\n';
    withPlan(swapped, (plan) => {
      expect(plan.models.map((m) => path.basename(m.path))).toEqual(['expert-2', 'expert-1']);
      expect(path.basename(plan.base!.path)).toBe('base');
      for (const j of plan.jobs) expect(j.ctx.perModel.map((p) => p.weight)).toEqual([2, 1]);
    });
  });

  it('every tensor gets its own seed, tensorSeed(run seed, name)', () => {
    withPlan(text, (plan) => {
      const seeds = new Set<number>();
      for (const j of plan.jobs) {
        expect(j.ctx.seed).toBe(tensorSeed(7, j.name));
        seeds.add(j.ctx.seed);
      }
      expect(seeds.size).toBe(plan.jobs.length);
    }, 7);
  });

  it('the output dtype is out_dtype, else dtype, else the input dtype', () => {
    const head = 'merge_method: ties\nbase_model: base\nparameters: {weight: 1}\nmodels: [expert-1]\n';
    withPlan(head, (plan) => expect(new Set(plan.jobs.map((j) => j.outDtype))).toEqual(new Set(['F16'])));
    withPlan(head + 'dtype: float32\n', (plan) => expect(new Set(plan.jobs.map((j) => j.outDtype))).toEqual(new Set(['F32'])));
    withPlan(head + 'dtype: float32\nout_dtype: bf16\n', (plan) => expect(new Set(plan.jobs.map((j) => j.outDtype))).toEqual(new Set(['BF16'])));
  });

  it('plans one job per tensor of the reference, with shape, rows and cols', () => {
    withPlan(text, (plan, job) => {
      expect(plan.jobs).toHaveLength(2 + 9 * 4 + 1);
      const q = job('model.layers.0.self_attn.k_proj.weight');
      expect(q.shape).toEqual([32, 64]);
      expect([q.ctx.rows, q.ctx.cols]).toEqual([32, 64]);
      const n = job('model.norm.weight');
      expect([n.ctx.rows, n.ctx.cols]).toEqual([64, 1]);
      for (const j of plan.jobs) expect(j.inputBytes).toBe(3 * 2 * j.shape.reduce((a, b) => a * b, 1));
      expect(plan.totalInputBytes).toBe(plan.jobs.reduce((a, j) => a + j.inputBytes, 0));
      // sanity: the layer index the plan used is the one in the name
      expect(layerIndexOf('model.layers.3.mlp.up_proj.weight')).toBe(3);
    });
  });
});
