// Search on an in-memory zoo of any benchmark family: a candidate merges the family's merged tensors
// (a classifier's backbone, every tensor of a language model) with the exact merge-method code, per
// tensor with the parameters the coefficient vector gives it, and the family's scorer scores it on
// a fixed, seeded subsample of each objective's split (the same samples for every trial, so trials
// compare). The family decides everything model-specific; this file knows none of it.
import path from 'node:path';
import { fail } from '../errors.ts';
import { isGpuError } from '../gpu/device.ts';
import type { GpuScoring } from '../gpu/scoring-thread.ts';
import { mergeHostParams, mergeHostParamsYielding, type HostParams } from '../merge/host-merge.ts';
import type { EvalSplit, LoadedZoo, ZooScorer } from '../zoo/family.ts';
import { ensureZoo, familyOfDir, selectExperts } from '../zoo/registry.ts';
import { DifferentiableZoo } from './differentiable-zoo.ts';
import type { Evaluation, Problem } from './problem.ts';
import type { GradientProblem } from './optimizer.ts';
import { SearchSpace } from './space.ts';
import { resolveZooObjectives, type StudyConfig, type ZooObjective } from './study-config.ts';

export class ZooProblem implements Problem {
  readonly space: SearchSpace;
  readonly objectives: ZooObjective[];
  readonly description: string;
  readonly tensors: string[];
  /** Seed of the random merge methods (dare_*, della*) and of the subsample: the study's, as export uses it too. */
  readonly seed: number;
  private scorer: ZooScorer;
  /** Under --device auto: called when GPU scoring fails, after which the CPU scores (see score). */
  private onGpuFailure?: (why: string) => void;
  private differentiable?: DifferentiableZoo;
  private gpuGradient?: GradientProblem & { dispose(): void };
  private readonly gpu?: GpuScoring;
  private readonly study: Pick<StudyConfig, 'space' | 'objectives' | 'samples' | 'seed' | 'name' | 'experts'>;
  private readonly source: string;
  /** The zoo narrowed to the experts the study merges (its config's `experts`, else the zoo's default). */
  readonly zoo: LoadedZoo;

  constructor(
    loaded: LoadedZoo,
    config: Pick<StudyConfig, 'space' | 'objectives' | 'samples' | 'seed' | 'name' | 'experts'>,
    source = 'study config',
    gpu?: GpuScoring,
    onGpuFailure?: (why: string) => void,
  ) {
    this.onGpuFailure = onGpuFailure;
    this.gpu = gpu;
    this.study = { space: config.space, objectives: config.objectives, samples: config.samples, seed: config.seed, name: config.name, experts: config.experts };
    this.source = source;
    let zoo = selectExperts(loaded, config.experts, source);
    this.tensors = zoo.mergedTensors;
    this.seed = config.seed;
    this.space = new SearchSpace(config.space, this.tensors, zoo.expertNames);
    this.objectives = resolveZooObjectives(config.objectives, zoo.tasks, source) as ZooObjective[];
    // Where experts and tasks are not one-to-one (sft4), the differentiable losses (AdaMerging,
    // Frank-Wolfe) cover the tasks the objectives score, not every task of the chosen experts.
    if (zoo.manifest.expertTask) {
      const scored = zoo.tasks.filter((t) => this.objectives.some((o) => o.kind === 'zoo' && o.task === t));
      if (scored.length > 0) zoo = { ...zoo, tasks: scored };
    }
    this.zoo = zoo;
    const known = zoo.family.evaluators.map((e) => e.name);
    for (const o of this.objectives) {
      if (!known.includes(o.evaluator)) {
        fail('CONFIG_E_FIELD', `${source}: objective "${o.name}" uses evaluator ${o.evaluator}, which the ${zoo.family.name} zoo cannot score; use one of ${known.join(', ')}`);
      }
    }
    this.scorer = zoo.scorer({ samples: config.samples, seed: config.seed, gpu });
    this.description = `${path.basename(zoo.dir)} zoo (${zoo.family.name}): ${zoo.expertNames.length} experts (${zoo.expertNames.join(', ')}) scored on ${zoo.tasks.join(', ')}, ${this.tensors.length} merged tensors, ${this.space.dim} coefficients`;
  }

  /** The study's zoo (a built-in zoo is built first when missing), loaded by its family. */
  static fromConfig(config: StudyConfig, onLog?: (line: string) => void, source?: string, gpu?: GpuScoring, onGpuFailure?: (why: string) => void): ZooProblem {
    const dir = ensureZoo(config.zoo!, { onLog });
    return new ZooProblem(familyOfDir(dir).load(dir), config, source, gpu, onGpuFailure);
  }

  /** The merged tensors for coefficients x (host arrays), with the exact merge-method code. */
  mergeCandidate(x: readonly number[], seed = this.seed): HostParams {
    return mergeHostParams(this.zoo, this.tensors, this.space.method, (name) => this.space.paramsFor(x, name), { seed, checkFinite: true });
  }

  /** The differentiable twin for gradient optimizers, built on first use (it holds the task vectors). */
  get gradient(): DifferentiableZoo {
    this.differentiable ??= new DifferentiableZoo(this.zoo, this.space, { seed: this.seed });
    return this.differentiable;
  }

  /**
   * What the gradient optimizers use: with a GPU scorer, the differentiable problem built and run on
   * the GPU scoring thread (same zoo, space and seed); else `gradient`.
   */
  get gradientProblem(): GradientProblem {
    if (!this.gpu) return this.gradient;
    this.gpuGradient ??= this.gpu.gradientProblem(path.resolve(this.zoo.dir), this.study, this.source);
    return this.gpuGradient;
  }

  async evaluate(x: number[]): Promise<Evaluation> {
    // Tensor by tensor with a turn of the event loop between them, so the trial's heartbeat fires.
    const merged = await mergeHostParamsYielding(this.zoo, this.tensors, this.space.method, (name) => this.space.paramsFor(x, name), { seed: this.seed, checkFinite: true });
    return this.score(merged, this.objectives);
  }

  /** Values of `objectives` (objectives of this zoo) for a merged model or a whole checkpoint's tensors. */
  score(params: HostParams, objectives: readonly ZooObjective[], splitOverride?: EvalSplit): Evaluation {
    try {
      return this.scorer.score(params, objectives, splitOverride);
    } catch (e) {
      // Under --device auto a GPU failure (device lost, thread crashed, out of memory) moves the
      // rest of the study's scoring to the CPU, with the reason said once; under gpu it fails.
      if (!this.onGpuFailure || !isGpuError(e)) throw e;
      this.onGpuFailure(e.message);
      this.onGpuFailure = undefined;
      this.scorer.close();
      this.scorer = this.zoo.scorer({ samples: this.study.samples, seed: this.seed });
      return this.scorer.score(params, objectives, splitOverride);
    }
  }

  close(): void {
    this.differentiable?.dispose();
    this.gpuGradient?.dispose();
    this.scorer.close();
  }
}
