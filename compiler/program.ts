// Graph → Program: lower to kernels, lay the buffers out in one arena, render
// the kernels for the target.

import { renderProgramJs } from '../backends/cpu/render.js';
import { BUFFER_ALIGNMENT, PROGRAM_FORMAT, type Program } from '../runtime/program.js';
import type { Graph } from './ir/graph.js';
import { lowerToKernels } from './lower/lower.js';
import type { KernelProgram } from './lower/kernel.js';

export type Target = 'cpu';

export interface CompiledProgram {
  readonly program: Program;
  readonly kernels: KernelProgram;
  /** The kernels' source for the target. */
  readonly source: string;
}

const align = (n: number) => Math.ceil(n / BUFFER_ALIGNMENT) * BUFFER_ALIGNMENT;

export function buildProgram(graph: Graph, target: Target = 'cpu'): CompiledProgram {
  const kernels = lowerToKernels(graph);
  let arenaBytes = 0;
  const buffers = kernels.buffers.map((b) => {
    const offset = arenaBytes;
    arenaBytes += align(4 * b.size);
    return { ...b, offset };
  });
  const program: Program = {
    format: PROGRAM_FORMAT,
    model: graph.name,
    mode: graph.mode,
    target,
    dims: graph.dims,
    arenaBytes,
    buffers,
    inputs: kernels.inputs,
    params: kernels.params.map((p) => ({ ...p, dtype: 'f32' as const })),
    outputs: kernels.outputs,
    kernels: kernels.kernels.map((k) => ({ name: k.name, kind: k.kind, label: k.label, args: [...k.inputs.map((a) => a.buffer), k.output.buffer] })),
    states: kernels.states,
    updates: kernels.updates,
    source: 'kernels.js',
  };
  return { program, kernels, source: renderProgramJs(kernels.kernels, graph.name) };
}
