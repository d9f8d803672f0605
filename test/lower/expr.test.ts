// Index arithmetic of the kernel IR: whatever the builder simplifies a floor
// division or modulo of a linear index into evaluates, at every point of its
// space, to the floor division or modulo it was asked for (fast-check over
// spaces, coefficients, constants and divisors, including the blocked forms
// that reshapes and transposes make: o + 512·p over 65536 with o < 512).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExprBuilder } from '../../compiler/lower/expr.js';
import type { KExpr } from '../../kernel/ir.js';

const floorDiv = (a: number, b: number) => Math.floor(a / b);
const floorMod = (a: number, b: number) => ((a % b) + b) % b;

/** Evaluates integer index expressions at a point of the space. */
function evaluate(e: KExpr, at: readonly number[]): number {
  switch (e.op) {
    case 'const': return e.value;
    case 'idx': return at[e.axis]!;
    case 'binary': {
      const [a, b] = [evaluate(e.a, at), evaluate(e.b, at)];
      if (e.fn === 'add') return a + b;
      if (e.fn === 'sub') return a - b;
      if (e.fn === 'mul') return a * b;
      if (e.fn === 'idiv') return floorDiv(a, b);
      if (e.fn === 'mod') return floorMod(a, b);
      throw new Error(`unexpected ${e.fn}`);
    }
    default: throw new Error(`unexpected ${e.op}`);
  }
}

/** Every point of a small space, in order. */
function* points(shape: readonly number[]): Generator<number[]> {
  const at = shape.map(() => 0);
  for (;;) {
    yield [...at];
    let axis = shape.length - 1;
    while (axis >= 0 && ++at[axis]! === shape[axis]) at[axis--] = 0;
    if (axis < 0) return;
  }
}

describe('index arithmetic', () => {
  const cases = fc.record({
    shape: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }),
    coefficients: fc.array(fc.oneof(fc.integer({ min: -40, max: 40 }), fc.constantFrom(8, 16, 64, 72, 512)), { minLength: 3, maxLength: 3 }),
    constant: fc.integer({ min: -50, max: 200 }),
    divisor: fc.oneof(fc.integer({ min: 1, max: 50 }), fc.constantFrom(8, 16, 64, 128, 576, 4096)),
  });

  it('simplified idiv and mod equal floor division and modulo at every point', () => {
    fc.assert(
      fc.property(cases, ({ shape, coefficients, constant, divisor }) => {
        const b = new ExprBuilder({ idx: shape, ridx: [] });
        let index = b.int(constant);
        shape.forEach((_, axis) => (index = b.add(index, b.mul(b.idx(axis), b.int(coefficients[axis]!)))));
        const q = b.idiv(index, divisor);
        const r = b.mod(index, divisor);
        for (const at of points(shape)) {
          const value = constant + at.reduce((s, x, axis) => s + x * coefficients[axis]!, 0);
          // + 0: a product with a zero coordinate may be −0.
          expect(evaluate(q, at) + 0).toBe(floorDiv(value, divisor) + 0);
          expect(evaluate(r, at) + 0).toBe(floorMod(value, divisor) + 0);
        }
      }),
      { numRuns: 2000, seed: 11 },
    );
  });

  it('divides a blocked index by its block without the column: (o + 512·p) idiv 65536 = p idiv 128', () => {
    const b = new ExprBuilder({ idx: [512, 1024], ridx: [] });
    const index = b.add(b.idx(0), b.mul(b.idx(1), b.int(512)));
    expect(b.idiv(index, 65536)).toBe(b.idiv(b.idx(1), 128));
    expect(b.mod(index, 65536)).toBe(b.add(b.mul(b.mod(b.idx(1), 128), b.int(512)), b.idx(0)));
  });
});
