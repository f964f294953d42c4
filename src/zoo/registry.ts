// Every benchmark family by name, and the questions the rest of the program asks about zoos: is
// this a built-in zoo name, where does it live (building it when missing), which family does a
// folder hold, what are its tasks and expert folders. Adding a family = one adapter file + one line
// in FAMILIES.
import fs from 'node:fs';
import path from 'node:path';
import { closestName, didYouMean } from '../closest-name.ts';
import { fail } from '../errors.ts';
import { readRegularFile } from '../io/file-checks.ts';
import { BUILTIN_ZOOS, familyNames, isBuiltinZoo } from './catalog.ts';
import type { BenchmarkFamily, FamilyEvaluator, LoadedZoo, ZooManifest } from './family.ts';
import { mnist8Family } from './mnist8-family.ts';
import { sft4Family } from './sft4-family.ts';
import { skills4Family } from './skills4-family.ts';

export const FAMILIES: readonly BenchmarkFamily[] = [mnist8Family, skills4Family, sft4Family];

// Names and summaries live in catalog.ts, which the command line reads without loading the families.
export { BUILTIN_ZOOS, familyNames, isBuiltinZoo };

export function getFamily(name: string): BenchmarkFamily | undefined {
  return FAMILIES.find((f) => f.name === name);
}

/** The family of a built-in zoo name (mnist8-tiny → mnist8). */
function familyOfBuiltin(zoo: string): BenchmarkFamily | undefined {
  return getFamily(zoo.replace(/-tiny$/, ''));
}

/** The default folder of a built-in zoo: zoo/NAME under `root` (the working folder by default). */
export function builtinZooDir(zoo: string, root = 'zoo'): string {
  return path.join(root, zoo);
}

/** The built-in zoo whose default folder `dir` is (zoo/mnist8-tiny → mnist8-tiny), if any. */
export function builtinZooAt(dir: string): string | undefined {
  return BUILTIN_ZOOS.find((name) => path.resolve(builtinZooDir(name)) === path.resolve(dir));
}

/**
 * The advice ending a "no zoo at DIR" message: the build command when DIR is a built-in zoo's
 * default folder; the built-in zoo when DIR's name is a misspelling of one (mnist9 → mnist8); else
 * what a zoo folder is (a path the user chose is printed as given, with no guess at what belongs there).
 */
export function missingZooAdvice(dir: string): string {
  const name = builtinZooAt(dir);
  if (name !== undefined) return `build it with: ${buildCommand(name)}`;
  const near = closestName(path.basename(path.resolve(dir)), BUILTIN_ZOOS);
  if (near !== undefined) return `did you mean the built-in zoo ${near}? (give --zoo ${near}, or build it with: ${buildCommand(near)})`;
  return `check the path: a zoo folder holds the manifest.json that \`npx mergesearch zoo build NAME --out DIR\` writes (NAME: ${familyNames().join(', ')})`;
}

/** The command that builds a built-in zoo into its default folder. */
function buildCommand(zoo: string): string {
  return `npx mergesearch zoo build ${zoo.replace(/-tiny$/, '')}${zoo.endsWith('-tiny') ? ' --tiny' : ''}`;
}

/** manifest.json of a zoo folder, checked for the fields every family writes. */
export function readZooManifest(dir: string): ZooManifest {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `no zoo at ${dir} (${file} is missing); ${missingZooAdvice(dir)}`);
  // Never blocks: a FIFO or device named manifest.json is refused (IO_E_NOT_REGULAR).
  const text = readRegularFile(file, 'zoo manifest');
  let m: Partial<ZooManifest>;
  try {
    m = JSON.parse(text) as Partial<ZooManifest>;
  } catch (e) {
    fail('IO_E_CONFIG', `${file} is not valid JSON (${(e as Error).message}); rebuild the zoo`);
  }
  if (typeof m !== 'object' || m === null || !Array.isArray(m.tasks) || typeof m.base !== 'string' || typeof m.experts !== 'object' || m.experts === null || typeof m.data !== 'object') {
    fail('IO_E_CONFIG', `${file} lacks tasks, base, experts or data; rebuild the zoo`);
  }
  for (const t of m.tasks) if (typeof m.experts[t] !== 'string') fail('IO_E_CONFIG', `${file} names no expert for task ${String(t)}; rebuild the zoo`);
  return m as ZooManifest;
}

/** The family a zoo folder holds, by its manifest's `benchmark`. */
export function familyOfDir(dir: string): BenchmarkFamily {
  const m = readZooManifest(dir);
  const f = getFamily(m.benchmark);
  if (!f) fail('IO_E_CONFIG', `${path.join(dir, 'manifest.json')} describes a "${String(m.benchmark)}" zoo, which this version does not know; known families: ${familyNames().join(', ')}`);
  return f;
}

/**
 * The family of a study's `zoo:` (a built-in name or a folder), or undefined when a folder cannot
 * be read yet (validation then accepts any family's evaluators and loading reports the folder).
 */
export function familyOfZoo(zoo: string): BenchmarkFamily | undefined {
  if (isBuiltinZoo(zoo)) return familyOfBuiltin(zoo);
  try {
    return familyOfDir(zoo);
  } catch {
    return undefined;
  }
}

/** Every evaluator of every family, once each (validating a config whose zoo is not readable yet). */
export function allEvaluators(): FamilyEvaluator[] {
  const seen = new Map<string, FamilyEvaluator>();
  for (const f of FAMILIES) for (const e of f.evaluators) if (!seen.has(e.name)) seen.set(e.name, e);
  return [...seen.values()];
}

/** Where a zoo lives: a folder as given, or a built-in zoo under `root`, built when missing (cached). */
export function ensureZoo(zoo: string, o: { root?: string; onLog?: (line: string) => void } = {}): string {
  const family = isBuiltinZoo(zoo) ? familyOfBuiltin(zoo) : undefined;
  if (!family) return zoo;
  const dir = builtinZooDir(zoo, o.root);
  if (!fs.existsSync(path.join(dir, 'manifest.json'))) {
    const tiny = zoo.endsWith('-tiny');
    o.onLog?.(`the ${zoo} zoo is not built yet: building it into ${dir} (seed 0; cached for later runs; ${tiny ? family.buildTime.tiny : family.buildTime.full})`);
    family.build({ out: dir, seed: 0, tiny, onLog: o.onLog });
  }
  return dir;
}

/** Every expert of a zoo by name, in the manifest's order (an expert per task when it names no others). */
export function allExpertNames(m: ZooManifest): string[] {
  return m.expertTask ? Object.keys(m.experts) : [...m.tasks];
}

/** An expert's own task: the manifest's expertTask, else the expert is named by its task. */
export function expertTaskOf(m: ZooManifest, name: string): string | null {
  return m.expertTask ? (m.expertTask[name] ?? null) : name;
}

/**
 * The experts a zoo study merges and the tasks it scores: `names` (a study config's `experts`), else
 * the manifest's defaultExperts, else every expert; the tasks are the chosen experts' own tasks. An
 * unknown or repeated name, or a choice with no task to score, is a CONFIG_E_FIELD error.
 */
export function chooseExperts(m: ZooManifest, names: readonly string[] | undefined, where: string): { names: string[]; tasks: string[] } {
  const all = allExpertNames(m);
  const chosen = names ? [...names] : [...(m.defaultExperts ?? all)];
  for (const [i, n] of chosen.entries()) {
    if (!all.includes(n)) fail('CONFIG_E_FIELD', `${where}: experts[${i}] is ${JSON.stringify(n)}, which the ${m.benchmark} zoo does not have${didYouMean(n, all)}; its experts: ${all.join(', ')}`);
    if (chosen.indexOf(n) !== i) fail('CONFIG_E_FIELD', `${where}: experts names ${n} twice; name each expert once`);
  }
  if (chosen.length === 0) fail('CONFIG_E_FIELD', `${where}: experts is empty; name at least one of ${all.join(', ')}`);
  const tasks = [...new Set(chosen.map((n) => expertTaskOf(m, n)).filter((t): t is string => t !== null))];
  if (tasks.length === 0) fail('CONFIG_E_FIELD', `${where}: the experts ${chosen.join(', ')} have no task of their own to score; add one with a task (${all.filter((n) => expertTaskOf(m, n) !== null).join(', ')})`);
  return { names: chosen, tasks };
}

/**
 * A loaded zoo narrowed to the experts a study merges (see chooseExperts). The copy keeps the
 * family's methods, which read the copy's experts and tasks (mnist8 scores each chosen task through
 * its own expert's head, so its tasks are the chosen experts').
 */
export function selectExperts<Z extends LoadedZoo>(zoo: Z, names: readonly string[] | undefined, where: string): Z {
  const { names: chosen, tasks } = chooseExperts(zoo.manifest, names, where);
  const idx = chosen.map((n) => zoo.expertNames.indexOf(n));
  const missing = chosen.find((_, k) => idx[k]! < 0);
  if (missing !== undefined) fail('CONFIG_E_FIELD', `${where}: expert ${missing} is not loaded from the zoo ${zoo.dir}`);
  const dirs = (zoo as { expertDirs?: string[] }).expertDirs;
  return {
    ...zoo,
    experts: idx.map((i) => zoo.experts[i]!),
    expertNames: chosen,
    expertTasks: idx.map((i) => zoo.expertTasks[i]!),
    tasks,
    ...(dirs ? { expertDirs: idx.map((i) => dirs[i]!) } : {}),
  };
}

/**
 * A zoo's scored tasks and checkpoint folders (absolute), read from its manifest without loading
 * weights, for the experts a study merges (`experts`: its config's list; default as chooseExperts).
 */
export function zooLayout(dir: string, experts?: readonly string[]): { family: BenchmarkFamily; tasks: string[]; base: string; experts: string[]; expertNames: string[] } {
  const family = familyOfDir(dir);
  const m = readZooManifest(dir);
  const abs = path.resolve(dir);
  const { names, tasks } = chooseExperts(m, experts, 'study config');
  return { family, tasks, base: path.join(abs, m.base), experts: names.map((n) => path.join(abs, m.experts[n]!)), expertNames: names };
}
