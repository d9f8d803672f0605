// Graph → Program: lower to kernels, plan where the buffers live (or lay
// each out on its own, unplanned), and write the program: its layout and
// the kernel IR of each distinct kernel, which the runtime checks and
// renders for whichever backend runs it. For people, the code of a
// target's backends is rendered too (through the backend registry).

import { backendsOf, renderOn } from '../backends/registry.js';
import { encodeKernels } from '../runtime/kernel-json.js';
import { PROGRAM_FORMAT, type Program, type ProgramBuffer, type ProgramKernel, type ProgramTensor } from '../runtime/program.js';
import type { Graph } from './ir/graph.js';
import { lowerToKernels } from './lower/lower.js';
import type { Kernel, KernelProgram, Symbol_, TensorRef } from '../kernel/ir.js';
import { withRuntimeSizes } from './lower/runtime-sizes.js';
import { applyPlan, checkPlan, layoutNaive, planMemory, type MemoryPlan } from './kernel-passes/plan-memory.js';

export interface CompiledProgram {
  readonly program: Program;
  /** The kernels in order, as planned (buffers sharing memory in place are one). */
  readonly kernels: readonly Kernel[];
  /** The lowered program they come from, with its buffers and tensors. */
  readonly lowered: KernelProgram;
  readonly plan: MemoryPlan;
}

export interface BuildOptions {
  /** Memory planning (default on); off gives every buffer its own bytes. */
  readonly plan?: boolean;
  /** Prove the plan sound (tests and --debug). */
  readonly check?: boolean;
  /** The graph passes that made the graph, recorded in the program. */
  readonly passes?: readonly string[];
  /**
   * Sizes a run gives (a packed program's tokens and sequences): `graph` is
   * built at their maxima, each probe's graph with one symbol `by` larger
   * (compiler/lower/runtime-sizes.ts).
   */
  readonly runtime?: { readonly symbols: readonly Symbol_[]; readonly probes: readonly { readonly symbol: number; readonly by: number; readonly graph: Graph }[] };
}

const tensor = (t: TensorRef): ProgramTensor => ({ name: t.name, buffer: t.buffer, offset: t.offset, dtype: t.dtype, shape: t.shape, ...(t.runtime ? { runtime: t.runtime } : {}) });

export function buildProgram(graph: Graph, options: BuildOptions = {}): CompiledProgram {
  const { runtime } = options;
  const lowered = runtime
    ? withRuntimeSizes(lowerToKernels(graph), runtime.symbols, runtime.probes.map((p) => ({ symbol: p.symbol, by: p.by, program: lowerToKernels(p.graph) })))
    : lowerToKernels(graph);
  const plan = options.plan === false ? layoutNaive(lowered) : planMemory(lowered);
  if (options.check) checkPlan(lowered, plan);
  const planned = applyPlan(lowered, plan);
  const buffers: ProgramBuffer[] = lowered.buffers.map((b) => ({
    id: b.id, dtype: b.dtype, size: b.size, region: lowered.buffers[plan.alias[b.id]!]!.region, offset: plan.offsets[b.id]!, ...(b.name === undefined ? {} : { name: b.name }),
  }));
  const { functions, bindings } = encodeKernels(planned.kernels);
  const kernels = planned.kernels.map((k, i): ProgramKernel => ({ name: k.name, kind: k.kind, label: k.label, function: bindings[i]!.function, args: bindings[i]!.args, ...(k.streams.length ? { streams: k.streams } : {}) }));
  const program: Program = {
    format: PROGRAM_FORMAT,
    model: graph.name,
    mode: graph.mode,
    dims: graph.dims,
    persistentBytes: plan.persistentBytes,
    arenaBytes: plan.arenaBytes,
    buffers,
    inputs: planned.inputs.map((i) => ({ ...tensor(i), ...(i.bound === undefined ? {} : { bound: i.bound }), ...(i.ignore === undefined ? {} : { ignore: i.ignore }), ...(i.derived ? { derived: i.derived } : {}) })),
    params: planned.params.map((p) => ({ ...tensor(p), init: p.init, std: p.std })),
    outputs: planned.outputs.map(tensor),
    kernels,
    functions,
    states: planned.states.map(tensor),
    updates: planned.updates.map((u) => ({ name: u.name, from: tensor(u.from), to: tensor(u.to) })),
    report: { passes: [...(options.passes ?? []), ...(options.plan === false ? [] : ['plan-memory'])], fused: graph.schedule !== undefined, planned: options.plan !== false },
    ...(lowered.symbols ? { symbols: lowered.symbols } : {}),
  };
  return { program, kernels: planned.kernels, lowered: planned, plan };
}

/**
 * The code a target's backends run for the program, by file name relative
 * to the program directory: for people to read (the runtime generates its
 * own from the kernel IR).
 */
export async function programSources(compiled: Pick<CompiledProgram, 'program' | 'kernels'>, target: string): Promise<Record<string, string>> {
  // A program sized at each run has no code for the backends that render sizes as numbers (wasm, for now).
  const sized = (compiled.program.symbols?.length ?? 0) > 0;
  const backends = backendsOf(target).filter((b) => !sized || b.capabilities.runtimeSizes);
  const files = await Promise.all(backends.map((b) => renderOn(b, compiled.program, compiled.kernels)));
  return Object.assign({}, ...files) as Record<string, string>;
}
