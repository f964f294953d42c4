// `mergesearch stats`: statistics of one model on a calibration set, or of every expert of a zoo on
// its own task's calibration split, written where merge methods look for them (store.ts).
//   MLP classifier (config.json architectures: MlpClassifier): data is a task data file
//     (safetensors: images U8 [N, 784], labels U8 [N], as a zoo's data/<task>/<split>.safetensors);
//     kinds gram and fisher; the head followed is --task (needed when the model has several).
//   Llama family: data is JSON token ids ([[ids...], ...] or {"input_ids": [[...]]}) or examples
//     ({"examples": [{"prompt", "answer"}]}, as a skills4 zoo's data, tokenised with the model's
//     tokenizer as bos + prompt + answer); kinds gram and fisher (llama-fisher.ts: the empirical
//     Fisher of each sequence's next-token log-likelihood).
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { loadLlamaCheckpoint, loadLlamaHost } from '../models/llama-load.ts';
import { MLP_ARCHITECTURE, mlpConfigFromJson, type MlpConfig } from '../models/mlp-classifier.ts';
import { loadTokenizer } from '../models/tokenizer.ts';
import { STATISTICS_FILE, STATISTICS_KINDS, type StatisticsKind } from '../merge/statistics/store.ts';
import { writeStatisticsFile, type StatisticsContent } from '../merge/statistics/write.ts';
import { readTaskData, toInputs } from '../zoo/task-data.ts';
import { loadClassifier } from '../zoo/zoo-eval.ts';
import { llamaFisherStatistics } from './llama-fisher.ts';
import { llamaRegmeanPlusGrams } from './llama-regmean-plus.ts';
import { llamaGramStatistics } from './llama-stats.ts';
import { mlpStatistics } from './mlp-stats.ts';
import { mlpRegmeanPlusGrams, type GramMap } from './regmean-plus.ts';

export { STATISTICS_KINDS };

export interface StatsRequest {
  /** Checkpoint folder. */
  model: string;
  /** Calibration data file. */
  data: string;
  kinds: StatisticsKind[];
  /** Output file (default: merge_statistics.safetensors in the model folder). */
  out?: string;
  /** Use the first `samples` examples of the data (default 256). */
  samples?: number;
  /** MLP classifiers: the task head to follow. */
  task?: string;
  /** Computed elsewhere and written into the same file (RegMean++ Grams of a zoo's experts). */
  extra?: Pick<StatisticsContent, 'gramsPlus' | 'plusInfo'>;
}

export interface StatsSummary {
  file: string;
  kinds: StatisticsKind[];
  grams: number;
  fishers: number;
  samples: number;
}

function architectureOf(dir: string): string {
  const c = Checkpoint.open(dir);
  try {
    const archs = (c.config?.raw as { architectures?: unknown } | undefined)?.architectures;
    const name = Array.isArray(archs) ? archs[0] : undefined;
    if (typeof name !== 'string') fail('STATS_E_INPUT', `${dir}: config.json names no architecture (architectures[0]); statistics need to know the model family`);
    return name;
  } finally {
    c.close();
  }
}

function readJson(file: string): unknown {
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `calibration data ${file} does not exist`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    fail('STATS_E_INPUT', `${file} is not valid JSON (${(e as Error).message}); Llama calibration data is JSON token ids or {"examples": [{"prompt", "answer"}]}`);
  }
}

/** Token sequences from a Llama calibration file (ids, or examples through the model's tokenizer). */
export function readTokenSequences(file: string, modelDir: string): number[][] {
  const raw = readJson(file);
  const ids = Array.isArray(raw) ? raw : (raw as { input_ids?: unknown }).input_ids;
  if (Array.isArray(ids)) {
    if (!ids.every((s) => Array.isArray(s) && s.length > 0 && s.every((t) => Number.isInteger(t) && t >= 0))) {
      fail('STATS_E_INPUT', `${file}: token ids must be a list of non-empty lists of non-negative integers`);
    }
    return ids as number[][];
  }
  const examples = (raw as { examples?: unknown }).examples;
  if (Array.isArray(examples)) {
    const tok = loadTokenizer(modelDir);
    return examples.map((e, i) => {
      const ex = e as { prompt?: unknown; answer?: unknown };
      if (typeof ex.prompt !== 'string') fail('STATS_E_INPUT', `${file}: examples[${i}] has no prompt string`);
      const text = ex.prompt + (typeof ex.answer === 'string' ? ex.answer : '');
      return [...(tok.bosId !== null ? [tok.bosId] : []), ...tok.encode(text)];
    });
  }
  fail('STATS_E_INPUT', `${file}: expected [[token ids...], ...], {"input_ids": [...]} or {"examples": [{"prompt", "answer"}]}`);
}

export function produceStatistics(r: StatsRequest): StatsSummary {
  if (!fs.existsSync(r.model)) fail('IO_E_NOT_FOUND', `model ${r.model} does not exist`);
  if (r.kinds.length === 0) fail('STATS_E_INPUT', `no statistics kind asked for; use --kind ${STATISTICS_KINDS.join(',')}`);
  if (r.kinds.includes('gram_plus') && !r.extra?.gramsPlus) fail('STATS_E_INPUT', `--kind gram_plus (RegMean++) depends on every expert being merged: produce it with \`npx mergesearch stats --zoo DIR --kind gram_plus\``);
  const kinds = r.kinds.filter((k) => k !== 'gram_plus');
  const samples = r.samples ?? 256;
  const arch = architectureOf(r.model);
  let content: StatisticsContent;
  if (kinds.length === 0) {
    content = { info: { model: path.resolve(r.model), calibration: path.resolve(r.data) } };
  } else if (arch === MLP_ARCHITECTURE) {
    const { config, params } = loadClassifier(r.model);
    try {
      const task = r.task ?? (config.tasks.length === 1 ? config.tasks[0]! : undefined);
      if (task === undefined) fail('STATS_E_INPUT', `${r.model} has heads for ${config.tasks.join(', ')}; say which task the statistics follow with --task`);
      if (!config.tasks.includes(task)) fail('STATS_E_INPUT', `${r.model} has no head for task ${task}; its tasks are ${config.tasks.join(', ')}`);
      if (!r.data.endsWith('.safetensors')) fail('STATS_E_INPUT', `${r.data}: an MLP classifier's calibration data is a task data file (.safetensors with images and labels)`);
      const d = readTaskData(r.data, config.numClasses);
      if (d.images.length / d.count !== config.inputSize) fail('STATS_E_INPUT', `${r.data} holds inputs of width ${d.images.length / d.count}, but ${r.model} takes ${config.inputSize}`);
      const n = Math.min(samples, d.count);
      content = mlpStatistics(params, config, toInputs(d.images.subarray(0, n * config.inputSize)), n, { kinds: new Set(kinds), task });
      content.info = { model: path.resolve(r.model), calibration: path.resolve(r.data), task };
    } finally {
      tf.dispose(Object.values(params));
    }
  } else {
    const sequences = readTokenSequences(r.data, r.model).slice(0, samples);
    const m = loadLlamaCheckpoint(r.model);
    try {
      content = kinds.includes('gram') ? llamaGramStatistics(m.params, m.config, sequences) : {};
      if (kinds.includes('fisher')) Object.assign(content, llamaFisherStatistics(m.params, m.config, sequences));
    } finally {
      m.dispose();
    }
    content.info = { model: path.resolve(r.model), calibration: path.resolve(r.data) };
  }
  Object.assign(content, r.extra);
  const file = r.out ?? path.join(fs.statSync(r.model).isFile() ? path.dirname(r.model) : r.model, STATISTICS_FILE);
  writeStatisticsFile(file, content);
  return { file, kinds: r.kinds, grams: (content.grams?.size ?? 0) + (content.gramsPlus?.size ?? 0), fishers: content.fishers?.size ?? 0, samples: content.samples ?? content.rows ?? samples };
}

interface ZooManifestLike {
  benchmark: string;
  tasks: string[];
  experts: Record<string, string>;
  data: Record<string, Record<string, string>>;
}

/**
 * Statistics of every expert of a zoo on its own task's calibration split, written beside it.
 * `gram_plus` (RegMean++) merges the experts layer (block) by layer with `alpha`.
 */
export function produceZooStatistics(zooDir: string, kinds: StatisticsKind[], samples?: number, onDone?: (s: StatsSummary, task: string) => void, alpha = 0.95): StatsSummary[] {
  const file = path.join(zooDir, 'manifest.json');
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `no zoo at ${zooDir} (${file} is missing); build one with: npx mergesearch zoo build mnist8 --out ${zooDir}`);
  const m = readJson(file) as ZooManifestLike;
  if (!Array.isArray(m.tasks) || typeof m.experts !== 'object' || typeof m.data !== 'object') fail('STATS_E_INPUT', `${file} is not a zoo manifest (tasks, experts, data)`);
  const dataOf = (task: string) => {
    const data = m.data[task]?.calibration;
    if (!data) fail('STATS_E_INPUT', `${file}: task ${task} has no calibration split`);
    return path.join(zooDir, data);
  };
  const plus = kinds.includes('gram_plus') ? zooRegmeanPlus(zooDir, m, dataOf, samples ?? 256, alpha) : undefined;
  return m.tasks.map((task, t) => {
    const s = produceStatistics({
      model: path.join(zooDir, m.experts[task]!),
      data: dataOf(task),
      kinds,
      samples,
      task: m.benchmark === 'mnist8' ? task : undefined,
      extra: plus ? { gramsPlus: plus[t], plusInfo: { regmean_plus_alpha: String(alpha) } } : undefined,
    });
    onDone?.(s, task);
    return s;
  });
}

function zooRegmeanPlus(zooDir: string, m: ZooManifestLike, dataOf: (task: string) => string, samples: number, alpha: number): GramMap[] {
  const dirs = m.tasks.map((task) => path.join(zooDir, m.experts[task]!));
  if (architectureOf(dirs[0]!) !== MLP_ARCHITECTURE) {
    const experts = dirs.map((dir) => loadLlamaHost(dir));
    for (const [i, e] of experts.entries()) {
      const names = [...e.params.keys()].sort().join(',');
      if (names !== [...experts[0]!.params.keys()].sort().join(',')) fail('STATS_E_INPUT', `${dirs[i]} does not hold the same tensors as ${dirs[0]}; RegMean++ merges experts of one architecture`);
    }
    const sequences = m.tasks.map((task, t) => readTokenSequences(dataOf(task), dirs[t]!).slice(0, samples));
    return llamaRegmeanPlusGrams(experts[0]!.config, experts, sequences, alpha);
  }
  const experts: Array<Map<string, Float32Array>> = [];
  let config: MlpConfig | undefined;
  for (const task of m.tasks) {
    const dir = path.join(zooDir, m.experts[task]!);
    if (architectureOf(dir) !== MLP_ARCHITECTURE) fail('STATS_E_INPUT', `${dir} is not an MLP classifier while ${dirs[0]} is; RegMean++ merges experts of one architecture`);
    const c = Checkpoint.open(dir);
    try {
      config ??= mlpConfigFromJson(c.config?.raw, path.join(dir, 'config.json'));
      experts.push(new Map([...c.tensors.keys()].map((n) => [n, c.readF32(n)])));
    } finally {
      c.close();
    }
  }
  const inputs: Float32Array[] = [];
  const counts: number[] = [];
  for (const task of m.tasks) {
    const d = readTaskData(dataOf(task), config!.numClasses);
    const n = Math.min(samples, d.count);
    inputs.push(toInputs(d.images.subarray(0, n * config!.inputSize)));
    counts.push(n);
  }
  return mlpRegmeanPlusGrams(config!, experts, inputs, counts, alpha);
}
