// `npm run bench -- shapes`: sentences per second on the SST-2 test
// sentences (../shared/data: their real lengths, in file order), batches of
// 32, bert-base (BertModel, random weights), all on the native backend:
//
//   padding-free   one packed program (compiled once for 32 sequences of up
//                  to 128 tokens): each batch runs as a stream of its real
//                  tokens, attention within each sentence
//   longest        programs of one shape each, every batch padded to its
//                  own longest sentence (a program per length met)
//   128            one program of one shape, every batch padded to 128
//
// against onnxruntime-node on tcc's ONNX export (dynamic batch and sequence
// axes), each batch padded to its own longest sentence. Rounds interleave
// the four, each after half a second of idle cores; medians of the rounds'
// sentences per second. The first batches
// only (a bert-base pass at 32 × 128 takes seconds here).

import * as ort from 'onnxruntime-node';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraph } from '../compiler/frontend/build.js';
import { exportOnnx } from '../compiler/export/onnx.js';
import { loadSpec } from '../compiler/parser/load.js';
import { runPipeline } from '../compiler/passes/pipeline.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { openSession, type Session } from '../runtime/session.js';
import { packSequences } from '../runtime/packed.js';
import { compilePacked } from '../compiler/packed.js';
import { WordPieceTokenizer, type Encoding } from '../train/tokenizer.js';
import { peerSession } from './inference.js';
import { emit, median, round, type Record_ } from './stats.js';

const SST2 = join('..', 'shared', 'data', 'sst2', 'test.txt');
const [BATCH, SEQ, BATCHES, ROUNDS] = [32, 128, 6, 3];

export async function benchShapes(progress: (line: string) => void): Promise<Record_[]> {
  if (!existsSync(SST2)) throw new Error(`${SST2} is missing: the shapes bench runs the SST-2 test sentences`);
  const tokenizer = WordPieceTokenizer.fromVocabText(readFileSync(join('models', 'vocab.txt'), 'utf8'), { lowercase: true });
  const sentences = readFileSync(SST2, 'utf8').trim().split('\n').map((l) => l.replace(/^\d\s+/, '')).slice(0, BATCH * BATCHES);
  const encodings = sentences.map((s) => tokenizer.encode(s, { maxLength: SEQ }));
  const lengths = encodings.map((e) => e.input_ids.length);
  const batches = Array.from({ length: BATCHES }, (_, b) => encodings.slice(b * BATCH, (b + 1) * BATCH));
  const longest = batches.map((batch) => Math.max(...batch.map((e) => e.input_ids.length)));

  const file = 'bench:bert-base-encoder.yaml';
  const { spec } = loadSpec(file, new Map([[file, 'extends: tcc:bert-base.yaml\nname: bert-base\nheads: null\n']]));
  /** A native session of one shape, with the bench's weights. */
  const fixedSession = async (seq: number) => {
    const session = await openSession(buildProgram(runPipeline(buildGraph(spec, { batch: BATCH, seq, mode: 'infer' }), { fuse: true }).graph), { backend: 'native' });
    session.setParams(params);
    return session;
  };
  progress('compiling the padding-free program…');
  const packedStart = performance.now();
  const { compiled: packedProgram } = compilePacked(spec, { tokens: BATCH * SEQ, sequences: BATCH, longest: SEQ });
  const packedMs = performance.now() - packedStart;
  const params = initParams(packedProgram.program.params, 0);
  const packed = await openSession(packedProgram, { backend: 'native' });
  packed.setParams(params);
  progress('compiling the programs of one shape…');
  const padded128 = await fixedSession(SEQ);
  const byLength = new Map<number, Session>();
  for (const seq of new Set(longest)) byLength.set(seq, await fixedSession(seq));
  const graph = buildGraph(spec, { batch: BATCH, seq: SEQ, mode: 'infer' });
  const { onnx, peer } = await peerSession(exportOnnx(graph, params, { dynamic: (dims) => buildGraph(spec, { ...dims, mode: 'infer' }) }).model, padded128);

  /** A batch's rows padded to `seq` tokens. */
  const rows = (batch: readonly Encoding[], seq: number) => {
    const pack = (key: 'input_ids' | 'token_type_ids' | 'attention_mask') => {
      const out = new Int32Array(batch.length * seq);
      batch.forEach((e, r) => out.set(e[key], r * seq));
      return out;
    };
    return { input_ids: pack('input_ids'), token_type_ids: pack('token_type_ids'), attention_mask: pack('attention_mask') };
  };
  // Each batch's feeds made once, outside the timed runs.
  const streams = batches.map((batch) => packSequences(packedProgram.program, batch.map((e) => ({ input_ids: e.input_ids, token_type_ids: e.token_type_ids }))));
  const at128 = batches.map((batch) => rows(batch, SEQ));
  const atLongest = batches.map((batch, b) => rows(batch, longest[b]!));
  const onnxFeeds = batches.map((batch, b) => {
    const r = atLongest[b]!;
    const tensor = (data: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(data, BigInt), [batch.length, longest[b]!]);
    return { input_ids: tensor(r.input_ids), token_type_ids: tensor(r.token_type_ids), attention_mask: tensor(r.attention_mask) };
  });
  const configs: { name: string; run: (b: number) => Promise<unknown> }[] = [
    { name: 'padding-free', run: (b) => packed.run(streams[b]!.inputs, { seed: 0, step: 0, sizes: streams[b]!.sizes }, ['last_hidden_state']) },
    { name: "padded to each batch's longest", run: (b) => byLength.get(longest[b]!)!.run(atLongest[b]!, undefined, ['last_hidden_state']) },
    { name: 'padded to 128', run: (b) => padded128.run(at128[b]!, undefined, ['last_hidden_state']) },
    { name: peer, run: (b) => onnx.run(onnxFeeds[b]!) },
  ];
  // Every session's first run (packing its weights) before the timed ones: each program of one shape on its first batch.
  for (const c of configs) await c.run(0);
  for (const b of longest.keys()) await configs[1]!.run(b);
  const rates = configs.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, c] of configs.entries()) {
      progress(`round ${round + 1}/${ROUNDS}: ${c.name}…`);
      // onnxruntime's threads spin a while after its runs: each config starts on idle cores.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const start = performance.now();
      for (let b = 0; b < BATCHES; b++) await c.run(b);
      rates[i]!.push((BATCHES * BATCH) / ((performance.now() - start) / 1e3));
    }
  }
  await onnx.release();
  for (const s of [packed, padded128, ...byLength.values()]) s.destroy();

  const theirs = median(rates[3]!);
  const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
  const peerLine = `${peer}, padded to each batch's longest (mean ${round(longest.reduce((a, b) => a + b, 0) / BATCHES)} tokens; sentences ${round(mean)} on average)`;
  const records = configs.slice(0, 3).map((c, i): Record_ => ({
    bench: 'shapes', model: 'bert-base', backend: `native (${c.name})`, batch: BATCH, seq: SEQ, metric: 'sentences_per_s', value: round(median(rates[i]!)), unit: 'sentences/s', repeats: ROUNDS * BATCHES * BATCH,
    peer: peerLine, peer_value: round(theirs), ratio: round(median(rates[i]!) / theirs, 3),
  }));
  records.push({ bench: 'shapes', model: 'bert-base', backend: 'padding-free program', batch: BATCH, seq: SEQ, metric: 'compile_ms', value: round(packedMs), unit: 'ms' });
  for (const r of records) emit(r);
  return records;
}
