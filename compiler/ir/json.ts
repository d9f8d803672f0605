// The JSON form of a graph, written by `tcc compile -o` beside the text form.
// Format (version 1): { format, name, mode, dims, nodes: [{ id, op, args,
// attrs, dtype, shape, label }], outputs: [{ name, node }] }.

import type { Graph } from './graph.js';

export const GRAPH_FORMAT = 'tcc.graph.v1';

export function graphToJson(graph: Graph): object {
  return {
    format: GRAPH_FORMAT,
    name: graph.name,
    mode: graph.mode,
    dims: graph.dims,
    nodes: graph.nodes.map((n) => ({
      id: n.id,
      op: n.op,
      args: n.args,
      attrs: n.attrs,
      dtype: n.type.dtype,
      shape: n.type.shape,
      ...(n.label ? { label: n.label } : {}),
    })),
    outputs: graph.outputs,
  };
}
