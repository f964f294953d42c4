// `--device` beyond merge: export merges on the GPU (the merge path, output within 1 ulp of the
// CPU export, the adapter printed); search, eval and zoo build have no GPU scoring yet, so
// `--device gpu` fails with GPU_E_SCORING before any work (never a silent CPU run), `auto` says
// it scores on the CPU, and a study stores the device it ran with.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoringDevice } from '../src/gpu/scoring-device.ts';
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
  it('scoringDevice: cpu and auto score on the CPU (auto says why), gpu is GPU_E_SCORING naming what runs on the GPU', () => {
    expect(scoringDevice('cpu', 'search').line).toBe('cpu');
    expect(scoringDevice('auto', 'search').line).toMatch(/^cpu \(scoring on the GPU is not supported yet/);
    expectCode(() => scoringDevice('gpu', 'eval'), 'GPU_E_SCORING', 'eval --device gpu', 'merge --device gpu', 'export --device gpu', '--device cpu');
  });

  it('a study stores the device it ran with', () => {
    const store = StudyStore.open(db, { readonly: true });
    try {
      const s = store.getStudy('ties');
      expect(store.studyAttrs(s.id)[ATTR_DEVICE]).toEqual({ choice: 'auto', line: expect.stringMatching(/^cpu \(scoring on the GPU is not supported yet/) });
    } finally {
      store.close();
    }
  });

  it('the CLI: search, eval and zoo build refuse --device gpu with GPU_E_SCORING before any work; a bad value is CLI_E_ARG', () => {
    const fresh = path.join(tmp.dir, 'fresh.db');
    const s = runCli(['search', path.join(tmp.dir, 'ties.yaml'), '--db', fresh, '--device', 'gpu']);
    expect(s.status, s.stderr).toBe(2);
    expect(s.stderr).toContain('GPU_E_SCORING: search --device gpu');
    expect(fs.existsSync(fresh)).toBe(false);
    const e = runCli(['eval', '--model', path.join(tmp.dir, 'zoo', 'base'), '--zoo', path.join(tmp.dir, 'zoo'), '--device', 'gpu']);
    expect(e.status, e.stderr).toBe(2);
    expect(e.stderr).toContain('GPU_E_SCORING: eval --device gpu');
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
