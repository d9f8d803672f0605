// The WebAssembly backend against the float64 interpreter on the op-test
// table: the same f32 inputs, relative error ≤ 1e-5 (products: the f32
// accumulation's 2e-5 absolute, as on the native backend).

import { describe, expect, it } from 'vitest';
import { opDef } from '../../compiler/ir/ops/index.js';
import { OP_CASES, type OpCase } from '../ops/cases.js';
import { caseName as name, checkOp, closeness, SIZED_CASES } from './op-table.js';
import { GraphBuilder } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor } from '../../compiler/ir/tensor.js';
import { buildProgram } from '../../compiler/program.js';
import { openSession } from '../../runtime/session.js';
import { rng } from '../helpers/random.js';

const atol = (test: OpCase) => (opDef(test.op).fusion === 'matmul' ? 2e-5 : 1e-6);

describe('wasm backend', () => {
  it.each([...OP_CASES, ...SIZED_CASES].map((c, i) => [name(c, i), c] as const))('%s matches the interpreter', async (_, test) => {
    expect(await checkOp(test, 'infer', 99, 'wasm', 1e-5, atol(test))).toBeLessThanOrEqual(1);
  });

  it.each(OP_CASES.filter((c) => opDef(c.op).stochastic).map((c, i) => [name(c, i), c] as const))('%s draws the interpreter\'s dropout mask in training graphs', async (_, test) => {
    expect(await checkOp(test, 'train', 3, 'wasm', 1e-5, 1e-6)).toBeLessThanOrEqual(1);
  });
});

describe('wasm backend, packed parameters', () => {
  it('packs a parameter once for inference, and again after it is written', async () => {
    const g = new GraphBuilder('packed', 'infer', {});
    const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [5, 12] }).id;
    const w = g.add('param', [], { name: 'w', shape: [9, 12], init: 'normal', std: 0.02 }).id;
    g.output('y', g.add('matmul', [x, w], { transpose_a: false, transpose_b: true }).id);
    const graph = g.build();
    const session = await openSession(buildProgram(graph), { backend: 'wasm' });
    const next = rng(7);
    const xs = Float32Array.from({ length: 60 }, () => next() - 0.5);
    for (const round of [0, 1, 2]) {
      const ws = Float32Array.from({ length: 108 }, (_, i) => Math.sin(i + 10 * round));
      if (round < 2) session.setParams({ w: ws });
      const want = interpret(graph, { x: hostTensor('f32', [5, 12], xs) }, { w: hostTensor('f32', [9, 12], round < 2 ? ws : Float32Array.from({ length: 108 }, (_, i) => Math.sin(i + 10))) })['y']!;
      const got = (await session.run({ x: xs }))['y']!;
      expect(closeness(got.data, want.data, 1e-5, 2e-5), `round ${round}`).toBeLessThanOrEqual(1);
    }
    session.destroy();
  });
});
