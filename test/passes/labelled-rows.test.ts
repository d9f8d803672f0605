// The labelled-rows rewrite (the masked-LM head computed only at the masked
// positions) against the graph that computes it at every position: the same
// losses, metrics and updated parameters in the float64 interpreter and on
// the CPU backend, far fewer FLOPs, and a batch that labels more rows than
// the program holds refused in one line.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { buildProgram } from '../../compiler/program.js';
import type { BackendName as Backend } from '../../runtime/executor.js';
import { initParams } from '../../runtime/init.js';
import { InputError } from '../../runtime/errors.js';
import { openSession } from '../../runtime/session.js';
import { inputsFor, interpreterFeeds, runOnce, worstDifference } from '../helpers/programs.js';
import { hasWebGpu } from '../helpers/webgpu.js';

const gpu = await hasWebGpu();
const SMALL = { vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16 };
const SHAPE = { batch: 2, seq: 8, mode: 'train' as const, config: SMALL };

describe('labelled rows', () => {
  const gathered = compileFile('models/bert.yaml', { ...SHAPE, maxPredictions: 2, verify: true });
  const everywhere = compileFile('models/bert.yaml', SHAPE);

  it('computes the decoder at batch × max predictions rows, fed from the labels', () => {
    expect(gathered.passes).toContain('labelled-rows');
    const decoders = gathered.graph.nodes.filter((n) => n.op === 'matmul' && n.type.shape.at(-1) === SMALL.vocab_size);
    expect(decoders.map((n) => n.type.shape)).toEqual([[4, SMALL.vocab_size]]);
    const { program } = buildProgram(gathered.graph);
    expect(program.inputs.filter((i) => i.derived).map((i) => [i.name, i.shape, i.derived!.of, i.derived!.take])).toEqual([
      ['labels.rows', [4], 'labels', 'rows'],
      ['labels.labels', [4], 'labels', 'labels'],
    ]);
    expect(program.inputs.some((i) => i.name === 'labels')).toBe(false);
  });

  it('gives the losses, metrics and updates of the whole head (float64 interpreter)', () => {
    const { inputs, values } = interpreterFeeds(gathered.graph, { labels: { dtype: 'i32', shape: [SHAPE.batch, SHAPE.seq] } });
    const a = interpret(gathered.graph, inputs, values, { seed: 1, step: 1 });
    const b = interpret(everywhere.graph, inputs, values, { seed: 1, step: 1 });
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    for (const [name, got_] of Object.entries(a)) {
      const want = b[name]!;
      const got = got_.data;
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want.data[i]!));
      expect(worst, name).toBeLessThan(1e-12);
    }
  });

  async function sameStep(backend: Backend): Promise<void> {
    const a = buildProgram(gathered.graph);
    const b = buildProgram(everywhere.graph);
    const inputs = inputsFor(a.program, 7);
    const worst = worstDifference(await runOnce(a, 1, inputs, { backend }), await runOnce(b, 1, inputs, { backend }), 1e-5);
    expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
  }

  it('gives the same step on the CPU backend (losses, metrics, updates)', () => sameStep('js'));
  it.runIf(gpu)('gives the same step on WebGPU (losses, metrics, updates)', () => sameStep('webgpu'));

  it('cuts the FLOPs of a bert-small step by the decoder at unmasked positions', () => {
    const shape = { batch: 8, seq: 128, mode: 'train' as const };
    const all = compileFile('models/bert-small.yaml', shape).flops;
    const masked = compileFile('models/bert-small.yaml', { ...shape, maxPredictions: 20 }).flops;
    // The tied decoder is 6 · 30522 · 512 FLOPs per row and step; 1024 − 160 rows no longer pay it.
    expect(all - masked).toBeGreaterThan(0.95 * 6 * 30522 * 512 * (1024 - 160));
  });

  it('refuses a batch that labels more rows than the program holds, in one line', async () => {
    const compiled = buildProgram(gathered.graph);
    const session = await openSession(compiled);
    try {
      session.setParams(initParams(compiled.program.params, 1));
      const inputs = { ...inputsFor(compiled.program, 1), labels: Int32Array.from({ length: 16 }, (_, i) => (i < 5 ? 3 : -100)) };
      await expect(session.run(inputs)).rejects.toThrow(InputError);
      await expect(session.run(inputs)).rejects.toThrow("'labels' labels 5 positions, more than the 4 this program computes its head at (compile it with a larger --max-predictions)");
    } finally {
      session.destroy();
    }
  });
});
