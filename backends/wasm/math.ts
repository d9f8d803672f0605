// exp, tanh and erf in WebAssembly, f32 in and out: the native backend's
// polynomials (backends/native/prelude.c states their accuracy, and
// test/backends/native-math.test.ts holds both to it), so that the hot
// loops of softmax and GELU never call out of wasm. log, sin, cos and pow
// stay the host's (losses and positions: not hot).

import type { Code, ModuleBuilder } from './encode.js';

/** p(x) by Horner's rule: coefficients from the highest power down; x in a local. */
function horner(c: Code, x: number, coefficients: readonly number[]): void {
  c.f32(coefficients[0]!);
  for (const k of coefficients.slice(1)) c.get(x).f32Mul().f32(k).f32Add();
}

/** Pushes e^x of the f32 in local x: 2^n · e^r (Cody–Waite reduction, degree-9 polynomial); 0 below −87.3, ∞ above 88.72. */
export function inlineExp(c: Code, x: number): void {
  const [xc, n, r] = [c.local('f32'), c.local('f32'), c.local('f32')];
  // Clamped by selects (wasm's f32.min and f32.max cost a NaN-handling sequence each on x86).
  c.f32(-87.3).f32(88.72).get(x).get(x).f32(88.72).f32Gt().select().get(x).f32(-87.3).f32Lt().select().set(xc);
  c.get(xc).f32(1.44269504).f32Mul().f32Floor().set(n);
  c.get(xc).get(n).f32(0.693359375).f32Mul().f32Sub().get(n).f32(-2.1219444e-4).f32Mul().f32Sub().set(r);
  horner(c, r, [2.75573192e-6, 2.48015873e-5, 1.98412698e-4, 1.38888889e-3, 8.33333333e-3, 4.16666667e-2, 1.66666667e-1, 0.5, 1, 1]);
  // 2^n: n (a whole number in [−127, 128]) plus 1.5·2²³ holds n in its low mantissa bits; no saturating conversion needed.
  c.get(n).f32(12582912).f32Add().i32ReinterpretF32().i32(0x4b400000 - 127).i32Sub().i32(23).i32Shl().f32ReinterpretI32().f32Mul().set(r);
  // x < −87.3 ? 0 : x > 88.72 ? ∞ : e (select takes its first operand when the condition holds)
  c.f32(0);
  c.f32(Infinity).get(r).get(x).f32(88.72).f32Gt().select();
  c.get(x).f32(-87.3).f32Lt().select();
}

/** Pushes tanh of local x: the odd Taylor series to x¹¹ for |x| < 0.3, else 1 − 2/(e^{2|x|} + 1) with x's sign. */
export function inlineTanh(c: Code, x: number): void {
  const [a, x2, big, twice] = [c.local('f32'), c.local('f32'), c.local('f32'), c.local('f32')];
  c.get(x).f32Abs().set(a);
  c.get(x).get(x).f32Mul().set(x2);
  c.get(a).f32(2).f32Mul().set(twice);
  c.f32(1).f32(2);
  inlineExp(c, twice);
  c.f32(1).f32Add().f32Div().f32Sub().set(big);
  // series: x·(1 + x2·(−1/3 + x2·(2/15 + …)))
  horner(c, x2, [-0.00886323553, 0.0218694885, -0.053968254, 0.133333333, -0.333333333, 1]);
  c.get(x).f32Mul();
  c.get(big).f32Neg().get(big).get(x).f32(0).f32Lt().select();
  c.get(a).f32(0.3).f32Lt().select();
}

/** Pushes erf of local x: its Maclaurin series for |x| < 0.5, else 1 − erfc(|x|) by Numerical Recipes' Chebyshev fit, with x's sign. */
export function inlineErf(c: Code, x: number): void {
  const [a, x2, t, tail] = [c.local('f32'), c.local('f32'), c.local('f32'), c.local('f32')];
  c.get(x).f32Abs().set(a);
  c.get(x).get(x).f32Mul().set(x2);
  c.f32(1).f32(1).get(a).f32(0.5).f32Mul().f32Add().f32Div().set(t);
  // erfc(a) = t · e^{poly(t) − a²}
  horner(c, t, [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223]);
  c.get(a).get(a).f32Mul().f32Sub().set(tail);
  inlineExp(c, tail);
  c.get(t).f32Mul().set(tail);
  c.f32(1).get(tail).f32Sub().set(tail);
  horner(c, x2, [-0.000757575758, 0.00462962963, -0.0238095238, 0.1, -0.333333333, 1]);
  c.get(x).f32Mul().f32(1.1283791671).f32Mul();
  c.get(tail).f32Neg().get(tail).get(x).f32(0).f32Lt().select();
  c.get(a).f32(0.5).f32Lt().select();
}

/** exp_f32(x) as a function, for attention's f32 and f64 exponentials. */
export function emitExp(mod: ModuleBuilder): number {
  return mod.func('exp_f32', ['f32'], ['f32'], (c) => inlineExp(c, 0), false);
}
