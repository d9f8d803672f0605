// Matrix multiplication: the matmul-like fusion class, with optional
// transposition of either operand and NumPy broadcasting of batch dimensions.

import { broadcastShapes, formatType, numel, type TensorType } from '../types.js';
import { defineOp, requireDType, ShapeError } from './def.js';

interface MatmulAttrs {
  transpose_a: boolean;
  transpose_b: boolean;
}

interface MatmulDims {
  batch: number[];
  m: number;
  k: number;
  n: number;
}

function matmulDims(a: TensorType, b: TensorType, { transpose_a, transpose_b }: MatmulAttrs): MatmulDims {
  if (a.shape.length < 2 || b.shape.length < 2) throw new ShapeError(`matmul operands need rank >= 2, got ${formatType(a)} and ${formatType(b)}`);
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, ka] = transpose_a ? [ac, ar] : [ar, ac];
  const [kb, n] = transpose_b ? [bc, br] : [br, bc];
  const flags = `${transpose_a ? ' transpose_a' : ''}${transpose_b ? ' transpose_b' : ''}`;
  if (ka !== kb) throw new ShapeError(`matmul${flags}: contraction sizes differ (${ka} vs ${kb}) for ${formatType(a)} and ${formatType(b)}`);
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (!batch) throw new ShapeError(`matmul batch dimensions of ${formatType(a)} and ${formatType(b)} do not broadcast`);
  return { batch, m, k: ka, n };
}

export const linalgOps = {
  matmul: defineOp<MatmulAttrs>({
    summary: 'batched a @ b over the last two axes, either operand optionally transposed',
    arity: 2,
    fusion: 'matmul',
    attrs: { transpose_a: { kind: 'bool', default: false }, transpose_b: { kind: 'bool', default: false } },
    infer([a, b], attrs) {
      requireDType(a!, 'f32', 'matmul operand');
      requireDType(b!, 'f32', 'matmul operand');
      const { batch, m, n } = matmulDims(a!, b!, attrs);
      return { dtype: 'f32', shape: [...batch, m, n] };
    },
    interpret([a, b], attrs, out) {
      const { batch, m, k, n } = matmulDims(a!, b!, attrs);
      const batches = numel(batch);
      const aBatch = numel(a!.shape.slice(0, -2));
      const bBatch = numel(b!.shape.slice(0, -2));
      // Broadcast batch index → operand batch index (shapes are equal or one side is 1 per axis).
      const batchIndex = (shape: readonly number[], flat: number): number => {
        let index = 0;
        let stride = 1;
        let rest = flat;
        for (let d = batch.length - 1; d >= 0; d--) {
          const coord = rest % batch[d]!;
          rest = Math.floor(rest / batch[d]!);
          const j = d - (batch.length - shape.length);
          if (j >= 0) {
            if (shape[j] !== 1) index += coord * stride;
            stride *= shape[j]!;
          }
        }
        return index;
      };
      const aRows = attrs.transpose_a ? [1, m] : [k, 1]; // [stride of i, stride of kk]
      const bCols = attrs.transpose_b ? [1, k] : [n, 1]; // [stride of kk, stride of j]
      const result = new Float64Array(numel(out.shape));
      for (let t = 0; t < batches; t++) {
        const aOff = (aBatch === 1 ? 0 : batchIndex(a!.shape.slice(0, -2), t)) * m * k;
        const bOff = (bBatch === 1 ? 0 : batchIndex(b!.shape.slice(0, -2), t)) * k * n;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let sum = 0;
            for (let kk = 0; kk < k; kk++) {
              sum += a!.data[aOff + i * aRows[0]! + kk * aRows[1]!]! * b!.data[bOff + kk * bCols[0]! + j * bCols[1]!]!;
            }
            result[t * m * n + i * n + j] = sum;
          }
        }
      }
      return { dtype: 'f32', shape: out.shape, data: result };
    },
    flops([a, b], _out, attrs) {
      const { batch, m, k, n } = matmulDims(a!, b!, attrs);
      return 2 * numel(batch) * m * k * n;
    },
  }),
};
