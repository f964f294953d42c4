// Scoring the baselines a command study's `baselines:` asks for (baselines.ts), with the study's own
// command(s): the base and each expert as they are (no merge), and task arithmetic θ₀ + λΣτᵢ merged
// at each λ of the request. What an earlier run stored is kept and only the missing parts are
// scored, each stored as soon as it is scored (`save`), so an interrupted or failing run loses
// nothing and a `--resume` with a longer request pays only for what is new.
import path from 'node:path';
import type { Baselines, BaselineRequest } from './baselines.ts';
import type { CommandProblem } from './command-problem.ts';
import type { ObjectiveInfo } from './optimizer.ts';
import { ruleScores, type RecommendRule } from './recommend.ts';
import { recipeYaml } from './to-recipe.ts';

/** The task-arithmetic recipe of the baselines: every expert weight 1, the given λ. */
export function taskArithmeticRecipe(checkpoints: { base: string; experts: string[] }, lambda: number): string {
  return recipeYaml({
    merge_method: 'task_arithmetic',
    base_model: checkpoints.base,
    models: checkpoints.experts.map((model) => ({ model, parameters: { weight: 1 } })),
    parameters: { lambda },
  });
}

/** Parts of `req` that `stored` lacks. */
export function missingParts(req: BaselineRequest, stored: Baselines | undefined): BaselineRequest {
  const have = new Set(stored?.taskArithmetic?.grid ?? []);
  return {
    base: req.base && !stored?.base,
    experts: req.experts && !stored?.expertModels,
    lambdas: req.lambdas.filter((l) => !have.has(l)),
  };
}

/**
 * The best λ of a grid under the study's rule, placed on the scale of the completed trials and the
 * grid's own points (minmax), ties to the smaller λ; and each objective's best expert.
 */
export function settle(b: Baselines, objectives: readonly ObjectiveInfo[], rule: RecommendRule, reference: readonly (readonly number[])[]): Baselines {
  const out: Baselines = { ...b };
  const ta = b.taskArithmetic;
  if (ta && ta.gridValues && ta.gridValues.length > 0) {
    const scores = ruleScores(ta.gridValues, objectives, rule, [...reference, ...ta.gridValues]);
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
    out.taskArithmetic = { ...ta, lambda: ta.grid[best]!, values: ta.gridValues[best]! };
  }
  if (b.expertModels && b.expertModels.length > 0) {
    out.experts = objectives.map((o, j) => {
      const sign = o.direction === 'maximize' ? 1 : -1;
      let best = b.expertModels![0]!;
      for (const m of b.expertModels!) if (sign * m.values[j]! > sign * best.values[j]!) best = m;
      return { task: best.name, value: best.values[j]! };
    });
  }
  return out;
}

export interface CommandBaselineOptions {
  problem: CommandProblem;
  request: BaselineRequest;
  stored: Baselines | undefined;
  rule: RecommendRule;
  /** The completed trials' values (the minmax scale the best λ is chosen on). */
  reference: readonly (readonly number[])[];
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Called with the record after each part is scored. */
  save: (b: Baselines) => void;
}

/** Score what `request` asks and `stored` lacks; returns the full record (throws what a command throws, after saving what was scored). */
export async function commandBaselines(o: CommandBaselineOptions): Promise<Baselines> {
  const { problem, request } = o;
  const objectives: ObjectiveInfo[] = problem.objectives.map((ob) => ({ name: ob.name, direction: ob.direction }));
  const todo = missingParts(request, o.stored);
  let b: Baselines = o.stored ?? { objectives: objectives.map((x) => x.name), kind: 'command', base: null, taskArithmetic: null, experts: objectives.map(() => null), evaluations: 0, merges: 0 };
  const record = (next: Baselines) => {
    b = settle(next, objectives, o.rule, o.reference);
    o.save(b);
  };
  if (todo.base) {
    o.log?.(`baseline: the base ${problem.checkpoints.base}`);
    const e = await problem.scoreCheckpoint(problem.checkpoints.base, o.signal);
    record({ ...b, base: e.values, evaluations: b.evaluations + e.evaluations });
  }
  if (todo.experts) {
    const models: Array<{ name: string; values: number[] }> = [];
    let runs = 0;
    for (const dir of problem.checkpoints.experts) {
      o.log?.(`baseline: expert ${dir}`);
      const e = await problem.scoreCheckpoint(dir, o.signal);
      models.push({ name: path.basename(dir), values: e.values });
      runs += e.evaluations;
    }
    record({ ...b, expertModels: models, evaluations: b.evaluations + runs });
  }
  for (const lambda of todo.lambdas) {
    o.log?.(`baseline: task arithmetic at λ ${lambda}`);
    const e = await problem.mergeAndScore(taskArithmeticRecipe(problem.checkpoints, lambda), o.signal);
    const prev = b.taskArithmetic;
    const pairs = [...(prev?.grid ?? []).map((l, i) => [l, prev!.gridValues?.[i] ?? prev!.values] as const), [lambda, e.values] as const].sort((x, y) => x[0] - y[0]);
    record({
      ...b,
      taskArithmetic: { lambda, values: e.values, grid: pairs.map((p) => p[0]), gridValues: pairs.map((p) => [...p[1]]) },
      evaluations: b.evaluations + e.evaluations,
      merges: (b.merges ?? 0) + 1,
    });
  }
  return b;
}
