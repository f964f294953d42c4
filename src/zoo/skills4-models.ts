// A skills4 zoo held in memory for search: the base and every expert as host float32 arrays (all
// tensors: a language model has no task-specific heads, every tensor is merged), the Llama config,
// the tokenizer, and each task's examples encoded once.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import type { LlamaConfig } from '../models/llama-config.ts';
import { loadLlamaHost } from '../models/llama-load.ts';
import { loadTokenizer, type LoadedTokenizer } from '../models/tokenizer.ts';
import type { LmExample } from '../../evaluators/lm.ts';
import { encodeExamples, readSkillData, readSkills4Manifest, stopIds } from './skills4-eval.ts';
import type { Skills4Manifest } from './skills4.ts';
import type { Sft4Manifest } from './sft4.ts';
import { allExpertNames, expertTaskOf } from './registry.ts';
import type { EvalSplit } from './skills4-tasks.ts';
import { mergeHostFixed, type HostParams, type MergeSpec } from '../merge/host-merge.ts';

export interface LoadedLmZoo {
  dir: string;
  manifest: Skills4Manifest | Sft4Manifest;
  config: LlamaConfig;
  tokenizer: LoadedTokenizer;
  base: HostParams;
  experts: HostParams[];
  tasks: string[];
  expertNames: string[];
  expertTasks: (string | null)[];
  numLayers: number;
  /** Token ids that end a generated answer (eos, newline). */
  stop: number[];
  /** The eos id appended to every answer when its loss is scored. */
  eos: number;
}

export function loadLmZoo(dir: string): LoadedLmZoo {
  const manifest = readSkills4Manifest(dir);
  const base = loadLlamaHost(path.join(dir, manifest.base));
  // Every expert the manifest names (skills4: one per task; sft4: SFT, PT and irrelevant experts).
  const expertNames = allExpertNames(manifest);
  const experts = expertNames.map((name) => {
    const rel = manifest.experts[name];
    if (!rel) fail('IO_E_CONFIG', `${path.join(dir, 'manifest.json')} names no folder for expert ${name}`);
    const e = loadLlamaHost(path.join(dir, rel));
    if (JSON.stringify(e.config) !== JSON.stringify(base.config)) fail('MERGE_E_SHAPE', `expert ${name} (${path.join(dir, rel)}) has another architecture than the base; rebuild the zoo`);
    return e.params;
  });
  const tokenizer = loadTokenizer(path.join(dir, manifest.base));
  if (tokenizer.eosId === null) fail('IO_E_CONFIG', `${path.join(dir, manifest.base, 'tokenizer.json')} has no eos_token; skills4 answers end with one`);
  return {
    dir,
    manifest,
    config: base.config,
    tokenizer,
    base: base.params,
    experts,
    expertNames,
    expertTasks: expertNames.map((n) => expertTaskOf(manifest, n)),
    tasks: [...manifest.tasks],
    numLayers: base.config.numLayers,
    stop: stopIds(tokenizer),
    eos: tokenizer.eosId!,
  };
}

const encodedCache = new WeakMap<LoadedLmZoo, Map<string, LmExample[]>>();

/** A task's split, encoded (prompt with bos; answer without the stop token); cached per zoo. */
export function lmExamples(zoo: LoadedLmZoo, task: string, split: EvalSplit): LmExample[] {
  let byKey = encodedCache.get(zoo);
  if (!byKey) encodedCache.set(zoo, (byKey = new Map()));
  const key = `${task}/${split}`;
  let ex = byKey.get(key);
  if (!ex) {
    const rel = zoo.manifest.data[task]?.[split];
    if (!rel) fail('IO_E_NOT_FOUND', `the zoo's manifest names no ${split} data for task ${task}`);
    ex = encodeExamples(zoo.tokenizer, readSkillData(path.join(zoo.dir, rel)));
    if (ex.length === 0) fail('IO_E_NOT_FOUND', `${path.join(zoo.dir, rel)} holds no examples`);
    byKey.set(key, ex);
  }
  return ex;
}

/** Merge every tensor of a language-model zoo with a method's exact semantics (as `mergesearch merge`). */
export function mergeLmZoo(zoo: LoadedLmZoo, spec: MergeSpec): HostParams {
  return mergeHostFixed(zoo, zoo.base.keys(), spec);
}
