// Opening a compute device for the merge kernels: `--device auto|cpu|gpu`. The GPU path goes
// through Dawn (the `webgpu` package): Vulkan on real GPUs, and Dawn's OpenGL ES backend on Mesa's
// software rasteriser (llvmpipe), which is how machines without a GPU (CI) exercise the kernels.
// `auto` takes a real GPU when one is present and never a software adapter (it is slower than the
// CPU path); `gpu` takes whatever Dawn offers, the software adapter included.
import fs from 'node:fs';
import { fail, MergeSearchError } from '../errors.ts';

export type DeviceChoice = 'auto' | 'cpu' | 'gpu';
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['auto', 'cpu', 'gpu'];

/** What is printed and stored about the adapter a merge ran on. */
export interface AdapterDescription {
  /** Dawn backend the adapter came from ('default': Dawn's own first choice, Vulkan on Linux). */
  backend: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU rasteriser (llvmpipe, lavapipe, SwiftShader) rather than a GPU. */
  software: boolean;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterDescription;
  /** Largest storage-buffer binding, in bytes (tiles of a tensor stay under it). */
  maxBindingBytes: number;
  maxBufferBytes: number;
  /** Invocations per workgroup the kernels may use. */
  workgroupSize: number;
  maxWorkgroupsPerDimension: number;
  /** Set when the device is lost (driver reset, destroy); every later use fails with GPU_E_DEVICE_LOST. */
  lostReason: string | undefined;
  /** Release the device (and Dawn's instance, which otherwise keeps the process alive). */
  close(): void;
}

export type ComputeDevice = { kind: 'cpu'; note?: string } | { kind: 'gpu'; gpu: GpuContext };

export interface OpenDeviceOptions {
  /**
   * Dawn backends tried in order ('default' lets Dawn choose; 'opengles' is the software route).
   * Tests narrow this to reach the no-adapter case.
   */
  backends?: string[];
  /** Under auto, start Dawn even when no GPU device node exists (tests reach the software adapter this way). */
  probeWithoutDeviceNodes?: boolean;
}

const DEFAULT_BACKENDS = ['default', 'opengles'];
const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|swrast|software/i;

interface Found {
  gpu: GPU;
  adapter: GPUAdapter;
  description: AdapterDescription;
}

export function parseDeviceChoice(v: string): DeviceChoice {
  if ((DEVICE_CHOICES as readonly string[]).includes(v)) return v as DeviceChoice;
  fail('CLI_E_ARG', `--device must be one of ${DEVICE_CHOICES.join(', ')}, got ${JSON.stringify(v)}`);
}

/** Open the device `choice` asks for; under `auto` anything short of a real GPU gives the CPU, with a note saying why. */
export async function openDevice(choice: DeviceChoice, opts: OpenDeviceOptions = {}): Promise<ComputeDevice> {
  if (!DEVICE_CHOICES.includes(choice)) parseDeviceChoice(String(choice));
  if (choice === 'cpu') return { kind: 'cpu' };
  if (choice === 'auto' && !opts.probeWithoutDeviceNodes && process.platform === 'linux' && gpuDeviceNodes().length === 0) {
    // No GPU driver is loaded, so Dawn could only find a software adapter, which auto never takes.
    return { kind: 'cpu', note: 'no GPU device (no /dev/nvidia*, /dev/dri/renderD*, /dev/kfd); merging on the CPU' };
  }
  const backends = opts.backends ?? DEFAULT_BACKENDS;
  const seen: Found[] = [];
  const reasons: string[] = [];
  for (const backend of backends) {
    const found = await findAdapter(backend, reasons);
    if (!found) continue;
    if (choice === 'gpu' || !found.description.software) return { kind: 'gpu', gpu: await openFound(found, seen) };
    seen.push(found);
  }
  if (choice === 'auto') {
    const soft = seen[0]?.description;
    return { kind: 'cpu', note: soft ? `only a software adapter (${soft.device}) was found; merging on the CPU (--device gpu uses it anyway)` : `no GPU adapter (${reasons.join('; ')}); merging on the CPU` };
  }
  fail('GPU_E_NO_ADAPTER', `--device gpu: no WebGPU adapter was found (${reasons.join('; ')}). On an NVIDIA machine install the Vulkan loader (libvulkan1) and point VK_DRIVER_FILES at the driver's ICD JSON; without a GPU install Mesa (libegl1 libgles2 libegl-mesa0) for the software adapter; or use --device cpu`);
}

/** Linux device nodes that GPU drivers create (NVIDIA, DRM render nodes, AMD compute). */
export function gpuDeviceNodes(): string[] {
  const list = (dir: string, prefix: string) => {
    try {
      return fs.readdirSync(dir).filter((f) => f.startsWith(prefix)).map((f) => `${dir}/${f}`);
    } catch {
      return [];
    }
  };
  return [...list('/dev', 'nvidia'), ...list('/dev/dri', 'renderD'), ...list('/dev', 'kfd')];
}

/** One line for logs and stores: `gpu: NVIDIA H200 (vulkan)` or `cpu`. */
export function describeDevice(d: ComputeDevice): string {
  if (d.kind === 'cpu') return 'cpu';
  const a = d.gpu.adapter;
  const name = [a.vendor, a.device || a.description].filter((s) => s !== '').join(' ');
  return `gpu: ${name} (${a.backend}${a.software ? ', software' : ''}; ${a.description})`;
}

async function loadDawn(): Promise<typeof import('webgpu') | string> {
  // Mesa's EGL picks a display platform from the environment; with no display, surfaceless is the one that works.
  process.env.EGL_PLATFORM ??= 'surfaceless';
  try {
    return await import('webgpu');
  } catch (e) {
    return `the webgpu package cannot be loaded: ${(e as Error).message}`;
  }
}

async function findAdapter(backend: string, reasons: string[]): Promise<Found | undefined> {
  const dawn = await loadDawn();
  if (typeof dawn === 'string') {
    reasons.push(dawn);
    return undefined;
  }
  let gpu: GPU;
  try {
    gpu = dawn.create(backend === 'default' ? [] : [`backend=${backend}`]);
  } catch (e) {
    reasons.push(`${backend}: ${(e as Error).message}`);
    return undefined;
  }
  // The OpenGL ES backend only offers compatibility-mode adapters.
  const attempts: GPURequestAdapterOptions[] = backend === 'opengles' ? [{ featureLevel: 'compatibility' }] : [{ powerPreference: 'high-performance' }, { featureLevel: 'compatibility' }];
  for (const o of attempts) {
    let adapter: GPUAdapter | null = null;
    try {
      adapter = await gpu.requestAdapter(o);
    } catch (e) {
      reasons.push(`${backend}: ${(e as Error).message}`);
    }
    if (adapter) return { gpu, adapter, description: describeAdapter(backend, adapter) };
  }
  reasons.push(`${backend}: no adapter`);
  return undefined;
}

function describeAdapter(backend: string, adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const d = {
    backend,
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
  };
  const software = info.isFallbackAdapter === true || SOFTWARE_NAMES.test(`${d.vendor} ${d.architecture} ${d.device} ${d.description}`);
  return { ...d, software };
}

async function openFound(found: Found, others: Found[]): Promise<GpuContext> {
  others.length = 0;
  const { adapter } = found;
  const lim = adapter.limits;
  // Ask for the adapter's own limits: the defaults (128 MiB bindings, 256 invocations) are lower
  // than real GPUs allow, and a compatibility adapter may allow less than the default workgroup.
  const workgroupSize = Math.min(256, lim.maxComputeWorkgroupSizeX, lim.maxComputeInvocationsPerWorkgroup);
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
        maxBufferSize: lim.maxBufferSize,
        maxComputeWorkgroupSizeX: workgroupSize,
        maxComputeInvocationsPerWorkgroup: workgroupSize,
        maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
      },
    });
  } catch (e) {
    fail('GPU_E_NO_ADAPTER', `the adapter ${found.description.device || found.description.description} refused to open a device: ${(e as Error).message}; use --device cpu`);
  }
  let gpu: GPU | undefined = found.gpu;
  const ctx: GpuContext = {
    device,
    adapter: found.description,
    maxBindingBytes: lim.maxStorageBufferBindingSize,
    maxBufferBytes: lim.maxBufferSize,
    workgroupSize,
    maxWorkgroupsPerDimension: lim.maxComputeWorkgroupsPerDimension,
    lostReason: undefined,
    close() {
      if (!gpu) return;
      ctx.lostReason ??= 'the device was closed';
      device.destroy();
      gpu = undefined;
    },
  };
  void device.lost.then((info) => {
    ctx.lostReason ??= `${info.reason}: ${info.message}`;
  });
  return ctx;
}

/** Fail with GPU_E_DEVICE_LOST when the device is gone. */
export function checkAlive(ctx: GpuContext, what: string): void {
  if (ctx.lostReason !== undefined) deviceLost(ctx, what);
}

export function deviceLost(ctx: GpuContext, what: string): never {
  fail('GPU_E_DEVICE_LOST', `the GPU device (${ctx.adapter.device || ctx.adapter.description}) was lost while ${what} (${ctx.lostReason ?? 'unknown reason'}); nothing of this output was kept — rerun, or use --device cpu`);
}

/**
 * A buffer, or GPU_E_OUT_OF_MEMORY when the device cannot hold it (over the adapter's buffer size
 * limit, or refused by the driver).
 */
export async function createBuffer(ctx: GpuContext, size: number, usage: number, label: string): Promise<GPUBuffer> {
  checkAlive(ctx, `allocating ${label}`);
  const bytes = Math.max(4, Math.ceil(size / 4) * 4);
  if (bytes > ctx.maxBufferBytes) outOfMemory(ctx, label, bytes, `the adapter's largest buffer is ${ctx.maxBufferBytes} bytes`);
  ctx.device.pushErrorScope('out-of-memory');
  ctx.device.pushErrorScope('validation');
  const buffer = ctx.device.createBuffer({ size: bytes, usage, label });
  const invalid = await ctx.device.popErrorScope();
  const oom = await ctx.device.popErrorScope();
  const err = oom ?? invalid;
  if (err) {
    buffer.destroy();
    checkAlive(ctx, `allocating ${label}`);
    outOfMemory(ctx, label, bytes, err.message);
  }
  return buffer;
}

function outOfMemory(ctx: GpuContext, label: string, bytes: number, why: string): never {
  fail('GPU_E_OUT_OF_MEMORY', `the GPU (${ctx.adapter.device || ctx.adapter.description}) cannot hold ${label} (${bytes} bytes: ${why}); free GPU memory held by other processes, or use --device cpu (under --device auto the merge falls back to the CPU)`);
}

export function isGpuError(e: unknown): e is MergeSearchError {
  return e instanceof MergeSearchError && e.code.startsWith('GPU_E_');
}

/** WebGPU's buffer usage and map mode bits (fixed by the specification). */
export const BufferUsage = { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
export const MapMode = { READ: 1, WRITE: 2 } as const;
