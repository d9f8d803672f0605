// Building a program's C into a Node-API module: the system's C compiler
// (`$CC`, else `cc`, else `gcc`), `-O2 -march=native -fopenmp`, one shared
// object per distinct source, cached under a key of (source, compiler
// version, flags, CPU model and flags) so that a program compiles once per
// machine. The cache lives in the directory a caller names (a program
// directory) or the user's cache directory; a finished object is renamed
// into place, so a crash never leaves half of one behind.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * Flags every program is compiled with. -fno-math-errno lets sqrtf be an
 * instruction and -fno-trapping-math lets GCC if-convert (and so vectorize)
 * loops with conditional float expressions; neither changes a result (NaN,
 * infinities and signed zeros keep IEEE semantics; only floating-point
 * exception flags, which nothing reads, may differ). -z nodelete (GNU ld)
 * keeps the module loaded when a worker thread that loaded it exits:
 * unloading code whose OpenMP threads are parked in it (and whose
 * thread-local scratch they hold) crashed the process.
 */
export const C_FLAGS: readonly string[] = ['-O2', '-march=native', '-fopenmp', '-fno-math-errno', '-fno-trapping-math', '-fPIC', '-shared', ...(process.platform === 'linux' ? ['-Wl,-z,nodelete'] : [])];

export interface Toolchain {
  /** The command, e.g. "cc". */
  readonly cc: string;
  /** The first line of `cc --version`. */
  readonly version: string;
}

let found: Toolchain | null | undefined;

/** The C compiler to use, or null when none runs (probed once per process). */
export function findCompiler(): Toolchain | null {
  if (found !== undefined) return found;
  const candidates = [process.env['CC'], 'cc', 'gcc'].filter((c): c is string => !!c);
  found = null;
  for (const cc of candidates) {
    const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) {
      found = { cc, version: probe.stdout.split('\n')[0]!.trim() };
      break;
    }
  }
  return found;
}

/** Whether the compiler builds and runs a small OpenMP program, as the native backend needs (`tcc doctor`). */
export function checkOpenMp(): { ok: boolean; found: string } {
  const toolchain = findCompiler();
  if (!toolchain) return { ok: false, found: 'no C compiler found (cc, gcc or $CC)' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tcc-openmp-'));
  try {
    writeFileSync(path.join(dir, 'p.c'), '#include <omp.h>\nint main(void) { int n = 0;\n#pragma omp parallel reduction(+:n)\n n += 1;\n return n > 0 ? 0 : 1; }\n');
    const built = spawnSync(toolchain.cc, ['-O2', '-fopenmp', '-o', path.join(dir, 'p'), path.join(dir, 'p.c')], { encoding: 'utf8' });
    if (built.status !== 0) return { ok: false, found: `${toolchain.version}, but it cannot build with OpenMP (${(built.stderr || '').split('\n')[0]})` };
    return { ok: spawnSync(path.join(dir, 'p')).status === 0, found: `${toolchain.version}, OpenMP works` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Forgets the probed compiler (tests change PATH). */
export function resetCompilerProbe(): void {
  found = undefined;
}

/** The CPU's model and flags, part of the cache key (code is built for -march=native). */
function cpuSignature(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    return `${/^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? ''}|${/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? ''}`;
  } catch {
    return `${os.cpus()[0]?.model ?? ''}|${os.arch()}`;
  }
}

/** The user's cache directory for native modules. */
export function defaultCacheDir(): string {
  const base = process.env['TCC_CACHE_DIR'] ?? path.join(process.env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'tcc');
  return path.join(base, 'native');
}

const nodeApiInclude = (): string => (createRequire(import.meta.url)('node-api-headers') as { include_dir: string }).include_dir;

/** A compile error: a bug in tcc's renderer, named by the kernel function it is in. */
export class NativeCompileError extends Error {}

/** The kernel function around line `line` (1-based) of the source. */
function functionAt(source: string, line: number): string {
  const lines = source.split('\n');
  for (let i = Math.min(line, lines.length) - 1; i >= 0; i--) {
    const m = /^static void (\w+)\(/.exec(lines[i]!);
    if (m) return m[1]!;
  }
  return 'the prelude';
}

export interface BuildResult {
  /** The shared object, ready for process.dlopen. */
  readonly file: string;
  /** Whether it came from the cache. */
  readonly cached: boolean;
  /** Milliseconds the compiler ran (0 when cached). */
  readonly ms: number;
}

/** What a build tells its caller when the compiler starts: the source's size, and the time this machine's earlier builds suggest. */
export interface BuildStart {
  readonly line: string;
  readonly bytes: number;
  /** Milliseconds, from the earlier builds in the cache directory (none on a first build). */
  readonly estimateMs?: number;
}

const TIMINGS = 'build-times.json';

/** The milliseconds per kilobyte of C of the last builds in the cache directory. */
function readTimings(dir: string): number[] {
  try {
    const rates = JSON.parse(readFileSync(path.join(dir, TIMINGS), 'utf8')) as unknown;
    return Array.isArray(rates) ? rates.filter((r): r is number => typeof r === 'number' && r > 0) : [];
  } catch {
    return [];
  }
}

function recordTiming(dir: string, bytes: number, ms: number): void {
  const rates = [...readTimings(dir), ms / (bytes / 1024)].slice(-10);
  try {
    writeFileSync(path.join(dir, TIMINGS), JSON.stringify(rates));
  } catch {
    // A cache that cannot keep timings only loses the next estimate.
  }
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The built module of `source`, from the cache or compiled now (`starting`
 * is told before the compiler starts). Throws NativeCompileError with the
 * compiler's first error and the kernel it is in.
 */
export async function buildNative(source: string, toolchain: Toolchain, options: { cacheDir?: string; starting?: (start: BuildStart) => void } = {}): Promise<BuildResult> {
  const key = createHash('sha256').update([source, toolchain.version, C_FLAGS.join(' '), cpuSignature(), process.versions.napi ?? ''].join('\0')).digest('hex').slice(0, 32);
  const dir = options.cacheDir ?? defaultCacheDir();
  const file = path.join(dir, `kernels-${key}.node`);
  if (existsSync(file)) return { file, cached: true, ms: 0 };
  // Two sessions on one program opened together build it once (their files would share a name).
  const pending = building.get(file);
  if (pending) return pending;
  const built = compileModule(source, toolchain, dir, key, file, options.starting);
  building.set(file, built);
  try {
    return await built;
  } finally {
    building.delete(file);
  }
}

/** Builds in progress in this process, by module file. */
const building = new Map<string, Promise<BuildResult>>();

async function compileModule(source: string, toolchain: Toolchain, dir: string, key: string, file: string, starting?: (start: BuildStart) => void): Promise<BuildResult> {
  mkdirSync(dir, { recursive: true });
  const stem = path.join(dir, `.kernels-${key}-${process.pid}`);
  writeFileSync(`${stem}.c`, source);
  const rates = readTimings(dir);
  const bytes = Buffer.byteLength(source);
  starting?.({ line: `compiling native kernels with ${toolchain.version}`, bytes, ...(rates.length ? { estimateMs: median(rates) * (bytes / 1024) } : {}) });
  const start = performance.now();
  const run = await new Promise<{ status: number | null; stderr: string; error?: Error }>((done) => {
    let stderr = '';
    const child = spawn(toolchain.cc, [...C_FLAGS, '-I', nodeApiInclude(), '-o', `${stem}.node`, `${stem}.c`, '-lm'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) => done({ status: null, stderr, error }));
    child.once('close', (status) => done({ status, stderr }));
  });
  const ms = performance.now() - start;
  try {
    if (run.status !== 0) {
      const error = run.stderr.split('\n').find((l) => /error/.test(l)) ?? run.error?.message ?? `exit status ${run.status}`;
      const line = Number(/\.c:(\d+):/.exec(error)?.[1] ?? 0);
      throw new NativeCompileError(`internal error: the C compiler rejected ${functionAt(source, line)}: ${error.replace(/^.*?\.c:\d+:\d+:\s*/, '')}`);
    }
    renameSync(`${stem}.node`, file);
    recordTiming(dir, bytes, ms);
  } finally {
    rmSync(`${stem}.c`, { force: true });
    rmSync(`${stem}.node`, { force: true });
  }
  return { file, cached: false, ms };
}
