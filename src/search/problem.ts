// A search problem: a search space, objectives, and a way to score a coefficient vector. Two kinds:
// an in-memory zoo (candidates merged and scored without touching disk; gradients available) and
// checkpoints on disk scored by the user's command (merged with the streaming engine per trial).
import type { SearchSpace } from './space.ts';
import type { GradientProblem } from './optimizer.ts';
import type { ObjectiveSpec } from './study-config.ts';

export type { Evaluation } from '../zoo/family.ts';
import type { Evaluation } from '../zoo/family.ts';

export interface Problem {
  readonly space: SearchSpace;
  readonly objectives: ObjectiveSpec[];
  /** Human-readable description for logs ("mnist8 zoo: 8 experts, 8 tensors"). */
  readonly description: string;
  evaluate(x: number[], signal?: AbortSignal): Promise<Evaluation>;
  readonly gradient?: GradientProblem;
  close(): void;
}
