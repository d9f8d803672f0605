// The program artifact: what `tcc compile --target cpu -o DIR` writes and the
// runtime loads without the compiler.
//
//   DIR/program.json   this Program: buffers at arena offsets, inputs,
//                      parameters (HuggingFace names), outputs, kernels in order
//   DIR/kernels.js     the kernels' source (CPU target)
//   DIR/graph.txt      the graph IR, for people
//
// Buffer offsets are aligned to 256 bytes, WebGPU's storage-buffer offset
// alignment, so that one layout serves every target.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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

export interface ProgramKernel {
  readonly name: string;
  readonly kind: string;
  readonly label: string;
  /** Buffer ids: operands in order, then the output. */
  readonly args: readonly number[];
}

export interface Program {
  readonly format: typeof PROGRAM_FORMAT;
  readonly model: string;
  readonly mode: 'infer' | 'train';
  readonly target: 'cpu';
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
  /** File of the kernels' source, beside program.json. */
  readonly source: string;
}

export interface LoadedProgram {
  readonly program: Program;
  readonly source: string;
}

/** Reads a compiled program directory; a malformed one is a clear error, not a crash later. */
export function loadProgram(dir: string): LoadedProgram {
  const path = join(dir, 'program.json');
  let program: Program;
  try {
    program = JSON.parse(readFileSync(path, 'utf8')) as Program;
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (program.format !== PROGRAM_FORMAT) throw new Error(`${path}: format '${String(program.format)}' is not ${PROGRAM_FORMAT}`);
  let end = 0;
  for (const b of program.buffers) end = Math.max(end, b.offset + 4 * b.size);
  if (end > program.arenaBytes) throw new Error(`${path}: buffers reach byte ${end}, past the arena of ${program.arenaBytes}`);
  const source = readFileSync(join(dir, program.source), 'utf8');
  return { program, source };
}
