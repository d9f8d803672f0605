// Every backend tcc has, in order of preference: the one place that names
// them all. The compiler renders through it, the runtime opens executors
// through it, and the CLI takes its --backend choices, help texts and
// `tcc doctor`'s list from it. A new backend is a folder exporting one
// Backend object (backends/contract.ts) and a line here.

import type { Backend, OpenOptions } from './contract.js';
import { legalize } from '../kernel/composite.js';
import type { Kernel } from '../kernel/ir.js';
import type { Executor } from '../runtime/executor.js';
import type { Program } from '../runtime/program.js';
import { InputError } from '../runtime/errors.js';
import { jsBackend } from './js/index.js';
import { nativeBackend } from './native/index.js';
import { wasmBackend } from './wasm/index.js';
import { webgpuBackend } from './webgpu/index.js';

export type { Backend, BackendState, Capabilities, OpenOptions } from './contract.js';

/** In order of preference among those of a device: the first that runs here is the default. */
export const BACKENDS: readonly Backend[] = [nativeBackend, wasmBackend, jsBackend, webgpuBackend];

/** The portable reference, which runs anywhere and opens at once: what a session runs when not told otherwise. */
export const REFERENCE: Backend = jsBackend;

/** `--backend cpu`: the first CPU backend that runs here. */
export const ANY_CPU = 'cpu';

/** The --backend values: `cpu`, then every backend's name. */
export const BACKEND_CHOICES: readonly string[] = [ANY_CPU, ...BACKENDS.map((b) => b.name)];

/** The code targets (`tcc compile --target`), each written by the backends that render it. */
export const TARGETS: readonly string[] = [...new Set(BACKENDS.map((b) => b.target))];

/** What --backend offers, one line per backend (its name, then its summary), for usage texts. */
export function backendHelp(indent: string): string {
  const width = Math.max(...BACKENDS.map((b) => b.name.length));
  return BACKENDS.map((b) => `${indent}${b.name.padEnd(width)}  ${b.summary}`).join('\n');
}

/** The CPU backends' names, in order of preference. */
export const cpuBackendNames = (): string[] => BACKENDS.filter((b) => b.device === 'cpu').map((b) => b.name);

export class UnknownBackendError extends Error {}

/** The backend named `name`; an unknown name is refused with the registered ones listed. */
export function backendNamed(name: string): Backend {
  const found = BACKENDS.find((b) => b.name === name);
  if (!found) throw new UnknownBackendError(`unknown backend '${name}'; the backends are ${BACKENDS.map((b) => b.name).join(', ')}`);
  return found;
}

/**
 * The backend that will run a `--backend` choice here (`cpu` asks for the
 * first CPU backend). A CPU backend that cannot run (no C compiler) gives
 * way to the next CPU backend that can, `notice` being told in one line
 * what is missing and what runs instead; a GPU backend that cannot run is
 * refused by its open, which names what is missing.
 */
export async function chooseBackend(choice: string, notice?: (line: string) => void, sized = false): Promise<Backend> {
  const asked = choice === ANY_CPU ? BACKENDS.find((b) => b.device === 'cpu')! : backendNamed(choice);
  if (asked.device !== 'cpu') return asked;
  const state = await asked.probe();
  if (state.ok) return asked;
  // A program sized at each run falls back only to a backend that takes its sizes.
  const instead = await firstRunning(BACKENDS.filter((b) => b.device === 'cpu' && b !== asked && (!sized || b.capabilities.runtimeSizes)));
  notice?.(`${state.found}: running the ${instead.title} backend instead of ${asked.title}`);
  return instead;
}

async function firstRunning(candidates: readonly Backend[]): Promise<Backend> {
  for (const b of candidates) if ((await b.probe()).ok) return b;
  throw new Error(`no backend runs here (tried ${candidates.map((b) => b.name).join(', ')})`);
}

/** The flags that find the first kernel producing a NaN or an infinity, for messages about a non-finite loss. */
export function nonFiniteHint(): string {
  const finder = BACKENDS.find((b) => b.capabilities.findsNonFinite);
  return finder ? `--backend ${finder.name} --debug names the first kernel that produced it` : '--debug may say more';
}

/** The kernels as `backend` renders them: the composite functions it does not compute itself expanded into primitive ones. */
export function legalizedFor(backend: Backend, kernels: readonly Kernel[]): Kernel[] {
  const intrinsics = new Set(backend.capabilities.intrinsics);
  return kernels.map((k) => legalize(k, intrinsics));
}

/** A backend's readable files for a program (its kernels legalized for it first). */
export async function renderOn(backend: Backend, program: Program, kernels: readonly Kernel[]): Promise<Record<string, string>> {
  takesSizesOf(backend, program);
  return backend.render(program, legalizedFor(backend, kernels));
}

/** Refuses a program whose runs give its sizes on a backend that renders sizes as numbers. */
function takesSizesOf(backend: Backend, program: Program): void {
  if (!program.symbols?.length || backend.capabilities.runtimeSizes) return;
  const names = BACKENDS.filter((b) => b.capabilities.runtimeSizes).map((b) => b.name);
  const others = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
  throw new InputError(`${backend.title} does not run programs sized at each run yet (this one takes ${program.symbols.map((s) => s.name).join(' and ')}); use --backend ${others}, or compile at a fixed shape`);
}

/** An executor on a backend for a checked program (its kernels legalized for it first). */
export async function openOn(backend: Backend, program: Program, kernels: readonly Kernel[], options: OpenOptions = {}): Promise<Executor> {
  takesSizesOf(backend, program);
  return backend.open(program, legalizedFor(backend, kernels), options);
}

/** The backends of a target, whose rendered files `tcc compile --target` writes. */
export const backendsOf = (target: string): readonly Backend[] => BACKENDS.filter((b) => b.target === target);
