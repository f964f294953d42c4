// What mergekit makes of a recipe written here: the run options it takes on its command line (and
// ignores inside a recipe), the methods it has, and notes for recipes it cannot reproduce — each
// naming what mergekit would compute instead. `mergekit_config.yml` stays the recipe as given; these
// notes go to the console and the model card.
import type { Setting } from './parameters.ts';
import type { Recipe } from './recipe.ts';

/** mergekit's MergeOptions: command-line run options; mergekit's config reader ignores them in a recipe. */
export const MERGEKIT_RUN_OPTIONS: ReadonlySet<string> = new Set([
  'allow_crimes',
  'transformers_cache',
  'lora_merge_cache',
  'lora_merge_dtype',
  'cuda',
  'device',
  'low_cpu_memory',
  'out_shard_size',
  'copy_tokenizer',
  'clone_tensors',
  'trust_remote_code',
  'random_seed',
  'lazy_unpickle',
  'write_model_card',
  'safe_serialization',
  'verbosity',
  'quiet',
  'read_to_gpu',
  'multi_gpu',
  'num_threads',
  'gpu_rich',
  'async_write',
  'write_threads',
]);

/** The warning for a run option found in a recipe. */
export function runOptionWarning(where: string, key: string): string {
  return `${where}: ${key} is a mergekit run option (mergekit-yaml --${key.replace(/_/g, '-')}), not a recipe key; mergekit ignores it here, and so does mergesearch`;
}

/** Merge methods mergekit has (its registry and the methods it defines with @merge_method). */
export const MERGEKIT_METHODS: ReadonlySet<string> = new Set([
  'linear',
  'slerp',
  'nuslerp',
  'passthrough',
  'model_stock',
  'arcee_fusion',
  'karcher',
  'task_arithmetic',
  'ties',
  'dare_ties',
  'dare_linear',
  'breadcrumbs',
  'breadcrumbs_ties',
  'della',
  'della_linear',
  'multislerp',
  'nearswap',
  'ram',
  'ramplus_tl',
  'sce',
]);

/** For methods mergekit lacks: the mergekit method closest to what the recipe means, and why. */
const NEAREST: Record<string, string> = {
  widen: '`task_arithmetic` with the same weights (WIDEN without its per-column magnitude/direction weighting)',
  tsv_m: '`task_arithmetic` with the same weights, times `alpha` as `lambda` (without the SVD truncation and whitening)',
  iso_c: '`task_arithmetic` with the same weights, times `alpha` as `lambda` (without flattening the spectrum)',
  iso_cts: '`task_arithmetic` with the same weights, times `alpha` as `lambda` (without the common and task subspaces)',
  cart: '`linear` with equal weights (the mean of the models, without the low-rank offsets)',
  pcb: '`task_arithmetic` with the same weights (without the balancing and dropping)',
  consensus: '`ties` or `task_arithmetic`, as `base_method` says (without the TALL masks)',
  wudi: '`task_arithmetic` (the sum of the task vectors, WUDI\'s starting point)',
  fisher: '`linear` with the same weights (without the Fisher weighting)',
  regmean: '`linear` with the same weights (RegMean without its Gram matrices)',
  regmean_plus: '`linear` with the same weights (RegMean++ without its Gram matrices)',
};

/** Every scalar inside a setting (gradients and filter lists included). */
function leaves(s: Setting): unknown[] {
  if (s === null || s === undefined) return [];
  if (!Array.isArray(s)) return [s];
  return s.flatMap((e) => (typeof e === 'object' && e !== null ? leaves((e as { value: Setting }).value) : [e]));
}

function settingsOf(recipe: Recipe, name: string): unknown[] {
  return [recipe.parameters[name], ...recipe.models.map((m) => m.parameters[name])].flatMap((s) => leaves(s));
}

/**
 * What mergekit cannot reproduce of this recipe, one sentence each naming what it would compute
 * instead; empty when mergekit computes the same merge (up to the documented differences).
 */
export function mergekitNotes(recipe: Recipe): string[] {
  const notes: string[] = [];
  const method = recipe.method.name;
  if (!MERGEKIT_METHODS.has(method)) {
    notes.push(`mergekit has no ${method} method and stops on this recipe (unimplemented merge method); the nearest it computes is ${NEAREST[method] ?? '`task_arithmetic` with the same weights'}`);
  }
  const names = new Set([...recipe.method.globalParams, ...recipe.method.modelParams].map((p) => p.name));
  if (names.has('rescale')) {
    const kinds = [...new Set(settingsOf(recipe, 'rescale').filter((v): v is string => typeof v === 'string').map((v) => v.toLowerCase()))];
    const other = kinds.filter((k) => k !== 'true' && k !== 'false');
    if (other.length > 0) {
      const same = other.every((k) => k === 'l1');
      notes.push(
        `mergekit reads parameter values as numbers and booleans, so it refuses rescale: ${other.join(', ')}; ` +
          (same ? 'write rescale: true for the same merge (L1-norm matching)' : 'the nearest it computes is rescale: true (L1-norm matching of what is kept, not ' + other.map(describeRescale).join(', ') + ')'),
      );
    }
  }
  if (names.has('lines_alpha')) {
    const alpha = settingsOf(recipe, 'lines_alpha').some((v) => v !== 1);
    const beta = settingsOf(recipe, 'lines_beta').some((v) => v !== 0);
    if (alpha || beta) {
      notes.push('mergekit has no LiNeS: it ignores lines_alpha and lines_beta and computes the same merge with the merged task vector unscaled by depth (lines_alpha 1, lines_beta 0)');
    }
  }
  return notes;
}

function describeRescale(kind: string): string {
  if (kind === 'inverse_density') return '1/density';
  if (kind === 'l2') return 'L2-norm matching';
  if (kind === 'linf') return 'max-norm matching';
  return kind;
}
