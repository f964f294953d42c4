// --device auto|cpu|gpu on the adapters this machine has: under CI only Mesa's software adapter,
// which `gpu` must take and `auto` must refuse (the CPU path is faster than a software GPU).
import { afterAll, describe, expect, it } from 'vitest';
import { BufferUsage, createBuffer, describeDevice, gpuDeviceNodes, openDevice, parseDeviceChoice } from '../src/gpu/device.ts';
import { MergeSearchError } from '../src/errors.ts';
import { requireGpu, skipGpu, testGpu } from './helpers/gpu.ts';

const SKIP = await skipGpu();
if (SKIP) console.warn(`gpu-device.test.ts SKIPPED: ${await testGpu()}`);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof MergeSearchError ? e.code : `not coded: ${(e as Error).message}`;
  }
  return 'no error';
}

describe('device choice', () => {
  it('cpu never touches Dawn, and unknown choices are coded errors', async () => {
    expect(await openDevice('cpu')).toEqual({ kind: 'cpu' });
    expect(() => parseDeviceChoice('cuda')).toThrow(/CLI_E_ARG: --device must be one of auto, cpu, gpu/);
    expect(parseDeviceChoice('gpu')).toBe('gpu');
  });

  it('auto does not start Dawn on a machine without GPU device nodes', async () => {
    const d = await openDevice('auto');
    if (gpuDeviceNodes().length === 0) expect(d).toEqual({ kind: 'cpu', note: expect.stringMatching(/no GPU device \(no \/dev\/nvidia/) });
    else expect(['cpu', 'gpu']).toContain(d.kind);
    if (d.kind === 'gpu') d.gpu.close();
  });

  it('gpu with no backend that has an adapter fails with GPU_E_NO_ADAPTER; auto falls back to the CPU with the reason', async () => {
    // Direct3D 12 does not exist on Linux: no adapter, whatever the machine has.
    expect(await codeOf(openDevice('gpu', { backends: ['d3d12'] }))).toBe('GPU_E_NO_ADAPTER');
    const auto = await openDevice('auto', { backends: ['d3d12'], probeWithoutDeviceNodes: true });
    expect(auto.kind).toBe('cpu');
    expect(auto.kind === 'cpu' && auto.note).toMatch(/no GPU adapter/);
  });
});

describe.skipIf(SKIP)('on the test adapter', () => {
  afterAll(async () => {
    const g = await testGpu();
    if (typeof g !== 'string') g.close();
  });

  it('gpu opens it and describes it; auto refuses a software adapter', async () => {
    const g = await requireGpu();
    expect(g.maxBindingBytes).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(g.workgroupSize).toBeGreaterThanOrEqual(64);
    const line = describeDevice({ kind: 'gpu', gpu: g });
    expect(line).toMatch(/^gpu: /);
    if (g.adapter.software) {
      expect(line).toMatch(/software/);
      const auto = await openDevice('auto', { backends: [g.adapter.backend], probeWithoutDeviceNodes: true });
      expect(auto.kind).toBe('cpu');
      expect(auto.kind === 'cpu' && auto.note).toMatch(/only a software adapter .*--device gpu uses it anyway/);
    }
  });

  it('a buffer past the adapter limit is GPU_E_OUT_OF_MEMORY naming what did not fit', async () => {
    const g = await requireGpu();
    const err = await createBuffer(g, g.maxBufferBytes + 4, BufferUsage.STORAGE, 'tensor w input 1').catch((e: Error) => e);
    expect(err).toBeInstanceOf(MergeSearchError);
    expect((err as MergeSearchError).code).toBe('GPU_E_OUT_OF_MEMORY');
    expect((err as Error).message).toMatch(/tensor w input 1/);
    // A small one is fine and usable.
    const ok = await createBuffer(g, 1000, BufferUsage.STORAGE, 'small');
    expect(ok.size).toBe(1000);
    ok.destroy();
  });

  it('a lost device fails later work with GPU_E_DEVICE_LOST', async () => {
    const d = await openDevice('gpu', { backends: [(await requireGpu()).adapter.backend] });
    if (d.kind !== 'gpu') throw new Error('expected a GPU');
    d.gpu.device.destroy(); // what a driver reset looks like to the program
    await d.gpu.device.lost;
    expect(d.gpu.lostReason).toMatch(/destroyed/);
    expect(await codeOf(createBuffer(d.gpu, 64, BufferUsage.STORAGE, 'x'))).toBe('GPU_E_DEVICE_LOST');
    d.gpu.close();
  });
});
