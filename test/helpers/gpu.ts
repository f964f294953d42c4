// The GPU tests run on whatever adapter `--device gpu` gets: Mesa's software rasteriser through
// Dawn's OpenGL ES backend on machines without a GPU (CI installs Mesa in .ci/run), a real GPU
// where there is one. Where no adapter opens, the tests are skipped with the reason — except
// under CI=true, where they fail instead, so a broken install cannot pass silently.
import { openDevice, type GpuContext } from '../../src/gpu/device.ts';

export const IN_CI = /^(true|1)$/i.test(process.env.CI ?? '');

let opened: Promise<GpuContext | string> | undefined;

/** The test GPU, or why there is none. One device per test file (each file runs in its own process). */
export function testGpu(): Promise<GpuContext | string> {
  opened ??= openDevice('gpu').then(
    (d) => (d.kind === 'gpu' ? d.gpu : 'no adapter'),
    (e: Error) => e.message,
  );
  return opened;
}

/** The GPU, or throw (under CI, or when the caller wants a failure rather than a skip). */
export async function requireGpu(): Promise<GpuContext> {
  const g = await testGpu();
  if (typeof g === 'string') throw new Error(`no GPU adapter for the GPU tests: ${g}`);
  return g;
}

/** Whether to skip the GPU tests: only outside CI, and only when no adapter opens. */
export async function skipGpu(): Promise<boolean> {
  if (IN_CI) return false;
  return typeof (await testGpu()) === 'string';
}
