// Dead-code elimination: nodes that no output needs are dropped. Inputs,
// parameters and state stay even when unused: they are the program's
// interface (a checkpoint holds every parameter).

import type { Graph } from '../ir/graph.js';
import { opDef } from '../ir/ops/index.js';
import { keepNodes } from './rewrite.js';

export const dcePass = { name: 'dce', summary: 'drops nodes that no output needs' } as const;

export function dce(graph: Graph): Graph {
  const live = new Set<number>(graph.outputs.map((o) => o.node));
  for (const node of graph.nodes) if (opDef(node.op).fusion === 'source') live.add(node.id);
  for (let id = graph.nodes.length - 1; id >= 0; id--) {
    if (live.has(id)) for (const a of graph.nodes[id]!.args) live.add(a);
  }
  return live.size === graph.nodes.length ? graph : keepNodes(graph, (id) => live.has(id));
}
