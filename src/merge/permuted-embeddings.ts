// Embedding and LM-head rows of each model moved into the merged vocabulary's order, before the merge
// method runs (mergekit's tokenizer/embed.py, PermutedEmbeddings):
//   - a model that has the token (at an id < its vocab_size) keeps its own row for it, unless the
//     token's `tokens:` entry says `force: true`;
//   - every other row gets the token's default row: the entry's source when `tokens:` names the
//     token (a model's row for it, a model's row of another token or id, or zeros); else the row of
//     the one model that has it, zeros when none has it, the base's row when the base has it, and
//     otherwise the mean of the rows of the models that have it;
//   - rows past the vocabulary (pad_to_multiple_of) get the mean of the model's vocabulary rows.
// The models taking part are the tensor's inputs and the base model. Sums are in float64.
import { fail } from '../errors.ts';
import type { TokenEmbeddingSource } from './recipe.ts';
import type { VocabPlan } from './tokenizer-vocab-plan.ts';

export interface EmbeddingInput {
  /** The model's folder (resolved), as keyed in VocabPlan.permutations. */
  dir: string;
  /** As written in the recipe, for messages. */
  ref: string;
  /** rows × cols, row-major. */
  data: Float32Array;
  rows: number;
}

export interface TokenRule {
  source: TokenEmbeddingSource;
  force: boolean;
}

/** Each input's rows in the vocabulary's order (vocab.rows × cols), float64. */
export function permuteEmbeddings(
  vocab: VocabPlan,
  inputs: EmbeddingInput[],
  cols: number,
  baseDir: string | undefined,
  rules: ReadonlyMap<string, TokenRule>,
  tensor: string,
  warn: (m: string) => void,
): Float64Array[] {
  const n = vocab.tokens.length;
  const perms = inputs.map((m) => {
    const p = vocab.permutations.get(m.dir);
    if (!p) fail('TOKENIZER_E_VOCAB', `${m.ref} is not one of the recipe's models, so the merged vocabulary has no place for its rows`);
    for (const id of p) if (id >= m.rows) fail('TOKENIZER_E_VOCAB', `tensor ${tensor} of ${m.ref} has ${m.rows} rows but its tokenizer has token id ${id} below its vocab_size; the tokenizer does not fit the model`);
    return p;
  });
  const byDir = (dir: string, what: string): number => {
    const i = inputs.findIndex((m) => m.dir === dir);
    if (i < 0) fail('TOKENIZER_E_VOCAB', `tokenizer.tokens: ${what} names a model that does not supply tensor ${tensor} (it is not among this tensor's inputs)`);
    return i;
  };
  const rowOf = (i: number, id: number): Float64Array => Float64Array.from(inputs[i]!.data.subarray(id * cols, (id + 1) * cols));
  const baseIdx = baseDir === undefined ? -1 : inputs.findIndex((m) => m.dir === baseDir);
  // The default row of each token that some model lacks or that `tokens:` names.
  const defaults = new Map<number, Float64Array>();
  for (let t = 0; t < n; t++) {
    const token = vocab.tokens[t]!;
    const rule = rules.get(token);
    const present = perms.map((p) => p[t]! >= 0);
    if (!rule && present.every(Boolean)) continue;
    if (rule) {
      const s = rule.source;
      if (s.kind === 'zero') defaults.set(t, new Float64Array(cols));
      else if (s.kind === 'model') {
        const i = byDir(s.dir, `${JSON.stringify(token)} (source ${s.ref})`);
        if (perms[i]![t]! < 0) fail('TOKENIZER_E_VOCAB', `tokenizer.tokens: ${JSON.stringify(token)} takes its row from ${s.ref}, which does not have that token; name a model that has it, or use {kind: model_token, model: ..., token: ...}`);
        defaults.set(t, rowOf(i, perms[i]![t]!));
      } else {
        const i = byDir(s.dir, `${JSON.stringify(token)} (source ${s.ref})`);
        let id = s.tokenId;
        if (id === undefined) {
          id = vocab.tokenizers.get(s.dir)?.ids.get(s.token!);
          if (id === undefined) fail('TOKENIZER_E_VOCAB', `tokenizer.tokens: ${JSON.stringify(token)} takes the row of token ${JSON.stringify(s.token)} of ${s.ref}, which that model's tokenizer does not have`);
        }
        if (id < 0 || id >= inputs[i]!.rows) fail('TOKENIZER_E_VOCAB', `tokenizer.tokens: ${JSON.stringify(token)} takes row ${id} of ${s.ref}'s ${tensor}, which has ${inputs[i]!.rows} rows`);
        defaults.set(t, rowOf(i, id));
      }
      continue;
    }
    const count = present.filter(Boolean).length;
    if (count === 1) {
      const i = present.indexOf(true);
      defaults.set(t, rowOf(i, perms[i]![t]!));
    } else if (count === 0) {
      warn(`token ${JSON.stringify(token)} is in no model's vocabulary (for ${tensor}); its row is zeros`);
      defaults.set(t, new Float64Array(cols));
    } else if (baseIdx >= 0 && present[baseIdx]) {
      defaults.set(t, rowOf(baseIdx, perms[baseIdx]![t]!));
    } else {
      const acc = new Float64Array(cols);
      perms.forEach((p, i) => {
        if (p[t]! < 0) return;
        const d = inputs[i]!.data;
        const o = p[t]! * cols;
        for (let j = 0; j < cols; j++) acc[j] = acc[j]! + d[o + j]!;
      });
      for (let j = 0; j < cols; j++) acc[j] = acc[j]! / count;
      defaults.set(t, acc);
    }
  }
  return inputs.map((m, i) => {
    const p = perms[i]!;
    const out = new Float64Array(vocab.rows * cols);
    for (let t = 0; t < n; t++) {
      const force = rules.get(vocab.tokens[t]!)?.force ?? false;
      if (p[t]! >= 0 && !force) {
        const o = p[t]! * cols;
        for (let j = 0; j < cols; j++) out[t * cols + j] = m.data[o + j]!;
      } else {
        out.set(defaults.get(t)!, t * cols);
      }
    }
    if (vocab.rows > n) {
      const mean = new Float64Array(cols);
      for (let t = 0; t < n; t++) for (let j = 0; j < cols; j++) mean[j] = mean[j]! + out[t * cols + j]!;
      for (let j = 0; j < cols; j++) mean[j] = mean[j]! / n;
      for (let t = n; t < vocab.rows; t++) out.set(mean, t * cols);
    }
    return out;
  });
}
