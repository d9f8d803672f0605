// The --backend and --threads flags: a graph becomes a program and a
// session on the backend chosen. The choices and their help come from the
// backend registry; `cpu` (the default) is the first CPU backend that runs
// here.

import type { BuildOptions } from '../compiler/program.js';
import type { Graph } from '../compiler/ir/graph.js';
import type { LoadedProgram, Program } from '../runtime/program.js';
import { ANY_CPU, BACKEND_CHOICES, backendHelp, chooseBackend, cpuBackendNames, type Backend } from '../backends/registry.js';
import { availableMemory, memoryShortfall } from '../runtime/memory.js';
import { openSession, type Session } from '../runtime/session.js';
import { UsageError } from './errors.js';
import { oneOf, positiveInt } from './args.js';
import type { Io } from './errors.js';
import { timedProgress } from './progress.js';

/** Threads past this are a typo: OpenMP would start them all. */
export const MAX_THREADS = 1024;

export { BACKEND_CHOICES };

/** What --backend and --threads say, for usage texts. */
export const BACKEND_HELP = `  --backend NAME     where the kernels run (default cpu: the first of
                     ${cpuBackendNames().join(', ')} that runs here), or one of:
${backendHelp('                       ')}
  --threads N        threads of the backends that have them (default: every core)`;

export interface BackendFlags {
  readonly backend: string;
  readonly threads?: number;
}

export function backendFlags(values: { backend?: string | undefined; threads?: string | undefined }): BackendFlags {
  const backend = oneOf(values.backend, '--backend', BACKEND_CHOICES, ANY_CPU);
  return { backend, ...(values.threads === undefined ? {} : { threads: positiveInt(values.threads, '--threads', 1, MAX_THREADS) }) };
}

/** The parse options of the two flags. */
export const BACKEND_OPTIONS = { backend: { type: 'string' }, threads: { type: 'string' } } as const;

/** Compiles the graph and opens a session on it (proving its memory plan under --debug). */
export async function sessionFor(graph: Graph, flags: BackendFlags, io: Pick<Io, 'stderr'>, debug = false, runtime?: BuildOptions['runtime']): Promise<Session> {
  const { buildProgram } = await import('../compiler/program.js');
  return sessionOn(buildProgram(graph, { check: debug, ...(runtime ? { runtime } : {}) }), flags, io, debug);
}

/**
 * Whether the program fits in the memory its backend allocates from: the
 * host's for the CPU backends and for a WebGPU adapter that is software on
 * the CPU (lavapipe, SwiftShader); a GPU's own memory is checked by the
 * device when the buffers are made.
 */
async function checkMemory(program: Program, backend: Backend): Promise<void> {
  if (!(await backend.usesHostMemory())) return;
  const shortfall = memoryShortfall(program, availableMemory());
  if (shortfall) throw new UsageError(shortfall);
}

/** Opens a session on a program (compiled here or read from a program directory): checked, and its memory checked before any of it is allocated. */
export async function sessionOn(loaded: LoadedProgram, flags: BackendFlags, io: Pick<Io, 'stderr'>, debug = false): Promise<Session> {
  const notice = (line: string) => io.stderr.write(`${line}\n`);
  const backend = await chooseBackend(flags.backend, notice, (loaded.program.symbols?.length ?? 0) > 0);
  await checkMemory(loaded.program, backend);
  let building: { stop(): void } | undefined;
  const session = openSession(loaded, {
    backend: backend.name,
    ...(flags.threads ? { threads: flags.threads } : {}),
    starting: (start) => (building = timedProgress(io, start.line, start.estimateMs)),
    notice,
    checkFinite: debug,
  });
  return session.finally(() => building?.stop());
}
