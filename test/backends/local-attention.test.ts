// Local attention's backward where padding queries have no real key in
// their window (a short sequence in a long batch): every backend's fused
// training step (the attention kernel and its gradient) against the unfused
// program (softmax and products as separate kernels), which shares no
// attention code with it.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { inputsFor, runOnce, worstDifference } from '../helpers/programs.js';
import { hasWebGpu } from '../helpers/webgpu.js';

const gpu = await hasWebGpu();
const CONFIG = { vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, local_attention: 4, global_attn_every_n_layers: 2 };
const [batch, seq] = [2, 16];

describe('local attention with padding', () => {
  const shape = { batch, seq, mode: 'train' as const, maxPredictions: 3, config: CONFIG };
  const fused = buildProgram(compileFile('models/modernbert.yaml', shape).graph);
  const plain = buildProgram(compileFile('models/modernbert.yaml', { ...shape, fuse: false }).graph);
  // The second sequence is 3 tokens long: from the 6th on, a query's window (2 each side) holds padding alone.
  // Labels at real tokens only, as the data pipeline makes them (what padding queries compute reaches no loss).
  const inputs = {
    ...inputsFor(fused.program, 4),
    attention_mask: Int32Array.from({ length: batch * seq }, (_, i) => (i < seq || i % seq < 3 ? 1 : 0)),
    labels: Int32Array.from({ length: batch * seq }, (_, i) => ([1, 9, seq + 2].includes(i) ? 7 + i : -100)),
  };

  it.each(['js', 'native', 'wasm', 'webgpu'] as const)('%s: the losses and updated parameters of the unfused program', async (backend) => {
    if (backend === 'webgpu' && !gpu) return;
    const want = await runOnce(plain, 1, { ...inputsFor(plain.program, 4), ...inputs }, { backend: 'js' });
    const got = await runOnce(fused, 1, inputs, { backend });
    for (const name of ['loss', 'grad_norm']) expect(Number.isFinite(got[name]!.data[0]), name).toBe(true);
    const worst = worstDifference(got, want, 1e-4);
    expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
  });
});
