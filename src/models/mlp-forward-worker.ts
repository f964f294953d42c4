// Worker thread of the threaded MLP forward pass (mlp-forward.ts): holds its share of the input
// rows in its own kernel memory and answers each request on its reply port, then bumps the shared
// counter the main thread waits on (the main thread blocks; it reads the reply synchronously).
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { MlpConfig } from './mlp-classifier.ts';
import { MlpRowsForward, type FirstLayerBasis, type MlpWeights, type RowSegment } from './mlp-rows-forward.ts';

const { port, signal } = workerData as { port: MessagePort; signal: Int32Array };
let forward: MlpRowsForward | undefined;

parentPort!.on('message', (msg: { setup?: { config: MlpConfig; inputs: Float32Array; segments: RowSegment[]; basis?: FirstLayerBasis }; weights?: MlpWeights; lambda?: Float64Array }) => {
  try {
    if (msg.setup) {
      forward = new MlpRowsForward(msg.setup.config, msg.setup.inputs, msg.setup.segments, msg.setup.basis);
      port.postMessage({});
    } else {
      const logits = forward!.run(msg.weights!, msg.lambda);
      port.postMessage({ logits }, [logits.buffer as ArrayBuffer]);
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    port.postMessage({ error: { message: err.message, code: err.code, stack: err.stack } });
  }
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});
