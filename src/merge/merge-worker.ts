// Worker thread: runs chunk tasks sent by the executor and answers with their results.
import { parentPort } from 'node:worker_threads';
import { ChunkRunner, type ChunkTask } from './chunk-runner.ts';

const runner = new ChunkRunner();

parentPort!.on('message', (msg: { id: number; task?: ChunkTask; reset?: boolean }) => {
  try {
    if (msg.reset) {
      runner.reset();
      parentPort!.postMessage({ id: msg.id, result: {} });
      return;
    }
    parentPort!.postMessage({ id: msg.id, result: runner.run(msg.task!) });
  } catch (e) {
    const err = e as Error & { code?: string };
    parentPort!.postMessage({ id: msg.id, error: { message: err.message, code: err.code, stack: err.stack } });
  }
});
