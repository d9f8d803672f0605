// Scalar expressions of the kernel IR → WGSL. WGSL is strictly typed, so
// every expression is rendered with its type (f32, i32 or bool) and converted
// where a use needs another: comparisons are bools, and become 0/1 only where
// a number is stored. Functions that WGSL leaves loosely specified (max and
// min with NaN, tanh of large values, pow) are written out so that the GPU
// computes the formulas the CPU backend and the interpreter compute.

import type { BinaryFn, KExpr, ScalarType, UnaryFn } from '../../compiler/lower/kernel.js';

export type WType = 'f32' | 'i32' | 'bool';

export interface Typed {
  readonly code: string;
  readonly type: WType;
}

/** How the expression reaches its operands: the variable of each input slot, and the accumulator's type. */
export interface ExprScope {
  readonly slot: (slot: number) => { readonly name: string; readonly type: ScalarType };
}

function literal(value: number, type: ScalarType): string {
  if (type === 'i32') return `${Math.trunc(value)}i`;
  if (Number.isNaN(value)) return 'special_f32(2u)';
  if (!Number.isFinite(value)) return value > 0 ? 'special_f32(0u)' : 'special_f32(1u)';
  const f = Math.fround(value);
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38) return '0.0f'; // subnormal: flushed by most GPUs anyway
  // The double's shortest form of the f32 value: exact, so WGSL reads back the same f32.
  const text = Object.is(f, -0) ? '-0.0' : String(f);
  return `${/[.e]/.test(text) ? text : `${text}.0`}f`;
}

export function convert(e: Typed, to: WType): string {
  if (e.type === to) return e.code;
  if (e.type === 'bool') return to === 'f32' ? `select(0.0f, 1.0f, ${e.code})` : `select(0i, 1i, ${e.code})`;
  if (to === 'bool') return `(${e.code} != ${e.type === 'f32' ? '0.0f' : '0i'})`;
  return `${to}(${e.code})`;
}

const UNARY: Record<UnaryFn, (x: string) => string> = {
  neg: (x) => `(-${x})`,
  exp: (x) => `exp(${x})`,
  log: (x) => `log(${x})`,
  sqrt: (x) => `sqrt(${x})`,
  rsqrt: (x) => `(1.0f / sqrt(${x}))`,
  tanh: (x) => `tanh_safe(${x})`,
  sigmoid: (x) => `(1.0f / (1.0f + exp(-${x})))`,
  erf: (x) => `erf_f32(${x})`,
  relu: (x) => `select(0.0f, ${x}, ${x} > 0.0f)`,
  gelu: (x) => `gelu_f32(${x})`,
  gelu_tanh: (x) => `gelu_tanh_f32(${x})`,
  sin: (x) => `sin(${x})`,
  cos: (x) => `cos(${x})`,
};

/** Helper functions the expressions call; a kernel includes those it uses. */
export const HELPERS: Record<string, string> = {
  special_f32: `// Infinities and NaN: WGSL rejects them as constants, so they come from bits held in a variable.
var<private> special_bits: array<u32, 3> = array<u32, 3>(0x7f800000u, 0xff800000u, 0x7fc00000u);
fn special_f32(which: u32) -> f32 { return bitcast<f32>(special_bits[which]); }`,
  tanh_safe: `fn tanh_safe(x: f32) -> f32 {
  // tanh saturates to ±1 in f32 beyond |x| = 9; clamping keeps exp from overflowing in drivers that expand it.
  return tanh(clamp(x, -15.0f, 15.0f));
}`,
  erf_f32: `fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5f) {
    // Maclaurin series: relative error below 1e-8 on |x| < 0.5.
    let x2 = x * x;
    return 1.1283791671f * x * (1.0f + x2 * (-0.333333333f + x2 * (0.1f + x2 * (-0.0238095238f + x2 * (0.00462962963f + x2 * -0.000757575758f)))));
  }
  // erfc by the Chebyshev fit of Numerical Recipes (fractional error below 1.2e-7).
  let t = 1.0f / (1.0f + 0.5f * a);
  let erfc = t * exp(-a * a - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
  return sign(x) * (1.0f - erfc);
}`,
  gelu_f32: `fn gelu_f32(x: f32) -> f32 {
  return 0.5f * x * (1.0f + erf_f32(x * 0.707106781f));
}`,
  gelu_tanh_f32: `fn gelu_tanh_f32(x: f32) -> f32 {
  return 0.5f * x * (1.0f + tanh_safe(0.797884561f * (x + 0.044715f * x * x * x)));
}`,
  gelu_grad_f32: `fn gelu_grad_f32(x: f32) -> f32 {
  return 0.5f * (1.0f + erf_f32(x * 0.707106781f)) + x * exp(-0.5f * x * x) * 0.398942280f;
}`,
  gelu_tanh_grad_f32: `fn gelu_tanh_grad_f32(x: f32) -> f32 {
  let t = tanh_safe(0.797884561f * (x + 0.044715f * x * x * x));
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * 0.797884561f * (1.0f + 0.134145f * x * x);
}`,
  floor_div: `fn floor_div(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1i, (a % b != 0i) && ((a < 0i) != (b < 0i)));
}`,
  uniform01: `// Threefry-2x32-20 (as in JAX): 32-bit add, rotate and xor, the same bits as the CPU.
fn rotl(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }
fn uniform01(k0: u32, k1: u32, c0: u32, c1: u32) -> f32 {
  let rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  let ks = array<u32, 3>(k0, k1, 0x1bd11bdau ^ k0 ^ k1);
  var x0 = c0 + ks[0];
  var x1 = c1 + ks[1];
  for (var block = 0u; block < 5u; block++) {
    let r = (block & 1u) * 4u;
    for (var i = 0u; i < 4u; i++) {
      x0 = x0 + x1;
      x1 = rotl(x1, rot[r + i]) ^ x0;
    }
    let s = block + 1u;
    x0 = x0 + ks[s % 3u];
    x1 = x1 + ks[(s + 1u) % 3u] + s;
  }
  return f32(x0 >> 8u) * 5.9604644775390625e-8f;
}`,
};

/** Which helpers a helper needs besides itself. */
const NEEDS: Record<string, readonly string[]> = {
  gelu_f32: ['erf_f32'],
  gelu_grad_f32: ['erf_f32'],
  gelu_tanh_f32: ['tanh_safe'],
  gelu_tanh_grad_f32: ['tanh_safe'],
};

/** The helper functions used in `code`, with their own needs, in a stable order. */
export function helpersFor(code: string): string[] {
  const used = new Set<string>();
  const visit = (name: string) => {
    if (used.has(name)) return;
    for (const need of NEEDS[name] ?? []) visit(need);
    used.add(name);
  };
  for (const name of Object.keys(HELPERS)) if (new RegExp(`\\b${name}\\(`).test(code)) visit(name);
  return [...used].map((name) => HELPERS[name]!);
}

const numeric = (a: Typed, b: Typed): WType => (a.type === 'f32' || b.type === 'f32' ? 'f32' : a.type === 'bool' && b.type === 'bool' ? 'i32' : a.type === 'bool' ? b.type : a.type);

function renderBinary(fn: BinaryFn, a: Typed, b: Typed): Typed {
  const t = numeric(a, b);
  const x = convert(a, t);
  const y = convert(b, t);
  switch (fn) {
    case 'add': return { code: `(${x} + ${y})`, type: t };
    case 'sub': return { code: `(${x} - ${y})`, type: t };
    case 'mul': return { code: `(${x} * ${y})`, type: t };
    case 'div': return { code: `(${x} / ${y})`, type: t };
    case 'mod': return { code: `(${x} % ${y})`, type: t };
    case 'max': return { code: `select(${y}, ${x}, ${x} > ${y})`, type: t };
    case 'min': return { code: `select(${y}, ${x}, ${x} < ${y})`, type: t };
    case 'lt': return { code: `(${x} < ${y})`, type: 'bool' };
    case 'pow': return { code: `pow(${convert(a, 'f32')}, ${convert(b, 'f32')})`, type: 'f32' };
    case 'idiv': return t === 'i32' ? { code: `floor_div(${x}, ${y})`, type: 'i32' } : { code: `floor(${x} / ${y})`, type: 'f32' };
    case 'gelu_grad': return { code: `(${convert(b, 'f32')} * gelu_grad_f32(${convert(a, 'f32')}))`, type: 'f32' };
    case 'gelu_tanh_grad': return { code: `(${convert(b, 'f32')} * gelu_tanh_grad_f32(${convert(a, 'f32')}))`, type: 'f32' };
  }
}

/**
 * Renders an expression. `idx` axes are the variables c0, c1, …; `ridx` is r;
 * `acc` is acc; random draws read the run's seed and step from `rt`.
 */
export function renderExpr(e: KExpr, scope: ExprScope, accType: WType = 'f32'): Typed {
  const go = (x: KExpr) => renderExpr(x, scope, accType);
  switch (e.op) {
    case 'const': return { code: literal(e.value, e.type), type: e.type };
    case 'idx': return { code: `c${e.axis}`, type: 'i32' };
    case 'ridx': return { code: 'r', type: 'i32' };
    case 'acc': return { code: 'acc', type: accType };
    case 'load': {
      const { name, type } = scope.slot(e.slot);
      return { code: `${name}[${convert(go(e.index), 'i32')}]`, type };
    }
    case 'unary': {
      const x = go(e.x);
      if (e.fn === 'neg' && x.type === 'i32') return { code: `(-${x.code})`, type: 'i32' };
      return { code: UNARY[e.fn](convert(x, 'f32')), type: 'f32' };
    }
    case 'binary': return renderBinary(e.fn, go(e.a), go(e.b));
    case 'where': {
      const then = go(e.then);
      const other = go(e.else);
      const t = numeric(then, other);
      return { code: `select(${convert(other, t)}, ${convert(then, t)}, ${convert(go(e.cond), 'bool')})`, type: t };
    }
    case 'cast': return { code: convert(go(e.x), e.to), type: e.to };
    case 'random': return { code: `uniform01(rt.seed, ${e.stream >>> 0}u, rt.step, u32(${convert(go(e.element), 'i32')}))`, type: 'f32' };
  }
}

/** Whether an expression draws random numbers (and so needs the run's seed and step). */
export function usesRandom(e: KExpr): boolean {
  switch (e.op) {
    case 'random': return true;
    case 'load': return usesRandom(e.index);
    case 'unary': case 'cast': return usesRandom(e.x);
    case 'binary': return usesRandom(e.a) || usesRandom(e.b);
    case 'where': return usesRandom(e.cond) || usesRandom(e.then) || usesRandom(e.else);
    default: return false;
  }
}
