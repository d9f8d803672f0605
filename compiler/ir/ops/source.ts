// Source ops: graph inputs, parameters and generated constants.

import { numel, type DType } from '../types.js';
import { defineOp, ShapeError, type InitKind } from './def.js';
import { labelledRows, type Derived, type LabelledTake } from '../../../runtime/labelled-rows.js';

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

/**
 * ALiBi's slope of head h of `heads`: for a power of two n, 2^(-8(h+1)/n);
 * otherwise the slopes of the power of two c below, then every other slope
 * of 2c for the heads past c.
 */
export function alibiSlope(h: number, heads: number): number {
  const c = 2 ** Math.floor(Math.log2(heads));
  return h < c ? 2 ** ((-8 * (h + 1)) / c) : 2 ** ((-8 * (2 * (h - c) + 1)) / (2 * c));
}

/** rotary's angle of feature pair j at a position: θ = position / base^(2j/dims). */
export function rotaryAngle(position: number, j: number, base: number, dims: number): number {
  return position / Math.pow(base, (2 * j) / dims);
}

/** What sliding_window adds outside the window (and segment_mask outside a token's sequence): large enough that softmax gives it nothing, small enough that adding the padding mask (-3.4e38) stays finite. */
export const OUTSIDE_WINDOW = -1e30;

function checkDims(shape: readonly number[]): void {
  if (shape.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`dimensions must be positive integers, got [${shape.join(',')}]`);
}

/** How an input with `of` is derived from its label input (undefined: a fed input). */
export function derivedInput({ of, of_shape, take, ignore }: { of?: string; of_shape?: number[]; take?: LabelledTake | ''; ignore?: number }): Derived | undefined {
  return of ? { of, shape: of_shape ?? [], take: take || 'rows', ignore: ignore ?? -100 } : undefined;
}

export const sourceOps = {
  input: defineOp<{ name: string; dtype: DType; shape: number[]; of?: string; of_shape?: number[]; take?: LabelledTake | ''; ignore?: number }>({
    summary: "a graph input, fed at every run; or, with `of`, derived from label input `of`: its labelled rows' flat indices or labels (take), padded to the input's length",
    arity: 0,
    fusion: 'source',
    attrs: {
      name: { kind: 'string' },
      dtype: { kind: 'dtype' },
      shape: { kind: 'ints' },
      of: { kind: 'string', default: '' },
      of_shape: { kind: 'ints', default: [] },
      take: { kind: 'string', default: '', oneOf: ['', 'rows', 'labels'] },
      ignore: { kind: 'int', default: -100 },
    },
    infer(_, { dtype, shape, of }) {
      checkDims(shape);
      if (of && (dtype !== 'i32' || shape.length !== 1)) throw new ShapeError(`an input derived from '${of}' is i32 of rank 1, not ${dtype}[${shape.join(',')}]`);
      return { dtype, shape };
    },
    interpret(_, attrs, out, ctx) {
      const derived = derivedInput(attrs);
      if (!derived) return ctx.input(attrs.name);
      return { dtype: 'i32', shape: out.shape, data: labelledRows(ctx.input(derived.of).data, derived, out.shape[0]!) };
    },
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

  padded_positions: defineOp<{ padding_idx: number }>({
    summary: "RoBERTa's position ids from token ids [batch, seq]: padding_idx at padding tokens, else padding_idx + the count of non-padding tokens up to and with this one",
    arity: 1,
    fusion: 'opaque',
    attrs: { padding_idx: { kind: 'int' } },
    infer([ids]) {
      if (ids!.dtype !== 'i32' || ids!.shape.length !== 2) throw new ShapeError(`padded_positions takes i32 token ids [batch, seq], got ${ids!.dtype}[${ids!.shape.join(',')}]`);
      return ids!;
    },
    interpret([ids], { padding_idx }) {
      const [batch, seq] = ids!.shape as [number, number];
      const data = new Int32Array(batch * seq);
      for (let r = 0; r < batch; r++) {
        let count = 0;
        for (let s = 0; s < seq; s++) {
          const i = r * seq + s;
          if (ids!.data[i] !== padding_idx) count++;
          data[i] = ids!.data[i] === padding_idx ? padding_idx : padding_idx + count;
        }
      }
      return { dtype: 'i32', shape: ids!.shape, data };
    },
    flops: ([ids]) => numel(ids!.shape) * ids!.shape[1]!,
  }),

  sliding_window: defineOp<{ queries: number; keys: number; window: number }>({
    summary: "local attention's additive mask [queries, keys]: 0 where |i - j| <= window / 2, -1e30 elsewhere (a window of 0 is global: all 0)",
    arity: 0,
    fusion: 'generator',
    attrs: { queries: { kind: 'int' }, keys: { kind: 'int' }, window: { kind: 'int' } },
    infer(_, { queries, keys, window }) {
      checkDims([queries, keys]);
      if (!(Number.isInteger(window) && window >= 0)) throw new ShapeError(`sliding_window needs a window of 0 (global) or more tokens, got ${window}`);
      return { dtype: 'f32', shape: [queries, keys] };
    },
    interpret: (_, { queries, keys, window }) => ({
      dtype: 'f32',
      shape: [queries, keys],
      data: Float64Array.from({ length: queries * keys }, (_v, k) => (window > 0 && Math.abs(Math.floor(k / keys) - (k % keys)) > Math.floor(window / 2) ? OUTSIDE_WINDOW : 0)),
    }),
    flops: () => 0,
  }),

  segment_mask: defineOp<Record<string, never>>({
    summary: "a packed batch's attention mask [tokens, tokens] from each token's sequence bounds (starts, ends: i32 [tokens]): 0 where starts[i] <= j < ends[i], -1e30 elsewhere, so that a token attends within its own sequence",
    arity: 2,
    fusion: 'injective',
    attrs: {},
    infer([starts, ends]) {
      for (const t of [starts!, ends!]) if (t.dtype !== 'i32' || t.shape.length !== 1) throw new ShapeError(`segment_mask takes i32 [tokens] sequence bounds, got ${t.dtype}[${t.shape.join(',')}]`);
      if (starts!.shape[0] !== ends!.shape[0]) throw new ShapeError(`segment_mask's starts [${starts!.shape[0]}] and ends [${ends!.shape[0]}] differ in length`);
      return { dtype: 'f32', shape: [starts!.shape[0]!, starts!.shape[0]!] };
    },
    interpret([starts, ends]) {
      const tokens = starts!.shape[0]!;
      const data = new Float64Array(tokens * tokens);
      for (let i = 0; i < tokens; i++) for (let j = 0; j < tokens; j++) data[i * tokens + j] = starts!.data[i]! <= j && j < ends!.data[i]! ? 0 : OUTSIDE_WINDOW;
      return { dtype: 'f32', shape: [tokens, tokens], data };
    },
    flops: () => 0,
  }),

  alibi: defineOp<{ heads: number; queries: number; keys: number }>({
    summary: "ALiBi's attention bias [heads, queries, keys]: -slope(h) · |i - j|, the slopes of Press et al. (2^(-8(h+1)/heads) for a power of two heads)",
    arity: 0,
    fusion: 'generator',
    attrs: { heads: { kind: 'int' }, queries: { kind: 'int' }, keys: { kind: 'int' } },
    infer(_, { heads, queries, keys }) {
      checkDims([heads, queries, keys]);
      return { dtype: 'f32', shape: [heads, queries, keys] };
    },
    interpret(_, { heads, queries, keys }) {
      const data = new Float64Array(heads * queries * keys);
      for (let h = 0; h < heads; h++) {
        const slope = alibiSlope(h, heads);
        for (let i = 0; i < queries; i++) for (let j = 0; j < keys; j++) data[(h * queries + i) * keys + j] = -slope * Math.abs(i - j);
      }
      return { dtype: 'f32', shape: [heads, queries, keys], data };
    },
    flops: (_, out) => 2 * numel(out.shape),
  }),

  rotary_table: defineOp<{ base: number; dims: number; length: number }>({
    summary: "rotary's angles as a table [length, dims]: cos θ in the first dims/2 columns, sin θ in the others, θ = position / base^(2j/dims) (the compiler's, read by rotate)",
    arity: 0,
    fusion: 'generator',
    // Costly enough to be stored once, not recomputed by each kernel that reads it.
    inlineCost: 32,
    attrs: { base: { kind: 'float' }, dims: { kind: 'int' }, length: { kind: 'int' } },
    infer(_, { base, dims, length }) {
      checkDims([length, dims]);
      if (dims % 2 !== 0 || !(base > 0 && Number.isFinite(base))) throw new ShapeError(`rotary_table needs an even dims and a positive base, got ${dims} and ${base}`);
      return { dtype: 'f32', shape: [length, dims] };
    },
    interpret(_, { base, dims, length }) {
      const half = dims / 2;
      const data = new Float64Array(length * dims);
      for (let p = 0; p < length; p++) {
        for (let j = 0; j < half; j++) {
          const angle = rotaryAngle(p, j, base, dims);
          data[p * dims + j] = Math.cos(angle);
          data[p * dims + half + j] = Math.sin(angle);
        }
      }
      return { dtype: 'f32', shape: [length, dims], data };
    },
    flops: (_, out) => 4 * numel(out.shape),
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
