// Scalar functions the generated JavaScript calls, with the interpreter's
// exact definitions (so both compute the same formulas, in doubles), and the
// scratch arrays kernels reuse between calls (one kernel runs at a time).

import { erf, gelu, geluDerivative, geluTanh, geluTanhDerivative } from '../../numerics/scalar.js';
import { uniform01 } from '../../numerics/threefry.js';

/** Growable arrays by slot: at least `size` elements, contents undefined. */
function pool<T extends Float32Array | Float64Array>(make: (n: number) => T): (slot: number, size: number) => T {
  const arrays: T[] = [];
  return (slot, size) => {
    let a = arrays[slot];
    if (!a || a.length < size) {
      a = make(size);
      arrays[slot] = a;
    }
    return a;
  };
}

export const cpuHelpers = {
  erf,
  gelu,
  geluTanh,
  geluGrad: geluDerivative,
  geluTanhGrad: geluTanhDerivative,
  relu: (x: number) => (x > 0 ? x : 0),
  maximum: (a: number, b: number) => (a > b ? a : b),
  minimum: (a: number, b: number) => (a < b ? a : b),
  uniform01,
  /** Accumulators in doubles (attention rows). */
  scratch: pool((n) => new Float64Array(n)),
  /** Packed matmul operands, rounded to f32 as a stored value would be. */
  pack: pool((n) => new Float32Array(n)),
};
