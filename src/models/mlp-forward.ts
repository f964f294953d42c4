// The classifier MLP's forward pass over a fixed set of input rows, split across threads: the
// calling thread scores the first share of the rows and each worker thread one further share, each
// with its own WebAssembly kernel instance and memory holding its rows (uploaded once). A call
// sends the weights, scores the caller's share, then blocks until every worker has answered: the
// API stays synchronous, as the scorers that use it are. Rows never cross threads after setup, so
// nothing is shared but a counter per worker; every row's logits are the same whatever the split.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { fail } from '../errors.ts';
import { rebuildError } from '../merge/worker-pool.ts';
import type { MlpConfig } from './mlp-classifier.ts';
import { mlpLayerName } from './mlp-names.ts';
import { checkMlpWeights, MlpRowsForward, type FirstLayerBasis, type MlpWeights, type RowSegment } from './mlp-rows-forward.ts';

/** Fewer rows than this per thread and a worker's round trip costs more than it saves. */
export const MIN_ROWS_PER_THREAD = 512;
/** A worker that has not answered in this long has died (a hard crash leaves no message). */
const WORKER_TIMEOUT_MS = 600_000;

interface Remote {
  worker: Worker;
  port: MessagePort;
  signal: Int32Array;
  answered: number;
  rows: number;
}

interface Share {
  start: number;
  count: number;
  segments: RowSegment[];
}

/** Split rows [0, rows) into `parts` contiguous shares (multiples of 4 rows where possible) and cut the segments to each. */
export function splitRows(rows: number, parts: number, segments: readonly RowSegment[]): Share[] {
  const out: Share[] = [];
  let start = 0;
  for (let p = 0; p < parts; p++) {
    const end = p === parts - 1 ? rows : Math.min(rows, Math.round((rows * (p + 1)) / parts / 4) * 4);
    const cut: RowSegment[] = [];
    for (const s of segments) {
      const a = Math.max(s.start, start);
      const b = Math.min(s.start + s.count, end);
      if (b > a) cut.push({ start: a - start, count: b - a, task: s.task });
    }
    out.push({ start, count: end - start, segments: cut });
    start = end;
  }
  return out;
}

export class MlpForward {
  readonly rows: number;
  private readonly local: MlpRowsForward;
  private readonly remotes: Remote[] = [];
  private readonly tasks: string[];
  private closed = false;
  /** Calls whose first layer was combined from the basis's products (see FirstLayerBasis). */
  combinedRuns = 0;

  /**
   * inputs: rows × config.inputSize values; segments: which head scores which rows. threads: the
   * most threads to use (the caller's included); fewer when there are too few rows to share.
   * basis: the base's and experts' first-layer weights, for candidates that combine them linearly.
   */
  constructor(
    private readonly config: MlpConfig,
    inputs: Float32Array,
    segments: readonly RowSegment[],
    threads = 1,
    basis?: FirstLayerBasis,
  ) {
    this.rows = inputs.length / config.inputSize;
    this.tasks = [...new Set(segments.map((s) => s.task))];
    const parts = Math.max(1, Math.min(Math.floor(threads), Math.floor(this.rows / MIN_ROWS_PER_THREAD)));
    const shares = splitRows(this.rows, parts, segments);
    const rowsOf = (s: Share) => inputs.subarray(s.start * config.inputSize, (s.start + s.count) * config.inputSize);
    try {
      for (const share of shares.slice(1)) {
        const { port1, port2 } = new MessageChannel();
        const signal = new Int32Array(new SharedArrayBuffer(4));
        const worker = new Worker(new URL('./mlp-forward-worker-entry.mjs', import.meta.url), { workerData: { port: port2, signal }, transferList: [port2] });
        worker.unref();
        const remote: Remote = { worker, port: port1, signal, answered: 0, rows: share.count };
        this.remotes.push(remote);
        worker.postMessage({ setup: { config, inputs: rowsOf(share).slice(), segments: share.segments, basis } });
      }
      this.local = new MlpRowsForward(config, rowsOf(shares[0]!), shares[0]!.segments, basis);
      for (const r of this.remotes) this.answer(r);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** How many threads score (the caller's included). */
  get threads(): number {
    return 1 + this.remotes.length;
  }

  /** Logits [rows, numClasses] of every row, each through its segment's head. */
  run(weights: MlpWeights): Float32Array {
    if (this.closed) throw new Error('this forward pass is closed');
    checkMlpWeights(this.config, this.tasks, weights);
    const lambda = this.local.firstLayerCoefficients(weights[`${mlpLayerName(0)}.weight`]!);
    if (lambda) this.combinedRuns++;
    for (const r of this.remotes) r.worker.postMessage({ weights, lambda });
    const mine = this.local.run(weights, lambda);
    const out = new Float32Array(this.rows * this.config.numClasses);
    out.set(mine);
    let at = mine.length;
    for (const r of this.remotes) {
      const logits = this.answer(r).logits!;
      out.set(logits, at);
      at += logits.length;
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.remotes) {
      r.port.close();
      void r.worker.terminate();
    }
  }

  /** Block until the worker's next answer, and read it. */
  private answer(r: Remote): { logits?: Float32Array } {
    const want = ++r.answered;
    const deadline = Date.now() + WORKER_TIMEOUT_MS;
    for (let seen = Atomics.load(r.signal, 0); seen < want; seen = Atomics.load(r.signal, 0)) {
      if (Date.now() > deadline) fail('ENGINE_E_WORKER', `a scoring worker thread gave no answer in ${WORKER_TIMEOUT_MS / 1000} s; it has probably crashed (out of memory?)`);
      Atomics.wait(r.signal, 0, seen, 1000);
    }
    const got = receiveMessageOnPort(r.port)?.message as { logits?: Float32Array; error?: { message: string; code?: string; stack?: string } } | undefined;
    if (!got) throw new Error('a scoring worker thread signalled an answer but sent none');
    if (got.error) throw rebuildError(got.error);
    return got;
  }
}
