// The gradient rule of every op: given a node and the gradient of the loss
// with respect to its output (dy), the gradients with respect to its operands,
// built from ops. The table is typed over the registry: an op without a rule
// does not compile. Composite ops with a cheaper dedicated backward
// (gelu, layer_norm, cross_entropy) use their backward ops.

import type { GraphBuilder, Node } from '../ir/graph.js';
import type { AttrsOf, OpName } from '../ir/ops/index.js';
import { normalizeAxis, numel, type Shape } from '../ir/types.js';

export class AutodiffError extends Error {
  override name = 'AutodiffError';
}

export interface GradContext {
  readonly b: GraphBuilder;
  /** Whether operand i needs a gradient (skip building the others). */
  wants(i: number): boolean;
  shape(id: number): Shape;
}

/** Returns one gradient per operand (undefined where none flows). */
type GradRule<K extends OpName> = (ctx: GradContext, node: Node<K>, dy: number) => (number | undefined)[];

const add = (c: GradContext, op: OpName, args: number[], attrs: object = {}) => c.b.add(op, args, attrs as never, 'grad').id;
const affine = (c: GradContext, x: number, scale: number, shift = 0) => add(c, 'affine', [x], { scale, shift });
const scalarFill = (c: GradContext, value: number) => add(c, 'fill', [], { value, dtype: 'f32', shape: [] });

/** Sums a broadcast gradient back to an operand's shape. */
export function reduceTo(c: GradContext, g: number, to: Shape): number {
  const from = c.shape(g);
  if (from.join(',') === to.join(',')) return g;
  const offset = from.length - to.length;
  const axes = from.map((_, d) => d).filter((d) => d < offset || (to[d - offset] === 1 && from[d] !== 1));
  const summed = axes.length ? add(c, 'sum', [g], { axes, keepdims: true }) : g;
  return add(c, 'reshape', [summed], { shape: [...to] });
}

function unaryRule<K extends OpName>(f: (c: GradContext, x: number, y: number, dy: number) => number): GradRule<K> {
  return (c, node, dy) => [f(c, node.args[0]!, node.id, dy)];
}

const mul = (c: GradContext, a: number, b: number) => add(c, 'mul', [a, b]);

/** a > b as 1/0; its complement. */
const above = (c: GradContext, a: number, b: number) => add(c, 'gt', [a, b]);
const notAbove = (c: GradContext, a: number, b: number) => affine(c, above(c, a, b), -1, 1);

const noGradient = 'none' as const;
const secondOrder = 'second-order' as const;

export const GRADIENTS: { readonly [K in OpName]: GradRule<K> | 'source' | typeof noGradient | typeof secondOrder } = {
  input: 'source',
  param: 'source',
  state: 'source',
  range: 'source',
  padded_positions: noGradient,
  sliding_window: 'source',
  segment_mask: noGradient,
  alibi: 'source',
  sinusoidal: 'source',
  rotary_table: 'source',
  fill: 'source',

  neg: unaryRule((c, _x, _y, dy) => add(c, 'neg', [dy])),
  exp: unaryRule((c, _x, y, dy) => mul(c, dy, y)),
  log: unaryRule((c, x, _y, dy) => add(c, 'div', [dy, x])),
  sqrt: unaryRule((c, _x, y, dy) => add(c, 'div', [dy, affine(c, y, 2)])),
  rsqrt: unaryRule((c, _x, y, dy) => affine(c, mul(c, dy, mul(c, y, mul(c, y, y))), -0.5)),
  tanh: unaryRule((c, _x, y, dy) => mul(c, dy, affine(c, mul(c, y, y), -1, 1))),
  sigmoid: unaryRule((c, _x, y, dy) => mul(c, dy, mul(c, y, affine(c, y, -1, 1)))),
  erf: unaryRule((c, x, _y, dy) => mul(c, dy, affine(c, add(c, 'exp', [affine(c, mul(c, x, x), -1)]), 2 / Math.sqrt(Math.PI)))),
  relu: unaryRule((c, x, _y, dy) => mul(c, dy, above(c, x, scalarFill(c, 0)))),
  gelu: unaryRule((c, x, _y, dy) => add(c, 'gelu_grad', [x, dy])),
  gelu_tanh: unaryRule((c, x, _y, dy) => add(c, 'gelu_tanh_grad', [x, dy])),
  // s·(1 + x·(1 − s)), s = sigmoid(x)
  silu: unaryRule((c, x, _y, dy) => {
    const s = add(c, 'sigmoid', [x]);
    return mul(c, dy, mul(c, s, affine(c, mul(c, x, affine(c, s, -1, 1)), 1, 1)));
  }),

  add: (c, n, dy) => [c.wants(0) ? reduceTo(c, dy, c.shape(n.args[0]!)) : undefined, c.wants(1) ? reduceTo(c, dy, c.shape(n.args[1]!)) : undefined],
  sub: (c, n, dy) => [c.wants(0) ? reduceTo(c, dy, c.shape(n.args[0]!)) : undefined, c.wants(1) ? reduceTo(c, add(c, 'neg', [dy]), c.shape(n.args[1]!)) : undefined],
  mul: (c, n, dy) => {
    const [a, b] = n.args as [number, number];
    return [c.wants(0) ? reduceTo(c, mul(c, dy, b), c.shape(a)) : undefined, c.wants(1) ? reduceTo(c, mul(c, dy, a), c.shape(b)) : undefined];
  },
  div: (c, n, dy) => {
    const [a, b] = n.args as [number, number];
    return [
      c.wants(0) ? reduceTo(c, add(c, 'div', [dy, b]), c.shape(a)) : undefined,
      c.wants(1) ? reduceTo(c, add(c, 'neg', [add(c, 'div', [mul(c, dy, n.id), b])]), c.shape(b)) : undefined,
    ];
  },
  // Ties send the gradient to the second operand.
  maximum: (c, n, dy) => {
    const [a, b] = n.args as [number, number];
    return [c.wants(0) ? reduceTo(c, mul(c, dy, above(c, a, b)), c.shape(a)) : undefined, c.wants(1) ? reduceTo(c, mul(c, dy, notAbove(c, a, b)), c.shape(b)) : undefined];
  },
  minimum: (c, n, dy) => {
    const [a, b] = n.args as [number, number];
    return [c.wants(0) ? reduceTo(c, mul(c, dy, above(c, b, a)), c.shape(a)) : undefined, c.wants(1) ? reduceTo(c, mul(c, dy, notAbove(c, b, a)), c.shape(b)) : undefined];
  },
  affine: (c, n, dy) => [affine(c, dy, n.attrs.scale)],
  cast: (c, n, dy) => [c.b.node(n.args[0]!).type.dtype === 'f32' && n.type.dtype === 'f32' ? dy : undefined],
  // The same stream draws the same mask: the gradient passes where the value did.
  dropout: (c, n, dy) => [add(c, 'dropout', [dy], n.attrs)],
  dropout_rows: (c, n, dy) => [add(c, 'dropout_rows', [dy, n.args[1]!], n.attrs), undefined],

  reshape: (c, n, dy) => [add(c, 'reshape', [dy], { shape: [...c.shape(n.args[0]!)] })],
  transpose: (c, n, dy) => {
    const inverse = n.attrs.perm.map((_, i) => n.attrs.perm.indexOf(i));
    return [add(c, 'transpose', [dy], { perm: inverse })];
  },
  slice: (c, n, dy) => {
    const shape = c.shape(n.args[0]!);
    const a = normalizeAxis(n.attrs.axis, shape.length);
    return [add(c, 'pad', [dy], { axis: a, before: n.attrs.start, after: shape[a]! - n.attrs.end })];
  },
  select: (c, n, dy) => {
    const shape = c.shape(n.args[0]!);
    const a = normalizeAxis(n.attrs.axis, shape.length);
    const withAxis = add(c, 'reshape', [dy], { shape: shape.map((d, i) => (i === a ? 1 : d)) });
    return [add(c, 'pad', [withAxis], { axis: a, before: n.attrs.index, after: shape[a]! - n.attrs.index - 1 })];
  },
  concat: (c, n, dy) => {
    const a = normalizeAxis(n.attrs.axis, n.type.shape.length);
    let start = 0;
    return n.args.map((arg, i) => {
      const size = c.shape(arg)[a]!;
      const g = c.wants(i) ? add(c, 'slice', [dy], { axis: a, start, end: start + size }) : undefined;
      start += size;
      return g;
    });
  },
  // A rotation's adjoint is the rotation back.
  rotary: (c, n, dy) => [add(c, 'rotary', [dy], { ...(n.attrs as AttrsOf<'rotary'>), inverse: !(n.attrs as AttrsOf<'rotary'>).inverse })],
  // The turn's transpose turns back; the table's cos gets Σ a·da' + b·db', its sin ±Σ (a·db' − b·da') (pairs a, b of x; summed over all but the last two axes).
  rotate: (c, n, dy) => {
    const { dims, inverse } = n.attrs as AttrsOf<'rotate'>;
    const [x, table] = [n.args[0]!, n.args[1]!];
    const dx = c.wants(0) ? add(c, 'rotate', [dy, table], { dims, inverse: !inverse }) : undefined;
    if (!c.wants(1)) return [dx, undefined];
    const half = dims / 2;
    const part = (v: number, start: number) => add(c, 'slice', [v], { axis: -1, start, end: start + half });
    const [a, b, da, db] = [part(x, 0), part(x, half), part(dy, 0), part(dy, half)];
    const cos = add(c, 'add', [mul(c, a, da), mul(c, b, db)]);
    const sin = affine(c, add(c, 'sub', [mul(c, a, db), mul(c, b, da)]), inverse ? -1 : 1);
    return [dx, reduceTo(c, add(c, 'concat', [cos, sin], { axis: -1 }), c.shape(table))];
  },
  gather: (c, n, dy) => [add(c, 'scatter_add', [n.args[1]!, dy], { rows: c.shape(n.args[0]!)[0]! }), undefined],

  sum: (c, n, dy) => [spread(c, n, dy, 1)],
  mean: (c, n, dy) => [spread(c, n, dy, 1 / (numel(c.shape(n.args[0]!)) / numel(n.type.shape)))],
  max: (c, n, dy) => {
    const x = n.args[0]!;
    const shape = c.shape(x);
    const widened = (id: number) => add(c, 'broadcast', [keepdims(c, n, id)], { shape: [...shape] });
    return [mul(c, widened(dy), notAbove(c, widened(n.id), x))];
  },
  softmax: (c, n, dy) => {
    const y = n.id;
    const dot = add(c, 'sum', [mul(c, dy, y)], { axes: [n.attrs.axis], keepdims: true });
    return [mul(c, add(c, 'sub', [dy, dot]), y)];
  },
  log_softmax: (c, n, dy) => {
    const total = add(c, 'sum', [dy], { axes: [n.attrs.axis], keepdims: true });
    return [add(c, 'sub', [dy, mul(c, add(c, 'exp', [n.id]), total)])];
  },
  layer_norm: (c, n, dy) => {
    const [x, gamma] = n.args as [number, number];
    const width = c.shape(gamma);
    const grads: (number | undefined)[] = [c.wants(0) ? add(c, 'layer_norm_dx', [x, gamma, dy], { eps: n.attrs.eps }) : undefined];
    if (c.wants(1)) {
      const one = add(c, 'fill', [], { value: 1, dtype: 'f32', shape: [...width] });
      const zero = add(c, 'fill', [], { value: 0, dtype: 'f32', shape: [...width] });
      const xhat = add(c, 'layer_norm', [x, one, zero], { eps: n.attrs.eps });
      grads.push(reduceTo(c, mul(c, dy, xhat), width));
    } else grads.push(undefined);
    grads.push(c.wants(2) ? reduceTo(c, dy, width) : undefined);
    return grads;
  },

  matmul: (c, n, dy) => {
    const [a, b] = n.args as [number, number];
    const { transpose_a: ta, transpose_b: tb } = n.attrs;
    const mm = (x: number, y: number, transposeA: boolean, transposeB: boolean) => add(c, 'matmul', [x, y], { transpose_a: transposeA, transpose_b: transposeB });
    let ga: number | undefined;
    let gb: number | undefined;
    if (c.wants(0)) ga = reduceTo(c, ta ? mm(b, dy, tb, true) : mm(dy, b, false, !tb), c.shape(a));
    if (c.wants(1)) {
      const bShape = c.shape(b);
      const aShape = c.shape(a);
      if (bShape.length === 2 && aShape.length > 2 && !ta) {
        // A weight shared across the batch: flatten the batch into the rows, one matmul, no batch of partial products.
        const k = aShape[aShape.length - 1]!;
        const rows = add(c, 'reshape', [a], { shape: [-1, k] });
        const grads = add(c, 'reshape', [dy], { shape: [-1, n.type.shape[n.type.shape.length - 1]!] });
        gb = tb ? mm(grads, rows, true, false) : mm(rows, grads, true, false);
      } else gb = reduceTo(c, tb ? mm(dy, a, true, ta) : mm(a, dy, !ta, false), bShape);
    }
    return [ga, gb];
  },

  // The probabilities are recomputed from each row's log-sum-exp; delta = Σ dO ⊙ O per row.
  attention: (c, n, dy) => {
    const [q, k, v, mask] = n.args as [number, number, number, number];
    const { scale, rate, stream } = n.attrs;
    const lse = add(c, 'attention_lse', [q, k, mask], { scale });
    const delta = add(c, 'sum', [mul(c, dy, n.id)], { axes: [-1], keepdims: false });
    const grad = (i: number, wrt: string) => (c.wants(i) ? add(c, 'attention_grad', [q, k, v, mask, dy, lse, delta], { scale, rate, stream, wrt }) : undefined);
    const dmask = grad(3, 'mask');
    return [grad(0, 'q'), grad(1, 'k'), grad(2, 'v'), dmask === undefined ? undefined : reduceTo(c, dmask, c.shape(mask))];
  },
  attention_lse: secondOrder,
  attention_grad: secondOrder,
  broadcast: (c, n, dy) => [reduceTo(c, dy, c.shape(n.args[0]!))],
  pad: (c, n, dy) => {
    const shape = c.shape(n.args[0]!);
    const a = normalizeAxis(n.attrs.axis, shape.length);
    return [add(c, 'slice', [dy], { axis: a, start: n.attrs.before, end: n.attrs.before + shape[a]! })];
  },
  scatter_add: (c, n, dy) => [undefined, add(c, 'gather', [dy, n.args[0]!])],
  gt: noGradient,
  accuracy: noGradient,
  sample: noGradient,
  cross_entropy: (c, n, dy) => [add(c, 'cross_entropy_grad', [n.args[0]!, n.args[1]!, dy], n.attrs), undefined],
  gelu_grad: secondOrder,
  gelu_tanh_grad: secondOrder,
  layer_norm_dx: secondOrder,
  cross_entropy_grad: secondOrder,
};

/** The reduced gradient with its reduced axes back as size 1. */
function keepdims(c: GradContext, n: Node<'sum' | 'mean' | 'max'>, g: number): number {
  const shape = c.shape(n.args[0]!);
  const axes = new Set((n.attrs as AttrsOf<'sum'>).axes.map((a) => normalizeAxis(a, shape.length)));
  return add(c, 'reshape', [g], { shape: shape.map((d, i) => (axes.has(i) ? 1 : d)) });
}

/** sum and mean: the gradient spread over the reduced axes, times a scale. */
function spread(c: GradContext, n: Node<'sum' | 'mean'>, dy: number, scale: number): number {
  const widened = add(c, 'broadcast', [keepdims(c, n, dy)], { shape: [...c.shape(n.args[0]!)] });
  return scale === 1 ? widened : affine(c, widened, scale);
}
