// What the CPU executors need of a program beyond its buffers: the
// kernels in order, each with the generated function that runs it, and
// the updates copied after each run.

import { tensorRange, type Program } from '../../runtime/program.js';
import type { HostLayout } from './host-memory.js';
import type { BufferRange } from '../../runtime/program.js';

export interface HostProgram extends HostLayout {
  /** Kernels in execution order: the function that runs each, the ranges it binds and its random streams. */
  readonly kernels: readonly { readonly name: string; readonly fn: string; readonly args: readonly BufferRange[]; readonly streams?: readonly number[] }[];
  /** After each run, `from` is copied over `to`. */
  readonly updates: readonly { readonly from: BufferRange; readonly to: BufferRange }[];
  readonly params: readonly { readonly buffer: number }[];
}

/** The program with each kernel's function named by `fns` (one per kernel, in order). */
export function hostProgram(program: Program, fns: readonly string[]): HostProgram {
  return {
    ...program,
    kernels: program.kernels.map((k, i) => ({ name: k.name, fn: fns[i]!, args: k.args, ...(k.streams ? { streams: k.streams } : {}) })),
    updates: program.updates.map((u) => ({ from: tensorRange(u.from), to: tensorRange(u.to) })),
  };
}
