// Attention fusion: a graph rewrite that finds scaled dot-product attention
// written out of ops and replaces it by the `attention` op, whose kernel
// never stores the [..., queries, keys] scores (FlashAttention's online
// softmax), forward and backward. The pattern, each value used only by the
// next:
//
//   p = matmul(q, k) {transpose_b}      scores
//   s = affine(p) {scale}                (optional)
//   m = add(s, mask)                     (optional; mask broadcasts to the scores)
//   a = softmax(m) {axis: last}
//   d = dropout(a) {rate, stream}        (optional)
//   o = matmul(d, v)
//
// becomes o = attention(q, k, v, mask) {scale, rate, stream}; the dropout
// keeps its stream, so the fused op draws the very mask the composed graph
// draws. It runs before autodiff, which then uses attention's own gradient.

import type { Graph, GraphBuilder, Node } from '../ir/graph.js';
import type { AttrsOf } from '../ir/ops/index.js';
import { broadcastShapes } from '../ir/types.js';
import { dce } from './dce.js';
import { rebuildGraph } from './rewrite.js';

export const fuseAttentionPass = { name: 'fuse-attention', summary: 'rewrites softmax(q·kᵀ·scale + mask)·v into one attention op' } as const;

interface Match {
  q: number;
  k: number;
  v: number;
  mask?: number;
  scale: number;
  rate: number;
  stream: number;
}

/** The attention pattern ending at matmul `o`, in the original graph. */
function match(graph: Graph, uses: readonly number[], o: Node): Match | undefined {
  const node = (id: number) => graph.nodes[id]!;
  const single = (id: number) => uses[id] === 1 && !graph.outputs.some((out) => out.node === id);
  if (o.op !== 'matmul') return undefined;
  const mm = o.attrs as AttrsOf<'matmul'>;
  if (mm.transpose_a || mm.transpose_b) return undefined;
  let at = node(o.args[0]!);
  let rate = 0;
  let stream = 0;
  if (at.op === 'dropout') {
    if (!single(at.id)) return undefined;
    ({ rate, stream } = at.attrs as AttrsOf<'dropout'>);
    at = node(at.args[0]!);
  }
  if (at.op !== 'softmax' || !single(at.id)) return undefined;
  const axis = (at.attrs as AttrsOf<'softmax'>).axis;
  if (axis !== -1 && axis !== at.type.shape.length - 1) return undefined;
  at = node(at.args[0]!);
  let mask: number | undefined;
  if (at.op === 'add' && single(at.id)) {
    const [a, b] = at.args as [number, number];
    const scoresFirst = node(a).type.shape.join() === at.type.shape.join();
    mask = scoresFirst ? b : a;
    const joined = broadcastShapes(node(mask).type.shape, at.type.shape);
    if (!joined || joined.join() !== at.type.shape.join()) return undefined;
    at = node(scoresFirst ? a : b);
  }
  let scale = 1;
  if (at.op === 'affine' && single(at.id) && (at.attrs as AttrsOf<'affine'>).shift === 0) {
    scale = (at.attrs as AttrsOf<'affine'>).scale;
    at = node(at.args[0]!);
  }
  if (at.op !== 'matmul' || !single(at.id)) return undefined;
  const scores = at.attrs as AttrsOf<'matmul'>;
  if (scores.transpose_a || !scores.transpose_b) return undefined;
  const [q, k] = at.args as [number, number];
  const v = o.args[1]!;
  const batch = (id: number) => node(id).type.shape.slice(0, -2).join();
  if (node(q).type.shape.length < 3 || batch(q) !== batch(k) || batch(q) !== batch(v)) return undefined;
  return { q, k, v, scale, rate, stream, ...(mask === undefined ? {} : { mask }) };
}

export function fuseAttention(graph: Graph): Graph {
  const uses = graph.nodes.map(() => 0);
  for (const n of graph.nodes) for (const a of n.args) uses[a]!++;
  const rewritten = rebuildGraph(graph, (node, r) => {
    const m = match(graph, uses, node);
    if (!m) return r.copy(node);
    const b: GraphBuilder = r.b;
    const mask = m.mask === undefined ? b.add('fill', [], { value: 0, dtype: 'f32', shape: [] }, node.label).id : r.map(m.mask);
    return b.add('attention', [r.map(m.q), r.map(m.k), r.map(m.v), mask], { scale: m.scale, rate: m.rate, stream: m.stream }, node.label).id;
  });
  return dce(rewritten);
}
