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

export interface Recipe {
  method: MergeMethod;
  baseModel?: RecipeModel;
  /** The models as listed (for base-using methods the base may be among them). */
  models: RecipeModel[];
  parameters: Record<string, Setting>;
  dtype?: FloatDtype;
  outDtype?: FloatDtype;
  tokenizerSource?: 'base';
  /** The recipe text as given, written out as mergekit_config.yml. */
  text: string;
  warnings: string[];
}

const TOP_LEVEL = ['models', 'base_model', 'merge_method', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source', 'name'];
const UNSUPPORTED: Record<string, string> = {
  slices: 'slices (layer-range merges) are not supported; list whole models under `models`',
  modules: 'modules are not supported; list whole models under `models`',
  tokenizer: 'the `tokenizer` block is not supported; use `tokenizer_source: base`',
  chat_template: 'chat_template is not supported; copy it into tokenizer_config.json yourself',
};

export function readRecipeFile(file: string): Recipe {
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `recipe ${file} does not exist`);
  if (!fs.statSync(file).isFile()) fail('IO_E_NOT_FOUND', `recipe ${file} is a folder; give the path of a YAML recipe file`);
  return parseRecipe(fs.readFileSync(file, 'utf8'), file);
}

export function parseRecipe(text: string, source = 'recipe'): Recipe {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    fail('RECIPE_E_PARSE', `${source} is not valid YAML: ${(e as Error).message}`);
  }
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
  if (!Array.isArray(raw.models) || raw.models.length === 0) fail('RECIPE_E_FIELD', `${source}: models must be a non-empty list of {model: PATH, parameters: {...}}`);
  const models = raw.models.map((m, i) => readModel(m, `${source}: models[${i}]`, recipeDir));
  let baseModel: RecipeModel | undefined;
  if (raw.base_model !== undefined && raw.base_model !== null) {
    if (typeof raw.base_model !== 'string') fail('RECIPE_E_FIELD', `${source}: base_model must be a path`);
    const basePath = resolveModelPath(raw.base_model, recipeDir, `${source}: base_model`);
    baseModel = models.find((m) => m.path === basePath) ?? { ref: raw.base_model, path: basePath, parameters: {} };
  }
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
  checkParameterNames(method, parameters, models, source, warnings);
  return { method, baseModel, models, parameters, dtype, outDtype, tokenizerSource, text, warnings };
}

/** The models a method merges (the base apart when the method takes one). */
export function inputModels(r: Recipe): RecipeModel[] {
  return r.method.base === 'unused' ? r.models : r.models.filter((m) => m !== r.baseModel);
}

/** The base model as an input of its own, when the method takes one. */
export function inputBase(r: Recipe): RecipeModel | undefined {
  return r.method.base === 'unused' ? undefined : r.baseModel;
}

function readModel(m: unknown, where: string, recipeDir: string): RecipeModel {
  if (typeof m === 'string') return { ref: m, path: resolveModelPath(m, recipeDir, where), parameters: {} };
  if (typeof m !== 'object' || m === null) fail('RECIPE_E_FIELD', `${where} must be {model: PATH, parameters: {...}}`);
  const o = m as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'model' && k !== 'parameters') fail('RECIPE_E_FIELD', `${where}: unknown key ${k}; a model entry has model and parameters`);
  }
  if (typeof o.model !== 'string') fail('RECIPE_E_FIELD', `${where}: model must be a path to a checkpoint folder or .safetensors file`);
  const parameters = readParameters(o.parameters, `${where}.parameters`);
  // A statistics file (regmean, fisher) is found relative to the recipe, like the model itself.
  if (typeof parameters.statistics === 'string' && !path.isAbsolute(parameters.statistics)) parameters.statistics = path.resolve(recipeDir, parameters.statistics);
  return { ref: o.model, path: resolveModelPath(o.model, recipeDir, where), parameters };
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
