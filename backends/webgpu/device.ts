// Getting a WebGPU device: the browser's navigator.gpu, or in Node Dawn's
// bindings (the `webgpu` package). One device serves every session of a
// process. Without an adapter (no Vulkan, Metal or D3D12 driver) the error
// says so in one line and points to the CPU backend.

import { RunFailure } from '../../runtime/errors.js';

export interface GpuHandle {
  /** Held for the device's lifetime: Dawn stops delivering its events once the instance is collected. */
  readonly gpu: GPU;
  readonly device: GPUDevice;
  readonly info: GPUAdapterInfo;
}

let shared: Promise<GpuHandle> | undefined;

async function gpuEntry(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  let dawn: { create: (options: string[]) => GPU; globals: object };
  try {
    const name = 'webgpu';
    dawn = (await import(name)) as typeof dawn;
  } catch (e) {
    throw new RunFailure(`WebGPU is not available here (the webgpu package did not load: ${(e as Error).message.split('\n')[0]}); use --backend cpu`);
  }
  Object.assign(globalThis, dawn.globals);
  return dawn.create([]);
}

async function open(): Promise<GpuHandle> {
  const gpu = await gpuEntry();
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new RunFailure('no WebGPU adapter found (no GPU driver: on Linux without a GPU, install a Vulkan driver such as Mesa\'s lavapipe); use --backend cpu');
  }
  // The largest buffers and bindings the adapter allows; everything else stays at the defaults every device has.
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    },
  });
  return { gpu, device, info: adapter.info };
}

/** The process's WebGPU device, opened on first use (and again after a loss). */
export function acquireDevice(): Promise<GpuHandle> {
  if (shared) return shared;
  const opening = open().then(
    (handle) => {
      void handle.device.lost.then(() => {
        if (shared === opening) shared = undefined;
      });
      return handle;
    },
    (e: unknown) => {
      shared = undefined;
      throw e;
    },
  );
  shared = opening;
  return opening;
}

/** "llvmpipe (LLVM 19.1.7, 256 bits), vulkan, cpu" and the like: which adapter ran. */
export function describeAdapter(info: GPUAdapterInfo): string {
  const name = info.description || info.device || info.vendor || 'unknown adapter';
  const extra = [info.vendor && !name.includes(info.vendor) ? info.vendor : '', info.architecture].filter(Boolean);
  return extra.length ? `${name} (${extra.join(', ')})` : name;
}

/** Whether an adapter is a software rasterizer on the CPU (its figures are not GPU figures). */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  return /llvmpipe|lavapipe|swiftshader|software|cpu/i.test(`${info.description} ${info.device} ${info.architecture} ${info.vendor}`);
}
