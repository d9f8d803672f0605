// What the optimizing compiler does to BERT, as `tcc compile --json`
// reports it: kernels per encoder layer, the planned arena against its lower
// bound and against every buffer on its own, the optimizer's few kernels,
// recomputation's trade, and attention memory linear in the sequence.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { compileReport } from '../../compiler/report.js';
import { runOnce, worstDifference } from '../helpers/programs.js';
import { tcc } from '../helpers/cli.js';

interface Report {
  kernels: number;
  kernels_per_layer: number;
  layers: Record<string, number>;
  kernel_counts: Record<string, number>;
  flops: number;
  passes: string[];
  memory: { arena_bytes: number; naive_bytes: number; lower_bound_bytes: number; activation_bytes: number; persistent_bytes: number; peak_bytes: number };
}

async function report(...args: string[]): Promise<Report> {
  const run = await tcc('compile', ...args, '--json');
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Report;
}

describe('tcc compile reports', () => {
  it('bert-base inference (1×128): at most 10 kernels per layer, an arena within 5% of its lower bound and at least 4× below unplanned', async () => {
    const r = await report('models/bert-base.yaml', '--batch', '1', '--seq', '128');
    expect(Object.keys(r.layers)).toHaveLength(12);
    expect(r.kernels_per_layer).toBeLessThanOrEqual(10);
    expect(r.memory.arena_bytes).toBeLessThanOrEqual(1.05 * r.memory.lower_bound_bytes);
    expect(r.memory.naive_bytes / r.memory.arena_bytes).toBeGreaterThanOrEqual(4);
    expect(r.memory.peak_bytes).toBe(r.memory.persistent_bytes + r.memory.arena_bytes);
    expect(r.passes).toEqual(['fuse-attention', 'concat-projections', 'rotary-tables', 'simplify', 'fold', 'cse', 'dce', 'fuse', 'plan-memory']);
    const plain = await report('models/bert-base.yaml', '--no-fuse', '--no-plan');
    expect(plain.kernels).toBeGreaterThan(3 * r.kernels);
    expect(plain.memory.arena_bytes).toBe(plain.memory.naive_bytes);
  });

  it('bert-base training (8×128, dropout on): at most 40 kernels per layer, the optimizer in a few kernels per parameter group', () => {
    const { graph } = compileFile('models/bert-base.yaml', { batch: 8, seq: 128, mode: 'train' });
    const compiled = buildProgram(graph, { check: true });
    const r = compileReport(graph, compiled);
    expect(r.kernelsPerLayer).toBeLessThanOrEqual(40);
    // Two parameter groups (decayed and not): the gradient norm and each group's update.
    const optimizer = compiled.kernels.filter((k) => k.label === 'adamw');
    expect(optimizer.length).toBeLessThanOrEqual(8);
    expect(compiled.program.updates).toEqual([]);
  });

  it('trains bert-base with --recompute layer in at most 40% of the activation memory, at at most 35% more FLOPs', () => {
    const build = (recompute: 'none' | 'layer') => {
      const r = compileFile('models/bert-base.yaml', { batch: 8, seq: 128, mode: 'train', recompute });
      return { flops: r.flops, report: compileReport(r.graph, buildProgram(r.graph, { check: true })) };
    };
    const [none, layer] = [build('none'), build('layer')];
    expect(none.report.memory.activationBytes / layer.report.memory.activationBytes).toBeGreaterThanOrEqual(2.5);
    expect(layer.report.memory.arenaBytes).toBeLessThan(none.report.memory.arenaBytes);
    expect(layer.flops / none.flops).toBeLessThanOrEqual(1.35);
    expect(layer.flops).toBeGreaterThan(none.flops);
  });

  it('keeps attention memory linear in the sequence: no [batch, heads, seq, seq] tensor at seq 512', () => {
    const config = { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128, vocab_size: 100, max_position_embeddings: 512 };
    const activations = (seq: number, fuse: boolean) => {
      const { graph } = compileFile('models/bert.yaml', { batch: 2, seq, mode: 'train', config, fuse });
      const compiled = buildProgram(graph, { check: true });
      const largest = Math.max(...compiled.program.buffers.filter((b) => b.region === 'arena').map((b) => b.size));
      return { bytes: compileReport(graph, compiled).memory.activationBytes, largest };
    };
    const [fused256, fused512, plain512] = [activations(256, true), activations(512, true), activations(512, false)];
    expect(fused512.largest).toBeLessThan(2 * 4 * 512 * 512);
    expect(plain512.largest).toBeGreaterThanOrEqual(2 * 4 * 512 * 512);
    expect(fused512.bytes / fused256.bytes).toBeLessThan(2.2);
    expect(plain512.bytes).toBeGreaterThan(2 * fused512.bytes);
  });

  it('computes fused attention at seq 512, forward and backward, as the unfused graph does', async () => {
    const shape = { batch: 1, seq: 512, mode: 'train' as const, config: { hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, vocab_size: 40, max_position_embeddings: 512 } };
    const fused = compileFile('models/bert.yaml', shape);
    const plain = compileFile('models/bert.yaml', { ...shape, fuse: false });
    const worst = worstDifference(await runOnce(buildProgram(fused.graph)), await runOnce(buildProgram(plain.graph, { plan: false })), 1e-5);
    expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
  });
});
