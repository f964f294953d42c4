// What a study stores about the config it was started with, as one typed, versioned record with
// one writer (`storedConfigOf`, when the study is created) and one reader (`readStoredConfig`, for
// resume, export, re-scoring and the report server). `identity` holds what must not change on
// --resume; `budget` may; `source` is the config file it came from.
import { fail } from '../errors.ts';
import type { StudyRow } from '../study/index.ts';
import type { Json } from './optimizer.ts';
import type { SpaceSpec } from './space.ts';
import type { BackendChoice } from '../tensor/engine.ts';
import type { ObjectiveSpec, StudyConfig } from './study-config.ts';

/** Version of the stored record; studies written before versioning read as version 1. */
export const STORED_CONFIG_VERSION = 1;

export interface StudyIdentity {
  /** A built-in zoo name or an absolute zoo folder; null for a checkpoint study. */
  zoo: string | null;
  /** The zoo experts the study merges, when its config names them (absent: the zoo's default). */
  experts?: string[];
  checkpoints: { base: string; experts: string[] } | null;
  space: SpaceSpec;
  objectives: ObjectiveSpec[];
  samples: number | null;
  optimizer: StudyConfig['optimizer'];
  seed: number;
}

export interface StoredStudyConfig {
  version: number;
  identity: StudyIdentity;
  budget: StudyConfig['budget'];
  /** The study config file (absolute), when the study was started from one. */
  source: string | null;
}

/** The record stored with a new study. */
export function storedConfigOf(c: StudyConfig, source: string | null): StoredStudyConfig {
  const identity: StudyIdentity = JSON.parse(
    JSON.stringify({ zoo: c.zoo ?? null, ...(c.experts ? { experts: c.experts } : {}), checkpoints: c.checkpoints ?? null, space: c.space, objectives: c.objectives, samples: c.samples ?? null, optimizer: c.optimizer, seed: c.seed }),
  ) as StudyIdentity;
  return { version: STORED_CONFIG_VERSION, identity, budget: c.budget, source };
}

/**
 * The stored record of a study. A study that was not created by `mergesearch search` (no stored
 * space) or by a newer version is refused with STUDY_E_NOT_FOUND / STUDY_E_VERSION.
 */
export function readStoredConfig(study: StudyRow): StoredStudyConfig {
  const raw = (study.config ?? {}) as Partial<StoredStudyConfig> & Record<string, unknown>;
  const version = typeof raw.version === 'number' ? raw.version : 1;
  if (version > STORED_CONFIG_VERSION) {
    fail('STUDY_E_VERSION', `study "${study.name}" was written by a newer mergesearch (stored config version ${version}, this one reads ${STORED_CONFIG_VERSION}); upgrade mergesearch to use it`);
  }
  const id = raw.identity;
  if (!id || typeof id !== 'object' || !id.space) fail('STUDY_E_NOT_FOUND', `study "${study.name}" has no stored search space (it was not created by mergesearch search)`);
  return { version, identity: id, budget: raw.budget ?? {}, source: typeof raw.source === 'string' ? raw.source : null };
}

/**
 * The config a study was started with, rebuilt from its stored record: what `mergesearch worker`
 * joins a study with, on any machine, without the config file. Paths in it are absolute, as the
 * starting process resolved them; commands run in the worker's current folder.
 */
export function configFromStored(study: StudyRow, backend: BackendChoice = 'auto'): StudyConfig {
  const { identity: id, budget, source } = readStoredConfig(study);
  return {
    name: study.name,
    seed: id.seed,
    backend,
    ...(id.zoo !== null ? { zoo: id.zoo } : {}),
    ...(id.experts ? { experts: id.experts } : {}),
    ...(id.checkpoints !== null ? { checkpoints: id.checkpoints } : {}),
    space: id.space,
    objectives: id.objectives,
    ...(id.samples !== null ? { samples: id.samples } : {}),
    optimizer: id.optimizer,
    budget,
    dir: source !== null ? source.replace(/[/\\][^/\\]*$/, '') : process.cwd(),
  };
}

/**
 * Whatever parts of the record a study holds, without failing (the report server shows studies
 * created by other tools or older versions too): fields not stored are absent.
 */
export function readStoredConfigParts(study: StudyRow): { identity: Partial<StudyIdentity>; source: string | null } {
  const raw = (study.config ?? {}) as Partial<StoredStudyConfig>;
  const id = raw.identity && typeof raw.identity === 'object' ? raw.identity : {};
  return { identity: id, source: typeof raw.source === 'string' ? raw.source : null };
}

/** JSON with object keys sorted, so reordering keys in a config is not a change. */
function canonical(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k]!)}`).join(',')}}`;
  return JSON.stringify(v);
}

/** The identity fields that differ between a stored study and a config (what --resume refuses). */
export function changedIdentityFields(stored: StudyIdentity, config: StudyConfig): string[] {
  const before = stored as unknown as Record<string, Json>;
  const now = storedConfigOf(config, null).identity as unknown as Record<string, Json>;
  const changed = Object.keys(now).filter((k) => canonical(before[k] ?? null) !== canonical(now[k]!));
  // Key order is free everywhere but in space.parameters, whose order lays out the coefficient vector.
  const order = (id: Record<string, Json>) => JSON.stringify(Object.keys(((id.space as Record<string, Json> | null)?.parameters ?? {}) as Record<string, Json>));
  if (!changed.includes('space') && order(before) !== order(now)) changed.push('space');
  return changed;
}
