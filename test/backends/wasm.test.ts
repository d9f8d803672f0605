// The WebAssembly backend against the float64 interpreter on the op-test
// table: the same f32 inputs, relative error ≤ 1e-5 (products: the f32
// accumulation's 2e-5 absolute, as on the native backend).

import { describe, expect, it } from 'vitest';
import { opDef } from '../../compiler/ir/ops/index.js';
import { OP_CASES, type OpCase } from '../ops/cases.js';
import { caseName as name, checkOp, SIZED_CASES } from './op-table.js';

const atol = (test: OpCase) => (opDef(test.op).fusion === 'matmul' ? 2e-5 : 1e-6);

describe('wasm backend', () => {
  it.each([...OP_CASES, ...SIZED_CASES].map((c, i) => [name(c, i), c] as const))('%s matches the interpreter', async (_, test) => {
    expect(await checkOp(test, 'infer', 99, 'wasm', 1e-5, atol(test))).toBeLessThanOrEqual(1);
  });

  it.each(OP_CASES.filter((c) => opDef(c.op).stochastic).map((c, i) => [name(c, i), c] as const))('%s draws the interpreter\'s dropout mask in training graphs', async (_, test) => {
    expect(await checkOp(test, 'train', 3, 'wasm', 1e-5, 1e-6)).toBeLessThanOrEqual(1);
  });
});
