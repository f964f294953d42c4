// Search on a language-model zoo (a tiny skills4 built here): the merged candidate against the merge
// reference in float64, the differentiable twin against the exact merge code, the prompt-entropy and
// answer-token losses and their coefficient gradients against an independent float64 Llama forward
// (test/reference/llama-reference.ts) with central differences, Frank-Wolfe's cosines against a
// direct float64 computation, the objectives against the evaluators, config validation, and every
// optimizer run end to end with an export that scores what the study recorded.
//
// Tolerances: merged weights 1e-5 absolute (float32 sums of the same terms in another order);
// losses 1e-4 absolute; coefficient gradients 1e-4 of the gradient's largest entry (float32
// forward and backward against float64 central differences at h = 1e-5); cosines 1e-4.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactMatch, promptEntropy, tokenLoss, type LmExample } from '../evaluators/lm.ts';
import { subsampleIndices } from '../evaluators/subsample.ts';
import { layerPosition } from '../src/merge/parameters.ts';
import type { LlamaParams } from '../src/models/llama.ts';
import { exportTrial } from '../src/search/export.ts';
import { DifferentiableZoo } from '../src/search/differentiable-zoo.ts';
import { ZooProblem } from '../src/search/zoo-problem.ts';
import { scoreLmObjectives } from '../src/zoo/lm-scoring.ts';
import { loadSkills4Zoo } from '../src/zoo/skills4-family.ts';
import type { LoadedZoo } from '../src/zoo/family.ts';
import { rescoreExport } from '../src/search/rescore.ts';
import { runStudy } from '../src/search/run-study.ts';
import { SearchSpace, type Granularity } from '../src/search/space.ts';
import { parseStudyConfig, type StudyConfig, type ZooObjective } from '../src/search/study-config.ts';
import { StudyStore } from '../src/study/index.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { lmExamples, type LoadedLmZoo } from '../src/zoo/skills4-models.ts';
import type { HostParams } from '../src/merge/host-merge.ts';
import { expectGolden } from './helpers/golden.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { copyTinyZoo, TINY_SKILLS4_FAST } from './helpers/tiny-zoos.ts';
import { contextFor } from './helpers/optimizer-context.ts';
import { getOptimizer, resolveSettings } from '../src/search/optimizers/index.ts';
import type { Json } from '../src/search/optimizer.ts';
import { refLogits, refLogSoftmax, refScore } from './reference/llama-reference.ts';
import { refMerge } from './reference/merge-reference.ts';

const MERGE_TOL = 1e-5;
const LOSS_TOL = 1e-4;
const GRAD_REL_TOL = 1e-4;

const tmp = makeTmp('ms-search-lm-');
let zooDir: string;
let zoo: LoadedZoo & LoadedLmZoo;
let rawConfig: Record<string, unknown>;
let tensors: string[];

beforeAll(async () => {
  await initEngine('wasm');
  // Few training steps: the checks need distinct experts, not good ones.
  zooDir = await copyTinyZoo(TINY_SKILLS4_FAST, path.join(tmp.dir, 'skills4-tiny'));
  zoo = loadSkills4Zoo(zooDir);
  rawConfig = JSON.parse(fs.readFileSync(path.join(zooDir, 'base', 'config.json'), 'utf8')) as Record<string, unknown>;
  tensors = [...zoo.base.keys()];
});
afterAll(() => tmp.cleanup());

const TA_WEIGHT = { weight: { low: 0, high: 1.5, init: 0.3 } };

function space(granularity: Granularity, method = 'task_arithmetic', fixed: Record<string, number | boolean> = {}): SearchSpace {
  return new SearchSpace({ method, granularity, parameters: TA_WEIGHT, fixed }, tensors, zoo.tasks);
}

function problemOf(s: SearchSpace, objectives: StudyConfig['objectives'] = [{ kind: 'zoo', name: 'sort', task: 'sort', evaluator: 'exact_match', split: 'calibration', direction: 'maximize' }], samples?: number): ZooProblem {
  return new ZooProblem(zoo, { name: 't', seed: 4, samples, space: s.spec, objectives });
}

/** Coefficients spread over [0.2, 0.8], different for every coordinate. */
const spread = (dim: number, shift = 0) => Array.from({ length: dim }, (_, i) => 0.2 + (0.6 * ((i * 7 + shift) % dim)) / Math.max(dim - 1, 1));

/** Task arithmetic in float64 loops: θ₀ + λ Σₖ x[coord(k, unit(t))] (θₖ − θ₀). */
function taskArithmetic64(s: SearchSpace, x: readonly number[], lambda = 1): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  for (const t of tensors) {
    const b = zoo.base.get(t)!.values;
    const u = s.unitOfTensor('weight', t);
    const v = Float64Array.from(b);
    zoo.experts.forEach((e, k) => {
      const c = lambda * x[s.coordinate('weight', k, u)]!;
      const w = e.get(t)!.values;
      for (let i = 0; i < v.length; i++) v[i]! += c * (w[i]! - b[i]!);
    });
    out[t] = v;
  }
  return out;
}

function maxAbsDiff(a: HostParams, b: Record<string, ArrayLike<number>> | HostParams): number {
  let d = 0;
  for (const t of tensors) {
    const x = a.get(t)!.values;
    const y = b instanceof Map ? b.get(t)!.values : b[t]!;
    expect(x.length, t).toBe(y.length);
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  }
  return d;
}

/** The calibration examples a DifferentiableZoo call with (batch, seed) uses for task i. */
function picks(d: DifferentiableZoo, task: number, batch: number, seed: number): LmExample[] {
  const all = lmExamples(zoo, zoo.tasks[task]!, 'calibration');
  return Array.from(d.hostIndices(task, batch, seed), (j) => all[j]!);
}

/** Σ over tasks of the mean float64 entropy of the next-token prediction after each picked prompt. */
function entropy64(p: Record<string, ArrayLike<number>>, sets: LmExample[][]): number {
  let total = 0;
  for (const examples of sets) {
    let sum = 0;
    for (const e of examples) {
      const logits = refLogits(rawConfig, p, e.prompt);
      const logP = refLogSoftmax(logits[e.prompt.length - 1]!);
      sum -= logP.reduce((a, l) => a + Math.exp(l) * l, 0);
    }
    total += sum / examples.length;
  }
  return total;
}

/** Σ over tasks of the float64 loss per answer token (answer + eos) of the picked examples. */
function answerLoss64(p: Record<string, ArrayLike<number>>, sets: LmExample[][]): number {
  let total = 0;
  for (const examples of sets) {
    let ll = 0;
    let tokens = 0;
    for (const e of examples) {
      ll += refScore(rawConfig, p, e.prompt, [...e.answer, zoo.eos]);
      tokens += e.answer.length + 1;
    }
    total += -ll / tokens;
  }
  return total;
}

function toTf(p: HostParams): LlamaParams {
  const out: LlamaParams = {};
  for (const [n, t] of p) out[n] = tf.tensor(t.values, t.shape, 'float32');
  return out;
}

describe('ZooProblem: the candidate', () => {
  it(`task arithmetic (layer-wise) equals the float64 formula within ${MERGE_TOL}`, () => {
    const s = space('layer');
    const x = spread(s.dim);
    const d = maxAbsDiff(problemOf(s).mergeCandidate(x), taskArithmetic64(s, x));
    console.log(`task arithmetic candidate: max |Δ| ${d.toExponential(2)}`);
    expect(d).toBeLessThan(MERGE_TOL);
  });

  it(`dare_ties with per-layer weights and per-model densities equals the merge reference within ${MERGE_TOL} (same seeded masks)`, () => {
    const s = new SearchSpace({ method: 'dare_ties', granularity: 'layer', parameters: { weight: { low: 0, high: 1 }, density: { low: 0.3, high: 1, granularity: 'task' } } }, tensors, zoo.tasks);
    const x = spread(s.dim, 3);
    const merged = problemOf(s).mergeCandidate(x, 9);
    const ref: Record<string, Float64Array> = {};
    for (const t of tensors) {
      const p = s.paramsFor(x, t);
      ref[t] = refMerge('dare_ties', {
        name: t,
        shape: zoo.base.get(t)!.shape,
        base: Float64Array.from(zoo.base.get(t)!.values),
        models: zoo.experts.map((e) => Float64Array.from(e.get(t)!.values)),
        global: p.global,
        perModel: p.perModel,
        t: layerPosition(t, zoo.numLayers),
        seed: 9,
      });
    }
    expect(maxAbsDiff(merged, ref)).toBeLessThan(MERGE_TOL);
    // And the seed matters: another seed draws other masks.
    expect(maxAbsDiff(problemOf(s).mergeCandidate(x, 10), ref)).toBeGreaterThan(1e-3);
  });

  it('objectives equal the evaluators on the same seeded subsample; perplexity is exp(token_loss); one scorer run per (task, split)', () => {
    const s = space('task');
    const x = [0.5, 0.2, 0.9, 0.4];
    const objectives = parseStudyConfig(
      `zoo: ${zooDir}
space: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}
objectives:
  - {name: em, task: sort, evaluator: exact_match}
  - {name: loss, task: sort, evaluator: token_loss}
  - {name: ppl, task: sort, evaluator: perplexity}
  - {name: ent, task: lookup, evaluator: prompt_entropy, split: validation}
optimizer: random
budget: {trials: 1}
`,
      'objectives.yaml',
    ).objectives as ZooObjective[];
    const problem = problemOf(s, objectives, 24);
    const merged = problem.mergeCandidate(x);
    const r = problem.score(merged, problem.objectives);
    expect(problem.objectives.map((o) => o.direction)).toEqual(['maximize', 'minimize', 'minimize', 'minimize']);
    // token_loss and perplexity share one scorer run: 24 + 24 + 24 examples.
    expect(r.evaluations).toBe(72);
    const params = toTf(merged);
    try {
      // The subsample: 24 of the 64 calibration examples, drawn from the study's seed; re-derived here.
      const sub = (task: string, split: 'calibration' | 'validation') => Array.from(subsampleIndices(64, 24, 4), (i) => lmExamples(zoo, task, split)[i]!);
      const sortEx = sub('sort', 'calibration');
      const em = exactMatch(params, zoo.config, sortEx, { stop: zoo.stop, batchSize: 7 }).exactMatch;
      const tl = tokenLoss(params, zoo.config, sortEx, { suffix: [zoo.eos], batchSize: 5 }).loss;
      const ent = promptEntropy(params, zoo.config, sub('lookup', 'validation').map((e) => e.prompt), { batchSize: 3 });
      expect(r.values[0]).toBe(em);
      expect(r.values[1]).toBeCloseTo(tl, 5);
      expect(r.values[2]).toBeCloseTo(Math.exp(r.values[1]!), 10);
      expect(r.values[3]).toBeCloseTo(ent, 5);
      // The test-split override scores the same objectives on the test split.
      const onTest = scoreLmObjectives(zoo, params, problem.objectives.slice(0, 1), { samples: 24, seed: 4, splitOverride: 'test' });
      expect(onTest.values[0]).toBe(exactMatch(params, zoo.config, Array.from(subsampleIndices(128, 24, 4), (i) => lmExamples(zoo, 'sort', 'test')[i]!), { stop: zoo.stop }).exactMatch);
    } finally {
      tf.dispose(Object.values(params));
    }
  });
});

describe('DifferentiableZoo', () => {
  it(`builds the candidate of the exact merge code: task arithmetic (any x, lambda 0.7), and ties normalize false with uniform x, within ${MERGE_TOL}`, () => {
    const s = space('layer', 'task_arithmetic', { lambda: 0.7 });
    const x = spread(s.dim, 1);
    const d = new DifferentiableZoo(zoo, s);
    try {
      expect(maxAbsDiff(d.mergedHost(x), problemOf(s).mergeCandidate(x))).toBeLessThan(MERGE_TOL);
      expect(maxAbsDiff(d.mergedHost(x), taskArithmetic64(s, x, 0.7))).toBeLessThan(MERGE_TOL);
    } finally {
      d.dispose();
    }
    const ties = space('tensor', 'ties', { density: 0.4, normalize: false });
    const uniform = new Array<number>(ties.dim).fill(0.6);
    const dt = new DifferentiableZoo(zoo, ties);
    try {
      expect(maxAbsDiff(dt.mergedHost(uniform), problemOf(ties).mergeCandidate(uniform))).toBeLessThan(MERGE_TOL);
    } finally {
      dt.dispose();
    }
  });

  it(`prompt entropy and answer-token loss, and their gradients in x, match a float64 forward with central differences (gradient within ${GRAD_REL_TOL} of its largest entry)`, () => {
    const s = space('layer');
    const d = new DifferentiableZoo(zoo, s);
    const x = spread(s.dim, 2);
    const batch = 3;
    const seed = 11;
    try {
      const sets = zoo.tasks.map((_, i) => picks(d, i, batch, seed));
      for (const [labels, f] of [
        [false, entropy64],
        [true, answerLoss64],
      ] as const) {
        const { loss, grad } = d.entropyAndGrad(x, batch, seed, { labels });
        expect(Math.abs(loss - f(taskArithmetic64(s, x), sets)), `loss, labels ${labels}`).toBeLessThan(LOSS_TOL);
        const h = 1e-5;
        const fd = x.map((_, j) => {
          const up = x.slice();
          const down = x.slice();
          up[j]! += h;
          down[j]! -= h;
          return (f(taskArithmetic64(s, up), sets) - f(taskArithmetic64(s, down), sets)) / (2 * h);
        });
        const scale = Math.max(...fd.map(Math.abs));
        const err = Math.max(...grad.map((g, j) => Math.abs(g - fd[j]!)));
        console.log(`${labels ? 'answer-token loss' : 'prompt entropy'} gradient: max |Δ| ${err.toExponential(2)} (largest entry ${scale.toExponential(2)})`);
        expect(scale).toBeGreaterThan(1e-3);
        expect(err).toBeLessThan(GRAD_REL_TOL * scale);
      }
      // The value-only path agrees with the gradient path, and with the evaluator on the same prompts.
      const value = d.entropyValue(x, batch, seed);
      expect(value).toBeCloseTo(d.entropyAndGrad(x, batch, seed).loss, 5);
      const params = toTf(d.mergedHost(x));
      try {
        const perTask = sets.map((ex) => promptEntropy(params, zoo.config, ex.map((e) => e.prompt)));
        expect(value).toBeCloseTo(perTask.reduce((a, b) => a + b, 0), 4);
        // labelledLossAndGrad: the mean over the asked tasks of tokenLoss on the same examples.
        const { loss } = d.labelledLossAndGrad(x, batch, seed, [1, 3]);
        const tl = [1, 3].map((i) => tokenLoss(params, zoo.config, sets[i]!, { suffix: [zoo.eos] }).loss);
        expect(loss).toBeCloseTo((tl[0]! + tl[1]!) / 2, 4);
      } finally {
        tf.dispose(Object.values(params));
      }
    } finally {
      d.dispose();
    }
  });

  it('the oracle: gradients in the merged weights agree with the x gradient (chain rule), and cosines equal a float64 computation', () => {
    const s = space('task');
    const d = new DifferentiableZoo(zoo, s);
    const x = [0.3, 0.5, 0.7, 0.4];
    try {
      const { loss, grads } = d.labelledLossAndGrad(x, 4, 5);
      // ∂L/∂x_k = Σ_t ⟨∂L/∂θ_t, τ_k,t⟩ (lambda 1), against the x gradient of the same mean loss.
      const viaX = d.entropyAndGrad(x, 4, 5, { labels: true });
      expect(viaX.loss / zoo.tasks.length).toBeCloseTo(loss, 5);
      const chain = zoo.experts.map((e) => {
        let acc = 0;
        for (const t of tensors) {
          const g = grads.get(t)!;
          const b = zoo.base.get(t)!.values;
          const w = e.get(t)!.values;
          for (let i = 0; i < g.length; i++) acc += g[i]! * (w[i]! - b[i]!);
        }
        return acc;
      });
      const scale = Math.max(...chain.map(Math.abs));
      chain.forEach((c, k) => expect(Math.abs(c - viaX.grad[k]! / zoo.tasks.length), `model ${k}`).toBeLessThan(1e-3 * scale));

      // Cosines: Σ over tensors of cos(∇_t, candidate_t), candidates = each expert's weights (the vertices).
      const candidates = zoo.tasks.map((_, k) => d.vertex(k));
      const { cosine } = d.alignment(x, { candidates, samples: 4, sampleSeed: 5, against: 'weights' });
      expect(cosine.length).toBe(1);
      zoo.experts.forEach((e, k) => {
        let sum = 0;
        for (const t of tensors) {
          const g = grads.get(t)!;
          const w = e.get(t)!.values;
          let dot = 0;
          let gg = 0;
          let ww = 0;
          for (let i = 0; i < g.length; i++) {
            dot += g[i]! * w[i]!;
            gg += g[i]! * g[i]!;
            ww += w[i]! * w[i]!;
          }
          sum += dot / Math.sqrt(gg * ww);
        }
        expect(Math.abs(cosine[0]![k]! - sum), `expert ${k}`).toBeLessThan(1e-4);
      });
    } finally {
      d.dispose();
    }
  });

  it('refuses logit_scale (no cosine head) and a space it cannot differentiate, and leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const d = new DifferentiableZoo(zoo, space('task'));
    d.entropyAndGrad([0.3, 0.3, 0.3, 0.3], 2, 1);
    d.labelledLossAndGrad([0.3, 0.3, 0.3, 0.3], 2, 1);
    expectCode(() => d.entropyAndGrad([0.3, 0.3, 0.3, 0.3], 2, 1, { logitScale: 5 }), 'SEARCH_E_SPACE', 'logit_scale');
    d.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expectCode(() => new DifferentiableZoo(zoo, new SearchSpace({ method: 'widen', granularity: 'task', parameters: TA_WEIGHT }, tensors, zoo.tasks)), 'SEARCH_E_SPACE');
  });
});

describe('golden traces of the gradient optimizers on a language-model zoo (committed in test/golden/)', () => {
  it.each([
    ['adamerging-lm-entropy', 'adamerging', 'layer', { steps: 4, eval_every: 2, batch: 3 }],
    ['adamerging-lm-answer-loss', 'adamerging', 'task', { steps: 4, eval_every: 2, batch: 3, loss: 'cross_entropy' }],
    ['frank-wolfe-hard-lm', 'frank-wolfe', 'task', { variant: 'hard', iterations: 2, samples: 4 }],
  ] as const)('%s', (name, optimizerName, granularity, settings) => {
    const s = space(granularity);
    const p = new DifferentiableZoo(zoo, s);
    try {
      const o = getOptimizer(optimizerName);
      const ctx = contextFor(s, [{ name: 'em', direction: 'maximize' }], { seed: 5, budget: 100, settings: resolveSettings(o, settings as unknown as Record<string, Json>), gradient: p });
      let state = o.init(ctx);
      const proposals: Array<{ x: number[]; intermediate: unknown }> = [];
      for (let i = 0; i < 3; i++) {
        const r = o.ask(state, ctx);
        if (r.kind !== 'propose') break;
        state = o.tell(r.state, ctx, r.proposal, [0.5]);
        proposals.push({ x: r.proposal.x, intermediate: r.proposal.intermediate ?? null });
      }
      expect(proposals.length).toBeGreaterThan(0);
      expectGolden(`gradient-${name}`, proposals, 9);
    } finally {
      p.dispose();
    }
  }, 120_000);
});

describe('study configs on a language-model zoo', () => {
  const cfg = (objectives: string) => `zoo: ${zooDir}\nspace: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: ${objectives}\noptimizer: random\nbudget: {trials: 1}\n`;

  it('defaults to exact_match (maximised) and accepts the language-model evaluators', () => {
    const c = parseStudyConfig(cfg('{tasks: all}'), 'lm.yaml');
    const problem = new ZooProblem(zoo, c);
    expect(problem.objectives.map((o) => [o.name, o.evaluator, o.direction])).toEqual(zoo.tasks.map((t) => [t, 'exact_match', 'maximize']));
    for (const ev of ['token_loss', 'perplexity', 'prompt_entropy']) {
      expect((parseStudyConfig(cfg(`{tasks: all, evaluator: ${ev}}`), 'lm.yaml').objectives[0] as ZooObjective).direction).toBe('minimize');
    }
  });

  it('refuses classifier evaluators with the names that work', () => {
    expectCode(() => parseStudyConfig(cfg('{tasks: all, evaluator: accuracy}'), 'lm.yaml'), 'CONFIG_E_FIELD', 'accuracy', 'exact_match', 'language models');
  });
});

describe('every optimizer on a language-model zoo', () => {
  const db = () => path.join(tmp.dir, 'studies.db');
  const study = (name: string, granularity: string, optimizer: string, trials: number, method = 'task_arithmetic', fixed = '') =>
    parseStudyConfig(
      `name: ${name}
seed: 3
zoo: ${zooDir}
space: {method: ${method}, granularity: ${granularity}, parameters: {weight: {low: 0, high: 1.5, init: 0.3}}${fixed}}
objectives: {tasks: [sort, lookup], evaluator: exact_match}
samples: 12
optimizer: ${optimizer}
budget: {trials: ${trials}}
`,
      `${name}.yaml`,
    );
  const cases: [string, StudyConfig, number][] = [];
  beforeAll(() => {
    cases.push(
      ['random', study('random', 'layer', 'random', 3), 3],
      ['grid', study('grid', 'task', '{name: grid, points_per_dim: 2}', 16), 16],
      ['cmaes', study('cmaes', 'task', 'cmaes', 6), 6],
      ['nsga2', study('nsga2', 'task', '{name: nsga2, population: 4}', 8), 8],
      ['map', study('map', 'task', '{name: map, plan_points: 15, front_points: 2, nsga_population: 8, nsga_generations: 4}', 17), 17],
      ['adamerging', study('adamerging', 'tensor', '{name: adamerging, steps: 4, eval_every: 2, batch: 2}', 5), 2],
      ['adamerging++', study('adamerging-plus', 'tensor', '{name: adamerging, steps: 2, eval_every: 2, batch: 2}', 5, 'ties', ', fixed: {density: 0.5, normalize: false}'), 1],
      ['frank-wolfe hard', study('fw-hard', 'task', '{name: frank-wolfe, variant: hard, iterations: 2, samples: 4}', 5), 2],
      ['frank-wolfe soft', study('fw-soft', 'layer', '{name: frank-wolfe, variant: soft, iterations: 2, samples: 4, ada_steps: 2, ada_batch: 2}', 5), 2],
    );
  });

  it('each runs to its own end or the budget, and every trial holds two exact matches in [0, 1]', async () => {
    for (const [label, config, trials] of cases) {
      const r = await runStudy({ config, db: db() });
      expect(r.trials, label).toBe(trials);
      const store = StudyStore.open(db());
      try {
        const rows = store.trials(store.getStudy(config.name).id).filter((t) => t.state === 'COMPLETE');
        expect(rows.length, label).toBe(trials);
        for (const t of rows) {
          expect(t.values!.length).toBe(2);
          for (const v of t.values!) expect(v >= 0 && v <= 1 && Math.round(v * 12) === v * 12, `${label}: ${v}`).toBe(true);
        }
      } finally {
        store.close();
      }
    }
  }, 600_000);

  it('an exported trial scores exactly what the study recorded', async () => {
    const out = path.join(tmp.dir, 'export-cmaes');
    await exportTrial({ db: db(), study: 'cmaes', trial: 4, out, threads: 1 });
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).architectures).toEqual(['LlamaForCausalLM']);
    const rows = rescoreExport(db(), 'cmaes', 4, out);
    expect(rows.map((r) => r.objective)).toEqual(['sort', 'lookup']);
    for (const row of rows) expect(row.rescored, row.objective).toBe(row.recorded);
  });
});
