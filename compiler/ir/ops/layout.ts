// Layout ops: each output element reads one input element (TVM's "injective").

import type { HostTensor } from '../tensor.js';
import { formatShape, formatType, normalizeAxis, numel, stridesOf, type Shape, type TensorType } from '../types.js';
import { defineOp, requireDType, ShapeError } from './def.js';
import { rotaryAngle } from './source.js';

function makeLike(dtype: TensorType['dtype'], shape: Shape): HostTensor {
  const n = numel(shape);
  return { dtype, shape, data: dtype === 'i32' ? new Int32Array(n) : new Float64Array(n) };
}

/** Resolves one -1 in a reshape target against the element count. */
export function resolveReshape(from: Shape, to: readonly number[]): number[] {
  const total = numel(from);
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1) throw new ShapeError(`reshape target ${formatShape(to)} has more than one -1`);
  if (to.some((d) => d < -1 || !Number.isInteger(d))) throw new ShapeError(`reshape target ${formatShape(to)} has an invalid dimension`);
  const known = to.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const shape = to.map((d) => (d === -1 ? (known === 0 ? 0 : total / known) : d));
  if (numel(shape) !== total || shape.some((d) => !Number.isInteger(d))) {
    throw new ShapeError(`cannot reshape ${formatShape(from)} (${total} elements) to ${formatShape(to)}`);
  }
  return shape;
}

/** Iterates the multi-index of every element of `shape` in row-major order. */
function forEachIndex(shape: Shape, visit: (index: readonly number[], flat: number) => void): void {
  const n = numel(shape);
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    visit(index, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
}

export const layoutOps = {
  reshape: defineOp<{ shape: number[] }>({
    view: 'layout',
    summary: 'same elements, new shape (one dimension may be -1)',
    arity: 1,
    fusion: 'injective',
    attrs: { shape: { kind: 'ints' } },
    infer: ([x], { shape }) => ({ dtype: x!.dtype, shape: resolveReshape(x!.shape, shape) }),
    interpret: ([x], _a, out) => ({ dtype: x!.dtype, shape: out.shape, data: x!.data }),
    flops: () => 0,
  }),

  transpose: defineOp<{ perm: number[] }>({
    view: 'layout',
    summary: 'permutes axes: out.shape[i] = in.shape[perm[i]]',
    arity: 1,
    fusion: 'injective',
    attrs: { perm: { kind: 'ints' } },
    infer([x], { perm }) {
      const rank = x!.shape.length;
      const seen = new Set(perm);
      if (perm.length !== rank || seen.size !== rank || perm.some((p) => !(p >= 0 && p < rank))) {
        throw new ShapeError(`perm ${formatShape(perm)} is not a permutation of the axes of ${formatType(x!)}`);
      }
      return { dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) };
    },
    interpret([x], { perm }, out) {
      const result = makeLike(x!.dtype, out.shape);
      const inStrides = stridesOf(x!.shape);
      const strides = perm.map((p) => inStrides[p]!);
      forEachIndex(out.shape, (index, flat) => {
        let src = 0;
        for (let d = 0; d < index.length; d++) src += index[d]! * strides[d]!;
        result.data[flat] = x!.data[src]!;
      });
      return result;
    },
    flops: () => 0,
  }),

  slice: defineOp<{ axis: number; start: number; end: number }>({
    view: 'window',
    summary: 'elements start <= i < end along one axis',
    arity: 1,
    fusion: 'injective',
    attrs: { axis: { kind: 'int' }, start: { kind: 'int', default: 0 }, end: { kind: 'int' } },
    infer([x], { axis, start, end }) {
      const a = normalizeAxis(axis, x!.shape.length);
      const size = x!.shape[a]!;
      if (!(start >= 0 && start <= end && end <= size)) {
        throw new ShapeError(`slice ${start}:${end} is out of range for axis ${axis} of ${formatType(x!)}`);
      }
      const shape = [...x!.shape];
      shape[a] = end - start;
      return { dtype: x!.dtype, shape };
    },
    interpret([x], { axis, start }, out) {
      const a = normalizeAxis(axis, x!.shape.length);
      const result = makeLike(x!.dtype, out.shape);
      const inStrides = stridesOf(x!.shape);
      forEachIndex(out.shape, (index, flat) => {
        let src = start * inStrides[a]!;
        for (let d = 0; d < index.length; d++) src += index[d]! * inStrides[d]!;
        result.data[flat] = x!.data[src]!;
      });
      return result;
    },
    flops: () => 0,
  }),

  select: defineOp<{ axis: number; index: number }>({
    view: 'window',
    summary: 'one index along an axis, removing that axis (x[:, 0] is select axis=1 index=0)',
    arity: 1,
    fusion: 'injective',
    attrs: { axis: { kind: 'int' }, index: { kind: 'int' } },
    infer([x], { axis, index }) {
      const a = normalizeAxis(axis, x!.shape.length);
      if (!(index >= 0 && index < x!.shape[a]!)) {
        throw new ShapeError(`index ${index} is out of range for axis ${axis} of ${formatType(x!)}`);
      }
      return { dtype: x!.dtype, shape: x!.shape.filter((_, d) => d !== a) };
    },
    interpret([x], { axis, index }, out) {
      const a = normalizeAxis(axis, x!.shape.length);
      const result = makeLike(x!.dtype, out.shape);
      const inStrides = stridesOf(x!.shape);
      const strides = inStrides.filter((_, d) => d !== a);
      forEachIndex(out.shape, (idx, flat) => {
        let src = index * inStrides[a]!;
        for (let d = 0; d < idx.length; d++) src += idx[d]! * strides[d]!;
        result.data[flat] = x!.data[src]!;
      });
      return result;
    },
    flops: () => 0,
  }),

  concat: defineOp<{ axis: number }>({
    summary: 'joins operands along an axis',
    arity: 'variadic',
    fusion: 'injective',
    attrs: { axis: { kind: 'int' } },
    infer(xs, { axis }) {
      const first = xs[0]!;
      const a = normalizeAxis(axis, first.shape.length);
      let size = 0;
      for (const x of xs) {
        const same = x.dtype === first.dtype && x.shape.length === first.shape.length && x.shape.every((d, i) => i === a || d === first.shape[i]);
        if (!same) throw new ShapeError(`cannot concatenate ${formatType(first)} and ${formatType(x)} along axis ${axis}`);
        size += x.shape[a]!;
      }
      const shape = [...first.shape];
      shape[a] = size;
      return { dtype: first.dtype, shape };
    },
    interpret(xs, { axis }, out) {
      const a = normalizeAxis(axis, out.shape.length);
      const result = makeLike(out.dtype, out.shape);
      const outer = numel(out.shape.slice(0, a));
      const rowOut = numel(out.shape.slice(a));
      let offset = 0;
      for (const x of xs) {
        const row = numel(x.shape.slice(a));
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < row; i++) result.data[o * rowOut + offset + i] = x.data[o * row + i]!;
        }
        offset += row;
      }
      return result;
    },
    flops: () => 0,
  }),

  rotary: defineOp<{ base: number; dims: number; inverse: boolean }>({
    summary: 'rotary position embedding (RoPE, the half-split form) over the last axis of [..., seq, head_dim]: pairs (i, i + dims/2) of the first dims features turned by position · base^(-2i/dims); inverse turns them back (its gradient)',
    arity: 1,
    fusion: 'injective',
    attrs: { base: { kind: 'float' }, dims: { kind: 'int' }, inverse: { kind: 'bool', default: false } },
    infer([x], { base, dims }) {
      requireDType(x!, 'f32', 'operand');
      const width = x!.shape[x!.shape.length - 1];
      if (x!.shape.length < 2 || width === undefined) throw new ShapeError(`rotary needs [..., seq, head_dim], got ${formatType(x!)}`);
      if (!(Number.isInteger(dims) && dims >= 2 && dims % 2 === 0 && dims <= width)) throw new ShapeError(`rotary dims must be even, from 2 to the head size ${width}, got ${dims}`);
      if (!(base > 0 && Number.isFinite(base))) throw new ShapeError(`rotary base must be positive, got ${base}`);
      return x!;
    },
    interpret([x], { base, dims, inverse }) {
      const shape = x!.shape;
      const [seq, width] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
      const half = dims / 2;
      const out = new Float64Array(x!.data.length);
      for (let row = 0; row < x!.data.length / width; row++) {
        const position = row % seq;
        const at = row * width;
        for (let i = 0; i < width; i++) {
          if (i >= dims) {
            out[at + i] = x!.data[at + i]!;
            continue;
          }
          const j = i < half ? i : i - half;
          const angle = rotaryAngle(position, j, base, dims);
          const sin = (inverse ? -1 : 1) * Math.sin(angle);
          out[at + i] = i < half ? x!.data[at + i]! * Math.cos(angle) - x!.data[at + i + half]! * sin : x!.data[at + i]! * Math.cos(angle) + x!.data[at + j]! * sin;
        }
      }
      return { dtype: 'f32', shape, data: out };
    },
    flops: ([x]) => 6 * numel(x!.shape),
  }),

  rotate: defineOp<{ dims: number; inverse: boolean }>({
    summary: "rotary with its angles read from a rotary_table [seq, dims] (the compiler's form of rotary: the angles computed once, not per element)",
    arity: 2,
    fusion: 'injective',
    attrs: { dims: { kind: 'int' }, inverse: { kind: 'bool', default: false } },
    infer([x, table], { dims }) {
      requireDType(x!, 'f32', 'operand');
      const [seq, width] = [x!.shape[x!.shape.length - 2], x!.shape[x!.shape.length - 1]];
      if (x!.shape.length < 2 || width === undefined) throw new ShapeError(`rotate needs [..., seq, head_dim], got ${formatType(x!)}`);
      if (!(Number.isInteger(dims) && dims >= 2 && dims % 2 === 0 && dims <= width)) throw new ShapeError(`rotate dims must be even, from 2 to the head size ${width}, got ${dims}`);
      if (table!.shape.length !== 2 || table!.shape[0] !== seq || table!.shape[1] !== dims) throw new ShapeError(`rotate's table ${formatType(table!)} is not [${seq}, ${dims}]`);
      return x!;
    },
    interpret([x, table], { dims, inverse }) {
      const shape = x!.shape;
      const [seq, width] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
      const half = dims / 2;
      const out = Float64Array.from(x!.data);
      for (let row = 0; row < x!.data.length / width; row++) {
        const [at, position] = [row * width, row % seq];
        for (let j = 0; j < half; j++) {
          const cos = table!.data[position * dims + j]!;
          const sin = (inverse ? -1 : 1) * table!.data[position * dims + half + j]!;
          const [a, b] = [x!.data[at + j]!, x!.data[at + half + j]!];
          out[at + j] = a * cos - b * sin;
          out[at + half + j] = b * cos + a * sin;
        }
      }
      return { dtype: 'f32', shape, data: out };
    },
    flops: ([x]) => 3 * numel(x!.shape),
  }),

  gather: defineOp<Record<string, never>>({
    summary: 'rows of a table by index: out[..., :] = table[ids[...], :] (embedding lookup)',
    arity: 2,
    fusion: 'injective',
    attrs: {},
    infer([table, ids]) {
      requireDType(ids!, 'i32', 'gather indices');
      if (table!.shape.length < 1) throw new ShapeError(`gather table must have rank >= 1, got ${formatType(table!)}`);
      return { dtype: table!.dtype, shape: [...ids!.shape, ...table!.shape.slice(1)] };
    },
    interpret([table, ids], _a, out) {
      const rows = table!.shape[0]!;
      const row = numel(table!.shape.slice(1));
      const result = makeLike(out.dtype, out.shape);
      for (let i = 0; i < ids!.data.length; i++) {
        const id = ids!.data[i]!;
        if (!(id >= 0 && id < rows)) throw new RangeError(`gather index ${id} is out of range [0, ${rows})`);
        for (let j = 0; j < row; j++) result.data[i * row + j] = table!.data[id * row + j]!;
      }
      return result;
    },
    flops: () => 0,
  }),
};

