// Summary figures of a graph, as `tcc compile` reports them.

import type { Graph } from './graph.js';
import { opDef } from './ops/index.js';
import { numel } from './types.js';

export interface GraphStats {
  /** Elements of all parameters; a tied parameter is one node and counts once. */
  readonly parameters: number;
  readonly parameterTensors: number;
  /** Nodes that compute (everything but inputs, parameters and generated constants). */
  readonly ops: number;
  readonly opCounts: Readonly<Record<string, number>>;
  /** Floating-point operations of one execution; a multiply-add counts 2. */
  readonly flops: number;
  /** Computed tensors and their bytes if none shared memory (before memory planning). */
  readonly tensors: number;
  readonly tensorBytes: number;
}

export function graphStats(graph: Graph): GraphStats {
  let parameters = 0;
  let parameterTensors = 0;
  let ops = 0;
  let flops = 0;
  let tensorBytes = 0;
  const opCounts: Record<string, number> = {};
  for (const node of graph.nodes) {
    const def = opDef(node.op);
    if (node.op === 'param') {
      parameters += numel(node.type.shape);
      parameterTensors++;
    }
    if (def.fusion === 'source' || def.fusion === 'generator') continue;
    ops++;
    opCounts[node.op] = (opCounts[node.op] ?? 0) + 1;
    flops += def.flops(node.args.map((a) => graph.nodes[a]!.type), node.type, node.attrs as never);
    tensorBytes += 4 * numel(node.type.shape);
  }
  return { parameters, parameterTensors, ops, opCounts, flops, tensors: ops, tensorBytes };
}
