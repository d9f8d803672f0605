// Scalar functions the generated JavaScript calls, with the interpreter's
// exact definitions (so both compute the same formulas, in doubles).

import { erf } from '../../compiler/ir/ops/elementwise.js';
import { geluDerivative, geluTanhDerivative } from '../../compiler/ir/ops/training.js';
import { uniform01 } from '../../compiler/ir/random.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export const cpuHelpers = {
  erf,
  gelu: (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  geluTanh: (x: number) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
  geluGrad: geluDerivative,
  geluTanhGrad: geluTanhDerivative,
  relu: (x: number) => (x > 0 ? x : 0),
  maximum: (a: number, b: number) => (a > b ? a : b),
  minimum: (a: number, b: number) => (a < b ? a : b),
  uniform01,
};
