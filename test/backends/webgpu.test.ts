// The WebGPU backend against the float64 interpreter on the op-test table
// (relative error ≤ 1e-4), on whatever adapter the machine has: in CI,
// Mesa's lavapipe, Vulkan on the CPU.

import { describe, expect, it } from 'vitest';
import { OP_CASES } from '../ops/cases.js';
import { hasWebGpu } from '../helpers/webgpu.js';
import { caseName as name, checkOp, SIZED_CASES } from './op-table.js';

describe.runIf(await hasWebGpu())('WebGPU backend', () => {
  it.each([...OP_CASES, ...SIZED_CASES].map((c, i) => [name(c, i), c] as const))('%s matches the interpreter', async (_, test) => {
    expect(await checkOp(test, 'infer', 99, 'wgsl', 1e-4, 1e-5)).toBeLessThanOrEqual(1);
  });

  it('draws the same dropout mask as the interpreter in training graphs', async () => {
    const dropout = OP_CASES.find((c) => c.op === 'dropout')!;
    expect(await checkOp(dropout, 'train', 3, 'wgsl', 1e-4, 1e-5)).toBeLessThanOrEqual(1);
  });
});
