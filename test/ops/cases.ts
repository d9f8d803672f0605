// The op-test table: every op of the registry with attributes and operand
// types, several shapes each. The interpreter is checked against independent
// formulas on it here; the backends will be checked against the interpreter
// on the same table.

import type { AttrsOf, OpName } from '../../compiler/ir/ops/index.js';
import type { DType } from '../../compiler/ir/types.js';

export interface OperandSpec {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Value range; i32 operands draw integers in [lo, hi). */
  readonly lo?: number;
  readonly hi?: number;
  /** Exact values instead of random ones (labels with ignored positions). */
  readonly values?: readonly number[];
}

export interface OpCase<K extends OpName = OpName> {
  readonly op: K;
  readonly attrs: AttrsOf<K>;
  readonly operands: readonly OperandSpec[];
}

const f = (...shape: number[]): OperandSpec => ({ dtype: 'f32', shape });
const positive = (...shape: number[]): OperandSpec => ({ dtype: 'f32', shape, lo: 0.1, hi: 3 });
const ids = (hi: number, ...shape: number[]): OperandSpec => ({ dtype: 'i32', shape, lo: 0, hi });
const labels = (values: number[], ...shape: number[]): OperandSpec => ({ dtype: 'i32', shape, values });

function c<K extends OpName>(op: K, attrs: AttrsOf<K>, ...operands: OperandSpec[]): OpCase {
  return { op, attrs, operands } as OpCase;
}

const unaryShapes = [[7], [2, 3, 5]];
const unaryOps = ['neg', 'exp', 'tanh', 'sigmoid', 'erf', 'relu', 'gelu', 'gelu_tanh', 'silu'] as const;
const binaryOps = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;

export const OP_CASES: readonly OpCase[] = [
  c('input', { name: 'x', dtype: 'f32', shape: [2, 3] }),
  c('param', { name: 'w', shape: [4, 3], init: 'normal', std: 0.02 }),
  c('state', { name: 'w', shape: [4, 3] }),
  c('range', { size: 6 }),
  c('sliding_window', { queries: 7, keys: 7, window: 4 }),
  c('alibi', { heads: 8, queries: 5, keys: 5 }),
  c('alibi', { heads: 6, queries: 4, keys: 4 }),
  c('sliding_window', { queries: 5, keys: 5, window: 0 }),
  // Three sequences packed in a stream of 7 tokens (lengths 2, 4, 1): each token's first and one-past-last stream index.
  c('segment_mask', {}, labels([0, 0, 2, 2, 2, 2, 6], 7), labels([2, 2, 6, 6, 6, 6, 7], 7)),
  // Padding (id 1) at the end, at the start and between tokens, and a row of padding alone.
  // Whole head and partial rotation (the rest passes through); turned back.
  c('rotary', { base: 10000, dims: 8, inverse: false }, f(2, 3, 5, 8)),
  c('rotary', { base: 1000, dims: 4, inverse: false }, f(2, 6, 6)),
  c('rotary', { base: 500, dims: 6, inverse: true }, f(3, 7, 6)),
  c('rotary_table', { base: 10000, dims: 8, length: 5 }),
  c('rotary_table', { base: 160000, dims: 6, length: 7 }),
  // The table is any [seq, dims] here: rotate reads cos and sin from it.
  c('rotate', { dims: 8, inverse: false }, f(2, 3, 5, 8), f(5, 8)),
  c('rotate', { dims: 4, inverse: true }, f(2, 6, 6), f(6, 4)),
  c('padded_positions', { padding_idx: 1 }, labels([0, 5, 7, 2, 1, 1, 1, 1, 4, 9, 1, 3, 6, 1, 8, 2, 1, 1, 1, 1, 1, 1, 1, 1], 4, 6)),
  c('sinusoidal', { length: 5, dim: 8 }),
  // erf is checked near zero against its Maclaurin series (exact there); its tails against tables.
  ...unaryOps.flatMap((op) => unaryShapes.map((s) => c(op, {}, { dtype: 'f32', shape: s, lo: op === 'erf' ? -2.5 : -4, hi: op === 'erf' ? 2.5 : 4 }))),
  ...(['log', 'sqrt', 'rsqrt'] as const).flatMap((op) => unaryShapes.map((s) => c(op, {}, positive(...s)))),
  ...binaryOps.flatMap((op) => [
    c(op, {}, f(3, 4), op === 'div' ? positive(3, 4) : f(3, 4)),
    c(op, {}, f(2, 3, 4), op === 'div' ? positive(4) : f(4)),
    c(op, {}, f(2, 1, 4), op === 'div' ? positive(3, 1) : f(3, 1)),
  ]),
  c('add', {}, ids(10, 2, 3), ids(10, 3)),
  c('affine', { scale: -2.5, shift: 0.75 }, f(2, 5)),
  c('cast', { to: 'f32' }, ids(100, 2, 3)),
  c('cast', { to: 'i32' }, { dtype: 'f32', shape: [2, 3], lo: -50, hi: 50 }),
  c('dropout', { rate: 0.1, stream: 3 }, f(4, 5)),
  c('sample', { stream: 3 }, f(4, 7)),
  c('sample', { stream: 1 }, f(2, 3, 5)),
  c('dropout_rows', { rate: 0.1, stream: 3, rows: 9 }, f(4, 5), ids(9, 4)),
  c('dropout_rows', { rate: 0.2, stream: 1, rows: 6 }, f(3, 2, 4), ids(6, 3)),
  c('reshape', { shape: [3, -1] }, f(2, 3, 4)),
  c('reshape', { shape: [24] }, f(2, 3, 4)),
  c('transpose', { perm: [0, 2, 1, 3] }, f(2, 3, 4, 5)),
  c('transpose', { perm: [1, 0] }, f(3, 7)),
  c('slice', { axis: 1, start: 1, end: 3 }, f(2, 4, 3)),
  c('slice', { axis: -1, start: 0, end: 2 }, f(3, 5)),
  c('select', { axis: 1, index: 0 }, f(2, 4, 3)),
  c('select', { axis: -1, index: 1 }, f(3, 2)),
  c('concat', { axis: 1 }, f(2, 3, 2), f(2, 1, 2), f(2, 2, 2)),
  c('concat', { axis: 0 }, f(1, 4), f(3, 4)),
  c('gather', {}, f(10, 4), ids(10, 2, 3)),
  c('gather', {}, f(6, 2, 3), ids(6, 5)),
  c('sum', { axes: [1], keepdims: false }, f(2, 3, 4)),
  c('sum', { axes: [0, 2], keepdims: true }, f(2, 3, 4)),
  c('mean', { axes: [-1], keepdims: true }, f(3, 5)),
  c('max', { axes: [0], keepdims: false }, f(4, 3)),
  c('softmax', { axis: -1 }, { dtype: 'f32', shape: [2, 3, 7], lo: -5, hi: 5 }),
  c('softmax', { axis: 1 }, f(2, 4, 3)),
  c('log_softmax', { axis: -1 }, { dtype: 'f32', shape: [3, 6], lo: -5, hi: 5 }),
  c('layer_norm', { eps: 1e-12 }, f(2, 3, 8), f(8), f(8)),
  c('layer_norm', { eps: 1e-5 }, f(4, 16), f(16), f(16)),
  c('matmul', { transpose_a: false, transpose_b: false }, f(5, 7), f(7, 3)),
  c('matmul', { transpose_a: false, transpose_b: true }, f(2, 5, 7), f(3, 7)),
  c('matmul', { transpose_a: true, transpose_b: false }, f(7, 5), f(7, 3)),
  c('matmul', { transpose_a: true, transpose_b: true }, f(2, 7, 5), f(2, 3, 7)),
  c('matmul', { transpose_a: false, transpose_b: true }, f(2, 3, 4, 8), f(2, 3, 6, 8)),
  c('matmul', { transpose_a: false, transpose_b: true }, f(2, 6, 9), f(7, 9)), // 4×4 blocks and both remainders
  c('matmul', { transpose_a: false, transpose_b: false }, f(2, 1, 4, 8), f(3, 8, 5)),

  // Attention: batch entries and heads, more keys than queries, a padding mask broadcast over heads and rows.
  c('attention', { scale: 0.5, rate: 0.1, stream: 4 }, f(2, 3, 5, 4), f(2, 3, 6, 4), f(2, 3, 6, 3), f(2, 1, 1, 6)),
  c('attention', { scale: 1, rate: 0, stream: 0 }, f(1, 4, 4), f(1, 4, 4), f(1, 4, 2), f()),
  c('attention_lse', { scale: 0.5 }, f(2, 3, 5, 4), f(2, 3, 6, 4), f(2, 1, 1, 6)),
  ...(['q', 'k', 'v', 'mask'] as const).map((wrt) =>
    c('attention_grad', { scale: 0.5, rate: 0.25, stream: 2, wrt }, f(2, 2, 5, 4), f(2, 2, 6, 4), f(2, 2, 6, 3), f(2, 1, 1, 6), f(2, 2, 5, 3), { dtype: 'f32', shape: [2, 2, 5], lo: 1, hi: 3 }, f(2, 2, 5)),
  ),

  c('fill', { value: 2.5, dtype: 'f32', shape: [2, 3] }),
  c('fill', { value: 7, dtype: 'i32', shape: [4] }),
  c('broadcast', { shape: [2, 3, 4] }, f(3, 1)),
  c('pad', { axis: 1, before: 2, after: 1 }, f(2, 3, 4)),
  c('pad', { axis: -1, before: 0, after: 3 }, f(3, 2)),
  c('scatter_add', { rows: 5 }, ids(5, 2, 3), f(2, 3, 4)),
  c('gt', {}, f(3, 4), f(4)),
  c('gelu_grad', {}, { dtype: 'f32', shape: [2, 5], lo: -3, hi: 3 }, f(2, 5)),
  c('gelu_tanh_grad', {}, { dtype: 'f32', shape: [2, 5], lo: -3, hi: 3 }, f(2, 5)),
  c('layer_norm_dx', { eps: 1e-5 }, f(3, 8), f(8), f(3, 8)),
  c('cross_entropy', { ignore_index: -100 }, f(2, 3, 5), labels([1, -100, 4, 0, 2, -100], 2, 3)),
  c('cross_entropy_grad', { ignore_index: -100 }, f(6, 4), labels([3, 0, -100, 1, 2, 2], 6), f()),
  c('accuracy', { ignore_index: -100 }, { dtype: 'f32', shape: [6, 4], lo: -3, hi: 3 }, labels([3, 0, -100, 1, 2, 2], 6)),
];

/** Ops only training graphs hold (no ONNX export). */
export const TRAINING_ONLY_OPS: readonly OpName[] = ['state', 'scatter_add', 'gelu_grad', 'gelu_tanh_grad', 'layer_norm_dx', 'cross_entropy', 'cross_entropy_grad', 'accuracy', 'attention_lse', 'attention_grad'];
