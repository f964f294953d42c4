// A whole merge into a checkpoint folder: plan (validated before any data is read), stream the
// tensors, then config.json, tokenizer files, the recipe and a model card; renamed into place last.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointWriter } from '../io/checkpoint-writer.ts';
import { tensorByteLength } from '../io/safetensors-writer.ts';
import { executeMerge, type ExecuteOptions } from './executor.ts';
import { modelCard } from './model-card.ts';
import { planMerge, type MergePlan } from './plan.ts';
import type { Recipe } from './recipe.ts';

export interface MergeToFolderOptions extends ExecuteOptions {
  out: string;
  seed?: number;
  shardSize?: number;
  overwrite?: boolean;
}

export interface MergeSummary {
  out: string;
  tensors: number;
  inputBytes: number;
  outputBytes: number;
  files: string[];
}

/** Files copied from the base (or first) model's folder beside the merged weights. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
];

export async function mergeToFolder(recipe: Recipe, opts: MergeToFolderOptions): Promise<MergeSummary> {
  const plan = planMerge(recipe, opts.seed ?? 0);
  try {
    const planned = plan.jobs.map((j) => ({ name: j.name, dtype: j.outDtype, shape: j.shape }));
    const writer = new CheckpointWriter(opts.out, planned, {
      shardSize: opts.shardSize,
      overwrite: opts.overwrite,
      metadata: { merged_by: 'mergesearch', merge_method: recipe.method.name },
    });
    try {
      await executeMerge(plan, writer, opts);
      writeSideFiles(plan, writer, opts.out);
      writer.commit();
    } catch (e) {
      writer.abort();
      throw e;
    }
    const files = fs.readdirSync(writer.outDir).sort();
    const outputBytes = planned.reduce((a, t) => a + tensorByteLength(t), 0);
    return { out: writer.outDir, tensors: plan.jobs.length, inputBytes: plan.totalInputBytes, outputBytes, files };
  } finally {
    plan.close();
  }
}

function dirOf(p: string): string {
  return fs.statSync(p).isFile() ? path.dirname(p) : p;
}

function writeSideFiles(plan: MergePlan, writer: CheckpointWriter, out: string): void {
  const recipe = plan.recipe;
  if (plan.reference.config) {
    const config = { ...plan.reference.config.raw };
    const dtype = recipe.outDtype ?? recipe.dtype;
    if (dtype) config.torch_dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
    writer.addFile('config.json', JSON.stringify(config, null, 2) + '\n');
  }
  // mergekit copies the tokenizer from the base model unless told otherwise.
  const dir = recipe.baseModel ? dirOf(recipe.baseModel.path) : plan.reference.dir;
  for (const f of TOKENIZER_FILES) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) writer.copyFile(p);
  }
  writer.addFile('mergekit_config.yml', recipe.text.endsWith('\n') ? recipe.text : recipe.text + '\n');
  writer.addFile('README.md', modelCard(recipe, out));
}
