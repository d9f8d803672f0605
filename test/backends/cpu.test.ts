// The CPU backend against the float64 interpreter on the op-test table:
// the same f32 inputs, relative error ≤ 1e-5.

import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../compiler/program.js';
import { GraphBuilder, type Mode } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import { Session } from '../../runtime/session.js';
import { OP_CASES, type OpCase } from '../ops/cases.js';
import { randomTensor, rng } from '../helpers/random.js';

/** |got - want| <= atol + rtol·|want| everywhere; returns the worst ratio to that bound. */
function closeness(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (atol + rtol * Math.abs(want[i]!)));
  return worst;
}

const f32 = (t: HostTensor): HostTensor => (t.dtype === 'f32' ? hostTensor('f32', t.shape, Float32Array.from(t.data)) : t);

function check(test: OpCase, mode: Mode, seed: number) {
  const next = rng(seed);
  const g = new GraphBuilder('case', mode, {});
  const xs = test.operands.map((o) => f32(o.values ? hostTensor(o.dtype, o.shape, o.values) : randomTensor(next, o.dtype, o.shape, o.lo ?? -2, o.hi ?? 2)));
  const args = xs.map((x, k) => g.add('input', [], { name: `x${k}`, dtype: x.dtype, shape: [...x.shape] }).id);
  const node = g.add(test.op, args, test.attrs as never);
  g.output('y', node.id);
  const graph = g.build();
  const source = f32(randomTensor(next, node.type.dtype, node.type.shape));
  const feeds: Record<string, HostTensor> = { ...Object.fromEntries(xs.map((x, k) => [`x${k}`, x])), x: source };
  const want = interpret(graph, feeds, { w: source }, { seed: 11, step: 5 })['y']!;
  const { program, source: js } = buildProgram(graph);
  const session = new Session(program, js);
  if (program.params.length) session.setParams({ w: source.data });
  if (program.states.length) session.setStates({ w: source.data });
  const got = session.run(Object.fromEntries(program.inputs.map((i) => [i.name, feeds[i.name]!.data])), { seed: 11, step: 5 })['y']!;
  expect(got.shape).toEqual(want.shape);
  expect(got.dtype).toBe(want.dtype);
  return closeness(got.data, want.data, 1e-5, 1e-6);
}

describe('CPU backend', () => {
  it.each(OP_CASES.map((c, i) => [`${c.op} #${i} ${c.operands.map((o) => `${o.dtype}[${o.shape}]`).join(' ')}`, c] as const))(
    '%s matches the interpreter',
    (_, test) => {
      expect(check(test, 'infer', 99)).toBeLessThanOrEqual(1);
    },
  );

  it('draws the same dropout mask as the interpreter in training graphs', () => {
    const dropout = OP_CASES.find((c) => c.op === 'dropout')!;
    expect(check(dropout, 'train', 3)).toBeLessThanOrEqual(1);
  });
});
