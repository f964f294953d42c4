// Search on an in-memory language-model zoo (skills4): every tensor of the decoder is merged with
// the exact merge-method code (a language model has no per-task heads), and each objective scores
// the candidate on a fixed, seeded subsample of a task's split — exact match of greedy answers,
// loss or perplexity per answer token, or the entropy of the first answer token's prediction.
import * as tf from '@tensorflow/tfjs';
import { exactMatch, promptEntropy, tokenLoss, type LmExample } from '../../evaluators/lm.ts';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import { fail } from '../errors.ts';
import type { LlamaParams } from '../models/llama.ts';
import { lmExamples, loadLmZoo, type LoadedLmZoo } from '../zoo/skills4-models.ts';
import { mergeHostParams, type HostParams } from '../zoo/zoo-models.ts';
import { DifferentiableLm } from './differentiable-lm.ts';
import type { Evaluation, Problem } from './problem.ts';
import { SearchSpace } from './space.ts';
import { resolveZooObjectives, type EvalSplit, type StudyConfig, type ZooObjective } from './study-config.ts';

/** Prompts per batch when scoring (generation and teacher forcing). */
const SCORE_BATCH = 128;

export class LmZooProblem implements Problem {
  readonly space: SearchSpace;
  readonly objectives: ZooObjective[];
  readonly description: string;
  readonly tensors: string[];
  /** Seed of the random merge methods (dare_*, della*) and of the subsample: the study's. */
  readonly seed: number;
  readonly samples?: number;
  private differentiable?: DifferentiableLm;

  constructor(
    readonly zoo: LoadedLmZoo,
    config: Pick<StudyConfig, 'space' | 'objectives' | 'samples' | 'seed' | 'name'>,
    source = 'study config',
  ) {
    this.tensors = [...zoo.base.keys()];
    this.seed = config.seed;
    this.samples = config.samples;
    this.space = new SearchSpace(config.space, this.tensors, zoo.tasks);
    this.objectives = resolveZooObjectives(config.objectives, zoo.tasks, source) as ZooObjective[];
    checkLmObjectives(this.objectives, source);
    this.description = `${zoo.dir} language-model zoo: ${zoo.tasks.length} experts (${zoo.tasks.join(', ')}), ${this.tensors.length} tensors, ${this.space.dim} coefficients`;
  }

  static fromDir(dir: string, config: StudyConfig, source?: string): LmZooProblem {
    return new LmZooProblem(loadLmZoo(dir), config, source);
  }

  /** The merged model for coefficients x (host arrays), with the exact merge-method code. */
  mergeParams(x: readonly number[], seed = this.seed): HostParams {
    return mergeHostParams(this.zoo, this.tensors, this.space.method, (name) => this.space.paramsFor(x, name), { seed, checkFinite: true });
  }


  /** The differentiable twin for gradient optimizers, built on first use (it holds the task vectors). */
  get gradient(): DifferentiableLm {
    this.differentiable ??= new DifferentiableLm(this.zoo, this.space);
    return this.differentiable;
  }

  async evaluate(x: number[]): Promise<Evaluation> {
    return this.scoreHost(this.mergeParams(x), this.objectives);
  }

  /** Values of `objectives` for a merged model given as host arrays. */
  scoreHost(merged: HostParams, objectives: readonly ZooObjective[], splitOverride?: EvalSplit): Evaluation {
    return scoreLmHostParams(this.zoo, merged, objectives, { samples: this.samples, seed: this.seed, splitOverride });
  }

  close(): void {
    this.differentiable?.dispose();
  }
}

/** Refuse classifier evaluators on a language-model zoo, with the names that work. */
export function checkLmObjectives(objectives: readonly ZooObjective[], source: string): void {
  for (const o of objectives) {
    if (!LM_OBJECTIVE_EVALUATORS.includes(o.evaluator)) {
      fail('CONFIG_E_FIELD', `${source}: objective "${o.name}" uses evaluator ${o.evaluator}, which scores classifiers; on a language-model zoo use one of ${LM_OBJECTIVE_EVALUATORS.join(', ')}`);
    }
  }
}

export const LM_OBJECTIVE_EVALUATORS: readonly string[] = ['exact_match', 'token_loss', 'perplexity', 'prompt_entropy'];

export interface LmScoreOptions {
  /** Examples per task: a subsample seeded by `seed` (the same for every candidate); default all. */
  samples?: number;
  seed: number;
  /** Score on this split instead of each objective's own (reports on the test split). */
  splitOverride?: EvalSplit;
}

/** The examples a study scores for (task, split): the whole split or its seeded subsample. */
export function lmObjectiveExamples(zoo: LoadedLmZoo, task: string, split: EvalSplit, o: Pick<LmScoreOptions, 'samples' | 'seed'>): LmExample[] {
  const all = lmExamples(zoo, task, split);
  if (o.samples === undefined || o.samples >= all.length) return all;
  return Array.from(subsampleIndices(all.length, o.samples, o.seed), (i) => all[i]!);
}

/** scoreLmObjectives for a model held as host arrays (uploaded for the call, then freed). */
export function scoreLmHostParams(zoo: LoadedLmZoo, merged: HostParams, objectives: readonly ZooObjective[], o: LmScoreOptions): Evaluation {
  const params: LlamaParams = {};
  for (const [name, t] of merged) params[name] = tf.tensor(t.values, t.shape, 'float32');
  try {
    return scoreLmObjectives(zoo, params, objectives, o);
  } finally {
    tf.dispose(Object.values(params));
  }
}

/**
 * Values of language-model objectives for a parameter map. Each scorer runs once per (task, split)
 * however many objectives read it; `evaluations` counts the examples run through the model per scorer.
 */
export function scoreLmObjectives(zoo: LoadedLmZoo, params: LlamaParams, objectives: readonly ZooObjective[], o: LmScoreOptions): Evaluation {
  let evaluations = 0;
  const cache = new Map<string, number>();
  const values = objectives.map((ob) => {
    const split = o.splitOverride ?? ob.split;
    const examples = lmObjectiveExamples(zoo, ob.task, split, o);
    const scorer = ob.evaluator === 'perplexity' ? 'token_loss' : ob.evaluator;
    const key = `${ob.task}/${split}/${scorer}`;
    let v = cache.get(key);
    if (v === undefined) {
      evaluations += examples.length;
      if (scorer === 'exact_match') v = exactMatch(params, zoo.config, examples, { stop: zoo.stop, batchSize: SCORE_BATCH }).exactMatch;
      else if (scorer === 'token_loss') v = tokenLoss(params, zoo.config, examples, { suffix: [zoo.eos], batchSize: SCORE_BATCH }).loss;
      else if (scorer === 'prompt_entropy') v = promptEntropy(params, zoo.config, examples.map((e) => e.prompt), { positions: 'last', batchSize: SCORE_BATCH });
      else fail('CONFIG_E_FIELD', `evaluator ${ob.evaluator} does not score language models; use one of ${LM_OBJECTIVE_EVALUATORS.join(', ')}`);
      cache.set(key, v!);
    }
    return ob.evaluator === 'perplexity' ? Math.exp(v!) : v!;
  });
  return { values, evaluations };
}
