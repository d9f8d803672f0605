// Graph → Program: lower to kernels, lay the buffers out in one arena, render
// the kernels for the target (JavaScript for the CPU, WGSL for WebGPU).

import { renderProgramJs } from '../backends/cpu/render.js';
import { renderKernelWgsl } from '../backends/wgsl/render.js';
import { BUFFER_ALIGNMENT, PROGRAM_FORMAT, type Program, type ProgramKernel } from '../runtime/program.js';
import type { Graph } from './ir/graph.js';
import { lowerToKernels } from './lower/lower.js';
import type { Kernel, KernelProgram } from './lower/kernel.js';

export type Target = Program['target'];
export const TARGETS: readonly Target[] = ['cpu', 'wgsl'];

export interface CompiledProgram {
  readonly program: Program;
  readonly kernels: KernelProgram;
  /** The kernels' source files for the target, by name relative to the program directory. */
  readonly files: Readonly<Record<string, string>>;
}

const align = (n: number) => Math.ceil(n / BUFFER_ALIGNMENT) * BUFFER_ALIGNMENT;

function kernelEntry(k: Kernel): ProgramKernel {
  return { name: k.name, kind: k.kind, label: k.label, args: [...k.inputs.map((a) => a.buffer), k.output.buffer] };
}

export function buildProgram(graph: Graph, target: Target = 'cpu'): CompiledProgram {
  const kernels = lowerToKernels(graph);
  let arenaBytes = 0;
  const buffers = kernels.buffers.map((b) => {
    const offset = arenaBytes;
    arenaBytes += align(4 * b.size);
    return { ...b, offset };
  });
  const files: Record<string, string> = {};
  let entries: ProgramKernel[];
  if (target === 'cpu') {
    files['kernels.js'] = renderProgramJs(kernels.kernels, graph.name);
    entries = kernels.kernels.map(kernelEntry);
  } else {
    entries = kernels.kernels.map((k) => {
      const { code, passes, bindings, scratch, uniform, invocations, workgroupBytes } = renderKernelWgsl(k);
      const file = `wgsl/${k.name}.wgsl`;
      files[file] = code;
      return { ...kernelEntry(k), wgsl: { file, passes, bindings, scratch, uniform, invocations, workgroupBytes } };
    });
  }
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
    kernels: entries,
    states: kernels.states,
    updates: kernels.updates,
    ...(target === 'cpu' ? { source: 'kernels.js' } : {}),
  };
  return { program, kernels, files };
}
