// Common-subexpression elimination: the graph is rebuilt through the
// hash-consing builder, so nodes with the same op, operands and attributes
// become one (structural hashing, as tinygrad's UOps). Passes that rewrite
// nodes can leave such duplicates behind; this pass merges them. Dropout
// nodes with the same stream draw the same mask, so merging them is exact.
// A graph the builder made is free of duplicates already and comes back as it is.

import { isHashConsed, type Graph } from '../ir/graph.js';
import { rebuildGraph } from './rewrite.js';

export const csePass = { name: 'cse', summary: 'merges structurally identical nodes' } as const;

export function cse(graph: Graph): Graph {
  return isHashConsed(graph) ? graph : rebuildGraph(graph, (node, r) => r.copy(node));
}
