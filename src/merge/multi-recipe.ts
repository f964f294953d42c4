// Several recipes in one file (mergekit-multi): YAML documents separated by `---`, each with a
// `name`; a document may use an earlier (or any other) document's name as a model. Documents run in
// dependency order; every named result is written to a scratch folder beside the output and moved
// under it (`OUT/intermediate/NAME`) once the final merge is in place. The final model is the one
// unnamed document, or else the last document of the file.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { fail } from '../errors.ts';
import { mergeToFolder, type MergeSummary, type MergeToFolderOptions } from './merge-to-folder.ts';
import { recipeFromDocument, type Recipe } from './recipe.ts';

export interface RecipeDocument {
  /** Position in the file (0-based). */
  index: number;
  name?: string;
  /** The parsed YAML value. */
  value: unknown;
  /** The document's own text (what its mergekit_config.yml holds). */
  text: string;
}

export interface DocumentStep {
  document: RecipeDocument;
  recipe: Recipe;
  /** Where this document's model is written (the scratch folder, or --out for the final one). */
  out: string;
  /** Names of the documents this one reads. */
  needs: string[];
  final: boolean;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The non-empty documents of a recipe file's text. */
export function recipeDocuments(text: string, source: string): RecipeDocument[] {
  const docs = YAML.parseAllDocuments(text);
  if (!Array.isArray(docs)) fail('RECIPE_E_PARSE', `${source} is not valid YAML`);
  const out: RecipeDocument[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) fail('RECIPE_E_PARSE', `${source} is not valid YAML: ${d.errors[0]!.message}`);
    const value = d.toJS();
    if (value === null || value === undefined) continue;
    const raw = typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    const name = raw?.name;
    // The document's own lines, comments and layout kept (the `---` marker dropped).
    const own = text.slice(d.range[0], d.range[2]).replace(/^---[^\n]*\n/, '');
    out.push({ index: out.length, name: typeof name === 'string' ? name : undefined, value, text: own });
  }
  return out;
}

/** Whether the text holds more than one recipe document. */
export function isMultiDocument(text: string): boolean {
  try {
    return YAML.parseAllDocuments(text).filter((d) => d.contents !== null).length > 1;
  } catch {
    return false;
  }
}

/** The scratch folder that holds the named results while the documents run. */
export function scratchFolder(out: string): string {
  const abs = path.resolve(out);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.intermediate`);
}

/** Every document parsed (names resolved to their scratch folders), in the order they must run. */
export function planDocuments(docs: RecipeDocument[], source: string, out: string): DocumentStep[] {
  if (docs.length === 0) fail('RECIPE_E_FIELD', `${source} holds no recipe`);
  const unnamed = docs.filter((d) => d.name === undefined);
  for (const d of docs) {
    const raw = d.value as Record<string, unknown>;
    if (raw && typeof raw === 'object' && 'name' in raw && (typeof raw.name !== 'string' || !NAME_RE.test(raw.name))) {
      fail('RECIPE_E_DOCUMENT', `${source}: document ${d.index + 1} has name ${JSON.stringify(raw.name)}; a name is letters, digits, _ . - (it becomes a folder name)`);
    }
  }
  if (unnamed.length > 1) fail('RECIPE_E_DOCUMENT', `${source}: documents ${unnamed.map((d) => d.index + 1).join(' and ')} have no name; in a file of several recipes every document but the final one needs a name`);
  const final = unnamed[0] ?? docs[docs.length - 1]!;
  const scratch = scratchFolder(out);
  const named = new Map<string, string>();
  for (const d of docs) {
    if (d.name === undefined) continue;
    if (named.has(d.name)) fail('RECIPE_E_DOCUMENT', `${source}: two documents are named ${d.name}; names must be unique`);
    named.set(d.name, d === final ? path.resolve(out) : path.join(scratch, d.name));
  }
  const steps = new Map<RecipeDocument, DocumentStep>();
  for (const d of docs) {
    const where = `${source} (document ${d.index + 1}${d.name ? `, ${d.name}` : ''})`;
    const recipe = recipeFromDocument(d.value, d.text, where, { named, documentNames: [...named.keys()] });
    const used = new Set<string>([...recipe.models.map((m) => m.path), ...(recipe.baseModel ? [recipe.baseModel.path] : [])]);
    const needs = [...named].filter(([, p]) => used.has(p)).map(([n]) => n);
    steps.set(d, { document: d, recipe, out: named.get(d.name ?? '') ?? path.resolve(out), needs, final: d === final });
  }
  // Depth-first topological order, ties in file order; a document met again while open is a cycle.
  const byName = new Map(docs.filter((d) => d.name !== undefined).map((d) => [d.name!, d]));
  const order: DocumentStep[] = [];
  const state = new Map<RecipeDocument, 'open' | 'done'>();
  const visit = (d: RecipeDocument, trail: string[]): void => {
    if (state.get(d) === 'done') return;
    const label = d.name ?? `document ${d.index + 1}`;
    if (state.get(d) === 'open') fail('RECIPE_E_DOCUMENT', `${source}: the documents depend on each other in a circle (${[...trail, label].join(' → ')}); one of them must use a checkpoint folder instead`);
    state.set(d, 'open');
    for (const n of steps.get(d)!.needs) visit(byName.get(n)!, [...trail, label]);
    state.set(d, 'done');
    order.push(steps.get(d)!);
  };
  for (const d of docs) visit(d, []);
  const users = [...steps.values()].filter((s) => final.name !== undefined && s.needs.includes(final.name));
  if (users.length > 0) {
    fail('RECIPE_E_DOCUMENT', `${source}: ${final.name} is the final document (written to --out) but ${users.map((s) => s.document.name ?? `document ${s.document.index + 1}`).join(', ')} uses it; put the final recipe last (or leave it unnamed)`);
  }
  return order;
}

export interface MultiMergeSummary {
  final: MergeSummary;
  /** Intermediate results, by name, where they lie after the run. */
  intermediates: Map<string, string>;
}

/** Run every document in dependency order; the final one goes to opts.out. */
export async function mergeDocuments(
  steps: DocumentStep[],
  opts: MergeToFolderOptions & { onDocument?: (step: DocumentStep, position: number, count: number) => void },
): Promise<MultiMergeSummary> {
  const scratch = scratchFolder(opts.out);
  let final: MergeSummary | undefined;
  const done: string[] = [];
  for (const [i, step] of steps.entries()) {
    opts.onDocument?.(step, i, steps.length);
    for (const w of step.recipe.warnings) opts.onWarning?.(`${step.document.name ?? 'final document'}: ${w}`);
    if (step.final) {
      final = await mergeToFolder(step.recipe, { ...opts, out: opts.out });
    } else {
      fs.mkdirSync(scratch, { recursive: true });
      await mergeToFolder(step.recipe, { ...opts, out: step.out, overwrite: true, modelCardExtra: undefined });
      done.push(step.document.name!);
    }
  }
  // The named results move under the final output, so one folder holds everything the run made.
  const intermediates = new Map<string, string>();
  if (done.length > 0) {
    const home = path.join(final!.out, 'intermediate');
    fs.mkdirSync(home, { recursive: true });
    for (const name of done) {
      const to = path.join(home, name);
      fs.renameSync(path.join(scratch, name), to);
      intermediates.set(name, to);
    }
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return { final: final!, intermediates };
}
