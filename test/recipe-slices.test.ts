// `slices` recipes end to end: mergekit's own examples/gradient-slerp.yml and
// examples/orcamini-platy-44layer.yml, byte for byte, run by the real CLI on tiny 40-layer Llama
// checkpoints that sit at the examples' model ids (folders named psmathur/orca_mini_v3_13b, ...).
// Every output tensor is checked against an independent computation: which source tensor each
// output layer must be, and a float64 slerp at the gradient's t worked out here from the knots.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { planMerge } from '../src/merge/plan.ts';
import { writeSyntheticLlama, type LlamaShape } from '../src/zoo/synthetic-llama.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { f16BitsOf, f16UlpDistance, runCli, toF16Bits } from './helpers/recipe-fixtures.ts';
import { refSlerp } from './reference/merge-reference.ts';

const GRADIENT_SLERP = `slices:
  - sources:
      - model: psmathur/orca_mini_v3_13b
        layer_range: [0, 40]
      - model: garage-bAInd/Platypus2-13B
        layer_range: [0, 40]
# or, the equivalent models: syntax:
# models:
#   - model: psmathur/orca_mini_v3_13b
#   - model: garage-bAInd/Platypus2-13B
merge_method: slerp
base_model: psmathur/orca_mini_v3_13b
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5 # fallback for rest of tensors
dtype: float16
`;

const ORCAMINI_PLATY_44 = `slices:
  - sources:
    - model: psmathur/orca_mini_v3_13b
      layer_range: [0, 24]
  - sources:
    - model: garage-bAInd/Platypus2-13B
      layer_range: [20, 40]
merge_method: passthrough
dtype: float16
`;

const SHAPE: LlamaShape = { hidden: 16, intermediate: 24, layers: 40, vocab: 32, heads: 2, kvHeads: 1 };
const LAYER_RE = /^model\.layers\.(\d+)\.(.*)$/;

let tmp: { dir: string; cleanup: () => void };
let orca: string;
let platy: string;

beforeAll(() => {
  tmp = makeTmp('mergesearch-slices-');
  orca = path.join(tmp.dir, 'psmathur', 'orca_mini_v3_13b');
  platy = path.join(tmp.dir, 'garage-bAInd', 'Platypus2-13B');
  // Two unrelated models (different seeds), so slerp bends far from a straight line.
  writeSyntheticLlama(orca, SHAPE, { seed: 11 });
  writeSyntheticLlama(platy, SHAPE, { seed: 29 });
});

afterAll(() => tmp?.cleanup());

/** Piecewise-linear interpolation through knots placed evenly over [0, 1] (numpy's interp). */
function interpKnots(x: number, knots: number[]): number {
  const xs = knots.map((_, j) => j / (knots.length - 1));
  for (let j = 0; j < xs.length - 1; j++) {
    if (x >= xs[j]! && x <= xs[j + 1]!) return knots[j]! + ((knots[j + 1]! - knots[j]!) * (x - xs[j]!)) / (xs[j + 1]! - xs[j]!);
  }
  throw new Error(`x ${x} outside [0, 1]`);
}

function expectedT(name: string): number {
  const m = LAYER_RE.exec(name);
  if (!m) return 0.5;
  const x = Number(m[1]) / 39;
  if (name.includes('self_attn')) return interpKnots(x, [0, 0.5, 0.3, 0.7, 1]);
  if (name.includes('mlp')) return interpKnots(x, [1, 0.5, 0.7, 0.3, 0]);
  return 0.5;
}

describe('slices: mergekit examples run unchanged', () => {
  it('the gradient t worked out by hand at a few layers', () => {
    // Layer 10 of 40: x = 10/39 = 0.2564 lies between knots 0.25 (0.5) and 0.5 (0.3).
    expect(expectedT('model.layers.10.self_attn.q_proj.weight')).toBeCloseTo(0.5 + (0.3 - 0.5) * ((10 / 39 - 0.25) / 0.25), 12);
    expect(expectedT('model.layers.0.self_attn.q_proj.weight')).toBe(0);
    expect(expectedT('model.layers.39.mlp.up_proj.weight')).toBeCloseTo(0, 12);
    expect(expectedT('model.layers.39.self_attn.o_proj.weight')).toBeCloseTo(1, 12);
    expect(expectedT('model.layers.20.input_layernorm.weight')).toBe(0.5);
  });

  it('gradient-slerp.yml: every tensor is slerp(orca, platypus) at the interpolated t, to 1 f16 ulp', () => {
    const file = path.join(tmp.dir, 'gradient-slerp.yml');
    fs.writeFileSync(file, GRADIENT_SLERP);
    const out = path.join(tmp.dir, 'out-gradient-slerp');
    const r = runCli(['merge', file, '--out', out, '--threads', '1']);
    expect(r.status, r.stderr).toBe(0);
    const a = Checkpoint.open(orca);
    const b = Checkpoint.open(platy);
    const merged = Checkpoint.open(out);
    try {
      expect([...merged.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
      let checked = 0;
      for (const info of a.tensors.values()) {
        const t = expectedT(info.name);
        const want = refSlerp({ name: info.name, shape: info.shape, base: Float64Array.from(a.readF32(info.name)), models: [Float64Array.from(b.readF32(info.name))], global: { t } });
        const wantBits = toF16Bits(Float32Array.from(want));
        const have = f16BitsOf(merged.readRaw(info.name));
        expect(merged.info(info.name).dtype).toBe('F16');
        let worst = 0;
        for (let e = 0; e < wantBits.length; e++) worst = Math.max(worst, f16UlpDistance(have[e]!, wantBits[e]!));
        expect(worst, `${info.name} at t=${t}`).toBeLessThanOrEqual(1);
        checked++;
      }
      expect(checked).toBe(2 + 9 * 40 + 1);
      expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).num_hidden_layers).toBe(40);
      expect(fs.readFileSync(path.join(out, 'mergekit_config.yml'), 'utf8')).toBe(GRADIENT_SLERP);
    } finally {
      [a, b, merged].forEach((c) => c.close());
    }
  });

  it('orcamini-platy-44layer.yml: 44 layers, each a byte-exact copy of the source layer it names', () => {
    const file = path.join(tmp.dir, 'orcamini-platy-44layer.yml');
    fs.writeFileSync(file, ORCAMINI_PLATY_44);
    const out = path.join(tmp.dir, 'out-44');
    const r = runCli(['merge', file, '--out', out, '--threads', '1']);
    expect(r.status, r.stderr).toBe(0);
    const a = Checkpoint.open(orca);
    const b = Checkpoint.open(platy);
    const merged = Checkpoint.open(out);
    try {
      const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
      expect(config.num_hidden_layers).toBe(44);
      expect(merged.numLayers()).toBe(44);
      expect(merged.tensors.size).toBe(2 + 9 * 44 + 1);
      for (const name of merged.tensors.keys()) {
        const m = LAYER_RE.exec(name);
        let from: Checkpoint;
        let sourceName = name;
        if (!m) {
          // Embeddings before the layers come from the first slice; the final norm and head from the last.
          from = name.includes('embed') ? a : b;
        } else {
          const k = Number(m[1]);
          from = k < 24 ? a : b;
          sourceName = `model.layers.${k < 24 ? k : k - 24 + 20}.${m[2]}`;
        }
        expect(Buffer.from(merged.readRaw(name)).equals(Buffer.from(from.readRaw(sourceName))), `${name} should equal ${sourceName} of ${from === a ? 'orca' : 'platypus'}`).toBe(true);
      }
      // A layer present twice: platypus layers 20..23 follow orca's 0..23, so output 24 is platypus 20, not orca 24.
      expect(Buffer.from(merged.readRaw('model.layers.24.mlp.up_proj.weight')).equals(Buffer.from(a.readRaw('model.layers.24.mlp.up_proj.weight')))).toBe(false);
    } finally {
      [a, b, merged].forEach((c) => c.close());
    }
  });
});

describe('slices: parameters, per-slice settings and errors', () => {
  const recipe = (text: string) => parseRecipe(text, path.join(tmp.dir, 'r.yaml'));

  it('a source parameter beats the slice parameter, which beats the global one; t restarts in every slice', () => {
    const plan = planMerge(
      recipe(`slices:
  - sources:
      - {model: psmathur/orca_mini_v3_13b, layer_range: [0, 3], parameters: {weight: [1, 3]}}
      - {model: garage-bAInd/Platypus2-13B, layer_range: [10, 13]}
    parameters: {weight: 0.25}
  - sources:
      - {model: psmathur/orca_mini_v3_13b, layer_range: [5, 6]}
      - {model: garage-bAInd/Platypus2-13B, layer_range: [5, 6]}
merge_method: linear
parameters: {weight: 0.5}
`),
    );
    try {
      expect(plan.numLayers).toBe(4);
      const job = (n: string) => plan.jobs.find((j) => j.name === n)!;
      // Slice 0, output layers 0..2 at t = 0, 0.5, 1: orca's gradient [1, 3] gives 1, 2, 3; platypus the slice's 0.25.
      expect([0, 1, 2].map((k) => job(`model.layers.${k}.mlp.up_proj.weight`).ctx.perModel.map((p) => p.weight))).toEqual([
        [1, 0.25],
        [2, 0.25],
        [3, 0.25],
      ]);
      // Slice 1 has one layer (t = 1) and no own parameters: the global 0.5.
      expect(job('model.layers.3.mlp.up_proj.weight').ctx.t).toBe(1);
      expect(job('model.layers.3.mlp.up_proj.weight').ctx.perModel.map((p) => p.weight)).toEqual([0.5, 0.5]);
      // Layers are read under their own names and written under their new index.
      const l1 = job('model.layers.1.self_attn.q_proj.weight');
      expect(l1.inputs.models.map((m) => m.tensor)).toEqual(['model.layers.1.self_attn.q_proj.weight', 'model.layers.11.self_attn.q_proj.weight']);
      expect(job('model.layers.3.self_attn.q_proj.weight').inputs.models.map((m) => m.tensor)).toEqual(['model.layers.5.self_attn.q_proj.weight', 'model.layers.5.self_attn.q_proj.weight']);
      // Embeddings with the first slice's settings, the head with the last slice's, both at t = 0.
      expect(job('model.embed_tokens.weight').ctx.perModel.map((p) => p.weight)).toEqual([1, 0.25]);
      expect(job('lm_head.weight').ctx.t).toBe(0);
      expect(job('lm_head.weight').ctx.perModel.map((p) => p.weight)).toEqual([0.5, 0.5]);
      expect(plan.configPatch).toEqual({ num_hidden_layers: 4 });
    } finally {
      plan.close();
    }
  });

  it('the final norm and head take the last slice\'s gradient at t = 0, as mergekit\'s plan_module does', () => {
    // mergekit (plan.py) reads the tensors before and after the layers with ConfigReader(t=0): a
    // gradient [2, 4] on the last slice gives its first knot, 2, to model.norm and lm_head; the
    // slice's layers still run from 2 (t = 0) to 4 (t = 1).
    const plan = planMerge(
      recipe(`slices:
  - sources:
      - {model: psmathur/orca_mini_v3_13b, layer_range: [0, 2]}
      - {model: garage-bAInd/Platypus2-13B, layer_range: [0, 2]}
  - sources:
      - {model: psmathur/orca_mini_v3_13b, layer_range: [2, 5]}
      - {model: garage-bAInd/Platypus2-13B, layer_range: [2, 5]}
    parameters: {weight: [2, 4]}
merge_method: linear
parameters: {weight: 1}
`),
    );
    try {
      const weights = (n: string) => plan.jobs.find((j) => j.name === n)!.ctx.perModel.map((p) => p.weight);
      expect(weights('lm_head.weight')).toEqual([2, 2]);
      expect(weights('model.norm.weight')).toEqual([2, 2]);
      expect(weights('model.embed_tokens.weight')).toEqual([1, 1]);
      expect([2, 3, 4].map((k) => weights(`model.layers.${k}.mlp.up_proj.weight`))).toEqual([
        [2, 2],
        [3, 3],
        [4, 4],
      ]);
    } finally {
      plan.close();
    }
  });

  it('refuses bad slices with coded errors naming the slice', () => {
    expectCode(() => recipe(`slices:\n  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [0, 3]}\n      - {model: garage-bAInd/Platypus2-13B, layer_range: [0, 4]}\nmerge_method: linear\n`), 'RECIPE_E_SLICE', 'slices[0]', 'same number of layers');
    expectCode(() => recipe(`slices:\n  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [4, 2]}\nmerge_method: passthrough\n`), 'RECIPE_E_SLICE', 'slices[0].sources[0]', 'layer_range');
    expectCode(() => recipe(`slices:\n  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [0, 2]}\nmodels:\n  - model: psmathur/orca_mini_v3_13b\nmerge_method: passthrough\n`), 'RECIPE_E_FIELD', 'either models or slices');
    expectCode(() => planMerge(recipe(`slices:\n  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [30, 41]}\nmerge_method: passthrough\n`)), 'RECIPE_E_SLICE', '41', '40 layers');
    expectCode(
      () => planMerge(recipe(`slices:\n  - sources:\n      - {model: garage-bAInd/Platypus2-13B, layer_range: [0, 2]}\nbase_model: psmathur/orca_mini_v3_13b\nmerge_method: slerp\nparameters: {t: 0.5}\n`)),
      'RECIPE_E_SLICE',
      'not among the slice',
    );
    expectCode(() => planMerge(recipe(`slices:\n  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [0, 2]}\n      - {model: garage-bAInd/Platypus2-13B, layer_range: [0, 2]}\nmerge_method: passthrough\n`)), 'MERGE_E_MODEL_COUNT', 'slices[0]');
  });

  it('errors found while planning name the recipe file, the slice and the source', () => {
    const file = path.join(tmp.dir, 'r.yaml');
    const two = `  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [0, 2]}\n`;
    expectCode(
      () => planMerge(recipe(`slices:\n${two}  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [2, 4]}\n      - {model: garage-bAInd/Platypus2-13B, layer_range: [39, 41]}\nmerge_method: linear\nparameters: {weight: 1}\n`)),
      'RECIPE_E_SLICE',
      `${file}: slices[1].sources[1]: layer_range [39, 41]`,
    );
    expectCode(() => planMerge(recipe(`slices:\n${two}  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [2, 4]}\n      - {model: garage-bAInd/Platypus2-13B, layer_range: [2, 4]}\nmerge_method: linear\n`)), 'RECIPE_E_PARAM', `${file}: slices[0].sources[0] (psmathur/orca_mini_v3_13b)`, 'parameter weight');
    expectCode(
      () => planMerge(recipe(`slices:\n${two}  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [2, 4]}\n      - {model: garage-bAInd/Platypus2-13B, layer_range: [2, 4]}\nmerge_method: linear\nparameters: {weight: 1, normalize: 3}\n`)),
      'RECIPE_E_PARAM',
      `${file}: slices[0]: tensor`,
      'normalize',
    );
    expectCode(() => planMerge(recipe(`slices:\n${two}  - sources:\n      - {model: psmathur/orca_mini_v3_13b, layer_range: [2, 4]}\n      - {model: garage-bAInd/Platypus2-13B, layer_range: [2, 4]}\nmerge_method: passthrough\n`)), 'MERGE_E_MODEL_COUNT', `${file}: slices[1]`);
  });
});
