// Worker threads do not inherit the main thread's TypeScript loader: register it, then load. A
// failure to load is answered like any other (the main thread is blocked waiting for an answer).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

try {
  register();
  await import('./mlp-forward-worker.ts');
} catch (e) {
  workerData.port.postMessage({ error: { message: `a scoring worker thread failed to start: ${e?.message ?? e}`, stack: e?.stack } });
  Atomics.add(workerData.signal, 0, 1);
  Atomics.notify(workerData.signal, 0);
}
