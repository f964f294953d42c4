// The `lm_eval` evaluator: score a checkpoint folder with EleutherAI's lm-evaluation-harness. It
// builds the `lm_eval` command line for the folder, runs it like any command evaluator (own process
// group, timeout, abort), then reads the harness's own results file — `results_<date>.json`, written
// under --output_path (in a sub-folder named after the model) — whose `results` map each task (and
// each group) to `"<metric>,<filter>": value` entries. Every numeric entry becomes the score
// `<task>/<metric>,<filter>`; an objective picks one per task.
import fs from 'node:fs';
import path from 'node:path';
import { MergeSearchError } from '../src/errors.ts';
import { runCommandEvaluator, shellWord } from './command.ts';

export const LM_EVAL_MODELS = ['hf', 'vllm'] as const;
export type LmEvalModel = (typeof LM_EVAL_MODELS)[number];

export interface LmEvalSpec {
  tasks: string[];
  model: LmEvalModel;
  /** --limit: examples per task (the harness's own subsample: the first N). */
  limit?: number;
  /** Appended to --model_args after pretrained=CHECKPOINT (e.g. "dtype=bfloat16"). */
  modelArgs?: string;
  /** More arguments, as shell words (a string is taken as written, a list is quoted word by word). */
  extraArgs?: string | string[];
  /** The harness's executable (default `lm_eval`, found on PATH). */
  executable?: string;
}

/** Metrics tried in this order when an objective names none (the harness's usual headline numbers). */
const PREFERRED = ['exact_match,strict-match', 'exact_match,flexible-extract', 'acc_norm,none', 'acc,none', 'exact_match,none', 'pass@1,none', 'f1,none', 'mc2,none', 'word_perplexity,none'];

/** Metrics where lower is better; every other harness metric is maximised. */
const LOWER_IS_BETTER = /^(word_perplexity|byte_perplexity|bits_per_byte|perplexity|ter)(,|$)/;

export function lmEvalDirection(metric: string | undefined): 'maximize' | 'minimize' {
  return metric !== undefined && LOWER_IS_BETTER.test(metric) ? 'minimize' : 'maximize';
}

/**
 * The command line, with `{checkpoint}` and `{output}` left for the runner to fill: e.g.
 * `lm_eval --model hf --model_args pretrained={checkpoint},dtype=bfloat16 --tasks gsm8k,arc_easy --limit 100 --output_path {output}`.
 */
export function lmEvalCommand(spec: LmEvalSpec): string {
  const words = [
    spec.executable ?? 'lm_eval',
    '--model',
    spec.model,
    '--model_args',
    `pretrained={checkpoint}${spec.modelArgs ? `,${spec.modelArgs}` : ''}`,
    '--tasks',
    spec.tasks.join(','),
    ...(spec.limit !== undefined ? ['--limit', String(spec.limit)] : []),
    '--output_path',
    '{output}',
  ];
  const extra = spec.extraArgs === undefined ? '' : typeof spec.extraArgs === 'string' ? spec.extraArgs : spec.extraArgs.map(shellWord).join(' ');
  return words.join(' ') + (extra.trim() ? ` ${extra.trim()}` : '');
}

/** Every results file (`results*.json`) under `dir`, newest name last. */
function resultFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && /^results.*\.json$/.test(e.name)) out.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  // The harness stamps each file with an ISO date, so the names sort by time.
  return out.sort((a, b) => path.basename(a).localeCompare(path.basename(b)));
}

/** The scores of the newest results file under `outputDir`: `task/metric,filter` → value. */
export function readLmEvalResults(outputDir: string, what = 'lm_eval'): Record<string, number> {
  const files = resultFiles(outputDir);
  const file = files.at(-1);
  if (!file) throw new MergeSearchError('EVAL_E_OUTPUT', `${what} wrote no results_*.json under ${outputDir}; check that the harness ran to the end (its stderr) and that extra_args does not change --output_path`);
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MergeSearchError('EVAL_E_OUTPUT', `${what}: ${file} is not valid JSON (${(e as Error).message})`);
  }
  const results = (doc as { results?: unknown })?.results;
  if (typeof results !== 'object' || results === null || Array.isArray(results)) {
    throw new MergeSearchError('EVAL_E_OUTPUT', `${what}: ${file} has no "results" mapping of task → metrics; is it an lm-evaluation-harness results file?`);
  }
  const scores: Record<string, number> = {};
  const groups = (doc as { groups?: unknown }).groups;
  for (const section of [results, typeof groups === 'object' && groups !== null ? groups : {}]) {
    for (const [task, metrics] of Object.entries(section as Record<string, unknown>)) {
      if (typeof metrics !== 'object' || metrics === null) continue;
      for (const [metric, value] of Object.entries(metrics as Record<string, unknown>)) {
        // Standard errors are not scores; "N/A" and other strings are skipped.
        if (typeof value !== 'number' || /_stderr(,|$)/.test(metric)) continue;
        scores[`${task}/${metric}`] = value;
      }
    }
  }
  return scores;
}

/**
 * One task's score: `metric` as `name,filter` exactly, or `name` alone (its first filter, `none`
 * first); without a metric, the first of the usual headline metrics the task reports. With
 * `direction` (the objective's) and no metric named, a default pick that goes the other way
 * (a perplexity for a maximised objective) is refused rather than optimised backwards.
 */
export function pickLmEvalScore(scores: Record<string, number>, task: string, metric?: string, direction?: 'maximize' | 'minimize'): { metric: string; value: number } {
  const ofTask = Object.keys(scores)
    .filter((k) => k.startsWith(`${task}/`))
    .map((k) => k.slice(task.length + 1));
  if (ofTask.length === 0) {
    const tasks = [...new Set(Object.keys(scores).map((k) => k.slice(0, k.lastIndexOf('/'))))];
    throw new MergeSearchError('EVAL_E_OUTPUT', `lm_eval reported no numbers for task ${task} (it reported ${tasks.join(', ') || 'nothing'}); check the task name`);
  }
  let chosen: string | undefined;
  if (metric === undefined) chosen = PREFERRED.find((m) => ofTask.includes(m)) ?? ofTask[0];
  else if (metric.includes(',')) chosen = ofTask.find((m) => m === metric);
  else chosen = ofTask.find((m) => m === `${metric},none`) ?? ofTask.find((m) => m.startsWith(`${metric},`));
  if (chosen === undefined) throw new MergeSearchError('EVAL_E_OUTPUT', `lm_eval reported no metric ${metric} for task ${task}; it reported ${ofTask.join(', ')}`);
  if (metric === undefined && direction !== undefined && lmEvalDirection(chosen) !== direction) {
    throw new MergeSearchError(
      'EVAL_E_OUTPUT',
      `lm_eval: task ${task} reports ${ofTask.join(', ')}; the default pick ${chosen} is ${lmEvalDirection(chosen)}d but the objective is set to ${direction}; name the metric in the study config (metrics: {${task}: ${chosen.split(',')[0]}}), which also sets its direction`,
    );
  }
  return { metric: chosen, value: scores[`${task}/${chosen}`]! };
}

export interface LmEvalRunOptions {
  /** The command from lmEvalCommand (with {checkpoint} and {output}). */
  command: string;
  checkpointDir: string;
  /** An empty folder for the harness's results (--output_path). */
  outputDir: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Refuse a checkpoint folder whose path has a comma: the harness splits --model_args at every
 * comma (lm_eval/utils.py simple_parse_args_string in the 0.4 releases; key_val_to_dict in newer
 * ones) with no quoting, so `pretrained=/a,b/merged` would become pretrained=/a plus a bad `b/merged`
 * argument. (Newer releases also take --model_args as JSON, but older ones do not, so that is not
 * relied on.) `where` says what the path is made of, for the message.
 */
export function checkLmEvalPath(checkpointDir: string, where = 'the checkpoint folder'): void {
  const p = path.resolve(checkpointDir);
  if (p.includes(',')) {
    throw new MergeSearchError(
      'EVAL_E_PATH',
      `lm_eval cannot be given ${p} (${where}): it splits --model_args at commas, with no way to quote one, so pretrained= would be cut at the comma; use a folder whose path has no commas${where.includes('TMPDIR') ? ' (set TMPDIR to one)' : ''}`,
    );
  }
}

/** Run the harness on one checkpoint and read its results file. */
export async function runLmEval(o: LmEvalRunOptions): Promise<Record<string, number>> {
  checkLmEvalPath(o.checkpointDir);
  fs.mkdirSync(o.outputDir, { recursive: true });
  const command = o.command.replaceAll('{output}', shellWord(path.resolve(o.outputDir)));
  return runCommandEvaluator({
    command,
    checkpointDir: o.checkpointDir,
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    readScores: () => readLmEvalResults(o.outputDir, `lm_eval (${command.split(' --output_path')[0]})`),
  });
}
