// Padding-free programs against programs of one shape. One packed program
// (up to 8 sequences of up to 512 tokens, 4,096 in all) runs batches of
// 1 × 7, 3 × 128, 8 × 512 (native) and of mixed lengths: every real token's outputs
// and every sequence's pooled output equal those of a program compiled for
// exactly that shape (1e-5), and those of a padded batch's real tokens; on
// the JavaScript, WebAssembly, native and WebGPU backends. Then what a
// packed program refuses.

import { beforeAll, describe, expect, it } from 'vitest';
import { compilePacked } from '../../compiler/packed.js';
import { buildGraph } from '../../compiler/frontend/build.js';
import { loadSpec } from '../../compiler/parser/load.js';
import { runPipeline } from '../../compiler/passes/pipeline.js';
import { buildProgram, type CompiledProgram } from '../../compiler/program.js';
import type { Spec } from '../../compiler/parser/spec.js';
import { encodeKernels } from '../../runtime/kernel-json.js';
import { checkProgram } from '../../runtime/program-check.js';
import { initParams } from '../../runtime/init.js';
import { packSequences, unpackOutputs } from '../../runtime/packed.js';
import { openSession, type Session } from '../../runtime/session.js';
import { rng } from '../helpers/random.js';
import { hasWebGpu } from '../helpers/webgpu.js';
import { stDirectory, wordPieceTokenizer } from '../helpers/sentence-transformers.js';
import { compileFile } from '../../compiler/compile.js';
import { openOn } from '../../backends/registry.js';
import { renderKernelWgsl } from '../../backends/webgpu/render.js';
import { runGrid } from '../../backends/webgpu/module.js';
import { wasmBackend } from '../../backends/wasm/index.js';

// bert-tiny with its next-sentence head (per sequence) but not the masked-LM decoder (30,522 columns per token).
const SPEC = 'test:bert-tiny-nsp.yaml';
const SPEC_TEXT = 'extends: tcc:bert-tiny.yaml\nname: bert-tiny-nsp\nheads:\n  mlm: null\n';
const SIZES = { tokens: 4096, sequences: 8, longest: 512 };

let spec: Spec;
let packed: CompiledProgram;
let params: Record<string, Float32Array>;

beforeAll(() => {
  spec = loadSpec(SPEC, new Map([[SPEC, SPEC_TEXT]])).spec;
  packed = compilePacked(spec, SIZES, { verify: true, check: true }).compiled;
  params = initParams(packed.program.params, 3);
});

/** Sequences of these lengths: random token ids and types. */
function sequences(lengths: readonly number[], seed: number) {
  const next = rng(seed);
  return lengths.map((n) => ({ input_ids: Int32Array.from({ length: n }, () => 1 + Math.floor(next() * 30000)), token_type_ids: Int32Array.from({ length: n }, () => (next() < 0.3 ? 1 : 0)) }));
}

const fixedSessions = new Map<string, Session>();
/** A session of a program compiled for exactly batch × seq. */
async function fixed(backend: string, batch: number, seq: number): Promise<Session> {
  const key = `${backend} ${batch}x${seq}`;
  let session = fixedSessions.get(key);
  if (!session) {
    session = await openSession(buildProgram(runPipeline(buildGraph(spec, { batch, seq, mode: 'infer' }), { fuse: true }).graph), { backend });
    session.setParams(params);
    fixedSessions.set(key, session);
  }
  return session;
}

/** The largest difference between the packed run's outputs and a padded batch's (real tokens only, and every pooled row). */
async function worstAgainstPadded(backend: string, session: Session, lengths: readonly number[], seed: number): Promise<number> {
  const given = sequences(lengths, seed);
  const batch = packSequences(session.program, given);
  const out = unpackOutputs(session.program, batch, await session.run(batch.inputs, { seed: 0, step: 0, sizes: batch.sizes }), Math.max(...lengths));
  const seq = Math.max(...lengths);
  const padded = (key: 'input_ids' | 'token_type_ids') => {
    const data = new Int32Array(lengths.length * seq);
    given.forEach((s, i) => data.set(s[key], i * seq));
    return data;
  };
  const mask = Int32Array.from({ length: lengths.length * seq }, (_, i) => (i % seq < lengths[Math.floor(i / seq)]! ? 1 : 0));
  const ref = await (await fixed(backend, lengths.length, seq)).run({ input_ids: padded('input_ids'), token_type_ids: padded('token_type_ids'), attention_mask: mask });
  const hidden = ref['last_hidden_state']!.shape.at(-1)!;
  let worst = 0;
  lengths.forEach((n, i) => {
    for (let k = 0; k < n * hidden; k++) worst = Math.max(worst, Math.abs(out['last_hidden_state']!.data[i * seq * hidden + k]! - ref['last_hidden_state']!.data[i * seq * hidden + k]!));
  });
  const pooled = ref['pooler_output']!.data;
  for (let k = 0; k < pooled.length; k++) worst = Math.max(worst, Math.abs(out['pooler_output']!.data[k]! - pooled[k]!));
  const logits = ref['seq_relationship_logits']!.data;
  for (let k = 0; k < logits.length; k++) worst = Math.max(worst, Math.abs(out['seq_relationship_logits']!.data[k]! - logits[k]!));
  return worst;
}

describe.each(['js', 'wasm', 'native', ...((await hasWebGpu()) ? ['webgpu'] : [])])('a padding-free program on %s', (backend) => {
  let session: Session;
  beforeAll(async () => {
    session = await openSession(packed, { backend });
    session.setParams(params);
  });

  // Batches of equal lengths: the program of exactly that shape has no padding at all (3 × 128 and 8 × 512 on the
  // compiled CPU backends only: seconds elsewhere, for the kernels every backend renders alike).
  const equal = backend === 'native' || backend === 'wasm' ? [[7], [128, 128, 128], Array<number>(8).fill(512)] : [[7]];
  it.each(equal.map((lengths) => [lengths]))('gives the numbers of a program of exactly %j', async (lengths) => {
    expect(await worstAgainstPadded(backend, session, lengths, lengths.length)).toBeLessThan(1e-5);
  });

  it('gives a mixed-length batch every real token of a padded batch', async () => {
    expect(await worstAgainstPadded(backend, session, [9, 40, 1, 23, 40, 2], 11)).toBeLessThan(1e-5);
  });

  it.runIf(backend === 'native' || backend === 'wasm')('runs batches one after another without the last run leaking into the next', async () => {
    await worstAgainstPadded(backend, session, Array<number>(8).fill(512), 5);
    expect(await worstAgainstPadded(backend, session, [7], 6)).toBeLessThan(1e-5);
  });
});

describe('a padding-free sentence-transformers model', () => {
  it('pools each sentence over its own tokens: mean pooling and Normalize as programs of each exact length', async () => {
    const dir = stDirectory({ model_type: 'bert' }, wordPieceTokenizer(), 'mean_tokens', true);
    const result = compileFile(dir, { batch: 4, seq: 12, packed: { tokens: 30 } });
    const compiled = buildProgram(result.graph, { check: true, runtime: result.runtime! });
    const weights = initParams(compiled.program.params, 4);
    const session = await openSession(compiled, { backend: 'js' });
    session.setParams(weights);
    const lengths = [5, 12, 1, 9];
    const given = sequences(lengths, 21).map((x) => ({ input_ids: x.input_ids.map((id) => id % 20), token_type_ids: x.token_type_ids.map(() => 0) }));
    const batch = packSequences(compiled.program, given);
    const got = (await session.run(batch.inputs, { seed: 0, step: 0, sizes: batch.sizes }))['sentence_embedding']!;
    expect(got.shape).toEqual([4, 24]);
    for (const [i, n] of lengths.entries()) {
      const alone = await openSession(buildProgram(compileFile(dir, { batch: 1, seq: n }).graph), { backend: 'js' });
      alone.setParams(weights);
      const want = (await alone.run({ input_ids: given[i]!.input_ids, token_type_ids: given[i]!.token_type_ids, attention_mask: new Int32Array(n).fill(1) }))['sentence_embedding']!.data;
      for (let k = 0; k < 24; k++) expect(Math.abs(got.data[i * 24 + k]! - want[k]!)).toBeLessThan(1e-5);
    }
  });

  it('refuses max pooling by name: the stream has no form of it yet', () => {
    const dir = stDirectory({ model_type: 'bert' }, wordPieceTokenizer(), 'max_tokens', false);
    expect(() => compileFile(dir, { batch: 4, seq: 12, packed: {} })).toThrow(/\(max\) reduces over the tokens \(mean or max pooling over a stream is not supported yet\); the padding-free form does not take it/);
  });
});

describe('the BERT family padding-free', () => {
  // Small sizes of each family's spec; ModernBERT with a local window shorter than its sequences.
  const small = { vocab_size: 60, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24 };
  const modern = { local_attention: 4, global_attn_every_n_layers: 2 };
  const families: readonly [string, Record<string, number>, string][] = [
    ['roberta', {}, 'js'], ['distilbert', {}, 'js'], ['albert', {}, 'js'], ['electra', {}, 'js'], ['jina-bert', {}, 'js'], ['nomic-bert', {}, 'js'], ['modernbert', modern, 'js'],
    // Native code skips keys by blocks: a local window's and each sequence's at once; WebAssembly by each row's range.
    ['modernbert', modern, 'native'], ['modernbert', modern, 'wasm'], ['jina-bert', {}, 'wasm'],
  ];
  it.each(families)('%s gives a mixed-length batch every real token of the padded batch (positions, rotary angles, local windows and ALiBi within each sequence): %o on %s', async (family, extra, backend) => {
    const file = `models/${family}.yaml`;
    const config = { ...small, ...extra };
    const lengths = [5, 12, 2];
    const compiled = compileFile(file, { batch: 3, seq: 12, packed: { tokens: 30 }, config });
    const packedProgram = buildProgram(compiled.graph, { check: true, runtime: compiled.runtime! });
    const padded = buildProgram(compileFile(file, { batch: 3, seq: 12, config }).graph);
    const weights = initParams(padded.program.params, 2);
    const [a, b] = [await openSession(packedProgram, { backend }), await openSession(padded, { backend })];
    a.setParams(weights);
    b.setParams(weights);
    const given = sequences(lengths, 9).map((x) => ({ input_ids: x.input_ids.map((id) => 5 + (id % 50)), token_type_ids: x.token_type_ids.map(() => 0) }));
    const fed = new Set(packedProgram.program.inputs.map((i) => i.name));
    const batch = packSequences(packedProgram.program, given.map((g) => Object.fromEntries(Object.entries(g).filter(([name]) => fed.has(name)))));
    const got = unpackOutputs(packedProgram.program, batch, await a.run(batch.inputs, { seed: 0, step: 0, sizes: batch.sizes }), 12);
    const pad = (key: 'input_ids' | 'token_type_ids', fill: number) => Int32Array.from(given.flatMap((g) => [...g[key], ...Array<number>(12 - g[key].length).fill(fill)]));
    const mask = Int32Array.from(lengths.flatMap((n) => Array.from({ length: 12 }, (_, i) => (i < n ? 1 : 0))));
    const inputs = Object.fromEntries(Object.entries({ input_ids: pad('input_ids', 1), token_type_ids: pad('token_type_ids', 0), attention_mask: mask }).filter(([name]) => padded.program.inputs.some((i) => i.name === name)));
    const want = await b.run(inputs);
    const hidden = want['last_hidden_state']!;
    const width = hidden.shape.at(-1)!;
    let worst = 0;
    lengths.forEach((n, r) => {
      for (let k = 0; k < n * width; k++) worst = Math.max(worst, Math.abs(got['last_hidden_state']!.data[r * 12 * width + k]! - hidden.data[r * 12 * width + k]!));
    });
    expect(worst).toBeLessThan(1e-5);
  });
});

/** Three training steps of a padding-free program and of a padded one on the same batch: each step's losses. */
async function stepLosses(backend: string, spec: string, lengths: readonly number[], perToken: boolean, maxPredictions?: number): Promise<{ packed: number[][]; padded: number[][] }> {
  const config = { vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 32 };
  const heads = maxPredictions === undefined ? {} : { maxPredictions };
  const compiled = compileFile(spec, { batch: 4, seq: 16, mode: 'train', dropout: 0, config, packed: { tokens: 40 }, ...heads });
  const packedProgram = buildProgram(compiled.graph, { check: true, runtime: compiled.runtime! });
  const seq = Math.max(...lengths);
  const paddedProgram = buildProgram(compileFile(spec, { batch: lengths.length, seq, mode: 'train', dropout: 0, config, ...heads }).graph);
  const weights = initParams(paddedProgram.program.params, 5);
  const [packedSession, paddedSession] = await Promise.all([openSession(packedProgram, { backend }), openSession(paddedProgram, { backend })]);
  packedSession.setParams(weights);
  paddedSession.setParams(weights);
  const ids = lengths.map((n, s) => Array.from({ length: n }, (_, i) => 5 + ((i * 7 + s * 13) % 40)));
  const tokenLabels = lengths.map((n, s) => Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 5 + ((i * 11 + s) % 40) : -100)));
  const sequenceLabels = lengths.map((_, s) => s % 2);
  const scalars = { 'opt.step_size': [1e-3], 'opt.inv_sqrt_bias2': [30], 'opt.decay': [0.999] };
  const pad = (rows: readonly (readonly number[])[], fill: number) => rows.flatMap((r) => [...r, ...Array<number>(seq - r.length).fill(fill)]);
  const names = ['loss', ...compiled.graph.outputs.map((o) => o.name).filter((n) => n.endsWith('_loss'))];
  const losses = { packed: [] as number[][], padded: [] as number[][] };
  for (let step = 0; step < 3; step++) {
    const batch = packSequences(packedProgram.program, ids.map((x, s) => ({ input_ids: x, token_type_ids: x.map(() => 0), ...(perToken ? { labels: tokenLabels[s]! } : {}) })));
    const perSequence: Record<string, number[]> = perToken ? { next_sentence_label: sequenceLabels } : { labels: sequenceLabels };
    const got = await packedSession.run({ ...batch.inputs, ...perSequence, ...scalars }, { seed: 0, step, sizes: batch.sizes }, names);
    const want = await paddedSession.run({
      input_ids: pad(ids, 0), token_type_ids: pad(ids.map((x) => x.map(() => 0)), 0), attention_mask: pad(ids.map((x) => x.map(() => 1)), 0),
      ...(perToken ? { labels: pad(tokenLabels, -100) } : {}), ...perSequence, ...scalars,
    }, { seed: 0, step }, names);
    losses.packed.push(names.map((n) => got[n]!.data[0]!));
    losses.padded.push(names.map((n) => want[n]!.data[0]!));
  }
  return losses;
}

describe.each(['js', 'wasm', 'native', ...((await hasWebGpu()) ? ['webgpu'] : [])])('padding-free training on %s', (backend) => {
  it.skipIf(backend === 'native')('fine-tunes a classifier with the losses of the padded batch (1e-5), three AdamW steps', async () => {
    const { packed: got, padded: want } = await stepLosses(backend, 'models/bert-base-classifier.yaml', [5, 12, 3], false);
    got.forEach((step, i) => step.forEach((loss, j) => expect(Math.abs(loss - want[i]![j]!)).toBeLessThan(1e-5)));
    expect(got[2]![0]).toBeLessThan(got[0]![0]!);
  });

  // (On WebGPU the classifier alone: lavapipe takes seconds to build a pretraining step's pipelines; on native code
  // pretraining alone, whose kernels hold the classifier's.)
  it.skipIf(backend === 'webgpu')('pretrains (masked LM over labelled tokens, next sentence per sequence) with the losses of the padded batch', async () => {
    const { packed: got, padded: want } = await stepLosses(backend, 'models/bert.yaml', [9, 4, 16, 2], true);
    expect(got[0]).toHaveLength(3);
    got.forEach((step, i) => step.forEach((loss, j) => expect(Math.abs(loss - want[i]![j]!)).toBeLessThan(1e-5)));
  });

  // The masked-LM decoder at the labelled tokens alone (3 a sequence, 12 in all; this batch labels 10): their stream indices
  // (on the CPU backends that build no code: native code's kernels are the step's above, on fewer rows).
  it.skipIf(backend === 'webgpu' || backend === 'native')('pretrains with the decoder at the labelled tokens only (--max-predictions), with the losses of the padded batch', async () => {
    const { packed: got, padded: want } = await stepLosses(backend, 'models/bert.yaml', [9, 4, 16, 2], true, 3);
    expect(got[0]).toHaveLength(3);
    got.forEach((step, i) => step.forEach((loss, j) => expect(Math.abs(loss - want[i]![j]!)).toBeLessThan(1e-5)));
  });
});

describe('a padding-free program', () => {
  it('is one program of one kernel list for every size: the kernels follow tokens and sequences', () => {
    const { program, kernels } = packed;
    expect(program.symbols).toEqual([{ name: 'tokens', max: 4096 }, { name: 'sequences', max: 8 }]);
    const sized = kernels.filter((k) => k.runtime);
    expect(sized.length).toBe(kernels.length);
    expect(kernels.filter((k) => k.kind === 'attention').every((k) => k.kind === 'attention' && k.keyRange && k.runtime?.['queries'] && k.runtime['keys'])).toBe(true);
    expect(program.inputs.map((i) => i.name).sort()).toEqual(['bounds', 'firsts', 'input_ids', 'positions', 'token_type_ids']);
    expect(program.outputs.find((o) => o.name === 'pooler_output')!.runtime).toEqual({ axis: 0, size: { symbol: 1, scale: 1, offset: 0 } });
  });

  it("sizes WebGPU's dispatches by the run: a grid past the run's tokens launches no workgroups", () => {
    const passes = packed.kernels.flatMap((k) => renderKernelWgsl(k).passes.map((p) => ({ kind: k.kind, pass: p })));
    const sized = passes.filter((p) => p.pass.sized);
    // Every product, attention and row-wise kernel over the tokens; the per-sequence ones (the pooler) by the sequences.
    expect(new Set(sized.map((p) => p.kind))).toEqual(new Set(['map', 'reduce', 'matmul', 'attention']));
    expect(sized.length).toBeGreaterThan(passes.length / 2);
    const attention = sized.find((p) => p.kind === 'attention')!.pass;
    expect(attention.workgroups).toEqual([64, 1, 2]);
    expect(runGrid(attention, [7, 1])).toEqual([1, 1, 2]);
    expect(runGrid(attention, [129, 2])).toEqual([3, 1, 2]);
    expect(runGrid(attention, [4096, 8])).toEqual([64, 1, 2]);
    expect(runGrid(attention, undefined)).toEqual([64, 1, 2]);
  });

  it('refuses sizes it was not compiled for, naming both numbers', async () => {
    const session = await openSession(packed, { backend: 'js' });
    session.setParams(params);
    expect(() => packSequences(packed.program, sequences([513], 1))).toThrow('sequence 0 has 513 tokens, more than the 512 the program was compiled for (--seq)');
    expect(() => packSequences(packed.program, sequences(Array<number>(9).fill(2), 1))).toThrow('9 sequences, more than the 8 the program was compiled for (--batch)');
    expect(() => packSequences(compilePacked(spec, { tokens: 100, sequences: 8, longest: 64 }).compiled.program, sequences([60, 50], 1))).toThrow('the batch has 110 tokens, more than the 100 the program was compiled for (--tokens)');
    expect(() => packSequences(packed.program, [{ input_ids: [1, 2], token_type_ids: [0] }])).toThrow("sequence 0 has 1 values of 'token_type_ids' and 2 of 'input_ids'");
    const batch = packSequences(packed.program, sequences([4], 1));
    await expect(session.run(batch.inputs)).rejects.toThrow('the program runs with its tokens and sequences given (a packed batch); got 0 sizes');
    await expect(session.run(batch.inputs, { seed: 0, step: 0, sizes: [4097, 1] })).rejects.toThrow('4097 tokens is outside what the program was compiled for (1 to 4096)');
    await expect(session.run(batch.inputs, { seed: 0, step: 0, sizes: [5, 1] })).rejects.toThrow("input 'input_ids' needs 5 values");
  });

  it('is refused by a backend that renders sizes as numbers, by name', async () => {
    const fixedOnly = { ...wasmBackend, capabilities: { ...wasmBackend.capabilities, runtimeSizes: false } };
    await expect(openOn(fixedOnly, packed.program, packed.kernels)).rejects.toThrow(/^WebAssembly does not run programs sized at each run yet \(this one takes tokens and sequences\); use --backend native, wasm, js or webgpu, or compile at a fixed shape$/);
  });

  it('is checked as data: a runtime size past its kernel extent or its symbol is refused at its path', () => {
    const raw = JSON.parse(JSON.stringify(packed.program)) as { functions: { runtime?: Record<string, { symbol: number; scale: number; offset: number }> }[]; outputs: { runtime?: unknown }[]; symbols: { max: number }[] };
    const fn = raw.functions.findIndex((f) => f.runtime);
    const key = Object.keys(raw.functions[fn]!.runtime!)[0]!;
    const tampered = (change: (r: typeof raw) => void) => {
      const copy = JSON.parse(JSON.stringify(raw)) as typeof raw;
      change(copy);
      return () => checkProgram(copy, 'program.json');
    };
    expect(tampered((r) => (r.functions[fn]!.runtime![key]!.scale = 2))).toThrow(`functions[${fn}].runtime.${key}: 2 × tokens + 0 runs from 2 to 8192, outside [0, 4096]`);
    expect(tampered((r) => (r.functions[fn]!.runtime![key]!.symbol = 5))).toThrow('names size 5; the program has 2');
    expect(tampered((r) => (r.symbols[0]!.max = 5000))).toThrow('outside [0, 4096]');
    expect(tampered((r) => (r.functions[fn]!.runtime = { nonsense: { symbol: 0, scale: 1, offset: 0 } }))).toThrow('runtime.nonsense: is not an extent of a');
    expect(tampered((r) => (r.outputs[0]!.runtime = { axis: 2, size: { symbol: 0, scale: 1, offset: 0 } }))).toThrow('axis 2 of [1,4096,128] has axes of more than 1 before it');
  });

  it("checks a derived input's label axis as data: the labelled tokens' stream indices follow the run's tokens", () => {
    const config = { vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 32 };
    const compiled = compileFile('models/bert.yaml', { batch: 4, seq: 16, mode: 'train', config, packed: { tokens: 40 }, maxPredictions: 3 });
    const { program } = buildProgram(compiled.graph, { runtime: compiled.runtime! });
    const at = program.inputs.findIndex((i) => i.derived?.take === 'rows');
    expect(program.inputs[at]!.shape).toEqual([12]);
    expect(program.inputs[at]!.derived).toEqual({ of: 'labels', shape: [1, 40], take: 'rows', ignore: -100, runtime: { axis: 1, size: { symbol: 0, scale: 1, offset: 0 } } });
    const raw = JSON.parse(JSON.stringify(program)) as { inputs: { derived?: { runtime: { axis: number; size: { scale: number } } } }[] };
    raw.inputs[at]!.derived!.runtime.size.scale = 2;
    expect(() => checkProgram(raw, 'program.json')).toThrow(`inputs[${at}].derived.runtime.size: 2 × tokens + 0 runs from 2 to 80, outside [0, 40]`);
    raw.inputs[at]!.derived!.runtime = { axis: 1, size: { scale: 1 } } as never;
    raw.inputs[at]!.derived!.runtime.axis = 2;
    expect(() => checkProgram(raw, 'program.json')).toThrow(`inputs[${at}].derived.runtime.axis`);
  });

  it('keeps a runtime size in the kernel key: kernels alike but for what a run sizes are two functions', () => {
    const [k] = packed.kernels.filter((x) => x.runtime?.['m']);
    const other = { ...k!, runtime: { m: { symbol: 1, scale: 1, offset: 0 } } };
    expect(encodeKernels([k!, other]).functions).toHaveLength(2);
  });
});
