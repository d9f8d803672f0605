// What goes wrong on WebGPU is said in one line: no adapter (pointing to
// --backend cpu), a WGSL module that does not compile (naming the kernel and
// the line), a device lost during training (the last checkpoint intact).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { WgslCompileError } from '../../backends/webgpu/errors.js';
import { WebGpuExecutor } from '../../backends/webgpu/executor.js';
import { renderKernelWgsl } from '../../backends/webgpu/render.js';
import type { Kernel } from '../../kernel/ir.js';
import { readTrainerState } from '../../runtime/checkpoint.js';
import { RunFailure } from '../../runtime/errors.js';
import { initParams } from '../../runtime/init.js';
import { openSession } from '../../runtime/session.js';
import { examplesData, runTraining } from '../../train/pretrain.js';
import { Trainer } from '../../train/trainer.js';
import { modelsDir, specFiles, tcc } from '../helpers/cli.js';
import { hasWebGpu } from '../helpers/webgpu.js';

const TINY = `extends: ${modelsDir()}/bert-tiny.yaml\nconfig: {vocab_size: 300, num_hidden_layers: 1, max_position_embeddings: 16}\n`;

const gpu = await hasWebGpu();

describe('WebGPU failures', () => {
  it('without an adapter, says so in one line and points to --backend cpu', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-noadapter-'));
    writeFileSync(join(dir, 'in.json'), '{"input_ids": [[2, 7, 8, 3]]}');
    // The Vulkan loader finds no driver: Dawn offers no adapter.
    const run = spawnSync(process.execPath, ['dist/cli/tcc.js', 'run', '--model', specFiles({ 't.yaml': TINY })['t.yaml']!, '--inputs', join(dir, 'in.json'), '--out', join(dir, 'o.safetensors'), '--backend', 'webgpu'], {
      encoding: 'utf8', env: { ...process.env, VK_ICD_FILENAMES: join(dir, 'no-such-driver.json'), VK_DRIVER_FILES: join(dir, 'no-such-driver.json') },
    });
    expect(run.status).toBe(1);
    const ours = run.stderr.split('\n').filter((l) => l.startsWith('tcc: '));
    expect(ours).toEqual(['tcc: error: no WebGPU adapter found (no GPU driver: on Linux without a GPU, install a Vulkan driver such as Mesa\'s lavapipe); use --backend cpu']);
    expect(run.stderr).not.toMatch(/^\s+at .*\.[jt]s:\d+/m); // (Dawn logs its own native lines)
  });

  it.runIf(gpu)('names the kernel and the line of WGSL that does not compile', async () => {
    const { program, kernels } = buildProgram(compileFile(specFiles({ 't.yaml': TINY })['t.yaml']!, { seq: 8 }).graph);
    const kernel = kernels.find((k) => k.kind === 'reduce' && /let v0 = group_sum/.test(renderKernelWgsl(k).code))!;
    const lines = renderKernelWgsl(kernel).code.split('\n');
    const broken = lines.findIndex((l) => l.includes('let v0 = group_sum'));
    lines[broken] = lines[broken]!.replace('let v0', 'let v0: i32');
    // A renderer's mistake, made on purpose: the kernel's module as rendered, with one line broken.
    const render = (k: Kernel) => (k === kernel ? { ...renderKernelWgsl(k), code: lines.join('\n') } : renderKernelWgsl(k));
    const error = await WebGpuExecutor.create(program, kernels, { render }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WgslCompileError);
    expect((error as WgslCompileError).kernel).toBe(kernel.name);
    expect((error as WgslCompileError).line).toBe(broken + 1);
    expect((error as Error).message).toMatch(new RegExp(`^WGSL of kernel ${kernel.name} does not compile: line ${broken + 1}:\\d+: .*let v0: i32`));
  });

  it.runIf(gpu)('stops training on a lost device with a clear message, the last checkpoint intact', async () => {
    const batch = 2;
    const seq = 8;
    const { graph } = compileFile(specFiles({ 't.yaml': TINY })['t.yaml']!, { batch, seq, mode: 'train' });
    const session = await openSession(buildProgram(graph), { backend: 'webgpu' });
    session.setParams(initParams(session.program.params, 1));
    const trainer = new Trainer(session, { schedule: { lr: 1e-3, warmupSteps: 0, totalSteps: 10 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 0 });
    const example = (k: number) => ({
      input_ids: [2, 5 + k, 4, 9, 3, 11, 12, 3], token_type_ids: [0, 0, 0, 0, 0, 1, 1, 1], attention_mask: new Array(seq).fill(1),
      labels: [-100, -100, 7 + k, -100, -100, -100, -100, -100], next_sentence_label: k % 2,
    });
    const data = examplesData([example(0), example(1), example(2), example(3)]);
    const dir = mkdtempSync(join(tmpdir(), 'tcc-lost-'));
    const settings = { dir, steps: 10, batch, seq, saveEvery: 1, accumulate: 1, config: {} };
    let saved: Float32Array | undefined;
    const failure = await runTraining(trainer, data, settings, {
      onCheckpoint(path) {
        if (!path.endsWith('checkpoint-3')) return;
        saved = readTrainerState(path).params.get('bert.embeddings.word_embeddings.weight');
        (session.executor as WebGpuExecutor).loseDevice();
      },
    }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RunFailure);
    expect((failure as Error).message).toBe(`the WebGPU device was lost (destroyed) at step 4; stopping, ${join(dir, 'checkpoint-3')} is kept`);
    const kept = readTrainerState(join(dir, 'checkpoint-3'));
    expect(kept.state.step).toBe(3);
    expect(saved).toBeDefined();
    expect(Array.from(kept.params.get('bert.embeddings.word_embeddings.weight')!)).toEqual(Array.from(saved!));
  });
});
