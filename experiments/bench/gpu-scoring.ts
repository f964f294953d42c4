// npm run bench:gpu -- --scoring [--mnist8 DIR] [--lm DIR] [--candidates N] [--samples N] [--lm-samples N] [--batch N] [--keep DIR]
// Candidates per second scored on the GPU (search --device gpu: tfjs' webgpu backend in the GPU
// scoring thread) against the CPU path (--device cpu: the wasm forward passes), on the same zoo, the
// same seeded subsample and the same random candidates, in one run: a tiny mnist8 zoo (8 tasks,
// accuracy and cross-entropy) and a tiny language-model zoo (skills4: exact match, token loss,
// prompt entropy). A candidate is merged on the CPU either way (the exact merge-method code), so
// both the whole candidate and the scoring alone are timed. Then AdaMerging gradient steps per
// second (entropy of --batch samples per task and its gradient; on the GPU the merge, losses and
// autograd run there). The first candidate and step of each side are a warm-up (uploads, shader
// compilation) and are not counted; the largest relative differences GPU vs CPU are printed too. Zoos are built tiny in a temporary
// folder unless given (--mnist8, --lm: existing zoo folders); a tiny skills4 build takes minutes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scoringDevice } from '../../src/gpu/scoring-device.ts';
import { parseStudyConfig } from '../../src/search/study-config.ts';
import { ZooProblem } from '../../src/search/zoo-problem.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import { familyOfDir } from '../../src/zoo/registry.ts';
import { buildMnist8 } from '../../src/zoo/mnist8.ts';
import { buildSkills4 } from '../../src/zoo/skills4.ts';
import { seededRandom } from '../../src/tensor/random.ts';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

interface Side {
  candidatesPerSec: number;
  scoringSecs: number;
  /** AdaMerging steps (entropy and its gradient in x, `--batch` samples per task) per second. */
  stepsPerSec: number;
  line: string;
  values: number[][];
  losses: number[];
}

async function measure(zooDir: string, objectives: string, samples: number, n: number, where: 'cpu' | 'gpu'): Promise<Side> {
  const config = parseStudyConfig(
    `name: bench\nseed: 5\nzoo: ${JSON.stringify(zooDir)}\nspace:\n  method: task_arithmetic\n  granularity: tensor\n  parameters:\n    weight: {low: 0, high: 1}\nobjectives:\n${objectives}\nsamples: ${samples}\noptimizer: random\nbudget: {trials: 1}\n`,
    'bench',
  );
  const device = scoringDevice(where, 'bench');
  const problem = new ZooProblem(familyOfDir(zooDir).load(zooDir), config, 'bench', device.gpu);
  // The same random candidates on both sides (one seed), in [0.1, 0.6).
  const rand = seededRandom(11);
  const candidates = Array.from({ length: n + 1 }, () => Array.from({ length: problem.space.dim }, () => 0.1 + 0.5 * rand()));
  try {
    const values: number[][] = [];
    // Warm-up: the first candidate uploads the evaluation data and compiles the shaders.
    await problem.evaluate(candidates[0]!);
    let scoring = 0;
    const t0 = performance.now();
    for (const x of candidates.slice(1)) {
      const merged = problem.mergeCandidate(x);
      const s0 = performance.now();
      values.push(problem.score(merged, problem.objectives).values);
      scoring += (performance.now() - s0) / 1000;
    }
    const secs = (performance.now() - t0) / 1000;
    // Gradient steps: the entropy objective and its gradient at each candidate (one warm-up).
    const g = problem.gradientProblem;
    const batch = Number(flag('--batch') ?? 16);
    const xs = candidates;
    g.entropyAndGrad(xs[0]!, batch, 1);
    const losses: number[] = [];
    const g0 = performance.now();
    for (const x of xs.slice(1)) losses.push(g.entropyAndGrad(x, batch, 1).loss);
    const gradSecs = (performance.now() - g0) / 1000;
    return { candidatesPerSec: (candidates.length - 1) / secs, scoringSecs: scoring / (candidates.length - 1), stepsPerSec: (xs.length - 1) / gradSecs, line: device.line, values, losses };
  } finally {
    problem.close();
    device.close();
  }
}

function maxRelDiff(a: number[][], b: number[][]): number {
  let worst = 0;
  a.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[i]![j]!) / Math.max(1e-12, Math.abs(v))))));
  return worst;
}

export async function benchScoring(): Promise<void> {
  await initEngine('wasm');
  const n = Number(flag('--candidates') ?? 6);
  const root = flag('--keep') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-bench-gpu-scoring-'));
  try {
    let mnist = flag('--mnist8');
    if (!mnist) {
      mnist = path.join(root, 'mnist8');
      if (!fs.existsSync(path.join(mnist, 'manifest.json'))) buildMnist8({ out: mnist, seed: 1, tiny: true, onLog: (l) => process.stderr.write(`${l}\n`) });
    }
    let lm = flag('--lm');
    if (!lm) {
      lm = path.join(root, 'skills4');
      if (!fs.existsSync(path.join(lm, 'manifest.json'))) buildSkills4({ out: lm, seed: 1, tiny: true, onLog: (l) => process.stderr.write(`${l}\n`) });
    }
    const zoos = [
      { name: 'mnist8 (tiny)', dir: mnist, objectives: '  - {tasks: all, evaluator: accuracy}\n  - {tasks: all, evaluator: cross_entropy}\n', samples: Number(flag('--samples') ?? 200) },
      { name: 'skills4 (tiny LM)', dir: lm, objectives: '  - {tasks: all, evaluator: exact_match}\n  - {tasks: all, evaluator: token_loss}\n  - {tasks: all, evaluator: prompt_entropy}\n', samples: Number(flag('--lm-samples') ?? 16) },
    ];
    const rows: string[] = [];
    let adapter = '';
    for (const z of zoos) {
      const cpu = await measure(z.dir, z.objectives, z.samples, n, 'cpu');
      const gpu = await measure(z.dir, z.objectives, z.samples, n, 'gpu');
      adapter = gpu.line;
      rows.push(
        `${z.name.padEnd(20)} ${String(z.samples).padStart(7)} ${cpu.candidatesPerSec.toFixed(2).padStart(10)} ${gpu.candidatesPerSec.toFixed(2).padStart(10)} ${(gpu.candidatesPerSec / cpu.candidatesPerSec).toFixed(2).padStart(9)}   ${(cpu.scoringSecs * 1000).toFixed(0).padStart(12)} ${(gpu.scoringSecs * 1000).toFixed(0).padStart(12)}   ${maxRelDiff(cpu.values, gpu.values).toExponential(1).padStart(13)}   ${cpu.stepsPerSec.toFixed(2).padStart(9)} ${gpu.stepsPerSec.toFixed(2).padStart(9)} ${(gpu.stepsPerSec / cpu.stepsPerSec).toFixed(2).padStart(9)}   ${maxRelDiff([cpu.losses], [gpu.losses]).toExponential(1)}`,
      );
    }
    console.log(`\nGPU scoring benchmark: ${n} random task_arithmetic candidates per zoo after one warm-up, merged on the CPU either way;`);
    console.log(`then ${n} AdaMerging gradient steps (entropy of ${Number(flag('--batch') ?? 16)} samples per task and its gradient, tensor granularity: merge, loss and autograd on the device)`);
    console.log(`adapter: ${adapter}`);
    console.log('zoo                  samples   CPU c/s    GPU c/s  GPU / CPU   CPU ms/score GPU ms/score   max rel. diff   CPU st/s  GPU st/s GPU / CPU   loss rel. diff');
    for (const r of rows) console.log(r);
  } finally {
    if (!flag('--keep')) fs.rmSync(root, { recursive: true, force: true });
  }
}
