// Worker threads do not inherit the main thread's TypeScript loader: load the compiled worker when
// this file runs from dist/ (bin/compile.mjs copies it there), else register tsx and load the source.
// A failure to load is answered like any other (the main thread is blocked waiting for an answer).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { workerData } from 'node:worker_threads';

try {
  const compiled = new URL('./sft4-worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(compiled))) {
    await import(compiled.href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import('./sft4-worker.ts');
  }
} catch (e) {
  workerData.port.postMessage({ error: { message: `an sft4 build worker thread failed to start: ${e?.message ?? e}`, stack: e?.stack } });
  Atomics.add(workerData.signal, 0, 1);
  Atomics.notify(workerData.signal, 0);
}
