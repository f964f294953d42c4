// What a merge or an export writes besides the tensors: output folders with the user's umask (not
// mkdtemp's 0700), and a model card that says what the checkpoints are — an MLP digit classifier is
// not "a merge of pre-trained language models" with library_name transformers.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointWriter } from '../src/io/checkpoint-writer.ts';
import { checkpointKind } from '../src/merge/checkpoint-kind.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { MLP_ARCHITECTURE, mlpConfigToJson } from '../src/models/mlp-classifier.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

let tmp: ReturnType<typeof makeTmp>;
beforeAll(() => {
  tmp = makeTmp('mergesearch-export-output-');
});
afterAll(() => tmp.cleanup());

describe('output folders honour the umask', () => {
  const saved = process.umask();
  afterEach(() => {
    process.umask(saved);
  });

  for (const [umask, mode] of [
    [0o022, 0o755],
    [0o027, 0o750],
    [0o077, 0o700],
  ] as const) {
    it(`umask ${umask.toString(8).padStart(3, '0')}: the committed folder is ${mode.toString(8)}`, () => {
      process.umask(umask);
      const out = path.join(tmp.dir, `umask-${umask.toString(8)}`, 'out');
      const w = new CheckpointWriter(out, [{ name: 'w', dtype: 'F32', shape: [1] }]);
      w.write('w', new Uint8Array(4));
      w.commit();
      expect(fs.statSync(out).mode & 0o777).toBe(mode);
      // the files inside follow the same umask (0666 minus it)
      expect(fs.statSync(path.join(out, 'model.safetensors')).mode & 0o777).toBe(0o666 & ~umask);
    });
  }
});

describe('what the model card says the checkpoints are', () => {
  const mlp = mlpConfigToJson({ architecture: MLP_ARCHITECTURE, inputSize: 784, hiddenSizes: [256, 256], numClasses: 10, tasks: ['plain', 'rot90'], layerNorm: true, head: 'cosine', logitScale: 16 });

  it('kinds from config.json', () => {
    expect(checkpointKind(mlp)).toEqual({ merged: "MLP classifiers (mergesearch's MlpClassifier format: hidden layers 256-256, 2 task heads; not a transformers model)", tags: ['classifier'] });
    expect(checkpointKind({ architectures: ['LlamaForCausalLM'], model_type: 'llama' })).toEqual({ merged: 'pre-trained causal language models (LlamaForCausalLM)', libraryName: 'transformers', pipelineTag: 'text-generation', tags: [] });
    expect(checkpointKind({ architectures: ['BertForSequenceClassification'], model_type: 'bert' })).toEqual({ merged: 'BertForSequenceClassification models', libraryName: 'transformers', tags: [] });
    expect(checkpointKind(undefined)).toEqual({ merged: 'checkpoints', tags: [] });
  });

  async function cardOf(name: string, config: Record<string, unknown> | undefined): Promise<string> {
    const dir = path.join(tmp.dir, name);
    for (const m of ['base', 'e1', 'e2']) writeHandCheckpoint(path.join(dir, m), [{ name: 'backbone.layers.0.weight', shape: [2, 2] }], config);
    const file = path.join(dir, 'recipe.yaml');
    fs.writeFileSync(file, 'merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: e1\n    parameters: {weight: 0.5}\n  - model: e2\n    parameters: {weight: 0.5}\n');
    const summary = await mergeToFolder(parseRecipe(fs.readFileSync(file, 'utf8'), file), { out: path.join(dir, 'merged'), threads: 1 });
    return fs.readFileSync(path.join(summary.out, 'README.md'), 'utf8');
  }

  it('an MLP classifier merge: no library_name, no "language models"', async () => {
    const card = await cardOf('mlp', mlp);
    expect(card).toContain("This is a merge of MLP classifiers (mergesearch's MlpClassifier format");
    expect(card).not.toContain('library_name');
    expect(card).not.toContain('language model');
    expect(card).toContain('- classifier\n');
  });

  it('a Llama merge: library_name transformers and text-generation', async () => {
    const card = await cardOf('llama', { architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: 1 });
    expect(card).toContain('library_name: transformers\npipeline_tag: text-generation\n');
    expect(card).toContain('This is a merge of pre-trained causal language models (LlamaForCausalLM)');
  });

  it('folders without config.json: "checkpoints", no library_name', async () => {
    const card = await cardOf('bare', undefined);
    expect(card).toContain('This is a merge of checkpoints created with mergesearch');
    expect(card).not.toContain('library_name');
  });
});
