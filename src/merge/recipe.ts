// Recipes: the mergekit YAML subset (models or slices, MODEL+LORA adapters, base_model, merge_method,
// parameters, dtype, out_dtype, tokenizer_source, the tokenizer block, chat_template) with local paths. Everything here is checked before any tensor data
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
import { CHAT_TEMPLATES } from './chat-templates.ts';

export interface RecipeModel {
  /** As written in the recipe. */
  ref: string;
  /** Resolved local path. */
  path: string;
  /** A LoRA adapter folder applied to the model before merging (`model+lora` in the recipe). */
  lora?: { ref: string; path: string };
  parameters: Record<string, Setting>;
}

/** Identifies a model input: the same folder with and without a LoRA are different inputs. */
export function modelKey(m: { path: string; lora?: { path: string } }): string {
  return m.lora ? `${m.path}+${m.lora.path}` : m.path;
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

/** A `tokenizer.tokens` entry's source (mergekit's TokenEmbeddingConfig.source). */
export type TokenEmbeddingSource =
  | { kind: 'zero' }
  | { kind: 'model'; ref: string; dir: string }
  | { kind: 'model_token'; ref: string; dir: string; tokenId?: number; token?: string };

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
  /**
   * The output's vocabulary (`tokenizer_source`, or the `tokenizer:` block's source, `union` by
   * default there): the base's, a model's, or the union of all. Unset: the base's tokenizer files
   * are copied and embedding rows merged by position (tokenizer-vocab-plan.ts).
   */
  tokenizerSource?: 'base' | 'union' | RecipeModel;
  /** `tokenizer.tokens`: where chosen tokens' embedding rows come from. */
  tokens?: Map<string, { source: TokenEmbeddingSource; force: boolean }>;
  /** `tokenizer.pad_to_multiple_of`: the embeddings' row count is rounded up to a multiple of this. */
  padToMultipleOf?: number;
  /** `chat_template`: auto, a built-in name (chat-templates.ts) or a Jinja template. */
  chatTemplate?: string;
  /** The recipe text as given, written out as mergekit_config.yml. */
  text: string;
  /** Where the recipe came from (its file, or file and document), for messages. */
  source?: string;
  warnings: string[];
}

const TOP_LEVEL = ['models', 'slices', 'base_model', 'merge_method', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source', 'tokenizer', 'chat_template', 'name'];
const UNSUPPORTED: Record<string, string> = {
  modules: 'modules are not supported; list whole models under `models`',
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
  const resolveOne = (ref: string, where: string): string => {
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
  // mergekit's `MODEL+LORA`: one plus sign splits a model from a PEFT adapter folder.
  const resolve: Resolve = (ref, where) => {
    const parts = ref.split('+');
    if (parts.length === 1) return { path: resolveOne(ref, where) };
    if (parts.length > 2 || parts.some((x) => x.trim() === '')) {
      fail('RECIPE_E_MODEL', `${where}: ${ref} must be MODEL or MODEL+LORA (one plus sign between a checkpoint folder and a LoRA adapter folder)`);
    }
    const [model, lora] = parts as [string, string];
    return { path: resolveOne(model, where), lora: { ref: lora, path: resolveAdapterPath(lora, recipeDir, where) } };
  };
  const hasSlices = raw.slices !== undefined && raw.slices !== null;
  if (hasSlices && raw.models !== undefined && raw.models !== null) fail('RECIPE_E_FIELD', `${source}: give either models or slices, not both (slices already name every model)`);
  let models: RecipeModel[];
  let slices: RecipeSlice[] | undefined;
  if (hasSlices) {
    slices = readSlices(raw.slices, `${source}: slices`, recipeDir, resolve, warnings);
    models = [];
    for (const s of slices) for (const m of s.sources) if (!models.some((x) => modelKey(x) === modelKey(m))) models.push({ ref: m.ref, path: m.path, lora: m.lora, parameters: {} });
  } else {
    if (!Array.isArray(raw.models) || raw.models.length === 0) fail('RECIPE_E_FIELD', `${source}: models must be a non-empty list of {model: PATH, parameters: {...}} (or give slices)`);
    models = raw.models.map((m, i) => readModel(m, `${source}: models[${i}]`, recipeDir, resolve));
  }
  let baseModel: RecipeModel | undefined;
  if (raw.base_model !== undefined && raw.base_model !== null) {
    if (typeof raw.base_model !== 'string') fail('RECIPE_E_FIELD', `${source}: base_model must be a path`);
    const base = resolve(raw.base_model, `${source}: base_model`);
    baseModel = models.find((m) => modelKey(m) === modelKey(base)) ?? { ref: raw.base_model, ...base, parameters: {} };
  }
  if (slices) for (const s of slices) s.baseModel ??= baseModel;
  const parameters = readParameters(raw.parameters, `${source}: parameters`);
  const dtype = readDtype(raw.dtype, `${source}: dtype`);
  const outDtype = readDtype(raw.out_dtype, `${source}: out_dtype`);
  if (raw.tokenizer_source != null && raw.tokenizer != null) fail('RECIPE_E_FIELD', `${source}: give tokenizer_source or the tokenizer block, not both (mergekit refuses both); move the source into tokenizer.source`);
  const block = readTokenizerBlock(raw.tokenizer, `${source}: tokenizer`, models, baseModel, resolve);
  const tokenizerSource = block?.source ?? readTokenizerSource(raw.tokenizer_source, `${source}: tokenizer_source`, models, baseModel, resolve);
  const chatTemplate = readChatTemplateKey(raw.chat_template, `${source}: chat_template`);
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
  return { method, baseModel, models, slices, parameters, dtype, outDtype, tokenizerSource, tokens: block?.tokens, padToMultipleOf: block?.padToMultipleOf, chatTemplate, text, source, warnings };
}

/** The models a method merges (the base apart when the method takes one). */
export function inputModels(r: Recipe): RecipeModel[] {
  return r.method.base === 'unused' ? r.models : r.models.filter((m) => m !== r.baseModel);
}

/** The base model as an input of its own, when the method takes one. */
export function inputBase(r: Recipe): RecipeModel | undefined {
  return r.method.base === 'unused' ? undefined : r.baseModel;
}

type Resolve = (ref: string, where: string) => { path: string; lora?: { ref: string; path: string } };

function readSlices(v: unknown, where: string, recipeDir: string, resolve: Resolve, warnings: string[]): RecipeSlice[] {
  if (!Array.isArray(v) || v.length === 0) fail('RECIPE_E_FIELD', `${where} must be a non-empty list of {sources: [{model: PATH, layer_range: [START, END]}, ...]}`);
  return v.map((s, i) => {
    const at = `${where}[${i}]`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) fail('RECIPE_E_FIELD', `${at} must be a mapping with sources (and optionally parameters, base_model)`);
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['sources', 'parameters', 'base_model', 'residual_weight'].includes(k)) fail('RECIPE_E_FIELD', `${at}: unknown key ${k}; a slice has sources, parameters and base_model`);
    }
    // mergekit's OutputSliceDefinition declares residual_weight but nothing reads it: a recipe with it runs there.
    if (o.residual_weight !== undefined) warnings.push(`${at}: residual_weight is accepted by mergekit but has no effect there; it is ignored here too`);
    if (!Array.isArray(o.sources) || o.sources.length === 0) fail('RECIPE_E_FIELD', `${at}: sources must be a non-empty list of {model: PATH, layer_range: [START, END]}`);
    const sources = o.sources.map((src, j) => readSource(src, `${at}.sources[${j}]`, recipeDir, resolve));
    const lengths = sources.map((x) => x.layerRange[1] - x.layerRange[0]);
    if (lengths.some((n) => n !== lengths[0])) {
      fail('RECIPE_E_SLICE', `${at}: every source of a slice must span the same number of layers (they are merged layer by layer), got ${sources.map((x) => `${x.ref} [${x.layerRange.join(', ')}]`).join(', ')}`);
    }
    let baseModel: RecipeModel | undefined;
    if (o.base_model !== undefined && o.base_model !== null) {
      if (typeof o.base_model !== 'string') fail('RECIPE_E_FIELD', `${at}.base_model must be a path`);
      baseModel = { ref: o.base_model, ...resolve(o.base_model, `${at}.base_model`), parameters: {} };
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
  if (typeof m === 'string') return { ref: m, ...resolve(m, where), parameters: {} };
  if (typeof m !== 'object' || m === null) fail('RECIPE_E_FIELD', `${where} must be {model: PATH, parameters: {...}}`);
  const o = m as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'model' && k !== 'parameters') fail('RECIPE_E_FIELD', `${where}: unknown key ${k}; a model entry has model and parameters`);
  }
  if (typeof o.model !== 'string') fail('RECIPE_E_FIELD', `${where}: model must be a path to a checkpoint folder or .safetensors file`);
  const parameters = readParameters(o.parameters, `${where}.parameters`);
  // A statistics file (regmean, fisher) is found relative to the recipe, like the model itself.
  if (typeof parameters.statistics === 'string' && !path.isAbsolute(parameters.statistics)) parameters.statistics = path.resolve(recipeDir, parameters.statistics);
  return { ref: o.model, ...resolve(o.model, where), parameters };
}

function resolveModelPath(ref: string, recipeDir: string, where: string): string {
  if (ref.trim() === '') fail('RECIPE_E_FIELD', `${where}: the model path is empty`);
  const candidates = path.isAbsolute(ref) ? [ref] : [path.resolve(ref), path.resolve(recipeDir, ref)];
  // Present, not merely resolvable: a broken link (dangling, a loop) is found here and named
  // precisely when the checkpoint is opened, instead of reported as missing.
  const found = candidates.find((c) => pathPresent(c));
  if (!found) {
    fail('RECIPE_E_MODEL', `${where}: model ${ref} was not found (looked in ${[...new Set(candidates)].join(' and ')}); models must be local checkpoint folders — nothing is downloaded`);
  }
  return found;
}

/** `tokenizer_source`: base, union, or a model (one of the recipe's, or any checkpoint folder). */
function readTokenizerSource(v: unknown, where: string, models: RecipeModel[], baseModel: RecipeModel | undefined, resolve: Resolve): 'base' | 'union' | RecipeModel | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail('RECIPE_E_FIELD', `${where} must be base, union or a model path, got ${JSON.stringify(v)}`);
  if (v === 'base' || v === 'union') return v;
  const found = [...models, ...(baseModel ? [baseModel] : [])].find((m) => m.ref === v);
  return found ?? { ref: v, ...resolve(v, where), parameters: {} };
}

/** A model named inside the tokenizer block: one of the recipe's models, by its text or its folder. */
function blockModel(v: string, where: string, models: RecipeModel[], baseModel: RecipeModel | undefined, resolve: Resolve): { ref: string; dir: string } {
  const all = [...models, ...(baseModel ? [baseModel] : [])];
  const found = all.find((m) => m.ref === v) ?? (() => {
    const r = resolve(v, where);
    return all.find((m) => path.resolve(m.path) === path.resolve(r.path));
  })();
  if (!found) fail('RECIPE_E_FIELD', `${where}: ${v} is not one of the recipe's models; a token's row must come from a model being merged (${all.map((m) => m.ref).join(', ')})`);
  const p = path.resolve(found.path);
  return { ref: found.ref, dir: fs.statSync(p).isFile() ? path.dirname(p) : p };
}

/** The `tokenizer:` block (mergekit's TokenizerConfig): source (default union), tokens, pad_to_multiple_of. */
function readTokenizerBlock(
  v: unknown,
  where: string,
  models: RecipeModel[],
  baseModel: RecipeModel | undefined,
  resolve: Resolve,
): { source: 'base' | 'union' | RecipeModel; tokens: Map<string, { source: TokenEmbeddingSource; force: boolean }>; padToMultipleOf?: number } | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) fail('RECIPE_E_FIELD', `${where} must be a mapping with source, tokens and pad_to_multiple_of`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['source', 'tokens', 'pad_to_multiple_of'].includes(k)) fail('RECIPE_E_FIELD', `${where}: unknown key ${k}; the tokenizer block has source, tokens and pad_to_multiple_of`);
  }
  const source = readTokenizerSource(o.source ?? 'union', `${where}.source`, models, baseModel, resolve)!;
  let padToMultipleOf: number | undefined;
  if (o.pad_to_multiple_of !== undefined && o.pad_to_multiple_of !== null) {
    if (!Number.isInteger(o.pad_to_multiple_of) || (o.pad_to_multiple_of as number) < 1) fail('RECIPE_E_FIELD', `${where}.pad_to_multiple_of must be a whole number >= 1, got ${JSON.stringify(o.pad_to_multiple_of)}`);
    padToMultipleOf = o.pad_to_multiple_of as number;
  }
  const tokens = new Map<string, { source: TokenEmbeddingSource; force: boolean }>();
  if (o.tokens !== undefined && o.tokens !== null) {
    if (typeof o.tokens !== 'object' || Array.isArray(o.tokens)) fail('RECIPE_E_FIELD', `${where}.tokens must map tokens to {source: ..., force: ...}`);
    for (const [tok, e] of Object.entries(o.tokens as Record<string, unknown>)) {
      const at = `${where}.tokens[${JSON.stringify(tok)}]`;
      if (typeof e !== 'object' || e === null || Array.isArray(e)) fail('RECIPE_E_FIELD', `${at} must be {source: MODEL | {kind: zero} | {kind: model_token, model: MODEL, token: TEXT} , force: true|false}`);
      const eo = e as Record<string, unknown>;
      for (const k of Object.keys(eo)) if (k !== 'source' && k !== 'force') fail('RECIPE_E_FIELD', `${at}: unknown key ${k}; a token entry has source and force`);
      if (eo.force !== undefined && typeof eo.force !== 'boolean') fail('RECIPE_E_FIELD', `${at}.force must be true or false`);
      tokens.set(tok, { source: readTokenSource(eo.source, `${at}.source`, models, baseModel, resolve), force: eo.force === true });
    }
  }
  return { source, tokens, padToMultipleOf };
}

function readTokenSource(v: unknown, where: string, models: RecipeModel[], baseModel: RecipeModel | undefined, resolve: Resolve): TokenEmbeddingSource {
  if (typeof v === 'string') return { kind: 'model', ...blockModel(v, where, models, baseModel, resolve) };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    fail('RECIPE_E_FIELD', `${where} is required: a model, {kind: zero}, or {kind: model_token, model: MODEL, token: TEXT (or token_id: N)}`);
  }
  const o = v as Record<string, unknown>;
  if (o.kind === 'zero') {
    for (const k of Object.keys(o)) if (k !== 'kind') fail('RECIPE_E_FIELD', `${where}: {kind: zero} takes no ${k}`);
    return { kind: 'zero' };
  }
  if (o.kind === 'model_token') {
    for (const k of Object.keys(o)) if (!['kind', 'model', 'token', 'token_id'].includes(k)) fail('RECIPE_E_FIELD', `${where}: unknown key ${k}; model_token has model and token or token_id`);
    if (typeof o.model !== 'string') fail('RECIPE_E_FIELD', `${where}.model must be one of the recipe's models`);
    const hasId = o.token_id !== undefined && o.token_id !== null;
    const hasToken = o.token !== undefined && o.token !== null;
    if (hasId === hasToken) fail('RECIPE_E_FIELD', `${where}: give exactly one of token and token_id`);
    if (hasId && !Number.isInteger(o.token_id)) fail('RECIPE_E_FIELD', `${where}.token_id must be a whole number`);
    if (hasToken && typeof o.token !== 'string') fail('RECIPE_E_FIELD', `${where}.token must be a string`);
    return { kind: 'model_token', ...blockModel(o.model, `${where}.model`, models, baseModel, resolve), tokenId: hasId ? (o.token_id as number) : undefined, token: hasToken ? (o.token as string) : undefined };
  }
  fail('RECIPE_E_FIELD', `${where}: kind must be zero or model_token (or give a model path), got ${JSON.stringify(o.kind)}`);
}

/** `chat_template`: auto, a built-in name, or a Jinja template (mergekit refuses a text under 20 characters or without a brace). */
function readChatTemplateKey(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') fail('RECIPE_E_FIELD', `${where} must be auto, a template name or a Jinja template string`);
  if (v === 'auto' || CHAT_TEMPLATES[v] !== undefined) return v;
  if (v.length < 20 || !v.includes('{')) {
    fail('RECIPE_E_FIELD', `${where}: ${JSON.stringify(v)} is neither auto, a built-in template (${Object.keys(CHAT_TEMPLATES).join(', ')}) nor a Jinja template (at least 20 characters with a {)`);
  }
  return v;
}

/** A LoRA adapter folder, found like a model: as given, else relative to the recipe. */
function resolveAdapterPath(ref: string, recipeDir: string, where: string): string {
  const candidates = path.isAbsolute(ref) ? [ref] : [path.resolve(ref), path.resolve(recipeDir, ref)];
  const found = candidates.find((c) => pathPresent(c));
  if (!found) fail('LORA_E_ADAPTER', `${where}: LoRA adapter ${ref} was not found (looked in ${[...new Set(candidates)].join(' and ')}); give a local PEFT adapter folder — nothing is downloaded`);
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
