// A point of the search space as a mergekit recipe: the same merge, runnable by `mergesearch merge`
// and by mergekit itself. Per-tensor values become the most compact mergekit setting that gives
// every tensor exactly its value: a scalar when all agree, a gradient list with one anchor per
// layer (layer i of L sits at t = i/(L−1), so the anchors are hit exactly) plus name filters for
// tensors outside layers, or else one filter entry per tensor (longest names first, because
// mergekit's filters match substrings and the first match wins).
import YAML from 'yaml';
import { fail } from '../errors.ts';
import { layerIndexOf } from '../io/checkpoint.ts';
import type { FilterEntry, Scalar, Setting } from '../merge/parameters.ts';
import type { SearchSpace, TensorParams } from './space.ts';

export interface RecipeModels {
  base: string;
  experts: string[];
}

function settingFor(values: Map<string, Scalar>, numLayers: number): Setting {
  const distinct = new Set(values.values());
  if (distinct.size === 1) return [...distinct][0]!;
  // One value per layer index, and the layer's tensors all agree?
  const perLayer = new Map<number, Scalar>();
  const outside = new Map<string, Scalar>();
  let layered = numLayers > 1;
  for (const [name, v] of values) {
    const i = layerIndexOf(name);
    if (i === undefined) outside.set(name, v);
    else if (perLayer.has(i) && perLayer.get(i) !== v) layered = false;
    else perLayer.set(i, v);
  }
  // The outside tensors' filters come first and match substrings, so none may be part of a layer
  // tensor's name (else that tensor would take the outside value): exact filters for all then.
  const layerNames = [...values.keys()].filter((n) => layerIndexOf(n) !== undefined);
  if ([...outside.keys()].some((f) => layerNames.some((n) => n.includes(f)))) layered = false;
  if (layered && perLayer.size === numLayers && [...perLayer.keys()].every((i) => i < numLayers) && [...perLayer.values()].every((v) => typeof v === 'number')) {
    const list = Array.from({ length: numLayers }, (_, i) => perLayer.get(i) as number);
    const layers: Setting = list.every((v) => v === list[0]) ? list[0]! : list;
    if (outside.size === 0) return layers;
    return [...byLength(outside), { value: layers }];
  }
  return byLength(values);
}

function byLength(values: Map<string, Scalar>): FilterEntry[] {
  return [...values].sort((a, b) => b[0].length - a[0].length || a[0].localeCompare(b[0])).map(([filter, value]) => ({ filter, value }));
}

/** The recipe object (mergekit's YAML schema) for point x of `space`. */
export function recipeFor(
  space: SearchSpace,
  x: readonly number[],
  models: RecipeModels,
  o: { dtype?: string; numLayers: number; extra?: Array<{ tensor: string; params: TensorParams }> },
): Record<string, unknown> {
  if (space.layerSwap) {
    if (o.extra && o.extra.length > 0) fail('SEARCH_E_SPACE', `a layer-swapping recipe cannot route ${o.extra.length} unmerged tensors (e.g. ${o.extra[0]!.tensor}) to their experts; layer swapping needs a zoo or checkpoints that merge every tensor`);
    return space.layerSwap.recipe(x, models.experts, o.dtype);
  }
  // `extra`: tensors outside the space with parameters of their own (a zoo's task heads).
  const perTensor = [...space.tensors.map((t) => [t, space.paramsFor(x, t)] as const), ...(o.extra ?? []).map((e) => [e.tensor, e.params] as const)];
  const globalNames = new Set(perTensor.flatMap(([, p]) => Object.keys(p.global)));
  const modelNames = new Set(perTensor.flatMap(([, p]) => p.perModel.flatMap((m) => Object.keys(m))));
  const collect = (pick: (p: (typeof perTensor)[number][1]) => Scalar | undefined): Setting => {
    const m = new Map<string, Scalar>();
    for (const [t, p] of perTensor) {
      const v = pick(p);
      if (v !== undefined) m.set(t, v);
    }
    return settingFor(m, o.numLayers);
  };
  const parameters: Record<string, Setting> = {};
  for (const g of globalNames) parameters[g] = collect((p) => p.global[g]);
  const recipe: Record<string, unknown> = {
    merge_method: space.method,
    ...(space.method === 'linear' ? {} : { base_model: models.base }),
    models: models.experts.map((e, i) => {
      const params: Record<string, Setting> = {};
      for (const name of modelNames) params[name] = collect((p) => p.perModel[i]![name]);
      return { model: e, parameters: params };
    }),
  };
  if (Object.keys(parameters).length > 0) recipe.parameters = parameters;
  if (o.dtype) recipe.dtype = o.dtype;
  return recipe;
}

export function recipeYaml(recipe: Record<string, unknown>, header?: string): string {
  const body = YAML.stringify(recipe, { lineWidth: 0 });
  return header ? `${header.split('\n').map((l) => `# ${l}`).join('\n')}\n${body}` : body;
}
