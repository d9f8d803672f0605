// Whether this machine has a WebGPU adapter. Without one the WebGPU tests
// are skipped, except under CI, which installs a software Vulkan driver
// (lavapipe) so that they always run there.

import { acquireDevice } from '../../backends/webgpu/device.js';

export async function hasWebGpu(): Promise<boolean> {
  if (process.env['CI']) return true;
  try {
    await acquireDevice();
    return true;
  } catch {
    return false;
  }
}
