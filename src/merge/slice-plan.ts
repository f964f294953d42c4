// The merge plan of a recipe with `slices` (mergekit's semantics): the output's layers are the
// slices' layers stacked in order; output layer k of a slice is its sources' layers
// layer_range[0] + k merged with the recipe's method, and renamed to its place in the output.
// Tensors outside the layers come from the first slice's sources when they sit before the layers
// (embeddings) and from the last slice's sources otherwise (final norm, head). Gradients run over
// each slice's own layers: t = k / (n - 1) (1 for a one-layer slice); the tensors outside the
// layers are read at t = 0, before and after them alike (mergekit's plan_module reads them with
// ConfigReader(t=0)). A parameter is looked up on the source, then the slice, then the recipe.
import { fail } from '../errors.ts';
import { Checkpoint, layerIndexOf } from '../io/checkpoint.ts';
import { isFloatDtype, type Dtype, type FloatDtype } from '../io/dtype.ts';
import { tensorSeed } from '../tensor/random.ts';
import type { MergeMethod, TensorContext } from './method.ts';
import type { Scalar } from './parameters.ts';
import type { LoraAdapter, LoraPatch } from '../io/lora-adapter.ts';
import { openLora, resolveParams, VOCAB_TENSOR_RE, type MergePlan, type TensorJob, type TensorSource } from './plan.ts';
import { applyVocabulary } from './tokenizer-source.ts';
import { modelKey, type Recipe, type RecipeModel, type RecipeSlice, type RecipeSource } from './recipe.ts';

/** Tensors outside the layers that sit before them (token and position embeddings). */
export const BEFORE_LAYERS_RE = /embed|(^|\.)wte\.|(^|\.)wpe\.|word_embeddings|tok_embeddings/;

const LAYER_INDEX_RE = /((?:^|\.)(?:layers|h|blocks|block|layer)\.)(\d+)(\.)/;

/** `name` with its layer index replaced by `index`. */
export function withLayerIndex(name: string, index: number): string {
  return name.replace(LAYER_INDEX_RE, (_m, a: string, _i: string, b: string) => `${a}${index}${b}`);
}

/** A slice's sources as merge inputs: the base (when the method uses one and it is a source) and the rest. */
interface SliceInputs {
  base?: RecipeSource;
  models: RecipeSource[];
}

export function planSlices(recipe: Recipe, seed = 0): MergePlan {
  const method = recipe.method;
  const slices = recipe.slices!;
  const opened = new Map<string, Checkpoint>();
  const adapters: LoraAdapter[] = [];
  const patches = new Map<Checkpoint, Map<string, LoraPatch>>();
  const open = (m: RecipeModel): Checkpoint => {
    let c = opened.get(modelKey(m));
    if (!c) {
      c = Checkpoint.open(m.path);
      opened.set(modelKey(m), c);
      const p = openLora(m, c, adapters);
      if (p) patches.set(c, p);
    }
    return c;
  };
  const close = () => {
    opened.forEach((c) => c.close());
    adapters.forEach((a) => a.close());
  };
  try {
    const file = recipe.source ?? 'recipe';
    const at = (i: number, j?: number) => `${file}: slices[${i}]${j === undefined ? '' : `.sources[${j}]`}`;
    const inputs = slices.map((s, i) => sliceInputs(method, s, at(i)));
    slices.forEach((s, i) => s.sources.forEach((src, j) => checkRange(src, open(src), at(i, j))));
    if (method.modelParams.some((p) => p.name === 'statistics')) {
      for (const [i, s] of slices.entries()) {
        const j = s.sources.findIndex((src) => src.layerRange[0] !== outputStart(slices, s));
        if (j >= 0) {
          fail('RECIPE_E_SLICE', `${at(i, j)} (${s.sources[j]!.ref}): layer_range starts at ${s.sources[j]!.layerRange[0]} but the slice sits at output layer ${outputStart(slices, s)}; ${method.name} reads per-tensor statistics by tensor name, so every source's layer_range must start where its slice sits in the output; move the layers with a passthrough document first (several documents in one recipe) and merge the result`);
        }
      }
    }
    const first = slices[0]!;
    const last = slices[slices.length - 1]!;
    const reference = open(first.sources[0]!);
    const numLayers = slices.reduce((a, s) => a + sliceLength(s), 0);
    const jobs: TensorJob[] = [];
    const warnings: string[] = [];
    const outside = [...reference.tensors.keys()].filter((n) => layerIndexOf(n) === undefined);
    const before = outside.filter((n) => BEFORE_LAYERS_RE.test(n));
    const after = outside.filter((n) => !BEFORE_LAYERS_RE.test(n));
    // The slice each output tensor comes from (for messages).
    const sliceOf = new Map<string, number>();
    const ctxOf = (i: number, out: string, names: string[], t: number) => {
      sliceOf.set(out, sliceOf.has(out) ? sliceOf.get(out)! : i);
      return jobFor(method, recipe, slices[i]!, inputs[i]!, out, names, t, seed, open, patches, at(i));
    };
    for (const name of before) jobs.push(ctxOf(0, name, sourceNames(first, () => name), 0));
    let outLayer = 0;
    for (const [i, slice] of slices.entries()) {
      const n = sliceLength(slice);
      const lead = slice.sources[0]!;
      const leadCkpt = open(lead);
      for (let k = 0; k < n; k++) {
        const t = n > 1 ? k / (n - 1) : 1;
        const layerNames = namesOfLayer(leadCkpt, lead.layerRange[0] + k);
        if (layerNames.length === 0) fail('RECIPE_E_SLICE', `${at(i, 0)}: ${lead.ref} has no tensors for layer ${lead.layerRange[0] + k}`);
        for (const name of layerNames) {
          const names = sourceNames(slice, (src) => withLayerIndex(name, src.layerRange[0] + k));
          const out = withLayerIndex(name, outLayer);
          if (sliceOf.has(out)) fail('RECIPE_E_SLICE', `${at(i)}: writes tensor ${out}, which slices[${sliceOf.get(out)}] writes too; check the layer names of the models`);
          jobs.push(ctxOf(i, out, names, t));
        }
        outLayer++;
      }
    }
    for (const name of after) {
      if (sliceOf.has(name)) fail('RECIPE_E_SLICE', `${at(slices.length - 1)}: writes tensor ${name}, which slices[${sliceOf.get(name)}] writes too; check the layer names of the models`);
      jobs.push(ctxOf(slices.length - 1, name, sourceNames(last, () => name), 0));
    }
    const copied = jobs.filter((j) => !j.merge && /^F(64|8_)/.test(j.copyFrom.checkpoint.info(j.copyFrom.tensor).dtype));
    if (copied.length > 0) warnings.push(`${copied.length} tensors (e.g. ${copied[0]!.name}) are copied unmerged: only F32, F16 and BF16 are merged`);
    const baseCkpt = recipe.baseModel && opened.get(modelKey(recipe.baseModel));
    const models = [...opened.values()].filter((c) => c !== baseCkpt);
    const configKey = ['num_hidden_layers', 'n_layer', 'num_layers'].find((k) => typeof reference.config?.raw[k] === 'number') ?? 'num_hidden_layers';
    const configPatch: Record<string, unknown> = { [configKey]: numLayers };
    if (!recipe.tokenizerSource) vocabularyRows(recipe, jobs, reference, warnings, configPatch, slices.length);
    const plan: MergePlan = {
      recipe,
      method,
      base: baseCkpt,
      models,
      reference,
      numLayers,
      checkpoints: [...opened.values()],
      configPatch,
      jobs,
      totalInputBytes: jobs.reduce((a, j) => a + j.inputBytes, 0),
      warnings,
      close,
    };
    applyVocabulary(plan);
    return plan;
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * Without a tokenizer: vocabulary tensors whose sources differ in row count merge the rows all have
 * (a warning naming each model's size); the embeddings (from the first slice) and the head (from
 * the last) must end with one row count, else the output would not be a usable model.
 */
function vocabularyRows(recipe: Recipe, jobs: TensorJob[], reference: Checkpoint, warnings: string[], configPatch: Record<string, unknown>, count: number): void {
  const vocabJobs = jobs.filter((j) => j.shape.length === 2 && VOCAB_TENSOR_RE.test(j.name));
  let shrunk = false;
  for (const j of vocabJobs) {
    const srcs = [...(j.inputs.base ? [j.inputs.base] : []), ...j.inputs.models];
    const sizes = srcs.map((s) => s.checkpoint.info(s.tensor).shape[0]!);
    if (sizes.some((n) => n !== j.shape[0])) {
      shrunk = true;
      warnings.push(`${j.name} has ${srcs.map((s, i) => `${sizes[i]} rows in ${refOf(recipe, s.checkpoint)}`).join(', ')}: the vocabularies differ in size, so only the first ${j.shape[0]} rows (the tokens every model has) are merged and written (mergekit's common-submatrix rule)`);
    }
  }
  const rowCounts = [...new Set(vocabJobs.map((j) => j.shape[0]!))];
  if (rowCounts.length > 1) {
    fail(
      'RECIPE_E_SLICE',
      `${recipe.source ?? 'recipe'}: the slices would write vocabulary tensors of different sizes (${vocabJobs.map((j) => `${j.name}: ${j.shape[0]} rows`).join(', ')}): the embeddings come from slices[0]'s sources and the head from slices[${count - 1}]'s, whose vocabularies differ; add tokenizer_source: union (or base, or a model) so both follow one vocabulary`,
    );
  }
  const vocabSize = reference.config?.raw.vocab_size;
  if (shrunk && typeof vocabSize === 'number' && vocabSize > rowCounts[0]!) {
    configPatch.vocab_size = rowCounts[0];
    warnings.push(`config.json's vocab_size becomes ${rowCounts[0]} (was ${vocabSize}) to match the merged embeddings; tokens with higher ids in the copied tokenizer have no embedding`);
  }
}

function refOf(recipe: Recipe, c: Checkpoint): string {
  return recipe.models.find((m) => m.path === c.path)?.ref ?? c.dir;
}

function sliceLength(s: RecipeSlice): number {
  const r = s.sources[0]!.layerRange;
  return r[1] - r[0];
}

function outputStart(slices: RecipeSlice[], slice: RecipeSlice): number {
  let at = 0;
  for (const s of slices) {
    if (s === slice) return at;
    at += sliceLength(s);
  }
  return at;
}

function sliceInputs(method: MergeMethod, slice: RecipeSlice, where: string): SliceInputs {
  let base: RecipeSource | undefined;
  if (method.base !== 'unused' && slice.baseModel) {
    base = slice.sources.find((s) => modelKey(s) === modelKey(slice.baseModel!));
    if (!base && method.base === 'required') {
      fail('RECIPE_E_SLICE', `${where}: ${method.name} merges against base_model ${slice.baseModel.ref}, which is not among the slice's sources; add it with the layer_range to use`);
    }
  }
  const models = slice.sources.filter((s) => s !== base);
  const problem = method.checkModels?.(models.length, base !== undefined);
  if (problem) fail('MERGE_E_MODEL_COUNT', `${where}: ${problem}`);
  return { base, models };
}

function checkRange(src: RecipeSource, c: Checkpoint, where: string): void {
  const n = c.numLayers();
  if (src.layerRange[1] > n) fail('RECIPE_E_SLICE', `${where}: layer_range [${src.layerRange.join(', ')}] of ${src.ref} goes past its ${n} layers; END is exclusive and at most ${n}`);
}

function namesOfLayer(c: Checkpoint, layer: number): string[] {
  return [...c.tensors.keys()].filter((n) => layerIndexOf(n) === layer);
}

function sourceNames(slice: RecipeSlice, nameIn: (src: RecipeSource) => string): string[] {
  return slice.sources.map(nameIn);
}

function jobFor(
  method: MergeMethod,
  recipe: Recipe,
  slice: RecipeSlice,
  si: SliceInputs,
  out: string,
  names: string[],
  t: number,
  seed: number,
  open: (m: RecipeModel) => Checkpoint,
  patches: ReadonlyMap<Checkpoint, Map<string, LoraPatch>>,
  where: string,
): TensorJob {
  const srcWhere = (src: RecipeSource) => `${where}.sources[${slice.sources.indexOf(src)}] (${src.ref})`;
  const at = (src: RecipeSource): TensorSource => {
    const checkpoint = open(src);
    const tensor = names[slice.sources.indexOf(src)]!;
    if (!checkpoint.tensors.has(tensor)) fail('MERGE_E_MISSING_TENSOR', `${srcWhere(src)}: tensor ${tensor} (output ${out}) is not in ${src.ref}; the slice's models do not share an architecture`);
    return { checkpoint, tensor, lora: patches.get(checkpoint)?.get(tensor) };
  };
  const base = si.base ? at(si.base) : null;
  const models = si.models.map(at);
  const all = base ? [base, ...models] : models;
  const allSrc = si.base ? [si.base, ...si.models] : si.models;
  const lead = at(slice.sources[0]!);
  const info = lead.checkpoint.info(lead.tensor);
  const whereOf = (x: TensorSource) => srcWhere(allSrc[all.indexOf(x)]!);
  // Token embeddings and heads whose row counts (vocabulary sizes) differ: the rows all share.
  let commonRows: number | undefined;
  for (const x of all) {
    const o = x.checkpoint.info(x.tensor);
    if (VOCAB_TENSOR_RE.test(out) && o.shape.length === 2 && info.shape.length === 2 && o.shape[1] === info.shape[1] && o.shape[0] !== info.shape[0]) {
      commonRows = Math.min(commonRows ?? info.shape[0]!, o.shape[0]!);
      continue;
    }
    if (o.shape.length !== info.shape.length || o.shape.some((d, k) => d !== info.shape[k])) {
      fail('MERGE_E_SHAPE', `${whereOf(x)}: tensor ${x.tensor} is ${JSON.stringify(o.shape)} in ${x.checkpoint.dir} but ${lead.tensor} is ${JSON.stringify(info.shape)} in ${lead.checkpoint.dir}`);
    }
    if (isFloatDtype(o.dtype) !== isFloatDtype(info.dtype)) fail('MERGE_E_DTYPE', `${whereOf(x)}: tensor ${x.tensor} is ${o.dtype} in ${x.checkpoint.dir} but ${info.dtype} in ${lead.checkpoint.dir}`);
  }
  const shape = commonRows !== undefined ? [commonRows, info.shape[1]!] : info.shape;
  const rows = shape.length === 0 ? 1 : shape[0]!;
  const cols = commonRows !== undefined ? info.shape[1]! : rows === 0 ? 0 : info.numel / rows;
  const merge = isFloatDtype(info.dtype);
  const outDtype: Dtype = merge ? (recipe.outDtype ?? recipe.dtype ?? (info.dtype as FloatDtype)) : info.dtype;
  const ctx: TensorContext = {
    name: out,
    shape,
    rows,
    cols,
    t,
    global: merge ? resolveGlobal(method, recipe, slice, out, t, where) : {},
    perModel: merge ? si.models.map((m) => resolveModel(method, recipe, slice, m, names[slice.sources.indexOf(m)] ?? out, t, srcWhere(m))) : [],
    seed: tensorSeed(seed, out),
    modelRefs: si.models.map((m) => m.ref),
    modelPaths: si.models.map((m) => m.path),
  };
  if (merge) {
    const bad = method.checkParams?.(ctx);
    if (bad) fail('RECIPE_E_PARAM', `${where}: tensor ${out}: ${bad}`);
  }
  const inputBytes = all.reduce((a, x) => a + x.checkpoint.info(x.tensor).byteLength, 0);
  return { name: out, shape, outDtype, merge, ctx, inputBytes, inputs: { base, models }, copyFrom: lead };
}

function resolveGlobal(method: MergeMethod, recipe: Recipe, slice: RecipeSlice, tensor: string, t: number, where: string): Record<string, Scalar | undefined> {
  return resolveParams(
    method.globalParams,
    tensor,
    t,
    (n) => [slice.parameters[n], recipe.parameters[n]],
    `${where}: tensor ${tensor}`,
    (n) => `${where}: parameter ${n} is required by ${method.name} but not set for tensor ${tensor}; add it under parameters (of the recipe or the slice)`,
  );
}

function resolveModel(method: MergeMethod, recipe: Recipe, slice: RecipeSlice, src: RecipeSource, tensor: string, t: number, where: string): Record<string, Scalar | undefined> {
  return resolveParams(
    method.modelParams,
    tensor,
    t,
    (n) => [src.parameters[n], slice.parameters[n], recipe.parameters[n]],
    `${where}: tensor ${tensor}`,
    (n) => `${where}: parameter ${n} is required by ${method.name} but not set for tensor ${tensor}; add it under that source's parameters`,
  );
}
