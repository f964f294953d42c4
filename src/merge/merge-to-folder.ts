// A whole merge into a checkpoint folder: plan (validated before any data is read), stream the
// tensors, then config.json, tokenizer files, the recipe and a model card; renamed into place last.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { readRegularFile, statInput } from '../io/file-checks.ts';
import { CheckpointWriter } from '../io/checkpoint-writer.ts';
import { tensorByteLength } from '../io/safetensors-writer.ts';
import { executeMerge, type ExecuteOptions } from './executor.ts';
import { modelCard } from './model-card.ts';
import { mergekitNotes } from './mergekit-compat.ts';
import { planMerge, type MergePlan } from './plan.ts';
import { outputTokenizerFiles } from './tokenizer-source.ts';
import type { Recipe } from './recipe.ts';

export interface MergeToFolderOptions extends ExecuteOptions {
  out: string;
  /** Told about things that do not stop the merge (tensors copied unmerged, ...). */
  onWarning?: (message: string) => void;
  seed?: number;
  shardSize?: number;
  overwrite?: boolean;
  /** Markdown appended to the model card (e.g. a search's provenance and metrics). */
  modelCardExtra?: string;
}

export interface MergeSummary {
  out: string;
  tensors: number;
  inputBytes: number;
  outputBytes: number;
  files: string[];
}

/** Tokenizer and generation files copied from the base (or first) model's folder. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'chat_template.jinja',
  'chat_template.json',
  'generation_config.json',
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
    checkOutputIsNotAnInput(plan, opts.out);
    // Worked out (and any problem found) before the merge runs; written after it.
    const tokenizerFiles = outputTokenizerFiles(plan, TOKENIZER_FILES);
    for (const w of plan.warnings) opts.onWarning?.(w);
    // Said before the work; the model card repeats it.
    for (const n of mergekitNotes(recipe)) opts.onWarning?.(`not reproducible with mergekit: ${n}`);
    const planned = plan.jobs.map((j) => ({ name: j.name, dtype: j.outDtype, shape: j.shape }));
    const writer = new CheckpointWriter(opts.out, planned, {
      shardSize: opts.shardSize,
      overwrite: opts.overwrite,
      metadata: { merged_by: 'mergesearch', merge_method: recipe.method.name },
    });
    try {
      await executeMerge(plan, writer, opts);
      writeSideFiles(plan, writer, opts.out, tokenizerFiles, opts.modelCardExtra);
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

/** Refuse an output folder that is, or holds, one of the inputs: writing it would destroy them. */
function checkOutputIsNotAnInput(plan: MergePlan, out: string): void {
  const target = path.resolve(out);
  const inputs = plan.checkpoints.map((c) => path.resolve(c.dir));
  for (const dir of inputs) {
    const rel = path.relative(target, dir);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
      fail('MERGE_E_OUTPUT', `--out ${out} is or contains the input checkpoint ${dir}; writing there would destroy it — choose another --out`);
    }
  }
}

function readJsonIfPresent(p: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(p)) return undefined;
  const text = readRegularFile(p, 'config');
  try {
    return JSON.parse(text);
  } catch (e) {
    fail('IO_E_CONFIG', `${p} is not valid JSON (${(e as Error).message})`);
  }
}

function dirOf(p: string): string {
  return fs.statSync(p).isFile() ? path.dirname(p) : p;
}

function writeSideFiles(plan: MergePlan, writer: CheckpointWriter, out: string, tokenizerFiles: ReturnType<typeof outputTokenizerFiles>, cardExtra = ''): void {
  const recipe = plan.recipe;
  // config.json and the tokenizer both come from the base when there is one (mergekit's choice).
  const source = plan.base ?? plan.reference;
  const baseDir = recipe.baseModel ? dirOf(recipe.baseModel.path) : undefined;
  const sourceConfig = baseDir && !plan.base ? readJsonIfPresent(path.join(baseDir, 'config.json')) : source.config?.raw;
  let written: Record<string, unknown> | undefined;
  if (sourceConfig) {
    const config = { ...sourceConfig };
    written = config;
    const dtype = recipe.outDtype ?? recipe.dtype;
    if (dtype) config.torch_dtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
    Object.assign(config, plan.configPatch);
    writer.addFile('config.json', JSON.stringify(config, null, 2) + '\n');
  }
  // mergekit copies the tokenizer from the base model unless a tokenizer source says otherwise;
  // files rewritten for a merged vocabulary or a chat template are written instead.
  for (const [name, f] of tokenizerFiles) {
    if ('text' in f) writer.addFile(name, f.text);
    // A FIFO or device here would block or never end the copy: refused (file-checks.ts).
    else if (statInput(f.copy, 'tokenizer file') === 'file') writer.copyFile(f.copy);
  }
  writer.addFile('mergekit_config.yml', recipe.text.endsWith('\n') ? recipe.text : recipe.text + '\n');
  writer.addFile('README.md', modelCard(recipe, out, cardExtra, written));
}
