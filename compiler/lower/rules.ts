// The lowering rule of every op. An op is either
//   - inlined: its value at given coordinates, as an expression over its
//     operands' values at coordinates it chooses (elementwise, broadcast and
//     injective ops, generators). This is what fusion substitutes into its
//     consumers: a transpose becomes an index permutation, a reshape a
//     re-flattening that the index simplifier folds away;
//   - an anchor: it makes a kernel of its own kind (a reduction or row
//     program, a matmul, attention, or an opaque kernel), whose operands and
//     consumers may be inlined into it;
//   - a source: a buffer fed from outside (inputs, parameters, state).
// The table is typed over the op registry, so an op without a rule does not
// compile.

import type { AttrsOf, OpName } from '../ir/ops/index.js';
import { OUTSIDE_WINDOW } from '../ir/ops/source.js';
import { normalizeAxis, numel, type Shape } from '../ir/types.js';
import type { ExprBuilder } from './expr.js';
import type { KExpr, ScalarType } from '../../kernel/ir.js';

export interface InlineContext {
  readonly b: ExprBuilder;
  /** The node's own shape. */
  readonly shape: Shape;
  /** Dropout draws only in training graphs; in inference it passes values through. */
  readonly training: boolean;
  /** Operands of the node. */
  readonly operands: number;
  operand(i: number, at: readonly KExpr[]): KExpr;
  operandShape(i: number): Shape;
  /** The kernel's index of a random stream. */
  stream(stream: number): number;
}

export type InlineRule<A> = (c: InlineContext, attrs: A, at: readonly KExpr[]) => KExpr;

/** Row programs: stages over a row and the value of each element, given the operands' element values. */
export interface RowContext {
  readonly b: ExprBuilder;
  /** Row length. */
  readonly size: number;
  /** Operand i's value at the current element of the row. */
  element(i: number): KExpr;
  /** A stage's value, shared with identical stages of other anchors in the kernel. */
  stage(combine: 'sum' | 'max' | 'let', value: KExpr): KExpr;
}

export type Anchor = (
  | { readonly kind: 'reduce'; readonly combine: 'sum' | 'max'; readonly mean: boolean }
  | { readonly kind: 'rows'; readonly axis: (attrs: never, rank: number) => number; readonly row: (c: RowContext, attrs: never) => KExpr }
  | { readonly kind: 'matmul' }
  | { readonly kind: 'attention' }
  | { readonly kind: 'attention_grad' }
  /** Lowered to several map and reduce kernels (expand.ts). */
  | { readonly kind: 'expanded' }
) & {
  /** Operands the kernel reads as plain strided views (what fusion must not turn into expressions). */
  readonly views?: readonly number[];
};

type Rule<K extends OpName> = { readonly inline: InlineRule<AttrsOf<K>> } | { readonly anchor: Anchor } | 'source';
type NoAttrs = Record<string, never>;

/** Operand coordinates under NumPy broadcasting from the output's coordinates. */
export function broadcastCoords(b: ExprBuilder, operand: Shape, out: Shape, at: readonly KExpr[]): KExpr[] {
  const offset = out.length - operand.length;
  return operand.map((d, k) => (d === 1 ? b.int(0) : at[k + offset]!));
}

function unaryRule(fn: Parameters<ExprBuilder['unary']>[0]): { inline: InlineRule<NoAttrs> } {
  return { inline: (c, _a, at) => c.b.unary(fn, c.operand(0, at)) };
}

function binaryRule(fn: 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min'): { inline: InlineRule<NoAttrs> } {
  return {
    inline: (c, _a, at) => {
      const x = c.operand(0, broadcastCoords(c.b, c.operandShape(0), c.shape, at));
      const y = c.operand(1, broadcastCoords(c.b, c.operandShape(1), c.shape, at));
      return c.b.binary(fn, x, y);
    },
  };
}

const f32 = (b: ExprBuilder, v: number) => b.constant(v, 'f32');

/** rotary's angle of feature pair j at a position, in f32: position / base^(2j/dims). */
const rotaryAngleExpr = (b: ExprBuilder, position: KExpr, j: KExpr, base: number, dims: number) =>
  b.binary('div', b.cast('f32', position), b.binary('pow', f32(b, base), b.binary('div', b.cast('f32', b.mul(j, b.int(2))), f32(b, dims))));

/** Dropout's value of x: zero where the draw falls below the rate, else x / (1 − rate). */
const dropOut = (b: ExprBuilder, x: KExpr, draw: KExpr, rate: number) => b.where(b.binary('lt', draw, f32(b, rate)), f32(b, 0), b.binary('mul', x, f32(b, 1 / (1 - rate))));

/**
 * Coordinates of a concatenated, padded or sliced axis shifted back into an
 * operand; with `size`, the shifted coordinate is clamped into the operand's
 * extent (a concatenation or a pad reads its operand only where a condition
 * says so, and renderers may evaluate the read before the choice).
 */
function shifted(b: ExprBuilder, at: readonly KExpr[], axis: number, by: number, size?: number): KExpr[] {
  return at.map((x, d) => {
    if (d !== axis) return x;
    const moved = b.add(x, b.int(-by));
    return size === undefined ? moved : b.clamp(moved, 0, size - 1);
  });
}

const reduce = (combine: 'sum' | 'max', mean: boolean) => ({ anchor: { kind: 'reduce', combine, mean } as const });
const lastAxis = (_attrs: never, rank: number) => rank - 1;
const axisAttr = (attrs: never, rank: number) => normalizeAxis((attrs as { axis: number }).axis, rank);

function softmaxRow(c: RowContext, log: boolean): KExpr {
  const { b } = c;
  const x = c.element(0);
  const top = c.stage('max', x);
  const shiftedX = b.binary('sub', x, top);
  const sum = c.stage('sum', b.unary('exp', shiftedX));
  return log ? b.binary('sub', shiftedX, c.stage('let', b.unary('log', sum))) : b.binary('div', b.unary('exp', shiftedX), sum);
}

/** Mean and 1/√(biased variance + eps) of a row's operand 0. */
function rowStatistics(c: RowContext, eps: number): { mean: KExpr; inv: KExpr; centered: KExpr } {
  const { b } = c;
  const n = f32(b, c.size);
  const x = c.element(0);
  const mean = c.stage('let', b.binary('div', c.stage('sum', x), n));
  const centered = b.binary('sub', x, mean);
  const variance = c.stage('sum', b.binary('mul', centered, centered));
  const inv = c.stage('let', b.binary('div', f32(b, 1), b.unary('sqrt', b.binary('add', b.binary('div', variance, n), f32(b, eps)))));
  return { mean, inv, centered };
}

const sourceRule = 'source' as const;

export const LOWERING: { readonly [K in OpName]: Rule<K> } = {
  input: sourceRule,
  param: sourceRule,
  state: sourceRule,
  range: { inline: (_c, _a, at) => at[0]! },
  fill: { inline: (c, { value, dtype }) => c.b.constant(value, dtype) },
  // -slope(h)·|i − j| with the slope as alibiSlope computes it, in the kernel's arithmetic.
  alibi: {
    inline: (c, { heads }, at) => {
      const { b } = c;
      const [h, i, j] = at as [KExpr, KExpr, KExpr];
      const power = 2 ** Math.floor(Math.log2(heads));
      const distance = b.cast('f32', b.add(i, b.mul(j, b.int(-1))));
      const absolute = b.binary('max', distance, b.unary('neg', distance));
      const exponent = b.where(b.binary('lt', h, b.int(power)),
        b.binary('div', b.cast('f32', b.mul(b.add(h, b.int(1)), b.int(-8))), f32(b, power)),
        b.binary('div', b.cast('f32', b.mul(b.add(b.mul(b.add(h, b.int(-power)), b.int(2)), b.int(1)), b.int(-8))), f32(b, 2 * power)));
      return b.unary('neg', b.binary('mul', b.binary('pow', f32(b, 2), exponent), absolute));
    },
  },
  sliding_window: {
    inline: (c, { window }, at) => {
      const { b } = c;
      if (window === 0) return f32(b, 0);
      const distance = b.add(at[0]!, b.mul(at[1]!, b.int(-1)));
      const half = Math.floor(window / 2);
      const inside = b.where(b.binary('lt', distance, b.int(-half)), b.constant(0, 'bool'), b.binary('lt', distance, b.int(half + 1)));
      return b.where(inside, f32(b, 0), f32(b, OUTSIDE_WINDOW));
    },
  },
  // Each token's own sequence, [starts[i], ends[i]), from its bounds in memory.
  segment_mask: {
    inline: (c, _a, at) => {
      const { b } = c;
      const [i, j] = at as [KExpr, KExpr];
      const inside = b.where(b.binary('lt', j, c.operand(0, [i])), b.constant(0, 'bool'), b.binary('lt', j, c.operand(1, [i])));
      return b.where(inside, f32(b, 0), f32(b, OUTSIDE_WINDOW));
    },
  },
  sinusoidal: {
    inline: (c, { dim }, at) => {
      const { b } = c;
      const position = b.cast('f32', at[0]!);
      const k = at[1]!;
      const parity = b.mod(k, 2);
      const even = b.add(k, b.mul(parity, b.int(-1)));
      const angle = b.binary('div', position, b.binary('pow', f32(b, 10000), b.binary('div', b.cast('f32', even), f32(b, dim))));
      return b.where(b.binary('lt', parity, b.int(1)), b.unary('sin', angle), b.unary('cos', angle));
    },
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
  // x·sigmoid(x), in the kernel IR's own functions
  silu: { inline: (c, _a, at) => {
    const x = c.operand(0, at);
    return c.b.binary('mul', x, c.b.unary('sigmoid', x));
  } },
  add: binaryRule('add'),
  sub: binaryRule('sub'),
  mul: binaryRule('mul'),
  div: binaryRule('div'),
  maximum: binaryRule('max'),
  minimum: binaryRule('min'),
  affine: { inline: (c, { scale, shift }, at) => c.b.binary('add', c.b.binary('mul', c.operand(0, at), f32(c.b, scale)), f32(c.b, shift)) },
  cast: { inline: (c, { to }, at) => c.b.cast(to as ScalarType, c.operand(0, at)) },
  dropout: {
    inline: (c, { rate, stream }, at) => {
      const x = c.operand(0, at);
      if (!c.training || rate === 0) return x;
      return dropOut(c.b, x, c.b.random(c.stream(stream), c.b.flatIndex(c.shape, at), numel(c.shape)), rate);
    },
  },
  // Row r draws at row ids[r] of the whole value: the same element, so the same draw, as dropout there.
  dropout_rows: {
    inline: (c, { rate, stream, rows }, at) => {
      const x = c.operand(0, at);
      if (!c.training || rate === 0) return x;
      const { b } = c;
      const width = numel(c.shape.slice(1));
      // The row's place in the whole value, read from memory: clamped into it, as a gather's id is.
      const row = b.clamp(c.operand(1, [at[0]!]), 0, rows - 1);
      const element = b.binary('add', b.binary('mul', row, b.int(width)), b.flatIndex(c.shape.slice(1), at.slice(1)));
      return dropOut(b, x, b.random(c.stream(stream), element, rows * width), rate);
    },
  },

  reshape: { inline: (c, _a, at) => c.operand(0, c.b.unflatten(c.operandShape(0), c.b.flatIndex(c.shape, at))) },
  transpose: {
    inline: (c, { perm }, at) => {
      const coords = new Array<KExpr>(perm.length);
      perm.forEach((p, d) => (coords[p] = at[d]!));
      return c.operand(0, coords);
    },
  },
  slice: { inline: (c, { axis, start }, at) => c.operand(0, shifted(c.b, at, normalizeAxis(axis, at.length), -start)) },
  select: {
    inline: (c, { axis, index }, at) => {
      const a = normalizeAxis(axis, at.length + 1);
      return c.operand(0, [...at.slice(0, a), c.b.int(index), ...at.slice(a)]);
    },
  },
  concat: {
    inline: (c, { axis }, at) => {
      const { b } = c;
      const a = normalizeAxis(axis, at.length);
      const sizes = Array.from({ length: c.operands }, (_, i) => c.operandShape(i)[a]!);
      // Nested choices on the coordinate along the axis, the last operand innermost.
      let start = sizes.reduce((s, d) => s + d, 0);
      let value: KExpr | undefined;
      for (let i = c.operands - 1; i >= 0; i--) {
        start -= sizes[i]!;
        const part = c.operand(i, shifted(b, at, a, start, sizes[i]));
        value = value ? b.where(b.binary('lt', at[a]!, b.int(start + sizes[i]!)), part, value) : part;
      }
      return value!;
    },
  },
  // x·cos θ ∓ (its partner in the other half)·sin θ, θ = position / base^(2j/dims): an inline read of two elements.
  rotary: {
    inline: (c, { base, dims, inverse }, at) => {
      const { b } = c;
      const rank = at.length;
      const [position, i] = [at[rank - 2]!, at[rank - 1]!];
      const half = dims / 2;
      const first = b.binary('lt', i, b.int(half));
      const j = b.where(first, i, b.add(i, b.int(-half)));
      const partner = b.clamp(b.where(first, b.add(i, b.int(half)), j), 0, c.operandShape(0)[rank - 1]! - 1);
      const angle = rotaryAngleExpr(b, position, j, base, dims);
      const x = c.operand(0, at);
      const other = c.operand(0, [...at.slice(0, rank - 1), partner]);
      // The first half takes −partner·sin, the second +partner·sin (the other way round to turn back).
      const sign = b.where(first, f32(b, inverse ? 1 : -1), f32(b, inverse ? -1 : 1));
      const turned = b.binary('add', b.binary('mul', x, b.unary('cos', angle)), b.binary('mul', b.binary('mul', sign, other), b.unary('sin', angle)));
      return b.where(b.binary('lt', i, b.int(dims)), turned, x);
    },
  },

  // cos θ and sin θ of the feature pair at [position, j] and [position, dims/2 + j].
  rotary_table: {
    inline: (c, { base, dims }, at) => {
      const { b } = c;
      const half = dims / 2;
      const [position, i] = [at[0]!, at[1]!];
      const first = b.binary('lt', i, b.int(half));
      const j = b.where(first, i, b.add(i, b.int(-half)));
      const angle = rotaryAngleExpr(b, position, j, base, dims);
      return b.where(first, b.unary('cos', angle), b.unary('sin', angle));
    },
  },
  // rotary's turn with cos θ and sin θ read from the table: two loads in place of pow, sin and cos.
  rotate: {
    inline: (c, { dims, inverse }, at) => {
      const { b } = c;
      const rank = at.length;
      const [position, i] = [at[rank - 2]!, at[rank - 1]!];
      const half = dims / 2;
      const first = b.binary('lt', i, b.int(half));
      const j = b.clamp(b.where(first, i, b.add(i, b.int(-half))), 0, half - 1);
      const partner = b.clamp(b.where(first, b.add(i, b.int(half)), j), 0, c.operandShape(0)[rank - 1]! - 1);
      const x = c.operand(0, at);
      const other = c.operand(0, [...at.slice(0, rank - 1), partner]);
      const sign = b.where(first, f32(b, inverse ? 1 : -1), f32(b, inverse ? -1 : 1));
      const [cos, sin] = [c.operand(1, [position, j]), c.operand(1, [position, b.add(j, b.int(half))])];
      const turned = b.binary('add', b.binary('mul', x, cos), b.binary('mul', b.binary('mul', sign, other), sin));
      return b.where(b.binary('lt', i, b.int(dims)), turned, x);
    },
  },

  gather: {
    inline: (c, _a, at) => {
      // A gathered id comes from memory: clamped into the table, so that no id reads outside it.
      const idRank = c.operandShape(1).length;
      const id = c.b.clamp(c.operand(1, at.slice(0, idRank)), 0, c.operandShape(0)[0]! - 1);
      return c.operand(0, [id, ...at.slice(idRank)]);
    },
  },
  broadcast: { inline: (c, _a, at) => c.operand(0, broadcastCoords(c.b, c.operandShape(0), c.shape, at)) },
  pad: {
    inline: (c, { axis, before }, at) => {
      const { b } = c;
      const a = normalizeAxis(axis, at.length);
      const size = c.operandShape(0)[a]!;
      const inside = b.binary('lt', at[a]!, b.int(before + size));
      const value = b.where(inside, c.operand(0, shifted(b, at, a, before, size)), f32(b, 0));
      return b.where(b.binary('lt', at[a]!, b.int(before)), f32(b, 0), value);
    },
  },
  gt: {
    inline: (c, _a, at) => {
      const x = c.operand(0, broadcastCoords(c.b, c.operandShape(0), c.shape, at));
      const y = c.operand(1, broadcastCoords(c.b, c.operandShape(1), c.shape, at));
      return c.b.cast('f32', c.b.binary('lt', y, x));
    },
  },
  gelu_grad: { inline: (c, _a, at) => c.b.binary('gelu_grad', c.operand(0, at), c.operand(1, at)) },
  gelu_tanh_grad: { inline: (c, _a, at) => c.b.binary('gelu_tanh_grad', c.operand(0, at), c.operand(1, at)) },

  sum: reduce('sum', false),
  mean: reduce('sum', true),
  max: reduce('max', false),
  softmax: { anchor: { kind: 'rows', axis: axisAttr, row: (c) => softmaxRow(c, false) } },
  log_softmax: { anchor: { kind: 'rows', axis: axisAttr, row: (c) => softmaxRow(c, true) } },
  layer_norm: {
    anchor: {
      kind: 'rows',
      axis: lastAxis,
      row: (c, attrs) => {
        const { b } = c;
        const { centered, inv } = rowStatistics(c, (attrs as { eps: number }).eps);
        return b.binary('add', b.binary('mul', b.binary('mul', centered, inv), c.element(1)), c.element(2));
      },
    },
  },
  // dx = inv · (g·dy − mean(g·dy) − x̂ · mean(g·dy · x̂)), operands x, gamma, dy.
  layer_norm_dx: {
    anchor: {
      kind: 'rows',
      axis: lastAxis,
      row: (c, attrs) => {
        const { b } = c;
        const n = f32(b, c.size);
        const { centered, inv } = rowStatistics(c, (attrs as { eps: number }).eps);
        const xhat = b.binary('mul', centered, inv);
        const g = b.binary('mul', c.element(1), c.element(2));
        const meanG = c.stage('let', b.binary('div', c.stage('sum', g), n));
        const meanGX = c.stage('let', b.binary('div', c.stage('sum', b.binary('mul', g, xhat)), n));
        return b.binary('mul', inv, b.binary('sub', b.binary('sub', g, meanG), b.binary('mul', xhat, meanGX)));
      },
    },
  },

  matmul: { anchor: { kind: 'matmul' } },
  attention: { anchor: { kind: 'attention', views: [0, 1, 2] } },
  attention_lse: { anchor: { kind: 'attention', views: [0, 1] } },
  attention_grad: { anchor: { kind: 'attention_grad', views: [0, 1, 2, 4] } },
  scatter_add: { anchor: { kind: 'expanded' } },
  cross_entropy: { anchor: { kind: 'expanded' } },
  cross_entropy_grad: { anchor: { kind: 'expanded' } },
  accuracy: { anchor: { kind: 'expanded' } },
  sample: { anchor: { kind: 'expanded' } },
  padded_positions: { anchor: { kind: 'expanded' } },
};
