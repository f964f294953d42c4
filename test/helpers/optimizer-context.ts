// The optimizer context of a search space and its objectives, as tests build it by hand (run-study's
// optimizerContext needs a whole study config).
import type { GradientProblem, Json, OptimizerContext } from '../../src/search/optimizer.ts';
import type { SearchSpace } from '../../src/search/space.ts';

export function contextFor(
  space: SearchSpace,
  objectives: ReadonlyArray<{ name: string; direction: 'maximize' | 'minimize' }>,
  o: { seed?: number; budget: number; settings?: Record<string, Json>; gradient?: GradientProblem },
): OptimizerContext {
  return {
    dim: space.dim,
    low: space.low,
    high: space.high,
    init: space.init,
    names: space.names,
    objectives: objectives.map((x) => ({ name: x.name, direction: x.direction })),
    seed: o.seed ?? 0,
    budget: o.budget,
    settings: o.settings ?? {},
    gradient: o.gradient,
  };
}
