// ONNX export, checked by running the exported model in onnxruntime against
// the float64 interpreter: an independent implementation of every op used.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { exportOnnx } from '../../compiler/export/onnx.js';
import { GraphBuilder, sourceName, type Graph } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import { OP_CASES, TRAINING_ONLY_OPS } from '../ops/cases.js';
import { maxAbsDiff, randomTensor, rng } from '../helpers/random.js';
import { modelsDir, specFiles, tcc } from '../helpers/cli.js';
import { writeSafetensors } from '../../runtime/safetensors.js';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

async function runOrt(graph: Graph, params: Record<string, HostTensor>, inputs: Record<string, HostTensor>) {
  const { model } = exportOnnx(graph, Object.fromEntries(Object.entries(params).map(([n, t]) => [n, t.data])));
  const session = await ort.InferenceSession.create(model);
  // Integer inputs as onnxruntime's users pass them: int64.
  const feeds = Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, t.dtype === 'i32' ? new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), [...t.shape]) : new ort.Tensor('float32', Float32Array.from(t.data), [...t.shape])]));
  return session.run(feeds);
}

describe('ONNX export', () => {
  it.each(['bert', 'roberta', 'distilbert', 'albert', 'electra', 'electra-generator', 'nomic-bert', 'modernbert', 'jina-bert'])('runs %s in onnxruntime with the interpreter\'s outputs (1e-4)', async (family) => {
    const spec = specFiles({ 'm.yaml': `extends: ${modelsDir()}/${family}.yaml\nconfig: {vocab_size: 60, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 48, max_position_embeddings: 16${/albert|electra/.test(family) ? ', embedding_size: 12' : ''}}\n` })['m.yaml']!;
    const { graph, spec: parsed } = compileFile(spec, { batch: 2, seq: 6 });
    const next = rng(8);
    const params = Object.fromEntries(graph.nodes.filter((n) => n.op === 'param').map((n) => [sourceName(n)!, randomTensor(next, 'f32', n.type.shape, -0.3, 0.3)]));
    for (const t of Object.values(params)) t.data.set(Float32Array.from(t.data));
    // Padding (id 0, and RoBERTa's 1) in the second row; two token types where the model has them.
    const all = {
      input_ids: hostTensor('i32', [2, 6], [1, 9, 22, 31, 47, 2, 3, 5, 2, 0, 1, 1]),
      token_type_ids: hostTensor('i32', [2, 6], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0].map((t) => (parsed.config['type_vocab_size']?.value === 1 ? 0 : t))),
      attention_mask: hostTensor('i32', [2, 6], [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]),
    };
    const inputs = Object.fromEntries(parsed.inputs.map((i) => [i.name, all[i.name as keyof typeof all]]));
    const got = await runOrt(graph, params, inputs);
    const want = interpret(graph, inputs, params);
    for (const [name, t] of Object.entries(want)) {
      expect(got[name]!.dims, name).toEqual(t.shape);
      expect(maxAbsDiff(got[name]!.data as Float32Array, t.data), name).toBeLessThan(1e-4);
    }
  });

  it.each([
    ['learned positions, post-LN', '', false],
    ['sinusoidal positions, pre-LN, weights beside the model', ', position_embedding_type: sinusoidal, norm_placement: pre', true],
  ] as const)('tcc export --format onnx (%s) runs at any batch and seq with the interpreter\'s outputs (1e-4)', async (_, extra, external) => {
    const spec = specFiles({ 'm.yaml': `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 32${extra}}\n` })['m.yaml']!;
    const next = rng(5);
    const params = Object.fromEntries(compileFile(spec, { batch: 1, seq: 4 }).graph.nodes.filter((n) => n.op === 'param').map((n) => [sourceName(n)!, randomTensor(next, 'f32', n.type.shape, -0.3, 0.3)]));
    for (const t of Object.values(params)) t.data.set(Float32Array.from(t.data));
    const weights = join(dirname(spec), 'w.safetensors');
    writeFileSync(weights, writeSafetensors(Object.fromEntries(Object.entries(params).map(([n, t]) => [n, { dtype: 'F32' as const, shape: t.shape, data: Float32Array.from(t.data) }]))));
    const file = join(dirname(spec), 'm.onnx');
    const result = await tcc('export', spec, '--format', 'onnx', '-o', file, '--weights', weights, ...(external ? ['--external-data'] : []));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(external ? 'weights in m.onnx.data beside it' : 'batch and seq dynamic');
    const session = await ort.InferenceSession.create(file);
    expect(session.inputNames).toEqual(['input_ids', 'token_type_ids', 'attention_mask']);
    for (const [batch, seq] of [[1, 5], [3, 7], [2, 12]] as const) {
      const ids = Array.from({ length: batch * seq }, () => Math.floor(next() * 50));
      const inputs = {
        input_ids: hostTensor('i32', [batch, seq], ids),
        token_type_ids: hostTensor('i32', [batch, seq], ids.map((_, i) => (i % seq >= seq / 2 ? 1 : 0))),
        attention_mask: hostTensor('i32', [batch, seq], ids.map((_, i) => (i % seq < seq - (i < seq ? 0 : 2) ? 1 : 0))),
      };
      const got = await session.run(Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), [...t.shape])])));
      const want = interpret(compileFile(spec, { batch, seq }).graph, inputs, params);
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      for (const [name, t] of Object.entries(want)) {
        expect(got[name]!.dims, `${name} at ${batch}×${seq}`).toEqual(t.shape);
        expect(maxAbsDiff(got[name]!.data as Float32Array, t.data), `${name} at ${batch}×${seq}`).toBeLessThan(1e-4);
      }
    }
  });

  it.each(OP_CASES.filter((c) => c.op !== 'input' && c.op !== 'param' && !TRAINING_ONLY_OPS.includes(c.op)).map((c, i) => [`${c.op} #${i}`, c] as const))('exports %s', async (_, test) => {
    const next = rng(4);
    const g = new GraphBuilder('case', 'infer', {});
    const xs = test.operands.map((o) => (o.values ? hostTensor(o.dtype, o.shape, o.values) : randomTensor(next, o.dtype, o.shape, o.lo ?? -2, o.hi ?? 2)));
    for (const x of xs) if (x.dtype === 'f32') x.data.set(Float32Array.from(x.data));
    const args = xs.map((x, k) => g.add('input', [], { name: `x${k}`, dtype: x.dtype, shape: [...x.shape] }).id);
    g.output('y', g.add(test.op, args, test.attrs as never).id);
    const graph = g.build();
    const inputs = Object.fromEntries(xs.map((x, k) => [`x${k}`, x]));
    const want = interpret(graph, inputs, {})['y']!;
    const got = (await runOrt(graph, {}, inputs))['y']!;
    expect(got.dims).toEqual(want.shape);
    const worst = maxAbsDiff(Array.from(got.data as Float32Array | Int32Array, Number), want.data) / Math.max(1, ...Array.from(want.data, Math.abs));
    expect(worst).toBeLessThan(1e-5);
  });
});
