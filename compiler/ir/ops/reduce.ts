// Reductions and the normalizations built on them.

import { broadcastIndex, type HostTensor } from '../tensor.js';
import { formatShape, formatType, normalizeAxis, numel, type Shape, type TensorType } from '../types.js';
import { defineOp, requireDType, ShapeError } from './def.js';

interface ReduceAttrs {
  axes: number[];
  keepdims: boolean;
}

function reducedShapes(x: TensorType, axes: readonly number[]): { kept: number[]; dropped: number[]; axes: Set<number> } {
  const set = new Set(axes.map((a) => normalizeAxis(a, x.shape.length)));
  if (set.size !== axes.length) throw new ShapeError(`axes ${formatShape(axes)} repeat an axis`);
  const kept = x.shape.map((d, i) => (set.has(i) ? 1 : d));
  const dropped = x.shape.filter((_, i) => !set.has(i));
  return { kept, dropped, axes: set };
}

function reduction(summary: string, init: number, combine: (acc: number, x: number) => number, finish: (acc: number, count: number) => number) {
  return defineOp<ReduceAttrs>({
    summary,
    arity: 1,
    fusion: 'reduction',
    attrs: { axes: { kind: 'ints' }, keepdims: { kind: 'bool', default: false } },
    infer([x], { axes, keepdims }) {
      requireDType(x!, 'f32', 'operand');
      const { kept, dropped } = reducedShapes(x!, axes);
      return { dtype: 'f32', shape: keepdims ? kept : dropped };
    },
    interpret([x], { axes }, out) {
      const { kept } = reducedShapes(x!, axes);
      const target = broadcastIndex(kept, x!.shape);
      const acc = new Float64Array(numel(out.shape)).fill(init);
      for (let i = 0; i < target.length; i++) acc[target[i]!] = combine(acc[target[i]!]!, x!.data[i]!);
      const count = numel(x!.shape) / Math.max(1, acc.length);
      for (let i = 0; i < acc.length; i++) acc[i] = finish(acc[i]!, count);
      return { dtype: 'f32', shape: out.shape, data: acc };
    },
    flops: ([x]) => numel(x!.shape),
  });
}

/** Splits a shape around one axis into (outer, size, inner) for row-wise loops. */
export function aroundAxis(shape: Shape, axis: number): { outer: number; size: number; inner: number } {
  const a = normalizeAxis(axis, shape.length);
  return { outer: numel(shape.slice(0, a)), size: shape[a]!, inner: numel(shape.slice(a + 1)) };
}

function softmaxLike(x: HostTensor, axis: number, log: boolean): HostTensor {
  const { outer, size, inner } = aroundAxis(x.shape, axis);
  const out = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let max = -Infinity;
      for (let k = 0; k < size; k++) max = Math.max(max, x.data[base + k * inner]!);
      let sum = 0;
      for (let k = 0; k < size; k++) sum += Math.exp(x.data[base + k * inner]! - max);
      for (let k = 0; k < size; k++) {
        const shifted = x.data[base + k * inner]! - max;
        out[base + k * inner] = log ? shifted - Math.log(sum) : Math.exp(shifted) / sum;
      }
    }
  }
  return { dtype: 'f32', shape: x.shape, data: out };
}

function softmaxOp(summary: string, log: boolean) {
  return defineOp<{ axis: number }>({
    summary,
    arity: 1,
    fusion: 'reduction',
    attrs: { axis: { kind: 'int', default: -1 } },
    infer([x], { axis }) {
      requireDType(x!, 'f32', 'operand');
      normalizeAxis(axis, x!.shape.length);
      return x!;
    },
    interpret: ([x], { axis }) => softmaxLike(x!, axis, log),
    flops: ([x]) => 5 * numel(x!.shape),
  });
}

/** Mean and 1/√(biased variance + eps) of data[base, base + size): a layer-norm row. */
export function rowStats(data: ArrayLike<number>, base: number, size: number, eps: number): { mean: number; inv: number } {
  let mean = 0;
  for (let k = 0; k < size; k++) mean += data[base + k]!;
  mean /= size;
  let variance = 0;
  for (let k = 0; k < size; k++) variance += (data[base + k]! - mean) ** 2;
  return { mean, inv: 1 / Math.sqrt(variance / size + eps) };
}

export const reduceOps = {
  sum: reduction('sum over axes', 0, (a, x) => a + x, (a) => a),
  mean: reduction('mean over axes', 0, (a, x) => a + x, (a, n) => a / n),
  max: reduction('maximum over axes', -Infinity, (a, x) => (x > a ? x : a), (a) => a),
  softmax: softmaxOp('exp(x) / sum(exp(x)) along an axis, max-shifted', false),
  log_softmax: softmaxOp('x - log(sum(exp(x))) along an axis, max-shifted', true),

  layer_norm: defineOp<{ eps: number }>({
    summary: '(x - mean) / sqrt(var + eps) * gamma + beta over the last axis (biased variance, as torch)',
    arity: 3,
    fusion: 'reduction',
    attrs: { eps: { kind: 'float', default: 1e-5 } },
    infer([x, gamma, beta]) {
      requireDType(x!, 'f32', 'operand');
      const last = x!.shape[x!.shape.length - 1];
      for (const [what, t] of [['gamma', gamma!], ['beta', beta!]] as const) {
        if (t.shape.length !== 1 || t.shape[0] !== last) {
          throw new ShapeError(`layer_norm ${what} ${formatType(t)} does not match the last axis of ${formatType(x!)}`);
        }
      }
      return x!;
    },
    interpret([x, gamma, beta], { eps }) {
      const size = x!.shape[x!.shape.length - 1]!;
      const rows = x!.data.length / size;
      const out = new Float64Array(x!.data.length);
      for (let r = 0; r < rows; r++) {
        const base = r * size;
        const { mean, inv } = rowStats(x!.data, base, size, eps);
        for (let k = 0; k < size; k++) out[base + k] = (x!.data[base + k]! - mean) * inv * gamma!.data[k]! + beta!.data[k]!;
      }
      return { dtype: 'f32', shape: x!.shape, data: out };
    },
    flops: ([x]) => 8 * numel(x!.shape),
  }),
};
