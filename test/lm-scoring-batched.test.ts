// Scoring a language-model zoo batches prompts across tasks: greedy generation, teacher forcing and
// the entropy forward each run over all tasks' examples together (exactMatchGroups, tokenLossGroups,
// promptEntropyGroups, used by scoreLmObjectives and scoreSkillsParams). Every task's value must be
// what the per-task scorer gives on that task's examples alone: exact-match counts equal, losses
// and entropies within LOSS_TOL (a row's floats may round differently in another batch's matmuls).
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactMatch, exactMatchGroups, promptEntropy, tokenLoss } from '../evaluators/lm.ts';
import type { LlamaParams } from '../src/models/llama.ts';
import { initEngine } from '../src/tensor/engine.ts';
import type { FamilyObjective } from '../src/zoo/family.ts';
import { lmObjectiveExamples, scoreLmObjectives } from '../src/zoo/lm-scoring.ts';
import { readSkillData, readSkills4Manifest, scoreExamples, scoreSkillsParams } from '../src/zoo/skills4-eval.ts';
import { lmExamples, loadLmZoo, type LoadedLmZoo } from '../src/zoo/skills4-models.ts';
import type { HostParams } from '../src/merge/host-merge.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { copyTinyZoo, TINY_SKILLS4_FAST } from './helpers/tiny-zoos.ts';

/** Relative tolerance on token losses and entropies (nats). */
const LOSS_TOL = 1e-5;

const tmp = makeTmp('ms-lm-batched-');
let zooDir: string;
let zoo: LoadedLmZoo;

beforeAll(async () => {
  await initEngine('wasm');
  zooDir = await copyTinyZoo(TINY_SKILLS4_FAST, path.join(tmp.dir, 'skills4-tiny'));
  zoo = loadLmZoo(zooDir);
}, 1_800_000);
afterAll(() => tmp.cleanup());

function toTf(p: HostParams): LlamaParams {
  const out: LlamaParams = {};
  for (const [n, t] of p) out[n] = tf.tensor(t.values, t.shape, 'float32');
  return out;
}

/** The base, one expert, and the experts' mean task vector added to the base (a merged model). */
function models(): Array<[string, HostParams]> {
  const merged: HostParams = new Map();
  for (const [n, b] of zoo.base) {
    const v = Float32Array.from(b.values);
    for (const e of zoo.experts) {
      const x = e.get(n)!.values;
      for (let i = 0; i < v.length; i++) v[i] = v[i]! + (x[i]! - b.values[i]!) / zoo.experts.length;
    }
    merged.set(n, { values: v, shape: b.shape });
  }
  return [['base', zoo.base], ['expert 0', zoo.experts[0]!], ['mean of the experts', merged]];
}

const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(LOSS_TOL * Math.max(1, Math.abs(b)));

describe('batched language-model scoring', () => {
  it('scoreLmObjectives: every task\'s exact match, token loss, perplexity and entropy equal the per-task scorers run alone', () => {
    const objectives: FamilyObjective[] = zoo.tasks.flatMap((task) => [
      { name: `${task}-em`, evaluator: 'exact_match', task, split: 'calibration' },
      { name: `${task}-loss`, evaluator: 'token_loss', task, split: 'validation' },
      { name: `${task}-ppl`, evaluator: 'perplexity', task, split: 'validation' },
      { name: `${task}-ent`, evaluator: 'prompt_entropy', task, split: 'calibration' },
    ]);
    const o = { samples: 24, seed: 4 };
    let correct = 0;
    for (const [what, host] of models()) {
      const params = toTf(host);
      try {
        const r = scoreLmObjectives(zoo, params, objectives, o);
        // token_loss and perplexity share a run: 3 × 24 examples per task.
        expect(r.evaluations).toBe(zoo.tasks.length * 72);
        zoo.tasks.forEach((task, t) => {
          const cal = lmObjectiveExamples(zoo, task, 'calibration', o);
          const val = lmObjectiveExamples(zoo, task, 'validation', o);
          const em = exactMatch(params, zoo.config, cal, { stop: zoo.stop, batchSize: cal.length });
          const tl = tokenLoss(params, zoo.config, val, { suffix: [zoo.eos], batchSize: 8 });
          const ent = promptEntropy(params, zoo.config, cal.map((e) => e.prompt), { batchSize: 8 });
          expect(Math.round(r.values[4 * t]! * 24), `${what}, ${task}: exact-match count`).toBe(Math.round(em.exactMatch * 24));
          close(r.values[4 * t + 1]!, tl.loss);
          close(r.values[4 * t + 2]!, tl.perplexity);
          close(r.values[4 * t + 3]!, ent);
          correct += Math.round(em.exactMatch * 24);
        });
      } finally {
        tf.dispose(Object.values(params));
      }
    }
    // The comparison means something only if some answers are right.
    expect(correct).toBeGreaterThan(0);
  });

  it('exactMatchGroups gives each task the generations exactMatch gives on that task alone', () => {
    const groups = zoo.tasks.map((task) => lmExamples(zoo, task, 'test').slice(0, 20));
    const params = toTf(zoo.experts[1]!);
    try {
      // Batches of 32 span tasks (20 prompts per task); each task's own maxNewTokens cuts its rows.
      const together = exactMatchGroups(params, zoo.config, groups, { stop: zoo.stop, batchSize: 32 });
      groups.forEach((g, i) => {
        const alone = exactMatch(params, zoo.config, g, { stop: zoo.stop, batchSize: 20 });
        expect(together[i]!.generated).toEqual(alone.generated);
        expect(together[i]!.correct).toEqual(alone.correct);
        expect(together[i]!.exactMatch).toBe(alone.exactMatch);
      });
    } finally {
      tf.dispose(Object.values(params));
    }
  });

  it('scoreSkillsParams (all tasks together) equals scoreExamples on each task alone', () => {
    const manifest = readSkills4Manifest(zooDir);
    const params = toTf(zoo.experts[2]!);
    try {
      const all = scoreSkillsParams(params, zoo.config, zoo.tokenizer, zooDir, 'test', { samples: 16 });
      expect(all.map((s) => s.task)).toEqual(manifest.tasks);
      manifest.tasks.forEach((task, i) => {
        const data = readSkillData(path.join(zooDir, manifest.data[task]!.test)).slice(0, 16);
        const alone = scoreExamples(params, zoo.config, zoo.tokenizer, task, data, 16);
        expect(all[i]!.samples).toBe(16);
        expect(Math.round(all[i]!.exactMatch * 16)).toBe(Math.round(alone.exactMatch * 16));
        close(all[i]!.loss, alone.loss);
        close(all[i]!.perplexity, alone.perplexity);
        close(all[i]!.entropy, alone.entropy);
      });
    } finally {
      tf.dispose(Object.values(params));
    }
  });
});
