// Host tensors: row-major typed arrays with a type. The float64 interpreter
// holds f32 values in Float64Array so that it is the exact oracle.

import { type DType, type Shape, type TensorType, numel, stridesOf } from './types.js';

export type HostData = Float64Array | Float32Array | Int32Array;

export interface HostTensor {
  readonly dtype: DType;
  readonly shape: Shape;
  readonly data: HostData;
}

export function zerosF64(shape: Shape): HostTensor {
  return { dtype: 'f32', shape: [...shape], data: new Float64Array(numel(shape)) };
}

export function zerosLike(t: TensorType): HostTensor {
  const n = numel(t.shape);
  return { dtype: t.dtype, shape: [...t.shape], data: t.dtype === 'i32' ? new Int32Array(n) : new Float64Array(n) };
}

export function hostTensor(dtype: DType, shape: Shape, values: ArrayLike<number>): HostTensor {
  const n = numel(shape);
  if (values.length !== n) throw new Error(`tensor of shape [${shape.join(',')}] needs ${n} values, got ${values.length}`);
  const data = dtype === 'i32' ? Int32Array.from(values) : Float64Array.from(values);
  return { dtype, shape: [...shape], data };
}

/**
 * For each element of `out`, the flat index of the element of `input` that
 * broadcasting maps to it. Used by every broadcasting op of the interpreter.
 */
export function broadcastIndex(input: Shape, out: Shape): Int32Array {
  const n = numel(out);
  const index = new Int32Array(n);
  const rank = out.length;
  const inStrides = stridesOf(input);
  // Stride 0 along broadcast (size-1 or missing) dimensions.
  const strides = out.map((_, i) => {
    const j = i - (rank - input.length);
    return j < 0 || input[j] === 1 ? 0 : inStrides[j]!;
  });
  const counter = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let e = 0; e < n; e++) {
    index[e] = offset;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]!++;
      offset += strides[d]!;
      if (counter[d]! < out[d]!) break;
      offset -= strides[d]! * counter[d]!;
      counter[d] = 0;
    }
  }
  return index;
}
