// Recipes: the mergekit YAML subset (models, base_model, merge_method, parameters, dtype,
// out_dtype, tokenizer_source) with local paths. Everything here is checked before any tensor data
// is read; errors name the key at fault and what to write instead.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { fail } from '../errors.ts';
import { pathPresent } from '../io/file-checks.ts';
import { parseOutDtype, type FloatDtype } from '../io/dtype.ts';
import type { MergeMethod } from './method.ts';
import type { Setting } from './parameters.ts';
import { closestName, getMethod, methodNames, METHODS } from './registry.ts';
import { MERGEKIT_RUN_OPTIONS, runOptionWarning } from './mergekit-compat.ts';

export interface RecipeModel {
  /** As written in the recipe. */
  ref: string;
  /** Resolved local path. */
  path: string;
  parameters: Record<string, Setting>;
}

/** One input of a slice: a model's layers [start, end) (mergekit's InputSliceDefinition). */
export interface RecipeSource extends RecipeModel {
  layerRange: [number, number];
}

/** One output slice: layers stacked in order; sources merged layer by layer (mergekit's OutputSliceDefinition). */
export interface RecipeSlice {
  sources: RecipeSource[];
  /** The slice's own base_model, else the recipe's. */
  baseModel?: RecipeModel;
  parameters: Record<string, Setting>;
}

export interface Recipe {
  method: MergeMethod;
  baseModel?: RecipeModel;
  /** The models as listed (for base-using methods the base may be among them); with slices, every model the slices name, once. */
  models: RecipeModel[];
  /** Layer-range merges and layer stacking, when the recipe has `slices` instead of `models`. */
  slices?: RecipeSlice[];
  parameters: Record<string, Setting>;
  dtype?: FloatDtype;
  outDtype?: FloatDtype;
  tokenizerSource?: 'base';
  /** The recipe text as given, written out as mergekit_config.yml. */
  text: string;
  warnings: string[];
}

const TOP_LEVEL = ['models', 'slices', 'base_model', 'merge_method', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source', 'name'];
const UNSUPPORTED: Record<string, string> = {
  modules: 'modules are not supported; list whole models under `models`',
  tokenizer: 'the `tokenizer` block is not supported; use `tokenizer_source: base`',
  chat_template: 'chat_template is not supported; copy it into tokenizer_config.json yourself',
};

export function readRecipeFile(file: string): Recipe {
  return parseRecipe(readRecipeText(file), file);
}

/** The text of a recipe file, refused when missing or a folder. */
export function readRecipeText(file: string): string {
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `recipe ${file} does not exist`);
  if (!fs.statSync(file).isFile()) fail('IO_E_NOT_FOUND', `recipe ${file} is a folder; give the path of a YAML recipe file`);
  return fs.readFileSync(file, 'utf8');
}

export interface ParseOptions {
  /** Models that are earlier documents of the same recipe file (mergekit-multi): name → output folder, which need not exist yet. */
  named?: ReadonlyMap<string, string>;
  /** Set in a file of several documents: a model that is neither a folder nor one of these names is RECIPE_E_DOCUMENT. */
  documentNames?: string[];
}

export function parseRecipe(text: string, source = 'recipe', opts: ParseOptions = {}): Recipe {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    fail('RECIPE_E_PARSE', `${source} is not valid YAML: ${(e as Error).message}`);
  }
  return recipeFromDocument(doc, text, source, opts);
}

/** A recipe from one parsed YAML document; `text` is what mergekit_config.yml will hold. */
export function recipeFromDocument(doc: unknown, text: string, source: string, opts: ParseOptions = {}): Recipe {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('RECIPE_E_FIELD', `${source} must be a YAML mapping with merge_method and models`);
  const raw = doc as Record<string, unknown>;
  const warnings: string[] = [];
  for (const key of Object.keys(raw)) {
    if (MERGEKIT_RUN_OPTIONS.has(key)) {
      warnings.push(runOptionWarning(source, key));
      continue;
    }
    if (UNSUPPORTED[key]) fail('RECIPE_E_FIELD', `${source}: ${UNSUPPORTED[key]}`);
    if (!TOP_LEVEL.includes(key)) {
      const hint = closestName(key, [...TOP_LEVEL, ...MERGEKIT_RUN_OPTIONS]);
      fail('RECIPE_E_FIELD', `${source}: unknown key ${key}${hint ? ` (did you mean ${hint}?)` : ''}; allowed keys: ${TOP_LEVEL.join(', ')}`);
    }
  }
  const methodName = raw.merge_method;
  if (typeof methodName !== 'string') fail('RECIPE_E_FIELD', `${source}: merge_method is missing; one of ${methodNames().join(', ')}`);
  const method = getMethod(methodName);
  if (!method) {
    const hint = closestName(methodName, methodNames());
    fail('RECIPE_E_METHOD', `${source}: unknown merge_method ${methodName}${hint ? ` — did you mean ${hint}?` : ''} Known methods: ${methodNames().join(', ')}`);
  }
  const recipeDir = path.dirname(path.resolve(source));
  const resolve = (ref: string, where: string): string => {
    const named = opts.named?.get(ref);
    if (named !== undefined) return named;
    if (!opts.documentNames) return resolveModelPath(ref, recipeDir, where);
    try {
      return resolveModelPath(ref, recipeDir, where);
    } catch (e) {
      if ((e as { code?: string }).code !== 'RECIPE_E_MODEL' || !(e as Error).message.includes('was not found')) throw e;
      fail('RECIPE_E_DOCUMENT', `${where}: model ${ref} is neither a local checkpoint folder nor the name of a document of this file (names: ${opts.documentNames.join(', ') || 'none'})`);
    }
  };
  const hasSlices = raw.slices !== undefined && raw.slices !== null;
  if (hasSlices && raw.models !== undefined && raw.models !== null) fail('RECIPE_E_FIELD', `${source}: give either models or slices, not both (slices already name every model)`);
  let models: RecipeModel[];
  let slices: RecipeSlice[] | undefined;
  if (hasSlices) {
    slices = readSlices(raw.slices, `${source}: slices`, recipeDir, resolve);
    models = [];
    for (const s of slices) for (const m of s.sources) if (!models.some((x) => x.path === m.path)) models.push({ ref: m.ref, path: m.path, parameters: {} });
  } else {
    if (!Array.isArray(raw.models) || raw.models.length === 0) fail('RECIPE_E_FIELD', `${source}: models must be a non-empty list of {model: PATH, parameters: {...}} (or give slices)`);
    models = raw.models.map((m, i) => readModel(m, `${source}: models[${i}]`, recipeDir, resolve));
  }
  let baseModel: RecipeModel | undefined;
  if (raw.base_model !== undefined && raw.base_model !== null) {
    if (typeof raw.base_model !== 'string') fail('RECIPE_E_FIELD', `${source}: base_model must be a path`);
    const basePath = resolve(raw.base_model, `${source}: base_model`);
    baseModel = models.find((m) => m.path === basePath) ?? { ref: raw.base_model, path: basePath, parameters: {} };
  }
  if (slices) for (const s of slices) s.baseModel ??= baseModel;
  const parameters = readParameters(raw.parameters, `${source}: parameters`);
  const dtype = readDtype(raw.dtype, `${source}: dtype`);
  const outDtype = readDtype(raw.out_dtype, `${source}: out_dtype`);
  let tokenizerSource: 'base' | undefined;
  if (raw.tokenizer_source !== undefined && raw.tokenizer_source !== null) {
    if (raw.tokenizer_source !== 'base') fail('RECIPE_E_FIELD', `${source}: tokenizer_source ${JSON.stringify(raw.tokenizer_source)} is not supported; use tokenizer_source: base`);
    tokenizerSource = 'base';
  }
  if (method.base === 'unused' && baseModel && !models.some((m) => m === baseModel)) {
    warnings.push(`${method.name} does not use base_model; ${baseModel.ref} is ignored except as the source of config and tokenizer files`);
  }
  if (slices) {
    for (const [i, s] of slices.entries()) {
      checkParameterNames(method, { ...parameters, ...s.parameters }, s.sources, `${source}: slices[${i}]`, warnings);
    }
  } else {
    checkParameterNames(method, parameters, models, source, warnings);
  }
  return { method, baseModel, models, slices, parameters, dtype, outDtype, tokenizerSource, text, warnings };
}

/** The models a method merges (the base apart when the method takes one). */
export function inputModels(r: Recipe): RecipeModel[] {
  return r.method.base === 'unused' ? r.models : r.models.filter((m) => m !== r.baseModel);
}

/** The base model as an input of its own, when the method takes one. */
export function inputBase(r: Recipe): RecipeModel | undefined {
  return r.method.base === 'unused' ? undefined : r.baseModel;
}

type Resolve = (ref: string, where: string) => string;

function readSlices(v: unknown, where: string, recipeDir: string, resolve: Resolve): RecipeSlice[] {
  if (!Array.isArray(v) || v.length === 0) fail('RECIPE_E_FIELD', `${where} must be a non-empty list of {sources: [{model: PATH, layer_range: [START, END]}, ...]}`);
  return v.map((s, i) => {
    const at = `${where}[${i}]`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) fail('RECIPE_E_FIELD', `${at} must be a mapping with sources (and optionally parameters, base_model)`);
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['sources', 'parameters', 'base_model', 'residual_weight'].includes(k)) fail('RECIPE_E_FIELD', `${at}: unknown key ${k}; a slice has sources, parameters and base_model`);
    }
    if (o.residual_weight !== undefined) fail('RECIPE_E_FIELD', `${at}: residual_weight is not supported (mergekit ignores it as well); remove it`);
    if (!Array.isArray(o.sources) || o.sources.length === 0) fail('RECIPE_E_FIELD', `${at}: sources must be a non-empty list of {model: PATH, layer_range: [START, END]}`);
    const sources = o.sources.map((src, j) => readSource(src, `${at}.sources[${j}]`, recipeDir, resolve));
    const lengths = sources.map((x) => x.layerRange[1] - x.layerRange[0]);
    if (lengths.some((n) => n !== lengths[0])) {
      fail('RECIPE_E_SLICE', `${at}: every source of a slice must span the same number of layers (they are merged layer by layer), got ${sources.map((x) => `${x.ref} [${x.layerRange.join(', ')}]`).join(', ')}`);
    }
    let baseModel: RecipeModel | undefined;
    if (o.base_model !== undefined && o.base_model !== null) {
      if (typeof o.base_model !== 'string') fail('RECIPE_E_FIELD', `${at}.base_model must be a path`);
      const p = resolve(o.base_model, `${at}.base_model`);
      baseModel = { ref: o.base_model, path: p, parameters: {} };
    }
    return { sources, baseModel, parameters: readParameters(o.parameters, `${at}.parameters`) };
  });
}

function readSource(m: unknown, where: string, recipeDir: string, resolve: Resolve): RecipeSource {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('RECIPE_E_FIELD', `${where} must be {model: PATH, layer_range: [START, END], parameters: {...}}`);
  const o = m as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['model', 'layer_range', 'parameters'].includes(k)) fail('RECIPE_E_FIELD', `${where}: unknown key ${k}; a slice source has model, layer_range and parameters`);
  }
  const r = o.layer_range;
  if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => Number.isInteger(x) && x >= 0) || r[0] >= r[1]) {
    fail('RECIPE_E_SLICE', `${where}: layer_range must be [START, END] with whole numbers 0 <= START < END (END exclusive), got ${JSON.stringify(r)}`);
  }
  const base = readModel({ model: o.model, parameters: o.parameters }, where, recipeDir, resolve);
  return { ...base, layerRange: [r[0] as number, r[1] as number] };
}

function readModel(m: unknown, where: string, recipeDir: string, resolve: Resolve): RecipeModel {
  if (typeof m === 'string') return { ref: m, path: resolve(m, where), parameters: {} };
  if (typeof m !== 'object' || m === null) fail('RECIPE_E_FIELD', `${where} must be {model: PATH, parameters: {...}}`);
  const o = m as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'model' && k !== 'parameters') fail('RECIPE_E_FIELD', `${where}: unknown key ${k}; a model entry has model and parameters`);
  }
  if (typeof o.model !== 'string') fail('RECIPE_E_FIELD', `${where}: model must be a path to a checkpoint folder or .safetensors file`);
  const parameters = readParameters(o.parameters, `${where}.parameters`);
  // A statistics file (regmean, fisher) is found relative to the recipe, like the model itself.
  if (typeof parameters.statistics === 'string' && !path.isAbsolute(parameters.statistics)) parameters.statistics = path.resolve(recipeDir, parameters.statistics);
  return { ref: o.model, path: resolve(o.model, where), parameters };
}

function resolveModelPath(ref: string, recipeDir: string, where: string): string {
  if (ref.trim() === '') fail('RECIPE_E_FIELD', `${where}: the model path is empty`);
  if (ref.includes('+')) fail('RECIPE_E_MODEL', `${where}: ${ref} uses model+lora, which is not supported; merge the LoRA into the model first`);
  const candidates = path.isAbsolute(ref) ? [ref] : [path.resolve(ref), path.resolve(recipeDir, ref)];
  // Present, not merely resolvable: a broken link (dangling, a loop) is found here and named
  // precisely when the checkpoint is opened, instead of reported as missing.
  const found = candidates.find((c) => pathPresent(c));
  if (!found) {
    fail('RECIPE_E_MODEL', `${where}: model ${ref} was not found (looked in ${[...new Set(candidates)].join(' and ')}); models must be local checkpoint folders — nothing is downloaded`);
  }
  return found;
}

function readParameters(p: unknown, where: string): Record<string, Setting> {
  if (p === undefined || p === null) return {};
  if (typeof p !== 'object' || Array.isArray(p)) fail('RECIPE_E_FIELD', `${where} must be a mapping of parameter names to values`);
  const out: Record<string, Setting> = {};
  for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
    checkSetting(v, `${where}.${k}`);
    out[k] = v as Setting;
  }
  return out;
}

function checkSetting(v: unknown, where: string): void {
  if (v === null || ['number', 'boolean', 'string'].includes(typeof v)) return;
  if (!Array.isArray(v)) fail('RECIPE_E_PARAM', `${where} must be a value, a list of values (a gradient over layers), or a list of {filter, value}`);
  if (v.length === 0) fail('RECIPE_E_PARAM', `${where} is an empty list`);
  const objects = v.filter((e) => typeof e === 'object' && e !== null);
  if (objects.length > 0 && objects.length !== v.length) fail('RECIPE_E_PARAM', `${where} mixes plain values and {filter, value} entries`);
  for (const [i, e] of objects.entries()) {
    const o = e as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'filter' && k !== 'value') fail('RECIPE_E_PARAM', `${where}[${i}] has unknown key ${k}; entries are {filter, value}`);
    if (!('value' in o)) fail('RECIPE_E_PARAM', `${where}[${i}] has no value`);
    if (o.filter !== undefined && typeof o.filter !== 'string') fail('RECIPE_E_PARAM', `${where}[${i}].filter must be a string (a substring of tensor names)`);
    checkSetting(o.value, `${where}[${i}].value`);
  }
}

function readDtype(v: unknown, where: string): FloatDtype | undefined {
  if (v === undefined || v === null) return undefined;
  const d = typeof v === 'string' ? parseOutDtype(v.replace(/^torch\./, '')) : undefined;
  if (!d) fail('RECIPE_E_FIELD', `${where} is ${JSON.stringify(v)}; use float32, float16 or bfloat16`);
  return d;
}

function checkParameterNames(method: MergeMethod, global: Record<string, Setting>, models: RecipeModel[], source: string, warnings: string[]): void {
  const globalNames = new Set(method.globalParams.map((p) => p.name));
  const modelNames = new Set(method.modelParams.map((p) => p.name));
  const elsewhere = new Set<string>();
  for (const m of METHODS.values()) for (const p of [...m.globalParams, ...m.modelParams]) elsewhere.add(p.name);
  const known = [...globalNames, ...modelNames];
  const unknown = (name: string, where: string): void => {
    if (MERGEKIT_RUN_OPTIONS.has(name)) {
      warnings.push(runOptionWarning(where, name));
      return;
    }
    if (elsewhere.has(name)) {
      warnings.push(`${where}: ${name} is not a parameter of ${method.name} and is ignored`);
      return;
    }
    const hint = closestName(name, known);
    fail('RECIPE_E_PARAM', `${where}: unknown parameter ${name} for ${method.name}${hint ? ` (did you mean ${hint}?)` : ''}; its parameters are ${known.join(', ') || 'none'}`);
  };
  for (const name of Object.keys(global)) if (!globalNames.has(name) && !modelNames.has(name)) unknown(name, `${source}: parameters`);
  for (const m of models) {
    for (const name of Object.keys(m.parameters)) {
      if (modelNames.has(name)) continue;
      if (globalNames.has(name)) fail('RECIPE_E_PARAM', `${source}: model ${m.ref}: ${name} is a global parameter of ${method.name}; move it to the top-level parameters`);
      unknown(name, `${source}: model ${m.ref}`);
    }
  }
}
