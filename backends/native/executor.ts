// The native executor: the program's C built into a Node-API module (once
// per machine, cached) and loaded into this process; the memory is the same
// two host regions the JavaScript backend uses, handed to C by pointer, so
// reads, writes and the program layout are shared. One call into C runs
// every kernel and the updates.

import os from 'node:os';
import { HostMemory } from '../common/host-memory.js';
import type { HostProgram } from '../common/host-program.js';
import type { CpuArray, Executor, RunContext } from '../../runtime/executor.js';
import type { BufferRange } from '../../runtime/program.js';
import { buildNative, type BuildResult, type BuildStart, type Toolchain } from './build.js';

interface NativeModule {
  run(persistent: ArrayBuffer, arena: ArrayBuffer, seed: number, step: number, sizes?: Int32Array): void;
  profile(persistent: ArrayBuffer, arena: ArrayBuffer, seed: number, step: number, sizes?: Int32Array): Float64Array;
  threads(n: number): number;
  touch(): void;
}

export interface NativeOptions {
  /** Threads to run on (default: the machine's cores, or $OMP_NUM_THREADS). */
  readonly threads?: number;
  /** Where built modules are cached (default: the user's cache directory). */
  readonly cacheDir?: string;
  /** Told when the C compiler starts (it takes a few seconds); the build ends when the executor is created. */
  readonly starting?: (start: BuildStart) => void;
}

export class NativeExecutor implements Executor {
  readonly backend = 'native';
  readonly device: string;
  /** The threads its kernels run on. */
  readonly threads: number;
  readonly build: BuildResult;
  private readonly memory: HostMemory;
  private readonly native: NativeModule;
  private readonly paramBuffers: ReadonlySet<number>;

  /** Builds (or finds in the cache) the program's module and loads it. */
  static async create(module: HostProgram, source: string, toolchain: Toolchain, options: NativeOptions = {}): Promise<NativeExecutor> {
    return new NativeExecutor(module, await buildNative(source, toolchain, options), options);
  }

  private constructor(private readonly module: HostProgram, build: BuildResult, options: NativeOptions) {
    this.build = build;
    const loaded = { exports: {} as NativeModule };
    process.dlopen(loaded, this.build.file, os.constants.dlopen.RTLD_NOW);
    this.native = loaded.exports;
    this.threads = this.native.threads(options.threads ?? 0);
    this.device = `cpu (native, ${this.threads} thread${this.threads === 1 ? '' : 's'})`;
    this.memory = new HostMemory(module);
    this.paramBuffers = new Set(module.params.map((p) => p.buffer));
  }

  view(range: BufferRange): CpuArray {
    return this.memory.view(range);
  }

  write(range: BufferRange, data: ArrayLike<number>): void {
    this.memory.write(range, data);
    // Packed copies of parameters (kept by inference programs) are stale now.
    if (this.paramBuffers.has(range.buffer)) this.native.touch();
  }

  run(ctx: RunContext = { seed: 0, step: 0 }): void {
    this.native.run(this.memory.regions.persistent, this.memory.regions.arena, ctx.seed >>> 0, ctx.step >>> 0, Int32Array.from(ctx.sizes ?? []));
  }

  read(ranges: readonly BufferRange[]): Promise<CpuArray[]> {
    return this.memory.read(ranges);
  }

  destroy(): void {}

  /** Runs and returns each kernel's wall time in milliseconds (for profiling). */
  profile(ctx: RunContext = { seed: 0, step: 0 }): { name: string; ms: number }[] {
    const ms = this.native.profile(this.memory.regions.persistent, this.memory.regions.arena, ctx.seed >>> 0, ctx.step >>> 0, Int32Array.from(ctx.sizes ?? []));
    return this.module.kernels.map((k, i) => ({ name: k.name, ms: ms[i]! }));
  }
}
