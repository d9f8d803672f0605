// Activation recomputation (Chen et al. 2016): trade FLOPs for memory. A
// training graph keeps every activation the backward pass reads until the
// backward pass reads it, so memory grows with depth. With recomputation,
// only each segment's input is kept (the checkpoint); just before the
// segment's backward pass, its forward nodes that the backward reads are
// computed again from the checkpoint, and the backward reads the copies.
//
//   none    keep every activation
//   layer   segments are the model's repeated blocks (encoder layers): one
//           layer's activations live at a time, plus one tensor per layer
//   sqrt    segments of ⌈√L⌉ consecutive layers
//
// Stages:
//   1. segments: the forward node ranges of the graph's regions (the first
//      range of each, made by the frontend), grouped by the mode;
//   2. for each segment, the values its backward reads (consumers after the
//      loss), and the segment's forward nodes those values need;
//   3. copies of those nodes, inserted just before the first backward node
//      that reads any of them, which now read the copies.
// Dropout draws are counted by (seed, step, stream, element), so a copy
// draws exactly the mask its original drew: recomputation is exact. Copies
// are structurally equal to their originals, so no CSE may run after this.

import type { Graph, Node, Region } from '../ir/graph.js';

export type RecomputeMode = 'none' | 'layer' | 'sqrt';
export const RECOMPUTE_MODES: readonly RecomputeMode[] = ['none', 'layer', 'sqrt'];

export const recomputePass = { name: 'recompute', summary: 'recomputes each layer\'s activations from its input before its backward pass (--recompute layer|sqrt)' } as const;

/** The segments a mode checkpoints: forward node ranges [start, end) with their regions' names. */
function segments(regions: readonly Region[], mode: RecomputeMode): { ranges: [number, number][]; names: string[] }[] {
  const forward = regions.filter((r) => r.ranges.length).map((r) => ({ range: [...r.ranges[0]!] as [number, number], name: r.name }));
  const size = mode === 'sqrt' ? Math.ceil(Math.sqrt(forward.length)) : 1;
  const out: { ranges: [number, number][]; names: string[] }[] = [];
  for (let i = 0; i < forward.length; i += size) {
    const part = forward.slice(i, i + size);
    out.push({ ranges: part.map((p) => p.range), names: part.map((p) => p.name) });
  }
  return out;
}

export function recompute(graph: Graph, mode: RecomputeMode): Graph {
  if (mode === 'none' || !graph.regions?.length) return graph;
  const loss = graph.outputs.find((o) => o.name === 'loss')?.node;
  if (loss === undefined) return graph;
  const consumers = graph.nodes.map(() => [] as number[]);
  for (const n of graph.nodes) for (const a of new Set(n.args)) consumers[a]!.push(n.id);

  /** Copies to insert before a node, in order. */
  const insertBefore = new Map<number, number[]>();
  /** The region each copy is made for. */
  const regionOfCopy = new Map<number, string>();
  for (const { ranges, names } of segments(graph.regions, mode)) {
    const inSegment = (id: number) => ranges.some(([s, e]) => id >= s && id < e);
    // A value a later segment's forward reads is that segment's checkpoint: kept, not recomputed.
    const checkpoint = (id: number) => consumers[id]!.some((c) => c <= loss && !inSegment(c));
    const saved = new Set<number>();
    let first = Infinity;
    for (const [s, e] of ranges) {
      for (let id = s; id < e; id++) {
        const later = consumers[id]!.filter((c) => c > loss);
        if (!later.length || graph.nodes[id]!.args.length === 0 || checkpoint(id)) continue;
        saved.add(id);
        first = Math.min(first, ...later);
      }
    }
    if (!saved.size) continue;
    // The segment's nodes the saved values need, in order.
    const needed = new Set<number>();
    const need = (id: number) => {
      if (needed.has(id) || !inSegment(id) || graph.nodes[id]!.args.length === 0 || checkpoint(id)) return;
      needed.add(id);
      for (const a of graph.nodes[id]!.args) need(a);
    };
    for (const id of saved) need(id);
    insertBefore.set(first, [...(insertBefore.get(first) ?? []), ...[...needed].sort((a, b) => a - b)]);
    for (const id of needed) regionOfCopy.set(id, names.find((_, i) => ranges[i]![0] <= id && id < ranges[i]![1]) ?? names[0]!);
  }

  // Rebuild in order, inserting the copies; ids shift, so everything is renumbered.
  const nodes: Node[] = [];
  const newId = new Map<number, number>();
  const copyId = new Map<number, number>();
  const push = (node: Node, args: number[], label: string) => {
    nodes.push({ ...node, id: nodes.length, args, label });
    return nodes.length - 1;
  };
  const made = new Map<number, number>();
  const copyRanges: { name: string; at: number }[] = [];
  for (const node of graph.nodes) {
    for (const orig of insertBefore.get(node.id) ?? []) {
      const o = graph.nodes[orig]!;
      const id = push(o, o.args.map((a) => copyId.get(a) ?? newId.get(a)!), o.label ? `${o.label} (recomputed)` : 'recomputed');
      copyId.set(orig, id);
      copyRanges.push({ name: regionOfCopy.get(orig)!, at: id });
    }
    made.set(node.id, nodes.length);
    // A backward node reads a recomputed value's copy.
    push(node, node.args.map((a) => (node.id > loss && copyId.has(a) ? copyId.get(a)! : newId.get(a)!)), node.label);
    newId.set(node.id, nodes.length - 1);
  }
  made.set(graph.nodes.length, nodes.length);
  const regions = graph.regions.map((r) => ({
    name: r.name,
    ranges: [...r.ranges.map(([s, e]) => [made.get(s)!, made.get(e)!] as const), ...copyRanges.filter((c) => c.name === r.name).map((c) => [c.at, c.at + 1] as const)],
  }));
  return { ...graph, nodes, outputs: graph.outputs.map((o) => ({ name: o.name, node: newId.get(o.node)! })), regions, recomputed: [...copyId.values()] };
}
