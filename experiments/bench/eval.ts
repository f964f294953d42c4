// npm run bench:eval [-- --zoo DIR] [-- --candidates N] [-- --threads N]
// npm run bench:eval -- --lm --zoo DIR [--candidates N] [--samples S]: a skills4 (language-model) zoo
// instead, its scorer batched across tasks against per-task scoring (experiments/bench/eval-lm.ts).
// Candidates scored per second on mnist8: each candidate merges the eight experts' backbones in
// memory (task arithmetic with its own coefficients per expert) and scores all 8 tasks on 1,000
// calibration samples each (what a search trial does), without touching disk. Scoring is one
// forward pass over the 8,000 samples stacked (the merged backbone once, each task's head on its
// own rows) on the WebAssembly SIMD dense kernels, over --threads threads.
//
// Task arithmetic is linear in the experts, so its first layer (3/4 of the FLOPs) is combined from
// products computed once (FirstLayerBasis in src/models/mlp-rows-forward.ts); "equivalent" GFLOP/s
// count the full 4.3 GFLOP per candidate. TIES candidates (masked, not linear) are timed too: every
// layer multiplied out.
//
// Baselines measured in the same run: the dense kernel's throughput on one plain large matmul
// ([8000, 784] × [784, 256], GFLOP/s, one thread; the bound for T threads is T times it), numpy's
// (OpenBLAS, all its threads) on the same matmul when python3 + numpy are installed, and the tfjs
// per-task scoring path (the reference) on a few candidates. Prints candidates/s, the GFLOP/s they
// imply, their fraction of each bound, and the load average (the machine may be shared).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { clock } from './clock.ts';
import { defaultThreads } from '../../src/merge/executor.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import { DenseMemory, PANEL } from '../../src/tensor/wasm/forward-kernels.ts';
import { ClassifierScorer } from '../../src/zoo/classifier-scoring.ts';
import type { FamilyObjective } from '../../src/zoo/family.ts';
import { buildMnist8 } from '../../src/zoo/mnist8.ts';
import { seededRandom } from '../../src/zoo/mnist-data.ts';
import { loadClassifierZoo, mergeBackbone } from '../../src/zoo/zoo-models.ts';

const args = process.argv.slice(2);
const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
if (args.includes('--lm')) {
  const { benchLm } = await import('./eval-lm.ts');
  await benchLm(args);
  process.exit(0);
}
const zooDir = flag('--zoo') ?? 'zoo/mnist8';
const count = Number(flag('--candidates') ?? 20);
const threads = Number(flag('--threads') ?? Math.min(defaultThreads(), 2));
const engine = await initEngine('auto');
if (!fs.existsSync(`${zooDir}/manifest.json`)) buildMnist8({ out: zooDir, seed: 0, onLog: (l) => console.error(l) });
const zoo = loadClassifierZoo(zooDir);
const SAMPLES = 1000;
const objectives: FamilyObjective[] = zoo.tasks.map((task) => ({ name: task, evaluator: 'accuracy', task, split: 'calibration' }));
const cfg = zoo.config;

// FLOPs of one candidate's forward pass: every sample through the backbone and its head.
const rowsScored = zoo.tasks.length * SAMPLES;
let macsPerRow = 0;
[cfg.inputSize, ...cfg.hiddenSizes].reduce((fanIn, width) => ((macsPerRow += fanIn * width), width));
macsPerRow += cfg.hiddenSizes.at(-1)! * cfg.numClasses;
const gflopPerCandidate = (2 * rowsScored * macsPerRow) / 1e9;


/** GFLOP per wall second and per CPU second of the dense kernel on one thread: h = x·Wᵀ + b, x [8000, 784], W [256, 784]. */
function kernelGflops(): { wall: number; cpu: number } {
  const [R, K, O] = [rowsScored, cfg.inputSize, cfg.hiddenSizes[0]!];
  const mem = new DenseMemory(new Map([['x', R * K], ['w', O * K], ['p', O * K], ['b', O], ['h', R * O]]));
  const rand = seededRandom(7);
  mem.f32('x').set(Float32Array.from({ length: R * K }, () => rand() - 0.5));
  mem.f32('w').set(Float32Array.from({ length: O * K }, () => rand() - 0.5));
  mem.x.pack_panels(mem.ptr('w'), O, K, mem.ptr('p'));
  const run = () => mem.x.linear_rows(mem.ptr('x'), K, R, K, mem.ptr('p'), mem.ptr('b'), Math.ceil(O / PANEL) * PANEL, mem.ptr('h'));
  run();
  const reps = 5;
  const t = clock(() => {
    for (let i = 0; i < reps; i++) run();
  });
  const gflop = (2 * R * K * O * reps) / 1e9;
  return { wall: gflop / t.wall, cpu: gflop / t.cpu };
}

/** numpy's GFLOP per wall and per CPU second on the same matmul (all its BLAS threads), or undefined without python3 + numpy. */
function numpyGflops(): { wall: number; cpu: number } | undefined {
  const [R, K, O] = [rowsScored, cfg.inputSize, cfg.hiddenSizes[0]!];
  const code = `import numpy as np, time
x = np.random.rand(${R}, ${K}).astype(np.float32) - 0.5
w = np.random.rand(${O}, ${K}).astype(np.float32) - 0.5
x @ w.T
t, c = time.perf_counter(), time.process_time()
for _ in range(10): x @ w.T
g = ${2 * R * K * O} * 10 / 1e9
print(g / (time.perf_counter() - t), g / (time.process_time() - c))`;
  const r = spawnSync('python3', ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const [wall, cpu] = r.stdout.trim().split(' ').map(Number);
  return { wall: wall!, cpu: cpu! };
}

const taSpec = (rand: () => number) => ({ method: 'task_arithmetic', global: { lambda: 1 }, perModel: zoo.experts.map(() => ({ weight: 0.1 + 0.4 * rand() })) });
const tiesSpec = (rand: () => number) => ({ method: 'ties', global: { lambda: 1, density: 0.2 }, perModel: zoo.experts.map(() => ({ weight: 0.1 + 0.4 * rand() })) });

/** Seconds per candidate (building, scoring; CPU seconds of all threads) over n candidates on a scorer, after one warm-up. */
function timeCandidates(scorer: ClassifierScorer, n: number, spec = taSpec): { build: number; score: number; cpu: number } {
  const rand = seededRandom(1);
  scorer.score(mergeBackbone(zoo, spec(rand)), objectives);
  let build = 0;
  let score = 0;
  const all = clock(() => {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const b = mergeBackbone(zoo, spec(rand));
      const t1 = performance.now();
      scorer.score(b, objectives);
      build += t1 - t0;
      score += performance.now() - t1;
    }
  });
  return { build: build / 1000 / n, score: score / 1000 / n, cpu: all.cpu / n };
}

const load0 = os.loadavg()[0]!;
const kernel = kernelGflops();
const wasm = new ClassifierScorer(zoo, { seed: 0, samples: SAMPLES, forward: 'wasm', threads });
const ours = timeCandidates(wasm, count);
const combined = wasm.combinedRuns;
const ties = timeCandidates(wasm, Math.max(2, Math.round(count / 4)), tiesSpec);
const tiesCombined = wasm.combinedRuns - combined;
wasm.close();
const kernelAfter = kernelGflops();
const tfjs = new ClassifierScorer(zoo, { seed: 0, samples: SAMPLES, forward: 'tfjs' });
const reference = timeCandidates(tfjs, Math.min(3, count));
// The same candidates scored by both paths: accuracy counts must be equal (8 × 1,000 samples each).
const check = new ClassifierScorer(zoo, { seed: 0, samples: SAMPLES, forward: 'wasm', threads });
const checkRand = seededRandom(2);
let unequal = 0;
let checked = 0;
for (const spec of [taSpec, tiesSpec, taSpec, tiesSpec]) {
  const b = mergeBackbone(zoo, spec(checkRand));
  const a = check.score(b, objectives).values;
  const r = tfjs.score(b, objectives).values;
  a.forEach((v, i) => {
    checked++;
    if (Math.round(v * SAMPLES) !== Math.round(r[i]! * SAMPLES)) unequal++;
  });
}
check.close();
tfjs.close();
const numpy = numpyGflops();
const load1 = os.loadavg()[0]!;

const per = ours.build + ours.score;
const rate = 1 / per;
const achieved = rate * gflopPerCandidate;
const kernelWall = (kernel.wall + kernelAfter.wall) / 2;
const kernelCpu = (kernel.cpu + kernelAfter.cpu) / 2;
const bound = threads * kernelWall;
const f = (x: number, d = 2) => x.toFixed(d);
console.log(`mnist8 candidates, scoring forward pass on wasm SIMD dense kernels, ${threads} thread(s); tfjs backend ${engine.backend}`);
console.log(`${count} candidates, 8 tasks × ${SAMPLES} calibration samples each, ${f(gflopPerCandidate)} GFLOP per candidate`);
console.log('                              wall clock                          per CPU second (all threads)');
console.log(`candidates per second        ${f(rate).padEnd(36)}${f(1 / ours.cpu)}   (${f(per * 1000, 1)} ms each: building ${f((100 * ours.build) / per, 0)} %, scoring ${f((100 * ours.score) / per, 0)} %)`);
console.log(`  first layer combined from precomputed products in ${combined} of ${count + 1} (task arithmetic is linear in the experts)`);
const tiesPer = ties.build + ties.score;
console.log(`TIES candidates per second   ${f(1 / tiesPer).padEnd(36)}${f(1 / ties.cpu)}   (${f(tiesPer * 1000, 1)} ms each: building ${f((100 * ties.build) / tiesPer, 0)} %; first layer multiplied out: combined in ${tiesCombined})`);
console.log(`  TIES scoring alone          ${`${f(gflopPerCandidate / ties.score, 1)} GFLOP/s`.padEnd(36)}(every layer multiplied out: the full ${f(gflopPerCandidate)} GFLOP)`);
console.log(`achieved GFLOP/s (equivalent) ${f(achieved, 1).padEnd(35)}${f(gflopPerCandidate / ours.cpu, 1)}`);
console.log(`dense kernel, 1 thread       ${f(kernelWall, 1).padEnd(36)}${f(kernelCpu, 1)}   (wall: before ${f(kernel.wall, 1)}, after ${f(kernelAfter.wall, 1)})`);
console.log(`bound, ${threads} thread(s) × kernel   ${`${f(bound, 1)} GFLOP/s = ${f(bound / gflopPerCandidate)} candidates/s`.padEnd(36)}${f(kernelCpu / gflopPerCandidate)} candidates per CPU second`);
console.log(`fraction of the kernel bound ${f(achieved / bound).padEnd(36)}${f(gflopPerCandidate / ours.cpu / kernelCpu)}`);
if (numpy !== undefined) {
  console.log(`numpy (OpenBLAS) same matmul ${`${f(numpy.wall, 1)} GFLOP/s = ${f(numpy.wall / gflopPerCandidate)} candidates/s`.padEnd(36)}${f(numpy.cpu, 1)} GFLOP per CPU second`);
  console.log(`fraction of numpy's          ${f(achieved / numpy.wall).padEnd(36)}${f(gflopPerCandidate / ours.cpu / numpy.cpu)}`);
} else console.log('numpy peer                   not run (python3 with numpy not found)');
const refPer = reference.build + reference.score;
console.log(`tfjs per-task scoring        ${`${f(1 / refPer)} candidates/s (${f(refPer * 1000, 0)} ms each)`.padEnd(36)}${f(1 / reference.cpu)}   speed-up ${f(refPer / per, 1)}× wall, ${f(reference.cpu / ours.cpu, 1)}× CPU`);
console.log(`accuracy counts vs tfjs      ${unequal === 0 ? 'equal' : `${unequal} UNEQUAL`} on ${checked} (candidate, task) pairs (2 task arithmetic + 2 TIES candidates)`);
console.log(`load average (1 min)         ${f(load0)} at start, ${f(load1)} at end, on ${os.availableParallelism()} cores`);
