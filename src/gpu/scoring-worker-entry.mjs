// Entry of the GPU scoring thread (scoring-worker.ts). Worker threads do not inherit the main
// thread's TypeScript loader: load the compiled worker when this file runs from dist/ (bin/compile.mjs
// copies it there), else register tsx and load the source. The main thread blocks on Atomics.wait
// until this thread answers, so anything that ends the thread raises the shared `dead` flag
// (signal[1]) and wakes it: it never waits on a thread that is gone.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { workerData } from 'node:worker_threads';

const { port, signal } = workerData;
const die = (message, stack) => {
  if (Atomics.load(signal, 1) !== 0) return;
  try {
    port.postMessage({ ok: false, error: { message, code: 'GPU_E_WORKER', stack } });
  } catch {
    // the port is closed: the flag alone tells the main thread
  }
  Atomics.store(signal, 1, 1);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
};
process.on('exit', (code) => die(`the GPU scoring thread exited (status ${code})`));
process.on('uncaughtException', (e) => {
  die(`the GPU scoring thread crashed: ${e?.message ?? e}`, e?.stack);
  process.exit(1);
});
process.on('unhandledRejection', (e) => {
  die(`the GPU scoring thread crashed: ${e?.message ?? e}`, e?.stack);
  process.exit(1);
});

try {
  const compiled = new URL('./scoring-worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(compiled))) {
    await import(compiled.href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import('./scoring-worker.ts');
  }
} catch (e) {
  die(`the GPU scoring thread failed to start: ${e?.message ?? e}`, e?.stack);
  process.exit(1);
}
