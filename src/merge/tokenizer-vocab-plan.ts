// The output vocabulary of a merge with a tokenizer (`tokenizer_source` or the `tokenizer:` block),
// following mergekit's tokenizer/build.py:
//   - every model's tokenizer is read (a model without tokenizer files is taken to share the base's);
//     the base is `base_model`, else the first model;
//   - the base's tokenizer is "stripped": tokens with ids >= its config.json vocab_size are dropped
//     (BPE only, as mergekit);
//   - source `base`: the stripped base tokenizer; a model: that model's tokenizer, unstripped;
//     `union`: the stripped base tokenizer, then every token of the other models it lacks appended —
//     first the ordinary tokens, then the added tokens of the models' tokenizer.json `added_tokens`.
//     Order of the appended tokens: models as listed (base first), each model's tokens by its own id
//     (mergekit appends them in the order of a hash map, which varies from run to run);
//   - each key of `tokenizer.tokens` the vocabulary lacks is appended as an added token;
//   - each model's permutation: output id → the model's id of that token, or -1 where the model
//     lacks it (or has it at an id >= its vocab_size).
// The tokenizer files written for that vocabulary are built here too (tokenizer.json and
// tokenizer_config.json of the source folder, edited), with the chat template when one is set.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { readRegularFile } from '../io/file-checks.ts';
import { readJsonObject, readVocabulary } from '../io/tokenizer-vocab.ts';
import { CHAT_TEMPLATES } from './chat-templates.ts';
import type { Recipe, RecipeModel } from './recipe.ts';

/** One model's tokenizer as the merge sees it. */
export interface ModelTokenizer {
  dir: string;
  /** Token → id (vocabulary and added tokens). */
  ids: Map<string, number>;
  /** tokenizer.json's added_tokens entries (id → the entry). */
  added: Map<number, Record<string, unknown>>;
  /** config.json's vocab_size, else the number of tokens. */
  vocabSize: number;
  /** The parsed tokenizer.json, when the folder has one. */
  json?: Record<string, unknown>;
}

export interface VocabPlan {
  /** Output tokens by id (0..n-1). */
  tokens: string[];
  ids: Map<string, number>;
  /** The row count of the merged embeddings: the vocabulary, padded to pad_to_multiple_of. */
  rows: number;
  /** Each model folder's permutation (output id → the model's id, or -1). */
  permutations: Map<string, Int32Array>;
  /** Each model folder's tokenizer (its original vocabulary, for `kind: model_token` by token text). */
  tokenizers: Map<string, ModelTokenizer>;
  /** The folder whose tokenizer files the output's are built from. */
  sourceDir: string;
  /** Replaced file contents (tokenizer.json when the vocabulary changed). */
  files: Map<string, string>;
  warnings: string[];
}

export function dirOf(p: string): string {
  return fs.statSync(p).isFile() ? path.dirname(p) : p;
}

/** A folder's tokenizer with its vocab_size (config.json's, else the number of tokens), or undefined when it has none. */
export function readModelTokenizer(dir: string): ModelTokenizer | undefined {
  const v = readVocabulary(dir);
  if (!v) return undefined;
  const cfg = path.join(dir, 'config.json');
  const raw = fs.existsSync(cfg) ? readJsonObject(cfg, 'config') : {};
  const text = raw.text_config as Record<string, unknown> | undefined;
  const size = typeof raw.vocab_size === 'number' ? raw.vocab_size : typeof text?.vocab_size === 'number' ? text.vocab_size : v.ids.size;
  return { dir, ids: v.ids, added: v.added, vocabSize: size, json: v.json };
}

/** Tokens by id, ascending. */
function byId(ids: Map<string, number>): Array<[string, number]> {
  return [...ids].sort((a, b) => a[1] - b[1]);
}

/** The base tokenizer without tokens at ids >= its vocab_size (mergekit's get_stripped_tokenizer). */
function stripped(t: ModelTokenizer, ref: string): ModelTokenizer {
  const unused = byId(t.ids).filter(([, id]) => id >= t.vocabSize);
  if (unused.length === 0) return t;
  const json = t.json;
  const model = json?.model as { type?: unknown; vocab?: unknown; merges?: unknown } | undefined;
  if (!json || !model || model.type !== 'BPE' || Array.isArray(model.vocab)) {
    fail('TOKENIZER_E_VOCAB', `${ref}: its tokenizer has ${unused.length} tokens at ids >= its vocab_size ${t.vocabSize} (e.g. ${JSON.stringify(unused[0]![0])}), which are dropped only from a BPE tokenizer.json (mergekit's rule); give a tokenizer whose ids fit vocab_size`);
  }
  const drop = new Set(unused.map(([tok]) => tok));
  const vocab = Object.fromEntries(Object.entries(model.vocab as Record<string, number>).filter(([tok]) => !drop.has(tok)));
  const keepMerge = (m: unknown) => {
    const parts = typeof m === 'string' ? m.split(' ') : Array.isArray(m) ? m : [];
    return !parts.some((p) => drop.has(p as string));
  };
  const merges = Array.isArray(model.merges) ? model.merges.filter(keepMerge) : model.merges;
  const addedTokens = Array.isArray(json.added_tokens) ? (json.added_tokens as Array<{ id: number }>).filter((a) => a.id < t.vocabSize) : json.added_tokens;
  const ids = new Map([...t.ids].filter(([, id]) => id < t.vocabSize));
  const added = new Map([...t.added].filter(([id]) => id < t.vocabSize));
  return { ...t, ids, added, json: { ...json, added_tokens: addedTokens, model: { ...model, vocab, merges } } };
}

/** A plain token added to a tokenizer (transformers' add_tokens of a string). */
function plainAddedToken(content: string, id: number): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false };
}

/** The models whose tokenizers count: the base (base_model, else the first model) first, then the rest as listed, each folder once. */
export function tokenizerModels(recipe: Recipe): RecipeModel[] {
  const all = recipe.baseModel ? [recipe.baseModel, ...recipe.models] : recipe.models;
  const seen = new Set<string>();
  return all.filter((m) => {
    const d = path.resolve(dirOf(m.path));
    if (seen.has(d)) return false;
    seen.add(d);
    return true;
  });
}

/** The output vocabulary, the tokenizer files and every model's permutation (see the file comment). */
export function planVocabulary(recipe: Recipe): VocabPlan | undefined {
  const source = recipe.tokenizerSource!;
  const models = tokenizerModels(recipe);
  const warnings: string[] = [];
  const tokenizers = new Map<string, ModelTokenizer>();
  const baseModel = models[0]!;
  const baseDir = path.resolve(dirOf(baseModel.path));
  const baseRaw = readModelTokenizer(baseDir);
  // No model has tokenizer files (bare weight folders): there is no vocabulary to align to.
  if (!baseRaw && !recipe.tokens?.size && models.every((m) => !readModelTokenizer(path.resolve(dirOf(m.path))))) return undefined;
  if (!baseRaw) fail('TOKENIZER_E_VOCAB', `${baseModel.ref} has no tokenizer.json (or vocab.json); the merged vocabulary is built from the base model's tokenizer`);
  const base = stripped(baseRaw, baseModel.ref);
  tokenizers.set(baseDir, base);
  for (const m of models.slice(1)) {
    const d = path.resolve(dirOf(m.path));
    const t = readModelTokenizer(d);
    if (!t) warnings.push(`${m.ref} has no tokenizer files; its vocabulary is taken to be ${baseModel.ref}'s (mergekit's assumption)`);
    tokenizers.set(d, t ?? base);
  }
  let out: ModelTokenizer;
  const appended: Array<Record<string, unknown>> = [];
  if (source === 'base') {
    out = base;
  } else if (source === 'union') {
    out = base;
    const ids = new Map(base.ids);
    const addedContents = new Map<string, Record<string, unknown>>();
    for (const t of tokenizers.values()) {
      for (const [id, a] of t.added) if (id < t.vocabSize && !addedContents.has(a.content as string)) addedContents.set(a.content as string, a);
    }
    const push = (tok: string, entry: Record<string, unknown>) => {
      if (ids.has(tok)) return;
      const id = ids.size;
      ids.set(tok, id);
      appended.push({ ...entry, id, content: tok });
    };
    for (const t of tokenizers.values()) for (const [tok, id] of byId(t.ids)) if (id < t.vocabSize && !addedContents.has(tok)) push(tok, plainAddedToken(tok, 0));
    for (const [tok, entry] of addedContents) push(tok, entry);
    out = { ...base, ids };
  } else {
    const d = path.resolve(dirOf(source.path));
    const t = tokenizers.get(d) ?? readModelTokenizer(d);
    if (!t) fail('TOKENIZER_E_VOCAB', `tokenizer_source ${source.ref} has no tokenizer.json (or vocab.json)`);
    out = t;
  }
  // Tokens named under tokenizer.tokens are added when missing (mergekit's add_tokens).
  if (recipe.tokens && recipe.tokens.size > 0) {
    const ids = new Map(out.ids);
    for (const tok of recipe.tokens.keys()) {
      if (ids.has(tok)) continue;
      const id = ids.size;
      ids.set(tok, id);
      appended.push(plainAddedToken(tok, id));
    }
    out = { ...out, ids };
  }
  const tokens = new Array<string>(out.ids.size);
  for (const [tok, id] of out.ids) {
    if (id < 0 || id >= tokens.length || tokens[id] !== undefined) {
      fail('TOKENIZER_E_VOCAB', `the tokenizer of ${out.dir} has ids that are not 0..${out.ids.size - 1} (token ${JSON.stringify(tok)} has id ${id}); merged embedding rows follow the token ids, so they must be contiguous`);
    }
    tokens[id] = tok;
  }
  const pad = recipe.padToMultipleOf;
  const rows = pad && tokens.length % pad ? (Math.floor(tokens.length / pad) + 1) * pad : tokens.length;
  const permutations = new Map<string, Int32Array>();
  for (const [d, t] of tokenizers) {
    const p = new Int32Array(tokens.length).fill(-1);
    tokens.forEach((tok, i) => {
      const id = t.ids.get(tok);
      if (id !== undefined && id < t.vocabSize) p[i] = id;
    });
    permutations.set(d, p);
  }
  // The output's tokenizer.json: rewritten when tokens were dropped or appended.
  const files = new Map<string, string>();
  const changed = appended.length > 0 || (typeof source !== 'object' && base !== baseRaw);
  if (changed) {
    if (!out.json) fail('TOKENIZER_E_VOCAB', `the merged vocabulary differs from ${out.dir}'s, and its tokenizer is not a tokenizer.json this tool can rewrite; give the models a tokenizer.json`);
    const added = Array.isArray(out.json.added_tokens) ? [...(out.json.added_tokens as unknown[])] : [];
    files.set('tokenizer.json', JSON.stringify({ ...out.json, added_tokens: [...added, ...appended] }, null, 2) + '\n');
  }
  const sourceDir = typeof source === 'object' ? path.resolve(dirOf(source.path)) : baseDir;
  const plan: VocabPlan = { tokens, ids: out.ids, rows, permutations, tokenizers, sourceDir, files, warnings };
  const cfgPath = path.join(sourceDir, 'tokenizer_config.json');
  if (fs.existsSync(cfgPath) && changed) {
    const cfg = readJsonObject(cfgPath, 'tokenizer');
    const decoder = { ...((cfg.added_tokens_decoder as Record<string, unknown>) ?? {}) };
    for (const k of Object.keys(decoder)) if (!out.ids.has((decoder[k] as { content?: string })?.content ?? '') || Number(k) >= tokens.length) delete decoder[k];
    for (const a of appended) {
      const { id, ...rest } = a;
      decoder[String(id)] = rest;
    }
    files.set('tokenizer_config.json', JSON.stringify({ ...cfg, added_tokens_decoder: decoder }, null, 2) + '\n');
  }
  return plan;
}

/** A folder's chat template: chat_template.jinja, else chat_template.json, else tokenizer_config.json's (a string, or the `default` of a list of named ones). */
export function readChatTemplate(dir: string): string | undefined {
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return readRegularFile(jinja, 'tokenizer');
  const pick = (v: unknown): string | undefined => {
    if (typeof v === 'string') return v;
    if (Array.isArray(v)) {
      const d = v.find((e) => (e as { name?: unknown })?.name === 'default') as { template?: unknown } | undefined;
      return typeof d?.template === 'string' ? d.template : undefined;
    }
    if (typeof v === 'object' && v !== null) {
      const d = (v as Record<string, unknown>).default;
      return typeof d === 'string' ? d : undefined;
    }
    return undefined;
  };
  const json = path.join(dir, 'chat_template.json');
  if (fs.existsSync(json)) return pick(readJsonObject(json, 'tokenizer').chat_template);
  const cfg = path.join(dir, 'tokenizer_config.json');
  if (fs.existsSync(cfg)) return pick(readJsonObject(cfg, 'tokenizer').chat_template);
  return undefined;
}

/**
 * The chat template `chat_template` asks for: `auto` — the template most of the models have (the
 * first seen on a tie; none when no model has one), compared after trimming whitespace; a name of
 * CHAT_TEMPLATES; else the text itself (checked when parsing the recipe).
 */
export function resolveChatTemplate(recipe: Recipe): string | undefined {
  const v = recipe.chatTemplate;
  if (!v) return undefined;
  if (v === 'auto') {
    const counts = new Map<string, number>();
    for (const m of tokenizerModels(recipe)) {
      const t = readChatTemplate(dirOf(m.path))?.trim();
      if (t) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    let best: string | undefined;
    let n = 0;
    for (const [t, c] of counts) if (c > n) [best, n] = [t, c];
    return best;
  }
  return CHAT_TEMPLATES[v] ?? v;
}
