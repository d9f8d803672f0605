// Composite scalar functions in primitive ones: the one place that says
// what sigmoid, GELU and their derivatives are made of in a kernel. A
// backend that computes one faster (a helper with better accuracy or speed)
// declares it among its intrinsics and renders it itself; for every other
// backend `legalize` expands it here before rendering, so a new backend
// needs only the primitive functions, and a new composite function needs
// only its line in EXPANSIONS. The expansions agree with numerics/scalar.ts
// (tested).

import { COMPOSITE_BINARY, COMPOSITE_UNARY, rebuildExpr, rebuildKernel, type BinaryFn, type Composite, type CompositeBinary, type CompositeUnary, type Kernel, type KExpr, type UnaryFn } from './ir.js';

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_CUBIC = 0.044715;

/** Builds f32 expressions, expanding any composite it is asked for that is not an intrinsic. */
class Expander {
  constructor(private readonly intrinsics: ReadonlySet<Composite>) {}

  c = (value: number): KExpr => ({ op: 'const', type: 'f32', value });
  add = (a: KExpr, b: KExpr) => this.binary('add', a, b);
  sub = (a: KExpr, b: KExpr) => this.binary('sub', a, b);
  mul = (a: KExpr, b: KExpr) => this.binary('mul', a, b);
  div = (a: KExpr, b: KExpr) => this.binary('div', a, b);

  /** Whether `fn` is a composite this backend does not compute itself. */
  expands(fn: UnaryFn | BinaryFn): boolean {
    return (isCompositeUnary(fn) || isCompositeBinary(fn)) && !this.intrinsics.has(fn);
  }

  unary(fn: UnaryFn, x: KExpr): KExpr {
    if (isCompositeUnary(fn) && this.expands(fn)) return UNARY_EXPANSIONS[fn](this, x);
    return { op: 'unary', type: 'f32', fn, x };
  }

  binary(fn: BinaryFn, a: KExpr, b: KExpr): KExpr {
    if (isCompositeBinary(fn) && this.expands(fn)) return BINARY_EXPANSIONS[fn](this, a, b);
    return { op: 'binary', type: 'f32', fn, a, b };
  }
}

const UNARY_EXPANSIONS: { readonly [F in CompositeUnary]: (b: Expander, x: KExpr) => KExpr } = {
  sigmoid: (b, x) => b.div(b.c(1), b.add(b.c(1), b.unary('exp', b.unary('neg', x)))),
  gelu: (b, x) => b.mul(b.mul(b.c(0.5), x), b.add(b.c(1), b.unary('erf', b.mul(x, b.c(SQRT1_2))))),
  gelu_tanh: (b, x) => b.mul(b.mul(b.c(0.5), x), b.add(b.c(1), b.unary('tanh', geluTanhInner(b, x)))),
};

/** √(2/π)·(x + 0.044715·x³). */
const geluTanhInner = (b: Expander, x: KExpr) => b.mul(b.c(SQRT_2_OVER_PI), b.add(x, b.mul(b.c(GELU_CUBIC), b.mul(x, b.mul(x, x)))));

const BINARY_EXPANSIONS: { readonly [F in CompositeBinary]: (b: Expander, x: KExpr, dy: KExpr) => KExpr } = {
  // Φ(x) + x·φ(x)
  gelu_grad: (b, x, dy) => {
    const cdf = b.mul(b.c(0.5), b.add(b.c(1), b.unary('erf', b.mul(x, b.c(SQRT1_2)))));
    const pdf = b.mul(b.c(INV_SQRT_2PI), b.unary('exp', b.mul(b.c(-0.5), b.mul(x, x))));
    return b.mul(dy, b.add(cdf, b.mul(x, pdf)));
  },
  // 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(√(2/π)(x + 0.044715x³))
  gelu_tanh_grad: (b, x, dy) => {
    const t = b.unary('tanh', geluTanhInner(b, x));
    const slope = b.mul(b.c(SQRT_2_OVER_PI), b.add(b.c(1), b.mul(b.c(3 * GELU_CUBIC), b.mul(x, x))));
    const d = b.add(b.mul(b.c(0.5), b.add(b.c(1), t)), b.mul(b.mul(b.mul(b.c(0.5), x), b.sub(b.c(1), b.mul(t, t))), slope));
    return b.mul(dy, d);
  },
};

/** A function a renderer met that legalize should have expanded (a bug, not bad input: programs are legalized before rendering). */
export function notLegalized(fn: string): never {
  throw new Error(`scalar function ${fn} reached a renderer without being expanded (legalize the kernel first)`);
}

/** A renderer's entry for a scalar function, from its table of primitives and intrinsics; a composite missing from it was not legalized. */
export function entryFor<T>(table: { readonly [fn: string]: T }, fn: string): T {
  return (table as Partial<Record<string, T>>)[fn] ?? notLegalized(fn);
}

const UNARY_SET: ReadonlySet<string> = new Set(COMPOSITE_UNARY);
const BINARY_SET: ReadonlySet<string> = new Set(COMPOSITE_BINARY);
export const isCompositeUnary = (fn: string): fn is CompositeUnary => UNARY_SET.has(fn);
export const isCompositeBinary = (fn: string): fn is CompositeBinary => BINARY_SET.has(fn);

/** Rebuilds a node whose composite function is not an intrinsic as its expansion (children already rebuilt). */
function expandNode(b: Expander): (e: KExpr) => KExpr {
  return (e) => {
    if (e.op === 'unary' && b.expands(e.fn)) return b.unary(e.fn, e.x);
    if (e.op === 'binary' && b.expands(e.fn)) return b.binary(e.fn, e.a, e.b);
    return e;
  };
}

/** The expression with every composite function that is not among `intrinsics` expanded into primitive ones. */
export function expandComposites(e: KExpr, intrinsics: ReadonlySet<Composite>): KExpr {
  return rebuildExpr(e, expandNode(new Expander(intrinsics)), new Map());
}

/**
 * The kernel as a backend with these intrinsics renders it: the composite
 * functions it does not declare are expanded. With every one declared, the
 * kernel comes back as it is.
 */
export function legalize(k: Kernel, intrinsics: ReadonlySet<Composite>): Kernel {
  if (ALL_COMPOSITES.every((f) => intrinsics.has(f))) return k;
  return rebuildKernel(k, expandNode(new Expander(intrinsics)));
}

const ALL_COMPOSITES: readonly Composite[] = [...COMPOSITE_UNARY, ...COMPOSITE_BINARY];
