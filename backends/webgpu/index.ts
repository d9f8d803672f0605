// The WebGPU backend: the kernel IR rendered to WGSL, one module per
// distinct kernel, run on the first WebGPU adapter (Dawn's in Node, the
// browser's own in a tab).

import type { Backend } from '../contract.js';
import { WGSL_INTRINSICS } from './expr.js';
import { functionNames } from '../../kernel/hash.js';

const device = () => import('./device.js');

export const webgpuBackend: Backend = {
  name: 'webgpu',
  title: 'WebGPU',
  summary: 'WGSL on the first WebGPU adapter',
  device: 'gpu',
  target: 'wgsl',
  outputs: ['wgsl'],
  capabilities: { threads: false, systemCompiler: false, browser: true, findsNonFinite: false, intrinsics: WGSL_INTRINSICS, runtimeSizes: true },
  install: 'a GPU driver with Vulkan, Metal or D3D12 (on Linux without a GPU, Mesa\'s lavapipe)',
  async render(_program, kernels) {
    const { renderProgramWgsl } = await import('./render.js');
    const modules = renderProgramWgsl(kernels, functionNames(kernels, ''));
    return Object.fromEntries([...modules].map(([fn, module]) => [`wgsl/${fn}.wgsl`, module.code]));
  },
  async probe() {
    try {
      const { acquireDevice, describeAdapter, isSoftwareAdapter } = await device();
      const { info } = await acquireDevice();
      const software = isSoftwareAdapter(info) ? ' — a software adapter on the CPU: it runs WebGPU correctly, but its timings are not a GPU\'s' : '';
      return { ok: true, found: `${describeAdapter(info)}${software}` };
    } catch (e) {
      return { ok: false, found: (e as Error).message.split('\n')[0]! };
    }
  },
  examine() {
    return this.probe();
  },
  /** A software adapter (lavapipe, SwiftShader) allocates from the host; a GPU's own memory is checked by the device. */
  async usesHostMemory() {
    const { acquireDevice, isSoftwareAdapter } = await device();
    return isSoftwareAdapter((await acquireDevice()).info);
  },
  async open(program, kernels) {
    const { WebGpuExecutor } = await import('./executor.js');
    return WebGpuExecutor.create(program, kernels);
  },
};
