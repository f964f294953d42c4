// The tokenizer side of a merge plan. With `tokenizer_source` or the `tokenizer:` block, the output
// vocabulary is built (tokenizer-vocab-plan.ts) and every embedding / LM-head input is rewritten in
// that vocabulary's order (permuted-embeddings.ts) into a scratch safetensors file that the merge
// then reads in place of the model's tensor, so every method, the workers and the GPU path see
// aligned rows. Without either, the base's (else the first model's) tokenizer files are copied and
// rows are merged by position. `chat_template` edits the written tokenizer_config.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Checkpoint } from '../io/checkpoint.ts';
import { encodeFromF32, isFloatDtype, type FloatDtype } from '../io/dtype.ts';
import { readRegularFile } from '../io/file-checks.ts';
import { LoraAdapter, type LoraPatch } from '../io/lora-adapter.ts';
import { SafetensorsFile } from '../io/safetensors-reader.ts';
import { writeSafetensorsFile } from '../io/safetensors-writer.ts';
import { fail } from '../errors.ts';
import { applyLoraRows } from './lora-apply.ts';
import { permuteEmbeddings, type EmbeddingInput } from './permuted-embeddings.ts';
import { openLora, VOCAB_TENSOR_RE, type MergePlan, type TensorJob, type TensorSource } from './plan.ts';
import { dirOf, planVocabulary, resolveChatTemplate, type VocabPlan } from './tokenizer-vocab-plan.ts';

/** The folder whose tokenizer files the output gets: the tokenizer_source model, else the base, else the reference model. */
export function tokenizerDir(plan: MergePlan): string {
  if (plan.vocab) return plan.vocab.sourceDir;
  return plan.recipe.baseModel ? dirOf(plan.recipe.baseModel.path) : plan.reference.dir;
}

/**
 * With a tokenizer set, every float embedding / LM-head job reads its inputs permuted into the
 * merged vocabulary (scratch files removed when the plan closes), its row count becomes the
 * vocabulary's (padded), and config.json's vocab_size follows. Called at the end of planning.
 */
export function applyVocabulary(plan: MergePlan): void {
  const recipe = plan.recipe;
  if (!recipe.tokenizerSource) return;
  const vocab = planVocabulary(recipe);
  if (!vocab) {
    plan.warnings.push(`tokenizer_source is set but no model has tokenizer files (tokenizer.json or vocab.json); embedding rows are merged by position`);
    return;
  }
  plan.vocab = vocab;
  plan.warnings.push(...vocab.warnings);
  const jobs = plan.jobs.filter((j) => j.merge && j.shape.length === 2 && VOCAB_TENSOR_RE.test(j.name));
  plan.configPatch = { ...plan.configPatch, vocab_size: vocab.rows };
  if (jobs.length === 0) return;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-vocab-'));
  const extra: Array<{ close(): void }> = [];
  const cleanup = () => {
    extra.forEach((c) => c.close());
    extra.length = 0;
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  const previousClose = plan.close;
  plan.close = () => {
    try {
      previousClose();
    } finally {
      cleanup();
    }
  };
  try {
    permuteJobs(plan, vocab, jobs, scratch, extra);
  } catch (e) {
    cleanup();
    throw e;
  }
  plan.totalInputBytes = plan.jobs.reduce((a, j) => a + j.inputBytes, 0);
}

function permuteJobs(plan: MergePlan, vocab: VocabPlan, jobs: TensorJob[], scratch: string, extra: Array<{ close(): void }>): void {
  const recipe = plan.recipe;
  // The base takes part in every vocabulary tensor (mergekit adds it to the embeddings' models).
  let baseCkpt: Checkpoint | undefined;
  const basePatches = new Map<string, LoraPatch>();
  if (recipe.baseModel) {
    baseCkpt = Checkpoint.open(recipe.baseModel.path);
    extra.push(baseCkpt);
    const adapters: LoraAdapter[] = [];
    const p = openLora(recipe.baseModel, baseCkpt, adapters);
    extra.push(...adapters);
    if (p) for (const [k, v] of p) basePatches.set(k, v);
  }
  const baseDir = recipe.baseModel ? path.resolve(dirOf(recipe.baseModel.path)) : undefined;
  const refOf = (c: Checkpoint) => [...(recipe.baseModel ? [recipe.baseModel] : []), ...recipe.models].find((m) => path.resolve(dirOf(m.path)) === path.resolve(c.dir))?.ref ?? c.dir;
  jobs.forEach((job, ji) => {
    const sources: TensorSource[] = [...(job.inputs.base ? [job.inputs.base] : []), ...job.inputs.models];
    const cols = job.ctx.cols;
    // Every input already in the vocabulary's order, with its row count: nothing to move.
    const identity = (src: TensorSource) => {
      const p = vocab.permutations.get(path.resolve(src.checkpoint.dir));
      return p !== undefined && src.checkpoint.info(src.tensor).shape[0] === vocab.rows && p.length === vocab.rows && p.every((id, i) => id === i);
    };
    if (!recipe.tokens?.size && sources.every(identity)) return;
    const participants: Array<{ src: TensorSource; input: EmbeddingInput }> = sources.map((src) => ({ src, input: readInput(src, refOf(src.checkpoint), cols) }));
    if (baseCkpt && baseDir && !participants.some((p) => p.input.dir === baseDir)) {
      const tensor = sources[0]!.tensor;
      if (baseCkpt.tensors.has(tensor)) participants.push({ src: { checkpoint: baseCkpt, tensor, lora: basePatches.get(tensor) }, input: readInput({ checkpoint: baseCkpt, tensor, lora: basePatches.get(tensor) }, recipe.baseModel!.ref, cols) });
    }
    const rows = permuteEmbeddings(vocab, participants.map((p) => p.input), cols, baseDir, recipe.tokens ?? new Map(), job.name, (w) => plan.warnings.push(w));
    const replaced = sources.map((src, k) => {
      const dtype = src.checkpoint.info(src.tensor).dtype as FloatDtype;
      const f32 = Float32Array.from(rows[k]!);
      const data = new Uint8Array(f32.length * (dtype === 'F32' ? 4 : 2));
      encodeFromF32(dtype, f32, data);
      const file = path.join(scratch, `${ji}-${k}.safetensors`);
      writeSafetensorsFile(file, [{ name: src.tensor, dtype, shape: [vocab.rows, cols], data }]);
      const c = Checkpoint.open(file);
      extra.push(c);
      return { checkpoint: c, tensor: src.tensor };
    });
    const swap = (s: TensorSource): TensorSource => replaced[sources.indexOf(s)] ?? s;
    job.inputs = { base: job.inputs.base ? swap(job.inputs.base) : null, models: job.inputs.models.map(swap) };
    job.copyFrom = swap(job.copyFrom);
    job.shape = [vocab.rows, cols];
    job.ctx = { ...job.ctx, shape: job.shape, rows: vocab.rows };
    job.inputBytes = replaced.reduce((a, r) => a + r.checkpoint.info(r.tensor).byteLength, 0);
  });
}

function readInput(src: TensorSource, ref: string, cols: number): EmbeddingInput {
  const info = src.checkpoint.info(src.tensor);
  if (!isFloatDtype(info.dtype)) fail('MERGE_E_DTYPE', `tensor ${src.tensor} of ${ref} is ${info.dtype}; vocabulary rows are permuted only in F32, F16 and BF16 tensors`);
  const rows = info.shape[0]!;
  const data = src.checkpoint.readF32(src.tensor);
  if (src.lora) {
    const adapter = SafetensorsFile.open(src.lora.file);
    try {
      applyLoraRows(data, info.dtype, src.lora, 0, rows, cols, (t, a, b) => adapter.readF32(t, a, b));
    } finally {
      adapter.close();
    }
  }
  return { dir: path.resolve(src.checkpoint.dir), ref, data, rows };
}

/** The tokenizer files of the output: name → contents (copied from tokenizerDir, rewritten where the vocabulary or the chat template changed them). */
export function outputTokenizerFiles(plan: MergePlan, names: readonly string[]): Map<string, { copy: string } | { text: string }> {
  const dir = tokenizerDir(plan);
  const out = new Map<string, { copy: string } | { text: string }>();
  for (const f of names) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) out.set(f, { copy: p });
  }
  const vocab: VocabPlan | undefined = plan.vocab;
  for (const [f, text] of vocab?.files ?? []) out.set(f, { text });
  const template = resolveChatTemplate(plan.recipe);
  if (template !== undefined && !out.has('tokenizer_config.json') && !out.has('tokenizer.json')) {
    plan.warnings.push(`chat_template is set but ${dir} has no tokenizer files to carry it; the template is not written (as mergekit)`);
  } else if (template !== undefined) {
    const cur = out.get('tokenizer_config.json');
    let cfg: Record<string, unknown> = {};
    if (cur) {
      const text = 'text' in cur ? cur.text : readRegularFile(cur.copy, 'tokenizer');
      try {
        cfg = JSON.parse(text);
      } catch (e) {
        fail('TOKENIZER_E_VOCAB', `${path.join(dir, 'tokenizer_config.json')} is not valid JSON (${(e as Error).message})`);
      }
    }
    out.set('tokenizer_config.json', { text: JSON.stringify({ ...cfg, chat_template: template }, null, 2) + '\n' });
    // A template file next to it would take precedence over tokenizer_config.json's when loaded.
    out.delete('chat_template.jinja');
    out.delete('chat_template.json');
  }
  return out;
}
