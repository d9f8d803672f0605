// What the pages share: fetching the model directory's files, the element
// helper, where the kernels run, and reporting a failure on the page (and in
// window.tccError for programs that drive it).

import { BACKENDS, type Backend } from '../backends/registry.js';

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

/** Where the page runs its kernels: the first backend that runs in a browser and here, a GPU's first; the note says what was passed over. */
export async function pageBackend(): Promise<{ backend: Backend; note: string }> {
  const candidates = BACKENDS.filter((b) => b.capabilities.browser).sort((a, b) => Number(b.device === 'gpu') - Number(a.device === 'gpu'));
  const passed: string[] = [];
  for (const backend of candidates) {
    if (!(await backend.probe()).ok) {
      passed.push(backend.title);
      continue;
    }
    const where = backend.device === 'cpu' ? `on the CPU in this tab (${backend.title})` : `on ${backend.title}`;
    return { backend, note: passed.length ? `${passed.join(', ')} is not available in this browser: running ${where}, slower` : '' };
  }
  throw new Error('no tcc backend runs in this browser');
}

/** What the page's title says the kernels run on. */
export const runsOn = (backend: Backend): string => (backend.device === 'gpu' ? backend.title : 'the CPU');
