// The CPU executor: two ArrayBuffers (the persistent region and the planned
// arena) holding every buffer at its offset, a typed-array view per kernel
// argument, and the generated functions called in order. It needs only the
// buffer table, the kernel call list and the kernels' source: what a
// compiled program directory holds.

import type { CpuArray, Executor, RunContext } from '../../runtime/executor.js';
import type { BufferRange, ProgramBuffer, Region } from '../../runtime/program.js';
import { cpuHelpers } from './helpers.js';

export type { CpuArray, RunContext };

export interface CpuModule {
  readonly persistentBytes: number;
  readonly arenaBytes: number;
  readonly buffers: readonly Pick<ProgramBuffer, 'id' | 'dtype' | 'size' | 'region' | 'offset'>[];
  /** Kernels in execution order: the function that runs each, the ranges it binds and its random streams. */
  readonly kernels: readonly { readonly name: string; readonly fn: string; readonly args: readonly BufferRange[]; readonly streams?: readonly number[] }[];
  /** After each run, `from` is copied over `to`. */
  readonly updates: readonly { readonly from: BufferRange; readonly to: BufferRange }[];
}

type KernelFn = (...args: unknown[]) => void;

export class CpuExecutor implements Executor {
  readonly backend = 'cpu';
  readonly device = 'cpu';
  private readonly regions: Record<Region, ArrayBuffer>;
  private readonly calls: { fn: KernelFn; args: CpuArray[]; streams: readonly number[]; name: string }[];
  private readonly updates: readonly { readonly from: CpuArray; readonly to: CpuArray }[];

  constructor(private readonly module: CpuModule, source: string) {
    const kernels: Record<string, KernelFn> = {};
    new Function('kernels', 'helpers', source)(kernels, cpuHelpers);
    this.regions = { persistent: new ArrayBuffer(module.persistentBytes), arena: new ArrayBuffer(module.arenaBytes) };
    this.calls = module.kernels.map((k) => {
      const fn = kernels[k.fn];
      if (!fn) throw new Error(`kernel ${k.name}: function ${k.fn} is missing from the program's source`);
      return { fn, args: k.args.map((r) => this.view(r)), streams: k.streams ?? [], name: k.name };
    });
    this.updates = module.updates.map((u) => ({ from: this.view(u.from), to: this.view(u.to) }));
  }

  /** A live view of a range: what kernels read and write. */
  view(range: BufferRange): CpuArray {
    const b = this.module.buffers[range.buffer];
    if (!b) throw new RangeError(`no buffer ${range.buffer}`);
    if (range.offset < 0 || range.offset + range.size > b.size) throw new RangeError(`elements [${range.offset}, ${range.offset + range.size}) are outside buffer ${range.buffer} of ${b.size}`);
    const bytes = b.offset + 4 * range.offset;
    const memory = this.regions[b.region];
    return b.dtype === 'i32' ? new Int32Array(memory, bytes, range.size) : new Float32Array(memory, bytes, range.size);
  }

  write(range: BufferRange, data: ArrayLike<number>): void {
    this.view({ ...range, size: data.length }).set(data);
  }

  run(ctx: RunContext = { seed: 0, step: 0 }): void {
    for (const call of this.calls) call.fn(...call.args, ctx, call.streams);
    for (const u of this.updates) u.to.set(u.from);
  }

  read(ranges: readonly BufferRange[]): Promise<CpuArray[]> {
    return Promise.resolve(ranges.map((r) => this.view(r).slice()));
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
