// Parameter values as mergekit reads them: scalars, gradients over layer depth, and filter lists.
// A parameter is looked up on the model first, then in the recipe's global `parameters`.
import { layerIndexOf } from '../io/checkpoint.ts';

export type Scalar = number | boolean | string;
export interface FilterEntry {
  filter?: string;
  value: Setting;
}
export type Setting = Scalar | Scalar[] | FilterEntry[] | null | undefined;

/**
 * Position of a tensor along the depth of the model, in [0, 1]: layer i of L sits at i / (L - 1),
 * and the layer of a one-layer model at 1, as mergekit places them. Tensors outside the layers
 * (embeddings, final norm, head) sit at 0. A layer index past the model's layer count (a vision
 * tower with more blocks than the text model, say) is clamped to 1.
 */
export function layerPosition(tensorName: string, numLayers: number): number {
  const i = layerIndexOf(tensorName);
  if (i === undefined) return 0;
  if (numLayers <= 1) return 1;
  return Math.min(1, i / (numLayers - 1));
}

/** Value of one setting for a tensor at depth `t` (mergekit's evaluate_setting). */
export function evaluateSetting(tensorName: string, setting: Setting, t: number): Scalar | undefined {
  if (setting === null || setting === undefined) return undefined;
  if (!Array.isArray(setting)) return setting;
  if (setting.length === 0) return undefined;
  // Python's bool is an int, so mergekit interpolates a list of booleans as 0/1 too; the result
  // then reads as true wherever it is non-zero.
  if (setting.every((e) => typeof e === 'number' || typeof e === 'boolean')) {
    const list = (setting as Array<number | boolean>).map(Number);
    const scaled = t * (list.length - 1);
    const i0 = Math.floor(scaled);
    const i1 = Math.ceil(scaled);
    const frac = scaled - i0;
    const v = (1 - frac) * list[i0]! + frac * list[i1]!;
    return setting.every((e) => typeof e === 'boolean') ? v !== 0 : v;
  }
  if (setting.every((e) => typeof e !== 'object' || e === null)) {
    return (setting as Scalar[])[Math.floor(t * (setting.length - 1))];
  }
  // Filter list: the first entry whose filter is a substring of the name (or is absent or '*') wins.
  for (const entry of setting as FilterEntry[]) {
    if (entry.filter === undefined || entry.filter === '*' || tensorName.includes(entry.filter)) return evaluateSetting(tensorName, entry.value, t);
  }
  return undefined;
}
