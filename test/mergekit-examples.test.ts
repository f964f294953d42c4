// mergekit's examples/linear.yml, ties.yml and bio-merge.yml, byte for byte, run by the real CLI on
// tiny Llama / Mistral checkpoints that sit at the examples' model ids (folders named
// psmathur/orca_mini_v3_13b, ...). Every output tensor is checked against a float64 computation
// with each model's parameters worked out here from the recipe (gradients interpolated over the
// layers, filters), rounded to float16 as the recipes ask, to 1 f16 ulp. The other three examples
// run in recipe-slices.test.ts (gradient-slerp.yml, orcamini-platy-44layer.yml) and
// methods-mergekit-parity.test.ts (arcee_fusion.yml).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { writeSyntheticLlama, type LlamaShape } from '../src/zoo/synthetic-llama.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { f16BitsOf, f16UlpDistance, runCli, toF16Bits } from './helpers/recipe-fixtures.ts';
import { refMerge, type RefParams } from './reference/merge-reference.ts';

const LINEAR = `models:
  - model: psmathur/orca_mini_v3_13b
    parameters:
      weight: 1.0
  - model: WizardLM/WizardLM-13B-V1.2
    parameters:
      weight: 0.3
  - model: garage-bAInd/Platypus2-13B
    parameters:
      weight: 0.5
merge_method: linear
dtype: float16
`;

const TIES = `models:
  - model: psmathur/orca_mini_v3_13b
    parameters:
      density: [1, 0.7, 0.1] # density gradient
      weight: 1.0
  - model: garage-bAInd/Platypus2-13B
    parameters:
      density: 0.5
      weight: [0, 0.3, 0.7, 1] # weight gradient
  - model: WizardLM/WizardMath-13B-V1.0
    parameters:
      density: 0.33
      weight:
        - filter: mlp
          value: 0.5
        - value: 0
merge_method: ties
base_model: TheBloke/Llama-2-13B-fp16
parameters:
  normalize: true
  int8_mask: true
dtype: float16
`;

const BIO = `models:
  - model: mistralai/Mistral-7B-Instruct-v0.2
    parameters:
      density: 0.5
      weight: 0.5
  - model: BioMistral/BioMistral-7B
    parameters:
      density: 0.5
      weight: 0.5
merge_method: ties
base_model: mistralai/Mistral-7B-v0.1
parameters:
  normalize: false
  int8_mask: true
dtype: float16
`;

const SHAPE: LlamaShape = { hidden: 16, intermediate: 24, layers: 5, vocab: 32, heads: 2, kvHeads: 1 };
const LAYER_RE = /^model\.layers\.(\d+)\./;

let tmp: { dir: string; cleanup: () => void };
const at = (id: string) => path.join(tmp.dir, ...id.split('/'));

beforeAll(() => {
  tmp = makeTmp('mergesearch-mk-examples-');
  // Llama-2 family: a base and fine-tunes of it; Mistral family likewise, with its architecture name.
  const llama = ['TheBloke/Llama-2-13B-fp16', 'psmathur/orca_mini_v3_13b', 'WizardLM/WizardLM-13B-V1.2', 'garage-bAInd/Platypus2-13B', 'WizardLM/WizardMath-13B-V1.0'];
  llama.forEach((id, k) => writeSyntheticLlama(at(id), SHAPE, { seed: 5, expert: k, dtype: 'F32', deltaScale: 0.3 }));
  const mistral = ['mistralai/Mistral-7B-v0.1', 'mistralai/Mistral-7B-Instruct-v0.2', 'BioMistral/BioMistral-7B'];
  mistral.forEach((id, k) => {
    writeSyntheticLlama(at(id), SHAPE, { seed: 9, expert: k, dtype: 'F32', deltaScale: 0.3 });
    const cfgFile = path.join(at(id), 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4096 }, null, 2));
  });
});

afterAll(() => tmp?.cleanup());

/** Piecewise-linear interpolation through knots placed evenly over [0, 1]. */
function interp(x: number, knots: number[]): number {
  if (knots.length === 1) return knots[0]!;
  const pos = x * (knots.length - 1);
  const j = Math.min(knots.length - 2, Math.floor(pos));
  return knots[j]! + (knots[j + 1]! - knots[j]!) * (pos - j);
}

/** The depth a tensor's gradients are read at: layer / (layers − 1); 0 outside the layers (mergekit reads those at t = 0). */
function depth(name: string): number {
  const m = LAYER_RE.exec(name);
  return m ? Number(m[1]) / (SHAPE.layers - 1) : 0;
}

function runExample(name: string, text: string, method: string, baseId: string | null, modelIds: string[], params: (tensor: string) => { global: RefParams; perModel: RefParams[] }): void {
  const file = path.join(tmp.dir, `${name}.yml`);
  fs.writeFileSync(file, text);
  const out = path.join(tmp.dir, `out-${name}`);
  const r = runCli(['merge', file, '--out', out, '--threads', '1'], 300_000);
  expect(r.status, r.stderr).toBe(0);
  const base = baseId ? Checkpoint.open(at(baseId)) : null;
  const models = modelIds.map((id) => Checkpoint.open(at(id)));
  const merged = Checkpoint.open(out);
  try {
    const ref = base ?? models[0]!;
    expect([...merged.tensors.keys()].sort()).toEqual([...ref.tensors.keys()].sort());
    for (const info of ref.tensors.values()) {
      const p = params(info.name);
      const want = refMerge(method, {
        name: info.name,
        shape: info.shape,
        base: base ? Float64Array.from(base.readF32(info.name)) : null,
        models: models.map((c) => Float64Array.from(c.readF32(info.name))),
        global: p.global,
        perModel: p.perModel,
        t: depth(info.name),
      });
      const wantBits = toF16Bits(Float32Array.from(want));
      const have = f16BitsOf(merged.readRaw(info.name));
      expect(merged.info(info.name).dtype).toBe('F16');
      let worst = 0;
      for (let e = 0; e < wantBits.length; e++) worst = Math.max(worst, f16UlpDistance(have[e]!, wantBits[e]!));
      expect(worst, `${name}: ${info.name}`).toBeLessThanOrEqual(1);
    }
    expect(fs.readFileSync(path.join(out, 'mergekit_config.yml'), 'utf8')).toBe(text);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).architectures).toEqual(JSON.parse(fs.readFileSync(path.join(ref.dir, 'config.json'), 'utf8')).architectures);
  } finally {
    [base, ...models, merged].forEach((c) => c?.close());
  }
}

describe("mergekit's examples run unchanged", () => {
  it('linear.yml: Σ wᵢ·modelᵢ / Σ wᵢ (weights 1, 0.3, 0.5)', () => {
    runExample('linear', LINEAR, 'linear', null, ['psmathur/orca_mini_v3_13b', 'WizardLM/WizardLM-13B-V1.2', 'garage-bAInd/Platypus2-13B'], () => ({
      global: { normalize: true },
      perModel: [{ weight: 1 }, { weight: 0.3 }, { weight: 0.5 }],
    }));
  });

  it('ties.yml: density and weight gradients over the layers, a filtered weight, normalize', () => {
    runExample('ties', TIES, 'ties', 'TheBloke/Llama-2-13B-fp16', ['psmathur/orca_mini_v3_13b', 'garage-bAInd/Platypus2-13B', 'WizardLM/WizardMath-13B-V1.0'], (tensor) => {
      const x = depth(tensor);
      return {
        global: { normalize: true },
        perModel: [
          { density: interp(x, [1, 0.7, 0.1]), weight: 1 },
          { density: 0.5, weight: interp(x, [0, 0.3, 0.7, 1]) },
          { density: 0.33, weight: tensor.includes('mlp') ? 0.5 : 0 },
        ],
      };
    });
  });

  it('bio-merge.yml: Mistral checkpoints, ties without normalize', () => {
    runExample('bio-merge', BIO, 'ties', 'mistralai/Mistral-7B-v0.1', ['mistralai/Mistral-7B-Instruct-v0.2', 'BioMistral/BioMistral-7B'], () => ({
      global: { normalize: false },
      perModel: [
        { density: 0.5, weight: 0.5 },
        { density: 0.5, weight: 0.5 },
      ],
    }));
  });

  it('the gradient reading, by hand', () => {
    // 5 layers: layer 1 sits at 0.25; [1, 0.7, 0.1] has knots at 0, 0.5, 1 → 1 + (0.7 − 1)·0.5.
    expect(interp(depth('model.layers.1.mlp.up_proj.weight'), [1, 0.7, 0.1])).toBeCloseTo(0.85, 12);
    expect(interp(depth('model.layers.4.mlp.up_proj.weight'), [0, 0.3, 0.7, 1])).toBeCloseTo(1, 12);
    expect(interp(depth('lm_head.weight'), [0, 0.3, 0.7, 1])).toBe(0);
  });
});
