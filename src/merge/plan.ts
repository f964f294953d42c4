// The merge plan: every output tensor with its inputs, resolved parameters and output dtype,
// built and checked (names, shapes, layer counts, parameter values) before any data is read.
import { fail } from '../errors.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { LoraAdapter, type LoraPatch } from '../io/lora-adapter.ts';
import { isFloatDtype, type Dtype, type FloatDtype } from '../io/dtype.ts';
import { tensorSeed } from '../tensor/random.ts';
import type { MergeMethod, ParamDef, TensorContext } from './method.ts';
import { evaluateSetting, layerPosition, type Scalar, type Setting } from './parameters.ts';
import { inputBase, inputModels, type Recipe, type RecipeModel } from './recipe.ts';
import { planSlices } from './slice-plan.ts';
import { applyVocabulary } from './tokenizer-source.ts';
import type { VocabPlan } from './tokenizer-vocab-plan.ts';

/** One tensor of one opened checkpoint. */
export interface TensorSource {
  checkpoint: Checkpoint;
  tensor: string;
  /** A LoRA adapter's change to this tensor, applied as it is read. */
  lora?: LoraPatch;
}

export interface TensorJob {
  /** The output tensor's name. */
  name: string;
  shape: number[];
  outDtype: Dtype;
  /** Float tensors are merged; others are copied from the reference model. */
  merge: boolean;
  ctx: TensorContext;
  /** Input byte count (all models), for progress. */
  inputBytes: number;
  /** Where the inputs are read: the base (or null) and each input model, in ctx.perModel's order. */
  inputs: { base: TensorSource | null; models: TensorSource[] };
  /** For tensors that are not merged: the one copied. */
  copyFrom: TensorSource;
}

export interface MergePlan {
  recipe: Recipe;
  method: MergeMethod;
  base: Checkpoint | undefined;
  models: Checkpoint[];
  /** The model whose tensor list, config and non-float tensors the output follows. */
  reference: Checkpoint;
  /** Layers of the output model. */
  numLayers: number;
  /** Every checkpoint read (for the check that the output is not one of them). */
  checkpoints: Checkpoint[];
  /** Keys of config.json that differ from the source's (the layer count of a layer-stacked model). */
  configPatch?: Record<string, unknown>;
  jobs: TensorJob[];
  totalInputBytes: number;
  /** Things the user should know that do not stop the merge. */
  warnings: string[];
  /** The output vocabulary, when the recipe sets a tokenizer (tokenizer-source.ts). */
  vocab?: VocabPlan;
  close(): void;
}

export function planMerge(recipe: Recipe, seed = 0): MergePlan {
  if (recipe.slices) return planSlices(recipe, seed);
  const method = recipe.method;
  const baseRef = inputBase(recipe);
  const modelRefs = inputModels(recipe);
  const problem = method.checkModels?.(modelRefs.length, baseRef !== undefined);
  if (problem) fail('MERGE_E_MODEL_COUNT', problem);
  const opened: Checkpoint[] = [];
  const adapters: LoraAdapter[] = [];
  const patches = new Map<Checkpoint, Map<string, LoraPatch>>();
  const open = (m: RecipeModel): Checkpoint => {
    const c = Checkpoint.open(m.path);
    opened.push(c);
    const p = openLora(m, c, adapters);
    if (p) patches.set(c, p);
    return c;
  };
  const close = () => {
    opened.forEach((c) => c.close());
    adapters.forEach((a) => a.close());
  };
  try {
    const base = baseRef ? open(baseRef) : undefined;
    const models = modelRefs.map(open);
    const reference = base ?? models[0]!;
    const all = base ? [base, ...models] : models;
    const refs = baseRef ? [baseRef, ...modelRefs] : modelRefs;
    const commonRows = checkSameTensors(all, refs);
    const numLayers = reference.numLayers();
    all.forEach((c, i) => {
      const n = c.numLayers();
      if (n !== numLayers) fail('MERGE_E_LAYERS', `${refs[i]!.ref} has ${n} layers but ${refs[0]!.ref} has ${numLayers}; only models of the same architecture can be merged`);
    });
    const jobs: TensorJob[] = [];
    const warnings: string[] = [];
    const copiedFloats = [...reference.tensors.values()].filter((t) => /^F(64|8_)/.test(t.dtype));
    if (copiedFloats.length > 0) {
      warnings.push(`${copiedFloats.length} tensors of dtype ${[...new Set(copiedFloats.map((t) => t.dtype))].join('/')} (e.g. ${copiedFloats[0]!.name}) are copied from ${refs[0]!.ref} unmerged: only F32, F16 and BF16 are merged`);
    }
    let totalInputBytes = 0;
    // With a tokenizer set, vocabulary rows are permuted into one vocabulary instead (applyVocabulary).
    if (recipe.tokenizerSource) commonRows.clear();
    for (const [name, rows] of commonRows) {
      warnings.push(`${name} has ${all.map((c, i) => `${c.info(name).shape[0]} rows in ${refs[i]!.ref}`).join(', ')}: the vocabularies differ in size, so only the first ${rows} rows (the tokens every model has) are merged and written (mergekit's common-submatrix rule)`);
    }
    let configPatch: Record<string, unknown> | undefined;
    const vocabRows = Math.min(...commonRows.values());
    const vocabSize = reference.config?.raw.vocab_size;
    if (commonRows.size > 0 && typeof vocabSize === 'number' && vocabSize > vocabRows) {
      configPatch = { vocab_size: vocabRows };
      warnings.push(`config.json's vocab_size becomes ${vocabRows} (was ${vocabSize}) to match the merged embeddings; tokens with higher ids in the copied tokenizer have no embedding`);
    }
    for (const info of reference.tensors.values()) {
      const shape = commonRows.has(info.name) ? [commonRows.get(info.name)!, info.shape[1]!] : info.shape;
      const rows = shape.length === 0 ? 1 : shape[0]!;
      const cols = shape.length < 2 ? (rows === 0 ? 0 : info.numel / rows) : shape.slice(1).reduce((a, b) => a * b, 1);
      const merge = isFloatDtype(info.dtype);
      const outDtype: Dtype = merge ? (recipe.outDtype ?? recipe.dtype ?? (info.dtype as FloatDtype)) : info.dtype;
      const t = layerPosition(info.name, numLayers);
      const ctx: TensorContext = {
        name: info.name,
        shape,
        rows,
        cols,
        t,
        global: merge ? resolveGlobal(method, recipe, info.name, t) : {},
        perModel: merge ? modelRefs.map((m) => resolveModel(method, recipe, m, info.name, t)) : [],
        seed: tensorSeed(seed, info.name),
        modelRefs: modelRefs.map((m) => m.ref),
        modelPaths: modelRefs.map((m) => m.path),
      };
      if (merge) {
        const bad = method.checkParams?.(ctx);
        if (bad) fail('RECIPE_E_PARAM', `tensor ${info.name}: ${bad}`);
      }
      const inputBytes = all.reduce((a, c) => a + c.info(info.name).byteLength, 0);
      totalInputBytes += inputBytes;
      const src = (checkpoint: Checkpoint): TensorSource => ({ checkpoint, tensor: info.name, lora: patches.get(checkpoint)?.get(info.name) });
      jobs.push({ name: info.name, shape, outDtype, merge, ctx, inputBytes, inputs: { base: base ? src(base) : null, models: models.map(src) }, copyFrom: src(reference) });
    }
    const plan: MergePlan = { recipe, method, base, models, reference, numLayers, checkpoints: opened, configPatch, jobs, totalInputBytes, warnings, close };
    applyVocabulary(plan);
    return plan;
  } catch (e) {
    close();
    throw e;
  }
}

/** The LoRA patches of a model written MODEL+LORA, checked against its tensors; undefined without one. */
export function openLora(m: RecipeModel, c: Checkpoint, adapters: LoraAdapter[]): Map<string, LoraPatch> | undefined {
  if (!m.lora) return undefined;
  const adapter = LoraAdapter.open(m.lora.path, m.lora.ref);
  adapters.push(adapter);
  return adapter.patchesFor(c.tensors, m.ref);
}

/** Token embeddings and LM heads: a vocabulary row per token. */
export const VOCAB_TENSOR_RE = /(?:^|\.)(?:embed_tokens|wte|word_embeddings|tok_embeddings|lm_head|embed_out|embed_in|output)\.weight$/;

/**
 * Checks that the models have the same tensors with the same shapes; token embeddings and heads
 * whose row counts (vocabulary sizes) differ are allowed and returned with the rows all share.
 */
function checkSameTensors(all: Checkpoint[], refs: RecipeModel[]): Map<string, number> {
  const first = all[0]!;
  const commonRows = new Map<string, number>();
  for (let i = 1; i < all.length; i++) {
    const other = all[i]!;
    for (const [name, info] of first.tensors) {
      const o = other.tensors.get(name);
      if (!o) fail('MERGE_E_MISSING_TENSOR', `tensor ${name} is in ${refs[0]!.ref} but not in ${refs[i]!.ref}; the models do not share an architecture`);
      const vocabOnly = VOCAB_TENSOR_RE.test(name) && o.shape.length === 2 && info.shape.length === 2 && o.shape[1] === info.shape[1] && o.shape[0] !== info.shape[0];
      if (vocabOnly) {
        commonRows.set(name, Math.min(commonRows.get(name) ?? info.shape[0]!, o.shape[0]!));
      } else if (o.shape.length !== info.shape.length || o.shape.some((d, k) => d !== info.shape[k])) {
        fail('MERGE_E_SHAPE', `tensor ${name} is ${JSON.stringify(o.shape)} in ${refs[i]!.ref} but ${JSON.stringify(info.shape)} in ${refs[0]!.ref}`);
      }
      if (isFloatDtype(o.dtype) !== isFloatDtype(info.dtype)) {
        fail('MERGE_E_DTYPE', `tensor ${name} is ${o.dtype} in ${refs[i]!.ref} but ${info.dtype} in ${refs[0]!.ref}; only F32, F16 and BF16 tensors are merged, so both must be one of those or neither`);
      }
    }
    for (const name of other.tensors.keys()) {
      if (!first.tensors.has(name)) fail('MERGE_E_MISSING_TENSOR', `tensor ${name} is in ${refs[i]!.ref} but not in ${refs[0]!.ref}; the models do not share an architecture`);
    }
  }
  return commonRows;
}

export function checkValue(def: ParamDef, v: Scalar, where: string): Scalar {
  if (def.kind === 'number' && typeof v !== 'number') fail('RECIPE_E_PARAM', `${where}: ${def.name} must be a number, got ${JSON.stringify(v)}`);
  if (def.kind === 'boolean' && typeof v !== 'boolean') fail('RECIPE_E_PARAM', `${where}: ${def.name} must be true or false, got ${JSON.stringify(v)}`);
  if (def.kind === 'string' && def.choices && !def.choices.includes(String(v))) {
    fail('RECIPE_E_PARAM', `${where}: ${def.name} must be one of ${def.choices.join(', ')}, got ${JSON.stringify(v)}`);
  }
  if (typeof v === 'number' && !Number.isFinite(v)) fail('RECIPE_E_PARAM', `${where}: ${def.name} is ${v}; it must be finite`);
  return v;
}

/**
 * Each parameter of `defs` for one tensor at depth t: the first of `settings(name)` (most specific
 * first) that gives a value, else the default; a required one with neither is RECIPE_E_PARAM
 * with `missing(name)`. Shared by the `models` plan and the `slices` plan (slice-plan.ts).
 */
export function resolveParams(
  defs: ParamDef[],
  tensor: string,
  t: number,
  settings: (name: string) => Setting[],
  where: string,
  missing: (name: string) => string,
): Record<string, Scalar | undefined> {
  const out: Record<string, Scalar | undefined> = {};
  for (const def of defs) {
    let v: Scalar | undefined;
    for (const s of settings(def.name)) {
      v = evaluateSetting(tensor, s, t);
      if (v !== undefined) break;
    }
    v ??= def.default;
    if (v === undefined && def.required) fail('RECIPE_E_PARAM', missing(def.name));
    out[def.name] = v === undefined ? undefined : checkValue(def, v, where);
  }
  return out;
}

function resolveGlobal(method: MergeMethod, recipe: Recipe, tensor: string, t: number): Record<string, Scalar | undefined> {
  return resolveParams(method.globalParams, tensor, t, (n) => [recipe.parameters[n]], `tensor ${tensor}`, (n) => `parameter ${n} is required by ${method.name} but not set for tensor ${tensor}; add it under parameters`);
}

/** A model's parameter: its own setting, else the global one, else the default. */
function resolveModel(method: MergeMethod, recipe: Recipe, model: RecipeModel, tensor: string, t: number): Record<string, Scalar | undefined> {
  return resolveParams(
    method.modelParams,
    tensor,
    t,
    (n) => [model.parameters[n], recipe.parameters[n]],
    `model ${model.ref}, tensor ${tensor}`,
    (n) => `model ${model.ref}: parameter ${n} is required by ${method.name} but not set for tensor ${tensor}; add it under that model's parameters`,
  );
}
