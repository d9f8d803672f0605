// What a backend's executor offers the runtime: ranges of buffers written, a
// run of every kernel (then the parameter and state updates not computed in
// place) keyed by a seed and step for the random draws, and reads of ranges.
// Runs are queued in order; a read waits for the runs before it (on the CPU
// nothing waits).

import type { BufferRange } from './program.js';

export type CpuArray = Float32Array | Int32Array;

/** A registered backend's name (backends/registry.ts lists them). */
export type BackendName = string;

export interface RunContext {
  readonly seed: number;
  readonly step: number;
  /** The sizes this run gives, in the order of the program's symbols (a packed program's tokens and sequences); checked by the session. */
  readonly sizes?: readonly number[];
}

export interface Executor {
  readonly backend: BackendName;
  /** A one-line description of where the kernels run (the adapter, for WebGPU). */
  readonly device: string;
  /** Writes `data` into the range (its size is data.length). */
  write(range: BufferRange, data: ArrayLike<number>): void;
  /** Runs every kernel in order, then copies each update over its parameter or state. */
  run(ctx: RunContext): void;
  /** Copies of the ranges' current values, after every run queued before. */
  read(ranges: readonly BufferRange[]): Promise<CpuArray[]>;
  /** Frees the executor's memory (GPU buffers); it cannot run afterwards. */
  destroy(): void;
}
