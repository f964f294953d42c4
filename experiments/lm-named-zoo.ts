// A language-model zoo (skills4, sft4) held in memory by expert NAME, for the experiment scripts
// that merge chosen subsets of its experts (experiments/sft4/claims.ts): the base, every expert of
// manifest.experts (loaded once, on first use), the scoring context of src/zoo/lm-scoring.ts, and
// the sft4 manifest's roles (`sft`, `pt`, `irrelevant`), own tasks and default experts. A manifest
// without roles (skills4) loads, but asking for a role fails with a coded error naming the file.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../src/errors.ts';
import { mergeHostFixed, type HostParams, type MergeSpec } from '../src/merge/host-merge.ts';
import { loadLlamaHost } from '../src/models/llama-load.ts';
import { loadTokenizer } from '../src/models/tokenizer.ts';
import { scoreLmHostParams } from '../src/zoo/lm-scoring.ts';
import { stopIds } from '../src/zoo/skills4-eval.ts';
import type { LoadedLmZoo } from '../src/zoo/skills4-models.ts';
import type { Skills4Manifest } from '../src/zoo/skills4.ts';
import type { EvalSplit } from '../src/zoo/skills4-tasks.ts';

export type ExpertRole = 'sft' | 'pt' | 'irrelevant';

/** The manifest fields these scripts read (sft4's superset of skills4's manifest). */
export interface NamedZooManifest {
  benchmark: string;
  tasks: string[];
  base: string;
  experts: Record<string, string>;
  data: Record<string, Record<string, string>>;
  splits: Record<string, number>;
  model: { parameters: number; hidden: number; layers: number; heads: number; kvHeads: number; intermediate?: number; vocabSize?: number };
  roles?: Record<string, ExpertRole>;
  expertTask?: Record<string, string | null>;
  defaultExperts?: string[];
  deltaStats?: Record<string, { relL2: number; meanAbs: number; fracBelow005: number }>;
}

export interface NamedLmZoo {
  dir: string;
  manifest: NamedZooManifest;
  /** The scoring context (tokenizer, data, stop tokens); its `experts` list is empty. */
  lm: LoadedLmZoo;
  base: HostParams;
  /** Every expert of manifest.experts, in the manifest's order. */
  names: string[];
  params(name: string): HostParams;
  folder(name: string): string;
}

const manifestFile = (dir: string) => path.join(dir, 'manifest.json');

export function loadNamedLmZoo(dir: string): NamedLmZoo {
  const file = manifestFile(dir);
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `no zoo at ${dir} (${file} is missing); build one with: npx mergesearch zoo build sft4 --out ${dir}`);
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as NamedZooManifest;
  for (const key of ['tasks', 'base', 'experts', 'data', 'splits'] as const) {
    if (manifest[key] === undefined) fail('IO_E_CONFIG', `${file} has no "${key}"; it is not a language-model zoo manifest (rebuild the zoo)`);
  }
  const base = loadLlamaHost(path.join(dir, manifest.base));
  const tokenizer = loadTokenizer(path.join(dir, manifest.base));
  if (tokenizer.eosId === null) fail('IO_E_CONFIG', `${path.join(dir, manifest.base, 'tokenizer.json')} has no eos_token; answers end with one`);
  const lm: LoadedLmZoo = {
    dir,
    manifest: manifest as unknown as Skills4Manifest,
    config: base.config,
    tokenizer,
    base: base.params,
    experts: [],
    expertNames: [],
    expertTasks: [],
    tasks: [...manifest.tasks],
    numLayers: base.config.numLayers,
    stop: stopIds(tokenizer),
    eos: tokenizer.eosId!,
  };
  const names = Object.keys(manifest.experts);
  const loaded = new Map<string, HostParams>();
  const folder = (name: string) => {
    const rel = manifest.experts[name];
    if (rel === undefined) fail('IO_E_CONFIG', `${file} names no expert "${name}"; its experts are ${names.join(', ')}`);
    return path.join(dir, rel);
  };
  return {
    dir,
    manifest,
    lm,
    base: base.params,
    names,
    folder,
    params(name) {
      let p = loaded.get(name);
      if (!p) {
        const e = loadLlamaHost(folder(name));
        if (JSON.stringify(e.config) !== JSON.stringify(base.config)) fail('MERGE_E_SHAPE', `expert ${name} (${folder(name)}) has another architecture than the base; rebuild the zoo`);
        loaded.set(name, (p = e.params));
      }
      return p;
    },
  };
}

/** The experts of a role, in the manifest's order; a manifest without roles, or none of that role, is refused. */
export function expertsWithRole(z: NamedLmZoo, role: ExpertRole, needs: string): string[] {
  const roles = z.manifest.roles;
  if (!roles) fail('IO_E_CONFIG', `${manifestFile(z.dir)} has no "roles" (a ${z.manifest.benchmark} zoo); ${needs} needs the sft4 zoo's roles: build one with npx mergesearch zoo build sft4`);
  const names = z.names.filter((n) => roles[n] === role);
  if (names.length === 0) fail('IO_E_CONFIG', `${manifestFile(z.dir)} has no expert with role "${role}" (roles: ${Object.entries(roles).map(([n, r]) => `${n}=${r}`).join(', ')}); ${needs} needs one`);
  return names;
}

/** The SFT experts a study merges by default (manifest.defaultExperts, else every SFT expert). */
export function defaultExperts(z: NamedLmZoo, needs: string): string[] {
  return z.manifest.defaultExperts ?? expertsWithRole(z, 'sft', needs);
}

/** The task an expert is scored on as its own. */
export function ownTask(z: NamedLmZoo, name: string): string {
  const task = z.manifest.expertTask?.[name];
  if (typeof task !== 'string') fail('IO_E_CONFIG', `${manifestFile(z.dir)} gives expert "${name}" no own task (expertTask.${name}); rebuild the zoo`);
  if (!z.manifest.tasks.includes(task)) fail('IO_E_CONFIG', `${manifestFile(z.dir)}: expert "${name}"'s task ${task} is not among its tasks (${z.manifest.tasks.join(', ')})`);
  return task;
}

/** Merge every tensor of the named experts with a method's exact semantics (as `mergesearch merge`). */
export function mergeNamed(z: NamedLmZoo, experts: string[], spec: MergeSpec): HostParams {
  const models = { base: z.base, experts: experts.map((n) => z.params(n)), numLayers: z.lm.numLayers, expertDirs: experts.map((n) => z.folder(n)) };
  return mergeHostFixed(models, z.base.keys(), spec);
}

export interface ScoreOptions {
  /** Prompts per task: a seeded subsample (the same for every model); default the whole split. */
  samples?: number;
  seed?: number;
}

/** Greedy exact match (0–1) of a model on each task's split, in the order of `tasks`. */
export function exactMatchOn(z: NamedLmZoo, params: HostParams, tasks: string[], split: EvalSplit, o: ScoreOptions = {}): number[] {
  const objectives = tasks.map((task) => ({ kind: 'zoo' as const, name: `${task}:em`, evaluator: 'exact_match', task, split, direction: 'maximize' as const }));
  return scoreLmHostParams(z.lm, params, objectives, { samples: o.samples, seed: o.seed ?? 0 }).values;
}
