// Ops that training graphs need: constants and broadcasts for gradients,
// the adjoints of indexing (pad, scatter_add), the backward halves of
// composite ops (gelu, layer_norm), and the losses and metrics.

import { broadcastIndex, type HostTensor } from '../tensor.js';
import { broadcastShapes, formatShape, formatType, normalizeAxis, numel, type DType, type TensorType } from '../types.js';
import { defineOp, requireDType, ShapeError } from './def.js';
import { TRANSCENDENTAL } from './elementwise.js';
import { geluDerivative, geluTanhDerivative } from '../../../numerics/scalar.js';
import { rowStats } from './reduce.js';
import { uniform01 } from '../../../numerics/threefry.js';

function backwardOf(summary: string, derivative: (x: number) => number) {
  return defineOp<Record<string, never>>({
    summary,
    inlineCost: TRANSCENDENTAL,
    arity: 2,
    fusion: 'elementwise',
    attrs: {},
    infer([x, dy]) {
      if (formatType(x!) !== formatType(dy!)) throw new ShapeError(`x ${formatType(x!)} and dy ${formatType(dy!)} differ`);
      return x!;
    },
    interpret([x, dy]) {
      const out = new Float64Array(x!.data.length);
      for (let i = 0; i < out.length; i++) out[i] = dy!.data[i]! * derivative(x!.data[i]!);
      return { dtype: 'f32', shape: x!.shape, data: out };
    },
    flops: (_, out) => 10 * numel(out.shape),
  });
}

/** Logits [..., C] and labels [...] (i32, ignore_index for positions without a label). */
function checkLogitsLabels(logits: TensorType, labels: TensorType): number {
  requireDType(logits, 'f32', 'logits');
  requireDType(labels, 'i32', 'labels');
  const lead = logits.shape.slice(0, -1);
  if (lead.length !== labels.shape.length || lead.some((d, i) => d !== labels.shape[i])) {
    throw new ShapeError(`labels ${formatType(labels)} do not match logits ${formatType(logits)} without its last axis`);
  }
  return logits.shape[logits.shape.length - 1]!;
}

/** Per row: the log-sum-exp of its logits. */
function logSumExp(logits: HostTensor, row: number, classes: number): number {
  let max = -Infinity;
  for (let c = 0; c < classes; c++) max = Math.max(max, logits.data[row * classes + c]!);
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += Math.exp(logits.data[row * classes + c]! - max);
  return max + Math.log(sum);
}

/** The rows that carry a label (not ignore_index), with their labels; a label out of range is an error. */
function labelledRows(labels: HostTensor, classes: number, ignore: number): [number, number][] {
  const rows: [number, number][] = [];
  labels.data.forEach((label, row) => {
    if (label === ignore) return;
    if (!(label >= 0 && label < classes)) throw new RangeError(`label ${label} is out of range [0, ${classes})`);
    rows.push([row, label]);
  });
  return rows;
}

/** A scalar statistic over the labelled rows of logits [..., classes] and labels [...] (0 when no row has a label). */
function labelStatistic(summary: string, perRow: (logits: HostTensor, row: number, label: number, classes: number) => number, flopsPerLogit: number) {
  return defineOp<{ ignore_index: number }>({
    summary,
    arity: 2,
    fusion: 'reduction',
    attrs: { ignore_index: { kind: 'int', default: -100 } },
    infer([logits, labels]) {
      checkLogitsLabels(logits!, labels!);
      return { dtype: 'f32', shape: [] };
    },
    interpret([logits, labels], { ignore_index }) {
      const classes = logits!.shape[logits!.shape.length - 1]!;
      const rows = labelledRows(labels!, classes, ignore_index);
      const total = rows.reduce((sum, [row, label]) => sum + perRow(logits!, row, label, classes), 0);
      return scalar(rows.length ? total / rows.length : 0);
    },
    flops: ([logits]) => flopsPerLogit * numel(logits!.shape),
  });
}

const scalar = (value: number): HostTensor => ({ dtype: 'f32', shape: [], data: Float64Array.of(value) });

export const trainingOps = {
  fill: defineOp<{ value: number; dtype: DType; shape: number[] }>({
    summary: 'a constant tensor',
    arity: 0,
    fusion: 'generator',
    attrs: { value: { kind: 'float' }, dtype: { kind: 'dtype', default: 'f32' }, shape: { kind: 'ints', default: [] } },
    infer(_, { dtype, shape }) {
      if (shape.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`dimensions must be positive integers, got ${formatShape(shape)}`);
      return { dtype, shape };
    },
    interpret: (_, { value }, out) => ({ dtype: out.dtype, shape: out.shape, data: (out.dtype === 'i32' ? new Int32Array(numel(out.shape)) : new Float64Array(numel(out.shape))).fill(value) }),
    flops: () => 0,
  }),

  broadcast: defineOp<{ shape: number[] }>({
    summary: 'repeats an operand along broadcast axes to a shape (NumPy rules)',
    arity: 1,
    fusion: 'broadcast',
    attrs: { shape: { kind: 'ints' } },
    infer([x], { shape }) {
      const joined = broadcastShapes(x!.shape, shape);
      if (!joined || formatShape(joined) !== formatShape(shape)) throw new ShapeError(`${formatType(x!)} does not broadcast to ${formatShape(shape)}`);
      return { dtype: x!.dtype, shape };
    },
    interpret([x], _a, out) {
      const index = broadcastIndex(x!.shape, out.shape);
      const data = out.dtype === 'i32' ? new Int32Array(index.length) : new Float64Array(index.length);
      for (let i = 0; i < index.length; i++) data[i] = x!.data[index[i]!]!;
      return { dtype: out.dtype, shape: out.shape, data };
    },
    flops: () => 0,
  }),

  pad: defineOp<{ axis: number; before: number; after: number }>({
    summary: 'zeros before and after the elements along one axis (the adjoint of slice)',
    arity: 1,
    fusion: 'injective',
    attrs: { axis: { kind: 'int' }, before: { kind: 'int', default: 0 }, after: { kind: 'int', default: 0 } },
    infer([x], { axis, before, after }) {
      const a = normalizeAxis(axis, x!.shape.length);
      if (before < 0 || after < 0) throw new ShapeError(`pad amounts must not be negative, got ${before} and ${after}`);
      const shape = [...x!.shape];
      shape[a] = shape[a]! + before + after;
      return { dtype: x!.dtype, shape };
    },
    interpret([x], { axis, before }, out) {
      const a = normalizeAxis(axis, x!.shape.length);
      const data = new Float64Array(numel(out.shape));
      const outer = numel(x!.shape.slice(0, a));
      const inner = numel(x!.shape.slice(a + 1));
      const [size, padded] = [x!.shape[a]!, out.shape[a]!];
      for (let o = 0; o < outer; o++) {
        for (let k = 0; k < size; k++) {
          for (let i = 0; i < inner; i++) data[(o * padded + k + before) * inner + i] = x!.data[(o * size + k) * inner + i]!;
        }
      }
      return { dtype: x!.dtype, shape: out.shape, data };
    },
    flops: () => 0,
  }),

  scatter_add: defineOp<{ rows: number }>({
    summary: 'out[ids[i], ...] += values[i, ...] into a zero [rows, ...] table (the adjoint of gather)',
    arity: 2,
    fusion: 'opaque',
    attrs: { rows: { kind: 'int' } },
    infer([ids, values], { rows }) {
      requireDType(ids!, 'i32', 'scatter indices');
      requireDType(values!, 'f32', 'scatter values');
      const lead = values!.shape.slice(0, ids!.shape.length);
      if (formatShape(lead) !== formatShape(ids!.shape)) throw new ShapeError(`values ${formatType(values!)} do not start with the ids' shape ${formatShape(ids!.shape)}`);
      return { dtype: 'f32', shape: [rows, ...values!.shape.slice(ids!.shape.length)] };
    },
    interpret([ids, values], { rows }, out) {
      const data = new Float64Array(numel(out.shape));
      const row = numel(out.shape.slice(1));
      for (let i = 0; i < ids!.data.length; i++) {
        const id = ids!.data[i]!;
        if (!(id >= 0 && id < rows)) throw new RangeError(`scatter index ${id} is out of range [0, ${rows})`);
        for (let j = 0; j < row; j++) data[id * row + j] += values!.data[i * row + j]!;
      }
      return { dtype: 'f32', shape: out.shape, data };
    },
    flops: ([, values]) => numel(values!.shape),
  }),

  gt: defineOp<Record<string, never>>({
    summary: '1 where a > b, else 0 (f32, broadcasting)',
    arity: 2,
    fusion: 'broadcast',
    attrs: {},
    infer([a, b]) {
      const shape = broadcastShapes(a!.shape, b!.shape);
      if (!shape || a!.dtype !== b!.dtype) throw new ShapeError(`cannot compare ${formatType(a!)} and ${formatType(b!)}`);
      return { dtype: 'f32', shape };
    },
    interpret([a, b], _a, out) {
      const ia = broadcastIndex(a!.shape, out.shape);
      const ib = broadcastIndex(b!.shape, out.shape);
      const data = new Float64Array(ia.length);
      for (let i = 0; i < data.length; i++) data[i] = a!.data[ia[i]!]! > b!.data[ib[i]!]! ? 1 : 0;
      return { dtype: 'f32', shape: out.shape, data };
    },
    flops: (_, out) => numel(out.shape),
  }),

  gelu_grad: backwardOf('dy · gelu\'(x)', geluDerivative),
  gelu_tanh_grad: backwardOf('dy · gelu_tanh\'(x)', geluTanhDerivative),

  layer_norm_dx: defineOp<{ eps: number }>({
    summary: 'the gradient of layer_norm with respect to x, from x, gamma and dy',
    arity: 3,
    fusion: 'reduction',
    attrs: { eps: { kind: 'float', default: 1e-5 } },
    infer([x, gamma, dy]) {
      if (formatType(x!) !== formatType(dy!)) throw new ShapeError(`x ${formatType(x!)} and dy ${formatType(dy!)} differ`);
      if (gamma!.shape.length !== 1 || gamma!.shape[0] !== x!.shape[x!.shape.length - 1]) throw new ShapeError(`gamma ${formatType(gamma!)} does not match ${formatType(x!)}`);
      return x!;
    },
    interpret([x, gamma, dy], { eps }) {
      const size = x!.shape[x!.shape.length - 1]!;
      const out = new Float64Array(x!.data.length);
      for (let base = 0; base < out.length; base += size) {
        const { mean, inv } = rowStats(x!.data, base, size, eps);
        // dx = inv · (g·dy − mean(g·dy) − x̂ · mean(g·dy · x̂))
        let meanG = 0;
        let meanGX = 0;
        for (let k = 0; k < size; k++) {
          const g = gamma!.data[k]! * dy!.data[base + k]!;
          meanG += g;
          meanGX += g * (x!.data[base + k]! - mean) * inv;
        }
        meanG /= size;
        meanGX /= size;
        for (let k = 0; k < size; k++) {
          const xhat = (x!.data[base + k]! - mean) * inv;
          out[base + k] = inv * (gamma!.data[k]! * dy!.data[base + k]! - meanG - xhat * meanGX);
        }
      }
      return { dtype: 'f32', shape: x!.shape, data: out };
    },
    flops: ([x]) => 12 * numel(x!.shape),
  }),

  cross_entropy: labelStatistic(
    'mean cross-entropy of softmax(logits) against labels, over the labels that are not ignore_index (0 if none)',
    (logits, row, label, classes) => logSumExp(logits, row, classes) - logits.data[row * classes + label]!,
    5,
  ),

  cross_entropy_grad: defineOp<{ ignore_index: number }>({
    summary: 'd cross_entropy / d logits times dloss: (softmax − one-hot) / count on labelled rows',
    arity: 3,
    fusion: 'reduction',
    attrs: { ignore_index: { kind: 'int', default: -100 } },
    infer([logits, labels, dloss]) {
      checkLogitsLabels(logits!, labels!);
      if (dloss!.shape.length !== 0) throw new ShapeError(`dloss must be a scalar, got ${formatType(dloss!)}`);
      return logits!;
    },
    interpret([logits, labels, dloss], { ignore_index }) {
      const classes = logits!.shape[logits!.shape.length - 1]!;
      const out = new Float64Array(logits!.data.length);
      const rows = labelledRows(labels!, classes, ignore_index);
      for (const [row, label] of rows) {
        const lse = logSumExp(logits!, row, classes);
        for (let c = 0; c < classes; c++) {
          const p = Math.exp(logits!.data[row * classes + c]! - lse);
          out[row * classes + c] = ((p - (c === label ? 1 : 0)) * dloss!.data[0]!) / rows.length;
        }
      }
      return { dtype: 'f32', shape: logits!.shape, data: out };
    },
    flops: ([logits]) => 6 * numel(logits!.shape),
  }),

  accuracy: labelStatistic(
    'fraction of labelled rows whose largest logit is the label (first maximum on ties; 0 if none)',
    (logits, row, label, classes) => {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits.data[row * classes + c]! > logits.data[row * classes + best]!) best = c;
      return best === label ? 1 : 0;
    },
    1,
  ),

  sample: defineOp<{ stream: number }>({
    summary: "a class drawn per row from the softmax of its logits [..., classes] (Gumbel-max: the largest logit + g, g = -log(-log u), u from the counter-based generator at the element's place; the first largest logit outside training)",
    arity: 1,
    fusion: 'opaque',
    stochastic: true,
    attrs: { stream: { kind: 'int', default: 0 } },
    infer([x]) {
      requireDType(x!, 'f32', 'logits');
      if (x!.shape.length < 1) throw new ShapeError(`sample needs logits [..., classes], got ${formatType(x!)}`);
      return { dtype: 'i32', shape: x!.shape.slice(0, -1) };
    },
    interpret([x], { stream }, out, ctx) {
      const classes = x!.shape[x!.shape.length - 1]!;
      const data = new Int32Array(numel(out.shape));
      for (let row = 0; row < data.length; row++) {
        let [best, top] = [0, -Infinity];
        for (let c = 0; c < classes; c++) {
          const at = row * classes + c;
          const noise = ctx.training ? gumbel(uniform01(ctx.seed, stream, ctx.step, at)) : 0;
          const v = x!.data[at]! + noise;
          if (v > top) [best, top] = [c, v];
        }
        data[row] = best;
      }
      return { dtype: 'i32', shape: out.shape, data };
    },
    flops: ([x]) => 4 * numel(x!.shape),
  }),
};

/** Gumbel noise from a uniform draw in [0, 1): -log(-log u) (u = 0 gives -∞, never chosen). */
export function gumbel(u: number): number {
  return -Math.log(-Math.log(u));
}
