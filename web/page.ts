// What the pages share: fetching the model directory's files and its
// tokenizer, the element helper, where the kernels run, and reporting a
// failure on the page (and in window.tccError for programs that drive it).

import { BACKENDS, type Backend } from '../backends/registry.js';
import type { Program } from '../runtime/program.js';
import { readSafetensors } from '../runtime/safetensors.js';
import { openSession, type Session } from '../runtime/session.js';
import { matchWeights } from '../runtime/weights.js';
import { JsonTokenizer } from '../train/hf-tokenizer/tokenizer.js';
import { WordPieceTokenizer, type TextTokenizer } from '../train/tokenizer.js';

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

/**
 * Where the page runs its kernels: the backend that `?backend=NAME` asks
 * for if it runs in this browser, else the first that does, a GPU's first.
 * `note` says what was asked for or passed over and could not run;
 * `choices` are every backend that runs here, for the chooser.
 */
export async function pageBackend(requested = new URLSearchParams(location.search).get('backend')): Promise<{ backend: Backend; note: string; choices: Backend[] }> {
  const candidates = BACKENDS.filter((b) => b.capabilities.browser).sort((a, b) => Number(b.device === 'gpu') - Number(a.device === 'gpu'));
  const probed = await Promise.all(candidates.map(async (b) => ({ backend: b, runs: (await b.probe()).ok })));
  const running = probed.filter((p) => p.runs).map((p) => p.backend);
  const asked = requested === null ? undefined : BACKENDS.find((b) => b.name === requested);
  const backend = asked && running.includes(asked) ? asked : running[0];
  if (!backend) throw new Error('no tcc backend runs in this browser');
  const passed = backend === asked ? [] : [
    ...(requested === null ? [] : [asked ? asked.title : `'${requested}'`]),
    ...probed.filter((p) => !p.runs && p.backend !== asked).map((p) => p.backend.title),
  ];
  const where = backend.device === 'cpu' ? `on the CPU in this tab (${backend.title})` : `on ${backend.title}`;
  return { backend, note: passed.length ? `${passed.join(', ')} is not available in this browser: running ${where}, slower` : '', choices: running };
}

/** The chooser of where the kernels run: choosing reloads the page with ?backend=NAME. */
export function showBackendChooser(current: Backend, choices: readonly Backend[]): void {
  const select = $('backend') as HTMLSelectElement;
  select.replaceChildren(...choices.map((b) => new Option(b.title, b.name, false, b === current)));
  select.disabled = choices.length < 2;
  select.onchange = () => {
    const query = new URLSearchParams(location.search);
    query.set('backend', select.value);
    location.search = query.toString();
  };
}

/** What the page's title says the kernels run on. */
export const runsOn = (backend: Backend): string => (backend.device === 'gpu' ? backend.title : 'the CPU');

/** What the server says of the model's tokenizer (model/serve.json). */
export interface TokenizerSettings {
  /** The file the server holds: a tokenizer.json, or a WordPiece vocab.txt lower-cased as `lowercase` says. */
  readonly tokenizer: 'tokenizer.json' | 'vocab.txt';
  readonly lowercase: boolean;
}

/** The served model's tokenizer. */
export async function pageTokenizer(settings: TokenizerSettings): Promise<TextTokenizer> {
  const text = await (await fetchOk(`model/${settings.tokenizer}`)).text();
  return settings.tokenizer === 'tokenizer.json' ? JsonTokenizer.fromJson(text) : WordPieceTokenizer.fromVocabText(text, { lowercase: settings.lowercase });
}

/** A session on `backend` with the served weights (every parameter of the program in them), and the served tokenizer. */
export async function openServedModel(program: Program, backend: Backend, settings: TokenizerSettings): Promise<{ session: Session; tokenizer: TextTokenizer }> {
  const [weights, tokenizer] = await Promise.all([fetchOk('model/model.safetensors').then((r) => r.arrayBuffer()), pageTokenizer(settings)]);
  const session = await openSession({ program }, { backend: backend.name });
  const matched = matchWeights(program.params, readSafetensors(new Uint8Array(weights), 'model.safetensors').tensors, 'model.safetensors');
  if (matched.missing.length) throw new Error(`model.safetensors lacks ${matched.missing.length} parameters, e.g. '${matched.missing[0]}'`);
  session.setParams(matched.values);
  return { session, tokenizer };
}

/**
 * Wires the page's Run button: each press runs `act`, leaves its result in
 * window.tccResult (for programs that drive the page) and shows it; then
 * says the page is ready.
 */
export function onRun<R>(act: () => Promise<R>, show: (result: R) => void, ready: string): void {
  const page = window as unknown as { tccResult?: R; tccReady?: boolean };
  const button = $('run') as HTMLButtonElement;
  button.onclick = () => {
    button.disabled = true;
    $('status').textContent = 'running…';
    act()
      .then((result) => {
        page.tccResult = result;
        show(result);
        $('status').textContent = 'done';
      })
      .catch(fail)
      .finally(() => (button.disabled = false));
  };
  button.disabled = false;
  $('status').textContent = ready;
  page.tccReady = true;
}
