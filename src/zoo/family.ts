// What a benchmark family is: the contract every family adapter (mnist8, skills4, ...) meets, so
// that search, export, re-scoring, `eval`, `zoo build` and the report server work over any family
// through one registry (registry.ts) and never ask "which kind of zoo is this" themselves.
//
// A zoo is a folder with manifest.json (`benchmark` names the family; `tasks`, `base`, `experts`,
// `data` lay out its checkpoints and task data), one base checkpoint and one expert per task (or, with
// `expertTask`, experts named freely, each with its own task or none).
import type * as tf from '@tensorflow/tfjs';
import type { GpuScoring } from '../gpu/scoring-thread.ts';
import type { HostModels, HostParams } from '../merge/host-merge.ts';

export type Direction = 'maximize' | 'minimize';
export type EvalSplit = 'calibration' | 'validation' | 'test';

/** An evaluator a family scores objectives with: its name in study configs and its direction. */
export interface FamilyEvaluator {
  name: string;
  direction: Direction;
  needsLabels: boolean;
}

/** The part of an objective a family scores. */
export interface FamilyObjective {
  name: string;
  evaluator: string;
  task: string;
  split: EvalSplit;
}

/** The manifest fields every family writes. */
export interface ZooManifest {
  benchmark: string;
  tasks: string[];
  /** Folders relative to the zoo: the base, and each task's expert. */
  base: string;
  experts: Record<string, string>;
  /** Task data files relative to the zoo, per task and split. */
  data: Record<string, Record<string, string>>;
  tiny?: boolean;
  /** sft4: each expert's own task (null: an irrelevant expert); absent: an expert is named by its task. */
  expertTask?: Record<string, string | null>;
  /** sft4: what a study merges when its config names no `experts` (absent: every expert). */
  defaultExperts?: string[];
}

export interface Evaluation {
  /** One value per objective, in objective order. */
  values: number[];
  /** Samples run through a model, for evaluation budgets and reports. */
  evaluations: number;
}

/** Scores merged models on a zoo's tasks; holds task data between calls. */
export interface ZooScorer {
  /**
   * Values of `objectives` for a model given as host arrays: the merged tensors of a candidate (the
   * zoo's unmerged tensors, e.g. task heads, are taken from the experts) or a whole checkpoint
   * (its own tensors are used where it has them).
   */
  score(params: HostParams, objectives: readonly FamilyObjective[], splitOverride?: EvalSplit): Evaluation;
  close(): void;
}

export interface LossOptions {
  /** Score the labelled loss instead of the unlabelled entropy (AdaMerging's `loss: cross_entropy`). */
  labels?: boolean;
  /** A cosine head's logit scale used for the loss (classifier families only). */
  logitScale?: number;
}

/**
 * The differentiable losses of a family on one split, as tf scalars of a parameter map (the merged
 * tensors as tf tensors; the family adds what it keeps unmerged). Indices pick examples of a task.
 */
export interface LossTerms {
  /** Examples of task i on the split. */
  count(task: number): number;
  /** Refuse options this family cannot honour (coded error naming the setting). */
  checkOptions(options: LossOptions): void;
  /** AdaMerging's per-task objective: mean prediction entropy (or the labelled loss) of the examples. */
  adaptationLoss(params: Record<string, tf.Tensor>, task: number, indices: Uint32Array, options: LossOptions): tf.Scalar;
  /** The labelled loss of the examples (Frank-Wolfe's oracle). */
  labelledLoss(params: Record<string, tf.Tensor>, task: number, indices: Uint32Array): tf.Scalar;
  dispose(): void;
}

/** A zoo held in memory: its checkpoints as host arrays, and the family's scorers over them. */
export interface LoadedZoo extends HostModels {
  readonly family: BenchmarkFamily;
  readonly dir: string;
  readonly manifest: ZooManifest;
  /** The tasks objectives score: the own tasks of the merged experts. */
  readonly tasks: string[];
  /** Names of the merged experts, in the order of `experts` (the search space's model names). */
  readonly expertNames: string[];
  /** Each merged expert's own task (null: none, an irrelevant expert). */
  readonly expertTasks: (string | null)[];
  /** The tensors a candidate merges (a classifier's backbone; every tensor of a language model). */
  readonly mergedTensors: string[];
  /** A scorer over this zoo's task data; `samples` draws one seeded subsample per (task, split); with `gpu`, the forward passes run there. */
  scorer(o: { samples?: number; seed: number; gpu?: GpuScoring }): ZooScorer;
  /** The differentiable losses on `split` (calibration by default). */
  lossTerms(split?: EvalSplit): LossTerms;
  /** A checkpoint folder's tensors, checked against this zoo's architecture (for re-scoring exports). */
  readCheckpoint(dir: string): HostParams;
}

export interface BuildOptions {
  out: string;
  seed?: number;
  tiny?: boolean;
  onLog?: (line: string) => void;
  /** Worker threads that train the experts, where the family trains them apart (sft4); the files are the same for any count. */
  threads?: number;
}

export interface EvalOptions {
  model: string;
  zooDir: string;
  split: string;
  samples?: number;
  sampleSeed: number;
  /** Score each task through its expert's unmerged tensors (a classifier's heads). */
  expertTensors?: boolean;
  /** Run the forward passes on the GPU. */
  gpu?: GpuScoring;
}

export interface BenchmarkFamily {
  /** The manifest's `benchmark` value and the `zoo build` name. */
  readonly name: string;
  /** What its checkpoints are, for messages ("language models", "classifiers with per-task heads"). */
  readonly holds: string;
  /** One line on what the benchmark is for (README, `zoo build --help`). */
  readonly summary: string;
  /** How long a build takes on a 2-core machine, full and tiny. */
  readonly buildTime: { full: string; tiny: string };
  /** Splits `eval` accepts (the task data files). */
  readonly splits: readonly string[];
  /** Evaluators for zoo objectives; the first is the default. Names and directions live here. */
  readonly evaluators: readonly FamilyEvaluator[];
  /** Whether the candidate merges this tensor (false: it is taken from a task's expert). */
  mergesTensor(name: string): boolean;
  /** For an unmerged tensor, the index of the task whose expert supplies it (-1: none). */
  tensorOwner(name: string, tasks: readonly string[]): number;
  build(o: BuildOptions): ZooManifest;
  load(dir: string): LoadedZoo;
  /** `mergesearch eval`: a checkpoint's per-task scores, as JSON and as lines for a terminal. */
  evalCheckpoint(o: EvalOptions): { json: Record<string, unknown>; lines: string[] };
}
