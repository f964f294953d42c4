// Study configs (YAML): what to merge, what to search, how to score, which optimizer, how long.
// The whole config is validated before any model is loaded; every error names the key at fault
// and what to write instead. See the README's "Study configs" section for the reference.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { LM_EVAL_MODELS, lmEvalCommand, lmEvalDirection, type Direction, type LmEvalModel } from '../../evaluators/index.ts';
import { fail } from '../errors.ts';
import { readRegularFile } from '../io/file-checks.ts';
import { closestName, didYouMean } from '../closest-name.ts';
import { getMethod, methodNames } from '../merge/registry.ts';
import type { Scalar } from '../merge/parameters.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../tensor/backend-choices.ts';
import type { BenchmarkFamily, ZooManifest } from '../zoo/family.ts';
import { allEvaluators, BUILTIN_ZOOS, builtinZooDir, chooseExperts, familyOfZoo, isBuiltinZoo, readZooManifest } from '../zoo/registry.ts';
import type { Json } from './optimizer.ts';
import { PREFER_SCALES, type Preference, type PreferScale } from './recommend.ts';
import { GRANULARITIES, type Granularity, type GroupSpec, type ParamRange, type SpaceSpec } from './space.ts';

export const SPLITS = ['calibration', 'validation', 'test'] as const;
export type EvalSplit = (typeof SPLITS)[number];

export interface ZooObjective {
  kind: 'zoo';
  name: string;
  /** One of the zoo family's evaluators (src/zoo/*-family.ts): accuracy, exact_match, ... */
  evaluator: string;
  task: string;
  split: EvalSplit;
  direction: Direction;
}

export interface CommandObjective {
  kind: 'command';
  name: string;
  command: string;
  /** The score's key in the command's JSON output (default: the objective's name). */
  key: string;
  direction: Direction;
  timeoutSeconds: number;
  /** Set for an `lm_eval` objective: `command` runs the harness, and this task's metric is read from its results file. */
  lmEval?: { task: string; metric?: string };
}

export type ObjectiveSpec = ZooObjective | CommandObjective;

export interface StudyConfig {
  name: string;
  seed: number;
  backend: BackendChoice;
  /** A built-in zoo name (mnist8, mnist8-tiny, skills4, skills4-tiny) or a zoo folder. */
  zoo?: string;
  /** Which of the zoo's experts to merge (default: the manifest's defaultExperts, else all). */
  experts?: string[];
  checkpoints?: { base: string; experts: string[] };
  space: SpaceSpec;
  objectives: ObjectiveSpec[];
  /** Calibration samples per task per evaluation (a seeded subsample; default: the whole split). */
  samples?: number;
  optimizer: { name: string; settings: Record<string, Json> };
  budget: { trials?: number; evaluations?: number; seconds?: number };
  /** How the recommended merge is picked (src/search/recommend.ts); may change on --resume. */
  prefer?: Preference;
  /** The YAML text the config was read from (shown by the report page), when it came from text. */
  yaml?: string;
  /** Folder the config was read from (relative paths resolve against it). */
  dir: string;
}

const TOP = ['name', 'seed', 'backend', 'zoo', 'experts', 'checkpoints', 'space', 'objectives', 'samples', 'optimizer', 'budget', 'prefer'];

export function readStudyConfig(file: string): StudyConfig {
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `study config ${file} does not exist`);
  if (!fs.statSync(file).isFile()) fail('IO_E_NOT_FOUND', `${file} is a folder; give the path of a study config (YAML)`);
  const name = path.basename(file).replace(/\.ya?ml$/i, '');
  return parseStudyConfig(fs.readFileSync(file, 'utf8'), file, { defaultName: name, dir: path.dirname(path.resolve(file)) });
}

export function parseStudyConfig(text: string, source = 'study config', o: { defaultName?: string; dir?: string } = {}): StudyConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    fail('CONFIG_E_PARSE', `${source} is not valid YAML: ${(e as Error).message}`);
  }
  return { ...validateStudyConfig(doc, source, o), yaml: text };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Refuse a key of `obj` that is not in `known`, naming the closest known key. `where`: "space.", "" for the top level. */
function checkKeys(obj: Obj, known: readonly string[], where: string, source: string): void {
  for (const k of Object.keys(obj)) {
    if (known.includes(k)) continue;
    fail('CONFIG_E_FIELD', `${source}: unknown key "${where}${k}"${didYouMean(k, known)}; known keys${where ? ` of ${where.slice(0, -1)}` : ''}: ${known.join(', ')}`);
  }
}

/** Refuse a value outside `choices` ("granularity: layr"), naming the closest choice. */
function checkChoice(value: unknown, choices: readonly string[], key: string, source: string): void {
  if (typeof value === 'string' && choices.includes(value)) return;
  fail('CONFIG_E_FIELD', `${source}: ${key} must be one of ${choices.join(', ')} (got ${show(value)})${typeof value === 'string' ? didYouMean(value, choices) : ''}`);
}

export function validateStudyConfig(doc: unknown, source: string, o: { defaultName?: string; dir?: string } = {}): StudyConfig {
  const bad = (key: string, want: string, got?: unknown): never =>
    fail('CONFIG_E_FIELD', `${source}: ${key} must be ${want}${got === undefined ? '' : ` (got ${show(got)})`}`);
  if (!isObj(doc)) fail('CONFIG_E_FIELD', `${source} must be a YAML mapping with space, objectives, optimizer and budget`);
  checkKeys(doc, TOP, '', source);
  const int = (key: string, v: unknown, min: number): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) bad(key, `an integer ≥ ${min}`, v);
    return v as number;
  };

  const name = doc.name ?? o.defaultName ?? 'study';
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) bad('name', 'a study name made of letters, digits, _, . and -', name);
  const seed = doc.seed === undefined ? 0 : int('seed', doc.seed, 0);
  const backend = (doc.backend ?? 'auto') as BackendChoice;
  checkChoice(backend, BACKEND_CHOICES, 'backend', source);

  // What to merge.
  let zoo: string | undefined;
  let checkpoints: StudyConfig['checkpoints'];
  if ((doc.zoo === undefined) === (doc.checkpoints === undefined)) {
    fail('CONFIG_E_FIELD', `${source}: give exactly one of zoo (${BUILTIN_ZOOS.join(', ')} or a zoo folder) and checkpoints ({base: DIR, experts: [DIR, ...]})`);
  }
  const dir = o.dir ?? process.cwd();
  if (doc.zoo !== undefined) {
    if (typeof doc.zoo !== 'string' || doc.zoo === '') bad('zoo', `${BUILTIN_ZOOS.join(' or ')}, or the path of a zoo folder`, doc.zoo);
    zoo = isBuiltinZoo(doc.zoo as string) ? (doc.zoo as string) : path.resolve(dir, doc.zoo as string);
    // "zoo: mnist9": not a built-in name, no such folder, close to a built-in name — a misspelling,
    // refused before a database is opened or a zoo is built.
    const near = isBuiltinZoo(doc.zoo as string) || fs.existsSync(zoo) ? undefined : closestName(doc.zoo as string, BUILTIN_ZOOS);
    if (near !== undefined) {
      fail('CONFIG_E_FIELD', `${source}: zoo ${show(doc.zoo)} is not a built-in zoo, and there is no folder ${zoo}; did you mean "${near}"? (built-in zoos: ${BUILTIN_ZOOS.join(', ')}, built on first use)`);
    }
  } else {
    const c = doc.checkpoints;
    if (!isObj(c) || typeof c.base !== 'string' || !Array.isArray(c.experts) || c.experts.length < 1 || !c.experts.every((e) => typeof e === 'string')) {
      bad('checkpoints', '{base: DIR, experts: [DIR, ...]} with at least one expert', c);
    }
    const cc = c as { base: string; experts: string[] };
    checkpoints = { base: path.resolve(dir, cc.base), experts: cc.experts.map((e) => path.resolve(dir, e)) };
  }

  // Which of the zoo's experts to merge: names checked against the manifest when the zoo is built
  // (else when it is loaded).
  let experts: string[] | undefined;
  if (doc.experts !== undefined) {
    if (zoo === undefined) fail('CONFIG_E_FIELD', `${source}: experts picks among a zoo's experts; with checkpoints:, list the expert folders in checkpoints.experts`);
    if (!Array.isArray(doc.experts) || doc.experts.length === 0 || !doc.experts.every((e) => typeof e === 'string' && e !== '')) bad('experts', 'a non-empty list of the zoo\'s expert names', doc.experts);
    experts = [...(doc.experts as string[])];
    const zooDir = isBuiltinZoo(zoo!) ? builtinZooDir(zoo!) : zoo!;
    let manifest: ZooManifest | undefined;
    try {
      if (fs.existsSync(path.join(zooDir, 'manifest.json'))) manifest = readZooManifest(zooDir);
    } catch {
      manifest = undefined; // unreadable: loading the zoo reports it
    }
    if (manifest) chooseExperts(manifest, experts, source);
  }

  const space = validateSpace(doc.space, source);

  // Objectives.
  if (doc.objectives === undefined) bad('objectives', 'a list of objectives (or {tasks: all, evaluator: accuracy})');
  const rawObjectives: unknown[] = [];
  const expand = (entry: unknown, i: number) => {
    if (isObj(entry) && entry.tasks !== undefined && entry.evaluator !== 'lm_eval') {
      if (entry.tasks !== 'all' && !(Array.isArray(entry.tasks) && entry.tasks.every((t) => typeof t === 'string'))) bad(`objectives[${i}].tasks`, '"all" or a list of task names', entry.tasks);
      rawObjectives.push({ ...entry, __tasks: entry.tasks });
    } else rawObjectives.push(entry);
  };
  if (Array.isArray(doc.objectives)) doc.objectives.forEach(expand);
  else if (isObj(doc.objectives)) expand(doc.objectives, 0);
  else bad('objectives', 'a list of objectives', doc.objectives);
  if (rawObjectives.length === 0) bad('objectives', 'a non-empty list', doc.objectives);
  const objectives: ObjectiveSpec[] = [];
  rawObjectives.forEach((entry, i) => objectives.push(...validateObjective(entry, `objectives[${i}]`, source, zoo === undefined ? undefined : (familyOfZoo(zoo) ?? 'unknown'))));
  const names = objectives.map((ob) => ob.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) bad('objectives', 'objectives with distinct names', dup);
  if (checkpoints && objectives.some((ob) => ob.kind === 'zoo')) {
    fail('CONFIG_E_FIELD', `${source}: objectives scored on a zoo's tasks need zoo:; with checkpoints:, score with evaluator: command`);
  }

  const samples = doc.samples === undefined ? undefined : int('samples', doc.samples, 1);

  // Optimizer.
  let optimizer: StudyConfig['optimizer'];
  if (typeof doc.optimizer === 'string') optimizer = { name: doc.optimizer, settings: {} };
  else if (isObj(doc.optimizer) && typeof doc.optimizer.name === 'string') {
    const { name: optName, ...settings } = doc.optimizer;
    optimizer = { name: optName as string, settings: settings as Record<string, Json> };
  } else bad('optimizer', 'an optimizer name or {name: NAME, SETTING: VALUE, ...}', doc.optimizer);

  // Budget.
  const b = doc.budget;
  if (!isObj(b)) bad('budget', '{trials: N} (and/or evaluations: N, seconds: N)', b);
  const budget: StudyConfig['budget'] = {};
  checkKeys(b as Obj, ['trials', 'evaluations', 'seconds'], 'budget.', source);
  const bb = b as Obj;
  if (bb.trials !== undefined) budget.trials = int('budget.trials', bb.trials, 1);
  if (bb.evaluations !== undefined) budget.evaluations = int('budget.evaluations', bb.evaluations, 1);
  if (bb.seconds !== undefined) {
    if (typeof bb.seconds !== 'number' || !(bb.seconds > 0)) bad('budget.seconds', 'a positive number', bb.seconds);
    budget.seconds = bb.seconds as number;
  }
  if (budget.trials === undefined && budget.evaluations === undefined && budget.seconds === undefined) bad('budget', 'at least one of trials, evaluations, seconds', b);

  const prefer = doc.prefer === undefined ? undefined : validatePrefer(doc.prefer, source);

  return { name: name as string, seed, backend, zoo, ...(experts ? { experts } : {}), checkpoints, space, objectives, samples, optimizer: optimizer!, budget, prefer, dir };
}

/** `prefer: {weights: {OBJECTIVE: WEIGHT, ...}, scale: raw|minmax}` (names are checked against the resolved objectives later). */
function validatePrefer(raw: unknown, source: string): Preference {
  const bad = (key: string, want: string, got?: unknown): never => fail('CONFIG_E_FIELD', `${source}: prefer${key} must be ${want}${got === undefined ? '' : ` (got ${show(got)})`}`);
  if (!isObj(raw)) bad('', '{weights: {OBJECTIVE: WEIGHT, ...}, scale: raw|minmax} (both optional)', raw);
  const r = raw as Obj;
  for (const k of Object.keys(r)) {
    if (k !== 'weights' && k !== 'scale') {
      const near = closestName(k, ['weights', 'scale']);
      bad(`.${k}`, `one of weights, scale (unknown key${near ? `; did you mean "${near}"?` : ''})`);
    }
  }
  const out: Preference = {};
  if (r.weights !== undefined) {
    if (!isObj(r.weights)) bad('.weights', 'a mapping of objective name → weight ≥ 0', r.weights);
    const w: Record<string, number> = {};
    for (const [name, v] of Object.entries(r.weights as Obj)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(`.weights.${name}`, 'a number ≥ 0', v);
      w[name] = v as number;
    }
    out.weights = w;
  }
  if (r.scale !== undefined) {
    if (!PREFER_SCALES.includes(r.scale as PreferScale)) bad('.scale', PREFER_SCALES.join(' or '), r.scale);
    out.scale = r.scale as PreferScale;
  }
  return out;
}

function validateSpace(raw: unknown, source: string): SpaceSpec {
  const bad = (key: string, want: string, got?: unknown): never => fail('CONFIG_E_FIELD', `${source}: space.${key} must be ${want}${got === undefined ? '' : ` (got ${show(got)})`}`);
  if (!isObj(raw)) fail('CONFIG_E_FIELD', `${source}: space must be a mapping with method, granularity and parameters (e.g. space: {method: task_arithmetic, granularity: layer, parameters: {weight: {low: 0, high: 1}}})`);
  checkKeys(raw, ['method', 'granularity', 'groups', 'parameters', 'fixed', 'layer_swap'], 'space.', source);
  if (raw.layer_swap !== undefined) return validateLayerSwap(raw, source);
  const method = raw.method;
  if (typeof method !== 'string' || !getMethod(method)) {
    const near = typeof method === 'string' ? closestName(method, methodNames()) : undefined;
    fail('CONFIG_E_FIELD', `${source}: space.method ${show(method)} is not a merge method${near ? ` (did you mean "${near}"?)` : ''}; methods: ${methodNames().join(', ')}`);
  }
  const granularity = (raw.granularity ?? 'task') as Granularity;
  checkChoice(granularity, GRANULARITIES, 'space.granularity', source);
  let groups: GroupSpec[] | undefined;
  if (raw.groups !== undefined) {
    if (!Array.isArray(raw.groups) || raw.groups.some((g) => !isObj(g) || typeof g.name !== 'string' || typeof g.filter !== 'string' || g.filter === '')) {
      bad('groups', 'a list of {name: NAME, filter: SUBSTRING}', raw.groups);
    }
    groups = (raw.groups as Array<{ name: string; filter: string }>).map((g) => ({ name: g.name, filter: g.filter }));
  }
  if (!isObj(raw.parameters)) bad('parameters', 'a mapping of parameter → {low, high[, init][, granularity]}', raw.parameters);
  const parameters: Record<string, ParamRange> = {};
  for (const [p, r] of Object.entries(raw.parameters as Obj)) {
    if (!isObj(r) || typeof r.low !== 'number' || typeof r.high !== 'number') bad(`parameters.${p}`, '{low: NUMBER, high: NUMBER}', r);
    const rr = r as Obj;
    checkKeys(rr, ['low', 'high', 'init', 'granularity'], `space.parameters.${p}.`, source);
    if (rr.init !== undefined && typeof rr.init !== 'number') bad(`parameters.${p}.init`, 'a number', rr.init);
    if (rr.granularity !== undefined) checkChoice(rr.granularity, GRANULARITIES, `space.parameters.${p}.granularity`, source);
    parameters[p] = { low: rr.low as number, high: rr.high as number, init: rr.init as number | undefined, granularity: rr.granularity as Granularity | undefined };
  }
  let fixed: Record<string, Scalar> | undefined;
  if (raw.fixed !== undefined) {
    if (!isObj(raw.fixed) || Object.values(raw.fixed).some((v) => !['number', 'boolean', 'string'].includes(typeof v))) bad('fixed', 'a mapping of parameter → number, boolean or string', raw.fixed);
    fixed = raw.fixed as Record<string, Scalar>;
  }
  return { method: method as string, granularity, groups, parameters, fixed };
}

/** `space: {layer_swap: {block_size: N, blend: N}}`: which expert supplies each block of layers. */
function validateLayerSwap(raw: Obj, source: string): SpaceSpec {
  const bad = (key: string, want: string, got?: unknown): never => fail('CONFIG_E_FIELD', `${source}: space.${key} must be ${want}${got === undefined ? '' : ` (got ${show(got)})`}`);
  for (const k of ['granularity', 'groups', 'parameters', 'fixed']) {
    if (raw[k] !== undefined) bad(k, `absent with layer_swap (a layer-swapping space searches which expert supplies each block of layers, with linear)`, raw[k]);
  }
  if (raw.method !== undefined && raw.method !== 'linear') bad('method', 'linear or absent with layer_swap', raw.method);
  const ls = raw.layer_swap === null ? {} : raw.layer_swap;
  if (!isObj(ls)) bad('layer_swap', '{block_size: N, blend: N} (both optional)', ls);
  const o = ls as Obj;
  for (const k of Object.keys(o)) if (!['block_size', 'blend'].includes(k)) bad(`layer_swap.${k}`, 'one of block_size, blend (unknown key)');
  const whole = (k: string, v: unknown, min: number, fallback: number): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(`layer_swap.${k}`, `a whole number ≥ ${min}`, v);
    return v as number;
  };
  return {
    method: 'linear',
    granularity: 'layer',
    parameters: {},
    layerSwap: { blockSize: whole('block_size', o.block_size, 1, 1), blend: whole('blend', o.blend, 0, 0) },
  };
}

/**
 * One objective entry. `family`: the zoo's family (its evaluators and their directions), 'unknown'
 * for a zoo folder not readable yet (any family's evaluators pass; loading reports the folder), or
 * undefined when the study merges checkpoints (command objectives only).
 */
function validateObjective(raw: unknown, key: string, source: string, family: BenchmarkFamily | 'unknown' | undefined): ObjectiveSpec[] {
  const bad = (k: string, want: string, got?: unknown): never => fail('CONFIG_E_FIELD', `${source}: ${key}${k ? `.${k}` : ''} must be ${want}${got === undefined ? '' : ` (got ${show(got)})`}`);
  const evaluators = family === undefined ? [] : family === 'unknown' ? allEvaluators() : family.evaluators;
  const names = evaluators.map((e) => e.name);
  if (!isObj(raw)) bad('', `{task: NAME, evaluator: ${names.join('|')}} or {command: "...", key: NAME, direction: maximize|minimize}`, raw);
  const r = raw as Obj;
  const direction = (d: unknown, fallback: Direction): Direction => {
    if (d === undefined) return fallback;
    checkChoice(d, ['maximize', 'minimize'], `${key}.direction`, source);
    return d as Direction;
  };
  if (r.evaluator === 'lm_eval') return validateLmEvalObjective(r, key, source);
  if (r.evaluator === 'command' || r.command !== undefined) {
    checkKeys(r, ['name', 'evaluator', 'command', 'key', 'direction', 'timeout_seconds'], `${key}.`, source);
    if (typeof r.command !== 'string' || r.command.trim() === '') bad('command', 'a shell command (the checkpoint folder is {checkpoint} or $MERGESEARCH_CHECKPOINT)', r.command);
    const k = r.key ?? r.name;
    if (typeof k !== 'string' || k === '') bad('key', 'the name of the score in the command\'s JSON output', r.key);
    if (r.direction === undefined) bad('direction', 'maximize or minimize (a command\'s score has no known direction)');
    const t = r.timeout_seconds ?? 3600;
    if (typeof t !== 'number' || !(t > 0)) bad('timeout_seconds', 'a positive number', t);
    return [{ kind: 'command', name: typeof r.name === 'string' ? r.name : (k as string), command: r.command as string, key: k as string, direction: direction(r.direction, 'maximize'), timeoutSeconds: t as number }];
  }
  const { __tasks: _expanded, ...keys } = r;
  checkKeys(keys, ['name', 'evaluator', 'task', 'tasks', 'split', 'direction'], `${key}.`, source);
  if (family === undefined) bad('', 'a command objective ({command, key, direction}) when the study merges checkpoints');
  const evaluator = r.evaluator ?? evaluators[0]!.name;
  const info = evaluators.find((e) => e.name === evaluator);
  if (!info) {
    const zoo = typeof family === 'object' ? `the ${family.name} zoo's` : 'a zoo';
    fail(
      'CONFIG_E_FIELD',
      `${source}: ${key}.evaluator ${show(evaluator)} is not ${zoo} evaluator${typeof evaluator === 'string' ? didYouMean(evaluator, names) : ''}; ` +
        `evaluators: ${names.join(', ')}, command${typeof family === 'object' ? ` (the ${family.name} zoo holds ${family.holds})` : ''}`,
    );
  }
  const split = (r.split ?? 'calibration') as EvalSplit;
  checkChoice(split, SPLITS, `${key}.split`, source);
  if (split === 'test') process.emitWarning?.(`${source}: ${key} scores on the test split; searching on it overfits the table you report`);
  const ev = info!.name;
  const dir = direction(r.direction, info!.direction);
  if (r.__tasks !== undefined) {
    // Expanded later against the zoo's task list: a placeholder per "all".
    return [{ kind: 'zoo', name: `${ev}:*`, evaluator: ev, task: r.__tasks === 'all' ? '*' : (r.__tasks as string[]).join(','), split, direction: dir }];
  }
  if (typeof r.task !== 'string' || r.task === '') bad('task', 'the name of one of the zoo\'s tasks', r.task);
  const name = r.name ?? `${r.task as string}`;
  if (typeof name !== 'string') bad('name', 'a string', r.name);
  return [{ kind: 'zoo', name: name as string, evaluator: ev, task: r.task as string, split, direction: dir }];
}

const LM_EVAL_KEYS = ['name', 'evaluator', 'tasks', 'model', 'limit', 'model_args', 'extra_args', 'metric', 'metrics', 'direction', 'timeout_seconds', 'executable'];

/** `{evaluator: lm_eval, tasks: [...], model: hf|vllm, limit, model_args, extra_args, metric(s)}`: one objective per task, one harness run for all. */
function validateLmEvalObjective(r: Obj, key: string, source: string): CommandObjective[] {
  const bad = (k: string, want: string, got?: unknown): never => fail('CONFIG_E_FIELD', `${source}: ${key}${k ? `.${k}` : ''} must be ${want}${got === undefined ? '' : ` (got ${show(got)})`}`);
  for (const k of Object.keys(r)) {
    if (!LM_EVAL_KEYS.includes(k) && k !== '__tasks') {
      const near = closestName(k, LM_EVAL_KEYS);
      bad(k, `one of ${LM_EVAL_KEYS.join(', ')} (unknown key${near ? `; did you mean ${near}?` : ''})`);
    }
  }
  const tasks = r.tasks;
  if (!Array.isArray(tasks) || tasks.length === 0 || !tasks.every((t) => typeof t === 'string' && /^[A-Za-z0-9_.:-]+$/.test(t))) bad('tasks', 'a non-empty list of lm-evaluation-harness task names (e.g. [gsm8k, arc_easy])', tasks);
  const model = (r.model ?? 'hf') as LmEvalModel;
  if (!LM_EVAL_MODELS.includes(model)) bad('model', LM_EVAL_MODELS.join(' or '), r.model);
  if (r.limit !== undefined && !(typeof r.limit === 'number' && ((Number.isInteger(r.limit) && r.limit >= 1) || (r.limit > 0 && r.limit < 1)))) bad('limit', 'a whole number of examples per task ≥ 1 (or a fraction below 1)', r.limit);
  if (r.model_args !== undefined && typeof r.model_args !== 'string') bad('model_args', 'a string of key=value pairs, e.g. "dtype=bfloat16,max_length=2048"', r.model_args);
  if (r.extra_args !== undefined && typeof r.extra_args !== 'string' && !(Array.isArray(r.extra_args) && r.extra_args.every((a) => typeof a === 'string'))) bad('extra_args', 'a string of arguments or a list of them', r.extra_args);
  if (r.executable !== undefined && (typeof r.executable !== 'string' || r.executable.trim() === '')) bad('executable', 'the harness command (default lm_eval)', r.executable);
  if (r.metric !== undefined && typeof r.metric !== 'string') bad('metric', 'a metric name, e.g. acc_norm or exact_match,strict-match', r.metric);
  const metrics = r.metrics ?? {};
  if (!isObj(metrics) || Object.values(metrics).some((m) => typeof m !== 'string')) bad('metrics', 'a mapping of task → metric name', r.metrics);
  for (const t of Object.keys(metrics as Obj)) if (!(tasks as string[]).includes(t)) bad(`metrics.${t}`, `one of the tasks (${(tasks as string[]).join(', ')})`);
  const t = r.timeout_seconds ?? 3600;
  if (typeof t !== 'number' || !(t > 0)) bad('timeout_seconds', 'a positive number', t);
  if (r.direction !== undefined && r.direction !== 'maximize' && r.direction !== 'minimize') bad('direction', 'maximize or minimize', r.direction);
  if (r.name !== undefined && (typeof r.name !== 'string' || (tasks as string[]).length > 1)) bad('name', 'a string, and only with one task (with several, each objective is named after its task)', r.name);
  const command = lmEvalCommand({
    tasks: tasks as string[],
    model,
    limit: r.limit as number | undefined,
    modelArgs: r.model_args as string | undefined,
    extraArgs: r.extra_args as string | string[] | undefined,
    executable: r.executable as string | undefined,
  });
  return (tasks as string[]).map((task) => {
    const metric = ((metrics as Record<string, string>)[task] ?? r.metric) as string | undefined;
    return {
      kind: 'command',
      name: (r.name as string | undefined) ?? task,
      command,
      key: metric ? `${task}/${metric}` : task,
      direction: (r.direction as Direction | undefined) ?? lmEvalDirection(metric),
      timeoutSeconds: t as number,
      lmEval: { task, ...(metric ? { metric } : {}) },
    };
  });
}

/** Expand `{tasks: all|[...]}` placeholders against the zoo's tasks and check every task exists. */
export function resolveZooObjectives(objectives: ObjectiveSpec[], tasks: string[], source: string): ObjectiveSpec[] {
  const out: ObjectiveSpec[] = [];
  for (const o of objectives) {
    if (o.kind !== 'zoo') {
      out.push(o);
      continue;
    }
    const list = o.name.endsWith(':*') ? (o.task === '*' ? tasks : o.task.split(',')) : [o.task];
    const several = o.name.endsWith(':*') && objectives.filter((x) => x.kind === 'zoo' && x.name.endsWith(':*')).length > 1;
    for (const task of list) {
      if (!tasks.includes(task)) fail('CONFIG_E_FIELD', `${source}: objective task "${task}" is not in the zoo; its tasks are ${tasks.join(', ')}`);
      out.push({ ...o, task, name: o.name.endsWith(':*') ? (several ? `${task}:${o.evaluator}` : task) : o.name });
    }
  }
  const names = out.map((x) => x.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) fail('CONFIG_E_FIELD', `${source}: two objectives are named "${dup}"; give them distinct names`);
  return out;
}
