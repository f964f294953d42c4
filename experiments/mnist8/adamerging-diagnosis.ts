// npx tsx experiments/mnist8/adamerging-diagnosis.ts [--only paths,random,floor] [--paths A,B,...] [--json FILE]
//
// Why AdaMerging stops helping on mnist8 (see ADAMERGING.md beside this file). Measures, on the
// built zoo (zoo/mnist8, not rebuilt):
//   floor   per task: the entropy and accuracy of the base, the expert and task arithmetic λ = 0.3,
//           and the entropy floor the cosine head allows (features exactly on a class row);
//   paths   AdaMerging paths (the optimizer's own loop: entropyAndGrad on batches drawn from
//           sampleSeed(seed, step), projected Adam), every `every` steps per task: calibration
//           entropy, calibration and test accuracy, mean max-softmax, the share of test predictions
//           in the most frequent predicted class (collapse), the share of confident (p > 0.9) wrong
//           predictions, λ per model (mean over tensors), and the cosine between the entropy's and
//           the labelled cross-entropy's gradients with respect to the coefficients (per task and
//           summed; 256 calibration samples per task; the entropy at the path's own scale). Variants: task/tensor granularity, batch 64,
//           lr 1e-2, the entropy taken at logit scale 100 (CLIP's) instead of the heads' 16, and the
//           same loop on the labelled cross-entropy (a supervised ceiling for the coefficient family);
//   random  200 task-wise coefficient vectors uniform in [0, 1]⁸ and 100 tensor-wise vectors within
//           ±0.2 of the 0.3 start: per task, Spearman correlation between calibration entropy and
//           accuracy (AdaMerging's premise is that it is strongly negative).
// Task-wise paths run through the tensor-wise problem with tied coordinates (the task-wise gradient is
// the sum of the tensor-wise one over tensors; exact, and ~3× faster on wasm than the task unit's slice).
import path from 'node:path';
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { sampleRankCorrelation, sampleCorrelation } from 'simple-statistics';
import { initEngine } from '../../src/tensor/engine.ts';
import { backboneOf, type LoadedClassifierZoo } from '../../src/zoo/zoo-models.ts';
import { loadMnist8Zoo } from '../../src/zoo/mnist8-family.ts';
import { type HostParams } from '../../src/merge/host-merge.ts';
import { SearchSpace } from '../../src/search/space.ts';
import { DifferentiableZoo } from '../../src/search/differentiable-zoo.ts';
import { adamStep, sampleSeed } from '../../src/search/optimizers/gradient-steps.ts';
import { mlpLogits, type MlpConfig } from '../../src/models/mlp-classifier.ts';
import { readTaskData, toInputs } from '../../src/zoo/task-data.ts';
import { entropyLoss } from '../../evaluators/entropy.ts';
import { subsampleIndices } from '../../evaluators/subsample.ts';
import { seededRandom } from '../../src/tensor/random.ts';
import type { SplitName } from '../../src/zoo/mnist-data.ts';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const only = opt('--only')?.split(',') ?? ['floor', 'paths', 'random'];
const jsonOut = opt('--json');

await initEngine('wasm');
const zoo = loadMnist8Zoo('zoo/mnist8');
const T = zoo.tasks.length;
const C = zoo.config.numClasses;
const tensors = [...zoo.base.keys()].filter((n) => n.startsWith('backbone.'));
const space = new SearchSpace({ method: 'task_arithmetic', granularity: 'tensor', parameters: { weight: { low: 0, high: 1, init: 0.3 } } }, tensors, zoo.tasks);
const U = tensors.length;
const D = space.dim;
const withScale = (s: number): typeof zoo => ({ ...zoo, config: { ...zoo.config, logitScale: s } });
const dz16 = new DifferentiableZoo(zoo, space);
const dz100 = new DifferentiableZoo(withScale(100), space);
const cfg16 = zoo.config;
const cfg100: MlpConfig = { ...zoo.config, logitScale: 100 };
const report: Record<string, unknown> = {};
const t0 = Date.now();
const log = (s: string) => console.log(s);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f1 = (v: number) => (100 * v).toFixed(1);
const f2 = (v: number) => v.toFixed(2);
const f3 = (v: number) => v.toFixed(3);

// ---------------------------------------------------------------------------------------------
// Data, heads, forward

interface Split { x: tf.Tensor2D; labels: Uint8Array }
const data = new Map<string, Split>();
function split(task: number, s: SplitName): Split {
  const key = `${task}/${s}`;
  let d = data.get(key);
  if (!d) {
    const raw = readTaskData(path.join(zoo.dir, zoo.manifest.data[zoo.tasks[task]!]![s]), C);
    d = { x: tf.keep(tf.tensor2d(toInputs(raw.images), [raw.count, zoo.config.inputSize])), labels: raw.labels };
    data.set(key, d);
  }
  return d;
}
const heads: Record<string, tf.Tensor> = {};
zoo.tasks.forEach((task, i) => {
  for (const [name, t] of zoo.experts[i]!) if (name.startsWith(`heads.${task}.`)) heads[name] = tf.keep(tf.tensor(t.values, t.shape));
});

/** Logits [n, C] (host) of task i on split s for a host backbone. */
function logitsOf(backbone: HostParams, i: number, s: SplitName, rows?: Uint32Array): Float32Array {
  return tf.tidy(() => {
    const params: Record<string, tf.Tensor> = { ...heads };
    for (const [n, t] of backbone) params[n] = tf.tensor(t.values, t.shape);
    const d = split(i, s);
    const x = rows ? (tf.gather(d.x, Int32Array.from(rows)) as tf.Tensor2D) : d.x;
    return mlpLogits(params, cfg16, x, zoo.tasks[i]!).dataSync() as Float32Array;
  });
}

interface Stats { entropy: number; entropy100: number; acc: number; conf: number; collapse: number; confWrong: number; hist: number[] }
/** Statistics of logits at scale 16 (and the entropy at scale 100: logits × 100/16). */
function stats(logits: Float32Array, labels: ArrayLike<number>): Stats {
  const n = logits.length / C;
  let H = 0, H100 = 0, acc = 0, conf = 0, confWrong = 0;
  const hist = new Array<number>(C).fill(0);
  for (let r = 0; r < n; r++) {
    const row = logits.subarray(r * C, (r + 1) * C);
    for (const [scale, add] of [[1, (h: number) => (H += h)], [100 / 16, (h: number) => (H100 += h)]] as const) {
      let m = -Infinity;
      for (const v of row) m = Math.max(m, v * scale);
      let z = 0;
      for (const v of row) z += Math.exp(v * scale - m);
      let h = 0;
      for (const v of row) { const lp = v * scale - m - Math.log(z); h -= Math.exp(lp) * lp; }
      add(h);
      if (scale === 1) {
        let arg = 0;
        for (let c = 1; c < C; c++) if (row[c]! > row[arg]!) arg = c;
        const p = 1 / z; // exp(max - m) / z with m the max
        conf += p;
        hist[arg]!++;
        if (arg === labels[r]) acc++;
        else if (p > 0.9) confWrong++;
      }
    }
  }
  return { entropy: H / n, entropy100: H100 / n, acc: acc / n, conf: conf / n, collapse: Math.max(...hist) / n, confWrong: confWrong / n, hist: hist.map((h) => h / n) };
}

function evalBackbone(backbone: HostParams): { cal: Stats[]; test: Stats[] } {
  const cal = zoo.tasks.map((_, i) => stats(logitsOf(backbone, i, 'calibration'), split(i, 'calibration').labels));
  const test = zoo.tasks.map((_, i) => stats(logitsOf(backbone, i, 'test'), split(i, 'test').labels));
  return { cal, test };
}

// ---------------------------------------------------------------------------------------------
// Differentiable per-task losses (through DifferentiableZoo's merged tensors, the same graph the
// optimizer differentiates)

const priv = (dz: DifferentiableZoo) => dz as unknown as { mergedTensors(c: tf.Tensor): Record<string, tf.Tensor> };

/** Loss of task i (entropy, or cross-entropy when `labels`) on rows of the calibration split, and its gradient in x. */
function taskLossGrad(dz: DifferentiableZoo, cfg: MlpConfig, x: number[], i: number, rows: Uint32Array, ce: boolean): { loss: number; grad: number[] } {
  const coef = tf.tensor2d(x, [x.length, 1]);
  try {
    const { value, grad } = tf.tidy(() => {
      const d = split(i, 'calibration');
      const input = tf.gather(d.x, Int32Array.from(rows)) as tf.Tensor2D;
      const y = ce ? tf.oneHot(tf.tensor1d(Int32Array.from(rows, (r) => d.labels[r]!), 'int32'), C) : undefined;
      return tf.valueAndGrad((c: tf.Tensor) => {
        const params = { ...priv(dz).mergedTensors(c), ...heads };
        const logits = mlpLogits(params, cfg, input, zoo.tasks[i]!);
        if (!y) return entropyLoss(logits);
        return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits, -1)), -1))) as tf.Scalar;
      })(coef);
    });
    const out = { loss: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
    tf.dispose([value, grad]);
    return out;
  } finally {
    coef.dispose();
  }
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const cosine = (a: number[], b: number[]) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b) || 1);
const sumVec = (vs: number[][]) => vs[0]!.map((_, j) => vs.reduce((s, v) => s + v[j]!, 0));
/** Tensor-wise coordinates of model k. */
const coordsOf = (k: number) => Array.from({ length: U }, (_, u) => space.coordinate('weight', k, u));
/** Sum a tensor-wise gradient over tensors per model (the task-wise gradient). */
const tieGrad = (g: number[]) => zoo.tasks.map((_, k) => coordsOf(k).reduce((s, c) => s + g[c]!, 0));
const untie = (xt: number[]) => { const x = new Array<number>(D).fill(0); xt.forEach((v, k) => coordsOf(k).forEach((c) => (x[c] = v))); return x; };
const lambdaPerModel = (x: number[]) => zoo.tasks.map((_, k) => mean(coordsOf(k).map((c) => x[c]!)));

const ALIGN_ROWS = zoo.tasks.map((_, i) => subsampleIndices(split(i, 'calibration').labels.length, 256, 12345 + i));
/** Cosines between entropy and labelled-CE gradients (tensor-wise, or tied task-wise), per task and summed. */
function alignment(x: number[], tied: boolean, cfgH: MlpConfig = cfg16): { perTask: number[]; total: number; entropyGradShare: number[]; crossOnTask: number[] } {
  const gH: number[][] = [], gC: number[][] = [];
  for (let i = 0; i < T; i++) {
    let h = taskLossGrad(dz16, cfgH, x, i, ALIGN_ROWS[i]!, false).grad;
    let c = taskLossGrad(dz16, cfg16, x, i, ALIGN_ROWS[i]!, true).grad;
    if (tied) { h = tieGrad(h); c = tieGrad(c); }
    gH.push(h); gC.push(c);
  }
  const H = sumVec(gH), CE = sumVec(gC);
  const nH = gH.map((g) => Math.sqrt(dot(g, g)));
  const tot = nH.reduce((a, b) => a + b, 0);
  // First-order change of task j's CE along a step that descends the summed entropy (−∇H): −∇CE_j·∇H / ‖∇H‖.
  const nrm = Math.sqrt(dot(H, H)) || 1;
  return { perTask: gH.map((g, i) => cosine(g, gC[i]!)), total: cosine(H, CE), entropyGradShare: nH.map((v) => v / tot), crossOnTask: gC.map((g) => -dot(g, H) / nrm) };
}

// ---------------------------------------------------------------------------------------------
// floor

if (only.includes('floor')) {
  log('\n== floor: entropy (nats, scale 16) and test accuracy (%) per task');
  const ta = dz16.mergedHost(space.init);
  const rows: Array<[string, Stats[]]> = [
    ['base', evalBackbone(backboneOf(zoo.base)).test],
    ['expert (own task)', zoo.tasks.map((_, i) => evalBackbone(backboneOf(zoo.experts[i]!)).test[i]!)],
    ['task arithmetic 0.3', evalBackbone(ta).test],
  ];
  // The lowest entropy a prediction of class c can have under the cosine head: the feature on w_c.
  const headFloor = zoo.tasks.map((task) => {
    const w = zoo.experts[zoo.tasks.indexOf(task)]!.get(`heads.${task}.weight`)!.values;
    const width = w.length / C;
    const unit = Array.from({ length: C }, (_, c) => { const r = w.subarray(c * width, (c + 1) * width); const n = Math.hypot(...r); return Array.from(r, (v) => v / n); });
    const logits = new Float32Array(C * C);
    for (let c = 0; c < C; c++) for (let j = 0; j < C; j++) logits[c * C + j] = zoo.config.logitScale * dot(unit[c]!, unit[j]!);
    const s = stats(logits, Array.from({ length: C }, (_, c) => c));
    // Backbone features are post-ReLU (non-negative): the closest reachable direction is relu(w_c).
    const pos = unit.map((u) => { const r = u.map((v) => Math.max(0, v)); const n = Math.hypot(...r); return r.map((v) => v / n); });
    const reach = new Float32Array(C * C);
    for (let c = 0; c < C; c++) for (let j = 0; j < C; j++) reach[c * C + j] = zoo.config.logitScale * dot(pos[c]!, unit[j]!);
    const sr = stats(reach, Array.from({ length: C }, (_, c) => c));
    const offDiag: number[] = [];
    for (let c = 0; c < C; c++) for (let j = 0; j < C; j++) if (c !== j) offDiag.push(dot(unit[c]!, unit[j]!));
    return { entropy: s.entropy, entropy100: s.entropy100, meanCos: mean(offDiag), reluEntropy: sr.entropy, reluConf: sr.conf };
  });
  log(`| | ${zoo.tasks.join(' | ')} |`);
  for (const [name, st] of rows) {
    log(`| ${name} entropy | ${st.map((s) => f3(s.entropy)).join(' | ')} |`);
    log(`| ${name} accuracy | ${st.map((s) => f1(s.acc)).join(' | ')} |`);
    log(`| ${name} max-softmax | ${st.map((s) => f3(s.conf)).join(' | ')} |`);
  }
  log(`| head floor entropy (feature = class row) | ${headFloor.map((h) => f3(h.entropy)).join(' | ')} |`);
  log(`| head floor at scale 100 | ${headFloor.map((h) => f3(h.entropy100)).join(' | ')} |`);
  log(`| head floor, feature = relu(class row) | ${headFloor.map((h) => f3(h.reluEntropy)).join(' | ')} |`);
  log(`| mean cos between class rows | ${headFloor.map((h) => f3(h.meanCos)).join(' | ')} |`);
  log(`max entropy ln 10 = ${f3(Math.log(10))}`);
  report.floor = { rows: rows.map(([n, st]) => ({ name: n, test: st.map(({ hist: _h, ...r }) => r) })), headFloor };
}

// ---------------------------------------------------------------------------------------------
// paths

interface PathSpec { id: string; label: string; tied: boolean; lr: number; batch: number; steps: number; every: number; objective: 'entropy' | 'entropy100' | 'ce' }
const PATHS: PathSpec[] = [
  { id: 'A', label: 'task-wise, lr 1e-3, batch 16', tied: true, lr: 1e-3, batch: 16, steps: 500, every: 25, objective: 'entropy' },
  { id: 'B', label: 'tensor-wise, lr 1e-3, batch 16', tied: false, lr: 1e-3, batch: 16, steps: 500, every: 25, objective: 'entropy' },
  { id: 'C', label: 'tensor-wise, lr 1e-3, batch 64', tied: false, lr: 1e-3, batch: 64, steps: 500, every: 50, objective: 'entropy' },
  { id: 'D', label: 'tensor-wise, lr 1e-2, batch 64 (the prototype)', tied: false, lr: 1e-2, batch: 64, steps: 300, every: 25, objective: 'entropy' },
  { id: 'E', label: 'tensor-wise, lr 1e-3, batch 16, entropy at logit scale 100', tied: false, lr: 1e-3, batch: 16, steps: 1500, every: 100, objective: 'entropy100' },
  { id: 'F', label: 'tensor-wise, lr 1e-3, batch 16, labelled cross-entropy (supervised ceiling)', tied: false, lr: 1e-3, batch: 16, steps: 500, every: 50, objective: 'ce' },
  { id: 'G', label: 'task-wise, lr 1e-3, batch 16, labelled cross-entropy', tied: true, lr: 1e-3, batch: 16, steps: 500, every: 100, objective: 'ce' },
];
const pathIds = opt('--paths')?.split(',') ?? PATHS.map((p) => p.id);

if (only.includes('paths')) {
  const seed = 0;
  const out: Record<string, unknown> = {};
  for (const p of PATHS.filter((q) => pathIds.includes(q.id))) {
    log(`\n== path ${p.id}: ${p.label}, ${p.steps} steps`);
    const dim = p.tied ? T : D;
    let x = new Array<number>(dim).fill(0.3);
    let m = x.map(() => 0), v = x.map(() => 0);
    const low = x.map(() => 0), high = x.map(() => 1);
    const records: unknown[] = [];
    const batchLoss: number[] = [];
    const checkpoint = (step: number) => {
      const full = p.tied ? untie(x) : x;
      const { cal, test } = evalBackbone(dz16.mergedHost(full));
      const al = alignment(full, p.tied, p.objective === 'entropy100' ? cfg100 : cfg16);
      const lam = lambdaPerModel(full);
      records.push({ step, lambda: lam, cal: cal.map(({ hist: _h, ...r }) => r), test: test.map((s) => ({ ...s })), align: al, batchLoss: batchLoss.length ? mean(batchLoss.splice(0)) : null });
      log(`step ${String(step).padStart(3)}: test ${f1(mean(test.map((s) => s.acc)))} cal ${f1(mean(cal.map((s) => s.acc)))} | ΣH ${f3(cal.reduce((a, s) => a + s.entropy, 0))} ΣH100 ${f3(cal.reduce((a, s) => a + s.entropy100, 0))} | cos(∇H,∇CE) ${f2(al.total)} | λ ${lam.map(f2).join(' ')}`);
      log(`   test acc  ${test.map((s) => f1(s.acc).padStart(5)).join(' ')}`);
      log(`   cal H     ${cal.map((s) => f3(s.entropy).padStart(5)).join(' ')}`);
      log(`   conf      ${test.map((s) => f3(s.conf).padStart(5)).join(' ')}`);
      log(`   collapse  ${test.map((s) => f3(s.collapse).padStart(5)).join(' ')}   confWrong ${test.map((s) => f3(s.confWrong)).join(' ')}`);
      log(`   cos task  ${al.perTask.map((c) => f2(c).padStart(5)).join(' ')}   ∇H share ${al.entropyGradShare.map(f2).join(' ')}`);
      log(`   dCE_j along −∇ΣH ${al.crossOnTask.map((c) => f3(c)).join(' ')}`);
    };
    checkpoint(0);
    const tp = Date.now();
    for (let step = 0; step < p.steps; ) {
      const full = p.tied ? untie(x) : x;
      const s = sampleSeed(seed, step);
      let loss: number, grad: number[];
      if (p.objective === 'ce') {
        const parts = zoo.tasks.map((_, i) => taskLossGrad(dz16, cfg16, full, i, dz16.hostIndices(i, p.batch, s), true));
        loss = parts.reduce((a, q) => a + q.loss, 0);
        grad = sumVec(parts.map((q) => q.grad));
      } else {
        ({ loss, grad } = (p.objective === 'entropy100' ? dz100 : dz16).entropyAndGrad(full, p.batch, s));
      }
      if (p.tied) grad = tieGrad(grad);
      batchLoss.push(loss);
      step++;
      ({ x, m, v } = adamStep(x, grad, m, v, step, p.lr, low, high));
      if (step % p.every === 0) checkpoint(step);
    }
    log(`(path ${p.id}: ${((Date.now() - tp) / 1000).toFixed(0)} s)`);
    out[p.id] = { ...p, records };
  }
  report.paths = out;
}

// ---------------------------------------------------------------------------------------------
// random

if (only.includes('random')) {
  const rows = zoo.tasks.map((_, i) => subsampleIndices(split(i, 'calibration').labels.length, 300, 777 + i));
  const sample = (label: string, n: number, draw: (r: () => number) => number[]) => {
    const r = seededRandom(2024 + n);
    const H: number[][] = zoo.tasks.map(() => []), H100: number[][] = zoo.tasks.map(() => []), A: number[][] = zoo.tasks.map(() => []);
    const sumH: number[] = [], sumH100: number[] = [], meanA: number[] = [];
    for (let c = 0; c < n; c++) {
      const x = draw(r);
      const bb = dz16.mergedHost(x);
      const st = zoo.tasks.map((_, i) => stats(logitsOf(bb, i, 'calibration', rows[i]), Array.from(rows[i]!, (j) => split(i, 'calibration').labels[j]!)));
      st.forEach((s, i) => { H[i]!.push(s.entropy); H100[i]!.push(s.entropy100); A[i]!.push(s.acc); });
      sumH.push(st.reduce((a, s) => a + s.entropy, 0));
      sumH100.push(st.reduce((a, s) => a + s.entropy100, 0));
      meanA.push(mean(st.map((s) => s.acc)));
    }
    const rho = zoo.tasks.map((_, i) => sampleRankCorrelation(H[i]!, A[i]!));
    const rho100 = zoo.tasks.map((_, i) => sampleRankCorrelation(H100[i]!, A[i]!));
    // Does a lower *summed* entropy pick candidates that are better on task i?
    const rhoSum = zoo.tasks.map((_, i) => sampleRankCorrelation(sumH, A[i]!));
    const total = sampleRankCorrelation(sumH, meanA);
    const total100 = sampleRankCorrelation(sumH100, meanA);
    const pearson = sampleCorrelation(sumH, meanA);
    // The candidate with the lowest summed entropy vs the best by accuracy.
    const argmin = sumH.indexOf(Math.min(...sumH));
    const best = Math.max(...meanA);
    const rank = meanA.filter((a) => a > meanA[argmin]!).length + 1;
    log(`\n== random: ${label} (${n} candidates, 300 calibration samples per task)`);
    log(`Spearman(entropy_k, acc_k) per task: ${rho.map(f2).join(' ')}`);
    log(`  … entropy at scale 100:            ${rho100.map(f2).join(' ')}`);
    log(`Spearman(ΣH, acc_k):                 ${rhoSum.map(f2).join(' ')}`);
    log(`ΣH over candidates: min ${f3(Math.min(...sumH))}, max ${f3(Math.max(...sumH))}; ΣH100 min ${f3(Math.min(...sumH100))}`);
    log(`Spearman(ΣH, mean acc) ${f2(total)} (scale 100: ${f2(total100)}), Pearson ${f2(pearson)}; lowest-ΣH candidate: mean acc ${f1(meanA[argmin]!)} (rank ${rank}/${n}), best ${f1(best)}, median ${f1([...meanA].sort((a, b) => a - b)[n >> 1]!)}`);
    return { label, n, minSumH: Math.min(...sumH), rho, rho100, rhoSum, total, total100, pearson, lowestEntropyAcc: meanA[argmin], lowestEntropyRank: rank, best };
  };
  report.random = [
    sample('task-wise, uniform in [0, 1]^8', 200, (r) => untie(zoo.tasks.map(() => r()))),
    sample('tensor-wise, 0.3 ± 0.2 per coordinate', 100, (r) => Array.from({ length: D }, () => Math.max(0, Math.min(1, 0.3 + 0.4 * (r() - 0.5))))),
  ];
}

log(`\n(total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(report));
