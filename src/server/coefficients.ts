// A trial's decoded merge parameters as tables for the page: per parameter, the rows are the models
// (per-model parameters such as weight, density) or a single row (global ones such as lambda), the
// columns the units (the whole network, each block, each tensor; see space.ts).
//
// Model names come from where the study's search took its models: a zoo's manifest lists its tasks
// in expert order (the search and export use the same order), checkpoint studies name each expert
// by its folder. When the zoo cannot be found from here (a built-in zoo built under another working
// folder) the models are called "model 1", "model 2", ... and `modelsFrom` says "numbered".
import fs from 'node:fs';
import path from 'node:path';
import type { StudyRow } from '../study/index.ts';
import type { DecodedParams } from '../search/space.ts';
import { readStoredConfigParts } from '../search/study-identity.ts';
import { builtinZooDir, chooseExperts, isBuiltinZoo, readZooManifest } from '../zoo/registry.ts';

export interface CoefficientTable {
  scope: 'model' | 'global';
  granularity: string;
  models: string[] | null;
  units: string[];
  values: number[][];
}

export type ModelsFrom = 'zoo' | 'checkpoints' | 'numbered';

/** The names of the experts a zoo study merged (its config's `experts`, else the zoo's default). */
function zooExperts(zoo: string, experts: string[] | undefined, searchDirs: string[]): string[] | undefined {
  // A built-in zoo lives in zoo/NAME under the folder the search ran in; try the likely ones.
  const candidates = isBuiltinZoo(zoo) ? searchDirs.map((d) => builtinZooDir(zoo, path.join(d, 'zoo'))) : [zoo];
  for (const dir of candidates) {
    if (!fs.existsSync(path.join(dir, 'manifest.json'))) continue;
    try {
      return chooseExperts(readZooManifest(dir), experts, 'stored study config').names;
    } catch {
      // not a readable zoo
    }
  }
  return undefined;
}

/**
 * Names of the study's input models (experts), `count` of them. `searchDirs` are folders a built-in
 * zoo may have been built under (the server's output root and working folder, the config's folder).
 */
export function modelNames(study: StudyRow, count: number, searchDirs: string[]): { names: string[]; from: ModelsFrom } {
  const stored = readStoredConfigParts(study);
  const id = stored.identity;
  const dirs = [...searchDirs, ...(stored.source ? [path.dirname(stored.source)] : [])];
  if (typeof id?.zoo === 'string') {
    const names = zooExperts(id.zoo, id.experts, dirs);
    if (names && names.length === count) return { names, from: 'zoo' };
  } else if (id?.checkpoints && Array.isArray(id.checkpoints.experts) && id.checkpoints.experts.length === count) {
    return { names: id.checkpoints.experts.map((e) => path.basename(e)), from: 'checkpoints' };
  }
  return { names: Array.from({ length: count }, (_, i) => `model ${i + 1}`), from: 'numbered' };
}

/** The number of models a decoded point covers (rows of its per-model parameters), 0 if none. */
export function modelCount(decoded: DecodedParams | null): number {
  for (const p of Object.values(decoded?.parameters ?? {})) {
    if (p.scope === 'model' && Array.isArray(p.values)) return p.values.length;
  }
  return 0;
}

function isDecoded(v: unknown): v is DecodedParams {
  return typeof v === 'object' && v !== null && typeof (v as DecodedParams).parameters === 'object' && (v as DecodedParams).parameters !== null;
}

export function coefficientTables(decoded: unknown, models: string[]): Record<string, CoefficientTable> {
  if (!isDecoded(decoded)) return {};
  const out: Record<string, CoefficientTable> = {};
  for (const [param, p] of Object.entries(decoded.parameters)) {
    const rows = p.scope === 'model' ? (p.values as number[][]) : [p.values as number[]];
    out[param] = {
      scope: p.scope,
      granularity: p.granularity,
      models: p.scope === 'model' ? rows.map((_, i) => models[i] ?? `model ${i + 1}`) : null,
      units: [...p.units],
      values: rows.map((r) => [...r]),
    };
  }
  return out;
}

export { isDecoded };
