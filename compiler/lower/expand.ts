// Ops that lower to several plain kernels instead of a kernel kind of their
// own, so that a backend renders them with the map and reduce it already has:
//
//   cross_entropy, accuracy   a reduction per row over the classes (the
//                             row's loss or hit, and whether it is labelled)
//                             into working space, then one over the rows:
//                             the mean over labelled rows, 0 when none are
//   cross_entropy_grad        the count of labelled rows, then per row the
//                             softmax minus the one-hot label, × dloss/count
//   scatter_add               a map that zeroes the table, then a map over
//                             (index, column) that adds rows in index order
//   padded_positions          per token, a reduction over its row counting
//                             the non-padding tokens up to it
//   sample                    a map adding Gumbel noise to the logits
//                             (training), then per row the first class at
//                             the top, as accuracy finds it
//
// A row counts when its label is a class: the ignore index, and anything else
// outside [0, classes), leaves it out. Ids outside the table (possible only in
// a program edited by hand: the runtime checks its inputs) add nothing.

import type { Node } from '../ir/graph.js';
import type { AttrsOf } from '../ir/ops/index.js';
import { ExprBuilder } from './expr.js';
import { ARG_ALIGNMENT, type Kernel, type KernelArg, type KExpr, type Stage } from '../../kernel/ir.js';

/** A contiguous tensor: where it starts in which buffer, and its elements. */
export interface Placed {
  readonly buffer: number;
  readonly offset: number;
  readonly size: number;
  readonly dtype: 'f32' | 'i32';
}

export interface ExpandContext {
  /** Where an operand or the op's result lives. */
  readonly place: (node: number) => Placed;
  /** A new arena buffer of f32 working space, read by a later kernel of the same op. */
  readonly scratch: (size: number) => Placed;
  /** Whether the program trains (random draws happen). */
  readonly training: boolean;
}

type Access = KernelArg['access'];

/**
 * The args of one kernel over a few tensors (tensors in one buffer share an
 * arg), and each tensor's element offset inside its arg.
 */
function bind(tensors: readonly (readonly [Placed, Access])[]): { args: KernelArg[]; offsets: number[]; argOf: number[] } {
  const byBuffer = new Map<number, { lo: number; hi: number; dtype: 'f32' | 'i32'; read: boolean; write: boolean }>();
  for (const [t, access] of tensors) {
    const r = byBuffer.get(t.buffer) ?? { lo: Infinity, hi: 0, dtype: t.dtype, read: false, write: false };
    r.lo = Math.min(r.lo, t.offset);
    r.hi = Math.max(r.hi, t.offset + t.size);
    r.read ||= access !== 'write';
    r.write ||= access !== 'read';
    byBuffer.set(t.buffer, r);
  }
  const args: KernelArg[] = [];
  const index = new Map<number, number>();
  for (const [buffer, r] of byBuffer) {
    const offset = Math.floor(r.lo / ARG_ALIGNMENT) * ARG_ALIGNMENT;
    index.set(buffer, args.length);
    args.push({ buffer, offset, size: r.hi - offset, dtype: r.dtype, access: r.read && r.write ? 'readwrite' : r.write ? 'write' : 'read' });
  }
  const argOf = tensors.map(([t]) => index.get(t.buffer)!);
  return { args, argOf, offsets: tensors.map(([t], i) => t.offset - args[argOf[i]!]!.offset) };
}

/** Loads and stores of the tensors a kernel binds, by their position in `bind`'s list. */
class Tensors {
  readonly args: KernelArg[];
  private readonly argOf: number[];
  private readonly offsets: number[];

  constructor(
    readonly b: ExprBuilder,
    private readonly list: readonly (readonly [Placed, Access])[],
  ) {
    ({ args: this.args, argOf: this.argOf, offsets: this.offsets } = bind(list));
  }

  private index(t: number, at: KExpr): KExpr {
    return this.b.add(this.b.int(this.offsets[t]!), at);
  }

  load(t: number, at: KExpr): KExpr {
    return this.b.load(this.argOf[t]!, this.index(t, at), this.list[t]![0].dtype);
  }

  store(t: number, at: KExpr, value: KExpr) {
    return { arg: this.argOf[t]!, index: this.index(t, at), value };
  }
}

type Head = { readonly name: string; readonly label: string; readonly nodes: readonly number[] };

const boolConst = (b: ExprBuilder, v: boolean) => b.constant(v ? 1 : 0, 'bool');
const not = (b: ExprBuilder, x: KExpr) => b.where(x, boolConst(b, false), boolConst(b, true));
const and = (b: ExprBuilder, x: KExpr, y: KExpr) => b.where(x, y, boolConst(b, false));
/** Integer equality from two comparisons (the kernel IR has `lt` only). */
const equal = (b: ExprBuilder, x: KExpr, y: KExpr) => and(b, not(b, b.binary('lt', x, y)), not(b, b.binary('lt', y, x)));
const oneIf = (b: ExprBuilder, cond: KExpr) => b.where(cond, b.constant(1), b.constant(0));

/** Whether a label names a class. */
function labelled(b: ExprBuilder, label: KExpr, classes: number, ignore: number): KExpr {
  const inside = and(b, not(b, b.binary('lt', label, b.int(0))), b.binary('lt', label, b.int(classes)));
  return ignore >= 0 && ignore < classes ? and(b, inside, not(b, equal(b, label, b.int(ignore)))) : inside;
}

/** The kernels of an op that has none of its own, in order. */
export function lowerExpanded(node: Node, args: readonly number[], ctx: ExpandContext, head: Head): Kernel[] {
  switch (node.op) {
    case 'scatter_add': return lowerScatter(node as Node<'scatter_add'>, args, ctx, head);
    case 'cross_entropy': case 'accuracy': return lowerRowsThenMean(node, args, ctx, head);
    case 'cross_entropy_grad': return lowerCrossEntropyGrad(node as Node<'cross_entropy_grad'>, args, ctx, head);
    case 'padded_positions': return lowerPaddedPositions(node as Node<'padded_positions'>, args, ctx, head);
    case 'sample': return lowerSample(node as Node<'sample'>, args, ctx, head);
    default: throw new Error(`${node.op} has no expansion into kernels`);
  }
}

function lowerScatter(node: Node<'scatter_add'>, [idsNode, valuesNode]: readonly number[], ctx: ExpandContext, head: Head): Kernel[] {
  const { rows } = node.attrs as AttrsOf<'scatter_add'>;
  const ids = ctx.place(idsNode!);
  const count = ids.size;
  const rowSize = ctx.place(valuesNode!).size / count;
  const table = ctx.place(node.id);
  const zb = new ExprBuilder({ idx: [rows * rowSize], ridx: [] });
  const zero = new Tensors(zb, [[table, 'write']]);
  const b = new ExprBuilder({ idx: [count, rowSize], ridx: [] });
  const t = new Tensors(b, [[ids, 'read'], [ctx.place(valuesNode!), 'read'], [table, 'readwrite']]);
  const [i, j] = [b.idx(0), b.idx(1)];
  const id = t.load(0, i);
  const place = b.add(b.mul(b.clamp(id, 0, rows - 1), b.int(rowSize)), j);
  const old = t.load(2, place);
  const inTable = and(b, not(b, b.binary('lt', id, b.int(0))), b.binary('lt', id, b.int(rows)));
  const added = b.where(inTable, b.binary('add', old, t.load(1, b.add(b.mul(i, b.int(rowSize)), j))), old);
  return [
    { ...head, name: `${head.name}_zero`, kind: 'map', args: zero.args, streams: [], shape: [rows * rowSize], stores: [zero.store(0, zb.idx(0), zb.constant(0))] },
    { ...head, kind: 'map', args: t.args, streams: [], shape: [count, rowSize], ordered: 1, stores: [t.store(2, place, added)] },
  ];
}

/** The logits' rows and classes, and the row-space reads every loss kernel makes. */
function rowReads(node: Node, [logitsNode, labelsNode]: readonly number[], ctx: ExpandContext) {
  const logits = ctx.place(logitsNode!);
  const labels = ctx.place(labelsNode!);
  const rows = labels.size;
  return { logits, labels, rows, classes: logits.size / rows, ignore: (node.attrs as AttrsOf<'cross_entropy'>).ignore_index };
}

/** cross_entropy and accuracy: per row its value and whether it counts, then the mean over the rows that count. */
function lowerRowsThenMean(node: Node, operands: readonly number[], ctx: ExpandContext, head: Head): Kernel[] {
  const { logits, labels, rows, classes, ignore } = rowReads(node, operands, ctx);
  const perRow = ctx.scratch(2 * rows);
  const b = new ExprBuilder({ idx: [rows], ridx: [classes] });
  const t = new Tensors(b, [[logits, 'read'], [labels, 'read'], [perRow, 'write']]);
  const r = b.idx(0);
  const x = (c: KExpr) => t.load(0, b.add(b.mul(r, b.int(classes)), c));
  const label = t.load(1, r);
  const counts = labelled(b, label, classes, ignore);
  const stages: Stage[] = [{ combine: 'max', value: x(b.ridx(0)) }];
  let value: KExpr;
  if (node.op === 'accuracy') {
    // As a scan "best = 0; if (x[c] > x[best]) best = c" finds it: the first
    // class with the top logit, NaNs never winning (but a NaN at class 0,
    // which nothing beats). The top of the numbers, then the largest of −c
    // over the classes at it.
    const numeric = (v: KExpr) => b.where(b.binary('lt', v, b.constant(Infinity)), boolConst(b, true), b.binary('lt', b.constant(-Infinity), v));
    const xc = x(b.ridx(0));
    stages[0] = { combine: 'max', value: b.where(numeric(xc), xc, b.constant(-Infinity)) };
    const atTop = and(b, numeric(xc), and(b, not(b, b.binary('lt', xc, b.variable(0))), not(b, b.binary('lt', b.variable(0), xc))));
    stages.push({ combine: 'max', value: b.where(atTop, b.unary('neg', b.cast('f32', b.ridx(0))), b.constant(-classes)) });
    const best = b.where(numeric(x(b.int(0))), b.unary('neg', b.variable(1)), b.constant(0));
    const want = b.cast('f32', label);
    value = oneIf(b, and(b, not(b, b.binary('lt', best, want)), not(b, b.binary('lt', want, best))));
  } else {
    stages.push({ combine: 'sum', value: b.unary('exp', b.binary('sub', x(b.ridx(0)), b.variable(0))) });
    stages.push({ combine: 'let', value: b.binary('add', b.variable(0), b.unary('log', b.variable(1))) });
    value = b.binary('sub', b.variable(2), x(b.clamp(label, 0, classes - 1)));
  }
  const stores = [t.store(2, r, b.where(counts, value, b.constant(0))), t.store(2, b.add(r, b.int(rows)), oneIf(b, counts))];
  const mb = new ExprBuilder({ idx: [1], ridx: [rows] });
  const m = new Tensors(mb, [[perRow, 'read'], [ctx.place(node.id), 'write']]);
  const [total, count] = [mb.variable(0), mb.variable(1)];
  const mean = mb.where(mb.binary('lt', mb.constant(0), count), mb.binary('div', total, count), mb.constant(0));
  return [
    { ...head, name: `${head.name}_rows`, kind: 'reduce', args: t.args, streams: [], shape: [rows], reduced: [classes], stages, stores, elementStores: [] },
    {
      ...head, kind: 'reduce', args: m.args, streams: [], shape: [1], reduced: [rows],
      stages: [{ combine: 'sum', value: m.load(0, mb.ridx(0)) }, { combine: 'sum', value: m.load(0, mb.add(mb.ridx(0), mb.int(rows))) }],
      stores: [m.store(1, mb.idx(0), mean)], elementStores: [],
    },
  ];
}

/** ∂loss/∂logits: (softmax − one-hot) · dloss / (labelled rows) on labelled rows, 0 on the others (NaN where a row's logits are). */
function lowerCrossEntropyGrad(node: Node<'cross_entropy_grad'>, operands: readonly number[], ctx: ExpandContext, head: Head): Kernel[] {
  const { logits, labels, rows, classes, ignore } = rowReads(node, operands, ctx);
  const counted = ctx.scratch(1);
  const cb = new ExprBuilder({ idx: [1], ridx: [rows] });
  const ct = new Tensors(cb, [[labels, 'read'], [counted, 'write']]);
  const b = new ExprBuilder({ idx: [rows], ridx: [classes] });
  const t = new Tensors(b, [[logits, 'read'], [labels, 'read'], [ctx.place(operands[2]!), 'read'], [counted, 'read'], [ctx.place(node.id), 'write']]);
  const [r, c] = [b.idx(0), b.ridx(0)];
  const at = b.add(b.mul(r, b.int(classes)), c);
  const label = t.load(1, r);
  const stages: Stage[] = [
    { combine: 'max', value: t.load(0, at) },
    { combine: 'sum', value: b.unary('exp', b.binary('sub', t.load(0, at), b.variable(0))) },
    { combine: 'let', value: b.binary('add', b.variable(0), b.unary('log', b.variable(1))) },
    // The row's factor: dloss / count where the row counts, else 0 (exp(x − lse) ≤ 1, so the product is a plain 0).
    { combine: 'let', value: b.where(labelled(b, label, classes, ignore), b.binary('div', t.load(2, b.int(0)), t.load(3, b.int(0))), b.constant(0)) },
  ];
  const grad = b.binary('mul', b.binary('sub', b.unary('exp', b.binary('sub', t.load(0, at), b.variable(2))), oneIf(b, equal(b, c, label))), b.variable(3));
  return [
    {
      ...head, name: `${head.name}_count`, kind: 'reduce', args: ct.args, streams: [], shape: [1], reduced: [rows],
      stages: [{ combine: 'sum', value: oneIf(cb, labelled(cb, ct.load(0, cb.ridx(0)), classes, ignore)) }],
      stores: [ct.store(1, cb.idx(0), cb.variable(0))], elementStores: [],
    },
    { ...head, kind: 'reduce', args: t.args, streams: [], shape: [rows], reduced: [classes], stages, stores: [], elementStores: [t.store(4, at, grad)] },
  ];
}

/** RoBERTa's positions: at (row, s), the padding index where the token is padding, else it plus the row's non-padding tokens in [0, s]. */
function lowerPaddedPositions(node: Node<'padded_positions'>, [idsNode]: readonly number[], ctx: ExpandContext, head: Head): Kernel[] {
  const pad = (node.attrs as AttrsOf<'padded_positions'>).padding_idx;
  const ids = ctx.place(idsNode!);
  const [batch, seq] = node.type.shape as [number, number];
  const b = new ExprBuilder({ idx: [batch, seq], ridx: [seq] });
  const t = new Tensors(b, [[ids, 'read'], [ctx.place(node.id), 'write']]);
  const [r, s, k] = [b.idx(0), b.idx(1), b.ridx(0)];
  const row = b.mul(r, b.int(seq));
  const real = (id: KExpr) => not(b, equal(b, id, b.int(pad)));
  const counted = and(b, not(b, b.binary('lt', s, k)), real(t.load(0, b.add(row, k))));
  const position = b.where(real(t.load(0, b.add(row, s))), b.add(b.cast('i32', b.variable(0)), b.int(pad)), b.int(pad));
  return [{ ...head, kind: 'reduce', args: t.args, streams: [], shape: [batch, seq], reduced: [seq], stages: [{ combine: 'sum', value: oneIf(b, counted) }], stores: [t.store(1, b.add(row, s), position)], elementStores: [] }];
}

/** sample: the logits plus Gumbel noise at each element's place (in training) into working space, then each row's first largest. */
function lowerSample(node: Node<'sample'>, [logitsNode]: readonly number[], ctx: ExpandContext, head: Head): Kernel[] {
  const logits = ctx.place(logitsNode!);
  const out = ctx.place(node.id);
  const rows = out.size;
  const classes = logits.size / rows;
  const noisy = ctx.scratch(logits.size);
  const nb = new ExprBuilder({ idx: [logits.size], ridx: [] });
  const n = new Tensors(nb, [[logits, 'read'], [noisy, 'write']]);
  const at = nb.idx(0);
  const x = n.load(0, at);
  // -log(-log u): u = 0 gives -∞, never the largest.
  const value = ctx.training ? nb.binary('add', x, nb.unary('neg', nb.unary('log', nb.unary('neg', nb.unary('log', nb.random(0, at, logits.size)))))) : x;
  const b = new ExprBuilder({ idx: [rows], ridx: [classes] });
  const t = new Tensors(b, [[noisy, 'read'], [out, 'write']]);
  const v = t.load(0, b.add(b.mul(b.idx(0), b.int(classes)), b.ridx(0)));
  // The top, then the largest −c among the classes at it: the first of them.
  const atTop = and(b, not(b, b.binary('lt', v, b.variable(0))), not(b, b.binary('lt', b.variable(0), v)));
  const stages: Stage[] = [{ combine: 'max', value: v }, { combine: 'max', value: b.where(atTop, b.unary('neg', b.cast('f32', b.ridx(0))), b.constant(-classes)) }];
  return [
    { ...head, name: `${head.name}_noise`, kind: 'map', args: n.args, streams: ctx.training ? [node.attrs.stream] : [], shape: [logits.size], stores: [n.store(1, at, value)] },
    { ...head, kind: 'reduce', args: t.args, streams: [], shape: [rows], reduced: [classes], stages, stores: [t.store(1, b.idx(0), b.cast('i32', b.unary('neg', b.variable(1))))], elementStores: [] },
  ];
}
