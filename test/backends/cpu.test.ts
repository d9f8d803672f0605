// The CPU backend against the float64 interpreter on the op-test table:
// the same f32 inputs, relative error ≤ 1e-5.

import { describe, expect, it } from 'vitest';
import { OP_CASES } from '../ops/cases.js';
import { caseName as name, checkOp, SIZED_CASES } from './op-table.js';

describe('CPU backend', () => {
  it.each([...OP_CASES, ...SIZED_CASES].map((c, i) => [name(c, i), c] as const))('%s matches the interpreter', async (_, test) => {
    expect(await checkOp(test, 'infer', 99, 'cpu', 1e-5, 1e-6)).toBeLessThanOrEqual(1);
  });

  it('draws the same dropout mask as the interpreter in training graphs', async () => {
    const dropout = OP_CASES.find((c) => c.op === 'dropout')!;
    expect(await checkOp(dropout, 'train', 3, 'cpu', 1e-5, 1e-6)).toBeLessThanOrEqual(1);
  });
});
