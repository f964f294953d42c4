// Scoring the baselines of baselines.ts on an in-memory zoo problem: the base, task arithmetic over
// TA_LAMBDAS (best signed mean kept), and each expert on its own task's objectives (an expert with
// no task of its own, sft4's irrelevant ones, has none).
import { mergeHostFixed, type HostParams } from '../merge/host-merge.ts';
import { signedMean, TA_LAMBDAS, type Baselines } from './baselines.ts';
import type { ZooProblem } from './zoo-problem.ts';

/** Score the base, task arithmetic over TA_LAMBDAS, and each expert on its own task. */
export function zooBaselines(problem: ZooProblem): Baselines {
  const { zoo, tensors, objectives } = problem;
  let evaluations = 0;
  const score = (params: HostParams, objs = objectives) => {
    const e = problem.score(params, objs);
    evaluations += e.evaluations;
    return e.values;
  };
  const pick = (from: HostParams): HostParams => new Map(tensors.map((n) => [n, from.get(n)!]));
  const base = score(pick(zoo.base));
  let best: { lambda: number; values: number[]; mean: number } | undefined;
  for (const lambda of TA_LAMBDAS) {
    const merged = mergeHostFixed(zoo, tensors, { method: 'task_arithmetic', global: { lambda }, perModel: zoo.experts.map(() => ({ weight: 1 })), seed: problem.seed });
    const values = score(merged);
    const mean = signedMean(values, objectives);
    if (!best || mean > best.mean) best = { lambda, values, mean };
  }
  const experts: Baselines['experts'] = objectives.map(() => null);
  zoo.expertTasks.forEach((task, i) => {
    const own = objectives.map((o, j) => ({ o, j })).filter(({ o }) => task !== null && o.task === task);
    if (own.length === 0) return;
    const values = score(
      pick(zoo.experts[i]!),
      own.map(({ o }) => o),
    );
    own.forEach(({ j }, k) => (experts[j] = { task: task!, value: values[k]! }));
  });
  return { objectives: objectives.map((o) => o.name), base, taskArithmetic: { lambda: best!.lambda, values: best!.values, grid: [...TA_LAMBDAS] }, experts, evaluations };
}
