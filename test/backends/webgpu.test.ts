// The WebGPU backend against the float64 interpreter on the op-test table
// (relative error ≤ 1e-4), on whatever adapter the machine has: in CI,
// Mesa's lavapipe, Vulkan on the CPU.

import { describe, expect, it } from 'vitest';
import { opDef } from '../../compiler/ir/ops/index.js';
import { OP_CASES } from '../ops/cases.js';
import { hasWebGpu } from '../helpers/webgpu.js';
import { caseName as name, checkOp, SIZED_CASES } from './op-table.js';

describe.runIf(await hasWebGpu())('WebGPU backend', () => {
  it.each([...OP_CASES, ...SIZED_CASES].map((c, i) => [name(c, i), c] as const))('%s matches the interpreter', async (_, test) => {
    expect(await checkOp(test, 'infer', 99, 'webgpu', 1e-4, 1e-5)).toBeLessThanOrEqual(1);
  });

  it.each(OP_CASES.filter((c) => opDef(c.op).stochastic).map((c, i) => [name(c, i), c] as const))('%s draws the interpreter\'s dropout mask in training graphs', async (_, test) => {
    expect(await checkOp(test, 'train', 3, 'webgpu', 1e-4, 1e-5)).toBeLessThanOrEqual(1);
  });
});
