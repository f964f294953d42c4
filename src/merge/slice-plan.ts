// The merge plan of a recipe with `slices` (mergekit's semantics): the output's layers are the
// slices' layers stacked in order; output layer k of a slice is its sources' layers
// layer_range[0] + k merged with the recipe's method, and renamed to its place in the output.
// Tensors outside the layers come from the first slice's sources when they sit before the layers
// (embeddings) and from the last slice's sources otherwise (final norm, head). Gradients run over
// each slice's own layers: t = k / (n - 1) (1 for a one-layer slice), 0 before the layers and 1
// after them. A parameter is looked up on the source, then the slice, then the recipe.
import { fail } from '../errors.ts';
import { Checkpoint, layerIndexOf } from '../io/checkpoint.ts';
import { isFloatDtype, type Dtype, type FloatDtype } from '../io/dtype.ts';
import { tensorSeed } from '../tensor/random.ts';
import type { MergeMethod, TensorContext } from './method.ts';
import { evaluateSetting, type Scalar, type Setting } from './parameters.ts';
import { checkValue, type MergePlan, type TensorJob, type TensorSource } from './plan.ts';
import type { Recipe, RecipeModel, RecipeSlice, RecipeSource } from './recipe.ts';

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
  const open = (m: RecipeModel): Checkpoint => {
    let c = opened.get(m.path);
    if (!c) {
      c = Checkpoint.open(m.path);
      opened.set(m.path, c);
    }
    return c;
  };
  const close = () => opened.forEach((c) => c.close());
  try {
    const inputs = slices.map((s, i) => sliceInputs(method, s, i));
    for (const s of slices) for (const src of s.sources) checkRange(src, open(src));
    if (method.modelParams.some((p) => p.name === 'statistics') && slices.some((s) => s.sources.some((src) => src.layerRange[0] !== outputStart(slices, s)))) {
      fail('RECIPE_E_SLICE', `${method.name} reads per-tensor statistics by tensor name, so every source's layer_range must start where its slice sits in the output; move the layers with a passthrough document first (several documents in one recipe) and merge the result`);
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
    const ctxOf = (slice: RecipeSlice, si: SliceInputs, out: string, names: string[], t: number) => jobFor(method, recipe, slice, si, out, names, t, seed, open);
    for (const name of before) jobs.push(ctxOf(first, inputs[0]!, name, sourceNames(first, () => name), 0));
    let outLayer = 0;
    for (const [i, slice] of slices.entries()) {
      const n = sliceLength(slice);
      const lead = slice.sources[0]!;
      const leadCkpt = open(lead);
      for (let k = 0; k < n; k++) {
        const t = n > 1 ? k / (n - 1) : 1;
        const layerNames = namesOfLayer(leadCkpt, lead.layerRange[0] + k);
        if (layerNames.length === 0) fail('RECIPE_E_SLICE', `slices[${i}]: ${lead.ref} has no tensors for layer ${lead.layerRange[0] + k}`);
        for (const name of layerNames) {
          const names = sourceNames(slice, (src) => withLayerIndex(name, src.layerRange[0] + k));
          jobs.push(ctxOf(slice, inputs[i]!, withLayerIndex(name, outLayer), names, t));
        }
        outLayer++;
      }
    }
    for (const name of after) jobs.push(ctxOf(last, inputs[slices.length - 1]!, name, sourceNames(last, () => name), 1));
    const outNames = new Set<string>();
    for (const j of jobs) {
      if (outNames.has(j.name)) fail('RECIPE_E_SLICE', `two slices write tensor ${j.name}; check the layer names of the models`);
      outNames.add(j.name);
    }
    const copied = jobs.filter((j) => !j.merge && /^F(64|8_)/.test(j.copyFrom.checkpoint.info(j.copyFrom.tensor).dtype));
    if (copied.length > 0) warnings.push(`${copied.length} tensors (e.g. ${copied[0]!.name}) are copied unmerged: only F32, F16 and BF16 are merged`);
    const baseCkpt = recipe.baseModel && opened.get(recipe.baseModel.path);
    const models = [...opened.values()].filter((c) => c !== baseCkpt);
    const configKey = ['num_hidden_layers', 'n_layer', 'num_layers'].find((k) => typeof reference.config?.raw[k] === 'number') ?? 'num_hidden_layers';
    return {
      recipe,
      method,
      base: baseCkpt,
      models,
      reference,
      numLayers,
      checkpoints: [...opened.values()],
      configPatch: { [configKey]: numLayers },
      jobs,
      totalInputBytes: jobs.reduce((a, j) => a + j.inputBytes, 0),
      warnings,
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
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

function sliceInputs(method: MergeMethod, slice: RecipeSlice, i: number): SliceInputs {
  const where = `slices[${i}]`;
  let base: RecipeSource | undefined;
  if (method.base !== 'unused' && slice.baseModel) {
    base = slice.sources.find((s) => s.path === slice.baseModel!.path);
    if (!base && method.base === 'required') {
      fail('RECIPE_E_SLICE', `${where}: ${method.name} merges against base_model ${slice.baseModel.ref}, which is not among the slice's sources; add it with the layer_range to use`);
    }
  }
  const models = slice.sources.filter((s) => s !== base);
  const problem = method.checkModels?.(models.length, base !== undefined);
  if (problem) fail('MERGE_E_MODEL_COUNT', `${where}: ${problem}`);
  return { base, models };
}

function checkRange(src: RecipeSource, c: Checkpoint): void {
  const n = c.numLayers();
  if (src.layerRange[1] > n) fail('RECIPE_E_SLICE', `layer_range [${src.layerRange.join(', ')}] of ${src.ref} goes past its ${n} layers; END is exclusive and at most ${n}`);
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
): TensorJob {
  const at = (src: RecipeSource): TensorSource => {
    const checkpoint = open(src);
    const tensor = names[slice.sources.indexOf(src)]!;
    if (!checkpoint.tensors.has(tensor)) fail('MERGE_E_MISSING_TENSOR', `tensor ${tensor} (output ${out}) is not in ${src.ref}; the slice's models do not share an architecture`);
    return { checkpoint, tensor };
  };
  const base = si.base ? at(si.base) : null;
  const models = si.models.map(at);
  const all = base ? [base, ...models] : models;
  const lead = at(slice.sources[0]!);
  const info = lead.checkpoint.info(lead.tensor);
  for (const x of all) {
    const o = x.checkpoint.info(x.tensor);
    if (o.shape.length !== info.shape.length || o.shape.some((d, k) => d !== info.shape[k])) {
      fail('MERGE_E_SHAPE', `tensor ${x.tensor} is ${JSON.stringify(o.shape)} in ${x.checkpoint.dir} but ${lead.tensor} is ${JSON.stringify(info.shape)} in ${lead.checkpoint.dir}`);
    }
    if (isFloatDtype(o.dtype) !== isFloatDtype(info.dtype)) fail('MERGE_E_DTYPE', `tensor ${x.tensor} is ${o.dtype} in ${x.checkpoint.dir} but ${info.dtype} in ${lead.checkpoint.dir}`);
  }
  const shape = info.shape;
  const rows = shape.length === 0 ? 1 : shape[0]!;
  const cols = rows === 0 ? 0 : info.numel / rows;
  const merge = isFloatDtype(info.dtype);
  const outDtype: Dtype = merge ? (recipe.outDtype ?? recipe.dtype ?? (info.dtype as FloatDtype)) : info.dtype;
  const ctx: TensorContext = {
    name: out,
    shape,
    rows,
    cols,
    t,
    global: merge ? resolveGlobal(method, recipe, slice, out, t) : {},
    perModel: merge ? si.models.map((m) => resolveModel(method, recipe, slice, m, names[slice.sources.indexOf(m)] ?? out, t)) : [],
    seed: tensorSeed(seed, out),
    modelRefs: si.models.map((m) => m.ref),
    modelPaths: si.models.map((m) => m.path),
  };
  if (merge) {
    const bad = method.checkParams?.(ctx);
    if (bad) fail('RECIPE_E_PARAM', `tensor ${out}: ${bad}`);
  }
  const inputBytes = all.reduce((a, x) => a + x.checkpoint.info(x.tensor).byteLength, 0);
  return { name: out, shape, outDtype, merge, ctx, inputBytes, inputs: { base, models }, copyFrom: lead };
}

function lookup(tensor: string, t: number, ...settings: Setting[]): Scalar | undefined {
  for (const s of settings) {
    const v = evaluateSetting(tensor, s, t);
    if (v !== undefined) return v;
  }
  return undefined;
}

function resolveGlobal(method: MergeMethod, recipe: Recipe, slice: RecipeSlice, tensor: string, t: number): Record<string, Scalar | undefined> {
  const out: Record<string, Scalar | undefined> = {};
  for (const def of method.globalParams) {
    const v = lookup(tensor, t, slice.parameters[def.name], recipe.parameters[def.name]) ?? def.default;
    if (v === undefined && def.required) fail('RECIPE_E_PARAM', `parameter ${def.name} is required by ${method.name} but not set for tensor ${tensor}; add it under parameters (of the recipe or the slice)`);
    out[def.name] = v === undefined ? undefined : checkValue(def, v, `tensor ${tensor}`);
  }
  return out;
}

function resolveModel(method: MergeMethod, recipe: Recipe, slice: RecipeSlice, src: RecipeSource, tensor: string, t: number): Record<string, Scalar | undefined> {
  const out: Record<string, Scalar | undefined> = {};
  for (const def of method.modelParams) {
    const v = lookup(tensor, t, src.parameters[def.name], slice.parameters[def.name], recipe.parameters[def.name]) ?? def.default;
    if (v === undefined && def.required) {
      fail('RECIPE_E_PARAM', `model ${src.ref}: parameter ${def.name} is required by ${method.name} but not set for tensor ${tensor}; add it under that source's parameters`);
    }
    out[def.name] = v === undefined ? undefined : checkValue(def, v, `model ${src.ref}, tensor ${tensor}`);
  }
  return out;
}
