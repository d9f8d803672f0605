// WGSL programs stay within the limits every WebGPU device offers (the
// defaults: 8 storage buffers per stage, 256 invocations and 16 KiB of
// workgroup memory per workgroup, 65535 workgroups per dimension), and a
// device that offers less is told apart before anything runs.

import { describe, expect, it } from 'vitest';
import { checkLimits } from '../../backends/webgpu/executor.js';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { functionNames } from '../../kernel/hash.js';
import { renderProgramWgsl } from '../../backends/webgpu/render.js';
import type { WgslKernel } from '../../backends/webgpu/module.js';
import { RunFailure } from '../../runtime/errors.js';
import type { Kernel } from '../../kernel/ir.js';

/** Each kernel with its WGSL module. */
function wgslOf(kernels: readonly Kernel[]): [Kernel, WgslKernel][] {
  const fns = functionNames(kernels, '');
  const modules = renderProgramWgsl(kernels, fns);
  return kernels.map((k, i) => [k, modules.get(fns[i]!)!]);
}

const DEFAULTS = { maxStorageBuffersPerShaderStage: 8, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 16384, maxComputeWorkgroupsPerDimension: 65535 } as GPUSupportedLimits;

describe('WGSL limits', () => {
  it('keeps bert-base training (batch 8 × seq 128) within the default limits', () => {
    const { graph } = compileFile('models/bert-base.yaml', { batch: 8, seq: 128, mode: 'train' });
    const modules = wgslOf(buildProgram(graph).kernels);
    for (const [k, m] of modules) expect(() => checkLimits(k.name, m, DEFAULTS), k.name).not.toThrow();
    const most = (f: (m: WgslKernel) => number) => Math.max(...modules.map(([, m]) => f(m)));
    expect(most((m) => m.bindings.length)).toBeLessThanOrEqual(8);
    expect(most((m) => m.workgroupBytes)).toBeLessThanOrEqual(16384);
  });

  it('names the kernel and the limit a device lacks', () => {
    const { graph } = compileFile('models/bert-tiny.yaml', { batch: 1, seq: 128, mode: 'infer' });
    const [matmul, module] = wgslOf(buildProgram(graph).kernels).find(([k, m]) => k.kind === 'matmul' && m.workgroupBytes > 0)!;
    const small = { ...DEFAULTS, maxComputeWorkgroupStorageSize: 4096 } as GPUSupportedLimits;
    expect(() => checkLimits(matmul.name, module, small)).toThrow(RunFailure);
    expect(() => checkLimits(matmul.name, module, small)).toThrow(`kernel ${matmul.name} needs 8192 bytes of workgroup memory; this device allows 4096 (maxComputeWorkgroupStorageSize); use --backend cpu`);
  });
});
