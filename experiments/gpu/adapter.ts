// Prints the WebGPU adapter `--device gpu` gets, and with --require-hardware fails (exit 1) when it
// is a software rasteriser: on a GPU machine that means Vulkan did not reach the driver.
import { describeDevice, openDevice } from '../../src/gpu/device.ts';

const d = await openDevice('gpu');
const line = describeDevice(d);
console.log(`adapter: ${line}`);
const software = d.kind === 'gpu' && d.gpu.adapter.software;
if (d.kind === 'gpu') d.gpu.close();
if (software && process.argv.includes('--require-hardware')) {
  console.error('the only adapter is a software one: Vulkan did not reach the GPU driver (check VK_DRIVER_FILES and the Vulkan loader)');
  process.exit(1);
}
