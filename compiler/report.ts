// What the compiler did, in figures: kernels by kind and per encoder layer,
// and memory (planned arena, every buffer on its own, the lower bound over
// the schedule, persistent bytes). `tcc compile` prints it; program.json
// keeps it.

import type { Graph } from './ir/graph.js';
import { numel } from './ir/types.js';
import { lifetimes } from './kernel-passes/plan-memory.js';
import type { CompiledProgram } from './program.js';

/**
 * Forward values (what the loss does not depend on through a gradient) are
 * the activations; in a training graph they are the nodes up to the loss
 * and the copies recomputation makes. The peak of their live bytes over the
 * schedule, each buffer counted over its own lifetime.
 */
function activationBytes(graph: Graph, compiled: CompiledProgram): number {
  const loss = graph.outputs.find((o) => o.name === 'loss')?.node ?? graph.nodes.length;
  const recomputed = new Set(graph.recomputed ?? []);
  const forward = (node: number | undefined) => node !== undefined && (node <= loss || recomputed.has(node));
  const life = lifetimes(compiled.lowered);
  const delta = new Array<number>(compiled.kernels.length + 2).fill(0);
  for (const b of compiled.lowered.buffers) {
    const l = life[b.id];
    if (!l || compiled.program.buffers[b.id]!.region !== 'arena' || !forward(b.node)) continue;
    const bytes = 4 * numel([b.size]);
    delta[l[0]]! += bytes;
    delta[l[1] + 1]! -= bytes;
  }
  let live = 0;
  let most = 0;
  for (const d of delta) most = Math.max(most, (live += d));
  return most;
}

export interface CompileReport {
  readonly kernels: number;
  /** The most kernels any one of the model's repeated blocks (encoder layer) compiles to: forward and backward together in training, the optimizer apart. */
  readonly kernelsPerLayer: number;
  /** Kernels per layer, by layer name. */
  readonly layers: Readonly<Record<string, number>>;
  readonly kernelCounts: Readonly<Record<string, number>>;
  readonly memory: {
    /** The most bytes of forward values (activations, recomputed ones included) live at one kernel: what recomputation saves. */
    readonly activationBytes: number;
    readonly arenaBytes: number;
    readonly naiveBytes: number;
    readonly lowerBoundBytes: number;
    readonly persistentBytes: number;
    readonly peakBytes: number;
  };
}

/** The region (encoder layer) each node belongs to. */
function regionOf(graph: Graph): Map<number, string> {
  const of = new Map<number, string>();
  for (const region of graph.regions ?? []) for (const [start, end] of region.ranges) for (let i = start; i < end; i++) of.set(i, region.name);
  return of;
}

export function compileReport(graph: Graph, compiled: CompiledProgram): CompileReport {
  const { kernels, plan } = compiled;
  const kernelCounts: Record<string, number> = {};
  for (const k of kernels) kernelCounts[k.kind] = (kernelCounts[k.kind] ?? 0) + 1;
  // A kernel belongs to the layer of the last node it computes: where its result comes from.
  const of = regionOf(graph);
  const layers: Record<string, number> = {};
  for (const r of graph.regions ?? []) layers[r.name] = 0;
  for (const k of kernels) {
    const region = [...k.nodes].reverse().map((n) => of.get(n)).find((r) => r !== undefined);
    if (region) layers[region]!++;
  }
  return {
    kernels: kernels.length,
    kernelsPerLayer: Math.max(0, ...Object.values(layers)),
    layers,
    kernelCounts,
    memory: {
      activationBytes: activationBytes(graph, compiled),
      arenaBytes: plan.arenaBytes,
      naiveBytes: plan.naiveBytes,
      lowerBoundBytes: plan.lowerBoundBytes,
      persistentBytes: plan.persistentBytes,
      peakBytes: plan.persistentBytes + plan.arenaBytes,
    },
  };
}
