// The CPU executor: one arena (an ArrayBuffer) holding every buffer at its
// planned offset, typed-array views over it, and the generated kernels called
// in order. It needs only the buffer table, the kernel call list and the
// kernels' source: what a compiled program directory holds.

import type { CpuArray, Executor, RunContext } from '../../runtime/executor.js';
import { cpuHelpers } from './helpers.js';

export type { CpuArray, RunContext };

export interface CpuBuffer {
  readonly id: number;
  readonly dtype: 'f32' | 'i32';
  /** Elements. */
  readonly size: number;
  /** Bytes from the start of the arena. */
  readonly offset: number;
}

export interface CpuModule {
  readonly arenaBytes: number;
  readonly buffers: readonly CpuBuffer[];
  /** Kernels in execution order; args are buffer ids, the output last. */
  readonly kernels: readonly { readonly name: string; readonly args: readonly number[] }[];
  /** After each run, buffer `from` is copied over `to`. */
  readonly updates: readonly { readonly from: number; readonly to: number }[];
}

type KernelFn = (...args: unknown[]) => void;

export class CpuExecutor implements Executor {
  readonly backend = 'cpu';
  readonly device = 'cpu';
  private readonly views: CpuArray[];
  private readonly calls: { fn: KernelFn; args: CpuArray[]; name: string }[];
  private readonly updates: readonly { readonly from: number; readonly to: number }[];

  constructor(module: CpuModule, source: string) {
    const kernels: Record<string, KernelFn> = {};
    new Function('kernels', 'helpers', source)(kernels, cpuHelpers);
    const arena = new ArrayBuffer(module.arenaBytes);
    this.views = module.buffers.map((b) => (b.dtype === 'i32' ? new Int32Array(arena, b.offset, b.size) : new Float32Array(arena, b.offset, b.size)));
    this.calls = module.kernels.map((k) => {
      const fn = kernels[k.name];
      if (!fn) throw new Error(`kernel ${k.name} is missing from the program's source`);
      return { fn, args: k.args.map((id) => this.views[id]!), name: k.name };
    });
    this.updates = module.updates;
  }

  /** The live view of a buffer: write inputs and parameters into it, read outputs from it. */
  buffer(id: number): CpuArray {
    const view = this.views[id];
    if (!view) throw new RangeError(`no buffer ${id}`);
    return view;
  }

  write(id: number, data: ArrayLike<number>): void {
    this.buffer(id).set(data);
  }

  run(ctx: RunContext = { seed: 0, step: 0 }): void {
    for (const call of this.calls) call.fn(...call.args, ctx);
    for (const u of this.updates) this.buffer(u.to).set(this.buffer(u.from));
  }

  read(ids: readonly number[]): Promise<CpuArray[]> {
    return Promise.resolve(ids.map((id) => this.buffer(id).slice()));
  }

  destroy(): void {}

  /** Runs and returns each kernel's wall time in milliseconds (for profiling). */
  profile(ctx: RunContext = { seed: 0, step: 0 }): { name: string; ms: number }[] {
    return this.calls.map((call) => {
      const start = performance.now();
      call.fn(...call.args, ctx);
      return { name: call.name, ms: performance.now() - start };
    });
  }
}
