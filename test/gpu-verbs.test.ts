// `--device` beyond merge: export merges on the GPU (the merge path, output within 1 ulp of the
// CPU export, the adapter printed); search and eval score on the GPU (a study's trials and eval's
// scores equal the CPU's: accuracy counts equal, cross-entropy within 1e-4 relative); what has no
// GPU path (zoo build's training) fails under `--device gpu` with GPU_E_SCORING before any work
// (never a silent CPU run); the gradient optimizers' loss and gradient computed on the GPU equal the
// CPU's; `auto` says where it scores, and a study stores the device it ran with.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoringDevice } from '../src/gpu/scoring-device.ts';
import { gpuDeviceNodes } from '../src/gpu/device.ts';
import { Checkpoint } from '../src/io/checkpoint.ts';
import { exportTrial } from '../src/search/export.ts';
import { runStudy } from '../src/search/run-study.ts';
import { ATTR_DEVICE } from '../src/search/study-attrs.ts';
import { parseStudyConfig } from '../src/search/study-config.ts';
import { StudyStore } from '../src/study/index.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { requireGpu, skipGpu, testGpu } from './helpers/gpu.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { runCli } from './helpers/recipe-fixtures.ts';
import { copyTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';

const SKIP = await skipGpu();
if (SKIP) console.warn(`gpu-verbs.test.ts: GPU export case SKIPPED: ${await testGpu()}`);

const tmp = makeTmp('ms-gpu-verbs-');
let db: string;
const STUDY = `name: ties
seed: 3
zoo: zoo
space:
  method: ties
  parameters:
    weight: {low: 0, high: 1}
    density: {low: 0.3, high: 0.9}
objectives:
  - {tasks: all, evaluator: accuracy}
samples: 60
optimizer: random
budget: {trials: 2}
`;

beforeAll(async () => {
  await initEngine('wasm');
  await copyTinyZoo(TINY_MNIST8, path.join(tmp.dir, 'zoo'));
  db = path.join(tmp.dir, 'studies.db');
  fs.writeFileSync(path.join(tmp.dir, 'ties.yaml'), STUDY);
  await runStudy({ config: parseStudyConfig(STUDY, 'ties.yaml', { dir: tmp.dir }), db, device: scoringDevice('auto', 'search') });
});
afterAll(() => {
  tmp.cleanup();
  void testGpu().then((g) => typeof g !== 'string' && g.close());
});

describe('--device on the scoring verbs', () => {
  it('scoringDevice: cpu scores on the CPU; auto says why not the GPU; training is GPU_E_SCORING under gpu, naming what runs on the GPU', () => {
    expect(scoringDevice('cpu', 'search').line).toBe('cpu');
    if (gpuDeviceNodes().length === 0) expect(scoringDevice('auto', 'search').line).toMatch(/^cpu \(no GPU device/);
    expectCode(() => scoringDevice('gpu', 'zoo build', { trains: true }), 'GPU_E_SCORING', 'zoo build --device gpu: zoo build trains models', 'adamerging', 'eval', '--device cpu');
    expect(scoringDevice('auto', 'zoo build', { trains: true }).line).toMatch(/^cpu \(zoo build trains models/);
    expect(scoringDevice('gpu', 'search', { external: true }).line).toMatch(/command evaluator scores/);
  });

  it('a study stores the device it ran with', () => {
    const store = StudyStore.open(db, { readonly: true });
    try {
      const s = store.getStudy('ties');
      expect(store.studyAttrs(s.id)[ATTR_DEVICE]).toEqual({ choice: 'auto', line: expect.stringMatching(/^cpu \(|^gpu: /) });
    } finally {
      store.close();
    }
  });

  it('the CLI: zoo build refuses --device gpu with GPU_E_SCORING before any work; a bad value is CLI_E_ARG', () => {
    const out = path.join(tmp.dir, 'zoo-gpu');
    const z = runCli(['zoo', 'build', 'mnist8', '--tiny', '--out', out, '--device', 'gpu']);
    expect(z.status, z.stderr).toBe(2);
    expect(z.stderr).toContain('GPU_E_SCORING: zoo build --device gpu');
    expect(fs.existsSync(out)).toBe(false);
    const bad = runCli(['eval', '--model', 'x', '--device', 'tpu']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('CLI_E_ARG: --device must be one of auto, cpu, gpu');
  });
});

describe.skipIf(SKIP)('search and eval --device gpu', () => {
  it("a study scored on the GPU has the CPU study's trials: accuracy counts equal, cross-entropy within 1e-4 relative", async () => {
    await requireGpu();
    const config = parseStudyConfig(STUDY.replace('evaluator: accuracy}', 'evaluator: accuracy}\n  - {tasks: all, evaluator: cross_entropy}'), 'ties.yaml', { dir: tmp.dir });
    const values = async (file: string, choice: 'cpu' | 'gpu') => {
      const device = scoringDevice(choice, 'search');
      try {
        const r = await runStudy({ config, db: path.join(tmp.dir, file), device });
        return { values: r.completed.map((t) => t.values!), line: device.line };
      } finally {
        device.close();
      }
    };
    const cpu = await values('cmp-cpu.db', 'cpu');
    const gpu = await values('cmp-gpu.db', 'gpu');
    expect(gpu.line).toMatch(/^gpu: /);
    expect(gpu.values.length).toBe(2);
    const objectives = cpu.values[0]!.length;
    expect(objectives).toBe(16);
    cpu.values.forEach((row, t) =>
      row.forEach((want, j) => {
        const got = gpu.values[t]![j]!;
        // The first 8 objectives are accuracies on 60 samples: equal counts.
        if (j < objectives / 2) expect(Math.round(got * 60), `trial ${t} objective ${j}`).toBe(Math.round(want * 60));
        else expect(Math.abs(got - want) / want, `trial ${t} objective ${j}`).toBeLessThan(1e-4);
      }),
    );
  });

  it("the gradient optimizers' loss and gradient on the GPU equal the CPU's (entropy: AdaMerging; labelled loss alignment: Frank-Wolfe)", async () => {
    await requireGpu();
    const config = parseStudyConfig(
      `name: ada\nseed: 3\nzoo: zoo\nspace:\n  method: task_arithmetic\n  granularity: tensor\n  parameters: {weight: {low: 0, high: 1, init: 0.3}}\nobjectives: {tasks: all, evaluator: accuracy, split: calibration}\nsamples: 40\noptimizer: {name: adamerging}\nbudget: {trials: 2}\n`,
      'ada.yaml',
      { dir: tmp.dir },
    );
    const device = scoringDevice('gpu', 'search');
    const { ZooProblem } = await import('../src/search/zoo-problem.ts');
    const onCpu = ZooProblem.fromConfig(config);
    const onGpu = ZooProblem.fromConfig(config, undefined, undefined, device.gpu);
    try {
      const cpu = onCpu.gradientProblem;
      const gpu = onGpu.gradientProblem;
      expect([gpu.models, gpu.units, gpu.tasks]).toEqual([cpu.models, cpu.units, cpu.tasks]);
      expect(gpu.vertex(1)).toEqual(cpu.vertex(1));
      const x = Array.from({ length: cpu.models * cpu.units }, (_, i) => 0.2 + 0.05 * (i % 7));
      const a = cpu.entropyAndGrad(x, 16, 5);
      const b = gpu.entropyAndGrad(x, 16, 5);
      expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(1e-4);
      const norm = Math.hypot(...a.grad);
      expect(norm).toBeGreaterThan(0);
      expect(Math.hypot(...a.grad.map((g, i) => g - b.grad[i]!)) / norm).toBeLessThan(1e-3);
      const o = { candidates: [cpu.vertex(0), cpu.vertex(1)], samples: 16, sampleSeed: 2, against: 'weights' as const };
      const fa = cpu.alignment(x, o);
      const fb = gpu.alignment(x, o);
      expect(Math.abs(fb.loss - fa.loss) / fa.loss).toBeLessThan(1e-4);
      fa.cosine.forEach((row, u) => row.forEach((c, k) => expect(Math.abs(fb.cosine[u]![k]! - c), `unit ${u} candidate ${k}`).toBeLessThan(1e-4)));
    } finally {
      onCpu.close();
      onGpu.close();
      device.close();
    }
  });

  it('under auto a GPU that fails mid-study hands the scoring to the CPU with a warning; under gpu the candidate fails with the coded error', async () => {
    await requireGpu();
    const config = parseStudyConfig(STUDY, 'ties.yaml', { dir: tmp.dir });
    const { ZooProblem } = await import('../src/search/zoo-problem.ts');
    const onCpu = ZooProblem.fromConfig(config);
    const warnings: string[] = [];
    const auto = scoringDevice('gpu', 'search');
    const strict = scoringDevice('gpu', 'search');
    const withFallback = ZooProblem.fromConfig(config, undefined, undefined, auto.gpu, (why) => warnings.push(why));
    const without = ZooProblem.fromConfig(config, undefined, undefined, strict.gpu);
    try {
      const x = Array.from({ length: onCpu.space.dim }, (_, i) => 0.3 + 0.1 * (i % 5));
      const want = (await onCpu.evaluate(x)).values;
      expect((await withFallback.evaluate(x)).values.map((v) => Math.round(v * 60))).toEqual(want.map((v) => Math.round(v * 60)));
      auto.gpu!.simulate('crash');
      strict.gpu!.simulate('crash');
      expect((await withFallback.evaluate(x)).values).toEqual(want);
      expect(warnings).toEqual([expect.stringMatching(/^GPU_E_WORKER: the GPU scoring thread exited/)]);
      await expect(without.evaluate(x)).rejects.toThrow(/GPU_E_WORKER: the GPU scoring thread exited/);
    } finally {
      for (const p of [onCpu, withFallback, without]) p.close();
      auto.close();
      strict.close();
    }
  });

  it("eval --device gpu prints the CPU's scores and the adapter", () => {
    const args = ['eval', '--model', path.join(tmp.dir, 'zoo', 'base'), '--zoo', path.join(tmp.dir, 'zoo'), '--samples', '50', '--json'];
    const cpu = runCli([...args, '--device', 'cpu']);
    const gpu = runCli([...args, '--device', 'gpu']);
    expect(cpu.status, cpu.stderr).toBe(0);
    expect(gpu.status, gpu.stderr).toBe(0);
    const a = JSON.parse(cpu.stdout) as { device: string; scores: { task: string; accuracy: number; crossEntropy: number }[] };
    const b = JSON.parse(gpu.stdout) as typeof a;
    expect(b.device).toMatch(/^gpu: /);
    expect(b.scores.length).toBe(8);
    a.scores.forEach((s, i) => {
      expect(b.scores[i]!.task).toBe(s.task);
      expect(Math.round(b.scores[i]!.accuracy * 50)).toBe(Math.round(s.accuracy * 50));
      expect(Math.abs(b.scores[i]!.crossEntropy - s.crossEntropy) / s.crossEntropy).toBeLessThan(1e-4);
    });
  });
});

describe.skipIf(SKIP)('export --device gpu', () => {
  it('merges on the GPU: every tensor within 1 ulp of the CPU export, the adapter reported', async () => {
    const gpu = await requireGpu();
    const cpu = await exportTrial({ db, study: 'ties', trial: 1, out: path.join(tmp.dir, 'export-cpu'), threads: 1, device: 'cpu' });
    const onGpu = await exportTrial({ db, study: 'ties', trial: 1, out: path.join(tmp.dir, 'export-gpu'), threads: 1, device: 'gpu' });
    expect(cpu.device).toBe('cpu');
    expect(onGpu.device).toContain(gpu.adapter.device || gpu.adapter.description);
    expect(onGpu.device).toMatch(/^gpu: /);
    const a = Checkpoint.open(cpu.out);
    const b = Checkpoint.open(onGpu.out);
    let elements = 0;
    for (const info of a.tensors.values()) {
      expect(info.dtype).toBe('F32');
      const x = a.readF32(info.name);
      const y = b.readF32(info.name);
      const xb = new Int32Array(x.buffer, x.byteOffset, x.length);
      const yb = new Int32Array(y.buffer, y.byteOffset, y.length);
      for (let i = 0; i < x.length; i++) {
        // ulps apart (same sign), or both within 1e-12 of 0 (a cancellation residue; see gpu-statistics.test.ts)
        if (Math.abs(x[i]!) < 1e-12 && Math.abs(y[i]!) < 1e-12) continue;
        expect(Math.abs(xb[i]! - yb[i]!), `${info.name}[${i}]`).toBeLessThanOrEqual(1);
      }
      elements += x.length;
    }
    expect(elements).toBeGreaterThan(10000);
  });
});
