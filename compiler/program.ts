// Graph → Program: lower to kernels, plan where the buffers live (or lay
// each out on its own, unplanned), render the kernels for the target
// (JavaScript for the CPU, WGSL for WebGPU), each distinct kernel once.

import { renderProgramC } from '../backends/c/render.js';
import { functionNames, renderProgramJs } from '../backends/cpu/render.js';
import { renderKernelWgsl } from '../backends/wgsl/render.js';
import { PROGRAM_FORMAT, type Program, type ProgramBuffer, type ProgramKernel, type ProgramTensor, type WgslDispatch } from '../runtime/program.js';
import type { Graph } from './ir/graph.js';
import { lowerToKernels } from './lower/lower.js';
import type { KernelProgram, TensorRef } from './lower/kernel.js';
import { applyPlan, checkPlan, layoutNaive, planMemory, type MemoryPlan } from './passes/plan-memory.js';

export type Target = Program['target'];
export const TARGETS: readonly Target[] = ['cpu', 'wgsl'];

export interface CompiledProgram {
  readonly program: Program;
  /** The kernels as planned (buffers sharing memory in place are one). */
  readonly kernels: KernelProgram;
  readonly plan: MemoryPlan;
  /** The kernels' source files for the target, by name relative to the program directory. */
  readonly files: Readonly<Record<string, string>>;
}

export interface BuildOptions {
  /** Memory planning (default on); off gives every buffer its own bytes. */
  readonly plan?: boolean;
  /** Prove the plan sound (tests and --debug). */
  readonly check?: boolean;
  /** The graph passes that made the graph, recorded in the program. */
  readonly passes?: readonly string[];
}

const tensor = (t: TensorRef): ProgramTensor => ({ name: t.name, buffer: t.buffer, offset: t.offset, dtype: t.dtype, shape: t.shape });
const range = (t: TensorRef) => ({ buffer: t.buffer, offset: t.offset, size: t.shape.reduce((a, d) => a * d, 1) });

export function buildProgram(graph: Graph, target: Target = 'cpu', options: BuildOptions = {}): CompiledProgram {
  const lowered = lowerToKernels(graph);
  const plan = options.plan === false ? layoutNaive(lowered) : planMemory(lowered);
  if (options.check) checkPlan(lowered, plan);
  const kernels = applyPlan(lowered, plan);
  const buffers: ProgramBuffer[] = lowered.buffers.map((b) => ({ ...b, region: lowered.buffers[plan.alias[b.id]!]!.region, offset: plan.offsets[b.id]! }));
  const layout = { buffers, persistentBytes: plan.persistentBytes, arenaBytes: plan.arenaBytes };
  const files: Record<string, string> = {};
  const fns = functionNames(kernels.kernels, target === 'cpu' ? 'f_' : '');
  const entry = (i: number): ProgramKernel => {
    const k = kernels.kernels[i]!;
    return { name: k.name, kind: k.kind, label: k.label, fn: fns[i]!, args: k.args.map((a) => ({ buffer: a.buffer, offset: a.offset, size: a.size })), ...(k.streams.length ? { streams: k.streams } : {}) };
  };
  let entries: ProgramKernel[];
  if (target === 'cpu') {
    // Both CPU backends run the same kernels over the same memory: JavaScript and C.
    files['kernels.js'] = renderProgramJs(kernels.kernels, fns, graph.name);
    entries = kernels.kernels.map((_, i) => entry(i));
    const updates = kernels.updates.map((u) => ({ from: range(u.from), to: range(u.to) }));
    files['kernels.c'] = renderProgramC(kernels.kernels, { mode: graph.mode, buffers, kernels: entries, updates }, graph.name);
  } else {
    // Kernels of one structure (the layers) share a function name, its file and its dispatch.
    const dispatches = new Map<string, WgslDispatch>();
    entries = kernels.kernels.map((k, i) => {
      const file = `wgsl/${fns[i]}.wgsl`;
      let wgsl = dispatches.get(file);
      if (!wgsl) {
        const { code, passes, bindings, scratch, uniform, streams, invocations, workgroupBytes } = renderKernelWgsl(k);
        files[file] = code;
        wgsl = { file, passes, bindings, scratch, uniform, ...(streams ? { streams } : {}), invocations, workgroupBytes };
        dispatches.set(file, wgsl);
      }
      return { ...entry(i), wgsl };
    });
  }
  const program: Program = {
    format: PROGRAM_FORMAT,
    model: graph.name,
    mode: graph.mode,
    target,
    dims: graph.dims,
    ...layout,
    inputs: kernels.inputs.map((i) => ({ ...tensor(i), ...(i.bound === undefined ? {} : { bound: i.bound }), ...(i.ignore === undefined ? {} : { ignore: i.ignore }), ...(i.derived ? { derived: i.derived } : {}) })),
    params: kernels.params.map((p) => ({ ...tensor(p), init: p.init, std: p.std })),
    outputs: kernels.outputs.map(tensor),
    kernels: entries,
    states: kernels.states.map(tensor),
    updates: kernels.updates.map((u) => ({ name: u.name, from: tensor(u.from), to: tensor(u.to) })),
    ...(target === 'cpu' ? { source: 'kernels.js', native: 'kernels.c' } : {}),
    report: { passes: [...(options.passes ?? []), ...(options.plan === false ? [] : ['plan-memory'])], fused: graph.schedule !== undefined, planned: options.plan !== false },
  };
  return { program, kernels, plan, files };
}
