// The benchmark-family abstraction: the registry's answers (built-in names, detection by manifest,
// clear errors for missing or foreign zoos), and a third family defined here — a toy linear model
// with two regression tasks — run through the one ZooProblem, the one DifferentiableZoo and the
// trial loop without any of them knowing it. Its values and gradients are checked against a
// float64 computation by hand (tolerance: 1e-9 for values computed in float64 JS, 1e-4 relative
// for the tfjs float32 gradient).
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostParams } from '../src/merge/host-merge.ts';
import { DifferentiableZoo } from '../src/search/differentiable-zoo.ts';
import { runTrials } from '../src/search/loop.ts';
import { getOptimizer, resolveSettings } from '../src/search/optimizers/index.ts';
import type { ZooObjective } from '../src/search/study-config.ts';
import { ZooProblem } from '../src/search/zoo-problem.ts';
import { StudyStore } from '../src/study/index.ts';
import { initEngine } from '../src/tensor/engine.ts';
import type { BenchmarkFamily, FamilyObjective, LoadedZoo, LossTerms, ZooScorer } from '../src/zoo/family.ts';
import { BUILTIN_ZOOS, familyOfDir, familyOfZoo, isBuiltinZoo, readZooManifest } from '../src/zoo/registry.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { contextFor } from './helpers/optimizer-context.ts';

const tmp = makeTmp('ms-zoo-family-');
afterAll(() => tmp.cleanup());
beforeAll(async () => {
  await initEngine('wasm');
});

describe('the registry', () => {
  it('knows every family by name and its -tiny build, and detects folders by their manifest', () => {
    expect([...BUILTIN_ZOOS]).toEqual(['mnist8', 'mnist8-tiny', 'skills4', 'skills4-tiny', 'sft4', 'sft4-tiny']);
    expect(familyOfZoo('skills4-tiny')!.name).toBe('skills4');
    expect(familyOfZoo('sft4')!.name).toBe('sft4');
    expect(familyOfZoo('mnist8')!.name).toBe('mnist8');
    expect(isBuiltinZoo('mnist9')).toBe(false);
    const dir = path.join(tmp.dir, 'lm');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ benchmark: 'skills4', tasks: ['a'], base: 'base', experts: { a: 'a' }, data: {} }));
    expect(familyOfDir(dir).name).toBe('skills4');
    expect(familyOfZoo(dir)!.evaluators[0]!.name).toBe('exact_match');
  });

  it('a missing folder is named as given (an absolute path is not prefixed), with how to build one', () => {
    const missing = path.join(tmp.dir, 'nowhere');
    const e = expectCode(() => readZooManifest(missing), 'IO_E_NOT_FOUND', missing, 'zoo build');
    expect(e.message).not.toContain('zoo//');
    expect(familyOfZoo(missing)).toBeUndefined();
  });

  it('a foreign or incomplete manifest is IO_E_CONFIG naming the file and the known families', () => {
    const foreign = path.join(tmp.dir, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'manifest.json'), JSON.stringify({ benchmark: 'vit8', tasks: [], base: 'b', experts: {}, data: {} }));
    expectCode(() => familyOfDir(foreign), 'IO_E_CONFIG', 'vit8', 'mnist8', 'skills4', path.join(foreign, 'manifest.json'));
    const partial = path.join(tmp.dir, 'partial');
    fs.mkdirSync(partial);
    fs.writeFileSync(path.join(partial, 'manifest.json'), JSON.stringify({ benchmark: 'mnist8', tasks: ['plain'] }));
    expectCode(() => readZooManifest(partial), 'IO_E_CONFIG', 'lacks tasks, base, experts or data');
  });
});

// ---------------------------------------------------------------------------------------------
// A third family, as a new adapter would define it: one weight vector w (3 entries); task t's
// examples are (x, y) with y = w_t·x; a model is scored by −MSE (maximised), and its loss is the MSE.

const X: Record<string, number[][]> = {
  up: [
    [1, 0, 2],
    [0, 1, -1],
    [2, 1, 0],
    [1, -1, 1],
  ],
  down: [
    [-1, 2, 0],
    [0, 0, 1],
    [3, -1, 2],
  ],
};
const W0 = [0.5, -0.5, 0.25];
const WT: Record<string, number[]> = { up: [1.5, 0.5, 0.75], down: [-0.5, 1, 1.25] };
const TASKS = ['up', 'down'];
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const Y = Object.fromEntries(TASKS.map((t) => [t, X[t]!.map((x) => dot(WT[t]!, x))]));
const mse64 = (w: readonly number[], t: string, rows = X[t]!.map((_, i) => i)) => rows.reduce((s, i) => s + (dot(w, X[t]![i]!) - Y[t]![i]!) ** 2, 0) / rows.length;

const host = (w: number[]): HostParams => new Map([['w', { shape: [3], values: Float32Array.from(w) }]]);

class ToyScorer implements ZooScorer {
  score(params: HostParams, objectives: readonly FamilyObjective[]) {
    const w = Array.from(params.get('w')!.values);
    return { values: objectives.map((o) => -mse64(w, o.task)), evaluations: objectives.reduce((s, o) => s + X[o.task]!.length, 0) };
  }
  close(): void {}
}

class ToyLosses implements LossTerms {
  count(task: number): number {
    return X[TASKS[task]!]!.length;
  }
  checkOptions(): void {}
  adaptationLoss(params: Record<string, tf.Tensor>, task: number, indices: Uint32Array): tf.Scalar {
    return this.labelledLoss(params, task, indices);
  }
  labelledLoss(params: Record<string, tf.Tensor>, task: number, indices: Uint32Array): tf.Scalar {
    const t = TASKS[task]!;
    const rows = Array.from(indices);
    const x = tf.tensor2d(rows.map((i) => X[t]![i]!));
    const y = tf.tensor1d(rows.map((i) => Y[t]![i]!));
    return tf.mean(tf.square(tf.sub(tf.squeeze(tf.matMul(x, tf.reshape(params.w!, [3, 1]))), y))) as tf.Scalar;
  }
  dispose(): void {}
}

const toyFamily: BenchmarkFamily = {
  name: 'toy',
  holds: 'linear models',
  summary: 'two linear regression tasks (test only)',
  buildTime: { full: 'instant', tiny: 'instant' },
  splits: ['calibration'],
  evaluators: [{ name: 'neg_mse', direction: 'maximize', needsLabels: true }],
  mergesTensor: () => true,
  tensorOwner: () => -1,
  build: () => {
    throw new Error('the toy family is made in memory');
  },
  load: () => toyZoo,
  evalCheckpoint: () => ({ json: {}, lines: [] }),
};

const toyZoo: LoadedZoo = {
  family: toyFamily,
  dir: 'toy',
  manifest: { benchmark: 'toy', tasks: TASKS, base: 'base', experts: { up: 'up', down: 'down' }, data: {} },
  tasks: TASKS,
  expertNames: TASKS,
  expertTasks: TASKS,
  base: host(W0),
  experts: TASKS.map((t) => host(WT[t]!)),
  numLayers: 1,
  mergedTensors: ['w'],
  scorer: () => new ToyScorer(),
  lossTerms: () => new ToyLosses(),
  readCheckpoint: () => host(W0),
};

const objectives: ZooObjective[] = TASKS.map((t) => ({ kind: 'zoo', name: t, evaluator: 'neg_mse', task: t, split: 'calibration', direction: 'maximize' }));
const space = { method: 'task_arithmetic', granularity: 'task' as const, parameters: { weight: { low: 0, high: 1, init: 0.3 } } };
const merged = (x: readonly number[]) => W0.map((b, j) => b + TASKS.reduce((s, t, k) => s + x[k]! * (WT[t]![j]! - b), 0));

describe('a third family through the one problem, gradient problem and trial loop', () => {
  it('ZooProblem merges its tensors with the exact merge code and scores them with its scorer', async () => {
    const p = new ZooProblem(toyZoo, { name: 'toy', seed: 0, space, objectives });
    try {
      for (const x of [
        [0.3, 0.3],
        [1, 0],
        [0.2, 0.9],
      ]) {
        const e = await p.evaluate(x);
        // float32 weights against the float64 formula: within 1e-5 of the value.
        TASKS.forEach((t, i) => expect(Math.abs(e.values[i]! - -mse64(merged(x), t))).toBeLessThan(1e-5));
        expect(e.evaluations).toBe(7);
      }
      // Expert "up" alone (weight 1 on it, 0 on the other) fits its own task exactly.
      expect((await p.evaluate([1, 0])).values[0]).toBeCloseTo(0, 9);
      expect(p.description).toContain('(toy)');
    } finally {
      p.close();
    }
  });

  it('refuses an evaluator the family does not have, naming the ones it has', () => {
    const bad: ZooObjective[] = [{ ...objectives[0]!, evaluator: 'accuracy' }];
    expectCode(() => new ZooProblem(toyZoo, { name: 'toy', seed: 0, space, objectives: bad }), 'CONFIG_E_FIELD', 'accuracy', 'neg_mse', 'toy');
  });

  it('DifferentiableZoo: the loss and its gradient in x equal the analytic float64 ones', () => {
    const d = new DifferentiableZoo(toyZoo, new ZooProblem(toyZoo, { name: 'toy', seed: 0, space, objectives }).space);
    try {
      const x = [0.4, 0.7];
      // All examples of each task (batch ≥ count takes every one).
      const { loss, grad } = d.entropyAndGrad(x, 10, 3);
      const w = merged(x);
      const want = TASKS.reduce((s, t) => s + mse64(w, t), 0);
      // d/dx_k Σ_t mean_i r_i² = Σ_t mean_i 2 r_i (τ_k · x_i), τ_k = w_k − w_0.
      const wantGrad = TASKS.map((_, k) => {
        const tau = WT[TASKS[k]!]!.map((v, j) => v - W0[j]!);
        return TASKS.reduce((s, t) => s + X[t]!.reduce((a, xi, i) => a + 2 * (dot(w, xi) - Y[t]![i]!) * dot(tau, xi), 0) / X[t]!.length, 0);
      });
      expect(Math.abs(loss - want) / want).toBeLessThan(1e-5);
      wantGrad.forEach((g, k) => expect(Math.abs(grad[k]! - g)).toBeLessThan(1e-4 * Math.max(...wantGrad.map(Math.abs))));
    } finally {
      d.dispose();
    }
  });

  it('the trial loop runs a study over it: every trial COMPLETE with the values the scorer gives', async () => {
    const p = new ZooProblem(toyZoo, { name: 'toy', seed: 0, space, objectives });
    const optimizer = getOptimizer('random');
    const ctx = contextFor(p.space, objectives, { seed: 1, budget: 6, settings: resolveSettings(optimizer, {}) });
    const store = StudyStore.open(path.join(tmp.dir, 'toy.db'));
    try {
      const study = store.createStudy({ name: 'toy', config: {}, backend: 'wasm', seed: 1, optimizer: 'random', objectives });
      const r = await runTrials({ store, study, problem: p, optimizer, ctx, budget: { trials: 6 } });
      expect(r).toEqual({ reason: 'budget', trials: 6 });
      const rows = store.trials(study.id);
      expect(rows.map((t) => t.state)).toEqual(Array(6).fill('COMPLETE'));
      for (const t of rows) TASKS.forEach((task, i) => expect(Math.abs(t.values![i]! - -mse64(merged(t.x), task))).toBeLessThan(1e-5));
    } finally {
      store.close();
      p.close();
    }
  });
});
