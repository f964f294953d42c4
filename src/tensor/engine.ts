// The tfjs engine: backend choice (tensorflow → wasm → cpu), and fixes for the wasm backend's
// known traps, measured on our machines: transposed matmuls ~15× slower than an explicit
// transpose + plain matmul, and a ~3.8 GB heap past which allocations silently corrupt other
// tensors. Numbers that are reported or optimised are reduced in float64 (see reduce.ts): wasm's
// one-pass float32 sums are wrong by 15–50 % on tensors of 16 M elements.
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import { BACKEND_CHOICES, type BackendChoice, type BackendName } from './backend-choices.ts';

export { BACKEND_CHOICES, type BackendChoice, type BackendName };

/** wasm32's heap stops near 3.8 GB; refuse tensors past this, leaving room for the kernels' scratch. */
export const DEFAULT_WASM_HEAP_LIMIT = 3.2e9;

export interface Engine {
  tf: typeof tf;
  backend: BackendName;
}

let current: Engine | undefined;
let heapLimit = DEFAULT_WASM_HEAP_LIMIT;

/**
 * Start tfjs on the chosen backend ('auto': tensorflow when @tensorflow/tfjs-node-gpu or
 * @tensorflow/tfjs-node can be imported, else wasm, else cpu). Idempotent for the same choice.
 */
export async function initEngine(choice: BackendChoice = 'auto'): Promise<Engine> {
  if (!BACKEND_CHOICES.includes(choice)) {
    fail('ENGINE_E_BACKEND', `unknown backend ${JSON.stringify(choice)}; use one of ${BACKEND_CHOICES.join(', ')}`);
  }
  if (current && (choice === 'auto' || choice === current.backend)) return current;
  const order: BackendName[] = choice === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [choice];
  const reasons: string[] = [];
  for (const name of order) {
    const why = await tryBackend(name);
    if (why === undefined) {
      current = { tf, backend: name };
      return current;
    }
    reasons.push(`${name}: ${why}`);
  }
  fail('ENGINE_E_BACKEND', `backend ${choice} is not available (${reasons.join('; ')})${choice === 'tensorflow' ? '; install it with npm install @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node' : ''}`);
}

async function tryBackend(name: BackendName): Promise<string | undefined> {
  try {
    if (name === 'tensorflow') {
      // Optional: importing either package registers the 'tensorflow' backend.
      if (!(await importFirst(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']))) return 'neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed';
    } else if (name === 'wasm') {
      await import('@tensorflow/tfjs-backend-wasm');
    }
    if (!(await tf.setBackend(name))) return 'it failed to initialise';
    await tf.ready();
    if (name === 'wasm') patchWasmBackend();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

async function importFirst(names: string[]): Promise<boolean> {
  for (const n of names) {
    try {
      await import(n);
      return true;
    } catch {
      // not installed: try the next
    }
  }
  return false;
}

/** Set the byte limit for tensors on the wasm heap (tests use small limits). */
export function setWasmHeapLimit(bytes: number): void {
  heapLimit = bytes;
}

interface WasmBackendLike {
  move(dataId: object, values: unknown, shape: number[], dtype: tf.DataType, refCount: number): void;
  disposeData(dataId: object, force?: boolean): boolean;
}

let patched = false;

function patchWasmBackend(): void {
  if (patched) return;
  patched = true;
  const backend = tf.backend() as unknown as WasmBackendLike;
  // Heap guard: every tensor allocation on the wasm heap goes through move(); refuse one that
  // would take the tensors past the limit, before the heap can wrap into other tensors' memory.
  const move = backend.move.bind(backend);
  backend.move = (dataId, values, shape, dtype, refCount) => {
    if (dtype !== 'string') {
      const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'complex64' ? 8 : dtype === 'bool' ? 1 : 4);
      const used = tf.memory().numBytes;
      if (used + bytes > heapLimit) {
        fail('ENGINE_E_MEMORY', `the wasm backend would hold ${((used + bytes) / 1e9).toFixed(2)} GB of tensors, past its safe limit of ${(heapLimit / 1e9).toFixed(2)} GB; use a smaller model or batch, or --backend tensorflow`);
      }
    }
    move(dataId, values, shape, dtype, refCount);
  };
  for (const kernelName of ['BatchMatMul', '_FusedMatMul']) wrapTransposedMatMul(kernelName, backend);
}

/**
 * Replace the wasm matmul kernel by one that materialises transposed operands first and then runs
 * the plain kernel: the same numbers, ~15× faster (this is what makes gradients fast).
 */
function wrapTransposedMatMul(kernelName: string, backend: WasmBackendLike): void {
  const original = tf.getKernel(kernelName, 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
      if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
      const inputs = { ...(args.inputs as Record<string, tf.TensorInfo>) };
      const made: tf.TensorInfo[] = [];
      const flip = (key: 'a' | 'b') => {
        const x = inputs[key]!;
        const rank = x.shape.length;
        const perm = [...Array(rank).keys()];
        [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
        const t = transpose.kernelFunc({ inputs: { x }, backend: args.backend, attrs: { perm } }) as tf.TensorInfo;
        made.push(t);
        inputs[key] = t;
      };
      if (attrs.transposeA) flip('a');
      if (attrs.transposeB) flip('b');
      try {
        return original.kernelFunc({ ...args, inputs, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
      } finally {
        for (const t of made) backend.disposeData(t.dataId, true);
      }
    },
  });
}
