// What a backend is: one object per folder under backends/, listed in
// backends/registry.ts. The compiler asks it to render a checked program's
// kernel IR for people to read; the runtime asks whether it runs here and
// opens an executor on it. Nothing outside a backend's folder and the
// registry names a backend: the CLI's --backend choices, help texts and
// `tcc doctor` come from these objects.

import type { Composite, Kernel } from '../kernel/ir.js';
import type { Executor } from '../runtime/executor.js';
import type { Program } from '../runtime/program.js';

/** What the runtime and the CLI may ask of a backend before opening one. */
export interface Capabilities {
  /** Its kernels run on several threads (--threads sets how many). */
  readonly threads: boolean;
  /** It builds its code with the system's C compiler at open (seconds, then cached). */
  readonly systemCompiler: boolean;
  /** It runs in a browser tab (the web page offers it). */
  readonly browser: boolean;
  /** Under --debug (OpenOptions.checkFinite) it stops a run at the first kernel that produced a NaN or an infinity, naming it. */
  readonly findsNonFinite: boolean;
  /** The composite scalar functions (kernel/composite.ts) it renders itself; the others are expanded into primitive ones for it. */
  readonly intrinsics: readonly Composite[];
  /** It runs programs whose sizes each run gives (a padding-free stream's tokens and sequences: Program.symbols). */
  readonly runtimeSizes: boolean;
}

/** Whether a backend runs here, and what was found (a version, an adapter) or what is missing. */
export interface BackendState {
  readonly ok: boolean;
  readonly found: string;
}

export interface OpenOptions {
  /** Threads to run on, for backends with threads (default: every core). */
  readonly threads?: number;
  /** Where built code is cached (default: the user's cache directory). */
  readonly cacheDir?: string;
  /** Told when a slow build starts (a C compiler takes seconds), with its estimate; it ends when open resolves. */
  readonly starting?: (start: { readonly line: string; readonly estimateMs?: number }) => void;
  /** Stop each run at the first kernel that holds a NaN or an infinity, naming it, where the backend can (--debug). */
  readonly checkFinite?: boolean;
}

export interface Backend {
  /** The --backend value. */
  readonly name: string;
  /** What people call it in a sentence: "native code", "WebGPU". */
  readonly title: string;
  /** One line for help texts. */
  readonly summary: string;
  /** Where its kernels compute: `--backend cpu` takes the first CPU backend that runs here. */
  readonly device: 'cpu' | 'gpu';
  /** The code it renders (`tcc compile --target`): backends of one target are written together. */
  readonly target: string;
  /** The files and folders (relative to a program directory) that render writes, so a recompile can clear stale ones. */
  readonly outputs: readonly string[];
  readonly capabilities: Capabilities;
  /** What to install to have it, for `tcc doctor` and for errors. */
  readonly install: string;
  /** The program's code for this backend (its kernels legalized for it by the caller), by file name relative to the program directory (for people to read). */
  render(program: Program, kernels: readonly Kernel[]): Promise<Record<string, string>>;
  /** Whether it runs here (quick: sessions ask before opening). */
  probe(): Promise<BackendState>;
  /** A thorough check for `tcc doctor` (builds a small program where the backend builds code). */
  examine(): Promise<BackendState>;
  /** Whether its buffers come out of the host's memory (checked before a program is laid out). */
  usesHostMemory(): Promise<boolean>;
  /** An executor for a checked program and its kernels (legalized for it by the caller); code is generated here, from the kernel IR. */
  open(program: Program, kernels: readonly Kernel[], options: OpenOptions): Promise<Executor>;
}
