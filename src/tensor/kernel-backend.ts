// Which implementation runs the merge engine's per-element kernels: `wasm` (WebAssembly SIMD, the
// default) or `js` (the plain loops, kept as the reference and the fallback). Read from the
// environment on every call, so tests can run the same merge on both paths in one process, and
// worker threads (which copy the environment when they start) follow the thread that made them.
import { fail } from '../errors.ts';

export type KernelBackend = 'wasm' | 'js';

export const KERNEL_ENV = 'MERGESEARCH_KERNELS';

export function kernelBackend(): KernelBackend {
  const v = process.env[KERNEL_ENV];
  if (v === undefined || v === '' || v === 'wasm') return 'wasm';
  if (v === 'js') return 'js';
  fail('ENGINE_E_KERNELS', `${KERNEL_ENV}=${v} is not a kernel backend; set it to wasm (the default) or js (plain JavaScript loops)`);
}

/** Run `f` with the kernel backend set to `backend`, restoring the previous setting after. */
export function withKernelBackend<T>(backend: KernelBackend, f: () => T): T {
  const prev = process.env[KERNEL_ENV];
  process.env[KERNEL_ENV] = backend;
  try {
    return f();
  } finally {
    if (prev === undefined) delete process.env[KERNEL_ENV];
    else process.env[KERNEL_ENV] = prev;
  }
}
