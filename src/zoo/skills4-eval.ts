// Scoring a Llama-family checkpoint on the skills4 zoo's tasks: exact match of greedy answers,
// per-token loss (answer + eos, teacher forcing) and perplexity, and the entropy of the first answer
// token's prediction on the prompts (no labels). Prompts are <s> + prompt text; answers stop at
// </s> or a newline.
import fs from 'node:fs';
import path from 'node:path';
import { exactMatch, exactMatchGroups, promptEntropy, promptEntropyGroups, tokenLoss, tokenLossGroups, type LmExample } from '../../evaluators/lm.ts';
import { fail } from '../errors.ts';
import { readZooManifest as readManifest } from './registry.ts';
import type { LlamaParams } from '../models/llama.ts';
import type { LlamaConfig } from '../models/llama-config.ts';
import { loadLlamaCheckpoint, loadLlamaHost } from '../models/llama-load.ts';
import type { GpuScoring } from '../gpu/scoring-thread.ts';
import type { HostParams } from '../merge/host-merge.ts';
import type { LmJob } from './lm-scoring.ts';
import { loadTokenizer, type LoadedTokenizer } from '../models/tokenizer.ts';
import { EVAL_SPLITS, type EvalSplit, type SkillExample } from './skills4-tasks.ts';
import type { Skills4Manifest } from './skills4.ts';
import type { Sft4Manifest } from './sft4.ts';

export interface SkillScore {
  task: string;
  exactMatch: number;
  /** Mean nats per answer token (the eos included). */
  loss: number;
  perplexity: number;
  /** Mean entropy (nats) of the next-token prediction after each prompt. */
  entropy: number;
  samples: number;
}

/** The manifest of a language-model zoo (skills4 or sft4: the same layout and task data). */
export function readSkills4Manifest(zooDir: string): Skills4Manifest | Sft4Manifest {
  const m = readManifest(zooDir) as unknown as Skills4Manifest | Sft4Manifest;
  if (m.benchmark !== 'skills4' && m.benchmark !== 'sft4') fail('IO_E_CONFIG', `${path.join(zooDir, 'manifest.json')} describes the ${String((m as { benchmark: unknown }).benchmark)} zoo, not a language-model zoo (skills4, sft4)`);
  return m;
}

export function readSkillData(file: string): SkillExample[] {
  if (!fs.existsSync(file)) fail('IO_E_NOT_FOUND', `${file} is missing; rebuild the zoo`);
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { examples?: SkillExample[] };
  if (!Array.isArray(raw.examples)) fail('IO_E_CONFIG', `${file} has no "examples" list`);
  return raw.examples;
}

/** Token ids of examples in the zoo's format. */
export function encodeExamples(tok: LoadedTokenizer, examples: SkillExample[]): LmExample[] {
  if (tok.bosId === null) fail('IO_E_CONFIG', 'the tokenizer has no bos_token; skills4 prompts start with one');
  return examples.map((e) => ({ prompt: [tok.bosId!, ...tok.encode(e.prompt, true)], answer: tok.encode(e.answer, true) }));
}

/** Stop tokens: eos and newline. */
export function stopIds(tok: LoadedTokenizer): number[] {
  return [tok.eosId, tok.tokenId('\n')].filter((t): t is number => t !== null && t !== undefined);
}

export interface ScoreSkillsOptions {
  /** Score only the first n examples of each task's split. */
  samples?: number;
  batchSize?: number;
  /** Run the scorers on the GPU (eval --device gpu; batches of the study scorer's size). */
  gpu?: GpuScoring;
}

/** Each task's examples of `split` (the first `samples`), encoded. */
function skillLists(tok: LoadedTokenizer, zooDir: string, split: EvalSplit, samples?: number): { task: string; samples: number; ex: LmExample[] }[] {
  const manifest = readSkills4Manifest(zooDir);
  return manifest.tasks.map((task) => {
    let data = readSkillData(path.join(zooDir, manifest.data[task]![split]));
    if (samples !== undefined) data = data.slice(0, samples);
    return { task, samples: data.length, ex: encodeExamples(tok, data) };
  });
}

/** scoreSkillsParams on the GPU, for a model held as host arrays. */
export function scoreSkillsGpu(gpu: GpuScoring, params: HostParams, config: LlamaConfig, tok: LoadedTokenizer, zooDir: string, split: EvalSplit, o: ScoreSkillsOptions = {}): SkillScore[] {
  const tasks = skillLists(tok, zooDir, split, o.samples);
  const jobs: LmJob[] = tasks.flatMap((t) => [
    { key: `${t.task}/em`, scorer: 'exact_match' as const, examples: t.ex },
    { key: `${t.task}/loss`, scorer: 'token_loss' as const, examples: t.ex },
    { key: `${t.task}/entropy`, scorer: 'prompt_entropy' as const, examples: t.ex },
  ]);
  const v = gpu.lmJobValues({ config, stop: stopIds(tok), eos: tok.eosId! }, params, jobs);
  return tasks.map((t, i) => ({ task: t.task, exactMatch: v[3 * i]!, loss: v[3 * i + 1]!, perplexity: Math.exp(v[3 * i + 1]!), entropy: v[3 * i + 2]!, samples: t.samples }));
}

/**
 * Scores of an in-memory model on every task of the zoo's `split`: each scorer runs over all tasks'
 * examples together (batches span tasks), with the per-task values scoreExamples would give.
 */
export function scoreSkillsParams(params: LlamaParams, config: LlamaConfig, tok: LoadedTokenizer, zooDir: string, split: EvalSplit, o: ScoreSkillsOptions = {}): SkillScore[] {
  const tasks = skillLists(tok, zooDir, split, o.samples);
  const lists = tasks.map((t) => t.ex);
  const batchSize = o.batchSize ?? 64;
  const em = exactMatchGroups(params, config, lists, { stop: stopIds(tok), batchSize });
  const tl = tokenLossGroups(params, config, lists, { suffix: [tok.eosId!], batchSize });
  const entropy = promptEntropyGroups(params, config, lists.map((l) => l.map((e) => e.prompt)), { positions: 'last', batchSize });
  return tasks.map((t, i) => ({ task: t.task, exactMatch: em[i]!.exactMatch, loss: tl[i]!.loss, perplexity: tl[i]!.perplexity, entropy: entropy[i]!, samples: t.samples }));
}

export function scoreExamples(params: LlamaParams, config: LlamaConfig, tok: LoadedTokenizer, task: string, data: SkillExample[], batchSize = 64): SkillScore {
  const ex = encodeExamples(tok, data);
  const em = exactMatch(params, config, ex, { stop: stopIds(tok), batchSize });
  const tl = tokenLoss(params, config, ex, { suffix: [tok.eosId!], batchSize });
  const entropy = promptEntropy(params, config, ex.map((e) => e.prompt), { positions: 'last', batchSize });
  return { task, exactMatch: em.exactMatch, loss: tl.loss, perplexity: tl.perplexity, entropy, samples: data.length };
}

/** Scores of the checkpoint in `modelDir` (its own tokenizer, else the zoo base's) on `split`. */
export function scoreSkills(modelDir: string, zooDir: string, split: EvalSplit = 'test', o: ScoreSkillsOptions = {}): SkillScore[] {
  if (!(EVAL_SPLITS as readonly string[]).includes(split)) fail('CLI_E_ARG', `skills4 splits are ${EVAL_SPLITS.join(', ')}; got ${split}`);
  const manifest = readSkills4Manifest(zooDir);
  const tokDir = fs.existsSync(path.join(modelDir, 'tokenizer.json')) ? modelDir : path.join(zooDir, manifest.base);
  const tok = loadTokenizer(tokDir);
  if (o.gpu) {
    const host = loadLlamaHost(modelDir);
    return scoreSkillsGpu(o.gpu, host.params, host.config, tok, zooDir, split, o);
  }
  const model = loadLlamaCheckpoint(modelDir);
  try {
    return scoreSkillsParams(model.params, model.config, tok, zooDir, split, o);
  } finally {
    model.dispose();
  }
}
