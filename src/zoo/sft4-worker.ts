// Worker thread of an sft4 build (sft4.ts): its own tfjs instance on the main thread's backend, the
// build's context from the same options, then one expert per request `{ k }`, trained from the base
// it was given; every message (log lines, the result, an error) goes to its reply port, then it
// bumps the shared counter the blocked main thread waits on.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { initEngine } from '../tensor/engine.ts';
import type { BackendChoice } from '../tensor/backend-choices.ts';
import { sft4ExpertTrainer, type Sft4Setup } from './sft4.ts';

const { port, signal, setup, base, backend } = workerData as { port: MessagePort; signal: Int32Array; setup: Sft4Setup; base: Record<string, Float32Array>; backend: string };
const send = (message: unknown, transfer: ArrayBuffer[] = []) => {
  port.postMessage(message, transfer);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
};

let train: ReturnType<typeof sft4ExpertTrainer> | undefined;
const ready = initEngine(backend as BackendChoice).then(() => {
  train = sft4ExpertTrainer(setup, (line) => send({ log: line }));
});

parentPort!.on('message', (msg: { k: number }) => {
  ready
    .then(() => {
      const result = train!(msg.k, base);
      send({ result }, Object.values(result.params).map((v) => v.buffer as ArrayBuffer));
    })
    .catch((e: Error) => send({ error: { message: e.message, stack: e.stack } }));
});
