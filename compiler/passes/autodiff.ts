// Reverse-mode automatic differentiation as a graph pass.
//   1. Copy the graph into a builder (ids are kept: it is already in order).
//   2. Find the nodes whose value depends on a parameter: only they need
//      gradients.
//   3. Walk the nodes backwards from the loss (seeded with 1), applying each
//      op's gradient rule and summing the contributions to every operand.
//   4. Add an output "grad:NAME" per parameter (zeros for one that does not
//      reach the loss), keeping the original outputs.
// Hash-consing in the builder shares recomputed values (e.g. a normalized x̂
// needed by two gradients) for free.

import { GraphBuilder, sourceName, type Graph, type Node } from '../ir/graph.js';
import { formatType } from '../ir/types.js';
import { AutodiffError, GRADIENTS, type GradContext } from './grad-rules.js';

export const autodiffPass = { name: 'autodiff', summary: 'adds the gradient of a scalar loss with respect to every parameter' } as const;

export const GRAD_PREFIX = 'grad:';

export { AutodiffError };

/** Rebuilds `graph` node for node; returns the builder, positioned to add more. */
export function rebuild(graph: Graph): GraphBuilder {
  const b = new GraphBuilder(graph.name, graph.mode, graph.dims);
  for (const node of graph.nodes) {
    const copy = b.add(node.op, node.args, node.attrs as never, node.label, node.type);
    if (copy.id !== node.id) throw new AutodiffError(`graph is not in canonical form: %${node.id} rebuilt as %${copy.id}`);
  }
  for (const out of graph.outputs) b.output(out.name, out.node);
  for (const region of graph.regions ?? []) for (const [start, end] of region.ranges) b.region(region.name, start, end);
  return b;
}

export function autodiff(graph: Graph, loss: string): Graph {
  const lossOut = graph.outputs.find((o) => o.name === loss);
  if (!lossOut) throw new AutodiffError(`the graph has no output '${loss}' to differentiate`);
  const lossNode = graph.nodes[lossOut.node]!;
  if (lossNode.type.shape.length !== 0 || lossNode.type.dtype !== 'f32') throw new AutodiffError(`loss '${loss}' must be an f32 scalar, not ${formatType(lossNode.type)}`);

  const b = rebuild(graph);
  const needs = new Set<number>();
  for (const node of graph.nodes) if (node.op === 'param' || node.args.some((a) => needs.has(a))) needs.add(node.id);

  const adjoint = new Map<number, number>();
  const accumulate = (id: number, g: number) => {
    const previous = adjoint.get(id);
    adjoint.set(id, previous === undefined ? g : b.add('add', [previous, g], {}, 'grad').id);
  };
  adjoint.set(lossNode.id, b.add('fill', [], { value: 1, dtype: 'f32', shape: [] }, 'grad').id);

  // The gradient nodes made for a node of a region (an encoder layer) belong to that region too.
  const regionOf = new Map<number, string>();
  for (const region of graph.regions ?? []) for (const [start, end] of region.ranges) for (let i = start; i < end; i++) regionOf.set(i, region.name);
  for (let id = lossNode.id; id >= 0; id--) {
    const node = graph.nodes[id]! as Node;
    const dy = adjoint.get(id);
    if (dy === undefined || !needs.has(id) || node.op === 'param') continue;
    const before = b.size;
    const rule = GRADIENTS[node.op];
    if (rule === 'source' || rule === 'none') continue;
    if (rule === 'second-order') throw new AutodiffError(`${node.op} (%${id}) has no gradient: tcc does not take second derivatives`);
    const ctx: GradContext = {
      b,
      wants: (i) => needs.has(node.args[i]!),
      shape: (n) => b.node(n).type.shape,
    };
    const grads = (rule as (c: GradContext, n: Node, g: number) => (number | undefined)[])(ctx, node, dy);
    grads.forEach((g, i) => {
      if (g !== undefined && needs.has(node.args[i]!)) accumulate(node.args[i]!, g);
    });
    const region = regionOf.get(id);
    if (region) b.region(region, before, b.size);
  }

  for (const node of graph.nodes) {
    if (node.op !== 'param') continue;
    const g = adjoint.get(node.id) ?? b.add('fill', [], { value: 0, dtype: 'f32', shape: [...node.type.shape] }, 'grad').id;
    b.output(`${GRAD_PREFIX}${sourceName(node)}`, g);
  }
  return b.build();
}
