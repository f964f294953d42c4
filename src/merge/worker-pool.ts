// A fixed pool of merge worker threads; task i of a batch goes to worker i mod N, so the chunk a
// worker kept from one pass is the chunk it gets in the next.
import { Worker } from 'node:worker_threads';
import { MergeSearchError, type ErrorCode } from '../errors.ts';
import type { ChunkResult, ChunkTask } from './chunk-runner.ts';

interface Pending {
  resolve: (r: ChunkResult) => void;
  reject: (e: Error) => void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./merge-worker-entry.mjs', import.meta.url));
      w.on('message', (msg: { id: number; result?: ChunkResult; error?: { message: string; code?: string; stack?: string } }) => {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        if (msg.error) {
          const m = msg.error.message;
          const code = msg.error.code as ErrorCode | undefined;
          p.reject(code ? Object.assign(new MergeSearchError(code, m.replace(`${code}: `, '')), { stack: msg.error.stack }) : new Error(m));
        } else p.resolve(msg.result!);
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  run(tasks: ChunkTask[]): Promise<ChunkResult[]> {
    return Promise.all(tasks.map((task, i) => this.send(i % this.workers.length, { task })));
  }

  reset(): Promise<unknown> {
    return Promise.all(this.workers.map((_, i) => this.send(i, { reset: true })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private send(worker: number, body: { task?: ChunkTask; reset?: boolean }): Promise<ChunkResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[worker]!.postMessage({ id, ...body });
    });
  }
}
