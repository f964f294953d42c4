// Tokenizers from a checkpoint folder's tokenizer.json (+ tokenizer_config.json), through
// @huggingface/tokenizers (pure JS, nothing downloaded), and a writer for the character-level
// tokenizer the built-in language-model zoos use.
//
// The character-level tokenizer.json is a BPE model with no merges and no pre-tokenizer: every
// character of the alphabet is a token, so the text splits into single characters; special tokens
// (<pad>, <s>, </s>) are added tokens with ids 0, 1, 2, and a Fuse decoder joins the characters
// back. The Rust `tokenizers` library reads the same file.
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { fail } from '../errors.ts';

export const CHAR_SPECIALS = { pad: '<pad>', bos: '<s>', eos: '</s>' } as const;

export interface LoadedTokenizer {
  /**
   * Token ids of `text` (no special tokens added). `strict`: refuse text that does not decode back
   * to itself (a BPE model without an unknown token silently drops characters it does not know).
   */
  encode(text: string, strict?: boolean): number[];
  /** Text of `ids`; special tokens are skipped unless `keepSpecial`. */
  decode(ids: number[], keepSpecial?: boolean): string;
  /** The id of a token string (special or not); undefined when it is not in the vocabulary. */
  tokenId(token: string): number | undefined;
  vocabSize: number;
  bosId: number | null;
  eosId: number | null;
  padId: number | null;
}

function readJson(file: string, what: string): Record<string, unknown> {
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `${file} is missing; ${what}`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    fail('IO_E_CONFIG', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('IO_E_CONFIG', `${file} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

/** A special token's text from tokenizer_config.json (a string or an AddedToken-like object). */
function specialText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/** Load `dir/tokenizer.json` (and `dir/tokenizer_config.json` when present). */
export function loadTokenizer(dir: string): LoadedTokenizer {
  const json = readJson(path.join(dir, 'tokenizer.json'), 'the model needs its tokenizer.json');
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(cfgFile) ? readJson(cfgFile, '') : {};
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    fail('IO_E_CONFIG', `${path.join(dir, 'tokenizer.json')} cannot be loaded by @huggingface/tokenizers: ${(e as Error).message}`);
  }
  const vocab = tok.get_vocab(true);
  const idOf = (v: unknown) => {
    const s = specialText(v);
    return s === null ? null : (vocab.get(s) ?? null);
  };
  return {
    encode(text: string, strict = false): number[] {
      const ids = tok.encode(text, { add_special_tokens: false }).ids;
      if (strict && text.length > 0) {
        const back = ids.length === 0 ? '' : tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
        if (back !== text) fail('MODEL_E_PARAMS', `text ${JSON.stringify(text)} has characters outside the tokenizer's vocabulary (it encodes to ${JSON.stringify(back)})`);
      }
      return ids;
    },
    decode: (ids, keepSpecial = false) => tok.decode(ids, { skip_special_tokens: !keepSpecial, clean_up_tokenization_spaces: false }),
    tokenId: (t) => vocab.get(t),
    vocabSize: Math.max(...vocab.values()) + 1,
    bosId: idOf(config.bos_token),
    eosId: idOf(config.eos_token),
    padId: idOf(config.pad_token),
  };
}

/** The tokenizer.json object of a character-level tokenizer: specials 0..2, then `alphabet` in order. */
export function charTokenizerJson(alphabet: readonly string[]): Record<string, unknown> {
  const specials = [CHAR_SPECIALS.pad, CHAR_SPECIALS.bos, CHAR_SPECIALS.eos];
  const seen = new Set<string>();
  for (const c of alphabet) {
    if ([...c].length !== 1) fail('MODEL_E_PARAMS', `alphabet entry ${JSON.stringify(c)} is not a single character`);
    if (seen.has(c)) fail('MODEL_E_PARAMS', `alphabet entry ${JSON.stringify(c)} appears twice`);
    seen.add(c);
  }
  const vocab: Record<string, number> = {};
  [...specials, ...alphabet].forEach((t, i) => (vocab[t] = i));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
}

/** Write tokenizer.json and tokenizer_config.json of a character-level tokenizer into `dir`. */
export function writeCharTokenizer(dir: string, alphabet: readonly string[], maxLength = 64): { vocabSize: number } {
  const files = charTokenizerFiles(alphabet, maxLength);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return { vocabSize: alphabet.length + 3 };
}

/** The two files' text (for writers that stage files, like CheckpointWriter.addFile). */
export function charTokenizerFiles(alphabet: readonly string[], maxLength = 64): Record<'tokenizer.json' | 'tokenizer_config.json', string> {
  return {
    'tokenizer.json': JSON.stringify(charTokenizerJson(alphabet), null, 2) + '\n',
    'tokenizer_config.json': JSON.stringify({
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: CHAR_SPECIALS.bos,
      eos_token: CHAR_SPECIALS.eos,
      pad_token: CHAR_SPECIALS.pad,
      add_bos_token: false,
      add_eos_token: false,
      clean_up_tokenization_spaces: false,
      model_max_length: maxLength,
    }, null, 2) + '\n',
  };
}
