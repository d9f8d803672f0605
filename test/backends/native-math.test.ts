// The native backend's polynomial exp, tanh, erf and GELU (backends/native/
// prelude.c), and the wasm backend's ports of the first three
// (backends/wasm/math.ts), against float64 over dense sweeps: the relative
// error bounds that the prelude states, where the function's value is a
// normal f32; and the loss kernels' row maxima on every CPU backend on
// ties, NaN and -Infinity.

import { describe, expect, it } from 'vitest';
import { findCompiler } from '../../backends/native/build.js';
import { erf } from '../../numerics/scalar.js';
import { GraphBuilder } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor } from '../../compiler/ir/tensor.js';
import { buildProgram } from '../../compiler/program.js';
import { openSession } from '../../runtime/session.js';

const POINTS = 40_001;

/** f over a sweep of [lo, hi] on the native backend, and its worst relative error against `exact`. */
async function worstRelativeError(backend: string, op: string, lo: number, hi: number, exact: (x: number) => number): Promise<{ error: number; at: number }> {
  const g = new GraphBuilder('sweep', 'infer', {});
  const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [POINTS] });
  g.output('y', g.add(op as 'exp', [x.id], {} as never).id);
  const session = await openSession(buildProgram(g.build()), { backend });
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

const POLYNOMIALS = [
  ['exp', -87, 88.7, Math.exp, 2e-7],
  ['tanh', -12, 12, Math.tanh, 4e-7],
  ['erf', -6, 6, erf, 4e-7],
] as const;

describe.runIf(findCompiler() !== null)('native transcendental functions', () => {
  it.each([
    ...POLYNOMIALS,
    // Below −5 the float64 reference itself loses its digits (1 + erf cancels); tcc's GELU goes through erfc.
    ['gelu', -5, 9, gelu, 3e-6],
  ] as const)('%s on [%d, %d]', async (op, lo, hi, exact, bound) => {
    const { error, at } = await worstRelativeError('native', op, lo, hi, exact);
    expect(error, `worst at x = ${at}`).toBeLessThanOrEqual(bound);
  });
});

describe('wasm transcendental functions', () => {
  it.each(POLYNOMIALS)('%s on [%d, %d]', async (op, lo, hi, exact, bound) => {
    const { error, at } = await worstRelativeError('wasm', op, lo, hi, exact);
    expect(error, `worst at x = ${at}`).toBeLessThanOrEqual(bound);
  });
});

const CPU_BACKENDS = ['js', 'wasm', ...(findCompiler() !== null ? ['native'] : [])];

describe.each(CPU_BACKENDS)('%s row maxima', (backend) => {
  const classes = 37; // four vectors and a tail, on AVX2 and AVX-512 alike
  const row = (at: Record<number, number>) => Float32Array.from({ length: classes }, (_, c) => at[c] ?? Math.sin(c) - 2);
  const ROWS: [string, Float32Array][] = [
    ['a tie (the first wins)', row({ 5: 3, 20: 3 })],
    ['the maximum in the tail', row({ 36: 4 })],
    ['NaN first', row({ 0: NaN, 9: 5 })],
    ['NaN elsewhere', row({ 9: 5, 12: NaN })],
    ['every value -Infinity', Float32Array.from({ length: classes }, () => -Infinity)],
  ];

  it.each(ROWS)('accuracy and cross-entropy of a row with %s are the interpreter\'s', async (_, logits) => {
    const g = new GraphBuilder('rows', 'infer', {});
    const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [1, classes] }).id;
    const label = g.add('input', [], { name: 'label', dtype: 'i32', shape: [1] }).id;
    g.output('accuracy', g.add('accuracy', [x, label], { ignore_index: -100 }).id);
    g.output('loss', g.add('cross_entropy', [x, label], { ignore_index: -100 }).id);
    const graph = g.build();
    const session = await openSession(buildProgram(graph), { backend });
    try {
      for (const l of [0, 5, 9, 20, 36]) {
        const got = await session.run({ x: logits, label: [l] });
        const want = interpret(graph, { x: hostTensor('f32', [1, classes], logits), label: hostTensor('i32', [1], [l]) }, {});
        expect(got['accuracy']!.data[0], `label ${l}`).toBe(want['accuracy']!.data[0]);
        const [a, b] = [got['loss']!.data[0]!, want['loss']!.data[0]!];
        if (Number.isNaN(b) || !Number.isFinite(b)) expect(a, `label ${l}`).toBeNaN();
        else expect(Math.abs(a - b), `label ${l}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(b)));
      }
    } finally {
      session.destroy();
    }
  });
});
