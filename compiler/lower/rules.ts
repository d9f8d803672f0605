// The lowering rule of every op: how one node becomes one kernel. The table
// is typed over the op registry, so an op without a rule does not compile.

import { aroundAxis } from '../ir/ops/reduce.js';
import type { AttrsOf, OpName } from '../ir/ops/index.js';
import { normalizeAxis, numel, stridesOf, type Shape, type TensorType } from '../ir/types.js';
import {
  affineIndex, binary, constant, idx, load, unary,
  type KExpr, type Kernel, type KernelArg, type MatmulOperand, type UnaryFn,
} from './kernel.js';

export interface LowerContext {
  readonly name: string;
  readonly node: number;
  readonly label: string;
  readonly inputs: readonly KernelArg[];
  readonly output: KernelArg;
  readonly operandTypes: readonly TensorType[];
  readonly type: TensorType;
  /** Dropout draws only in training graphs; in inference it passes values through. */
  readonly training: boolean;
}

type Rule<K extends OpName> = ((ctx: LowerContext, attrs: AttrsOf<K>) => Kernel) | 'alias' | 'source';

/** Row-major flat index of the iteration point. */
export function flatIndex(shape: Shape): KExpr {
  const strides = stridesOf(shape);
  return affineIndex(shape.map((_, d) => [idx(d), strides[d]!] as [KExpr, number]));
}

/** The element of an operand that NumPy broadcasting maps to the iteration point of `out`. */
function broadcastIndex(operand: Shape, out: Shape): KExpr {
  const strides = stridesOf(operand);
  const offset = out.length - operand.length;
  return affineIndex(operand.map((d, k) => [idx(k + offset), d === 1 ? 0 : strides[k]!] as [KExpr, number]));
}

function base(ctx: LowerContext) {
  return { name: ctx.name, node: ctx.node, label: ctx.label, inputs: ctx.inputs, output: ctx.output };
}

function map(ctx: LowerContext, expr: KExpr): Kernel {
  return { ...base(ctx), kind: 'map', shape: ctx.type.shape, expr };
}

const x0 = (ctx: LowerContext) => load(0, flatIndex(ctx.type.shape));

function unaryRule(fn: UnaryFn): Rule<'exp'> {
  return (ctx) => map(ctx, unary(fn, x0(ctx)));
}

function binaryRule(fn: 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min'): Rule<'add'> {
  return (ctx) => {
    const out = ctx.type.shape;
    return map(ctx, binary(fn, load(0, broadcastIndex(ctx.operandTypes[0]!.shape, out)), load(1, broadcastIndex(ctx.operandTypes[1]!.shape, out))));
  };
}

function reduceRule(combine: 'sum' | 'max', mean: boolean): Rule<'sum'> {
  return (ctx, { axes }) => {
    const shape = ctx.operandTypes[0]!.shape;
    const reduced = new Set(axes.map((a) => normalizeAxis(a, shape.length)));
    const strides = stridesOf(shape);
    const kept = shape.map((_, d) => d).filter((d) => !reduced.has(d));
    const rAxes = shape.map((_, d) => d).filter((d) => reduced.has(d));
    const extent = numel(rAxes.map((d) => shape[d]!));
    // ridx walks the reduced axes in row-major order: coordinate = (ridx // inner) % size.
    const rTerms = rAxes.map((d, i) => {
      const inner = numel(rAxes.slice(i + 1).map((a) => shape[a]!));
      const coord = binary('mod', binary('idiv', { op: 'ridx' }, constant(inner, 'i32')), constant(shape[d]!, 'i32'));
      return [inner === 1 && i === 0 ? { op: 'ridx' } as KExpr : coord, strides[d]!] as [KExpr, number];
    });
    const index = affineIndex([...kept.map((d, i) => [idx(i), strides[d]!] as [KExpr, number]), ...rTerms]);
    const finish: KExpr = mean ? binary('div', { op: 'acc' }, constant(extent)) : { op: 'acc' };
    return { ...base(ctx), kind: 'reduce', shape: kept.map((d) => shape[d]!), extent, combine, expr: load(0, index), finish };
  };
}

function lossRule(fn: 'cross_entropy' | 'cross_entropy_grad' | 'accuracy'): Rule<'cross_entropy'> {
  return (ctx, { ignore_index }) => {
    const logits = ctx.operandTypes[0]!.shape;
    const classes = logits[logits.length - 1]!;
    return { ...base(ctx), kind: 'loss', fn, rows: numel(logits) / classes, classes, ignoreIndex: ignore_index };
  };
}

function rowsRule(fn: 'softmax' | 'log_softmax'): Rule<'softmax'> {
  return (ctx, { axis }) => ({ ...base(ctx), kind: 'rows', fn, ...aroundAxis(ctx.type.shape, axis), eps: 0 });
}

function matmulOperand(shape: Shape, batch: readonly number[], transposed: boolean): MatmulOperand {
  const strides = stridesOf(shape);
  const rank = shape.length;
  const offset = batch.length - (rank - 2);
  const batchStrides = batch.map((_, d) => {
    const k = d - offset;
    return k < 0 || shape[k] === 1 ? 0 : strides[k]!;
  });
  const [rowOfStorage, colOfStorage] = [strides[rank - 2]!, strides[rank - 1]!];
  // A: rows are m, columns k. B: rows are k, columns n. Transposed storage swaps them.
  return transposed ? { batchStrides, rowStride: colOfStorage, colStride: rowOfStorage } : { batchStrides, rowStride: rowOfStorage, colStride: colOfStorage };
}

const sourceRule = 'source' as const;

export const LOWERING: { readonly [K in OpName]: Rule<K> } = {
  input: sourceRule,
  param: sourceRule,
  state: sourceRule,
  range: (ctx) => map(ctx, idx(0)),
  sinusoidal: (ctx, { dim }) => {
    const position: KExpr = { op: 'cast', to: 'f32', x: idx(0) };
    const k = idx(1);
    const even = binary('sub', k, binary('mod', k, constant(2, 'i32')));
    const angle = binary('div', position, binary('pow', constant(10000), binary('div', { op: 'cast', to: 'f32', x: even }, constant(dim))));
    const isEven = binary('lt', binary('mod', k, constant(2, 'i32')), constant(1, 'i32'));
    return map(ctx, { op: 'where', cond: isEven, then: unary('sin', angle), else: unary('cos', angle) });
  },

  neg: unaryRule('neg'),
  exp: unaryRule('exp'),
  log: unaryRule('log'),
  sqrt: unaryRule('sqrt'),
  rsqrt: unaryRule('rsqrt'),
  tanh: unaryRule('tanh'),
  sigmoid: unaryRule('sigmoid'),
  erf: unaryRule('erf'),
  relu: unaryRule('relu'),
  gelu: unaryRule('gelu'),
  gelu_tanh: unaryRule('gelu_tanh'),
  add: binaryRule('add'),
  sub: binaryRule('sub'),
  mul: binaryRule('mul'),
  div: binaryRule('div'),
  maximum: binaryRule('max'),
  minimum: binaryRule('min'),
  affine: (ctx, { scale, shift }) => map(ctx, binary('add', binary('mul', x0(ctx), constant(scale)), constant(shift))),
  cast: (ctx, { to }) => map(ctx, { op: 'cast', to, x: x0(ctx) }),
  dropout: (ctx, { rate, stream }) => {
    if (!ctx.training || rate === 0) return map(ctx, x0(ctx));
    const element = flatIndex(ctx.type.shape);
    const dropped = binary('lt', { op: 'random', stream, element }, constant(rate));
    return map(ctx, { op: 'where', cond: dropped, then: constant(0), else: binary('mul', load(0, element), constant(1 / (1 - rate))) });
  },

  reshape: 'alias',
  transpose: (ctx, { perm }) => {
    const strides = stridesOf(ctx.operandTypes[0]!.shape);
    return map(ctx, load(0, affineIndex(perm.map((p, d) => [idx(d), strides[p]!] as [KExpr, number]))));
  },
  slice: (ctx, { axis, start }) => {
    const shape = ctx.operandTypes[0]!.shape;
    const a = normalizeAxis(axis, shape.length);
    const strides = stridesOf(shape);
    return map(ctx, load(0, affineIndex(shape.map((_, d) => [idx(d), strides[d]!] as [KExpr, number]), start * strides[a]!)));
  },
  select: (ctx, { axis, index }) => {
    const shape = ctx.operandTypes[0]!.shape;
    const a = normalizeAxis(axis, shape.length);
    const strides = stridesOf(shape);
    const kept = shape.map((_, d) => d).filter((d) => d !== a);
    return map(ctx, load(0, affineIndex(kept.map((d, i) => [idx(i), strides[d]!] as [KExpr, number]), index * strides[a]!)));
  },
  concat: (ctx, { axis }) => {
    const a = normalizeAxis(axis, ctx.type.shape.length);
    // Nested choices on the coordinate along the axis, last operand innermost.
    let start = ctx.operandTypes.reduce((s, t) => s + t.shape[a]!, 0);
    let expr: KExpr | undefined;
    for (let slot = ctx.operandTypes.length - 1; slot >= 0; slot--) {
      const shape = ctx.operandTypes[slot]!.shape;
      start -= shape[a]!;
      const strides = stridesOf(shape);
      const terms = shape.map((_, d) => [d === a ? binary('sub', idx(d), constant(start, 'i32')) : idx(d), strides[d]!] as [KExpr, number]);
      const value = load(slot, affineIndex(terms));
      expr = expr ? { op: 'where', cond: binary('lt', idx(a), constant(start + shape[a]!, 'i32')), then: value, else: expr } : value;
    }
    return map(ctx, expr!);
  },
  gather: (ctx) => {
    const [table, ids] = ctx.operandTypes as [TensorType, TensorType];
    const idRank = ids.shape.length;
    const rowSize = numel(table.shape.slice(1));
    const idStrides = stridesOf(ids.shape);
    const rowStrides = stridesOf(table.shape.slice(1));
    const id = load(1, affineIndex(ids.shape.map((_, d) => [idx(d), idStrides[d]!] as [KExpr, number])));
    const within = table.shape.slice(1).map((_, d) => [idx(idRank + d), rowStrides[d]!] as [KExpr, number]);
    return map(ctx, load(0, affineIndex([[id, rowSize], ...within])));
  },

  sum: reduceRule('sum', false),
  mean: reduceRule('sum', true),
  max: reduceRule('max', false),
  softmax: rowsRule('softmax'),
  log_softmax: rowsRule('log_softmax'),
  layer_norm: (ctx, { eps }) => ({ ...base(ctx), kind: 'rows', fn: 'layer_norm', ...aroundAxis(ctx.type.shape, -1), eps }),

  fill: (ctx, { value, dtype }) => map(ctx, constant(value, dtype)),
  broadcast: (ctx) => map(ctx, load(0, broadcastIndex(ctx.operandTypes[0]!.shape, ctx.type.shape))),
  pad: (ctx, { axis, before }) => {
    const shape = ctx.operandTypes[0]!.shape;
    const a = normalizeAxis(axis, shape.length);
    const strides = stridesOf(shape);
    const inside = affineIndex(shape.map((_, d) => [d === a ? binary('sub', idx(d), constant(before, 'i32')) : idx(d), strides[d]!] as [KExpr, number]));
    const beforeStart = binary('lt', idx(a), constant(before, 'i32'));
    const pastEnd = binary('lt', idx(a), constant(before + shape[a]!, 'i32'));
    return map(ctx, { op: 'where', cond: beforeStart, then: constant(0), else: { op: 'where', cond: pastEnd, then: load(0, inside), else: constant(0) } });
  },
  scatter_add: (ctx, { rows }) => {
    const [ids, values] = ctx.operandTypes as [TensorType, TensorType];
    return { ...base(ctx), kind: 'scatter', count: numel(ids.shape), rowSize: numel(values.shape.slice(ids.shape.length)), rows };
  },
  gt: (ctx) => {
    const out = ctx.type.shape;
    return map(ctx, binary('lt', load(1, broadcastIndex(ctx.operandTypes[1]!.shape, out)), load(0, broadcastIndex(ctx.operandTypes[0]!.shape, out))));
  },
  gelu_grad: (ctx) => map(ctx, binary('gelu_grad', x0(ctx), load(1, flatIndex(ctx.type.shape)))),
  gelu_tanh_grad: (ctx) => map(ctx, binary('gelu_tanh_grad', x0(ctx), load(1, flatIndex(ctx.type.shape)))),
  layer_norm_dx: (ctx, { eps }) => ({ ...base(ctx), kind: 'rows', fn: 'layer_norm_dx', ...aroundAxis(ctx.type.shape, -1), eps }),
  cross_entropy: lossRule('cross_entropy'),
  cross_entropy_grad: lossRule('cross_entropy_grad'),
  accuracy: lossRule('accuracy'),

  matmul: (ctx, { transpose_a, transpose_b }) => {
    const [a, b] = ctx.operandTypes as [TensorType, TensorType];
    const out = ctx.type.shape;
    const batch = out.slice(0, -2);
    const [m, n] = out.slice(-2) as [number, number];
    const k = transpose_a ? a.shape[a.shape.length - 2]! : a.shape[a.shape.length - 1]!;
    return {
      ...base(ctx), kind: 'matmul', batch, m, n, k,
      a: matmulOperand(a.shape, batch, transpose_a),
      b: matmulOperand(b.shape, batch, transpose_b),
    };
  },
};
