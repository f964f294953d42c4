// npm run bench:search [-- --trials N --samples N --steps N] — search-loop throughput on the mnist8
// zoo (built if missing). For each black-box optimizer: trials per second through the whole loop
// (ask, SQLite logging, tell) and the share of time spent outside building and scoring candidates.
// For each gradient optimizer: gradient steps per second and the share outside the gradient
// computation and scoring. The baseline, measured in the same run, is scoring the same number of
// candidates directly (no optimizer, no database): the ratio loop/baseline shows what the loop costs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTrials } from '../../src/search/loop.ts';
import { getOptimizer } from '../../src/search/optimizers/index.ts';
import type { GradientProblem } from '../../src/search/optimizer.ts';
import { optimizerContext } from '../../src/search/run-study.ts';
import { parseStudyConfig } from '../../src/search/study-config.ts';
import { ZooProblem } from '../../src/search/zoo-problem.ts';
import { ensureZoo } from '../../src/zoo/registry.ts';
import { StudyStore } from '../../src/study/index.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import { loadMnist8Zoo } from '../../src/zoo/mnist8-family.ts';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const TRIALS = arg('--trials', 60);
const SAMPLES = arg('--samples', 200);
const STEPS = arg('--steps', 40);

const engine = await initEngine('auto');
const zoo = loadMnist8Zoo(ensureZoo('mnist8', { onLog: (l) => console.error(l) }));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-search-'));

function configFor(optimizer: string, granularity: string, extra = '', trials = TRIALS): ReturnType<typeof parseStudyConfig> {
  return parseStudyConfig(
    `zoo: mnist8
space: {method: task_arithmetic, granularity: ${granularity}, parameters: {weight: {low: 0, high: 1, init: 0.3}}}
objectives: {tasks: all, evaluator: accuracy}
samples: ${SAMPLES}
optimizer: {name: ${optimizer}${extra}}
budget: {trials: ${trials}}
`,
    'bench',
    { defaultName: optimizer },
  );
}

/** Scoring time of `n` candidates with no loop around it: the baseline. */
async function baseline(problem: ZooProblem, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await problem.evaluate(problem.space.init.map((v, j) => Math.min(1, v + ((i * 7 + j) % 10) / 100)));
  return (performance.now() - t0) / 1000;
}

console.log(`backend ${engine.backend}; mnist8, 8 experts, ${SAMPLES} calibration samples per task per trial`);
console.log('| optimizer | space | trials | loop trials/s | baseline trials/s | ratio | outside build+score |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const [name, granularity, extra] of [
  ['random', 'layer', ''],
  ['grid', 'task', ', points_per_dim: 2'],
  ['cmaes', 'layer', ''],
  ['nsga2', 'layer', ', population: 20'],
  ['map', 'task', ''],
] as const) {
  // MAP needs its whole sampling plan ((T+1)(T+2) = 90 points for 8 weights) plus front points.
  const budget = name === 'map' ? Math.max(TRIALS, 100) : TRIALS;
  const config = configFor(name, granularity, extra, budget);
  const problem = new ZooProblem(zoo, config);
  const optimizer = getOptimizer(name);
  const ctx = optimizerContext(config, problem, optimizer, 'bench');
  const store = StudyStore.open(path.join(tmp, `${name}.db`));
  const study = store.createStudy({ name, config: {}, backend: engine.backend, seed: 0, optimizer: name, objectives: ctx.objectives });
  let inside = 0;
  const evaluate = problem.evaluate.bind(problem);
  problem.evaluate = async (x) => {
    const t = performance.now();
    try {
      return await evaluate(x);
    } finally {
      inside += performance.now() - t;
    }
  };
  const t0 = performance.now();
  const r = await runTrials({ store, study, problem, optimizer, ctx, budget: { trials: budget } });
  const total = (performance.now() - t0) / 1000;
  const trials = store.countTrials(study.id);
  store.close();
  problem.evaluate = evaluate;
  const base = await baseline(problem, trials);
  problem.close();
  const loopRate = trials / total;
  const baseRate = trials / base;
  console.log(`| ${name} | ${granularity} | ${trials}${r.reason === 'done' ? ' (done)' : ''} | ${loopRate.toFixed(2)} | ${baseRate.toFixed(2)} | ${(loopRate / baseRate).toFixed(2)} | ${(100 * (1 - inside / 1000 / total)).toFixed(1)} % |`);
}

console.log('\n| optimizer | space | steps | steps/s | outside gradient+score |');
console.log('|---|---|---:|---:|---:|');
for (const [name, granularity, extra] of [
  ['adamerging', 'task', `, steps: ${STEPS}, eval_every: ${STEPS / 2}`],
  ['adamerging', 'tensor', `, steps: ${STEPS}, eval_every: ${STEPS / 2}`],
  ['frank-wolfe', 'tensor', ', iterations: 4'],
] as const) {
  const config = configFor(name, granularity, extra);
  const problem = new ZooProblem(zoo, config);
  const optimizer = getOptimizer(name);
  const ctx = optimizerContext(config, problem, optimizer, 'bench');
  const g = ctx.gradient as GradientProblem;
  let inside = 0;
  let steps = 0;
  const timed = <A extends unknown[], R>(fn: (...a: A) => R) => (...a: A): R => {
    const t = performance.now();
    try {
      return fn(...a);
    } finally {
      inside += performance.now() - t;
      steps++;
    }
  };
  g.entropyAndGrad = timed(g.entropyAndGrad.bind(g));
  g.alignment = timed(g.alignment.bind(g));
  const evaluate = problem.evaluate.bind(problem);
  problem.evaluate = async (x) => {
    const t = performance.now();
    try {
      return await evaluate(x);
    } finally {
      inside += performance.now() - t;
    }
  };
  const store = StudyStore.open(path.join(tmp, `${name}-${granularity}.db`));
  const study = store.createStudy({ name, config: {}, backend: engine.backend, seed: 0, optimizer: name, objectives: ctx.objectives });
  const t0 = performance.now();
  await runTrials({ store, study, problem, optimizer, ctx, budget: { trials: 1000 } });
  const total = (performance.now() - t0) / 1000;
  store.close();
  problem.close();
  console.log(`| ${name} | ${granularity} | ${steps} | ${(steps / total).toFixed(2)} | ${(100 * (1 - inside / 1000 / total)).toFixed(1)} % |`);
}
fs.rmSync(tmp, { recursive: true, force: true });
