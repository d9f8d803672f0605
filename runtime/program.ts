// The program artifact: what `tcc compile -o DIR` writes and the runtime
// loads without the compiler.
//
//   DIR/program.json   this Program: buffers at planned offsets, inputs,
//                      parameters (HuggingFace names), outputs, the kernel
//                      IR of each distinct kernel (`functions`), and the
//                      kernels in order with the buffer ranges each binds
//   DIR/graph.txt      the graph IR, for people
//   DIR/kernels.js, DIR/kernels.c, DIR/wgsl/*.wgsl
//                      the code generated from that kernel IR, for people to
//                      read; never loaded
//
// A program directory is data. The runtime checks program.json field by
// field, proves every kernel stays inside its buffers (kernel-check.ts) and
// generates the code it runs from the kernel IR on the machine that runs it
// (C built and cached under the user's cache directory by its content), for
// whichever backend runs it: the kernel IR is the same for every target.
//
// Memory is two regions: `persistent` (inputs, parameters, optimizer state:
// kept across runs) and `arena` (every value a run computes, at offsets the
// memory planner chose; values whose lifetimes do not overlap share bytes).
// Buffer offsets are aligned to 256 bytes, WebGPU's storage-buffer offset
// alignment, and kernels bind ranges starting at multiples of 64 elements,
// so that one layout serves every target.

import type { Symbol_, TensorRef } from '../kernel/ir.js';
import type { Json } from './kernel-json.js';
import type { Derived } from './labelled-rows.js';

export const PROGRAM_FORMAT = 'tcc.program.v5';
export const BUFFER_ALIGNMENT = 256;

export type DTypeName = 'f32' | 'i32';
export type Region = 'persistent' | 'arena';

export interface ProgramBuffer {
  readonly id: number;
  readonly dtype: DTypeName;
  /** Elements. */
  readonly size: number;
  readonly region: Region;
  /** Bytes from the start of its region. */
  readonly offset: number;
  readonly name?: string;
}

/** A tensor: `shape` elements of a buffer from element `offset`. */
export interface ProgramTensor {
  readonly name: string;
  readonly buffer: number;
  readonly offset: number;
  readonly dtype: DTypeName;
  readonly shape: readonly number[];
  /** The axis a run sizes (a packed program's tokens or sequences); the shape states its largest extent. */
  readonly runtime?: TensorRef['runtime'];
}

export interface ProgramInput extends ProgramTensor {
  /** For index and label inputs: values must lie in [0, bound), or equal `ignore`. */
  readonly bound?: number;
  readonly ignore?: number;
  /** Not fed: derived before each run from the label input it names (see labelled-rows.ts). */
  readonly derived?: Derived;
}

export interface ProgramParam extends ProgramTensor {
  readonly init: string;
  readonly std: number;
}

/** A range of a buffer a kernel binds: `size` elements from element `offset`. */
export interface BufferRange {
  readonly buffer: number;
  readonly offset: number;
  readonly size: number;
}

export interface ProgramKernel {
  readonly name: string;
  readonly kind: string;
  readonly label: string;
  /** Its kernel IR: an index into the program's `functions` (kernels that differ only in buffers share one). */
  readonly function: number;
  /** The buffer ranges it binds, in the order of its function's args. */
  readonly args: readonly BufferRange[];
  /** The random streams (dropout) it draws from, in the order its code indexes them. */
  readonly streams?: readonly number[];
}

/** What the compiler did and what it saved, as `tcc compile --json` reports it. */
export interface ProgramReport {
  /** The passes that ran, in order. */
  readonly passes: readonly string[];
  readonly fused: boolean;
  readonly planned: boolean;
}

export interface Program {
  readonly format: typeof PROGRAM_FORMAT;
  readonly model: string;
  readonly mode: 'infer' | 'train';
  readonly dims: Readonly<Record<string, number>>;
  /** Bytes of each region. */
  readonly persistentBytes: number;
  readonly arenaBytes: number;
  readonly buffers: readonly ProgramBuffer[];
  readonly inputs: readonly ProgramInput[];
  readonly params: readonly ProgramParam[];
  readonly outputs: readonly ProgramTensor[];
  readonly kernels: readonly ProgramKernel[];
  /** The kernel IR of each distinct kernel, as kernel-json.ts writes it. */
  readonly functions: readonly Json[];
  /** Persistent state (optimizer moments), zeros at first. */
  readonly states: readonly ProgramTensor[];
  /** After each run, `from` is copied over `to` (updates not computed in place). */
  readonly updates: readonly { readonly name: string; readonly from: ProgramTensor; readonly to: ProgramTensor }[];
  readonly report?: ProgramReport;
  /** The sizes each run gives (a packed program's tokens and sequences), with their largest values. */
  readonly symbols?: readonly Symbol_[];
}

/** A program to open a session on (a compiled one carries more). */
export interface LoadedProgram {
  readonly program: Program;
}

/** The elements of a tensor. */
export function tensorRange(t: ProgramTensor): BufferRange {
  return { buffer: t.buffer, offset: t.offset, size: t.shape.reduce((a, d) => a * d, 1) };
}
