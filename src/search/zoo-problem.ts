// Search on an in-memory zoo: the backbone is merged with the exact merge-method code, per tensor
// with the parameters the coefficient vector gives it, and scored through each task's expert head
// on a fixed, seeded subsample of the split (the same samples for every trial, so trials compare).
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getEvaluator, subsampleIndices } from '../../evaluators/index.ts';
import { mlpLogits } from '../models/mlp-classifier.ts';
import { buildMnist8 } from '../zoo/mnist8.ts';
import { buildSkills4 } from '../zoo/skills4.ts';
import { subset } from '../zoo/mnist-data.ts';
import { readTaskData, toInputs } from '../zoo/task-data.ts';
import { loadZoo, mergeHostParams, type HostParams, type LoadedZoo } from '../zoo/zoo-models.ts';
import { DifferentiableZoo } from './differentiable-zoo.ts';
import type { Evaluation, Problem } from './problem.ts';
import { SearchSpace } from './space.ts';
import { BUILTIN_ZOOS, resolveZooObjectives, type EvalSplit, type StudyConfig, type ZooObjective } from './study-config.ts';

/** Where a built-in zoo lives, and building it when it is missing (cached for later runs). */
export function ensureZoo(name: string, o: { root?: string; onLog?: (line: string) => void } = {}): string {
  if (!(BUILTIN_ZOOS as readonly string[]).includes(name)) return name;
  const dir = path.join(o.root ?? 'zoo', name);
  if (!fs.existsSync(path.join(dir, 'manifest.json'))) {
    const lm = name.startsWith('skills4');
    o.onLog?.(`the ${name} zoo is not built yet: building it into ${dir} (seed 0; cached for later runs; ${lm ? (name.endsWith('tiny') ? 'about a minute' : 'about 15 minutes') : 'about a minute'})`);
    const build = lm ? buildSkills4 : buildMnist8;
    build({ out: dir, seed: 0, tiny: name.endsWith('-tiny'), onLog: o.onLog });
  }
  return dir;
}

interface TaskBatch {
  x: tf.Tensor2D;
  labels: Uint8Array;
}

export class ZooProblem implements Problem {
  readonly space: SearchSpace;
  readonly objectives: ZooObjective[];
  readonly description: string;
  readonly tensors: string[];
  /** Seed of the random merge methods (dare_*, della*): the study's, as export uses it too. */
  readonly seed: number;
  private readonly data = new Map<string, TaskBatch>();
  private readonly heads: Record<string, tf.Tensor>[];
  private differentiable?: DifferentiableZoo;

  constructor(
    readonly zoo: LoadedZoo,
    config: Pick<StudyConfig, 'space' | 'objectives' | 'samples' | 'seed' | 'name'>,
    source = 'study config',
  ) {
    this.tensors = [...zoo.base.keys()].filter((n) => n.startsWith('backbone.'));
    this.seed = config.seed;
    this.space = new SearchSpace(config.space, this.tensors, zoo.tasks);
    this.objectives = resolveZooObjectives(config.objectives, zoo.tasks, source) as ZooObjective[];
    for (const o of this.objectives) {
      const key = `${o.task}/${o.split}`;
      if (this.data.has(key)) continue;
      let d = readTaskData(path.join(zoo.dir, zoo.manifest.data[o.task]![o.split]), zoo.config.numClasses);
      // One subsample per study (seeded by the study's seed), reused by every trial.
      if (config.samples !== undefined && config.samples < d.count) d = subset(d, subsampleIndices(d.count, config.samples, config.seed));
      this.data.set(key, { x: tf.keep(tf.tensor2d(toInputs(d.images), [d.count, zoo.config.inputSize])), labels: d.labels });
    }
    this.heads = zoo.tasks.map((task, i) => {
      const h: Record<string, tf.Tensor> = {};
      for (const [name, t] of zoo.experts[i]!) if (name.startsWith(`heads.${task}.`)) h[name] = tf.keep(tf.tensor(t.values, t.shape));
      return h;
    });
    this.description = `${path.basename(zoo.dir)} zoo: ${zoo.tasks.length} experts (${zoo.tasks.join(', ')}), ${this.tensors.length} backbone tensors, ${this.space.dim} coefficients`;
  }

  static fromConfig(config: StudyConfig, onLog?: (line: string) => void, source?: string): ZooProblem {
    const dir = ensureZoo(config.zoo!, { onLog });
    return new ZooProblem(loadZoo(dir), config, source);
  }

  /** The merged backbone for coefficients x (host arrays), with the exact merge-method code. */
  mergeBackbone(x: readonly number[], seed = this.seed): HostParams {
    return mergeHostParams(this.zoo, this.tensors, this.space.method, (name) => this.space.paramsFor(x, name), { seed, checkFinite: true });
  }


  /** The differentiable twin for gradient optimizers, built on first use (it holds the task vectors). */
  get gradient(): DifferentiableZoo {
    this.differentiable ??= new DifferentiableZoo(this.zoo, this.space);
    return this.differentiable;
  }

  async evaluate(x: number[]): Promise<Evaluation> {
    const backbone = this.mergeBackbone(x);
    return this.scoreBackbone(backbone, this.objectives);
  }

  /** Values of `objectives` (zoo objectives of this zoo) for a merged backbone. */
  scoreBackbone(backbone: HostParams, objectives: readonly ZooObjective[], splitOverride?: EvalSplit): Evaluation {
    let evaluations = 0;
    const values = tf.tidy(() => {
      const params: Record<string, tf.Tensor> = {};
      for (const [name, t] of backbone) params[name] = tf.tensor(t.values, t.shape);
      const logitsOf = new Map<string, Float32Array>();
      return objectives.map((o) => {
        const split = splitOverride ?? o.split;
        const key = `${o.task}/${split}`;
        let batch = this.data.get(key);
        if (!batch) {
          const d = readTaskData(path.join(this.zoo.dir, this.zoo.manifest.data[o.task]![split]), this.zoo.config.numClasses);
          batch = { x: tf.keep(tf.tensor2d(toInputs(d.images), [d.count, this.zoo.config.inputSize])), labels: d.labels };
          this.data.set(key, batch);
        }
        let logits = logitsOf.get(key);
        if (!logits) {
          const ti = this.zoo.tasks.indexOf(o.task);
          logits = mlpLogits({ ...params, ...this.heads[ti]! }, this.zoo.config, batch.x, o.task).dataSync() as Float32Array;
          logitsOf.set(key, logits);
          evaluations += batch.labels.length;
        }
        return getEvaluator(o.evaluator).score(logits, batch.labels, this.zoo.config.numClasses);
      });
    });
    return { values, evaluations };
  }

  close(): void {
    this.differentiable?.dispose();
    for (const b of this.data.values()) b.x.dispose();
    this.data.clear();
    for (const h of this.heads) for (const t of Object.values(h)) t.dispose();
  }
}
