// Kernel expressions → WGSL. Every expression carries its type (f32, i32 or
// bool), so rendering is direct; shared subexpressions become `let`s.
// Functions that WGSL leaves loosely specified (max and min with NaN, tanh of
// large values, pow, erf) are written out so that the GPU computes the
// formulas the CPU backend and the interpreter compute. Integer division and
// modulo are floor division and modulo, as the kernel IR states; the plain
// operators are used where range analysis shows both operands non-negative.

import { ExprScope } from '../common/expr-scope.js';
import { entryFor, isCompositeBinary } from '../../kernel/composite.js';
import type { BinaryFn, Composite, KExpr, PrimitiveUnary, ScalarType, Space, UnaryFn } from '../../kernel/ir.js';

export function literal(value: number, type: ScalarType): string {
  if (type === 'bool') return value ? 'true' : 'false';
  if (type === 'i32') return `${Math.trunc(value)}i`;
  if (Number.isNaN(value)) return 'special_f32(2u)';
  if (!Number.isFinite(value)) return value > 0 ? 'special_f32(0u)' : 'special_f32(1u)';
  const f = Math.fround(value);
  if (!Number.isFinite(f)) return f > 0 ? 'special_f32(0u)' : 'special_f32(1u)';
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38) return '0.0f'; // subnormal: flushed by most GPUs anyway
  // The double's shortest form of the f32 value: exact, so WGSL reads back the same f32.
  const text = Object.is(f, -0) ? '-0.0' : String(f);
  return `${/[.e]/.test(text) ? text : `${text}.0`}f`;
}

/** The composite functions this backend computes with its own WGSL helpers. */
export const WGSL_INTRINSICS = ['sigmoid', 'gelu', 'gelu_tanh', 'gelu_grad', 'gelu_tanh_grad'] as const satisfies readonly Composite[];
type Intrinsic = (typeof WGSL_INTRINSICS)[number];

const UNARY: { readonly [F in PrimitiveUnary | Extract<Intrinsic, UnaryFn>]: (x: string) => string } = {
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

/** Composite binary intrinsics, (x, dy) → dy · f'(x). */
const BINARY_INTRINSICS: { readonly [F in Extract<Intrinsic, BinaryFn>]: (x: string, dy: string) => string } = {
  gelu_grad: (x, dy) => `(${dy} * gelu_grad_f32(${x}))`,
  gelu_tanh_grad: (x, dy) => `(${dy} * gelu_tanh_grad_f32(${x}))`,
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
  floor_mod: `fn floor_mod(a: i32, b: i32) -> i32 {
  let r = a % b;
  return select(r, r + b, (r != 0i) && ((r < 0i) != (b < 0i)));
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

/** How a kernel names its coordinates and args. */
export interface WgslNames {
  readonly idx: (axis: number) => string;
  readonly ridx: (axis: number) => string;
  readonly arg: (arg: number) => string;
}

export class WgslExprs extends ExprScope {
  constructor(
    space: Space,
    private readonly names: WgslNames,
    prefix = 't',
  ) {
    super(space, prefix);
  }

  protected child(prefix: string): this {
    return new WgslExprs(this.space, this.names, prefix) as this;
  }

  protected declare(name: string, e: KExpr, value: string): string {
    return `let ${name} = ${value};`;
  }

  render(e: KExpr): string {
    const name = this.named.get(e);
    if (name) return name;
    const go = (x: KExpr) => this.render(x);
    switch (e.op) {
      case 'const': return literal(e.value, e.type);
      case 'idx': return this.names.idx(e.axis);
      case 'ridx': return this.names.ridx(e.axis);
      case 'var': return `v${e.id}`;
      case 'acc': return 'acc';
      case 'load': return `${this.names.arg(e.arg)}[${go(e.index)}]`;
      case 'unary': return entryFor(UNARY, e.fn)(go(e.x));
      case 'cast':
        if (e.x.type === 'bool') return e.type === 'f32' ? `select(0.0f, 1.0f, ${go(e.x)})` : `select(0i, 1i, ${go(e.x)})`;
        return `${e.type}(${go(e.x)})`;
      case 'where': return `select(${go(e.else)}, ${go(e.then)}, ${go(e.cond)})`;
      case 'random': return `uniform01(rt.seed, ks.s[${e.stream >> 2}][${e.stream & 3}], rt.step, u32(${go(e.element)}))`;
      case 'binary': {
        const [a, b] = [go(e.a), go(e.b)];
        if (isCompositeBinary(e.fn)) return entryFor(BINARY_INTRINSICS, e.fn)(a, b);
        switch (e.fn) {
          case 'add': return `(${a} + ${b})`;
          case 'sub': return `(${a} - ${b})`;
          case 'mul': return `(${a} * ${b})`;
          case 'div': return `(${a} / ${b})`;
          case 'max': return `select(${b}, ${a}, ${a} > ${b})`;
          case 'min': return `select(${b}, ${a}, ${a} < ${b})`;
          case 'lt': return `(${a} < ${b})`;
          case 'pow': return `pow(${a}, ${b})`;
          case 'idiv': return this.nonNegative(e.a) && this.nonNegative(e.b) ? `(${a} / ${b})` : `floor_div(${a}, ${b})`;
          case 'mod': return this.nonNegative(e.a) && this.nonNegative(e.b) ? `(${a} % ${b})` : `floor_mod(${a}, ${b})`;
        }
      }
    }
  }
}
