// A cheap search problem for loop tests: three models, task-wise weights, two objectives that
// are exact functions of the coefficients (one maximised, one minimised), and a region where the
// candidate "merges" to NaN.
import type { Evaluation, Problem } from '../../src/search/problem.ts';
import { SearchSpace } from '../../src/search/space.ts';
import type { ZooObjective } from '../../src/search/study-config.ts';

export class SyntheticProblem implements Problem {
  readonly space = new SearchSpace(
    { method: 'task_arithmetic', granularity: 'task', parameters: { weight: { low: 0, high: 1 } }, fixed: { lambda: 1 } },
    ['layers.0.w', 'layers.1.w'],
    ['a', 'b', 'c'],
  );
  readonly objectives: ZooObjective[] = [
    { kind: 'zoo', name: 'near_low', evaluator: 'accuracy', task: 't1', split: 'calibration', direction: 'maximize' },
    { kind: 'zoo', name: 'far_high', evaluator: 'cross_entropy', task: 't2', split: 'calibration', direction: 'minimize' },
  ];
  readonly description = 'synthetic: 3 weights, 2 objectives';
  evaluated: number[][] = [];

  constructor(private readonly nanAbove = Infinity) {}

  async evaluate(x: number[]): Promise<Evaluation> {
    this.evaluated.push([...x]);
    if (x[0]! > this.nanAbove) return { values: [NaN, 0], evaluations: 1 };
    const near = 1 - x.reduce((a, v) => a + (v - 0.2) ** 2, 0);
    const far = x.reduce((a, v) => a + (v - 0.7) ** 2, 0);
    return { values: [near, far], evaluations: 1 };
  }

  close(): void {}
}
