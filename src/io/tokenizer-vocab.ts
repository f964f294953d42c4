// A checkpoint folder's tokenizer as the merge needs it: token → id, read from a Hugging Face
// tokenizer.json (BPE, WordPiece and WordLevel vocab objects; Unigram piece lists, where the id is
// the position; plus added_tokens) or from vocab.json + added_tokens.json, with the added tokens'
// entries and the parsed tokenizer.json (which a merged vocabulary is written from).
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { readRegularFile } from './file-checks.ts';

export interface Vocabulary {
  /** The file it was read from. */
  file: string;
  /** Token → id (vocabulary and added tokens). */
  ids: Map<string, number>;
  /** The added tokens' entries by id (tokenizer.json's added_tokens, or added_tokens.json made into entries). */
  added: Map<number, Record<string, unknown>>;
  /** The parsed tokenizer.json, when the folder has one. */
  json?: Record<string, unknown>;
}

export function readJsonObject(p: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readRegularFile(p, what));
  } catch (e) {
    if ((e as { code?: string }).code) throw e;
    fail('TOKENIZER_E_VOCAB', `${p} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('TOKENIZER_E_VOCAB', `${p} must hold a JSON object`);
  return v as Record<string, unknown>;
}

/** The vocabulary of a checkpoint folder, or undefined when it has no JSON tokenizer files. */
export function readVocabulary(dir: string): Vocabulary | undefined {
  const ids = new Map<string, number>();
  const added = new Map<number, Record<string, unknown>>();
  const tj = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(tj)) {
    const json = readJsonObject(tj, 'tokenizer');
    const vocab = (json.model as { vocab?: unknown } | undefined)?.vocab;
    if (Array.isArray(vocab)) {
      vocab.forEach((entry, i) => {
        if (Array.isArray(entry) && typeof entry[0] === 'string') ids.set(entry[0], i);
      });
    } else if (typeof vocab === 'object' && vocab !== null) {
      for (const [t, id] of Object.entries(vocab)) if (typeof id === 'number') ids.set(t, id);
    } else {
      fail('TOKENIZER_E_VOCAB', `${tj} has no model.vocab; it is not a tokenizer file this tool can read`);
    }
    if (Array.isArray(json.added_tokens)) {
      for (const a of json.added_tokens as Array<Record<string, unknown>>) {
        if (typeof a?.content === 'string' && typeof a.id === 'number') {
          ids.set(a.content, a.id);
          added.set(a.id, a);
        }
      }
    }
    return { file: tj, ids, added, json };
  }
  const vj = path.join(dir, 'vocab.json');
  if (!fs.existsSync(vj)) return undefined;
  const read = (p: string): Array<[string, number]> => {
    const o = readJsonObject(p, 'tokenizer');
    return Object.entries(o).filter((e): e is [string, number] => typeof e[1] === 'number');
  };
  for (const [t, id] of read(vj)) ids.set(t, id);
  const extra = path.join(dir, 'added_tokens.json');
  if (fs.existsSync(extra)) {
    for (const [t, id] of read(extra)) {
      ids.set(t, id);
      added.set(id, { id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false });
    }
  }
  return { file: vj, ids, added };
}
