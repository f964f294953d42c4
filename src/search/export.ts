// Export a trial: rebuild the study's search space, turn the trial's point into a mergekit recipe,
// run it on the full checkpoints with the streaming engine, and write the checkpoint folder with
// `mergekit_config.yml` and a model card carrying the trial's metrics and its place on the front.
// For a zoo study the recipe also routes each tensor the family does not merge (a classifier's task
// heads) to the expert that supplies it (weight 1 for it, 0 for the others, density 1), the
// convention the search scored with. A language-model zoo merges every tensor.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { mergeToFolder } from '../merge/merge-to-folder.ts';
import type { Scalar } from '../merge/parameters.ts';
import { mergekitNotes } from '../merge/mergekit-compat.ts';
import { parseRecipe, type Recipe } from '../merge/recipe.ts';
import { getMethod } from '../merge/registry.ts';
import { StudyStore, parseLocation, type StudyRow, type TrialRow } from '../study/index.ts';
import { toMinimization } from './optimizer.ts';
import { paretoFront } from './pareto.ts';
import { SearchSpace, type TensorParams } from './space.ts';
import { recipeFor, recipeYaml } from './to-recipe.ts';
import { ensureZoo, zooLayout } from '../zoo/registry.ts';
import { readStoredConfig, type StudyIdentity } from './study-identity.ts';

export interface ExportOptions {
  db: string;
  study: string;
  trial: number;
  out: string;
  overwrite?: boolean;
  threads?: number;
  /**
   * How mergekit_config.yml names the models: 'relative' (default) to the output folder, so the
   * folder and the models can move together; 'absolute' as this machine sees them.
   */
  recipePaths?: RecipePaths;
  log?: (line: string) => void;
}

export const RECIPE_PATHS = ['relative', 'absolute'] as const;
export type RecipePaths = (typeof RECIPE_PATHS)[number];

export interface ExportResult {
  out: string;
  files: string[];
  recipe: string;
  seconds: number;
}

interface Sources {
  base: string;
  experts: string[];
  modelNames: string[];
  /** Tensors the space covers (zoo: the backbone) and every tensor of the base. */
  spaceTensors: string[];
  allTensors: string[];
  /** The base's layer count as the streaming engine reads it (config.json first). */
  numLayers: number;
  /** zoo: for a tensor the candidate does not merge, the index of the expert that supplies it (-1: none). */
  ownerOf?: (tensor: string) => number;
}

function sourcesOf(id: StudyIdentity, log?: (line: string) => void): Sources {
  if (id.zoo) {
    // Absolute paths, so the recipe runs from any folder.
    const layout = zooLayout(path.resolve(ensureZoo(id.zoo, { onLog: log })), id.experts);
    const { names: all, numLayers } = tensorNames(layout.base);
    return {
      base: layout.base,
      experts: layout.experts,
      modelNames: layout.expertNames,
      spaceTensors: all.filter((n) => layout.family.mergesTensor(n)),
      allTensors: all,
      numLayers,
      ownerOf: (tensor) => layout.family.tensorOwner(tensor, layout.tasks),
    };
  }
  if (!id.checkpoints) fail('STUDY_E_NOT_FOUND', 'the study names neither a zoo nor checkpoints');
  const { names: all, numLayers } = tensorNames(id.checkpoints.base);
  return { base: id.checkpoints.base, experts: id.checkpoints.experts, modelNames: id.checkpoints.experts.map((e) => path.basename(e)), spaceTensors: all, allTensors: all, numLayers };
}

function tensorNames(dir: string): { names: string[]; numLayers: number } {
  const c = Checkpoint.open(dir);
  try {
    return { names: [...c.tensors.keys()], numLayers: c.numLayers() };
  } finally {
    c.close();
  }
}

/** The space of a stored study, rebuilt from the checkpoints it names. */
export function spaceOfStudy(study: StudyRow, log?: (line: string) => void): { space: SearchSpace; sources: Sources } {
  const id = readStoredConfig(study).identity;
  const sources = sourcesOf(id, log);
  return { space: new SearchSpace(id.space, sources.spaceTensors, sources.modelNames), sources };
}

/** Parameters that route each unmerged zoo tensor (a task's head) to its own expert unchanged. */
function headParams(space: SearchSpace, sources: Sources): Array<{ tensor: string; params: TensorParams }> {
  if (!sources.ownerOf) return [];
  const method = getMethod(space.method)!;
  const modelParams = new Set(method.modelParams.map((p) => p.name));
  const globalParams = new Set(method.globalParams.map((p) => p.name));
  const fixed = space.spec.fixed ?? {};
  const out: Array<{ tensor: string; params: TensorParams }> = [];
  for (const tensor of sources.allTensors) {
    if (sources.spaceTensors.includes(tensor)) continue;
    const owner = sources.ownerOf(tensor);
    const global: Record<string, Scalar> = {};
    for (const [k, v] of Object.entries(fixed)) if (globalParams.has(k)) global[k] = v;
    if (globalParams.has('lambda')) global.lambda = 1;
    // LiNeS would scale the head's task vector too.
    if (globalParams.has('lines_alpha')) global.lines_alpha = 1;
    if (globalParams.has('lines_beta')) global.lines_beta = 0;
    const perModel = sources.modelNames.map((_, i) => {
      const p: Record<string, Scalar> = {};
      for (const [k, v] of Object.entries(fixed)) if (modelParams.has(k)) p[k] = v;
      if (modelParams.has('weight')) p.weight = i === owner ? 1 : 0;
      if (modelParams.has('density')) p.density = 1;
      return p;
    });
    out.push({ tensor, params: { global, perModel } });
  }
  return out;
}

function frontPlace(store: StudyStore, study: StudyRow, trial: TrialRow): string {
  const done = store.trials(study.id, { states: ['COMPLETE'] });
  const mins = done.map((t) => toMinimization(t.values, study.objectives));
  const front = new Set(paretoFront(mins).map((i) => done[i]!.number));
  const mine = toMinimization(trial.values, study.objectives);
  const dominatedBy = mins.filter((m) => m.every((v, i) => v <= mine[i]!) && m.some((v, i) => v < mine[i]!)).length;
  const k = study.objectives.length;
  const over = k === 1 ? 'of its one objective' : `over all ${k} objectives together`;
  return front.has(trial.number)
    ? `on the Pareto front ${over} (one of ${front.size} non-dominated trials out of ${done.length} completed)`
    : `dominated by ${dominatedBy} of ${done.length} completed trials (the Pareto front ${over} has ${front.size})`;
}

function provenance(study: StudyRow, trial: TrialRow, place: string, recipe: string, mergekitExact: boolean): string {
  const rows = study.objectives.map((o, i) => `| ${o.name} | ${o.direction} | ${trial.values![i]!.toFixed(6)} |`);
  return [
    '',
    '## Search provenance',
    '',
    `Exported by mergesearch from study \`${study.name}\` (optimizer ${study.optimizer}, seed ${study.seed}, backend ${study.backend}), trial ${trial.number}: ${place}.`,
    '',
    '| objective | direction | value recorded by the study |',
    '|---|---|---:|',
    ...rows,
    '',
    mergekitExact
      ? `The recipe above reproduces this merge with \`npx mergesearch merge\` or mergekit (${recipe.split('\n').length} lines).`
      : `The recipe above reproduces this merge with \`npx mergesearch merge\` (${recipe.split('\n').length} lines); mergekit cannot, as said above.`,
    '',
  ].join('\n');
}

/** `recipe` as written: its text and model names as mergekit_config.yml and the card show them. */
function withRefs(recipe: Recipe, text: string, ref: (p: string) => string): Recipe {
  const models = new Map(recipe.models.map((m) => [m, { ...m, ref: ref(m.path) }]));
  const base = recipe.baseModel && (models.get(recipe.baseModel) ?? { ...recipe.baseModel, ref: ref(recipe.baseModel.path) });
  return { ...recipe, models: [...models.values()], baseModel: base, text };
}

export async function exportTrial(o: ExportOptions): Promise<ExportResult> {
  const started = Date.now();
  if (parseLocation(o.db).kind === 'sqlite' && !fs.existsSync(o.db)) fail('IO_E_NOT_FOUND', `study database ${o.db} does not exist`);
  const store = StudyStore.open(o.db, { readonly: true });
  let study: StudyRow;
  let trial: TrialRow;
  let place: string;
  try {
    study = store.getStudy(o.study);
    trial = store.trial(study.id, o.trial);
    if (trial.state !== 'COMPLETE' || !trial.values) {
      fail('STUDY_E_NOT_FOUND', `trial ${o.trial} of study ${o.study} is ${trial.state}${trial.error ? ` (${trial.error})` : ''}; only COMPLETE trials can be exported`);
    }
    place = frontPlace(store, study, trial);
  } finally {
    store.close();
  }
  const { space, sources } = spaceOfStudy(study, o.log);
  if (sources.spaceTensors.length < sources.allTensors.length && !getMethod(space.method)!.modelParams.some((p) => p.name === 'weight')) {
    // Heads can only be routed through a per-model weight; the search scored each task through its
    // own expert's head, so this export's values will differ from the recorded ones.
    o.log?.(`warning: ${space.method} has no per-model weight, so the task heads cannot be routed to their experts: they are merged by ${space.method} too, unlike in the search`);
  }
  const paths = o.recipePaths ?? 'relative';
  if (!RECIPE_PATHS.includes(paths)) fail('CLI_E_ARG', `--recipe-paths must be one of ${RECIPE_PATHS.join(', ')}, got ${JSON.stringify(paths)}`);
  const absOut = path.resolve(o.out);
  const ref = (p: string) => (paths === 'absolute' ? p : path.relative(absOut, p) || '.');
  const header = [
    `mergesearch: study ${study.name}, trial ${trial.number}`,
    `values: ${study.objectives.map((ob, i) => `${ob.name}=${trial.values![i]!.toFixed(4)}`).join(', ')}`,
    ...(paths === 'relative' ? ['model paths are relative to this folder: run mergekit from it (or `npx mergesearch merge` from anywhere)'] : []),
  ].join('\n');
  const params = { numLayers: sources.numLayers, extra: headParams(space, sources) };
  const recipe = recipeYaml(recipeFor(space, trial.x, { base: ref(sources.base), experts: sources.experts.map(ref) }, params), header);
  // The merge itself runs on the absolute paths: a relative one is looked up in the working folder
  // first (as mergekit does), where a folder of the same name could be another model.
  const executed = parseRecipe(recipeYaml(recipeFor(space, trial.x, { base: sources.base, experts: sources.experts }, params)), `recipe of trial ${trial.number}`);
  o.log?.(`exporting trial ${trial.number} of study ${study.name} (${space.method}) into ${o.out}`);
  const summary = await mergeToFolder(withRefs(executed, recipe, ref), {
    out: o.out,
    overwrite: o.overwrite,
    threads: o.threads,
    seed: study.seed,
    modelCardExtra: provenance(study, trial, place, recipe, mergekitNotes(executed).length === 0),
    onWarning: (w) => o.log?.(`warning: ${w}`),
  });
  return { out: summary.out, files: summary.files, recipe, seconds: (Date.now() - started) / 1000 };
}
