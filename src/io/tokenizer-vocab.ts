// A checkpoint folder's vocabulary (token → id), read from a Hugging Face tokenizer.json (BPE,
// WordPiece and WordLevel vocab objects; Unigram piece lists, where the id is the position; plus
// added_tokens) or from vocab.json + added_tokens.json. Used to check that models share the
// tokenizer their embeddings are merged under.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { readRegularFile } from './file-checks.ts';

export interface Vocabulary {
  /** The file it was read from. */
  file: string;
  ids: Map<string, number>;
}

function parseJson(p: string): unknown {
  try {
    return JSON.parse(readRegularFile(p, 'tokenizer'));
  } catch (e) {
    if ((e as { code?: string }).code) throw e;
    fail('TOKENIZER_E_VOCAB', `${p} is not valid JSON (${(e as Error).message})`);
  }
}

/** The vocabulary of a checkpoint folder, or undefined when it has no JSON tokenizer files. */
export function readVocabulary(dir: string): Vocabulary | undefined {
  const tj = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(tj)) {
    const doc = parseJson(tj) as { model?: { vocab?: unknown }; added_tokens?: unknown };
    const ids = new Map<string, number>();
    const vocab = doc?.model?.vocab;
    if (Array.isArray(vocab)) {
      vocab.forEach((entry, i) => {
        if (Array.isArray(entry) && typeof entry[0] === 'string') ids.set(entry[0], i);
      });
    } else if (typeof vocab === 'object' && vocab !== null) {
      for (const [t, id] of Object.entries(vocab)) if (typeof id === 'number') ids.set(t, id);
    } else {
      fail('TOKENIZER_E_VOCAB', `${tj} has no model.vocab; it is not a tokenizer file this tool can read`);
    }
    if (Array.isArray(doc.added_tokens)) {
      for (const a of doc.added_tokens as Array<{ id?: unknown; content?: unknown }>) if (typeof a.content === 'string' && typeof a.id === 'number') ids.set(a.content, a.id);
    }
    return { file: tj, ids };
  }
  const vj = path.join(dir, 'vocab.json');
  if (fs.existsSync(vj)) {
    const ids = new Map<string, number>();
    const add = (p: string) => {
      const o = parseJson(p);
      if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('TOKENIZER_E_VOCAB', `${p} must map tokens to ids`);
      for (const [t, id] of Object.entries(o as Record<string, unknown>)) if (typeof id === 'number') ids.set(t, id);
    };
    add(vj);
    const extra = path.join(dir, 'added_tokens.json');
    if (fs.existsSync(extra)) add(extra);
    return { file: vj, ids };
  }
  return undefined;
}

/** The first token whose id differs between the two vocabularies (or that one of them lacks); undefined when they agree. */
export function firstVocabularyDifference(a: Vocabulary, b: Vocabulary): { token: string; a?: number; b?: number } | undefined {
  const byId = (v: Vocabulary) => [...v.ids].sort((x, y) => x[1] - y[1]);
  for (const [token, id] of byId(a)) if (b.ids.get(token) !== id) return { token, a: id, b: b.ids.get(token) };
  for (const [token, id] of byId(b)) if (!a.ids.has(token)) return { token, b: id };
  return undefined;
}
