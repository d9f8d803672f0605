// WGSL programs stay within the limits every WebGPU device offers (the
// defaults: 8 storage buffers per stage, 256 invocations and 16 KiB of
// workgroup memory per workgroup, 65535 workgroups per dimension), and a
// device that offers less is told apart before anything runs.

import { describe, expect, it } from 'vitest';
import { checkLimits } from '../../backends/wgsl/executor.js';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { RunFailure } from '../../runtime/errors.js';

const DEFAULTS = { maxStorageBuffersPerShaderStage: 8, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 16384, maxComputeWorkgroupsPerDimension: 65535 } as GPUSupportedLimits;

describe('WGSL limits', () => {
  it('keeps bert-base training (batch 8 × seq 128) within the default limits', () => {
    const { graph } = compileFile('models/bert-base.yaml', { batch: 8, seq: 128, mode: 'train' });
    const { program } = buildProgram(graph, 'wgsl');
    for (const k of program.kernels) expect(() => checkLimits(k.name, k.wgsl!, DEFAULTS), k.name).not.toThrow();
    const most = (f: (k: (typeof program.kernels)[number]) => number) => Math.max(...program.kernels.map(f));
    expect(most((k) => k.wgsl!.bindings.length + (k.wgsl!.scratch ? 1 : 0))).toBeLessThanOrEqual(8);
    expect(most((k) => k.wgsl!.workgroupBytes)).toBeLessThanOrEqual(16384);
  });

  it('names the kernel and the limit a device lacks', () => {
    const { graph } = compileFile('models/bert-tiny.yaml', { batch: 1, seq: 128, mode: 'infer' });
    const matmul = buildProgram(graph, 'wgsl').program.kernels.find((k) => k.kind === 'matmul' && k.wgsl!.workgroupBytes > 0)!;
    const small = { ...DEFAULTS, maxComputeWorkgroupStorageSize: 4096 } as GPUSupportedLimits;
    expect(() => checkLimits(matmul.name, matmul.wgsl!, small)).toThrow(RunFailure);
    expect(() => checkLimits(matmul.name, matmul.wgsl!, small)).toThrow(`kernel ${matmul.name} needs 8192 bytes of workgroup memory; this device allows 4096 (maxComputeWorkgroupStorageSize); use --backend cpu`);
  });
});
