// Constant folding over uniform constants. A `fill` is the only constant the
// IR holds (one value repeated over a shape), so folding is: an op whose
// operands are all fills, and whose result is itself uniform, becomes a
// fill of its result's value.
//   1. elementwise and broadcast ops (not stochastic ones) of fills: the
//      op's own float64 interpretation on one element of each gives the value;
//   2. injective ops of fills (reshape, transpose, slice, …): interpreted on
//      the actual shapes when small, and kept only when every element came
//      out equal (a pad of a non-zero fill does not);
//   3. everything else stays.
// The interpreter is the op's definition, so folding can never disagree with it.

import type { Graph, Node } from '../ir/graph.js';
import { opDef } from '../ir/ops/index.js';
import type { HostTensor } from '../ir/tensor.js';
import { numel } from '../ir/types.js';
import { rebuildGraph } from './rewrite.js';

export const foldPass = { name: 'fold', summary: 'evaluates ops whose operands are all constants into constants' } as const;

/** Injective ops are folded by interpretation only up to this many elements. */
const SMALL = 1 << 16;

const NO_CONTEXT = {
  training: false,
  seed: 0,
  step: 0,
  input: () => { throw new Error('a constant reads no input'); },
  param: () => { throw new Error('a constant reads no parameter'); },
};

function uniform(t: HostTensor): number | undefined {
  const first = t.data[0];
  if (first === undefined) return undefined;
  for (let i = 1; i < t.data.length; i++) if (!Object.is(t.data[i], first)) return undefined;
  return first;
}

/** The value of a node whose operands are the given fills, when it is a fill itself. */
function foldedValue(node: Node, operands: readonly Node<'fill'>[]): number | undefined {
  const def = opDef(node.op);
  if (def.stochastic) return undefined;
  const scalar = (n: Node<'fill'>): HostTensor => ({ dtype: n.type.dtype, shape: [], data: n.type.dtype === 'i32' ? Int32Array.of(n.attrs.value) : Float64Array.of(n.attrs.value) });
  if (def.fusion === 'elementwise' || def.fusion === 'broadcast') {
    const out = def.interpret(operands.map(scalar), node.attrs as never, { dtype: node.type.dtype, shape: [] }, NO_CONTEXT);
    return out.data[0];
  }
  if (def.fusion === 'injective' && numel(node.type.shape) <= SMALL && operands.every((o) => numel(o.type.shape) <= SMALL)) {
    const full = operands.map((o) => opDef('fill').interpret([], o.attrs, o.type, NO_CONTEXT));
    return uniform(def.interpret(full, node.attrs as never, node.type, NO_CONTEXT));
  }
  return undefined;
}

export function fold(graph: Graph): Graph {
  // Folding starts at a node all of whose operands are fills already; without one there is nothing to do.
  const fill = (id: number) => graph.nodes[id]!.op === 'fill';
  const starts = graph.nodes.some((n) => n.args.length > 0 && n.args.every(fill) && foldedValue(n, n.args.map((a) => graph.nodes[a]!) as Node<'fill'>[]) !== undefined);
  if (!starts) return graph;
  return rebuildGraph(graph, (node, r) => {
    const args = node.args.map((a) => r.b.node(r.map(a)));
    if (args.length === 0 || !args.every((a) => a.op === 'fill')) return r.copy(node);
    const value = foldedValue(node, args as Node<'fill'>[]);
    if (value === undefined || Number.isNaN(value)) return r.copy(node);
    return r.b.add('fill', [], { value, dtype: node.type.dtype, shape: [...node.type.shape] }, node.label).id;
  });
}
