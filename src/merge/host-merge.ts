// Merging checkpoints held in memory as host float32 arrays (search candidates, baselines): every
// tensor through the same per-tensor method code as `mergesearch merge` (`mergeTensorInMemory`),
// so a candidate scored in memory is the checkpoint an export writes.
import { fail } from '../errors.ts';
import { mergeTensorInMemory } from './in-memory.ts';
import { layerPosition, type Scalar } from './parameters.ts';

export interface HostTensor {
  shape: number[];
  values: Float32Array;
}

/** A checkpoint's tensors by name, as host float32 arrays. */
export type HostParams = Map<string, HostTensor>;

/** Checkpoints that share a base, in memory: what a merge of host arrays reads. */
export interface HostModels {
  base: HostParams;
  experts: HostParams[];
  /** The layer count, for parameter gradients over depth. */
  numLayers: number;
  /** The experts' folders, when known: where data-informed methods (regmean, fisher) find statistics. */
  expertDirs?: string[];
}

export interface MergeSpec {
  method: string;
  global?: Record<string, Scalar | undefined>;
  /** Per expert (in the models' order). */
  perModel?: Array<Record<string, Scalar | undefined>>;
  seed?: number;
}

/** Merge parameters for one tensor: the method's global values and one record per expert. */
export type TensorMergeParams = Pick<MergeSpec, 'global'> & { perModel: NonNullable<MergeSpec['perModel']> };

/**
 * Merge `tensors` of in-memory checkpoints with a method's exact semantics; `paramsOf` gives each
 * tensor's parameters. With `checkFinite`, a NaN or infinity in the result is refused
 * (SEARCH_E_NONFINITE), naming the tensor and element.
 */
export function mergeHostParams(
  models: HostModels,
  tensors: Iterable<string>,
  method: string,
  paramsOf: (tensor: string) => TensorMergeParams,
  o: { seed?: number; checkFinite?: boolean } = {},
): HostParams {
  const out: HostParams = new Map();
  for (const name of tensors) out.set(name, mergeOne(models, name, method, paramsOf(name), o));
  return out;
}

/**
 * mergeHostParams giving the event loop a turn between tensors: a search's trial loop beats its
 * heartbeat on a timer, and a candidate merged in one synchronous stretch would look dead to
 * other workers after 30 s (src/search/loop.ts).
 */
export async function mergeHostParamsYielding(
  models: HostModels,
  tensors: Iterable<string>,
  method: string,
  paramsOf: (tensor: string) => TensorMergeParams,
  o: { seed?: number; checkFinite?: boolean } = {},
): Promise<HostParams> {
  const out: HostParams = new Map();
  for (const name of tensors) {
    await new Promise((r) => setImmediate(r));
    out.set(name, mergeOne(models, name, method, paramsOf(name), o));
  }
  return out;
}

function mergeOne(models: HostModels, name: string, method: string, p: TensorMergeParams, o: { seed?: number; checkFinite?: boolean }): HostTensor {
  const b = models.base.get(name)!;
  const values = mergeTensorInMemory({
    method,
    name,
    shape: b.shape,
    base: method === 'linear' ? null : b.values,
    models: models.experts.map((e) => e.get(name)!.values),
    global: p.global,
    perModel: p.perModel,
    t: layerPosition(name, models.numLayers),
    seed: o.seed ?? 0,
    modelPaths: models.expertDirs,
  });
  if (o.checkFinite) {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) fail('SEARCH_E_NONFINITE', `the merge produced ${values[i]} in ${name} (element ${i}) for this candidate`);
    }
  }
  return { shape: b.shape, values };
}

/** Parameters of a fixed merge (every tensor alike); experts weigh 1 unless the spec says otherwise. */
export function fixedMergeParams(spec: MergeSpec, experts: number): TensorMergeParams {
  return { global: spec.global, perModel: spec.perModel ?? Array.from({ length: experts }, () => ({ weight: 1 })) };
}

/** Merge `tensors` with one fixed spec (every tensor alike). */
export function mergeHostFixed(models: HostModels, tensors: Iterable<string>, spec: MergeSpec): HostParams {
  const params = fixedMergeParams(spec, models.experts.length);
  return mergeHostParams(models, tensors, spec.method, () => params, { seed: spec.seed });
}
