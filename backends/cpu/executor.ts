// The CPU executor: the program's memory in host RAM (two regions holding
// every buffer at its offset), a typed-array view per kernel argument, and
// the generated functions called in order. It needs only the buffer table,
// the kernel call list and the kernels' source: what a compiled program
// directory holds.

import { HostMemory, type HostLayout } from '../common/host-memory.js';
import type { CpuArray, Executor, RunContext } from '../../runtime/executor.js';
import type { BufferRange } from '../../runtime/program.js';
import { cpuHelpers } from './helpers.js';

export type { CpuArray, RunContext };

export interface CpuModule extends HostLayout {
  /** Kernels in execution order: the function that runs each, the ranges it binds and its random streams. */
  readonly kernels: readonly { readonly name: string; readonly fn: string; readonly args: readonly BufferRange[]; readonly streams?: readonly number[] }[];
  /** After each run, `from` is copied over `to`. */
  readonly updates: readonly { readonly from: BufferRange; readonly to: BufferRange }[];
}

type KernelFn = (...args: unknown[]) => void;

export class CpuExecutor implements Executor {
  readonly backend = 'js';
  readonly device = 'cpu (JavaScript)';
  private readonly memory: HostMemory;
  private readonly calls: { fn: KernelFn; args: CpuArray[]; streams: readonly number[]; name: string }[];
  private readonly updates: readonly { readonly from: CpuArray; readonly to: CpuArray }[];

  constructor(module: CpuModule, source: string) {
    const kernels: Record<string, KernelFn> = {};
    new Function('kernels', 'helpers', source)(kernels, cpuHelpers);
    this.memory = new HostMemory(module);
    this.calls = module.kernels.map((k) => {
      const fn = kernels[k.fn];
      if (!fn) throw new Error(`kernel ${k.name}: function ${k.fn} is missing from the program's source`);
      return { fn, args: k.args.map((r) => this.view(r)), streams: k.streams ?? [], name: k.name };
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

  run(ctx: RunContext = { seed: 0, step: 0 }): void {
    for (const call of this.calls) call.fn(...call.args, ctx, call.streams);
    for (const u of this.updates) u.to.set(u.from);
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
