// The driver that rebuilding passes share: nodes are visited in order and
// re-added through a GraphBuilder (so structurally equal nodes become one),
// each visit deciding what the node becomes; outputs follow their nodes and
// the model's regions (encoder layers) keep covering the nodes made for
// them. A visit may return an existing node (a rewrite to a simpler value)
// or skip the node (dead code).

import { GraphBuilder, isHashConsed, markHashConsed, type Graph, type Node, type Region } from '../ir/graph.js';

/** What a visit may do with a node whose operands are already mapped. */
export interface Rebuild {
  readonly b: GraphBuilder;
  /** The new id of an old node. */
  readonly map: (old: number) => number;
  /** The node as it was, with its operands mapped: the default result. */
  copy(node: Node): number;
}

/**
 * Rebuilds `graph`, calling `visit` for every node (in order); `visit`
 * returns the node's new id, or undefined to drop it (nothing may use it).
 */
export function rebuildGraph(graph: Graph, visit: (node: Node, r: Rebuild) => number | undefined): Graph {
  const b = new GraphBuilder(graph.name, graph.mode, graph.dims);
  const mapped: (number | undefined)[] = [];
  const madeBefore: number[] = [];
  const map = (old: number) => {
    const id = mapped[old];
    if (id === undefined) throw new Error(`%${old} was dropped but is still used`);
    return id;
  };
  // Operands keep their types through every rewrite, so a copy keeps its own.
  const r: Rebuild = { b, map, copy: (node) => b.add(node.op, node.args.map(map), node.attrs as never, node.label, node.type).id };
  for (const node of graph.nodes) {
    madeBefore[node.id] = b.size;
    mapped[node.id] = visit(node, r);
  }
  madeBefore[graph.nodes.length] = b.size;
  for (const out of graph.outputs) b.output(out.name, map(out.node));
  const built = b.build();
  const regions = movedRegions(graph, madeBefore);
  return regions ? { ...built, regions } : built;
}

/** The regions of `graph` over new ids, where `madeBefore[id]` counts the new nodes made before old node `id`. */
export function movedRegions(graph: Graph, madeBefore: readonly number[]): Region[] | undefined {
  return graph.regions?.map((region): Region => ({ name: region.name, ranges: region.ranges.map(([s, e]) => [madeBefore[s]!, madeBefore[e]!] as const).filter(([s, e]) => e > s) }));
}

/**
 * The graph with only the nodes `keep` accepts (everything they use among
 * them), renumbered in order. Dropping nodes makes no two equal, so nothing
 * is hashed again: cheaper than a rebuild.
 */
export function keepNodes(graph: Graph, keep: (id: number) => boolean): Graph {
  if (graph.schedule || graph.recomputed) throw new Error('keepNodes: the graph is already scheduled or recomputed');
  const ids: number[] = [];
  const madeBefore: number[] = [];
  const nodes: Node[] = [];
  const map = (old: number) => {
    const id = ids[old];
    if (id === undefined) throw new Error(`%${old} was dropped but is still used`);
    return id;
  };
  for (const node of graph.nodes) {
    madeBefore[node.id] = nodes.length;
    if (!keep(node.id)) continue;
    ids[node.id] = nodes.length;
    nodes.push({ ...node, id: nodes.length, args: node.args.map(map) });
  }
  madeBefore[graph.nodes.length] = nodes.length;
  if (isHashConsed(graph)) markHashConsed(nodes);
  const regions = movedRegions(graph, madeBefore);
  return { ...graph, nodes, outputs: graph.outputs.map((o) => ({ ...o, node: map(o.node) })), ...(regions ? { regions } : {}) };
}
