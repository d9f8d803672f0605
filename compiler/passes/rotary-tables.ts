// rotary → rotate over a rotary_table: the angles' cos and sin computed once
// per (base, dims, sequence length) and stored, where rotary computes pow,
// sin and cos for every element it turns (twelve heads, queries and keys,
// forward and backward, all over the same angles). The builder makes equal
// tables one node, so a model with two bases (ModernBERT's global and local
// layers) stores two. Fusion then inlines each rotate into the kernel that
// reads it, as it did rotary.

import type { Graph } from '../ir/graph.js';
import type { AttrsOf } from '../ir/ops/index.js';
import { rebuildGraph } from './rewrite.js';

export const rotaryTablesPass = { name: 'rotary-tables', summary: "rotary as rotate over a table of its angles' cos and sin, one per base and length" } as const;

export function rotaryTables(graph: Graph): Graph {
  if (!graph.nodes.some((n) => n.op === 'rotary')) return graph;
  return rebuildGraph(graph, (node, r) => {
    if (node.op !== 'rotary') return r.copy(node);
    const { base, dims, inverse } = node.attrs as AttrsOf<'rotary'>;
    const length = node.type.shape[node.type.shape.length - 2]!;
    const table = r.b.add('rotary_table', [], { base, dims, length }, `${node.label}.table`).id;
    return r.b.add('rotate', [r.map(node.args[0]!), table], { dims, inverse }, node.label, node.type).id;
  });
}
