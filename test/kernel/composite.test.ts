// Composite scalar functions: each expansion into primitive functions
// computes what numerics/scalar.ts defines (evaluated in doubles), legalize
// leaves a backend's intrinsics alone, and every backend, with no
// intrinsics at all, runs the composite ops of the op table on its
// primitive functions within the op table's tolerance of the interpreter.

import { describe, expect, it } from 'vitest';
import { expandComposites, legalize } from '../../kernel/composite.js';
import { COMPOSITE_BINARY, COMPOSITE_UNARY, PRIMITIVE_BINARY, PRIMITIVE_UNARY, walkExpr, type Composite, type Kernel, type KExpr } from '../../kernel/ir.js';
import { erf, gelu, geluDerivative, geluTanh, geluTanhDerivative, sigmoid } from '../../numerics/scalar.js';
import { BACKENDS, type Backend } from '../../backends/registry.js';
import { OP_CASES } from '../ops/cases.js';
import { caseName, checkOp } from '../backends/op-table.js';

/** Evaluates a scalar expression over x (load of arg 0) and dy (load of arg 1), in doubles. */
function evaluate(e: KExpr, x: number, dy: number): number {
  const go = (c: KExpr) => evaluate(c, x, dy);
  switch (e.op) {
    case 'const': return e.value;
    case 'load': return e.arg === 0 ? x : dy;
    case 'unary': {
      const v = go(e.x);
      const f: Record<string, (v: number) => number> = { neg: (a) => -a, exp: Math.exp, log: Math.log, sqrt: Math.sqrt, rsqrt: (a) => 1 / Math.sqrt(a), tanh: Math.tanh, erf, relu: (a) => Math.max(a, 0), sin: Math.sin, cos: Math.cos };
      return f[e.fn]!(v);
    }
    case 'binary': {
      const [a, b] = [go(e.a), go(e.b)];
      const f: Record<string, (a: number, b: number) => number> = { add: (p, q) => p + q, sub: (p, q) => p - q, mul: (p, q) => p * q, div: (p, q) => p / q };
      return f[e.fn]!(a, b);
    }
    default: throw new Error(`unexpected ${e.op}`);
  }
}

const load = (arg: number): KExpr => ({ op: 'load', type: 'f32', arg, index: { op: 'const', type: 'i32', value: 0 } });
const NONE = new Set<Composite>();
const DEFINITIONS: Record<Composite, (x: number, dy: number) => number> = {
  sigmoid: (x) => sigmoid(x),
  gelu: (x) => gelu(x),
  gelu_tanh: (x) => geluTanh(x),
  gelu_grad: (x, dy) => dy * geluDerivative(x),
  gelu_tanh_grad: (x, dy) => dy * geluTanhDerivative(x),
};

const composed = (fn: Composite): KExpr => ((COMPOSITE_UNARY as readonly string[]).includes(fn)
  ? { op: 'unary', type: 'f32', fn: fn as (typeof COMPOSITE_UNARY)[number], x: load(0) }
  : { op: 'binary', type: 'f32', fn: fn as (typeof COMPOSITE_BINARY)[number], a: load(0), b: load(1) });

describe('composite scalar functions', () => {
  it.each([...COMPOSITE_UNARY, ...COMPOSITE_BINARY])('%s expands into primitive functions that compute its definition', (fn) => {
    const expanded = expandComposites(composed(fn), NONE);
    const primitives = new Set<string>([...PRIMITIVE_UNARY, ...PRIMITIVE_BINARY]);
    walkExpr(expanded, (e) => {
      if (e.op === 'unary' || e.op === 'binary') expect(primitives.has(e.fn), e.fn).toBe(true);
    });
    for (let x = -8; x <= 8; x += 0.125) {
      const want = DEFINITIONS[fn](x, 0.75);
      expect(Math.abs(evaluate(expanded, x, 0.75) - want), `${fn}(${x})`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
    }
  });

  it('leaves a backend\'s intrinsics alone and expands the rest', () => {
    const value = composed('gelu');
    const kernel: Kernel = { kind: 'map', name: 'k0_map', label: 'y', nodes: [], streams: [], args: [], shape: [1], stores: [{ arg: 0, index: load(0), value }] };
    const kept = legalize(kernel, new Set<Composite>(['gelu'])) as typeof kernel;
    expect(kept.stores[0]!.value).toMatchObject({ op: 'unary', fn: 'gelu' });
    const all = new Set<Composite>([...COMPOSITE_UNARY, ...COMPOSITE_BINARY]);
    expect(legalize(kernel, all)).toBe(kernel);
    const expanded = legalize(kernel, NONE) as typeof kernel;
    const fns: string[] = [];
    walkExpr(expanded.stores[0]!.value, (e) => (e.op === 'unary' ? fns.push(e.fn) : undefined));
    expect(fns).toEqual(['erf']);
  });
});

const COMPOSITE_CASES = OP_CASES.filter((c) => ([...COMPOSITE_UNARY, ...COMPOSITE_BINARY] as readonly string[]).includes(c.op));
const primitiveOnly = (b: Backend): Backend => ({ ...b, capabilities: { ...b.capabilities, intrinsics: [] } });
const running = await Promise.all(BACKENDS.map(async (b) => ((await b.probe()).ok ? [b] : [])));

describe.each(running.flat().map((b) => ({ name: b.name, backend: b })))('$name without intrinsics', ({ backend }) => {
  it.each(COMPOSITE_CASES.map((c, i) => [caseName(c, i), c] as const))('%s matches the interpreter on primitive functions', { timeout: 60_000 }, async (_, test) => {
    expect(await checkOp(test, 'infer', 99, primitiveOnly(backend), 1e-5, 1e-6)).toBeLessThanOrEqual(1);
  });
});
