// `npm run bench -- shapes`: sentences per second on the SST-2 test
// sentences (../shared/data: their real lengths, in file order), batches of
// 32, bert-base (BertModel, random weights): tcc's native program compiled
// for 32 × 128, every batch padded to 128 (tcc's programs have one shape),
// against onnxruntime-node on tcc's ONNX export (dynamic batch and sequence
// axes), each batch padded to its own longest sentence. The first batches
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
import { openSession } from '../runtime/session.js';
import { WordPieceTokenizer } from '../train/tokenizer.js';
import { peerSession } from './inference.js';
import { emit, round, type Record_ } from './stats.js';

const SST2 = join('..', 'shared', 'data', 'sst2', 'test.txt');
const [BATCH, SEQ, BATCHES] = [32, 128, 6];

export async function benchShapes(progress: (line: string) => void): Promise<Record_[]> {
  if (!existsSync(SST2)) throw new Error(`${SST2} is missing: the shapes bench runs the SST-2 test sentences`);
  const tokenizer = WordPieceTokenizer.fromVocabText(readFileSync(join('models', 'vocab.txt'), 'utf8'), { lowercase: true });
  const sentences = readFileSync(SST2, 'utf8').trim().split('\n').map((l) => l.replace(/^\d\s+/, '')).slice(0, BATCH * BATCHES);
  const encodings = sentences.map((s) => tokenizer.encode(s, { maxLength: SEQ }));
  const lengths = encodings.map((e) => e.input_ids.length);

  const file = 'bench:bert-base-encoder.yaml';
  const { spec } = loadSpec(file, new Map([[file, 'extends: tcc:bert-base.yaml\nname: bert-base\nheads: null\n']]));
  const graph = buildGraph(spec, { batch: BATCH, seq: SEQ, mode: 'infer' });
  const compiled = buildProgram(runPipeline(graph, { fuse: true }).graph);
  const params = initParams(compiled.program.params, 0);
  const session = await openSession(compiled, { backend: 'native' });
  session.setParams(params);
  const { onnx, peer } = await peerSession(exportOnnx(graph, params, { dynamic: (dims) => buildGraph(spec, { ...dims, mode: 'infer' }) }).model, session);

  /** The batch's rows padded to `seq` tokens. */
  const rows = (first: number, seq: number) => {
    const batch = encodings.slice(first, first + BATCH);
    const pack = (key: 'input_ids' | 'token_type_ids' | 'attention_mask') => {
      const out = new Int32Array(batch.length * seq);
      batch.forEach((e, r) => out.set(e[key], r * seq));
      return out;
    };
    return { count: batch.length, input_ids: pack('input_ids'), token_type_ids: pack('token_type_ids'), attention_mask: pack('attention_mask') };
  };

  progress(`tcc: ${BATCHES} batches of ${BATCH}, padded to ${SEQ}…`);
  const padded = (first: number) => {
    const { count: _, ...tensors } = rows(first, SEQ);
    return tensors;
  };
  await session.run(padded(0));
  let start = performance.now();
  for (let b = 0; b < BATCHES; b++) await session.run(padded(b * BATCH));
  const ours = (BATCHES * BATCH) / ((performance.now() - start) / 1e3);

  progress(`${peer}: the same batches, each padded to its longest…`);
  const feeds = (first: number) => {
    const seq = Math.max(...lengths.slice(first, first + BATCH));
    const r = rows(first, seq);
    const tensor = (data: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(data, BigInt), [r.count, seq]);
    return { input_ids: tensor(r.input_ids), token_type_ids: tensor(r.token_type_ids), attention_mask: tensor(r.attention_mask) };
  };
  await onnx.run(feeds(0));
  start = performance.now();
  for (let b = 0; b < BATCHES; b++) await onnx.run(feeds(b * BATCH));
  const theirs = (BATCHES * BATCH) / ((performance.now() - start) / 1e3);
  await onnx.release();
  session.destroy();

  const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
  const longest = Array.from({ length: BATCHES }, (_, b) => Math.max(...lengths.slice(b * BATCH, (b + 1) * BATCH)));
  const record: Record_ = {
    bench: 'shapes', model: 'bert-base', backend: 'native (padded to 128)', batch: BATCH, seq: SEQ, metric: 'sentences_per_s', value: round(ours), unit: 'sentences/s', repeats: BATCHES * BATCH,
    peer: `${peer}, padded to each batch's longest (mean ${round(longest.reduce((a, b) => a + b, 0) / BATCHES)} tokens; sentences ${round(mean)} on average)`, peer_value: round(theirs), ratio: round(ours / theirs, 3),
  };
  emit(record);
  return [record];
}
