// `tokenizer_source`: which folder the output's tokenizer files come from, and the check that
// every merged model shares that tokenizer's vocabulary (token → id), so that merging embedding
// and LM-head rows by position merges the same tokens. Models with differing vocabularies would
// need their rows permuted to the chosen tokenizer (mergekit does this); that is not built yet,
// so they are refused, naming the first token that differs.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { firstVocabularyDifference, readVocabulary } from '../io/tokenizer-vocab.ts';
import type { MergePlan } from './plan.ts';

function dirOf(p: string): string {
  return fs.statSync(p).isFile() ? path.dirname(p) : p;
}

/** The folder whose tokenizer files the output gets: the tokenizer_source model, else the base, else the reference model. */
export function tokenizerDir(plan: MergePlan): string {
  const src = plan.recipe.tokenizerSource;
  if (src && src !== 'base') return dirOf(src.path);
  return plan.recipe.baseModel ? dirOf(plan.recipe.baseModel.path) : plan.reference.dir;
}

/**
 * With tokenizer_source set: every input model that has JSON tokenizer files must have the
 * source's vocabulary (folders without them, such as bare weight folders, are not compared).
 */
export function checkTokenizerSource(plan: MergePlan): void {
  if (!plan.recipe.tokenizerSource) return;
  const dir = tokenizerDir(plan);
  const source = readVocabulary(dir);
  if (!source) return;
  for (const c of plan.checkpoints) {
    if (path.resolve(c.dir) === path.resolve(dir)) continue;
    const v = readVocabulary(c.dir);
    if (!v) continue;
    const d = firstVocabularyDifference(source, v);
    if (d) {
      const ids = `${d.a === undefined ? 'absent' : `id ${d.a}`} in ${source.file}, ${d.b === undefined ? 'absent' : `id ${d.b}`} in ${v.file}`;
      fail(
        'TOKENIZER_E_VOCAB',
        `tokenizer_source: the models do not share one vocabulary — token ${JSON.stringify(d.token)} is ${ids}. Permuting embedding rows to another model's tokenizer is not supported yet; merge models that share a tokenizer, or remove tokenizer_source to merge rows by position as mergekit does without it`,
      );
    }
  }
}
