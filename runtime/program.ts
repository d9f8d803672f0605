// The program artifact: what `tcc compile [--target cpu|wgsl] -o DIR` writes
// and the runtime loads without the compiler.
//
//   DIR/program.json   this Program: buffers at planned offsets, inputs,
//                      parameters (HuggingFace names), outputs, kernels in
//                      order with the buffer ranges each binds
//   DIR/kernels.js     the kernels' functions (target cpu), one per distinct
//                      kernel; a kernel entry names its function
//   DIR/kernels.c      the same kernels in C (target cpu): the native
//                      backend builds it into a Node-API module, with a
//                      call table of the kernels in order
//   DIR/wgsl/*.wgsl    one WGSL module per distinct kernel (target wgsl); the
//                      kernel's entry says how to bind and dispatch it
//   DIR/graph.txt      the graph IR, for people
//
// program.json's `digest` lets the runtime refuse a directory changed since.
//
// Memory is two regions: `persistent` (inputs, parameters, optimizer state:
// kept across runs) and `arena` (every value a run computes, at offsets the
// memory planner chose; values whose lifetimes do not overlap share bytes).
// Buffer offsets are aligned to 256 bytes, WebGPU's storage-buffer offset
// alignment, and kernels bind ranges starting at multiples of 64 elements,
// so that one layout serves every target.

import type { Derived } from './labelled-rows.js';

export const PROGRAM_FORMAT = 'tcc.program.v3';
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

/** How the WebGPU runtime runs a kernel's WGSL module. */
export interface WgslDispatch {
  /** The module's file, relative to the program directory. */
  readonly file: string;
  /** Entry points in order, each with its workgroup counts. */
  readonly passes: readonly { readonly entry: string; readonly workgroups: readonly [number, number, number] }[];
  /** Which of the kernel's args is bound as storage at @binding(0…), in order. */
  readonly bindings: readonly number[];
  /** f32 elements of scratch storage bound after them (0: none). */
  readonly scratch: number;
  /** Whether the run's uniform (seed, step) is bound after them. */
  readonly uniform: boolean;
  /** Whether the kernel's random streams are bound last (a uniform of the kernel's `streams`). */
  readonly streams?: boolean;
  /** What the device must allow: invocations per workgroup and workgroup memory in bytes. */
  readonly invocations: number;
  readonly workgroupBytes: number;
}

export interface ProgramKernel {
  readonly name: string;
  readonly kind: string;
  readonly label: string;
  /** The function (cpu) that runs it; kernels that differ only in buffers share one. */
  readonly fn: string;
  /** The buffer ranges it binds, in the order of its args. */
  readonly args: readonly BufferRange[];
  /** The random streams (dropout) it draws from, in the order its code indexes them. */
  readonly streams?: readonly number[];
  readonly wgsl?: WgslDispatch;
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
  readonly target: 'cpu' | 'wgsl';
  readonly dims: Readonly<Record<string, number>>;
  /** Bytes of each region. */
  readonly persistentBytes: number;
  readonly arenaBytes: number;
  readonly buffers: readonly ProgramBuffer[];
  readonly inputs: readonly ProgramInput[];
  readonly params: readonly ProgramParam[];
  readonly outputs: readonly ProgramTensor[];
  readonly kernels: readonly ProgramKernel[];
  /** Persistent state (optimizer moments), zeros at first. */
  readonly states: readonly ProgramTensor[];
  /** After each run, `from` is copied over `to` (updates not computed in place). */
  readonly updates: readonly { readonly name: string; readonly from: ProgramTensor; readonly to: ProgramTensor }[];
  /** File of the kernels' JavaScript, beside program.json (target cpu). */
  readonly source?: string;
  /** File of the kernels' C, beside program.json (target cpu; the native backend). */
  readonly native?: string;
  readonly report?: ProgramReport;
  /** SHA-256 of the program (without this field) and of each source file, by file name (see program-dir.ts). */
  readonly digest?: Readonly<Record<string, string>>;
}

export interface LoadedProgram {
  readonly program: Program;
  /** The kernels' sources by file name, relative to the program directory. */
  readonly files: Readonly<Record<string, string>>;
}

/** The elements of a tensor. */
export function tensorRange(t: ProgramTensor): BufferRange {
  return { buffer: t.buffer, offset: t.offset, size: t.shape.reduce((a, d) => a * d, 1) };
}

/** The source files a program needs beside program.json. */
export function programFiles(program: Program): string[] {
  if (program.target === 'cpu') return [program.source ?? 'kernels.js', ...(program.native ? [program.native] : [])];
  return [...new Set(program.kernels.map((k) => k.wgsl?.file).filter((f): f is string => f !== undefined))];
}
