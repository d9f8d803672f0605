// Algebraic simplification: a table of local rewrites, pattern → rewrite,
// applied to every node (after its operands were simplified) until none
// applies. Each rule is an identity of the interpreter's arithmetic:
// multiplying by one, adding zero, a reshape to the same shape, a transpose
// of a transpose, an affine of an affine, … A rule that would change a value
// (x·0 is NaN for infinite x) is not here. What the rewritten nodes leave
// unused, dce removes. Some rules restructure rather than remove: a
// concatenation of many operands becomes a tree of narrow ones (and nested
// narrow ones one); pads placed side by side and added become a
// concatenation; a sum over a concatenation that keeps its axis becomes
// the concatenation of the parts' sums.

import type { GraphBuilder, Graph, Node } from '../ir/graph.js';
import type { AttrsOf, OpName } from '../ir/ops/index.js';
import { normalizeAxis, sameShape } from '../ir/types.js';
import { rebuildGraph } from './rewrite.js';

export const simplifyPass = { name: 'simplify', summary: 'rewrites identities away (x·1, x+0, reshape of a reshape, transpose of a transpose, …)' } as const;

/** Operands of the widest concatenation left as it is. */
const WIDE = 6;

/** A rewrite: the id of a simpler equivalent of `n`, or undefined. */
type Rule<K extends OpName> = (n: Node<K>, b: GraphBuilder) => number | undefined;

/** The constant value of a node, when it is a fill. */
const constant = (b: GraphBuilder, id: number): number | undefined => {
  const n = b.node(id);
  return n.op === 'fill' ? (n.attrs as AttrsOf<'fill'>).value : undefined;
};

/** `other` when `n` equals it: same shape and dtype (a broadcast against a scalar does not change it). */
const sameAs = (b: GraphBuilder, n: Node, other: number) => {
  const t = b.node(other).type;
  return t.dtype === n.type.dtype && sameShape(t.shape, n.type.shape) ? other : undefined;
};

/** x op c → x when c is the op's identity element on that side. */
function identity(value: number, sides: 'both' | 'right'): Rule<'add' | 'sub' | 'mul' | 'div'> {
  return (n, b) => {
    const [x, y] = n.args as [number, number];
    if (constant(b, y) === value) return sameAs(b, n, x);
    if (sides === 'both' && constant(b, x) === value) return sameAs(b, n, y);
    return undefined;
  };
}

/**
 * pad(x) + pad(y) → pad(concat(x, y)) when the two pads place their
 * operands side by side along one axis (each adds zeros where the other
 * has its values): the gradient of a layer's fused query, key and value
 * projection, whose three parts then make one tensor that its readers read
 * as memory rather than as a choice among three, element by element.
 */
const adjacentPads: Rule<'add'> = (n, b) => {
  const [p, q] = n.args.map((a) => b.node(a)) as [Node, Node];
  if (p.op !== 'pad' || q.op !== 'pad' || !sameShape(p.type.shape, n.type.shape) || !sameShape(q.type.shape, n.type.shape)) return undefined;
  const [pa, qa] = [p.attrs as AttrsOf<'pad'>, q.attrs as AttrsOf<'pad'>];
  const axis = normalizeAxis(pa.axis, n.type.shape.length);
  if (normalizeAxis(qa.axis, n.type.shape.length) !== axis) return undefined;
  const size = n.type.shape[axis]!;
  const range = (a: AttrsOf<'pad'>) => [a.before, size - a.after] as const;
  const [[ps, pe], [qs, qe]] = [range(pa), range(qa)];
  const order = pe === qs ? [p, q] : qe === ps ? [q, p] : undefined;
  if (!order) return undefined;
  const joined = b.add('concat', order.map((o) => o.args[0]!), { axis }, n.label).id;
  const [start, end] = [Math.min(ps, qs), Math.max(pe, qe)];
  return start === 0 && end === size ? joined : b.add('pad', [joined], { axis, before: start, after: size - end }, n.label).id;
};

const RULES: { readonly [K in OpName]?: readonly Rule<K>[] } = {
  add: [identity(0, 'both'), adjacentPads],
  sub: [identity(0, 'right')],
  mul: [identity(1, 'both')],
  div: [identity(1, 'right')],
  neg: [(n, b) => (b.node(n.args[0]!).op === 'neg' ? b.node(n.args[0]!).args[0] : undefined)],
  affine: [
    (n) => (n.attrs.scale === 1 && n.attrs.shift === 0 ? n.args[0] : undefined),
    (n, b) => {
      const inner = b.node(n.args[0]!);
      if (inner.op !== 'affine') return undefined;
      const a = inner.attrs as AttrsOf<'affine'>;
      return b.add('affine', [inner.args[0]!], { scale: a.scale * n.attrs.scale, shift: a.shift * n.attrs.scale + n.attrs.shift }, n.label).id;
    },
  ],
  cast: [(n, b) => sameAs(b, n, n.args[0]!)],
  dropout: [(n) => (n.attrs.rate === 0 ? n.args[0] : undefined)],
  dropout_rows: [(n) => (n.attrs.rate === 0 ? n.args[0] : undefined)],
  broadcast: [(n, b) => sameAs(b, n, n.args[0]!)],
  reshape: [
    (n, b) => sameAs(b, n, n.args[0]!),
    (n, b) => {
      const inner = b.node(n.args[0]!);
      return inner.op === 'reshape' ? b.add('reshape', [inner.args[0]!], { shape: [...n.type.shape] }, n.label).id : undefined;
    },
  ],
  transpose: [
    (n) => (n.attrs.perm.every((p, i) => p === i) ? n.args[0] : undefined),
    (n, b) => {
      const inner = b.node(n.args[0]!);
      if (inner.op !== 'transpose') return undefined;
      const first = (inner.attrs as AttrsOf<'transpose'>).perm;
      return b.add('transpose', [inner.args[0]!], { perm: n.attrs.perm.map((p) => first[p]!) }, n.label).id;
    },
  ],
  slice: [(n, b) => sameAs(b, n, n.args[0]!)],
  sum: [
    // A sum that keeps the concatenated axis is the concatenation of the parts' sums (the fused projection's bias gradient):
    // each reads one tensor rather than a choice among them.
    (n, b) => {
      const x = b.node(n.args[0]!);
      if (x.op !== 'concat') return undefined;
      const rank = x.type.shape.length;
      const axis = normalizeAxis((x.attrs as AttrsOf<'concat'>).axis, rank);
      const axes = n.attrs.axes.map((d) => normalizeAxis(d, rank));
      if (axes.includes(axis)) return undefined;
      const parts = x.args.map((part) => b.add('sum', [part], n.attrs, n.label).id);
      return b.add('concat', parts, { axis: n.attrs.keepdims ? axis : axis - axes.filter((d) => d < axis).length }, n.label).id;
    },
  ],
  concat: [
    (n) => (n.args.length === 1 ? n.args[0] : undefined),
    // A concatenation of concatenations along the same axis is one (while it stays narrow).
    (n, b) => {
      const axis = normalizeAxis(n.attrs.axis, n.type.shape.length);
      const inner = (id: number) => {
        const a = b.node(id);
        return a.op === 'concat' && normalizeAxis((a.attrs as AttrsOf<'concat'>).axis, a.type.shape.length) === axis ? a.args : [id];
      };
      const flat = n.args.flatMap(inner);
      return flat.length > n.args.length && flat.length <= WIDE ? b.add('concat', flat, n.attrs, n.label).id : undefined;
    },
    // A wide concatenation becomes a tree of narrow ones: a kernel that copies one binds few buffers.
    (n, b) => {
      if (n.args.length <= WIDE) return undefined;
      const parts: number[] = [];
      for (let i = 0; i < n.args.length; i += WIDE) {
        const chunk = n.args.slice(i, i + WIDE);
        parts.push(chunk.length === 1 ? chunk[0]! : b.add('concat', chunk, n.attrs, n.label).id);
      }
      return b.add('concat', parts, n.attrs, n.label).id;
    },
  ],
};

function simplifyNode(b: GraphBuilder, id: number): number {
  for (let steps = 0; steps < 64; steps++) {
    const n = b.node(id);
    const rules = (RULES[n.op] ?? []) as readonly Rule<OpName>[];
    let next: number | undefined;
    for (const rule of rules) {
      next = rule(n, b);
      if (next !== undefined && next !== id) break;
    }
    if (next === undefined || next === id) return id;
    id = next;
  }
  return id;
}

export function simplify(graph: Graph): Graph {
  return rebuildGraph(graph, (node, r) => simplifyNode(r.b, r.copy(node)));
}
