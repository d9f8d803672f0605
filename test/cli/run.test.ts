// `tcc run` on a HuggingFace-named checkpoint with random weights, at a
// configuration no shipped model uses, against the float64 interpreter.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resetCompilerProbe } from '../../backends/native/build.js';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { sourceName } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { hostTensor } from '../../compiler/ir/tensor.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../runtime/safetensors.js';
import { maxAbsDiff, rng } from '../helpers/random.js';
import { modelsDir, specFiles, tcc } from '../helpers/cli.js';

const config = 'vocab_size: 50, hidden_size: 24, num_hidden_layers: 3, num_attention_heads: 3, intermediate_size: 40, max_position_embeddings: 20';
const inputs = {
  input_ids: [[2, 17, 33, 8, 49, 3, 0], [2, 5, 6, 3, 0, 0, 0]],
  token_type_ids: [[0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0]],
  attention_mask: [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]],
};

function setup() {
  const files = specFiles({ 'odd.yaml': `extends: ${modelsDir()}/bert.yaml\nconfig: {${config}}\n`, 'inputs.json': JSON.stringify(inputs) });
  const spec = files['odd.yaml']!;
  const dir = spec.replace(/odd\.yaml$/, '');
  const { graph } = compileFile(spec, { batch: 2, seq: 7 });
  const next = rng(31);
  const weights: Record<string, TensorToWrite> = {};
  for (const node of graph.nodes.filter((n) => n.op === 'param')) {
    const n = node.type.shape.reduce((a, d) => a * d, 1);
    weights[sourceName(node)!] = { dtype: 'F32', shape: node.type.shape, data: Float32Array.from({ length: n }, () => (next() - 0.5) * 0.6) };
  }
  return { spec, dir, graph, weights, inputsFile: files['inputs.json']! };
}

/** The outputs written to `out` are the float64 interpreter's within 1e-4. */
function expectInterpreterOutputs(out: string, graph: Graph, weights: Record<string, TensorToWrite>): void {
  const got = readSafetensors(readFileSync(out)).tensors;
  const params = Object.fromEntries(Object.entries(weights).map(([n, t]) => [n, hostTensor('f32', t.shape, t.data)]));
  const feeds = Object.fromEntries(Object.entries(inputs).map(([n, rows]) => [n, hostTensor('i32', [2, 7], rows.flat())]));
  const want = interpret(graph, feeds, params);
  expect([...got.keys()].sort()).toEqual(['last_hidden_state', 'pooler_output', 'prediction_logits', 'seq_relationship_logits']);
  for (const [name, t] of Object.entries(want)) {
    expect(got.get(name)!.shape, name).toEqual(t.shape);
    expect(maxAbsDiff(got.get(name)!.data, t.data), name).toBeLessThan(1e-4);
  }
}

describe('tcc run', () => {
  it('gives the interpreter\'s outputs within 1e-4 from a HuggingFace-named checkpoint', async () => {
    const { spec, dir, graph, weights, inputsFile } = setup();
    // HuggingFace also stores buffers and the tied decoder copy; they must be skipped, not fail.
    const file = {
      ...weights,
      'bert.embeddings.position_ids': { dtype: 'I32' as const, shape: [1, 20], data: Array.from({ length: 20 }, (_, i) => i) },
      'cls.predictions.decoder.weight': weights['bert.embeddings.word_embeddings.weight']!,
    };
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(file));
    const out = join(dir, 'out.safetensors');
    const result = (await tcc('run', '--model', spec, '--weights', join(dir, 'model.safetensors'), '--inputs', inputsFile, '--out', out));
    expect(result.stderr).toMatch(/odd: batch 2 × seq 7 on cpu \(native, \d+ threads?\), weights /);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toMatch(/unused/);

    expectInterpreterOutputs(out, graph, weights);
  });

  it('runs WebAssembly instead, saying so in one line, where no C compiler is on the PATH', async () => {
    const { spec, dir, graph, weights, inputsFile } = setup();
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(weights));
    const out = join(dir, 'out.safetensors');
    const packed = join(dir, 'packed');
    expect((await tcc('compile', spec, '--packed', '--batch', '2', '--seq', '7', '-o', packed)).code).toBe(0);
    const saved = { path: process.env['PATH'], cc: process.env['CC'] };
    process.env['PATH'] = mkdtempSync(join(tmpdir(), 'tcc-no-cc-'));
    delete process.env['CC'];
    resetCompilerProbe();
    let result;
    let sized;
    try {
      result = await tcc('run', '--model', spec, '--weights', join(dir, 'model.safetensors'), '--inputs', inputsFile, '--out', out, '--backend', 'native');
      // A padding-free program falls back the same way: WebAssembly takes its sizes.
      sized = await tcc('run', '--model', packed, '--weights', join(dir, 'model.safetensors'), '--inputs', inputsFile, '--backend', 'native');
    } finally {
      process.env['PATH'] = saved.path;
      if (saved.cc !== undefined) process.env['CC'] = saved.cc;
      resetCompilerProbe();
    }
    expect(result.code).toBe(0);
    expect(result.stderr.split('\n').filter((l) => /C compiler/.test(l))).toEqual(['no C compiler found (cc, gcc or $CC): running the WebAssembly backend instead of native code']);
    expect(result.stderr).toMatch(/odd: batch 2 × seq 7 on cpu \(WebAssembly SIMD, \d+ threads?\), weights /);
    expectInterpreterOutputs(out, graph, weights);
    expect(sized.code, sized.stderr).toBe(0);
    expect(sized.stderr).toContain('no C compiler found (cc, gcc or $CC): running the WebAssembly backend instead of native code');
  });

  it('runs a program directory that tcc compile wrote, without compiling, padding shorter inputs and refusing longer ones', async () => {
    const { spec, dir, graph, weights, inputsFile } = setup();
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(weights));
    const program = join(dir, 'program');
    expect((await tcc('compile', spec, '--batch', '2', '--seq', '7', '-o', program)).code).toBe(0);
    const out = join(dir, 'out.safetensors');
    const result = await tcc('run', '--model', program, '--weights', join(dir, 'model.safetensors'), '--inputs', inputsFile, '--out', out);
    expect(result.code).toBe(0);
    expectInterpreterOutputs(out, graph, weights);
    // One row of three tokens: padded to 2 × 7 (mask 0), the padding row's outputs dropped; the real positions as the interpreter's.
    writeFileSync(join(dir, 'short.json'), JSON.stringify({ input_ids: [2, 17, 3] }));
    const short = await tcc('run', '--model', program, '--weights', join(dir, 'model.safetensors'), '--inputs', join(dir, 'short.json'), '--out', out);
    expect(short.code, short.stderr).toBe(0);
    const got = readSafetensors(readFileSync(out)).tensors.get('last_hidden_state')!;
    expect(got.shape).toEqual([1, 7, 24]);
    const { graph: g3 } = compileFile(spec, { batch: 1, seq: 3 });
    const params = Object.fromEntries(Object.entries(weights).map(([n, t]) => [n, hostTensor('f32', t.shape, t.data)]));
    const feeds = { input_ids: hostTensor('i32', [1, 3], [2, 17, 3]), token_type_ids: hostTensor('i32', [1, 3], [0, 0, 0]), attention_mask: hostTensor('i32', [1, 3], [1, 1, 1]) };
    const want = interpret(g3, feeds, params)['last_hidden_state']!;
    expect(maxAbsDiff(got.data.subarray(0, 3 * 24), want.data)).toBeLessThan(1e-4);
    writeFileSync(join(dir, 'long.json'), JSON.stringify({ input_ids: [2, 17, 33, 8, 49, 3, 5, 6, 3] }));
    const other = await tcc('run', '--model', program, '--weights', join(dir, 'model.safetensors'), '--inputs', join(dir, 'long.json'), '--out', out);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/long\.json holds 1 × 9 tokens; the program takes 2 × 7 \(compile it with --batch 2 --seq 9\)/);
  });

  it("refuses text longer than a program directory's length with both lengths, and cuts it with --truncate", async () => {
    const program = join(setup().dir, 'tiny-program');
    expect((await tcc('compile', join(modelsDir(), 'bert-tiny.yaml'), '--batch', '1', '--seq', '8', '-o', program)).code).toBe(0);
    const text = ['--text', 'the capital of france is paris and the capital of germany is berlin', '--vocab', join(modelsDir(), 'vocab.txt'), '--backend', 'js'];
    const long = await tcc('run', '--model', program, ...text);
    expect([long.code, long.stderr.trim()]).toEqual([2, 'tcc: error: the tokens of --text holds 1 × 15 tokens; the program takes 1 × 8 (compile it with --batch 1 --seq 15, or give --truncate to cut the text)']);
    const cut = await tcc('run', '--model', program, ...text, '--truncate');
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stderr).toContain('tokens [CLS] the capital of france is paris [SEP]');
    // A padding-free program: the same refusal in its own numbers, and the same cut.
    const packed = join(setup().dir, 'tiny-packed');
    expect((await tcc('compile', join(modelsDir(), 'bert-tiny.yaml'), '--packed', '--batch', '2', '--seq', '8', '-o', packed)).code).toBe(0);
    const refused = await tcc('run', '--model', packed, ...text);
    expect([refused.code, refused.stderr.trim()]).toEqual([2, 'tcc: error: the tokens of --text: sequence 0 has 15 tokens, more than the 8 the program was compiled for (--seq); give --truncate to cut the text']);
    const fits = await tcc('run', '--model', packed, ...text, '--truncate');
    expect(fits.code, fits.stderr).toBe(0);
    expect(fits.stderr).toContain('tokens [CLS] the capital of france is paris [SEP]');
  });

  it('runs a padding-free program directory on rows of any length: each row as a program of its own length gives it', async () => {
    const { spec, dir, weights } = setup();
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(weights));
    const program = join(dir, 'packed');
    const compiled = await tcc('compile', spec, '--packed', '--batch', '3', '--seq', '7', '--tokens', '12', '-o', program);
    expect(compiled.code, compiled.stderr).toBe(0);
    expect(compiled.stderr).toContain('(infer, padding-free: up to 3 sequences of up to 7 tokens, 12 in all)');
    const training = await tcc('compile', spec, '--packed', '--mode', 'train', '--batch', '3', '--seq', '7', '--json');
    expect(training.code, training.stderr).toBe(0);
    expect(JSON.parse(training.stdout)).toMatchObject({ mode: 'train', batch: 3, seq: 7, tokens: 21, packed: true });
    const rows = [[2, 17, 3], [2, 33, 8, 49, 5, 6, 3], [2, 9]];
    writeFileSync(join(dir, 'rows.jsonl'), rows.map((r) => JSON.stringify({ input_ids: r })).join('\n') + '\n');
    const out = join(dir, 'packed.safetensors');
    const result = await tcc('run', '--model', program, '--weights', join(dir, 'model.safetensors'), '--inputs', join(dir, 'rows.jsonl'), '--out', out, '--backend', 'native');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/odd: batch 3 × seq 7 on cpu \(native/);
    const got = readSafetensors(readFileSync(out)).tensors.get('last_hidden_state')!;
    expect(got.shape).toEqual([3, 7, 24]);
    const params = Object.fromEntries(Object.entries(weights).map(([n, t]) => [n, hostTensor('f32', t.shape, t.data)]));
    rows.forEach((row, r) => {
      const { graph } = compileFile(spec, { batch: 1, seq: row.length });
      const feeds = { input_ids: hostTensor('i32', [1, row.length], row), token_type_ids: hostTensor('i32', [1, row.length], row.map(() => 0)), attention_mask: hostTensor('i32', [1, row.length], row.map(() => 1)) };
      const want = interpret(graph, feeds, params)['last_hidden_state']!;
      expect(maxAbsDiff(got.data.subarray(r * 7 * 24, (r * 7 + row.length) * 24), want.data)).toBeLessThan(1e-4);
    });
    writeFileSync(join(dir, 'many.jsonl'), [...rows, [2, 3, 4, 5, 6, 3]].map((r) => JSON.stringify({ input_ids: r })).join('\n') + '\n');
    const many = await tcc('run', '--model', program, '--weights', join(dir, 'model.safetensors'), '--inputs', join(dir, 'many.jsonl'), '--backend', 'js');
    expect([many.code, many.stderr.trim()]).toEqual([2, `tcc: error: ${join(dir, 'many.jsonl')}: 4 sequences, more than the 3 the program was compiled for (--batch)`]);
  });

  it('refuses a checkpoint that lacks parameters, and token ids outside the vocabulary', async () => {
    const { spec, dir, weights, inputsFile } = setup();
    const partial = { ...weights };
    delete partial['bert.pooler.dense.weight'];
    writeFileSync(join(dir, 'partial.safetensors'), writeSafetensors(partial));
    const missing = (await tcc('run', '--model', spec, '--weights', join(dir, 'partial.safetensors'), '--inputs', inputsFile, '--out', join(dir, 'o.safetensors')));
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toMatch(/lacks 1 of the model's parameters, e.g. 'bert\.pooler\.dense\.weight'/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ input_ids: [[2, 50, 3]] }));
    const bad = (await tcc('run', '--model', spec, '--inputs', join(dir, 'bad.json'), '--out', join(dir, 'o.safetensors')));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/input_ids\[0\]\[1\] = 50 is out of range \[0, 50\)/);
  });

  it('initializes from a seed reproducibly, as BERT does', async () => {
    const { spec, dir, inputsFile } = setup();
    const a = join(dir, 'a.safetensors');
    const b = join(dir, 'b.safetensors');
    expect((await tcc('run', '--model', spec, '--inputs', inputsFile, '--out', a, '--seed', '5')).code).toBe(0);
    expect((await tcc('run', '--model', spec, '--inputs', inputsFile, '--out', b, '--seed', '5')).code).toBe(0);
    expect(readFileSync(a)).toEqual(readFileSync(b));
  });
});
