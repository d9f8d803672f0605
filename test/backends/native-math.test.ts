// The native backend's polynomial exp, tanh, erf and GELU (backends/c/
// prelude.ts) against float64 over dense sweeps: the relative error bounds
// that the prelude states, where the function's value is a normal f32.

import { describe, expect, it } from 'vitest';
import { findCompiler } from '../../backends/c/build.js';
import { erf } from '../../compiler/ir/ops/elementwise.js';
import { GraphBuilder } from '../../compiler/ir/graph.js';
import { buildProgram } from '../../compiler/program.js';
import { openSession } from '../../runtime/session.js';

const POINTS = 40_001;

/** f over a sweep of [lo, hi] on the native backend, and its worst relative error against `exact`. */
async function worstRelativeError(op: string, lo: number, hi: number, exact: (x: number) => number): Promise<{ error: number; at: number }> {
  const g = new GraphBuilder('sweep', 'infer', {});
  const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [POINTS] });
  g.output('y', g.add(op as 'exp', [x.id], {} as never).id);
  const session = await openSession(buildProgram(g.build(), 'cpu'), { native: true });
  const xs = Float32Array.from({ length: POINTS }, (_, i) => lo + ((hi - lo) * i) / (POINTS - 1));
  const ys = (await session.run({ x: xs }))['y']!.data;
  session.destroy();
  let worst = { error: 0, at: 0 };
  xs.forEach((xi, i) => {
    const want = exact(xi);
    if (Math.abs(want) < 1.2e-38 || !Number.isFinite(want)) return;
    const error = Math.abs(ys[i]! - want) / Math.abs(want);
    if (error > worst.error || Number.isNaN(error)) worst = { error, at: xi };
  });
  return worst;
}

const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

describe.runIf(findCompiler() !== null)('native transcendental functions', () => {
  it.each([
    ['exp', -87, 88.7, Math.exp, 2e-7],
    ['tanh', -12, 12, Math.tanh, 4e-7],
    ['erf', -6, 6, erf, 4e-7],
    // Below −5 the float64 reference itself loses its digits (1 + erf cancels); tcc's GELU goes through erfc.
    ['gelu', -5, 9, gelu, 3e-6],
  ] as const)('%s on [%d, %d]', async (op, lo, hi, exact, bound) => {
    const { error, at } = await worstRelativeError(op, lo, hi, exact);
    expect(error, `worst at x = ${at}`).toBeLessThanOrEqual(bound);
  });
});
