// The optimizers by name, and the validation of their settings from a study config.
import { fail } from '../../errors.ts';
import { closestName } from '../../merge/registry.ts';
import type { Json, Optimizer, SettingDef } from '../optimizer.ts';
import adamerging from './adamerging.ts';
import cmaes from './cmaes.ts';
import frankWolfe from './frank-wolfe.ts';
import grid from './grid.ts';
import map from './map.ts';
import nsga2 from './nsga2.ts';
import random from './random.ts';

const ALL = [random, grid, cmaes, nsga2, map, adamerging, frankWolfe] as Optimizer[];

export const OPTIMIZERS: ReadonlyMap<string, Optimizer> = new Map(ALL.map((o) => [o.name, o]));

export function optimizerNames(): string[] {
  return [...OPTIMIZERS.keys()];
}

export function getOptimizer(name: string): Optimizer {
  const o = OPTIMIZERS.get(name);
  if (!o) {
    const near = closestName(name, OPTIMIZERS.keys());
    fail('SEARCH_E_OPTIMIZER', `unknown optimizer "${name}"${near ? ` (did you mean "${near}"?)` : ''}; optimizers: ${optimizerNames().join(', ')}`);
  }
  return o;
}

function checkSetting(def: SettingDef, v: Json, where: string): Json {
  const want = (what: string): never => fail('SEARCH_E_OPTIMIZER', `${where}.${def.name} must be ${what} (got ${JSON.stringify(v)}): ${def.doc}`);
  switch (def.kind) {
    case 'number':
    case 'integer':
      if (typeof v !== 'number' || !Number.isFinite(v) || (def.kind === 'integer' && !Number.isSafeInteger(v))) want(def.kind === 'integer' ? 'an integer' : 'a number');
      if ((def.min !== undefined && (v as number) < def.min) || (def.max !== undefined && (v as number) > def.max)) want(`in [${def.min ?? '-∞'}, ${def.max ?? '∞'}]`);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') want('true or false');
      return v;
    case 'string':
      if (typeof v !== 'string' || (def.choices && !def.choices.includes(v))) want(def.choices ? `one of ${def.choices.join(', ')}` : 'a string');
      return v;
    case 'number[]':
      if (!Array.isArray(v) || !v.every((e) => typeof e === 'number' && Number.isFinite(e))) want('a list of numbers');
      return v;
  }
}

/** Settings with defaults filled in; unknown or ill-typed settings are the user's error. */
export function resolveSettings(o: Optimizer, given: Record<string, Json>, where = 'optimizer'): Record<string, Json> {
  const out: Record<string, Json> = {};
  const names = o.settings.map((s) => s.name);
  for (const k of Object.keys(given)) {
    if (!names.includes(k)) {
      const near = closestName(k, names);
      fail('SEARCH_E_OPTIMIZER', `${where}: ${o.name} has no setting "${k}"${near ? ` (did you mean "${near}"?)` : ''}; its settings: ${names.join(', ') || 'none'}`);
    }
  }
  for (const def of o.settings) out[def.name] = given[def.name] === undefined ? def.default : checkSetting(def, given[def.name]!, where);
  return out;
}
