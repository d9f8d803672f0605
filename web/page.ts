// What the pages share: fetching the model directory's files, the element
// helper, and reporting a failure on the page (and in window.tccError for
// programs that drive it).

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

export function requireWebGpu(): void {
  if (!('gpu' in navigator)) throw new Error('this browser has no WebGPU (navigator.gpu); try a recent Chrome, or Chromium with --enable-unsafe-webgpu');
}
