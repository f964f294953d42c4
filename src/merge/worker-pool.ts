// A fixed pool of merge worker threads; task i of a batch goes to worker i mod N, so the chunk a
// worker kept from one pass is the chunk it gets in the next. Each worker owns its own wasm kernel
// instance and memory (nothing shared; why: src/tensor/wasm/wasm-kernels.ts).
import { Worker } from 'node:worker_threads';
import { ErrorCodes, MergeSearchError, type ErrorCode } from '../errors.ts';
import type { ChunkResult, ChunkTask } from './chunk-runner.ts';

/** Under tsx the worker registers the TypeScript loader first; compiled, it runs the compiled worker. */
const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? './merge-worker-entry.mjs' : './merge-worker.js';

interface Pending {
  resolve: (r: ChunkResult) => void;
  reject: (e: Error) => void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Set when a worker died: every pending and later request fails with it instead of hanging. */
  private broken: Error | undefined;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL(WORKER_ENTRY, import.meta.url));
      w.on('message', (msg: { id: number; result?: ChunkResult; error?: { message: string; code?: string; stack?: string } }) => {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.error) p.reject(rebuildError(msg.error));
        else p.resolve(msg.result!);
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => this.fail(new Error(`a merge worker thread exited (code ${code})`)));
      this.workers.push(w);
    }
  }

  run(tasks: ChunkTask[]): Promise<ChunkResult[]> {
    return Promise.all(tasks.map((task, i) => this.send(i % this.workers.length, { task })));
  }

  reset(): Promise<unknown> {
    if (this.broken) return Promise.resolve();
    return Promise.all(this.workers.map((_, i) => this.send(i, { reset: true })));
  }

  async close(): Promise<void> {
    this.broken ??= new Error('the worker pool is closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const p of this.pending.values()) p.reject(this.broken);
    this.pending.clear();
  }

  private send(worker: number, body: { task?: ChunkTask; reset?: boolean }): Promise<ChunkResult> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[worker]!.postMessage({ id, ...body });
    });
  }
}

/** An error from a worker, as the main thread would have thrown it. */
export function rebuildError(e: { message: string; code?: string; stack?: string }): Error {
  const err = e.code && Object.hasOwn(ErrorCodes, e.code)
    ? new MergeSearchError(e.code as ErrorCode, e.message.replace(`${e.code}: `, ''))
    : Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
  err.stack = e.stack;
  return err;
}
