// The native backend (C built by the system's compiler) against the float64
// interpreter on the op-test table: the same f32 inputs, relative error
// ≤ 1e-5 and absolute error ≤ 1e-6. Products (the ops of fusion class
// matmul: matmul and attention) accumulate in f32 registers, in an order of
// their own, over up to a thousand terms of size ~1: where a dot product
// cancels to near zero its f32 rounding (~√K · 6e-8 · |terms|) exceeds 1e-6,
// so their absolute tolerance is 2e-5 (attention's gradient chains two
// products: dK = (P∘(dO·Vᵀ − δ))ᵀ·Q). The JavaScript backend accumulates in
// doubles and needs no exception. Sums keep double accumulators either way
// (per kept point, row by row into blocks of them for column sums, or per
// chunk of a long sum, the chunks' sums then added in order).

import { beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/graph.js';
import { opDef } from '../../compiler/ir/ops/index.js';
import { buildProgram, programSources } from '../../compiler/program.js';
import { OP_CASES, type OpCase } from '../ops/cases.js';
import { caseName as name, checkOp, checkOps, SIZED_CASES } from './op-table.js';
import { compileFile } from '../../compiler/compile.js';
import type { AttentionKernel } from '../../kernel/ir.js';
import { modelsDir, specFiles } from '../helpers/cli.js';
import { inputsFor, runOnce, worstDifference } from '../helpers/programs.js';

const atol = (test: OpCase) => (opDef(test.op).fusion === 'matmul' ? 2e-5 : 1e-6);

describe('native backend', () => {
  // Every case in one program: one C build for the table.
  const table = [...OP_CASES, ...SIZED_CASES];
  let results: number[];
  beforeAll(async () => {
    results = await checkOps(table, 'infer', 99, 'native', 1e-5, atol);
  }, 120_000);
  it.each(table.map((c, i) => [name(c, i), i] as const))('%s matches the interpreter', (_, i) => {
    expect(results[i]).toBeLessThanOrEqual(1);
  });

  it('sums columns row by row (loop interchange), rows along the row, and one long sum in chunks across threads', async () => {
    const g = new GraphBuilder('sums', 'infer', {});
    const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [300, 150] }).id;
    g.output('columns', g.add('sum', [x], { axes: [0], keepdims: false }).id);
    g.output('rows', g.add('sum', [x], { axes: [1], keepdims: false }).id);
    const long = g.add('input', [], { name: 'long', dtype: 'f32', shape: [300_000] }).id;
    g.output('total', g.add('sum', [long], { axes: [0], keepdims: false }).id);
    const source = (await programSources(buildProgram(g.build()), 'cpu'))['kernels.c']!;
    expect(source.match(/double s0\[64\] = \{0\};/g)).toHaveLength(1);
    expect(source.match(/#pragma omp simd reduction\(\+:s0\)/g)).toHaveLength(1);
    expect(source.match(/#pragma omp simd reduction\(\+:p\)/g)).toHaveLength(1);
  });

  it('packs B a column panel at a time as threads reach it where A\'s rows make one block, else whole first', async () => {
    const g = new GraphBuilder('products', 'infer', {});
    const w = g.add('input', [], { name: 'w', dtype: 'f32', shape: [64, 300] }).id;
    for (const [name, rows] of [['few', 152], ['many', 400]] as const) {
      const x = g.add('input', [], { name: `x_${name}`, dtype: 'f32', shape: [rows, 64] }).id;
      g.output(name, g.add('matmul', [x, w], { transpose_a: false, transpose_b: false }).id);
    }
    const source = (await programSources(buildProgram(g.build()), 'cpu'))['kernels.c']!;
    expect(source.match(/float \*bp = tcc_local\(9, \(size_t\)TCC_NR \* 64\);/g)).toHaveLength(1);
    expect(source.match(/float \*pb = tcc_scratch\(1, /g)).toHaveLength(1);
  });

  it.each(OP_CASES.filter((c) => opDef(c.op).stochastic).map((c, i) => [name(c, i), c] as const))('%s draws the interpreter\'s dropout mask in training graphs', async (_, test) => {
    expect(await checkOp(test, 'train', 3, 'native', 1e-5, 1e-6)).toBeLessThanOrEqual(1);
  });
});

describe('native attention in a local window', () => {
  it("visits only the keys within a block's windows, with the outputs of JavaScript, which visits every key", async () => {
    // Two layers: the first global, the second within 16 tokens; 300 tokens are three blocks of queries.
    const spec = specFiles({ 'm.yaml': `extends: ${modelsDir()}/modernbert.yaml\nconfig: {vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, local_attention: 16, global_attn_every_n_layers: 2}\n` })['m.yaml']!;
    const compiled = buildProgram(compileFile(spec, { batch: 1, seq: 300 }).graph);
    const windows = compiled.kernels.filter((k) => k.kind === 'attention').map((k) => (k as AttentionKernel).window);
    expect(windows).toEqual([undefined, 8]);
    const inputs = inputsFor(compiled.program, 4);
    const [js, native] = [await runOnce(compiled, 1, inputs, { backend: 'js' }), await runOnce(compiled, 1, inputs, { backend: 'native' })];
    expect(worstDifference(native, js, 1e-4).ratio).toBeLessThanOrEqual(1);
    expect((await programSources(compiled, 'cpu'))['kernels.c']).toMatch(/j0 = i0 - 8 > 0 \? i0 - 8 : 0/);
  });
});
