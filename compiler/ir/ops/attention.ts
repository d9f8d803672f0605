// Scaled dot-product attention as one op, and the two halves of its
// gradient. The attention-fusion pass rewrites the composition
// matmul(q, kᵀ) → scale → + mask → softmax → dropout → matmul(·, v) into
// `attention`, so that a kernel can compute it without storing a row of
// scores; its dropout draws exactly the mask the composed graph draws (the
// same stream, counted over the [..., queries, keys] probabilities).
//
//   attention(q, k, v, mask)        softmax(q·kᵀ·scale + mask) ⊙ keep · v
//   attention_lse(q, k, mask)       each row's log-sum-exp of q·kᵀ·scale + mask
//   attention_grad(q, k, v, mask, dO, lse, delta) {wrt}
//                                   dq, dk, dv or dmask (the scores' gradient,
//                                   [..., queries, keys]), with the
//                                   probabilities recomputed from lse (at
//                                   most 1: e^min(s − lse, 0), which a
//                                   row's own lse never reaches, so that a
//                                   row whose lse covers fewer keys gives no
//                                   infinities), and delta = Σ dO ⊙ O per row
//                                   (Σⱼ pᵢⱼ·keepᵢⱼ·(dO·v)ᵢⱼ)

import { uniform01 } from '../../../numerics/threefry.js';
import type { HostTensor } from '../tensor.js';
import { broadcastShapes, formatType, numel, type TensorType } from '../types.js';
import { defineOp, requireDType, ShapeError } from './def.js';

interface AttentionAttrs {
  scale: number;
  rate: number;
  stream: number;
}

interface Dims {
  batch: number[];
  queries: number;
  keys: number;
  depth: number;
  depthV: number;
}

function attentionDims(q: TensorType, k: TensorType, v: TensorType | undefined, mask: TensorType): Dims {
  for (const [what, t] of [['q', q], ['k', k], ['v', v], ['mask', mask]] as const) if (t) requireDType(t, 'f32', `attention ${what}`);
  if (q.shape.length < 2) throw new ShapeError(`attention q needs rank >= 2, got ${formatType(q)}`);
  const batch = q.shape.slice(0, -2);
  const same = (t: TensorType) => t.shape.length === q.shape.length && t.shape.slice(0, -2).every((d, i) => d === batch[i]);
  if (!same(k) || (v && !same(v))) throw new ShapeError(`attention q ${formatType(q)}, k ${formatType(k)}${v ? ` and v ${formatType(v)}` : ''} need the same batch axes`);
  const [queries, depth] = q.shape.slice(-2) as [number, number];
  const [keys, kDepth] = k.shape.slice(-2) as [number, number];
  if (kDepth !== depth) throw new ShapeError(`attention q ${formatType(q)} and k ${formatType(k)} differ in depth`);
  if (v && v.shape[v.shape.length - 2] !== keys) throw new ShapeError(`attention v ${formatType(v)} does not have the ${keys} keys of k ${formatType(k)}`);
  const scores = [...batch, queries, keys];
  const joined = broadcastShapes(mask.shape, scores);
  if (!joined || joined.join() !== scores.join()) throw new ShapeError(`attention mask ${formatType(mask)} does not broadcast to the scores [${scores.join(',')}]`);
  return { batch, queries, keys, depth, depthV: v ? v.shape[v.shape.length - 1]! : 0 };
}

/**
 * Per batch entry and query row: the scores, their log-sum-exp and the
 * dropout factors (1/(1−rate) kept, 0 dropped; all 1 outside training).
 */
function rows(q: HostTensor, k: HostTensor, mask: HostTensor, d: Dims, attrs: AttentionAttrs, dropout: { seed: number; step: number } | undefined,
  visit: (b: number, i: number, scores: Float64Array, lse: number, keep: Float64Array) => void): void {
  const { queries, keys, depth } = d;
  const batches = numel(d.batch);
  const scoreShape = [...d.batch, queries, keys];
  const maskStrides = broadcastStrides(mask.shape, scoreShape);
  const scores = new Float64Array(keys);
  const keep = new Float64Array(keys);
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < queries; i++) {
      let top = -Infinity;
      for (let j = 0; j < keys; j++) {
        let dot = 0;
        for (let p = 0; p < depth; p++) dot += q.data[(b * queries + i) * depth + p]! * k.data[(b * keys + j) * depth + p]!;
        const flat = (b * queries + i) * keys + j;
        scores[j] = dot * attrs.scale + mask.data[maskIndex(flat, scoreShape, maskStrides)]!;
        top = Math.max(top, scores[j]!);
        keep[j] = dropout && attrs.rate > 0 ? (uniform01(dropout.seed, attrs.stream, dropout.step, flat) < attrs.rate ? 0 : 1 / (1 - attrs.rate)) : 1;
      }
      let sum = 0;
      for (let j = 0; j < keys; j++) sum += Math.exp(scores[j]! - top);
      visit(b, i, scores, top + Math.log(sum), keep);
    }
  }
}

function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const strides: number[] = [];
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = shape[d] === 1 ? 0 : s;
    s *= shape[d]!;
  }
  return out.map((_, i) => (i < out.length - shape.length ? 0 : strides[i - (out.length - shape.length)]!));
}

function maskIndex(flat: number, out: readonly number[], strides: readonly number[]): number {
  let index = 0;
  for (let d = out.length - 1; d >= 0; d--) {
    index += (flat % out[d]!) * strides[d]!;
    flat = Math.floor(flat / out[d]!);
  }
  return index;
}

const ATTRS = { scale: { kind: 'float', default: 1 }, rate: { kind: 'float', default: 0 }, stream: { kind: 'int', default: 0 } } as const;

export const attentionOps = {
  attention: defineOp<AttentionAttrs>({
    summary: 'softmax(q·kᵀ·scale + mask) · v, with dropout on the probabilities when training',
    arity: 4,
    fusion: 'matmul',
    stochastic: true,
    attrs: ATTRS,
    infer([q, k, v, mask]) {
      const d = attentionDims(q!, k!, v!, mask!);
      return { dtype: 'f32', shape: [...d.batch, d.queries, d.depthV] };
    },
    interpret([q, k, v, mask], attrs, out, ctx) {
      const d = attentionDims(q!, k!, v!, mask!);
      const result = new Float64Array(numel(out.shape));
      rows(q!, k!, mask!, d, attrs, ctx.training ? ctx : undefined, (b, i, scores, lse, keep) => {
        for (let j = 0; j < d.keys; j++) {
          const p = Math.exp(scores[j]! - lse) * keep[j]!;
          for (let c = 0; c < d.depthV; c++) result[(b * d.queries + i) * d.depthV + c]! += p * v!.data[(b * d.keys + j) * d.depthV + c]!;
        }
      });
      return { dtype: 'f32', shape: out.shape, data: result };
    },
    flops([q, k, v]) {
      const d = attentionDims(q!, k!, v!, { dtype: 'f32', shape: [] });
      return numel(d.batch) * d.queries * d.keys * (2 * d.depth + 2 * d.depthV + 5);
    },
  }),

  attention_lse: defineOp<{ scale: number }>({
    summary: 'the log-sum-exp of each row of q·kᵀ·scale + mask (what attention\'s gradient recomputes its probabilities from)',
    arity: 3,
    fusion: 'matmul',
    attrs: { scale: ATTRS.scale },
    infer([q, k, mask]) {
      const d = attentionDims(q!, k!, undefined, mask!);
      return { dtype: 'f32', shape: [...d.batch, d.queries] };
    },
    interpret([q, k, mask], { scale }, out) {
      const d = attentionDims(q!, k!, undefined, mask!);
      const result = new Float64Array(numel(out.shape));
      rows(q!, k!, mask!, d, { scale, rate: 0, stream: 0 }, undefined, (b, i, _s, lse) => (result[b * d.queries + i] = lse));
      return { dtype: 'f32', shape: out.shape, data: result };
    },
    flops([q, k]) {
      const d = attentionDims(q!, k!, undefined, { dtype: 'f32', shape: [] });
      return numel(d.batch) * d.queries * d.keys * (2 * d.depth + 3);
    },
  }),

  attention_grad: defineOp<AttentionAttrs & { wrt: string }>({
    summary: 'the gradient of attention with respect to q, k, v or the scores (mask), from dO, the rows\' log-sum-exp and delta = Σ dO ⊙ O',
    arity: 7,
    fusion: 'matmul',
    stochastic: true,
    attrs: { ...ATTRS, wrt: { kind: 'string', oneOf: ['q', 'k', 'v', 'mask'] } },
    infer([q, k, v, mask, dout, lse, delta], { wrt }) {
      const d = attentionDims(q!, k!, v!, mask!);
      const rowsShape = [...d.batch, d.queries];
      if (dout!.shape.join() !== [...rowsShape, d.depthV].join()) throw new ShapeError(`attention_grad dO ${formatType(dout!)} is not attention's output [${[...rowsShape, d.depthV].join(',')}]`);
      for (const t of [lse!, delta!]) if (t.shape.join() !== rowsShape.join()) throw new ShapeError(`attention_grad row statistics ${formatType(t)} are not [${rowsShape.join(',')}]`);
      if (wrt === 'mask') return { dtype: 'f32', shape: [...rowsShape, d.keys] };
      return wrt === 'q' ? q! : wrt === 'k' ? k! : v!;
    },
    interpret([q, k, v, mask, dout, lse, delta], attrs, out, ctx) {
      const d = attentionDims(q!, k!, v!, mask!);
      const result = new Float64Array(numel(out.shape));
      rows(q!, k!, mask!, d, attrs, ctx.training ? ctx : undefined, (b, i, scores, _lse, keep) => {
        const row = b * d.queries + i;
        const L = lse!.data[row]!;
        const D = delta!.data[row]!;
        for (let j = 0; j < d.keys; j++) {
          const p = Math.exp(Math.min(scores[j]! - L, 0));
          const key = b * d.keys + j;
          let dp = 0;
          for (let c = 0; c < d.depthV; c++) dp += dout!.data[row * d.depthV + c]! * v!.data[key * d.depthV + c]!;
          if (attrs.wrt === 'v') {
            for (let c = 0; c < d.depthV; c++) result[key * d.depthV + c]! += p * keep[j]! * dout!.data[row * d.depthV + c]!;
            continue;
          }
          if (attrs.wrt === 'mask') {
            result[row * d.keys + j] = p * (dp * keep[j]! - D);
            continue;
          }
          const ds = p * (dp * keep[j]! - D) * attrs.scale;
          for (let c = 0; c < d.depth; c++) {
            if (attrs.wrt === 'q') result[row * d.depth + c]! += ds * k!.data[key * d.depth + c]!;
            else result[key * d.depth + c]! += ds * q!.data[row * d.depth + c]!;
          }
        }
      });
      return { dtype: 'f32', shape: out.shape, data: result };
    },
    flops([q, k, v], _out, { wrt }) {
      const d = attentionDims(q!, k!, v!, { dtype: 'f32', shape: [] });
      // The fused kernel computes scores, dO·v and dq in one pass, scores, dO·v, dv and dk in another: seven products, a third each.
      const products = wrt === 'q' ? 3 : wrt === 'mask' ? 0 : 2;
      return numel(d.batch) * d.queries * d.keys * (products * (d.depth + d.depthV) + 4);
    },
  }),
};
