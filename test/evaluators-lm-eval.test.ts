// The lm_eval evaluator: the command line it builds, the harness's results file read back (its real
// layout: OUTPUT/<model name>/results_<date>.json, results → task → "metric,filter"), study-config
// objectives, and a command-scored study whose scorer is a fake `lm_eval` on PATH that writes a
// results file computed from the trial's checkpoint — each value checked against the merge worked
// out by hand from the trial's coefficients.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lmEvalCommand, pickLmEvalScore, readLmEvalResults, runLmEval } from '../evaluators/index.ts';
import { runStudy } from '../src/search/run-study.ts';
import { parseStudyConfig, type CommandObjective } from '../src/search/study-config.ts';
import { StudyStore } from '../src/study/index.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { expectCodeAsync, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';

// A stand-in for the harness: parses the arguments the real CLI takes, logs them, and writes a
// results file in the harness's format with numbers read from the checkpoint (F32 tensors
// layers.0.w and layers.1.w): gsm8k's strict-match = layers.0.w[0], arc_easy's acc_norm = layers.1.w[0].
const FAKE_LM_EVAL = `#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
const args = process.argv.slice(2);
const opt = (k) => args[args.indexOf(k) + 1];
fs.appendFileSync(process.env.LM_EVAL_LOG, JSON.stringify(args) + '\\n');
const pretrained = opt('--model_args').split(',')[0].replace(/^pretrained=/, '');
const buf = fs.readFileSync(path.join(pretrained, 'model.safetensors'));
const n = Number(buf.readBigUInt64LE(0));
const header = JSON.parse(buf.subarray(8, 8 + n).toString());
const read = (name) => { const [a, b] = header[name].data_offsets; return new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + n + a, buf.byteOffset + 8 + n + b)); };
const l0 = read('layers.0.w'), l1 = read('layers.1.w');
const results = {};
for (const task of opt('--tasks').split(',')) {
  if (task === 'gsm8k') results.gsm8k = { alias: 'gsm8k', 'exact_match,strict-match': l0[0], 'exact_match_stderr,strict-match': 0.01, 'exact_match,flexible-extract': l0[1], 'exact_match_stderr,flexible-extract': 'N/A' };
  if (task === 'arc_easy') results.arc_easy = { alias: 'arc_easy', 'acc,none': l1[1], 'acc_stderr,none': 0.02, 'acc_norm,none': l1[0], 'acc_norm_stderr,none': 0.02 };
}
const dir = path.join(opt('--output_path'), pretrained.replace(/\\//g, '__'));
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'results_' + new Date().toISOString().replace(/:/g, '-') + '.json'), JSON.stringify({ results, 'n-shot': {}, higher_is_better: {}, config: { model: opt('--model'), limit: Number(opt('--limit')) } }, null, 2));
console.log('|Tasks|Version|Filter|n-shot|Metric|Value|');
`;

let tmp: { dir: string; cleanup: () => void };
const savedPath = process.env.PATH;

beforeAll(() => {
  tmp = makeTmp('mergesearch-lm-eval-');
  const bin = path.join(tmp.dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'lm_eval'), FAKE_LM_EVAL, { mode: 0o755 });
  process.env.PATH = `${bin}:${savedPath}`;
  process.env.LM_EVAL_LOG = path.join(tmp.dir, 'lm_eval.log');
  const t = (name: string, values: number[]) => ({ name, shape: [2], values });
  writeHandCheckpoint(path.join(tmp.dir, 'models/base'), [t('layers.0.w', [0, 0]), t('layers.1.w', [0, 0])]);
  writeHandCheckpoint(path.join(tmp.dir, 'models/e1'), [t('layers.0.w', [1, 0]), t('layers.1.w', [0, 1])]);
  writeHandCheckpoint(path.join(tmp.dir, 'models/e2'), [t('layers.0.w', [0, 1]), t('layers.1.w', [1, 0])]);
});

afterAll(() => {
  process.env.PATH = savedPath;
  tmp?.cleanup();
});

describe('lm_eval command line and results', () => {
  it('builds the harness command line for hf and vllm', () => {
    expect(lmEvalCommand({ tasks: ['gsm8k', 'arc_easy'], model: 'hf', limit: 100 })).toBe('lm_eval --model hf --model_args pretrained={checkpoint} --tasks gsm8k,arc_easy --limit 100 --output_path {output}');
    expect(lmEvalCommand({ tasks: ['mmlu'], model: 'vllm', modelArgs: 'dtype=bfloat16,gpu_memory_utilization=0.8', extraArgs: ['--batch_size', 'auto', '--gen_kwargs', 'temperature=0 top_p=1'] })).toBe(
      "lm_eval --model vllm --model_args pretrained={checkpoint},dtype=bfloat16,gpu_memory_utilization=0.8 --tasks mmlu --output_path {output} --batch_size auto --gen_kwargs 'temperature=0 top_p=1'",
    );
    expect(lmEvalCommand({ tasks: ['hellaswag'], model: 'hf', extraArgs: '--num_fewshot 10 --batch_size 8', executable: 'python -m lm_eval' })).toBe(
      'python -m lm_eval --model hf --model_args pretrained={checkpoint} --tasks hellaswag --output_path {output} --num_fewshot 10 --batch_size 8',
    );
  });

  it('reads the newest results file, skips standard errors and N/A, and picks metrics by name and filter', () => {
    const out = path.join(tmp.dir, 'results-unit');
    const model = path.join(out, '__work__models__merged');
    fs.mkdirSync(model, { recursive: true });
    const write = (stamp: string, acc: number) =>
      fs.writeFileSync(
        path.join(model, `results_${stamp}.json`),
        JSON.stringify({
          results: {
            gsm8k: { alias: 'gsm8k', 'exact_match,strict-match': 0.25, 'exact_match_stderr,strict-match': 0.05, 'exact_match,flexible-extract': 0.5, 'exact_match_stderr,flexible-extract': 'N/A' },
            mmlu_abstract_algebra: { alias: ' - abstract_algebra', 'acc,none': acc, 'acc_stderr,none': 0.04 },
            wikitext: { alias: 'wikitext', 'word_perplexity,none': 21.5, 'bits_per_byte,none': 0.8 },
          },
          groups: { mmlu: { alias: 'mmlu', 'acc,none': 0.375, 'acc_stderr,none': 0.01 } },
        }),
      );
    write('2024-06-01T10-00-00.000000', 0.1);
    write('2024-06-02T09-30-00.000000', 0.3);
    const scores = readLmEvalResults(out);
    expect(scores).toEqual({
      'gsm8k/exact_match,strict-match': 0.25,
      'gsm8k/exact_match,flexible-extract': 0.5,
      'mmlu_abstract_algebra/acc,none': 0.3,
      'wikitext/word_perplexity,none': 21.5,
      'wikitext/bits_per_byte,none': 0.8,
      'mmlu/acc,none': 0.375,
    });
    expect(pickLmEvalScore(scores, 'gsm8k')).toEqual({ metric: 'exact_match,strict-match', value: 0.25 });
    expect(pickLmEvalScore(scores, 'gsm8k', 'exact_match,flexible-extract').value).toBe(0.5);
    expect(pickLmEvalScore(scores, 'mmlu', 'acc')).toEqual({ metric: 'acc,none', value: 0.375 });
    expect(pickLmEvalScore(scores, 'wikitext', 'bits_per_byte').value).toBe(0.8);
    expectCode(() => pickLmEvalScore(scores, 'gsm8k', 'acc_norm'), 'EVAL_E_OUTPUT', 'acc_norm', 'exact_match,strict-match');
    expectCode(() => pickLmEvalScore(scores, 'arc_easy'), 'EVAL_E_OUTPUT', 'arc_easy', 'gsm8k');
    expectCode(() => readLmEvalResults(path.join(tmp.dir, 'nothing-here')), 'EVAL_E_OUTPUT', 'results_*.json');
  });
  it('a metric picked by default whose direction differs from the objective\'s is refused, not optimised the wrong way', () => {
    // Without `metric`, the objective maximises (lmEvalDirection(undefined)); wikitext reports only
    // perplexities, so the default pick is word_perplexity, which must be minimised.
    const scores = { 'wikitext/word_perplexity,none': 21.5, 'wikitext/bits_per_byte,none': 0.8, 'gsm8k/exact_match,strict-match': 0.25 };
    expectCode(() => pickLmEvalScore(scores, 'wikitext', undefined, 'maximize'), 'EVAL_E_OUTPUT', 'wikitext', 'word_perplexity,none', 'metrics: {wikitext:');
    expect(pickLmEvalScore(scores, 'wikitext', undefined, 'minimize')).toEqual({ metric: 'word_perplexity,none', value: 21.5 });
    expect(pickLmEvalScore(scores, 'gsm8k', undefined, 'maximize').value).toBe(0.25);
    // A metric the user named is taken as named, whatever the direction.
    expect(pickLmEvalScore(scores, 'wikitext', 'word_perplexity', 'maximize').value).toBe(21.5);
  });
});

describe('lm_eval objectives in a study config', () => {
  const parse = (objectives: string) =>
    parseStudyConfig(`checkpoints: {base: models/base, experts: [models/e1, models/e2]}\nspace: {method: linear, parameters: {weight: {low: 0, high: 1}}}\nobjectives: ${objectives}\noptimizer: random\nbudget: {trials: 1}\n`, 'c.yaml', { dir: tmp.dir });

  it('expands to one objective per task sharing one command line; directions follow the metric', () => {
    const c = parse(`[{evaluator: lm_eval, tasks: [gsm8k, wikitext], model: vllm, limit: 50, metrics: {wikitext: word_perplexity}}]`);
    const obs = c.objectives as CommandObjective[];
    expect(obs.map((o) => [o.name, o.direction, o.lmEval])).toEqual([
      ['gsm8k', 'maximize', { task: 'gsm8k' }],
      ['wikitext', 'minimize', { task: 'wikitext', metric: 'word_perplexity' }],
    ]);
    expect(new Set(obs.map((o) => o.command))).toEqual(new Set(['lm_eval --model vllm --model_args pretrained={checkpoint} --tasks gsm8k,wikitext --limit 50 --output_path {output}']));
  });

  it('refuses bad entries with the key at fault', () => {
    expectCode(() => parse(`[{evaluator: lm_eval, tasks: []}]`), 'CONFIG_E_FIELD', 'objectives[0].tasks');
    expectCode(() => parse(`[{evaluator: lm_eval, tasks: [gsm8k], model: llama_cpp}]`), 'CONFIG_E_FIELD', 'objectives[0].model', 'hf or vllm');
    expectCode(() => parse(`[{evaluator: lm_eval, tasks: [gsm8k], limt: 5}]`), 'CONFIG_E_FIELD', 'objectives[0].limt', 'did you mean limit');
    expectCode(() => parse(`[{evaluator: lm_eval, tasks: [gsm8k], metrics: {arc: acc}}]`), 'CONFIG_E_FIELD', 'metrics.arc');
    expectCode(() => parse(`[{evaluator: lm_eval, tasks: [gsm8k, arc_easy], name: both}]`), 'CONFIG_E_FIELD', 'objectives[0].name');
  });
});

describe('a study scored by lm_eval', () => {
  it('runs the harness once per trial and maps its results to the objectives', async () => {
    const config = parseStudyConfig(
      `name: lm-eval-study
seed: 4
checkpoints: {base: models/base, experts: [models/e1, models/e2]}
space: {method: task_arithmetic, granularity: task, parameters: {weight: {low: 0, high: 1}}, fixed: {lambda: 1}}
objectives:
  - {evaluator: lm_eval, tasks: [gsm8k, arc_easy], model: hf, limit: 5, metrics: {arc_easy: acc_norm}, extra_args: "--batch_size 2"}
optimizer: random
budget: {trials: 3}
`,
      'lm-eval.yaml',
      { dir: tmp.dir },
    );
    const db = path.join(tmp.dir, 'lm.db');
    const r = await runStudy({ config, db });
    expect(r.trials).toBe(3);
    const store = StudyStore.open(db, { readonly: true });
    const done = store.trials(r.study.id, { states: ['COMPLETE'] });
    store.close();
    expect(done).toHaveLength(3);
    expect(r.study.objectives.map((o) => o.name)).toEqual(['gsm8k', 'arc_easy']);
    for (const t of done) {
      // task_arithmetic, lambda 1, base 0: layers.0.w = [w1, w2] and layers.1.w = [w2, w1].
      const [w1, w2] = t.x;
      expect(Math.abs(t.values![0]! - w1!)).toBeLessThan(1e-7); // gsm8k: exact_match,strict-match = layers.0.w[0]
      expect(Math.abs(t.values![1]! - w2!)).toBeLessThan(1e-7); // arc_easy: acc_norm = layers.1.w[0]
    }
    const calls = fs.readFileSync(process.env.LM_EVAL_LOG!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
    expect(calls).toHaveLength(3);
    for (const args of calls) {
      expect(args.slice(0, 4)).toEqual(['--model', 'hf', '--model_args', args[3]!]);
      expect(args[3]).toMatch(/^pretrained=\/.*\/merged$/);
      expect(args.slice(4, 8)).toEqual(['--tasks', 'gsm8k,arc_easy', '--limit', '5']);
      expect(args[8]).toBe('--output_path');
      expect(args.slice(10)).toEqual(['--batch_size', '2']);
    }
  });
});

describe('checkpoint paths with a comma', () => {
  const logLines = () => (fs.existsSync(process.env.LM_EVAL_LOG!) ? fs.readFileSync(process.env.LM_EVAL_LOG!, 'utf8').trim().split('\n').filter(Boolean).length : 0);

  it('a checkpoint folder with a comma is EVAL_E_PATH before the harness runs (it splits --model_args at commas, unquoted)', async () => {
    const dir = path.join(tmp.dir, 'a,b', 'merged');
    fs.cpSync(path.join(tmp.dir, 'models/e1'), dir, { recursive: true });
    const before = logLines();
    const command = lmEvalCommand({ tasks: ['gsm8k'], model: 'hf' });
    await expectCodeAsync(() => runLmEval({ command, checkpointDir: dir, outputDir: path.join(tmp.dir, 'out-comma'), timeoutMs: 30_000 }), 'EVAL_E_PATH', 'a,b', 'commas', 'no commas');
    expect(logLines()).toBe(before);
  });

  it('a study whose trials would be merged under a TMPDIR with a comma is EVAL_E_PATH before the first trial', async () => {
    const config = parseStudyConfig(
      `name: lm-eval-comma\nseed: 1\ncheckpoints: {base: models/base, experts: [models/e1, models/e2]}\nspace: {method: task_arithmetic, granularity: task, parameters: {weight: {low: 0, high: 1}}, fixed: {lambda: 1}}\nobjectives:\n  - {evaluator: lm_eval, tasks: [gsm8k], model: hf}\noptimizer: random\nbudget: {trials: 1}\n`,
      'lm-eval.yaml',
      { dir: tmp.dir },
    );
    const saved = process.env.TMPDIR;
    const comma = path.join(tmp.dir, 'tmp,dir');
    fs.mkdirSync(comma, { recursive: true });
    const before = logLines();
    process.env.TMPDIR = comma;
    try {
      await expectCodeAsync(() => runStudy({ config, db: path.join(tmp.dir, 'comma.db') }), 'EVAL_E_PATH', 'tmp,dir', 'TMPDIR');
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    expect(logLines()).toBe(before);
  });
});
