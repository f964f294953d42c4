// npm run bench:eval -- --lm --zoo DIR [--candidates N] [--samples S]
// Candidates scored per second on a skills4 (language-model) zoo: each candidate is a task
// arithmetic merge of the experts (its own weights per expert, built in memory) scored on every
// task's exact match (greedy generation) on the calibration split and token loss on the validation
// split, S examples each (a seeded subsample, what a study scores). Two scorers in the same run:
//   batched:  scoreLmHostParams, the scorer studies use — each scorer's batches span tasks (one
//             forward per generation step over a batch of prompts from every task);
//   per task: the same scorers run one (task, split) at a time, as the scorer did before batching.
// Their exact-match counts must be equal (printed). Baseline in the same run: tfjs's matmul
// throughput ([4096, 256] × [256, 256], GFLOP/s) on the same backend, so runs on a loaded machine
// compare by candidates/s per baseline GFLOP/s as well as by their ratio.
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { clock } from './clock.ts';
import { exactMatch, tokenLoss } from '../../evaluators/lm.ts';
import type { HostParams } from '../../src/merge/host-merge.ts';
import type { LlamaParams } from '../../src/models/llama.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import type { FamilyObjective } from '../../src/zoo/family.ts';
import { lmObjectiveExamples, SCORE_BATCH, scoreLmHostParams } from '../../src/zoo/lm-scoring.ts';
import { seededRandom } from '../../src/zoo/mnist-data.ts';
import { loadLmZoo, type LoadedLmZoo } from '../../src/zoo/skills4-models.ts';


/** Task arithmetic in memory: base + Σ wᵢ (expertᵢ − base). */
function taskArithmetic(zoo: LoadedLmZoo, w: number[]): HostParams {
  const out: HostParams = new Map();
  for (const [n, b] of zoo.base) {
    const v = Float32Array.from(b.values);
    zoo.experts.forEach((e, k) => {
      const x = e.get(n)!.values;
      for (let i = 0; i < v.length; i++) v[i] = v[i]! + w[k]! * (x[i]! - b.values[i]!);
    });
    out.set(n, { values: v, shape: b.shape });
  }
  return out;
}

/** The scorer as it ran before batching across tasks: each (task, split, scorer) on its own. */
function perTask(zoo: LoadedLmZoo, merged: HostParams, objectives: FamilyObjective[], o: { samples: number; seed: number }): number[] {
  const params: LlamaParams = {};
  for (const [name, t] of merged) params[name] = tf.tensor(t.values, t.shape, 'float32');
  try {
    return objectives.map((ob) => {
      const ex = lmObjectiveExamples(zoo, ob.task, ob.split, o);
      return ob.evaluator === 'exact_match'
        ? exactMatch(params, zoo.config, ex, { stop: zoo.stop, batchSize: SCORE_BATCH }).exactMatch
        : tokenLoss(params, zoo.config, ex, { suffix: [zoo.eos], batchSize: SCORE_BATCH }).loss;
    });
  } finally {
    tf.dispose(Object.values(params));
  }
}

function matmulGflops(): { wall: number; cpu: number } {
  const [M, K, N] = [4096, 256, 256];
  const a = tf.randomUniform([M, K]);
  const b = tf.randomUniform([K, N]);
  tf.matMul(a, b).dataSync();
  const reps = 10;
  const t = clock(() => {
    for (let i = 0; i < reps; i++) {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    }
  });
  tf.dispose([a, b]);
  const g = (2 * M * K * N * reps) / 1e9;
  return { wall: g / t.wall, cpu: g / t.cpu };
}

export async function benchLm(args: string[]): Promise<void> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
  const zooDir = flag('--zoo');
  if (!zooDir) throw new Error('--lm needs --zoo DIR (a skills4 zoo: npx mergesearch zoo build skills4, or a tiny one from the test cache)');
  const count = Number(flag('--candidates') ?? 6);
  const samples = Number(flag('--samples') ?? 32);
  const engine = await initEngine('auto');
  const zoo = loadLmZoo(zooDir);
  const objectives: FamilyObjective[] = zoo.tasks.flatMap((task) => [
    { name: `${task}-em`, evaluator: 'exact_match', task, split: 'calibration' },
    { name: `${task}-loss`, evaluator: 'token_loss', task, split: 'validation' },
  ]);
  const o = { samples, seed: 0 };
  const load0 = os.loadavg()[0]!;
  const base0 = matmulGflops();
  const rand = seededRandom(1);
  const cands = Array.from({ length: count + 1 }, () => taskArithmetic(zoo, zoo.experts.map(() => 0.1 + 0.4 * rand())));
  // One warm-up candidate each, then the timed ones, the two scorers alternating per candidate.
  scoreLmHostParams(zoo, cands[0]!, objectives, o);
  perTask(zoo, cands[0]!, objectives, o);
  let batched = { wall: 0, cpu: 0 };
  let single = { wall: 0, cpu: 0 };
  let unequal = 0;
  let maxLossDiff = 0;
  let correct = 0;
  for (const c of cands.slice(1)) {
    const a = clock(() => scoreLmHostParams(zoo, c, objectives, o).values);
    const b = clock(() => perTask(zoo, c, objectives, o));
    batched = { wall: batched.wall + a.wall, cpu: batched.cpu + a.cpu };
    single = { wall: single.wall + b.wall, cpu: single.cpu + b.cpu };
    objectives.forEach((ob, i) => {
      if (ob.evaluator === 'exact_match') {
        correct += Math.round(b.value[i]! * samples);
        if (Math.round(a.value[i]! * samples) !== Math.round(b.value[i]! * samples)) unequal++;
      } else maxLossDiff = Math.max(maxLossDiff, Math.abs(a.value[i]! - b.value[i]!));
    });
  }
  const base1 = matmulGflops();
  const bw = (base0.wall + base1.wall) / 2;
  const bc = (base0.cpu + base1.cpu) / 2;
  const f = (x: number, d = 2) => x.toFixed(d);
  const cfg = zoo.config;
  console.log(`skills4 candidates (${zooDir}): hidden ${cfg.hiddenSize}, ${cfg.numLayers} layers, vocabulary ${cfg.vocabSize}; tfjs backend ${engine.backend}`);
  console.log(`${count} candidates, ${zoo.tasks.length} tasks × (exact match on ${samples} calibration + token loss on ${samples} validation examples)`);
  console.log('                              wall clock                per CPU second       per baseline GFLOP/s (wall)');
  const row = (name: string, t: { wall: number; cpu: number }) => console.log(`${name.padEnd(30)}${f(count / t.wall).padEnd(26)}${f(count / t.cpu).padEnd(21)}${f(count / t.wall / bw, 4)}`);
  row('batched across tasks', batched);
  row('per task (before)', single);
  console.log(`speed-up                      ${f(single.wall / batched.wall).padEnd(26)}${f(single.cpu / batched.cpu)}`);
  console.log(`tfjs matmul baseline          ${`${f(bw, 1)} GFLOP/s`.padEnd(26)}${f(bc, 1)} GFLOP per CPU second   (wall: before ${f(base0.wall, 1)}, after ${f(base1.wall, 1)})`);
  console.log(`exact-match counts            ${unequal === 0 ? 'equal' : `${unequal} UNEQUAL`} on ${count * zoo.tasks.length} (candidate, task) pairs (${correct} answers right in all); token loss max |difference| ${maxLossDiff.toExponential(2)}`);
  console.log(`load average (1 min)          ${f(load0)} at start, ${f(os.loadavg()[0]!)} at end, on ${os.availableParallelism()} cores`);
}
