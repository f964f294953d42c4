// The search space: which merge parameters are searched, at what granularity, and how a flat
// coefficient vector (what optimizers see) maps to merge parameters per tensor (what the merge
// methods see) and back.
//
// Granularity decides the *units* a parameter is repeated over:
//   task   one value per model for the whole network (task-wise AdaMerging, mergekit-evolve);
//   layer  one value per model per block (`layers.N.`), plus one unit for tensors outside blocks;
//   tensor one value per model per tensor (AdaMerging's "layer-wise": each parameter tensor).
// Optional groups split every unit further by tensor name (substring match, as mergekit's
// `filter`), e.g. attention vs MLP weights; the first matching group wins, unmatched tensors form
// the implicit group `other`.
//
// Vector layout, parameter by parameter in config order: a per-model parameter takes
// models × units coordinates (model-major), a global parameter (e.g. lambda) takes units.
import { fail } from '../errors.ts';
import { layerIndexOf } from '../io/checkpoint.ts';
import type { ParamDef } from '../merge/method.ts';
import type { Scalar } from '../merge/parameters.ts';
import { getMethod } from '../merge/registry.ts';
import { blockLabel, LayerSwap, type LayerSwapSpec } from './layer-swap.ts';

export const GRANULARITIES = ['task', 'layer', 'tensor'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export interface GroupSpec {
  name: string;
  filter: string;
}

export interface ParamRange {
  low: number;
  high: number;
  /** Starting value; default: the method's `searchInit`, else 1/N for `weight`, else the method's default, clamped into bounds. */
  init?: number;
  /** Overrides the space's granularity for this parameter (e.g. one density per model). */
  granularity?: Granularity;
}

export interface SpaceSpec {
  method: string;
  granularity: Granularity;
  groups?: GroupSpec[];
  /** Searched parameters and their bounds. */
  parameters: Record<string, ParamRange>;
  /** Method parameters held fixed (global or per-model names). */
  fixed?: Record<string, Scalar>;
  /** Instead of parameters: which expert supplies each block of layers (method linear; see layer-swap.ts). */
  layerSwap?: LayerSwapSpec;
}

export interface Unit {
  key: string;
  /** Block index, for layer granularity (undefined: tensors outside blocks). */
  layer?: number;
  group?: string;
  /** The single tensor of a tensor-granularity unit. */
  tensor?: string;
}

interface Dimension {
  param: string;
  scope: 'model' | 'global';
  granularity: Granularity;
  units: Unit[];
  /** tensor name → unit index, for this parameter's granularity. */
  unitOf: Map<string, number>;
  offset: number;
  range: ParamRange;
}

/** Merge parameters as the in-memory and streaming paths take them, for one tensor. */
export interface TensorParams {
  global: Record<string, Scalar>;
  perModel: Array<Record<string, Scalar>>;
}

/** A vector decoded for storage and export: parameter → values [model][unit] or [unit]. */
export interface DecodedParams {
  method: string;
  fixed: Record<string, Scalar>;
  parameters: Record<string, { scope: 'model' | 'global'; granularity: Granularity; units: string[]; values: number[][] | number[] }>;
}

export class SearchSpace {
  readonly method: string;
  readonly dim: number;
  /** Set for a layer-swapping space (black-box optimizers only). */
  readonly layerSwap?: LayerSwap;
  readonly low: number[] = [];
  readonly high: number[] = [];
  readonly init: number[] = [];
  readonly names: string[] = [];
  readonly tensors: string[];
  private readonly dims: Dimension[] = [];
  private readonly fixedGlobal: Record<string, Scalar> = {};
  private readonly fixedModel: Record<string, Scalar> = {};
  private swapRows?: { key: string; rows: number[][] };

  /**
   * @param tensors the names of the tensors being merged (in the order they are merged)
   * @param modelNames the input models (experts), for coordinate names
   */
  /** The space as given, with parameter patterns (`group_*`) expanded to the method's parameters. */
  readonly spec: SpaceSpec;

  constructor(given: SpaceSpec, tensors: string[], readonly modelNames: string[]) {
    const method = getMethod(given.method);
    if (!method) fail('SEARCH_E_SPACE', `unknown merge method "${given.method}"`);
    if (given.layerSwap) {
      if (given.method !== 'linear') fail('SEARCH_E_SPACE', `space.layer_swap merges with linear (each layer a weighted average of the experts), not ${given.method}; drop space.method`);
      this.spec = given;
      this.method = given.method;
      this.tensors = tensors;
      this.layerSwap = new LayerSwap(given.layerSwap, tensors, modelNames);
      this.low.push(...this.layerSwap.low);
      this.high.push(...this.layerSwap.high);
      this.init.push(...this.layerSwap.init);
      this.names.push(...this.layerSwap.names);
      this.dim = this.layerSwap.dim;
      return;
    }
    const spec = expandPatterns(given, [...method.modelParams, ...method.globalParams].map((d) => d.name));
    this.spec = spec;
    this.method = spec.method;
    this.tensors = tensors;
    if (tensors.length === 0) fail('SEARCH_E_SPACE', 'there are no tensors to merge');
    const byName = (defs: readonly ParamDef[]) => new Map(defs.map((d) => [d.name, d]));
    const globals = byName(method.globalParams);
    const perModel = byName(method.modelParams);
    const known = [...perModel.keys(), ...globals.keys()];

    for (const [name, value] of Object.entries(spec.fixed ?? {})) {
      if (perModel.has(name)) this.fixedModel[name] = value;
      else if (globals.has(name)) this.fixedGlobal[name] = value;
      else fail('SEARCH_E_SPACE', `space.fixed.${name}: ${spec.method} has no parameter "${name}"; it takes ${known.join(', ')}`);
      // The same rules as a recipe's values (plan.ts): a wrong kind would fail every trial, one by one.
      const def = (perModel.get(name) ?? globals.get(name))!;
      if (def.kind === 'number' && !(typeof value === 'number' && Number.isFinite(value))) fail('SEARCH_E_SPACE', `space.fixed.${name} must be a finite number, got ${JSON.stringify(value)}`);
      if (def.kind === 'boolean' && typeof value !== 'boolean') fail('SEARCH_E_SPACE', `space.fixed.${name} must be true or false, got ${JSON.stringify(value)}`);
      if (def.kind === 'string' && def.choices && !def.choices.includes(String(value))) {
        fail('SEARCH_E_SPACE', `space.fixed.${name} must be one of ${def.choices.join(', ')}, got ${JSON.stringify(value)}`);
      }
    }

    const groups = spec.groups ?? [];
    for (const g of groups) {
      if (!tensors.some((t) => groupOf(t, groups) === g.name)) {
        fail('SEARCH_E_SPACE', `space.groups: group "${g.name}" (filter "${g.filter}") matches no tensor; tensors look like ${tensors.slice(0, 3).join(', ')}`);
      }
    }

    let offset = 0;
    const n = modelNames.length;
    for (const [param, range] of Object.entries(spec.parameters)) {
      const def = perModel.get(param) ?? globals.get(param);
      if (!def) fail('SEARCH_E_SPACE', `space.parameters.${param}: ${spec.method} has no parameter "${param}"; it takes ${known.join(', ')}`);
      if (def.kind !== 'number') fail('SEARCH_E_SPACE', `space.parameters.${param}: only numeric parameters can be searched (${param} is a ${def.kind}); set it under space.fixed`);
      if (param in (spec.fixed ?? {})) fail('SEARCH_E_SPACE', `space.parameters.${param} is also under space.fixed; keep one`);
      if (!(Number.isFinite(range.low) && Number.isFinite(range.high) && range.low < range.high)) {
        fail('SEARCH_E_SPACE', `space.parameters.${param}: needs finite low < high (got low ${range.low}, high ${range.high})`);
      }
      const granularity = range.granularity ?? spec.granularity;
      const { units, unitOf } = buildUnits(tensors, granularity, groups);
      const scope = perModel.has(param) ? 'model' : 'global';
      let init = range.init;
      if (init === undefined) init = method.searchInit?.[param] ?? (param === 'weight' ? 1 / n : typeof def.default === 'number' ? def.default : (range.low + range.high) / 2);
      if (range.init !== undefined && !(range.init >= range.low && range.init <= range.high)) {
        fail('SEARCH_E_SPACE', `space.parameters.${param}.init = ${range.init} is outside [${range.low}, ${range.high}]`);
      }
      init = Math.min(range.high, Math.max(range.low, init));
      const d: Dimension = { param, scope, granularity, units, unitOf, offset, range };
      this.dims.push(d);
      const rows = scope === 'model' ? modelNames : [null];
      for (const m of rows) {
        for (const u of units) {
          this.low.push(range.low);
          this.high.push(range.high);
          this.init.push(init);
          this.names.push(`${param}${m === null ? '' : `[${m}]`}${granularity === 'task' && !u.group ? '' : `[${u.key}]`}`);
        }
      }
      offset += rows.length * units.length;
    }
    this.dim = offset;
    if (this.dim === 0) fail('SEARCH_E_SPACE', `space.parameters is empty; search at least one of ${known.join(', ')} (e.g. weight: {low: 0, high: 1})`);
    // Required per-model parameters must be searched or fixed.
    for (const def of method.modelParams) {
      if (def.required && !(def.name in spec.parameters) && !(def.name in this.fixedModel)) {
        fail('SEARCH_E_SPACE', `${spec.method} needs "${def.name}" per model: search it under space.parameters or set it under space.fixed`);
      }
    }
    this.checkBounds(method);
  }

  /**
   * The method must accept the starting point, and each bound of each searched parameter with the
   * rest at the start (a density range reaching 3 would otherwise fail every trial that goes past
   * 1, deep in the search). One parameter of one model moves at a time: corners such as every
   * weight 0 can be legitimately invalid (linear's normalize) and are left to the trials.
   */
  private checkBounds(method: NonNullable<ReturnType<typeof getMethod>>): void {
    if (!method.checkParams) return;
    const tensor = this.tensors[0]!;
    const withDefaults = (defs: readonly ParamDef[], given: Record<string, Scalar>) => Object.fromEntries(defs.map((d) => [d.name, given[d.name] ?? d.default]));
    const check = (p: TensorParams): string | undefined =>
      method.checkParams!({
        name: tensor,
        shape: [1],
        rows: 1,
        cols: 1,
        t: 0,
        global: withDefaults(method.globalParams, p.global),
        perModel: p.perModel.map((m) => withDefaults(method.modelParams, m)),
        modelRefs: this.modelNames,
        seed: 0,
        valuesOnly: true,
      });
    const start = this.paramsFor(this.init, tensor);
    const bad = check(start);
    if (bad) fail('SEARCH_E_SPACE', `${this.method} refuses the starting point of the space: ${bad}; change space.fixed or the parameters' init`);
    for (const d of this.dims) {
      for (const [end, v] of [['low', d.range.low], ['high', d.range.high]] as const) {
        const p: TensorParams = { global: { ...start.global }, perModel: start.perModel.map((m) => ({ ...m })) };
        if (d.scope === 'global') p.global[d.param] = v;
        else p.perModel[0]![d.param] = v;
        const why = check(p);
        if (why) fail('SEARCH_E_SPACE', `space.parameters.${d.param}: ${end} = ${v} is not a value ${this.method} accepts (${why}); narrow the bounds`);
      }
    }
  }

  /** Number of units of the per-model parameter `param` (e.g. `weight`). */
  unitsOf(param: string): Unit[] {
    return this.dimension(param).units;
  }

  /** Index in the vector of `param` for model m (ignored for global parameters) and unit u. */
  coordinate(param: string, model: number, unit: number): number {
    const d = this.dimension(param);
    return d.offset + (d.scope === 'model' ? model * d.units.length : 0) + unit;
  }

  /** The unit index of `tensor` for `param`. */
  unitOfTensor(param: string, tensor: string): number {
    const u = this.dimension(param).unitOf.get(tensor);
    if (u === undefined) throw new Error(`tensor ${tensor} is not in the search space`);
    return u;
  }

  /** Merge parameters for one tensor given vector x. */
  paramsFor(x: readonly number[], tensor: string): TensorParams {
    this.checkVector(x);
    if (this.layerSwap) {
      // Every tensor of a candidate asks with the same x: the layer table is computed once per point.
      const key = x.join(',');
      if (this.swapRows?.key !== key) this.swapRows = { key, rows: this.layerSwap.layerWeights(x) };
      const w = this.layerSwap.weightsFor(x, tensor, this.swapRows.rows);
      return { global: { normalize: true }, perModel: w.map((v) => ({ weight: v })) };
    }
    const global: Record<string, Scalar> = { ...this.fixedGlobal };
    const perModel = this.modelNames.map(() => ({ ...this.fixedModel }) as Record<string, Scalar>);
    for (const d of this.dims) {
      const u = d.unitOf.get(tensor);
      if (u === undefined) throw new Error(`tensor ${tensor} is not in the search space`);
      if (d.scope === 'global') global[d.param] = x[d.offset + u]!;
      else perModel.forEach((p, m) => (p[d.param] = x[d.offset + m * d.units.length + u]!));
    }
    return { global, perModel };
  }

  decode(x: readonly number[]): DecodedParams {
    this.checkVector(x);
    if (this.layerSwap) {
      const ls = this.layerSwap;
      const parameters: DecodedParams['parameters'] = {
        expert: { scope: 'global', granularity: 'layer', units: ls.blocks.map(([a, b]) => blockLabel(a, b)), values: ls.choices(x) },
      };
      if (ls.spec.blend > 0) parameters.blend = { scope: 'global', granularity: 'task', units: ['all'], values: [ls.blendWidth(x)] };
      return { method: this.method, fixed: {}, parameters };
    }
    const parameters: DecodedParams['parameters'] = {};
    for (const d of this.dims) {
      const k = d.units.length;
      const values =
        d.scope === 'global'
          ? x.slice(d.offset, d.offset + k)
          : this.modelNames.map((_, m) => x.slice(d.offset + m * k, d.offset + (m + 1) * k));
      parameters[d.param] = { scope: d.scope, granularity: d.granularity, units: d.units.map((u) => u.key), values };
    }
    return { method: this.method, fixed: { ...this.fixedGlobal, ...this.fixedModel }, parameters };
  }

  /** The vector of a decoded point (inverse of decode). */
  encode(p: DecodedParams): number[] {
    const x = new Array<number>(this.dim).fill(NaN);
    if (this.layerSwap) {
      // The middle of each chosen bin.
      const chosen = [...(p.parameters.expert?.values as number[]), ...((p.parameters.blend?.values as number[] | undefined) ?? [])];
      return chosen.map((v) => v + 0.5);
    }
    for (const d of this.dims) {
      const v = p.parameters[d.param];
      if (!v) throw new Error(`decoded parameters lack ${d.param}`);
      const flat = d.scope === 'global' ? (v.values as number[]) : (v.values as number[][]).flat();
      flat.forEach((val, i) => (x[d.offset + i] = val));
    }
    return x;
  }

  private dimension(param: string): Dimension {
    const d = this.dims.find((e) => e.param === param);
    if (!d) throw new Error(`parameter ${param} is not searched`);
    return d;
  }

  private checkVector(x: readonly number[]): void {
    if (x.length !== this.dim) throw new Error(`coefficient vector has ${x.length} entries, the space has ${this.dim}`);
  }
}

/**
 * `parameters` keys with `*` (e.g. `group_*` for tsv_m's 32 component groups) stand for every method
 * parameter they match, in the method's order, each with the same range; explicit keys win.
 */
function expandPatterns(spec: SpaceSpec, names: string[]): SpaceSpec {
  if (!Object.keys(spec.parameters).some((k) => k.includes('*'))) return spec;
  const parameters: Record<string, ParamRange> = {};
  for (const [key, range] of Object.entries(spec.parameters)) {
    if (!key.includes('*')) {
      parameters[key] = range;
      continue;
    }
    const re = new RegExp(`^${key.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    const matched = names.filter((n) => re.test(n) && !(n in spec.parameters) && !(n in (spec.fixed ?? {})));
    if (matched.length === 0) fail('SEARCH_E_SPACE', `space.parameters.${key} matches no parameter of ${spec.method}; it takes ${names.join(', ')}`);
    for (const n of matched) parameters[n] = range;
  }
  return { ...spec, parameters };
}

function groupOf(tensor: string, groups: readonly GroupSpec[]): string | undefined {
  return groups.find((g) => g.filter === '*' || tensor.includes(g.filter))?.name;
}

function buildUnits(tensors: string[], granularity: Granularity, groups: readonly GroupSpec[]): { units: Unit[]; unitOf: Map<string, number> } {
  const units: Unit[] = [];
  const byKey = new Map<string, number>();
  const unitOf = new Map<string, number>();
  const ordered = granularity === 'layer' ? [...tensors].sort((a, b) => (layerIndexOf(a) ?? -1) - (layerIndexOf(b) ?? -1)) : tensors;
  for (const t of ordered) {
    const group = groups.length > 0 ? (groupOf(t, groups) ?? 'other') : undefined;
    let unit: Unit;
    if (granularity === 'task') unit = { key: group ?? 'all', group };
    else if (granularity === 'tensor') unit = { key: t, tensor: t, group };
    else {
      const layer = layerIndexOf(t);
      const base = layer === undefined ? 'outside layers' : `layer ${layer}`;
      unit = { key: group ? `${base}/${group}` : base, layer, group };
    }
    let i = byKey.get(unit.key);
    if (i === undefined) {
      i = units.length;
      byKey.set(unit.key, i);
      units.push(unit);
    }
    unitOf.set(t, i);
  }
  return { units, unitOf };
}
