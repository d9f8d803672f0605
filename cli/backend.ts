// The --backend and --threads flags: a graph becomes a program for the
// backend's target and a session on it. `cpu` (the default) is the native
// backend where a C compiler is present and the JavaScript one elsewhere;
// `native` and `js` ask for one of them; `webgpu` runs WGSL.

import type { Graph } from '../compiler/ir/graph.js';
import type { LoadedProgram, Program } from '../runtime/program.js';
import type { Backend } from '../runtime/executor.js';
import { availableMemory, memoryShortfall } from '../runtime/memory.js';
import { openSession, type Session } from '../runtime/session.js';
import { UsageError } from './errors.js';
import { oneOf, positiveInt } from './args.js';
import type { Io } from './errors.js';
import { timedProgress } from './progress.js';

/** Threads past this are a typo: OpenMP would start them all. */
export const MAX_THREADS = 1024;

export const BACKEND_CHOICES = ['cpu', 'native', 'js', 'webgpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** What --backend and --threads say, for usage texts. */
export const BACKEND_HELP = `  --backend NAME     cpu (the default: native C kernels where a C compiler is
                     present, else JavaScript), native, js (the portable
                     JavaScript reference) or webgpu (WGSL on the first
                     WebGPU adapter)
  --threads N        native backend threads (default: every core)`;

export interface BackendFlags {
  readonly backend: BackendChoice;
  readonly threads?: number;
}

export function backendFlags(values: { backend?: string | undefined; threads?: string | undefined }): BackendFlags {
  const backend = oneOf(values.backend, '--backend', BACKEND_CHOICES, 'cpu');
  return { backend, ...(values.threads === undefined ? {} : { threads: positiveInt(values.threads, '--threads', 1, MAX_THREADS) }) };
}

/** The parse options of the two flags. */
export const BACKEND_OPTIONS = { backend: { type: 'string' }, threads: { type: 'string' } } as const;

/** The runtime's backend for a --backend choice: `cpu` is native C, which falls back to JavaScript without a compiler. */
const runtimeBackend = (flags: BackendFlags): Backend => (flags.backend === 'webgpu' ? 'webgpu' : flags.backend === 'js' ? 'js' : 'native');

/** Compiles the graph and opens a session on it (proving its memory plan under --debug). */
export async function sessionFor(graph: Graph, flags: BackendFlags, io: Pick<Io, 'stderr'>, debug = false): Promise<Session> {
  const { buildProgram } = await import('../compiler/program.js');
  return sessionOn(buildProgram(graph, { check: debug }), flags, io, debug);
}

/**
 * Whether the program fits in the memory its backend allocates from: the
 * host's for the CPU backends and for a WebGPU adapter that is software on
 * the CPU (lavapipe, SwiftShader); a GPU's own memory is checked by the
 * device when the buffers are made.
 */
async function checkMemory(program: Program, backend: Backend): Promise<void> {
  if (backend === 'webgpu') {
    const { acquireDevice, isSoftwareAdapter } = await import('../backends/wgsl/device.js');
    if (!isSoftwareAdapter((await acquireDevice()).info)) return;
  }
  const shortfall = memoryShortfall(program, availableMemory());
  if (shortfall) throw new UsageError(shortfall);
}

/** Opens a session on a program (compiled here or read from a program directory): checked, and its memory checked before any of it is allocated. */
export async function sessionOn(loaded: LoadedProgram, flags: BackendFlags, io: Pick<Io, 'stderr'>, debug = false): Promise<Session> {
  const backend = runtimeBackend(flags);
  await checkMemory(loaded.program, backend);
  let building: { stop(): void } | undefined;
  const session = openSession(loaded, {
    backend,
    nativeOptions: { ...(flags.threads ? { threads: flags.threads } : {}), starting: (start) => (building = timedProgress(io, start.line, start.estimateMs)) },
    notice: (line) => io.stderr.write(`${line}\n`),
    checkFinite: debug,
  });
  return session.finally(() => building?.stop());
}
