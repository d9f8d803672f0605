// The --backend and --threads flags: a graph becomes a program for the
// backend's target and a session on it. `cpu` (the default) is the native
// backend where a C compiler is present and the JavaScript one elsewhere;
// `native` and `js` ask for one of them; `webgpu` runs WGSL.

import type { Graph } from '../compiler/ir/graph.js';
import type { LoadedProgram } from '../runtime/program.js';
import { availableMemory, memoryShortfall } from '../runtime/memory.js';
import { openSession, type Session } from '../runtime/session.js';
import { UsageError } from './errors.js';
import { oneOf, positiveInt } from './args.js';
import type { Io } from './errors.js';
import { timedProgress } from './progress.js';

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
  return { backend, ...(values.threads === undefined ? {} : { threads: positiveInt(values.threads, '--threads', 1) }) };
}

/** The parse options of the two flags. */
export const BACKEND_OPTIONS = { backend: { type: 'string' }, threads: { type: 'string' } } as const;

const targetOf = (flags: BackendFlags) => (flags.backend === 'webgpu' ? 'wgsl' : 'cpu');

/** Compiles the graph for the backend and opens a session on it (proving its memory plan under --debug). */
export async function sessionFor(graph: Graph, flags: BackendFlags, io: Pick<Io, 'stderr'>, debug = false): Promise<Session> {
  const { buildProgram } = await import('../compiler/program.js');
  return sessionOn(buildProgram(graph, targetOf(flags), { check: debug }), flags, io, debug);
}

/** Opens a session on a compiled program (a program directory), which must be for the backend's target. */
export async function sessionOn(loaded: LoadedProgram, flags: BackendFlags, io: Pick<Io, 'stderr'>, debug = false): Promise<Session> {
  const target = targetOf(flags);
  if (loaded.program.target !== target) {
    const hint = loaded.program.target === 'wgsl' ? '--backend webgpu' : '--backend cpu, native or js';
    throw new UsageError(`the program was compiled for target ${loaded.program.target}, which --backend ${flags.backend} does not run (use ${hint}, or recompile with --target ${target})`);
  }
  // Host memory, checked before any of it is allocated (a WebGPU device's limits are checked when its buffers are placed).
  const shortfall = target === 'cpu' ? memoryShortfall(loaded.program, availableMemory()) : undefined;
  if (shortfall) throw new UsageError(shortfall);
  const native = flags.backend === 'cpu' || flags.backend === 'native';
  let building: { stop(): void } | undefined;
  const session = openSession(loaded, {
    native,
    nativeOptions: { ...(flags.threads ? { threads: flags.threads } : {}), starting: (start) => (building = timedProgress(io, start.line, start.estimateMs)) },
    notice: (line) => io.stderr.write(`${line}\n`),
    checkFinite: debug,
  });
  return session.finally(() => building?.stop());
}
