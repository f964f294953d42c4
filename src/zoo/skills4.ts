// The skills4 zoo: a small LlamaForCausalLM with a character-level tokenizer, pretrained on a
// generic mixture (copying and easy instances of every task), then fine-tuned (all weights, from
// the base) into one expert per skill: add, reverse, sort, lookup (see skills4-tasks.ts). Built
// locally from a seed; the same seed gives byte-identical files. Layout under the output folder:
//   manifest.json                 tasks, splits, checkpoints, data, model shape, training, scores
//   base/, experts/<task>/        Hugging Face folders: config.json, model.safetensors (F32),
//                                 tokenizer.json, tokenizer_config.json, generation_config.json
//   data/<task>/<split>.json      {"examples": [{"prompt": "12+34=", "answer": "46"}, ...]}
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointWriter } from '../io/checkpoint-writer.ts';
import type { LlamaScoreExample } from '../models/llama.ts';
import { llamaConfigFromJson, llamaParameterShapes, type LlamaConfig } from '../models/llama-config.ts';
import { charTokenizerFiles, loadTokenizer, type LoadedTokenizer } from '../models/tokenizer.ts';
import { encodeExamples, scoreExamples, type SkillScore } from './skills4-eval.ts';
import { EVAL_SPLITS, pretrainMixture, SKILLS4_ALPHABET, SKILLS4_TASKS, taskSplits, type EvalSplit, type SkillExample, type Skills4Task } from './skills4-tasks.ts';
import { initLlamaParams, trainLm } from './train-lm.ts';

export interface Skills4Options {
  out: string;
  seed?: number;
  tiny?: boolean;
  onLog?: (line: string) => void;
  /** Override the plan's training steps (tests use a few to check determinism cheaply). */
  steps?: { base: number; experts: number };
}

export interface ModelShape {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
}

export interface TrainSettings {
  steps: number;
  batchSize: number;
  learningRate: number;
  warmup: number;
  minLrFraction: number;
  /** Examples the steps draw from (with replacement). */
  examples: number;
}

export interface Skills4Manifest {
  benchmark: 'skills4';
  version: 1;
  seed: number;
  tiny: boolean;
  tasks: Skills4Task[];
  splits: Record<EvalSplit, number>;
  base: string;
  experts: Record<string, string>;
  data: Record<string, Record<EvalSplit, string>>;
  model: ModelShape & { parameters: number; vocabSize: number };
  format: { prompt: string; answer: string; stop: string[] };
  training: { base: TrainSettings & { mixture: string }; experts: Record<Skills4Task, TrainSettings> };
  /** On `scores.split`: the base and every expert on every task (exact match, loss per token). */
  scores: { split: EvalSplit; base: Record<string, SkillSummary>; experts: Record<string, Record<string, SkillSummary>> };
}

export interface SkillSummary {
  exactMatch: number;
  loss: number;
}

interface Plan {
  model: ModelShape;
  splits: Record<EvalSplit, number>;
  base: TrainSettings;
  experts: TrainSettings;
  /** Per-task changes to the experts' settings (slower skills get more steps). */
  expertOverrides: Partial<Record<Skills4Task, Partial<TrainSettings>>>;
  scoreSamples: number;
}

const FULL: Plan = {
  model: { hidden: 160, intermediate: 432, layers: 4, heads: 4, kvHeads: 2 },
  splits: { calibration: 256, validation: 256, test: 512 },
  base: { steps: 600, batchSize: 32, learningRate: 2e-3, warmup: 50, minLrFraction: 0.1, examples: 20000 },
  experts: { steps: 400, batchSize: 32, learningRate: 1e-3, warmup: 30, minLrFraction: 0.1, examples: 10000 },
  // Addition learns slowest (measured: 500 steps at 2e-3 reach 14 % exact match, 400 at 1e-3 on
  // three-digit operands 2 %).
  expertOverrides: { add: { steps: 800, learningRate: 2e-3 } },
  scoreSamples: 256,
};

const TINY: Plan = {
  model: { hidden: 48, intermediate: 128, layers: 2, heads: 4, kvHeads: 2 },
  splits: { calibration: 64, validation: 64, test: 128 },
  base: { steps: 300, batchSize: 32, learningRate: 3e-3, warmup: 20, minLrFraction: 0.1, examples: 4000 },
  experts: { steps: 200, batchSize: 32, learningRate: 2e-3, warmup: 10, minLrFraction: 0.1, examples: 2000 },
  expertOverrides: {},
  scoreSamples: 64,
};

export function skills4ConfigJson(shape: ModelShape, vocabSize: number): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: shape.hidden,
    intermediate_size: shape.intermediate,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads,
    head_dim: shape.hidden / shape.heads,
    vocab_size: vocabSize,
    max_position_embeddings: 64,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    torch_dtype: 'float32',
  };
}

/**
 * The character tokenizer of `alphabet`: its files, and the tokenizer loaded through the library
 * (written once into a scratch folder under `out`; the same files go into every checkpoint).
 */
export function charTokenizerIn(out: string, alphabet: readonly string[]): { tokFiles: Record<string, string>; tok: LoadedTokenizer } {
  const tokFiles = charTokenizerFiles(alphabet);
  const tokDir = fs.mkdtempSync(path.join(out, '.tokenizer-'));
  try {
    for (const [name, text] of Object.entries(tokFiles)) fs.writeFileSync(path.join(tokDir, name), text);
    return { tokFiles, tok: loadTokenizer(tokDir) };
  } finally {
    fs.rmSync(tokDir, { recursive: true, force: true });
  }
}

export function buildSkills4(o: Skills4Options): Skills4Manifest {
  const seed = o.seed ?? 0;
  const plan: Plan = o.tiny ? TINY : FULL;
  const baseSteps = o.steps?.base ?? plan.base.steps;
  const expertSettings = (task: Skills4Task): TrainSettings => {
    const t = { ...plan.experts, ...plan.expertOverrides[task] };
    return { ...t, steps: o.steps?.experts ?? t.steps };
  };
  const log = o.onLog ?? (() => {});
  const out = path.resolve(o.out);
  fs.mkdirSync(out, { recursive: true });

  const { tokFiles, tok } = charTokenizerIn(out, SKILLS4_ALPHABET);
  const configJson = skills4ConfigJson(plan.model, tok.vocabSize);
  const config = llamaConfigFromJson(configJson, 'skills4 config');
  const toTraining = (examples: SkillExample[]): LlamaScoreExample[] =>
    encodeExamples(tok, examples).map((e) => ({ input: e.prompt, target: [...e.answer, tok.eosId!] }));

  // Data.
  const data: Skills4Manifest['data'] = {};
  const evalSets = new Map<Skills4Task, Record<EvalSplit, SkillExample[]>>();
  const trainSets = new Map<Skills4Task, LlamaScoreExample[]>();
  for (const task of SKILLS4_TASKS) {
    const { splits, train } = taskSplits(task, seed, plan.splits, expertSettings(task).examples);
    evalSets.set(task, splits);
    trainSets.set(task, toTraining(train));
    data[task] = {} as Record<EvalSplit, string>;
    fs.mkdirSync(path.join(out, 'data', task), { recursive: true });
    for (const s of EVAL_SPLITS) {
      const rel = path.join('data', task, `${s}.json`);
      fs.writeFileSync(path.join(out, rel), JSON.stringify({ task, split: s, examples: splits[s] }) + '\n');
      data[task]![s] = rel;
    }
  }
  log(`data: ${SKILLS4_TASKS.length} tasks × ${EVAL_SPLITS.map((s) => `${s} ${plan.splits[s]}`).join(', ')}`);

  const writeModel = (rel: string, params: Record<string, Float32Array>) => writeLlamaCheckpoint(path.join(out, rel), config, configJson, params, tokFiles);
  const scoreSplit: EvalSplit = 'validation';
  const summarize = (params: Record<string, Float32Array>) => summarizeParams(config, tok, params, SKILLS4_TASKS.map((task) => [task, evalSets.get(task)![scoreSplit].slice(0, plan.scoreSamples)]));

  // Base: the generic mixture.
  let t0 = Date.now();
  const mixture = toTraining(pretrainMixture(seed, plan.base.examples));
  const base = trainLm(config, initLlamaParams(config, seed), mixture, {
    ...plan.base,
    steps: baseSteps,
    seed,
    onLog: (step, loss) => log(`base step ${step}/${baseSteps} loss ${loss.toFixed(4)}`),
  });
  writeModel('base', base);
  const baseScores = summarize(base);
  log(`base trained in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${fmtScores(baseScores)}`);

  // Experts: all weights, from the base, on their task's hard instances.
  const experts: Record<string, string> = {};
  const expertScores: Record<string, Record<string, SkillSummary>> = {};
  for (const [k, task] of SKILLS4_TASKS.entries()) {
    t0 = Date.now();
    const settings = expertSettings(task);
    const params = trainLm(config, base, trainSets.get(task)!, {
      ...settings,
      seed: (seed + 1000 * (k + 1)) >>> 0,
      onLog: (step, loss) => log(`expert ${task} step ${step}/${settings.steps} loss ${loss.toFixed(4)}`),
    });
    experts[task] = path.join('experts', task);
    writeModel(experts[task]!, params);
    expertScores[task] = summarize(params);
    log(`expert ${task} trained in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${fmtScores(expertScores[task]!)}`);
  }

  const parameters = llamaParameterShapes(config).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  const manifest: Skills4Manifest = {
    benchmark: 'skills4',
    version: 1,
    seed,
    tiny: o.tiny ?? false,
    tasks: [...SKILLS4_TASKS],
    splits: { ...plan.splits },
    base: 'base',
    experts,
    data,
    model: { ...plan.model, parameters, vocabSize: tok.vocabSize },
    format: { prompt: '<s> + prompt text (e.g. "12+34=")', answer: 'answer text, then </s>', stop: ['</s>', '\n'] },
    training: {
      base: { ...plan.base, steps: baseSteps, mixture: 'copy and easy instances of add, reverse, sort, lookup (short operands), in equal parts' },
      experts: Object.fromEntries(SKILLS4_TASKS.map((t) => [t, expertSettings(t)])) as Record<Skills4Task, TrainSettings>,
    },
    scores: { split: scoreSplit, base: baseScores, experts: expertScores },
  };
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** Exact match and loss per answer token of in-memory weights on each (task, examples). */
export function summarizeParams(config: LlamaConfig, tok: LoadedTokenizer, params: Record<string, Float32Array>, sets: readonly (readonly [string, SkillExample[]])[]): Record<string, SkillSummary> {
  const tensors = Object.fromEntries(llamaParameterShapes(config).map(({ name, shape }) => [name, tf.tensor(params[name]!, shape)]));
  try {
    const res: Record<string, SkillSummary> = {};
    for (const [task, examples] of sets) {
      const s: SkillScore = scoreExamples(tensors, config, tok, task, examples);
      res[task] = { exactMatch: round(s.exactMatch), loss: round(s.loss) };
    }
    return res;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

export const round = (x: number) => Math.round(x * 1e6) / 1e6;
export const fmtScores = (s: Record<string, SkillSummary>) => Object.entries(s).map(([t, v]) => `${t} em ${v.exactMatch.toFixed(3)} loss ${v.loss.toFixed(3)}`).join(', ');

export function writeLlamaCheckpoint(dir: string, config: LlamaConfig, configJson: Record<string, unknown>, params: Record<string, Float32Array>, tokFiles: Record<string, string>): void {
  const planned = llamaParameterShapes(config).map(({ name, shape }) => ({ name, dtype: 'F32' as const, shape }));
  const w = new CheckpointWriter(dir, planned, { overwrite: true });
  try {
    for (const { name } of planned) {
      const v = params[name]!;
      w.write(name, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
    w.addFile('config.json', JSON.stringify(configJson, null, 2) + '\n');
    w.addFile('generation_config.json', JSON.stringify({ bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, do_sample: false }, null, 2) + '\n');
    for (const [name, text] of Object.entries(tokFiles)) w.addFile(name, text);
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}
