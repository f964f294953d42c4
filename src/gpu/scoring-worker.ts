// The GPU scoring thread: it opens the WebGPU device (Dawn), runs tfjs' webgpu backend on it, keeps
// the evaluation data resident (input rows, task heads, language-model examples) and answers each
// scoring request from the facade (scoring-thread.ts) with `await tensor.data()`, which that backend
// supports in Node where dataSync does not. One request at a time; the answer is posted on the port,
// then the shared counter signal[0] is bumped and notified (the main thread blocks on it).
// A lost device fails the request in flight and every later one with GPU_E_DEVICE_LOST.
import { createRequire } from 'node:module';
import { workerData, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { MergeSearchError } from '../errors.ts';
import { mlpLogits } from '../models/mlp-classifier.ts';
import { runReadsAsync } from '../models/reads.ts';
import { lmJobValuesReads, type LmJob } from '../zoo/lm-scoring.ts';
import { openDevice, type GpuContext } from './device.ts';
import type { ScoringAnswer, ScoringRequest, WireTensor } from './scoring-protocol.ts';
import type { DifferentiableZoo } from '../search/differentiable-zoo.ts';
import type { AlignmentOptions, UnsupervisedLossOptions } from '../search/optimizer.ts';

const { port, signal } = workerData as { port: MessagePort; signal: Int32Array };
const require = createRequire(import.meta.url);

let ctx: GpuContext | undefined;
const resident = new Map<string, tf.Tensor>();
const residentExamples = new Map<string, LmJob['examples']>();
let lost: Promise<never> | undefined;
/** The differentiable problems of gradient studies (AdaMerging, Frank-Wolfe), by id. */
const gradients = new Map<number, { problem: { close(): void }; g: DifferentiableZoo }>();

function answer(a: ScoringAnswer): void {
  // Copied, not transferred: a backend may hand out views of its own buffers.
  port.postMessage(a);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function deviceLostError(): MergeSearchError {
  const name = ctx?.adapter.device || ctx?.adapter.description || 'the GPU';
  return new MergeSearchError('GPU_E_DEVICE_LOST', `the GPU device (${name}) was lost while scoring (${ctx?.lostReason ?? 'unknown reason'}); no score of this candidate was kept — rerun, or use --device cpu`);
}

async function open(req: Extract<ScoringRequest, { op: 'open' }>): Promise<ScoringAnswer> {
  const d = await openDevice(req.choice, { backends: req.backends, probeWithoutDeviceNodes: req.probeWithoutDeviceNodes });
  if (d.kind === 'cpu') return { ok: true, cpu: d.note ?? 'no GPU' };
  ctx = d.gpu;
  const c = ctx;
  // tfjs' webgpu backend reads the WebGPU constants from globals and registers itself only where
  // navigator.gpu exists; its default factory asks for a full-feature adapter, which the software
  // adapter is not, so it is replaced by one that hands it the device opened above.
  const dawn = (await import('webgpu')) as unknown as { globals: Record<string, unknown> };
  Object.assign(globalThis, dawn.globals);
  if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: {} }, configurable: true, writable: true });
  }
  const wg = require('@tensorflow/tfjs-backend-webgpu') as { WebGPUBackend: new (device: GPUDevice, info?: GPUAdapterInfo) => tf.KernelBackend };
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new wg.WebGPUBackend(c.device, undefined));
  if (!(await tf.setBackend('webgpu'))) throw new MergeSearchError('GPU_E_NO_ADAPTER', `tfjs' webgpu backend would not start on ${c.adapter.device || c.adapter.description}; use --device cpu`);
  lost = new Promise<never>((_, reject) => {
    void c.device.lost.then(() => reject(deviceLostError()));
  });
  lost.catch(() => {});
  return { ok: true, adapter: c.adapter };
}

function upload(params: WireTensor[]): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const p of params) out[p.name] = tf.tensor(p.values, p.shape, 'float32');
  return out;
}

function held(key: string): tf.Tensor {
  const t = resident.get(key);
  if (!t) throw new Error(`the GPU scoring thread holds no tensor ${key}`);
  return t;
}

async function mlp(req: Extract<ScoringRequest, { op: 'mlp' }>): Promise<ScoringAnswer> {
  const params = upload(req.params);
  try {
    // Every task's forward is queued before the first read, so the GPU runs them back to back.
    const logits = req.runs.map((r) => {
      const p = { ...params };
      for (const [name, key] of r.extra) p[name] = held(key);
      return mlpLogits(p, req.config, held(r.inputs) as tf.Tensor2D, r.task);
    });
    try {
      const out: Float32Array[] = [];
      for (const l of logits) out.push((await l.data()) as Float32Array);
      return { ok: true, logits: out };
    } finally {
      tf.dispose(logits);
    }
  } finally {
    tf.dispose(Object.values(params));
  }
}

async function lm(req: Extract<ScoringRequest, { op: 'lm' }>): Promise<ScoringAnswer> {
  const jobs: LmJob[] = req.jobs.map((j) => {
    let examples = j.examples;
    if (j.resident !== undefined) {
      if (examples) residentExamples.set(j.resident, examples);
      else examples = residentExamples.get(j.resident);
    }
    if (!examples) throw new Error(`the GPU scoring thread holds no examples for ${j.resident ?? j.key}`);
    return { key: j.key, scorer: j.scorer, examples };
  });
  const params = upload(req.params);
  try {
    return { ok: true, values: await runReadsAsync(lmJobValuesReads(params, req.spec, jobs)) };
  } finally {
    tf.dispose(Object.values(params));
  }
}

async function handle(req: ScoringRequest): Promise<ScoringAnswer> {
  if (req.op === 'open') return open(req);
  if (req.op === 'crash') process.exit(3);
  if (!ctx) throw new Error('the GPU scoring thread has no device open');
  if (ctx.lostReason !== undefined) throw deviceLostError();
  switch (req.op) {
    case 'put': {
      resident.get(req.key)?.dispose();
      resident.set(req.key, tf.tensor(req.tensor.values, req.tensor.shape, 'float32'));
      return { ok: true };
    }
    case 'drop': {
      for (const [k, t] of resident) {
        if (k.startsWith(req.prefix)) {
          t.dispose();
          resident.delete(k);
        }
      }
      for (const k of residentExamples.keys()) if (k.startsWith(req.prefix)) residentExamples.delete(k);
      return { ok: true };
    }
    case 'lose':
      ctx.device.destroy();
      return { ok: true };
    case 'hang':
      return new Promise<ScoringAnswer>(() => {});
    case 'grad-open': {
      // The zoo is loaded here too, and the study's differentiable problem built on this thread's
      // backend: the base and task vectors stay on the GPU for every gradient step.
      const { ZooProblem } = await import('../search/zoo-problem.ts');
      const { familyOfDir } = await import('../zoo/registry.ts');
      const problem = new ZooProblem(familyOfDir(req.dir).load(req.dir), req.study, req.source);
      const g = problem.gradient;
      gradients.set(req.id, { problem, g });
      return { ok: true, result: { models: g.models, units: g.units, lambda: g.lambda, tasks: g.tasks } };
    }
    case 'grad': {
      const held = gradients.get(req.id);
      if (!held) throw new Error(`the GPU scoring thread holds no gradient problem ${req.id}`);
      const { g } = held;
      const a = req.args;
      if (req.method === 'coordinate') return { ok: true, result: g.coordinate(a[0] as number, a[1] as number) };
      if (req.method === 'vertex') return { ok: true, result: g.vertex(a[0] as number) };
      if (req.method === 'entropyAndGrad') return { ok: true, result: await g.entropyAndGradAsync(a[0] as number[], a[1] as number, a[2] as number, a[3] as UnsupervisedLossOptions | undefined) };
      return { ok: true, result: await g.alignmentAsync(a[0] as number[], a[1] as AlignmentOptions) };
    }
    case 'grad-close': {
      gradients.get(req.id)?.problem.close();
      gradients.delete(req.id);
      return { ok: true };
    }
    case 'mlp':
      return mlp(req);
    case 'lm':
      return lm(req);
  }
}

let queue = Promise.resolve();
port.on('message', (req: ScoringRequest) => {
  queue = queue.then(async () => {
    try {
      const work = handle(req);
      const a = await (lost ? Promise.race([work, lost]) : work);
      answer(a);
    } catch (e) {
      const err = e as Error & { code?: string };
      answer({ ok: false, error: { message: err.message, code: err.code, stack: err.stack } });
    }
  });
});
