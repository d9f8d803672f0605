// ModernBERT-base (random weights, as models/modernbert.yaml, ModernBertModel:
// no head) on the native CPU backend beside onnxruntime-node running tcc's
// ONNX export of the same graph with the same weights, at 1 × 512 and
// 8 × 512, in interleaved rounds (bench/inference.ts's protocol). Then how
// the local layers' cost grows with the sequence: the same model with every
// layer but the first local, at 512 and 2048 tokens, per token.

import * as ort from 'onnxruntime-node';
import { buildGraph } from '../compiler/frontend/build.js';
import { runPipeline } from '../compiler/passes/pipeline.js';
import { exportOnnx } from '../compiler/export/onnx.js';
import { loadSpec } from '../compiler/parser/load.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { openSession } from '../runtime/session.js';
import { interleaved, peerSession } from './inference.js';
import { emit, median, round, timeAsync, type Record_ } from './stats.js';

/** ModernBertModel at ModernBERT-base's size; `everyGlobal` spaces its global layers. */
function source(batch: number, seq: number, everyGlobal = 3) {
  const file = 'bench:modernbert-base.yaml';
  const text = `extends: tcc:modernbert.yaml\nname: modernbert-base\nheads: null\nconfig: {global_attn_every_n_layers: ${everyGlobal}}\n`;
  return buildGraph(loadSpec(file, new Map([[file, text]])).spec, { batch, seq, mode: 'infer' });
}

function tokens(batch: number, seq: number): Record<string, Int32Array> {
  const ids = Int32Array.from({ length: batch * seq }, (_, i) => (i % seq === 0 ? 50281 : 1000 + ((i * 7919) % 40000)));
  return { input_ids: ids, attention_mask: new Int32Array(batch * seq).fill(1) };
}

export async function benchModernbert(progress: (line: string) => void): Promise<Record_[]> {
  const records: Record_[] = [];
  let params: Record<string, Float32Array> | undefined;
  for (const [batch, repeats] of [[1, 10], [8, 5]] as const) {
    const seq = 512;
    progress(`modernbert-base ${batch} × ${seq}…`);
    const graph = source(batch, seq);
    const compiled = buildProgram(runPipeline(graph, { fuse: true }).graph);
    params ??= initParams(compiled.program.params, 0);
    const session = await openSession(compiled, { backend: 'native' });
    session.setParams(params);
    const inputs = tokens(batch, seq);
    const { onnx, peer: peerName } = await peerSession(exportOnnx(graph, params).model, session);
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, data]) => [name, new ort.Tensor('int64', BigInt64Array.from(data, BigInt), [batch, seq])]));
    const [ours, peer] = await interleaved(repeats, () => session.run(inputs), () => onnx.run(feeds));
    await onnx.release();
    session.destroy();
    const [value, peerValue] = [median(ours), median(peer)];
    const record: Record_ = {
      bench: 'modernbert', model: 'modernbert-base', backend: session.executor.device, batch, seq, metric: 'latency_ms', value: round(value), unit: 'ms', repeats: ours.length,
      peer: peerName, peer_value: round(peerValue), ratio: round(value / peerValue, 3),
    };
    emit(record);
    records.push(record);
  }
  // Every layer but the first local (a window of 128): time per token at 512 and 2048.
  const perToken: number[] = [];
  for (const seq of [512, 2048]) {
    progress(`modernbert-base, local layers, 1 × ${seq}…`);
    const compiled = buildProgram(runPipeline(source(1, seq, 1000), { fuse: true }).graph);
    const session = await openSession(compiled, { backend: 'native' });
    session.setParams(params!);
    const inputs = tokens(1, seq);
    await session.run(inputs);
    const value = median(await timeAsync(seq === 512 ? 8 : 3, () => session.run(inputs)));
    session.destroy();
    perToken.push(value / seq);
    const record: Record_ = {
      bench: 'modernbert-local', model: 'modernbert-base (layers 1-21 local)', backend: 'native', batch: 1, seq, metric: 'latency_ms', value: round(value), unit: 'ms', repeats: seq === 512 ? 8 : 3,
      ...(seq === 2048 ? { peer: 'itself at 512 (per token)', peer_value: round(perToken[0]! * 1000, 4), ratio: round(perToken[1]! / perToken[0]!, 3) } : {}),
    };
    emit(record);
    records.push(record);
  }
  return records;
}
