// The program artifact: what `tcc compile [--target cpu|wgsl] -o DIR` writes
// and the runtime loads without the compiler.
//
//   DIR/program.json   this Program: buffers at arena offsets, inputs,
//                      parameters (HuggingFace names), outputs, kernels in order
//   DIR/kernels.js     the kernels' source (target cpu)
//   DIR/wgsl/*.wgsl    one WGSL module per kernel (target wgsl); the kernel's
//                      entry in program.json says how to bind and dispatch it
//   DIR/graph.txt      the graph IR, for people
//
// Buffer offsets are aligned to 256 bytes, WebGPU's storage-buffer offset
// alignment, so that one layout serves every target.

export const PROGRAM_FORMAT = 'tcc.program.v1';
export const BUFFER_ALIGNMENT = 256;

export type DTypeName = 'f32' | 'i32';

export interface ProgramBuffer {
  readonly id: number;
  readonly dtype: DTypeName;
  readonly size: number;
  readonly offset: number;
  readonly role: 'input' | 'param' | 'state' | 'intermediate' | 'output';
  readonly name?: string;
}

export interface ProgramTensor {
  readonly name: string;
  readonly buffer: number;
  readonly dtype: DTypeName;
  readonly shape: readonly number[];
}

export interface ProgramInput extends ProgramTensor {
  /** For index and label inputs: values must lie in [0, bound), or equal `ignore`. */
  readonly bound?: number;
  readonly ignore?: number;
}

export interface ProgramParam extends ProgramTensor {
  readonly init: string;
  readonly std: number;
}

/** How the WebGPU runtime runs a kernel's WGSL module. */
export interface WgslDispatch {
  /** The module's file, relative to the program directory. */
  readonly file: string;
  /** Entry points in order, each with its workgroup counts. */
  readonly passes: readonly { readonly entry: string; readonly workgroups: readonly [number, number, number] }[];
  /** Buffer ids bound as storage at @binding(0…) in order. */
  readonly bindings: readonly number[];
  /** f32 elements of scratch storage bound after them (0: none). */
  readonly scratch: number;
  /** Whether the run's uniform (seed, step) is bound last. */
  readonly uniform: boolean;
  /** What the device must allow: invocations per workgroup and workgroup memory in bytes. */
  readonly invocations: number;
  readonly workgroupBytes: number;
}

export interface ProgramKernel {
  readonly name: string;
  readonly kind: string;
  readonly label: string;
  /** Buffer ids: operands in order, then the output. */
  readonly args: readonly number[];
  readonly wgsl?: WgslDispatch;
}

export interface Program {
  readonly format: typeof PROGRAM_FORMAT;
  readonly model: string;
  readonly mode: 'infer' | 'train';
  readonly target: 'cpu' | 'wgsl';
  readonly dims: Readonly<Record<string, number>>;
  readonly arenaBytes: number;
  readonly buffers: readonly ProgramBuffer[];
  readonly inputs: readonly ProgramInput[];
  readonly params: readonly ProgramParam[];
  readonly outputs: readonly ProgramTensor[];
  readonly kernels: readonly ProgramKernel[];
  /** Persistent state (optimizer moments), zeros at first. */
  readonly states: readonly { readonly name: string; readonly buffer: number; readonly shape: readonly number[] }[];
  /** After each run, buffer `from` is copied over `to` (parameter and state updates of a training step). */
  readonly updates: readonly { readonly name: string; readonly from: number; readonly to: number }[];
  /** File of the kernels' JavaScript, beside program.json (target cpu). */
  readonly source?: string;
}

export interface LoadedProgram {
  readonly program: Program;
  /** The kernels' sources by file name, relative to the program directory. */
  readonly files: Readonly<Record<string, string>>;
}

/** The source files a program needs beside program.json. */
export function programFiles(program: Program): string[] {
  if (program.target === 'cpu') return [program.source ?? 'kernels.js'];
  return [...new Set(program.kernels.map((k) => k.wgsl?.file).filter((f): f is string => f !== undefined))];
}
