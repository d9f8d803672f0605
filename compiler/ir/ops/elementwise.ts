// Elementwise ops: unary math, broadcasting binaries, casts and dropout.

import { broadcastIndex, type HostTensor } from '../tensor.js';
import { uniform01 } from '../../../numerics/threefry.js';
import { erf, gelu, geluTanh, sigmoid } from '../../../numerics/scalar.js';
import { broadcastShapes, formatType, numel } from '../types.js';
import { defineOp, requireDType, ShapeError, type OpDef } from './def.js';

type Empty = Record<string, never>;

/** The inline cost of a transcendental function or a random draw (OpDef.inlineCost). */
export const TRANSCENDENTAL = 4;

function unary(summary: string, f: (x: number) => number, flopsPerElement = 1, inlineCost = 1): OpDef<Empty> {
  return defineOp<Empty>({
    summary,
    inlineCost,
    arity: 1,
    fusion: 'elementwise',
    attrs: {},
    infer([x]) {
      requireDType(x!, 'f32', 'operand');
      return x!;
    },
    interpret([x]) {
      const src = x!.data;
      const out = new Float64Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = f(src[i]!);
      return { dtype: 'f32', shape: x!.shape, data: out };
    },
    flops: (_, out) => flopsPerElement * numel(out.shape),
  });
}

function binary(summary: string, f: (a: number, b: number) => number): OpDef<Empty> {
  return defineOp<Empty>({
    summary,
    arity: 2,
    fusion: 'broadcast',
    attrs: {},
    infer([a, b]) {
      if (a!.dtype !== b!.dtype) throw new ShapeError(`operand dtypes differ: ${formatType(a!)} and ${formatType(b!)}`);
      const shape = broadcastShapes(a!.shape, b!.shape);
      if (!shape) throw new ShapeError(`shapes ${formatType(a!)} and ${formatType(b!)} do not broadcast`);
      return { dtype: a!.dtype, shape };
    },
    interpret([a, b], _attrs, out) {
      const ia = broadcastIndex(a!.shape, out.shape);
      const ib = broadcastIndex(b!.shape, out.shape);
      const n = ia.length;
      const data = out.dtype === 'i32' ? new Int32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) data[i] = f(a!.data[ia[i]!]!, b!.data[ib[i]!]!);
      return { dtype: out.dtype, shape: out.shape, data };
    },
    flops: (_, out) => numel(out.shape),
  });
}


/** The unary math ops: one f32 operand, the same shape out (exporters keep a table of them, by this type). */
export const unaryOps = {
  neg: unary('-x', (x) => -x),
  exp: unary('e^x', Math.exp, 1, TRANSCENDENTAL),
  log: unary('natural logarithm', Math.log),
  sqrt: unary('square root', Math.sqrt),
  rsqrt: unary('1 / sqrt(x)', (x) => 1 / Math.sqrt(x)),
  tanh: unary('hyperbolic tangent', Math.tanh, 1, TRANSCENDENTAL),
  sigmoid: unary('1 / (1 + e^-x)', sigmoid, 4, TRANSCENDENTAL),
  erf: unary('error function', erf, 1, TRANSCENDENTAL),
  relu: unary('max(x, 0)', (x) => (x > 0 ? x : 0)),
  gelu: unary('x * Phi(x), exact (erf) form, as BERT', gelu, 8, TRANSCENDENTAL),
  gelu_tanh: unary('GELU, tanh approximation', geluTanh, 8, TRANSCENDENTAL),
  silu: unary('x * sigmoid(x) (SiLU, swish), the gate of SwiGLU', (x) => x * sigmoid(x), 5, TRANSCENDENTAL),
};

export type UnaryOpName = keyof typeof unaryOps;

export const elementwiseOps = {
  ...unaryOps,
  add: binary('a + b', (a, b) => a + b),
  sub: binary('a - b', (a, b) => a - b),
  mul: binary('a * b', (a, b) => a * b),
  div: binary('a / b', (a, b) => a / b),
  maximum: binary('max(a, b)', (a, b) => (a > b ? a : b)),
  minimum: binary('min(a, b)', (a, b) => (a < b ? a : b)),

  affine: defineOp<{ scale: number; shift: number }>({
    summary: 'x * scale + shift with constant scale and shift',
    arity: 1,
    fusion: 'elementwise',
    attrs: { scale: { kind: 'float', default: 1 }, shift: { kind: 'float', default: 0 } },
    infer([x]) {
      requireDType(x!, 'f32', 'operand');
      return x!;
    },
    interpret([x], { scale, shift }) {
      const out = new Float64Array(x!.data.length);
      for (let i = 0; i < out.length; i++) out[i] = x!.data[i]! * scale + shift;
      return { dtype: 'f32', shape: x!.shape, data: out };
    },
    flops: (_, out) => 2 * numel(out.shape),
  }),

  cast: defineOp<{ to: 'f32' | 'i32' }>({
    summary: 'dtype conversion (f32 to i32 truncates toward zero)',
    arity: 1,
    fusion: 'elementwise',
    attrs: { to: { kind: 'dtype' } },
    infer: ([x], { to }) => ({ dtype: to, shape: x!.shape }),
    interpret([x], { to }) {
      const data = to === 'i32' ? Int32Array.from(x!.data, Math.trunc) : Float64Array.from(x!.data);
      return { dtype: to, shape: x!.shape, data };
    },
    flops: () => 0,
  }),

  dropout: defineOp<{ rate: number; stream: number }>({
    inlineCost: TRANSCENDENTAL,
    summary: 'zeroes each element with probability rate and scales the rest by 1/(1-rate); identity unless training',
    arity: 1,
    fusion: 'elementwise',
    stochastic: true,
    attrs: { rate: { kind: 'float' }, stream: { kind: 'int', default: 0 } },
    infer([x], { rate }) {
      requireDType(x!, 'f32', 'operand');
      if (!(rate >= 0 && rate < 1)) throw new ShapeError(`dropout rate must be in [0, 1), got ${rate}`);
      return x!;
    },
    interpret([x], { rate, stream }, _out, ctx): HostTensor {
      if (!ctx.training || rate === 0) return x!;
      const keep = 1 / (1 - rate);
      const out = new Float64Array(x!.data.length);
      for (let i = 0; i < out.length; i++) {
        out[i] = uniform01(ctx.seed, stream, ctx.step, i) < rate ? 0 : x!.data[i]! * keep;
      }
      return { dtype: 'f32', shape: x!.shape, data: out };
    },
    flops: (_, out) => numel(out.shape),
  }),

  dropout_rows: defineOp<{ rate: number; stream: number; rows: number }>({
    inlineCost: TRANSCENDENTAL,
    summary: "dropout of some rows of a value with `rows` rows: row r is that value's row ids[r] and drops what dropout of the whole value drops there",
    arity: 2,
    fusion: 'broadcast',
    stochastic: true,
    attrs: { rate: { kind: 'float' }, stream: { kind: 'int', default: 0 }, rows: { kind: 'int' } },
    infer([x, ids], { rate, rows }) {
      requireDType(x!, 'f32', 'operand');
      requireDType(ids!, 'i32', 'row indices');
      if (!(rate >= 0 && rate < 1)) throw new ShapeError(`dropout rate must be in [0, 1), got ${rate}`);
      if (x!.shape.length < 1 || ids!.shape.length !== 1 || ids!.shape[0] !== x!.shape[0]) throw new ShapeError(`row indices ${formatType(ids!)} do not match the rows of ${formatType(x!)}`);
      if (!(Number.isInteger(rows) && rows > 0)) throw new ShapeError(`dropout_rows needs the whole value's row count, got ${rows}`);
      return x!;
    },
    interpret([x, ids], { rate, stream, rows }, _out, ctx): HostTensor {
      if (!ctx.training || rate === 0) return x!;
      const keep = 1 / (1 - rate);
      const width = numel(x!.shape.slice(1));
      const out = new Float64Array(x!.data.length);
      for (let r = 0; r < ids!.data.length; r++) {
        const row = ids!.data[r]!;
        if (!(row >= 0 && row < rows)) throw new RangeError(`dropout_rows row ${row} is out of range [0, ${rows})`);
        for (let j = 0; j < width; j++) {
          const i = r * width + j;
          out[i] = uniform01(ctx.seed, stream, ctx.step, row * width + j) < rate ? 0 : x!.data[i]! * keep;
        }
      }
      return { dtype: 'f32', shape: x!.shape, data: out };
    },
    flops: (_, out) => numel(out.shape),
  }),
};

