// The CPU executor: the program's memory in host RAM (two regions holding
// every buffer at its offset), a typed-array view per kernel argument, and
// the generated functions called in order. It needs only the buffer table,
// the kernel call list and the kernels' source: what a compiled program
// directory holds.

import { HostMemory } from '../common/host-memory.js';
import type { HostProgram } from '../common/host-program.js';
import type { CpuArray, Executor, RunContext } from '../../runtime/executor.js';
import type { BufferRange } from '../../runtime/program.js';
import { cpuHelpers } from './helpers.js';
import { RunFailure } from '../../runtime/errors.js';

export type { CpuArray, RunContext };

type KernelFn = (...args: unknown[]) => void;

export class CpuExecutor implements Executor {
  readonly backend = 'js';
  readonly device = 'cpu (JavaScript)';
  private readonly memory: HostMemory;
  private readonly calls: { fn: KernelFn; args: CpuArray[]; argNames: (string | undefined)[]; streams: readonly number[]; name: string }[];
  private readonly updates: readonly { readonly from: CpuArray; readonly to: CpuArray }[];

  constructor(module: HostProgram, source: string) {
    const kernels: Record<string, KernelFn> = {};
    new Function('kernels', 'helpers', source)(kernels, cpuHelpers);
    this.memory = new HostMemory(module);
    this.calls = module.kernels.map((k) => {
      const fn = kernels[k.fn];
      if (!fn) throw new Error(`kernel ${k.name}: function ${k.fn} is missing from the program's source`);
      const argNames = k.args.map((r) => (module.buffers[r.buffer] as { name?: string } | undefined)?.name);
      return { fn, args: k.args.map((r) => this.view(r)), argNames, streams: k.streams ?? [], name: k.name };
    });
    this.updates = module.updates.map((u) => ({ from: this.view(u.from), to: this.view(u.to) }));
  }

  /** A live view of a range: what kernels read and write. */
  view(range: BufferRange): CpuArray {
    return this.memory.view(range);
  }

  write(range: BufferRange, data: ArrayLike<number>): void {
    this.memory.write(range, data);
  }

  /**
   * With `checkFinite` (--debug), a run stops at the first kernel after which
   * one of its f32 arguments holds a NaN or an infinity, naming it. The arena
   * is zeroed first, so that no value of an earlier run is taken for one of
   * this run (a kernel writes every arena value before any kernel reads it).
   */
  checkFinite = false;

  run(ctx: RunContext = { seed: 0, step: 0 }): void {
    if (this.checkFinite) new Uint8Array(this.memory.regions.arena).fill(0);
    for (const call of this.calls) {
      call.fn(...call.args, ctx, call.streams);
      if (this.checkFinite) this.checkKernel(call);
    }
    for (const u of this.updates) u.to.set(u.from);
  }

  private checkKernel(call: { args: CpuArray[]; argNames: readonly (string | undefined)[]; name: string }): void {
    call.args.forEach((arg, j) => {
      if (!(arg instanceof Float32Array)) return;
      const i = arg.findIndex((v) => !Number.isFinite(v));
      if (i < 0) return;
      const named = call.argNames[j];
      throw new RunFailure(`kernel ${call.name} is the first to hold a non-finite value: ${arg[i]} at element ${i} of its argument ${j}${named ? ` (${named})` : ''}`);
    });
  }

  read(ranges: readonly BufferRange[]): Promise<CpuArray[]> {
    return this.memory.read(ranges);
  }

  destroy(): void {}

  /** Runs and returns each kernel's wall time in milliseconds (for profiling). */
  profile(ctx: RunContext = { seed: 0, step: 0 }): { name: string; ms: number }[] {
    return this.calls.map((call) => {
      const start = performance.now();
      call.fn(...call.args, ctx, call.streams);
      return { name: call.name, ms: performance.now() - start };
    });
  }
}
