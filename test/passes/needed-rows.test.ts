// The needed-rows rewrite (an encoder's last layer after attention computed
// only at the rows its heads read) against the same training step without
// it: the same losses, metrics and updated parameters, with dropout on, in
// the float64 interpreter and on the JavaScript and native CPU backends; the
// shapes it leaves; and the FLOPs it saves.

import { describe, expect, it } from 'vitest';
import { compileFile, type CompileOptions } from '../../compiler/compile.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { graphStats } from '../../compiler/ir/stats.js';
import type { HostTensor } from '../../compiler/ir/tensor.js';
import { DEFAULT_ADAMW } from '../../compiler/passes/optimizer.js';
import { PIPELINE, type PipelineOptions } from '../../compiler/passes/pipeline.js';
import { buildProgram } from '../../compiler/program.js';
import { inputsFor, interpreterFeeds, runOnce, worstDifference } from '../helpers/programs.js';

const SMALL = { vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16 };
const BATCH = 2;
const SEQ = 8;

/** The training step of a spec compiled with needed-rows and without it (the rest of the pipeline the same). */
function bothWays(file: string, options: CompileOptions = {}): { on: Graph; off: Graph } {
  let before: Graph | undefined;
  let seen = false;
  const on = compileFile(file, {
    batch: BATCH, seq: SEQ, mode: 'train', config: SMALL, verify: true, ...options,
    after: (pass, g) => {
      if (pass === 'needed-rows') seen = true;
      if (!seen) before = g;
    },
  });
  expect(on.passes).toContain('needed-rows');
  const o: PipelineOptions = { fuse: true, optimizer: on.optimizer ?? DEFAULT_ADAMW, ...(options.maxPredictions ? { labelledRows: (options.batch ?? BATCH) * options.maxPredictions } : {}) };
  const after = PIPELINE.slice(PIPELINE.findIndex((p) => p.name === 'needed-rows') + 1);
  const off = after.filter((p) => p.when(o)).reduce((g, p) => p.run(g, o), before!);
  return { on: on.graph, off };
}

/** The rows of the products that make [rows, width] values of a layer's feed-forward (width: the intermediate size). */
const upRows = (g: Graph) => g.nodes.filter((n) => n.op === 'matmul' && n.type.shape.at(-1) === SMALL.intermediate_size && !n.label.startsWith('grad')).map((n) => n.type.shape.slice(0, -1));

/** Both graphs' outputs in the float64 interpreter, from one set of inputs, parameters, states and draws. */
function interpretBoth({ on, off }: { on: Graph; off: Graph }, labels: readonly number[]) {
  const { inputs, values } = interpreterFeeds(on, { labels: { dtype: 'i32', shape: labels } });
  const run = (g: Graph) => interpret(g, inputs, values, { training: true, seed: 1, step: 1 });
  return { a: run(on), b: run(off) };
}

function expectSame(a: Record<string, HostTensor>, b: Record<string, HostTensor>, tolerance: number): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const [name, got] of Object.entries(a)) {
    let worst = 0;
    for (let i = 0; i < got.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i]! - b[name]!.data[i]!));
    expect(worst, name).toBeLessThan(tolerance);
  }
}

describe('needed rows', () => {
  const pretraining = bothWays('models/bert.yaml', { maxPredictions: 2 });
  const classifier = bothWays('models/bert-base-classifier.yaml');

  it('computes the last layer after attention at the labelled rows and the first tokens alone', () => {
    // Layer 0 at every row; layer 1 at 2 × 2 labelled rows and 2 first tokens.
    expect(upRows(pretraining.off)).toEqual([[BATCH, SEQ], [BATCH, SEQ]]);
    expect(upRows(pretraining.on)).toEqual([[BATCH, SEQ], [BATCH * 2 + BATCH]]);
    const dropouts = pretraining.on.nodes.filter((n) => n.op === 'dropout_rows');
    expect(dropouts.map((n) => [n.type.shape, n.attrs])).toEqual([
      [[6, 16], { rate: 0.1, stream: 6, rows: 16 }],
      [[6, 16], { rate: 0.1, stream: 7, rows: 16 }],
      // Their gradients draw the same masks.
      [[6, 16], { rate: 0.1, stream: 7, rows: 16 }],
      [[6, 16], { rate: 0.1, stream: 6, rows: 16 }],
    ]);
    // A sentence classifier reads the first tokens alone.
    expect(upRows(classifier.on)).toEqual([[BATCH, SEQ], [BATCH]]);
  });

  it('gives the losses, metrics and updates of the whole layer, with dropout (float64 interpreter)', () => {
    const pre = interpretBoth(pretraining, [BATCH, SEQ]);
    expectSame(pre.a, pre.b, 1e-12);
    const fine = interpretBoth(classifier, [BATCH]);
    expectSame(fine.a, fine.b, 1e-12);
  });

  it.each([['JavaScript', false], ['native', true]] as const)('gives the same step on the %s backend', async (_, native) => {
    const run = (g: Graph) => {
      const compiled = buildProgram(g);
      return runOnce(compiled, 1, inputsFor(compiled.program, 7), { backend: native ? 'native' : 'js' });
    };
    // Native: the pretraining step alone (each program is a C compile).
    for (const { on, off } of native ? [pretraining] : [pretraining, classifier]) {
      const worst = worstDifference(await run(on), await run(off), 1e-5);
      expect(worst.ratio, worst.where).toBeLessThanOrEqual(1);
    }
  });

  it('cuts the FLOPs of a bert-small pretraining step by the last layer at unread rows', () => {
    const { on, off } = bothWays('models/bert-small.yaml', { batch: 8, seq: 128, maxPredictions: 20, config: {}, verify: false });
    const saved = graphStats(off).flops - graphStats(on).flops;
    // The output projection and the feed-forward, forward and backward: 6 · (512² + 2 · 512 · 2048) FLOPs per row; 1024 − 168 rows no longer pay them.
    const perRow = 6 * (512 * 512 + 2 * 512 * 2048);
    expect(saved).toBeGreaterThan(perRow * (1024 - 168));
    expect(saved).toBeLessThan(1.1 * perRow * (1024 - 168));
  });
});
