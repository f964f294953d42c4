// The scorers by name, as study configs and the CLI refer to them. Each says whether it needs
// labels and which way is better, so optimizers can treat every objective alike.
import { MergeSearchError } from '../src/errors.ts';
import { accuracy } from './accuracy.ts';
import { crossEntropy } from './cross-entropy.ts';
import { entropy } from './entropy.ts';

export { accuracy } from './accuracy.ts';
export { correctness } from './correctness.ts';
export { crossEntropy } from './cross-entropy.ts';
export { entropy, entropyLoss } from './entropy.ts';
export { runCommandEvaluator, parseScores, type CommandEvaluatorOptions } from './command.ts';
export { subsampleIndices } from './subsample.ts';
export { checkLmEvalPath, lmEvalCommand, lmEvalDirection, pickLmEvalScore, readLmEvalResults, runLmEval, LM_EVAL_MODELS, type LmEvalModel, type LmEvalSpec } from './lm-eval.ts';

export type Direction = 'maximize' | 'minimize';
export type EvaluatorName = 'accuracy' | 'cross_entropy' | 'entropy';

export interface Evaluator {
  readonly name: EvaluatorName;
  readonly needsLabels: boolean;
  readonly direction: Direction;
  /** Logits are row-major [n, numClasses]; labels may be omitted when needsLabels is false. */
  score(logits: ArrayLike<number>, labels: ArrayLike<number> | undefined, numClasses: number): number;
}

function requireLabels(name: string, labels: ArrayLike<number> | undefined): ArrayLike<number> {
  if (labels === undefined) throw new Error(`evaluator ${name} needs labels`);
  return labels;
}

export const EVALUATORS: Readonly<Record<EvaluatorName, Evaluator>> = {
  accuracy: {
    name: 'accuracy',
    needsLabels: true,
    direction: 'maximize',
    score: (logits, labels, k) => accuracy(logits, requireLabels('accuracy', labels), k),
  },
  cross_entropy: {
    name: 'cross_entropy',
    needsLabels: true,
    direction: 'minimize',
    score: (logits, labels, k) => crossEntropy(logits, requireLabels('cross_entropy', labels), k),
  },
  entropy: {
    name: 'entropy',
    needsLabels: false,
    direction: 'minimize',
    score: (logits, _labels, k) => entropy(logits, k),
  },
};

export function evaluatorNames(): EvaluatorName[] {
  return Object.keys(EVALUATORS) as EvaluatorName[];
}

export function isEvaluatorName(name: string): name is EvaluatorName {
  return Object.hasOwn(EVALUATORS, name);
}

/** The evaluator called `name`; an unknown name is the user's error and lists the known ones. */
export function getEvaluator(name: string): Evaluator {
  if (!isEvaluatorName(name)) {
    // Suggested code: EVAL_E_UNKNOWN.
    throw new MergeSearchError('EVAL_E_UNKNOWN', `unknown evaluator ${JSON.stringify(name)}; use one of ${evaluatorNames().join(', ')} (or a command evaluator)`);
  }
  return EVALUATORS[name];
}

// Language-model scorers (token ids in, Llama-family forward): a registry of their own, since they
// score a model on examples rather than logits on labels.
export { exactMatch, exactMatchGroups, tokenLoss, tokenLossGroups, promptEntropy, promptEntropyGroups, LM_EVALUATORS, type LmExample, type LmEvaluatorName } from './lm.ts';
