// Optimization never changes what a program computes: every shipped model
// and every DSL variant (at a small configuration, keeping its structure;
// one of those that share a structure there),
// for inference and for one training step (losses, metrics, new parameters
// and moments), gives the same outputs with all passes on as with fusion
// off, on the CPU backend and, where there is an adapter, on WebGPU (there
// the training step, which holds the forward pass, or inference where a
// model has no training).

import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { printGraph } from '../../compiler/ir/print.js';
import { buildProgram } from '../../compiler/program.js';
import type { BackendName as Backend } from '../../runtime/executor.js';
import { hasWebGpu } from '../helpers/webgpu.js';
import { runOnce, worstDifference } from '../helpers/programs.js';

const SMALL = { vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16 };
const gpu = await hasWebGpu();
const config = (file: string) =>
  file.includes('albert') ? { ...SMALL, embedding_size: 8 }
  // ELECTRA's generator at its own small sizes, and the [MASK] of a vocabulary of 50.
  : file.includes('electra-pretraining') ? { ...SMALL, generator_hidden_size: 8, generator_num_attention_heads: 1, generator_intermediate_size: 16, mask_token_id: 4 }
  : SMALL;

/**
 * The shipped models and variants, one of each structure: at the small
 * configuration, bert-tiny … bert-large are bert-base's graph (they differ
 * only in sizes), and run once.
 */
const MODELS = (() => {
  const files = [...readdirSync('models').filter((f) => f.endsWith('.yaml')).map((f) => `models/${f}`), ...readdirSync('models/variants').map((f) => `models/variants/${f}`)];
  const seen = new Set<string>();
  return files.filter((file) => {
    const graph = printGraph(compileFile(file, { batch: 2, seq: 8, mode: 'infer', config: config(file), fuse: false }).graph).split('\n').slice(1).join('\n');
    return !seen.has(graph) && Boolean(seen.add(graph));
  });
})();
/** Model and mode pairs: every model infers; those with training losses (all but the bare encoder) train. */
const CASES = MODELS.flatMap((f) => (f.includes('encoder') ? [[f, 'infer']] : [[f, 'infer'], [f, 'train']]) as [string, 'infer' | 'train'][]);

async function agreement(file: string, mode: 'infer' | 'train', backend: Backend, rtol: number): Promise<void> {
  const shape = { batch: 2, seq: 8, mode, config: config(file) };
  const fused = compileFile(file, { ...shape, verify: true });
  const plain = compileFile(file, { ...shape, fuse: false });
  const a = buildProgram(fused.graph, { check: true });
  const b = buildProgram(plain.graph, { plan: false });
  expect(a.program.kernels.length).toBeLessThan(b.program.kernels.length);
  const worst = worstDifference(await runOnce(a, 1, undefined, { backend }), await runOnce(b, 1, undefined, { backend }), rtol);
  expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
}

describe('optimized programs compute what unoptimized ones do', () => {
  it.each(CASES)('%s (%s) on the CPU backend', async (file, mode) => {
    await agreement(file, mode, 'js', 1e-5);
  });

  it.runIf(gpu).each(CASES.filter(([f, mode]) => mode === 'train' || f.includes('encoder')))('%s (%s) on WebGPU', async (file, mode) => {
    await agreement(file, mode, 'webgpu', 1e-5);
  }, 120_000);
});

describe('recomputation', () => {
  it.each(['layer', 'sqrt'] as const)('--recompute %s gives the losses and updates of keeping every activation', async (recompute) => {
    // With the masked-LM head at the labelled rows, so that the last layer (at the rows read) is recomputed too.
    const shape = { batch: 2, seq: 8, mode: 'train' as const, config: { ...SMALL, num_hidden_layers: 4 }, maxPredictions: 2 };
    const kept = compileFile('models/bert.yaml', shape);
    const again = compileFile('models/bert.yaml', { ...shape, recompute, verify: true });
    expect(again.graph.recomputed?.length).toBeGreaterThan(0);
    expect(again.flops).toBeGreaterThan(kept.flops);
    const worst = worstDifference(await runOnce(buildProgram(again.graph, { check: true })), await runOnce(buildProgram(kept.graph)), 1e-6);
    expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
  });
});
