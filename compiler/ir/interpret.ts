// The float64 reference interpreter: runs a graph node by node with each op's
// `interpret` rule, holding f32 values in doubles. It is the numerical oracle
// for every backend and pass, so it favours plain, obviously correct loops.

import { sourceName, type Graph } from './graph.js';
import { opDef, type InterpretContext } from './ops/index.js';
import type { HostTensor } from './tensor.js';
import { formatShape, sameShape } from './types.js';

export interface InterpretOptions {
  /** Dropout is active in training graphs; this overrides the graph's mode. */
  readonly training?: boolean;
  readonly seed?: number;
  readonly step?: number;
}

/** Runs a graph; `params` holds parameters and state tensors by name. */
export function interpret(
  graph: Graph,
  inputs: Readonly<Record<string, HostTensor>>,
  params: Readonly<Record<string, HostTensor>>,
  options: InterpretOptions = {},
): Record<string, HostTensor> {
  const fed = (kind: string, table: Readonly<Record<string, HostTensor>>, name: string): HostTensor => {
    const t = table[name];
    if (!t) throw new Error(`no value fed for ${kind} '${name}'`);
    return t;
  };
  const ctx: InterpretContext = {
    training: options.training ?? graph.mode === 'train',
    seed: options.seed ?? 0,
    step: options.step ?? 0,
    input: (name) => fed('input', inputs, name),
    param: (name) => fed('parameter', params, name),
  };
  const values: HostTensor[] = [];
  for (const node of graph.nodes) {
    const args = node.args.map((a) => values[a]!);
    const value = opDef(node.op).interpret(args, node.attrs as never, node.type, ctx);
    if (!sameShape(value.shape, node.type.shape) || value.dtype !== node.type.dtype) {
      const name = sourceName(node);
      const what = name === undefined ? `%${node.id}` : `${node.op} '${name}'`;
      throw new Error(`${what}: expected ${node.type.dtype}${formatShape(node.type.shape)}, got ${value.dtype}${formatShape(value.shape)}`);
    }
    values.push(value);
  }
  return Object.fromEntries(graph.outputs.map((o) => [o.name, values[o.node]!]));
}
