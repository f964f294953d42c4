// Scoring on the GPU behind a synchronous facade: the scorers and every optimizer read results
// synchronously, but tfjs' webgpu backend can only read them asynchronously in Node (its dataSync
// needs OffscreenCanvas). So a worker thread (scoring-worker.ts) owns the WebGPU device and tfjs'
// webgpu backend, holds the evaluation data, and runs the forward passes with `await data()`; this
// side posts a request and blocks on Atomics.wait until the answer is signalled — the pattern of
// the PostgreSQL store (src/study/pg-connection.ts). The thread raises a `dead` flag and wakes this
// side whenever it ends (crash, exit), and a wait that outlasts `answerTimeoutMs` fails too, so a
// caller never hangs on a thread that is gone.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { fail, MergeSearchError } from '../errors.ts';
import { rebuildError } from '../merge/worker-pool.ts';
import type { HostParams } from '../merge/host-merge.ts';
import type { MlpConfig } from '../models/mlp-classifier.ts';
import type { LmJob, LmScoringSpec } from '../zoo/lm-scoring.ts';
import type { AdapterDescription } from './device.ts';
import type { AlignmentOptions, GradientProblem, UnsupervisedLossOptions } from '../search/optimizer.ts';
import type { GradientMethod, GradientStudy, MlpRun, ScoringAnswer, ScoringRequest, WireLmJob, WireTensor } from './scoring-protocol.ts';

/** A forward pass that has not answered in this long has hung (the thread is alive but stuck). */
export const ANSWER_TIMEOUT_MS = 15 * 60_000;

export interface GpuScoringOptions {
  /** Dawn backends tried in order (tests: the no-adapter case). */
  backends?: string[];
  /** Under auto, try Dawn even without GPU device nodes (tests). */
  probeWithoutDeviceNodes?: boolean;
  /** Fail a request whose answer takes longer (default ANSWER_TIMEOUT_MS). */
  answerTimeoutMs?: number;
  /** The clock the timeout reads (tests inject one). */
  now?: () => number;
}

/** One task's rows for mlpLogits: its inputs [rows, inputSize] and the task's head when the candidate has none. */
export interface MlpTaskRows {
  task: string;
  inputs: Float32Array;
  rows: number;
  /** Tensors added for this task (an expert's head), kept on the GPU under `key`. */
  head?: HostParams;
  /** Keep inputs and head on the GPU under this key (a study's fixed subsample); omitted: sent each call. */
  key?: string;
}

let nextScope = 1;
let nextGradient = 1;

/**
 * The gradient optimizers' problem (AdaMerging, Frank-Wolfe) on the GPU: the scoring thread loads the
 * zoo, builds the study's differentiable merge and losses on tfjs' webgpu backend, and answers each
 * call (autograd there, `await data()`); this side is the synchronous GradientProblem they use.
 */
class GpuGradientProblem implements GradientProblem {
  readonly models: number;
  readonly tasks: string[];
  readonly units: number;
  readonly lambda: number;
  private readonly id = nextGradient++;
  private closed = false;

  constructor(
    private readonly call: (req: ScoringRequest) => unknown,
    dir: string,
    study: GradientStudy,
    source: string,
  ) {
    const info = call({ op: 'grad-open', id: this.id, dir, study, source }) as { models: number; tasks: string[]; units: number; lambda: number };
    this.models = info.models;
    this.tasks = info.tasks;
    this.units = info.units;
    this.lambda = info.lambda;
  }

  private ask(method: GradientMethod, args: unknown[]): unknown {
    return this.call({ op: 'grad', id: this.id, method, args });
  }

  coordinate(model: number, unit: number): number {
    return this.ask('coordinate', [model, unit]) as number;
  }

  vertex(model: number): number[] {
    return this.ask('vertex', [model]) as number[];
  }

  entropyAndGrad(x: number[], batch: number, sampleSeed: number, options?: UnsupervisedLossOptions): { loss: number; grad: number[] } {
    return this.ask('entropyAndGrad', [x, batch, sampleSeed, options]) as { loss: number; grad: number[] };
  }

  alignment(x: number[], options: AlignmentOptions): { loss: number; cosine: number[][] } {
    return this.ask('alignment', [x, options]) as { loss: number; cosine: number[][] };
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.call({ op: 'grad-close', id: this.id });
    } catch {
      // the thread is gone: nothing is held
    }
  }
}

export class GpuScoring {
  readonly adapter: AdapterDescription;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal: Int32Array;
  private answered = 0;
  private closed = false;
  private readonly sent = new Set<string>();
  private readonly timeoutMs: number;
  private readonly now: () => number;

  private constructor(worker: Worker, port: MessagePort, signal: Int32Array, o: GpuScoringOptions) {
    this.worker = worker;
    this.port = port;
    this.signal = signal;
    this.timeoutMs = o.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
    this.now = o.now ?? Date.now;
    this.adapter = undefined as unknown as AdapterDescription;
  }

  /**
   * Start the thread and open the device `choice` asks for. Returns the facade, or under `auto` the
   * reason the CPU scores instead (no GPU, or only a software adapter). Under `gpu`, no adapter is
   * GPU_E_NO_ADAPTER.
   */
  static open(choice: 'auto' | 'gpu', o: GpuScoringOptions = {}): GpuScoring | { cpu: string } {
    const entry = new URL('./scoring-worker-entry.mjs', import.meta.url);
    if (!fs.existsSync(fileURLToPath(entry))) fail('GPU_E_WORKER', `the GPU scoring thread ${fileURLToPath(entry)} is missing; rebuild with \`npm run build\``);
    // Mesa's EGL reads EGL_PLATFORM from the process environment, which a worker thread's
    // process.env (a copy) cannot change: set it here, before the thread loads Dawn.
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const { port1, port2 } = new MessageChannel();
    const signal = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(entry, { workerData: { port: port2, signal }, transferList: [port2] });
    // The thread never keeps the process alive: a caller that forgot close() still exits.
    worker.unref();
    port1.unref();
    const s = new GpuScoring(worker, port1, signal, o);
    let a: ScoringAnswer & { ok: true };
    try {
      a = s.ask({ op: 'open', choice, backends: o.backends, probeWithoutDeviceNodes: o.probeWithoutDeviceNodes });
    } catch (e) {
      s.close();
      throw e;
    }
    if (a.cpu !== undefined) {
      s.close();
      return { cpu: a.cpu };
    }
    (s as { adapter: AdapterDescription }).adapter = a.adapter!;
    return s;
  }

  /** A prefix for the keys of one scorer's resident data (release them with drop). */
  static scope(): string {
    return `s${nextScope++}/`;
  }

  /**
   * Logits [rows, numClasses] of each task's rows through the MLP with `params` (the candidate's
   * tensors) plus the task's head; all tasks in one request, read back once.
   */
  mlpLogits(config: MlpConfig, params: HostParams, tasks: readonly MlpTaskRows[]): Float32Array[] {
    const runs: MlpRun[] = tasks.map((t, i) => {
      const key = t.key ?? `call/${i}`;
      const fresh = t.key === undefined || !this.sent.has(key);
      if (fresh) {
        this.ask({ op: 'put', key: `${key}/inputs`, tensor: { name: 'inputs', shape: [t.rows, config.inputSize], values: t.inputs } });
        for (const [name, h] of t.head ?? []) this.ask({ op: 'put', key: `${key}/${name}`, tensor: { name, shape: h.shape, values: h.values } });
        if (t.key !== undefined) this.sent.add(key);
      }
      return { task: t.task, inputs: `${key}/inputs`, extra: [...(t.head?.keys() ?? [])].map((name) => [name, `${key}/${name}`] as [string, string]) };
    });
    return this.ask({ op: 'mlp', config, params: wire(params), runs }).logits!;
  }

  /**
   * Each job's value (lmJobValuesReads on the GPU). With `scope`, each job's examples are sent once
   * and kept under `scope + job.key` (a study scores the same subsample for every candidate).
   */
  lmJobValues(spec: LmScoringSpec, params: HostParams, jobs: readonly LmJob[], scope?: string): number[] {
    const wj: WireLmJob[] = jobs.map((j) => {
      if (scope === undefined) return { scorer: j.scorer, key: j.key, examples: j.examples };
      const resident = scope + j.key;
      const fresh = !this.sent.has(resident);
      this.sent.add(resident);
      return { scorer: j.scorer, key: j.key, resident, examples: fresh ? j.examples : undefined };
    });
    return this.ask({ op: 'lm', spec, params: wire(params), jobs: wj }).values!;
  }

  /**
   * A zoo study's gradient problem computed on the GPU (see GpuGradientProblem): `dir` is the zoo
   * folder, `study` the config fields ZooProblem reads.
   */
  gradientProblem(dir: string, study: GradientStudy, source: string): GradientProblem & { dispose(): void } {
    return new GpuGradientProblem((req) => this.ask(req).result, dir, study, source);
  }

  /** Release the data kept under keys starting with `prefix`. */
  drop(prefix: string): void {
    if (this.closed || Atomics.load(this.signal, 1) !== 0) return;
    for (const k of [...this.sent]) if (k.startsWith(prefix)) this.sent.delete(k);
    this.ask({ op: 'drop', prefix });
  }

  /** Tests: make the thread exit (a crash), destroy its device (a lost device), or never answer (a hang). */
  simulate(what: 'crash' | 'lose' | 'hang'): void {
    if (what === 'crash') {
      this.port.postMessage({ op: 'crash' } satisfies ScoringRequest);
      return;
    }
    this.ask({ op: what });
  }

  /** One line for logs and the study: `gpu: <adapter> (<backend>)`. */
  get line(): string {
    const a = this.adapter;
    const name = [a.vendor, a.device || a.description].filter((s) => s !== '').join(' ');
    return `gpu: ${name} (${a.backend}${a.software ? ', software' : ''}; ${a.description})`;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }

  private ask(req: ScoringRequest): ScoringAnswer & { ok: true } {
    if (this.closed) fail('GPU_E_WORKER', 'the GPU scoring thread is closed');
    if (Atomics.load(this.signal, 1) !== 0) this.dead();
    const want = ++this.answered;
    this.port.postMessage(req);
    const deadline = this.now() + this.timeoutMs;
    for (let seen = Atomics.load(this.signal, 0); seen < want; seen = Atomics.load(this.signal, 0)) {
      if (Atomics.load(this.signal, 1) !== 0) break;
      if (this.now() > deadline) {
        this.close();
        fail('GPU_E_WORKER', `the GPU scoring thread gave no answer in ${Math.round(this.timeoutMs / 1000)} s (a hung driver?); rerun, or use --device cpu`);
      }
      Atomics.wait(this.signal, 0, seen, 1000);
    }
    const got = receiveMessageOnPort(this.port)?.message as ScoringAnswer | undefined;
    if (!got) this.dead();
    if (!got.ok) {
      if (got.error.code === 'GPU_E_WORKER') {
        this.close();
        throw new MergeSearchError('GPU_E_WORKER', `${got.error.message}; nothing was scored — rerun, or use --device cpu`);
      }
      throw rebuildError(got.error);
    }
    return got;
  }

  private dead(): never {
    const got = receiveMessageOnPort(this.port)?.message as ScoringAnswer | undefined;
    this.close();
    const why = got && !got.ok ? got.error.message : 'the GPU scoring thread has exited';
    throw new MergeSearchError('GPU_E_WORKER', `${why}; nothing was scored — rerun, or use --device cpu`);
  }
}

function wire(params: HostParams): WireTensor[] {
  return [...params].map(([name, t]) => ({ name, shape: t.shape, values: t.values }));
}
