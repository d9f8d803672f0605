// What the pages share: fetching the model directory's files, the element
// helper, where the kernels run, and reporting a failure on the page (and in
// window.tccError for programs that drive it).

import type { Backend } from '../runtime/executor.js';

export const $ = (id: string): HTMLElement => document.getElementById(id)!;

export async function fetchOk(path: string): Promise<Response> {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${response.statusText}`);
  return response;
}

export function fail(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  (window as unknown as { tccError?: string }).tccError = message;
  $('status').className = 'error';
  $('status').textContent = message;
}

/** Where the page runs its kernels: WebGPU where the browser gives an adapter, else the CPU in this tab (JavaScript). */
export async function pageBackend(): Promise<{ backend: Backend; note: string }> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (adapter) return { backend: 'webgpu', note: '' };
  return { backend: 'js', note: `WebGPU is not available in this browser${gpu ? ' (no adapter)' : ''}: running on the CPU in this tab (JavaScript), slower` };
}
