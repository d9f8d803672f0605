// Source ops: graph inputs, parameters and generated constants.

import { numel, type DType } from '../types.js';
import { defineOp, ShapeError, type InitKind } from './def.js';

/** The original Transformer's encoding: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same). */
export function sinusoidalTable(length: number, dim: number): Float64Array {
  const table = new Float64Array(length * dim);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < dim; i++) {
      const angle = p / Math.pow(10000, (2 * Math.floor(i / 2)) / dim);
      table[p * dim + i] = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return table;
}

function checkDims(shape: readonly number[]): void {
  if (shape.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`dimensions must be positive integers, got [${shape.join(',')}]`);
}

export const sourceOps = {
  input: defineOp<{ name: string; dtype: DType; shape: number[] }>({
    summary: 'a graph input, fed at every run',
    arity: 0,
    fusion: 'source',
    attrs: { name: { kind: 'string' }, dtype: { kind: 'dtype' }, shape: { kind: 'ints' } },
    infer(_, { dtype, shape }) {
      checkDims(shape);
      return { dtype, shape };
    },
    interpret: (_, { name }, _out, ctx) => ctx.input(name),
    flops: () => 0,
  }),

  param: defineOp<{ name: string; shape: number[]; init: InitKind; std: number }>({
    summary: 'a trainable parameter, named as in HuggingFace state dicts',
    arity: 0,
    fusion: 'source',
    attrs: {
      name: { kind: 'string' },
      shape: { kind: 'ints' },
      init: { kind: 'init', default: 'normal', oneOf: ['normal', 'zeros', 'ones'] },
      std: { kind: 'float', default: 0.02 },
    },
    infer(_, { shape }) {
      checkDims(shape);
      return { dtype: 'f32', shape };
    },
    interpret: (_, { name }, _out, ctx) => ctx.param(name),
    flops: () => 0,
  }),

  state: defineOp<{ name: string; shape: number[] }>({
    summary: 'persistent f32 state carried across training steps (optimizer moments), zeros at first',
    arity: 0,
    fusion: 'source',
    attrs: { name: { kind: 'string' }, shape: { kind: 'ints' } },
    infer(_, { shape }) {
      if (shape.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`dimensions must be positive integers, got [${shape.join(',')}]`);
      return { dtype: 'f32', shape };
    },
    interpret: (_, { name }, _out, ctx) => ctx.param(name),
    flops: () => 0,
  }),

  range: defineOp<{ size: number }>({
    summary: '0, 1, ..., size-1 as i32 (position ids)',
    arity: 0,
    fusion: 'generator',
    attrs: { size: { kind: 'int' } },
    infer(_, { size }) {
      checkDims([size]);
      return { dtype: 'i32', shape: [size] };
    },
    interpret: (_, { size }) => ({ dtype: 'i32', shape: [size], data: Int32Array.from({ length: size }, (_v, i) => i) }),
    flops: () => 0,
  }),

  sinusoidal: defineOp<{ length: number; dim: number }>({
    summary: 'the fixed sinusoidal position table [length, dim]',
    arity: 0,
    fusion: 'generator',
    attrs: { length: { kind: 'int' }, dim: { kind: 'int' } },
    infer(_, { length, dim }) {
      checkDims([length, dim]);
      return { dtype: 'f32', shape: [length, dim] };
    },
    interpret: (_, { length, dim }) => ({ dtype: 'f32', shape: [length, dim], data: sinusoidalTable(length, dim) }),
    flops: (_, out) => 4 * numel(out.shape),
  }),
};
