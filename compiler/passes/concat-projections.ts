// Horizontal fusion of projections: linear layers that read the same input
// (the query, key and value projections of a layer) become one matmul over
// their weights concatenated along the output axis, and one bias add; each
// original output becomes a slice of the result. The parameters keep their
// names and shapes (checkpoints do not change): the concatenation of
// parameters is laid out in place, so the joined weight is the three
// weights side by side in memory. Gradients follow through the slices.
//
//   y_i = matmul(x, W_i) {transpose_b} (+ b_i)    for i = 1…n, W_i [N_i, K]
//   →  y = matmul(x, concat(W_1…W_n)) {transpose_b} + concat(b_1…b_n)
//      y_i = slice(y, last axis, offset_i, offset_i + N_i)

import type { Graph, Node } from '../ir/graph.js';
import type { AttrsOf } from '../ir/ops/index.js';
import { dce } from './dce.js';
import { rebuildGraph } from './rewrite.js';

export const concatProjectionsPass = { name: 'concat-projections', summary: 'joins linear layers that read the same input into one matmul over concatenated weights' } as const;

interface Projection {
  readonly matmul: Node;
  readonly weight: Node;
  /** The bias add that is the matmul's only use, and its bias parameter. */
  readonly add?: Node;
  readonly bias?: Node;
}

/** Groups of two or more projections of one input, in graph order. */
function projections(graph: Graph): Projection[][] {
  const uses = graph.nodes.map(() => [] as number[]);
  for (const n of graph.nodes) for (const a of new Set(n.args)) uses[a]!.push(n.id);
  const outputs = new Set(graph.outputs.map((o) => o.node));
  const byInput = new Map<number, Projection[]>();
  for (const n of graph.nodes) {
    if (n.op !== 'matmul') continue;
    const { transpose_a, transpose_b } = n.attrs as AttrsOf<'matmul'>;
    const weight = graph.nodes[n.args[1]!]!;
    if (transpose_a || !transpose_b || weight.op !== 'param' || weight.type.shape.length !== 2) continue;
    const only = uses[n.id]!.length === 1 && !outputs.has(n.id) ? graph.nodes[uses[n.id]![0]!]! : undefined;
    const biasNode = only?.op === 'add' && only.args[0] === n.id ? graph.nodes[only.args[1]!]! : undefined;
    const biased = biasNode?.op === 'param' && biasNode.type.shape.length === 1 ? { add: only!, bias: biasNode } : {};
    const list = byInput.get(n.args[0]!) ?? [];
    list.push({ matmul: n, weight, ...biased });
    byInput.set(n.args[0]!, list);
  }
  return [...byInput.values()]
    .map((list) => list.filter((p) => p.weight.type.shape[1] === list[0]!.weight.type.shape[1]))
    .map((list) => (list.every((p) => p.bias) || list.every((p) => !p.bias) ? list : list.filter((p) => !p.bias)))
    .filter((list) => list.length > 1 && new Set(list.map((p) => p.weight.id)).size === list.length);
}

export function concatProjections(graph: Graph): Graph {
  const groups = projections(graph);
  if (!groups.length) return graph;
  /** Where each original value comes from: the group and the projection's column range. */
  const replaced = new Map<number, { group: number; start: number; end: number }>();
  groups.forEach((list, g) => {
    let start = 0;
    for (const p of list) {
      const end = start + p.weight.type.shape[0]!;
      replaced.set((p.add ?? p.matmul).id, { group: g, start, end });
      start = end;
    }
  });
  const joined = new Map<number, number>();
  const rewritten = rebuildGraph(graph, (node, r) => {
    const at = replaced.get(node.id);
    if (!at) return r.copy(node);
    let y = joined.get(at.group);
    if (y === undefined) {
      const list = groups[at.group]!;
      const label = list[0]!.matmul.label;
      // Later projections' parameters may come after this node: a parameter is found by name, so adding it now is adding it once.
      const param = (p: Node) => r.b.add('param', [], p.attrs as AttrsOf<'param'>, p.label).id;
      const weights = r.b.add('concat', list.map((p) => param(p.weight)), { axis: 0 }, label).id;
      y = r.b.add('matmul', [r.map(list[0]!.matmul.args[0]!), weights], { transpose_a: false, transpose_b: true }, label).id;
      if (list[0]!.bias) y = r.b.add('add', [y, r.b.add('concat', list.map((p) => param(p.bias!)), { axis: 0 }, label).id], {}, label).id;
      joined.set(at.group, y);
    }
    return r.b.add('slice', [y], { axis: -1, start: at.start, end: at.end }, node.label).id;
  });
  return dce(rewritten);
}
