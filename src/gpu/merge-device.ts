// The device a merge runs on, from `--device`: checks that the method has GPU kernels before
// anything is opened (gpu: a coded error naming the method; auto: the CPU, with the reason),
// opens the device, and hands the executor its GPU option. The caller closes what it returns.
import { fail } from '../errors.ts';
import type { ExecuteOptions } from '../merge/executor.ts';
import type { MergeMethod } from '../merge/method.ts';
import { getMethod, methodNames } from '../merge/registry.ts';
import { describeDevice, openDevice, type ComputeDevice, type DeviceChoice, type OpenDeviceOptions } from './device.ts';
import { GpuTensorMerger, type GpuTensorMergerOptions } from './tensor-merge.ts';

export interface MergeDevice {
  device: ComputeDevice;
  /** One line for the log: `cpu`, `cpu (why not the GPU)` or `gpu: <adapter>`. */
  line: string;
  gpu: ExecuteOptions['gpu'];
  close(): void;
}

/** Methods with a GPU combine kernel (some of their settings may still run on the CPU: della's ranks). */
export function gpuMethodNames(): string[] {
  return methodNames().filter((n) => getMethod(n)?.elementwise !== undefined);
}

export async function openMergeDevice(
  choice: DeviceChoice,
  method: MergeMethod,
  onWarning: (message: string) => void,
  opts: OpenDeviceOptions & GpuTensorMergerOptions = {},
): Promise<MergeDevice> {
  const cpu = (note?: string): MergeDevice => ({ device: { kind: 'cpu', note }, line: note ? `cpu (${note})` : 'cpu', gpu: undefined, close() {} });
  if (choice === 'cpu') return cpu();
  if (!method.elementwise) {
    const why = `merge method ${method.name} has no GPU kernel (GPU kernels: ${gpuMethodNames().join(', ')})`;
    if (choice === 'gpu') fail('GPU_E_METHOD', `--device gpu: ${why}; use --device cpu`);
    return cpu(why);
  }
  const device = await openDevice(choice, opts);
  if (device.kind === 'cpu') return cpu(device.note);
  const merger = new GpuTensorMerger(device.gpu, opts);
  return {
    device,
    line: describeDevice(device),
    gpu: { merger, strict: choice === 'gpu', onWarning },
    close() {
      merger.close();
      device.gpu.close();
    },
  };
}
