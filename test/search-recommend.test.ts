// The recommended merge (src/search/recommend.ts) on hand-built studies whose answer is worked out
// by hand below, the `prefer:` key, and the baselines (src/search/baselines.ts) checked against the
// same merges reached through the search space instead (x = 0, one-hot, all λ).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { baselineCost, baselineScores, defaultCommandLambdas, describeRequest, normalizedMean, type Baselines } from '../src/search/baselines.ts';
import { missingParts, settle, taskArithmeticRecipe } from '../src/search/command-baselines.ts';
import { zooBaselines } from '../src/search/zoo-baselines.ts';
import { defaultScale, describeRule, recommend, recommendRule, ruleScores } from '../src/search/recommend.ts';
import { runStudy } from '../src/search/run-study.ts';
import { parseStudyConfig } from '../src/search/study-config.ts';
import { ZooProblem } from '../src/search/zoo-problem.ts';
import { StudyStore } from '../src/study/index.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { copyTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';

const acc2 = [
  { name: 'a', direction: 'maximize' as const },
  { name: 'b', direction: 'maximize' as const },
];
const accLoss = [
  { name: 'acc', direction: 'maximize' as const },
  { name: 'loss', direction: 'minimize' as const },
];

describe('recommend', () => {
  it('takes the best plain mean of same-unit objectives, and follows prefer.weights', () => {
    const trials = [
      { number: 0, state: 'COMPLETE', values: [0.9, 0.1] }, // mean 0.5
      { number: 1, state: 'COMPLETE', values: [0.6, 0.6] }, // mean 0.6
      { number: 2, state: 'COMPLETE', values: [0.7, 0.55] }, // mean 0.625
      { number: 3, state: 'FAIL', values: null },
      { number: 4, state: 'RUNNING', values: null },
    ];
    const equal = recommendRule(acc2, undefined, 'raw');
    const r = recommend(trials, acc2, equal)!;
    expect(r.trial.number).toBe(2);
    expect(r.score).toBeCloseTo(0.625, 12);
    expect(r.considered).toBe(3);
    // a counts 3: (3·0.9 + 0.1)/4 = 0.7, (1.8 + 0.6)/4 = 0.6, (2.1 + 0.55)/4 = 0.6625.
    const leaning = recommendRule(acc2, { weights: { a: 3 } }, 'raw');
    expect(leaning.weights).toEqual([3, 1]);
    const r2 = recommend(trials, acc2, leaning)!;
    expect(r2.trial.number).toBe(0);
    expect(r2.score).toBeCloseTo(0.7, 12);
  });

  it('rescales objectives of different units to [0, 1] over the completed trials; ties go to the lower number', () => {
    const trials = [
      { number: 0, state: 'COMPLETE', values: [0.8, 2.0] },
      { number: 1, state: 'COMPLETE', values: [0.7, 0.5] },
      { number: 2, state: 'COMPLETE', values: [0.9, 3.0] },
      { number: 3, state: 'COMPLETE', values: [0.95, Number.NaN] }, // not ranked, not in the ranges
    ];
    // acc over 0.7..0.9, −loss over −3..−0.5: trial 0 → (0.5 + 0.4)/2 = 0.45; 1 → (0 + 1)/2 = 0.5; 2 → (1 + 0)/2 = 0.5.
    const rule = recommendRule(accLoss, undefined, 'minmax');
    const r = recommend(trials, accLoss, rule)!;
    expect(r.trial.number).toBe(1);
    expect(r.score).toBeCloseTo(0.5, 12);
    expect(
      ruleScores(
        trials.slice(0, 3).map((t) => t.values),
        accLoss,
        rule,
      ),
    ).toEqual([expect.closeTo(0.45, 12), expect.closeTo(0.5, 12), expect.closeTo(0.5, 12)]);
    // Raw would pick by accuracy minus loss: 0.7 − 0.5 = 0.2 beats −1.2 and −2.1, the same trial here,
    // but a loss weight of 0 leaves accuracy alone: trial 2.
    expect(recommend(trials, accLoss, recommendRule(accLoss, { weights: { loss: 0 } }, 'minmax'))!.trial.number).toBe(2);
    expect(recommend([{ number: 0, state: 'FAIL', values: null }], accLoss, rule)).toBeUndefined();
  });

  it('chooses the scale by units and refuses weights it cannot use', () => {
    const zoo = (evaluator: string) => ({ kind: 'zoo' as const, name: 'x', evaluator, task: 't', split: 'calibration' as const, direction: 'maximize' as const });
    expect(defaultScale([zoo('accuracy'), zoo('accuracy')])).toBe('raw');
    expect(defaultScale([zoo('accuracy'), zoo('cross_entropy')])).toBe('minmax');
    expect(defaultScale([{ kind: 'command', name: 's', command: 'x', key: 's', direction: 'maximize', timeoutSeconds: 1 }])).toBe('minmax');
    expect(defaultScale(undefined)).toBe('minmax');
    expectCode(() => recommendRule(acc2, { weights: { c: 1 } }, 'raw', 'my.yaml'), 'CONFIG_E_FIELD', 'my.yaml', '"c"', 'a, b');
    expectCode(() => recommendRule(acc2, { weights: { a: 0, b: 0 } }, 'raw'), 'CONFIG_E_FIELD', 'weight 0');
    expect(describeRule(recommendRule(acc2, { weights: { a: 2 } }, 'raw'), acc2)).toBe("best mean of the 2 objectives (weights a 2, b 1; values as measured; the study's prefer:)");
  });

  it('reads prefer: from a study config and keeps the YAML text', () => {
    const text = 'zoo: mnist8\nspace: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: {tasks: all}\noptimizer: random\nbudget: {trials: 2}\nprefer: {weights: {plain: 2}, scale: minmax}\n';
    const c = parseStudyConfig(text, 'p.yaml');
    expect(c.prefer).toEqual({ weights: { plain: 2 }, scale: 'minmax' });
    expect(c.yaml).toBe(text);
    expectCode(() => parseStudyConfig(text.replace('minmax', 'log'), 'p.yaml'), 'CONFIG_E_FIELD', 'p.yaml', 'prefer.scale', 'raw or minmax');
    expectCode(() => parseStudyConfig(text.replace('{plain: 2}', '{plain: -1}'), 'p.yaml'), 'CONFIG_E_FIELD', 'prefer.weights.plain', '≥ 0');
    expectCode(() => parseStudyConfig(text.replace('weights:', 'weigths:'), 'p.yaml'), 'CONFIG_E_FIELD', 'did you mean "weights"');
  });

  it('scores baselines on the trials\' scale and normalizes by each expert on its own task', () => {
    const b: Baselines = {
      objectives: ['a', 'b'],
      base: [0.5, 0.3],
      taskArithmetic: { lambda: 0.3, values: [0.7, 0.6], grid: [0.3] },
      experts: [
        { task: 'a', value: 0.9 },
        { task: 'b', value: 0.8 },
      ],
      evaluations: 0,
    };
    const s = baselineScores(b, acc2, recommendRule(acc2, undefined, 'raw'), [[0.6, 0.6]]);
    expect(s).toEqual({ base: expect.closeTo(0.4, 12), taskArithmetic: expect.closeTo(0.65, 12), experts: expect.closeTo(0.85, 12), expertModels: [] });
    // minmax against trials spanning a 0.5..0.9 and b 0.2..0.6: base → (0 + 0.25)/2.
    const mm = baselineScores(b, acc2, recommendRule(acc2, undefined, 'minmax'), [[0.5, 0.6], [0.9, 0.2]]);
    expect(mm.base).toBeCloseTo(0.125, 12);
    expect(normalizedMean([0.45, 0.6], b, acc2)).toBeCloseTo((0.5 + 0.75) / 2, 12);
    expect(normalizedMean([0.45, 0.6], { ...b, experts: [b.experts[0]!, null] }, acc2)).toBeNull();
    expect(normalizedMean([0.45, 0.6], b, accLoss)).toBeNull();
  });
});

describe('baselines of a command study (baselines:)', () => {
  const text = (extra: string) =>
    `checkpoints: {base: b, experts: [e1, e2, e3, e4]}\nspace: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: [{name: s, command: "x {checkpoint}", direction: maximize}]\noptimizer: random\nbudget: {trials: 2}\n${extra}`;

  it('reads the key: true, parts, refusals with the closest key, and nothing for a zoo study', () => {
    expect(parseStudyConfig(text(''), 'c.yaml').baselines).toBeUndefined();
    expect(parseStudyConfig(text('baselines: false\n'), 'c.yaml').baselines).toBeUndefined();
    // 4 experts: 1/K = 0.25 joins 0.3, 0.5, 1.
    expect(parseStudyConfig(text('baselines: true\n'), 'c.yaml').baselines).toEqual({ base: true, experts: true, lambdas: [0.25, 0.3, 0.5, 1] });
    expect(parseStudyConfig(text('baselines: {base: true, task_arithmetic: [1, 0.5, 0.5]}\n'), 'c.yaml').baselines).toEqual({ base: true, experts: false, lambdas: [0.5, 1] });
    expect(defaultCommandLambdas(3)).toEqual([0.3, 0.333333, 0.5, 1]);
    expect(defaultCommandLambdas(2)).toEqual([0.3, 0.5, 1]);
    expectCode(() => parseStudyConfig(text('baselines: {bsae: true}\n'), 'c.yaml'), 'CONFIG_E_FIELD', 'c.yaml', 'baselines.bsae', 'did you mean "base"');
    expectCode(() => parseStudyConfig(text('baselines: {task_arithmetic: [0]}\n'), 'c.yaml'), 'CONFIG_E_FIELD', 'baselines.task_arithmetic', 'λ > 0');
    expectCode(() => parseStudyConfig(text('baselines: {base: false}\n'), 'c.yaml'), 'CONFIG_E_FIELD', 'at least one of base, experts, task_arithmetic');
    expectCode(() => parseStudyConfig(text('baselnes: true\n'), 'c.yaml'), 'CONFIG_E_FIELD', 'did you mean "baselines"');
    const zoo = 'zoo: mnist8\nspace: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: {tasks: all}\noptimizer: random\nbudget: {trials: 2}\nbaselines: true\n';
    expectCode(() => parseStudyConfig(zoo, 'z.yaml'), 'CONFIG_E_FIELD', 'z.yaml', 'a zoo study always scores its baselines');
  });

  it('counts the cost, finds what a stored record lacks, and settles the best λ and the best expert per objective', () => {
    const req = { base: true, experts: true, lambdas: [0.3, 0.5, 1] };
    // base 1 + 4 experts + 3 λ = 8 checkpoints, 2 distinct commands each.
    expect(baselineCost(req, 4, 2)).toEqual({ runs: 16, merges: 3 });
    expect(describeRequest(req, 4)).toBe('the base, each of the 4 experts, task arithmetic at λ 0.3, 0.5, 1');
    const stored: Baselines = {
      objectives: ['acc', 'loss'],
      kind: 'command',
      base: [0.5, 2],
      taskArithmetic: { lambda: 0.5, values: [0.8, 1], grid: [0.5], gridValues: [[0.8, 1]] },
      experts: [null, null],
      evaluations: 2,
      merges: 1,
    };
    expect(missingParts(req, stored)).toEqual({ base: false, experts: true, lambdas: [0.3, 1] });
    expect(missingParts(req, undefined)).toEqual(req);
    const withGrid: Baselines = {
      ...stored,
      taskArithmetic: { lambda: 0, values: [], grid: [0.3, 0.5, 1], gridValues: [[0.7, 1.5], [0.8, 1], [0.9, 3]] },
      expertModels: [
        { name: 'e1', values: [0.9, 1.2] },
        { name: 'e2', values: [0.6, 0.4] },
      ],
    };
    const rule = recommendRule(accLoss, undefined, 'minmax');
    // Reference: trials acc 0.6..0.9, loss 0.5..3 plus the grid's own points. Scores by hand with
    // acc over 0.6..0.9 and −loss over −3..−0.5: λ 0.3 → (1/3 + 0.6)/2 = 0.4667; λ 0.5 → (2/3 + 0.8)/2
    // = 0.7333; λ 1 → (1 + 0)/2 = 0.5. λ 0.5 wins.
    const settled = settle(withGrid, accLoss, rule, [[0.6, 0.5], [0.9, 3]]);
    expect(settled.taskArithmetic!.lambda).toBe(0.5);
    expect(settled.taskArithmetic!.values).toEqual([0.8, 1]);
    // Best expert per objective: acc 0.9 (e1), loss 0.4 (e2, minimised).
    expect(settled.experts).toEqual([
      { task: 'e1', value: 0.9 },
      { task: 'e2', value: 0.4 },
    ]);
    // No normalized accuracy for command baselines (their experts have no task of their own).
    expect(normalizedMean([0.5, 0.5], settled, acc2)).toBeNull();
    const s = baselineScores(settled, accLoss, rule, [[0.6, 0.5], [0.9, 3]]);
    expect(s.expertModels[0]).toBeCloseTo((1 + 0.72) / 2, 12);
    expect(s.base).toBeCloseTo((-1 / 3 + 0.4) / 2, 12);
    expect(baselineScores({ ...settled, base: null, taskArithmetic: null }, accLoss, rule, [[0.6, 0.5]]).base).toBeNull();
  });

  it('writes task arithmetic as a mergekit recipe: every expert weight 1, λ', () => {
    const y = taskArithmeticRecipe({ base: '/m/b', experts: ['/m/e1', '/m/e2'] }, 0.5);
    expect(YAML.parse(y)).toEqual({ merge_method: 'task_arithmetic', base_model: '/m/b', models: [{ model: '/m/e1', parameters: { weight: 1 } }, { model: '/m/e2', parameters: { weight: 1 } }], parameters: { lambda: 0.5 } });
  });
});

describe('baselines and the recommendation of a real study (tiny mnist8)', () => {
  let tmp: ReturnType<typeof makeTmp>;
  beforeAll(async () => {
    tmp = makeTmp('ms-recommend-');
    await initEngine('wasm');
    await copyTinyZoo(TINY_MNIST8, path.join(tmp.dir, 'zoo'));
  }, 300_000);
  afterAll(() => tmp?.cleanup());

  const yaml = (extra = '') => `name: rec
seed: 3
zoo: zoo
space:
  method: task_arithmetic
  granularity: task
  parameters:
    weight: {low: 0, high: 1}
objectives: {tasks: all, evaluator: accuracy}
samples: 100
optimizer: random
budget: {trials: 6}
${extra}`;

  it('scores the base, tuned task arithmetic and each expert as the same merges reached through the space', async () => {
    const config = parseStudyConfig(yaml(), 'rec.yaml', { dir: tmp.dir });
    const problem = ZooProblem.fromConfig(config);
    try {
      const b = zooBaselines(problem);
      const k = problem.zoo.tasks.length;
      expect(b.objectives).toEqual(problem.zoo.tasks);
      // Every weight 0 (lambda fixed at 1 by task_arithmetic's default): the base.
      expect((await problem.evaluate(new Array(k).fill(0))).values).toEqual(b.base);
      // Weight 1 on expert i only: expert i's own tensors (base + 1·τᵢ, exact up to float32 rounding).
      for (let i = 0; i < k; i++) {
        const x = new Array(k).fill(0);
        x[i] = 1;
        const own = (await problem.evaluate(x)).values[i]!;
        expect(b.experts[i]!.task).toBe(problem.zoo.tasks[i]);
        expect(Math.abs(own - b.experts[i]!.value)).toBeLessThanOrEqual(0.01 + 1e-12); // one sample of 100 at most
      }
      // Weight λ on every expert: θ₀ + λ Σ τᵢ, the tuned task arithmetic.
      const ta = (await problem.evaluate(new Array(k).fill(b.taskArithmetic.lambda))).values;
      ta.forEach((v, i) => expect(Math.abs(v - b.taskArithmetic.values[i]!)).toBeLessThanOrEqual(0.01 + 1e-12));
      expect(b.taskArithmetic.grid).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
      expect(b.evaluations).toBe(100 * k * 11 + 100 * k); // base + 10 λ over every task, and each expert on one
    } finally {
      problem.close();
    }
  }, 300_000);

  it('runStudy returns and stores the recommendation, the baselines, the rule and the YAML', async () => {
    const db = path.join(tmp.dir, 'rec.db');
    const config = parseStudyConfig(yaml('prefer: {weights: {plain: 4}}\n'), 'rec.yaml', { dir: tmp.dir });
    const r = await runStudy({ config, db });
    const objs = r.study.objectives;
    // Independent pick: the largest (4·plain + the rest)/(k + 3) among the completed trials.
    const w = objs.map((o) => (o.name === 'plain' ? 4 : 1));
    const score = (v: number[]) => v.reduce((s, x, i) => s + w[i]! * x, 0) / w.reduce((a, b) => a + b, 0);
    const best = [...r.completed].sort((a, b) => score(b.values!) - score(a.values!) || a.number - b.number)[0]!;
    expect(r.recommended!.trial.number).toBe(best.number);
    expect(r.recommended!.score).toBeCloseTo(score(best.values!), 12);
    expect(r.rule).toEqual({ weights: w, scale: 'raw', declared: true });
    const store = StudyStore.open(db, { readonly: true });
    try {
      const attrs = store.studyAttrs(r.study.id);
      expect(attrs.baselines).toEqual(r.baselines);
      expect(attrs.prefer).toEqual({ weights: { plain: 4 } });
      expect(attrs.config_yaml).toBe(config.yaml);
      expect(attrs.coordinates).toEqual(r.study.objectives.map((o) => `weight[${o.name}]`));
    } finally {
      store.close();
    }
  }, 300_000);
});
