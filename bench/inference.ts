// Inference latency of BERT encoders (BertModel: no heads) on the native CPU
// backend, beside onnxruntime-node running the same graph, exported to ONNX
// with the same weights, in the same process. Both use every core (tcc's
// OpenMP threads, onnxruntime's default pool); the C is built before the
// timing starts.

import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { buildGraph } from '../compiler/frontend/build.js';
import { runPipeline } from '../compiler/passes/pipeline.js';
import { exportOnnx } from '../compiler/export/onnx.js';
import { loadSpec } from '../compiler/parser/load.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { openSession } from '../runtime/session.js';
import { emit, median, round, timeAsync, type Record_ } from './stats.js';

const SEQ = 128;
const CASES: readonly { model: string; batch: number; repeats: number }[] = [
  { model: 'bert-tiny', batch: 1, repeats: 50 },
  { model: 'bert-tiny', batch: 8, repeats: 30 },
  { model: 'bert-small', batch: 1, repeats: 30 },
  { model: 'bert-small', batch: 8, repeats: 10 },
  { model: 'bert-base', batch: 1, repeats: 15 },
  { model: 'bert-base', batch: 8, repeats: 5 },
];

/** A BertModel (no heads) as the frontend builds it. */
export function encoderSource(model: string, batch: number) {
  const file = `bench:${model}-encoder.yaml`;
  const { spec } = loadSpec(file, new Map([[file, `extends: tcc:${model}.yaml\nname: ${model}\nheads: null\n`]]));
  return buildGraph(spec, { batch, seq: SEQ, mode: 'infer' });
}

/** The same as tcc compiles it: every pass, or with fusion off. */
export function encoderGraph(model: string, batch: number, fuse = true) {
  return runPipeline(encoderSource(model, batch), { fuse }).graph;
}

function tokens(batch: number): Record<string, Int32Array> {
  const ids = Int32Array.from({ length: batch * SEQ }, (_, i) => (i % SEQ === 0 ? 101 : 1000 + ((i * 7919) % 20000)));
  return { input_ids: ids, token_type_ids: new Int32Array(batch * SEQ), attention_mask: new Int32Array(batch * SEQ).fill(1) };
}

export async function benchInference(progress: (line: string) => void): Promise<Record_[]> {
  const records: Record_[] = [];
  const weights = new Map<string, Record<string, Float32Array>>();
  for (const { model, batch, repeats } of CASES) {
    progress(`inference ${model} batch ${batch}…`);
    const graph = encoderGraph(model, batch);
    const compiled = buildProgram(graph);
    const { program } = compiled;
    if (!weights.has(model)) weights.set(model, initParams(program.params, 0));
    const params = weights.get(model)!;
    const session = await openSession(compiled, { native: true });
    session.setParams(params);
    const inputs = tokens(batch);
    const onnx = await ort.InferenceSession.create(exportOnnx(encoderSource(model, batch), params));
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, data]) => [name, new ort.Tensor('int32', data, [batch, SEQ])]));
    // Interleaved rounds, so that both see the same state of a shared, noisy machine.
    const [ours, peer]: number[][] = [[], []];
    for (let round = 0; round < 5; round++) {
      ours.push(...(await timeAsync(Math.ceil(repeats / 5), async () => session.run(inputs))));
      peer.push(...(await timeAsync(Math.ceil(repeats / 5), () => onnx.run(feeds))));
    }
    await onnx.release();
    session.destroy();

    const value = median(ours);
    const peerValue = median(peer);
    const record: Record_ = {
      bench: 'inference', model, backend: session.executor.device, batch, seq: SEQ, metric: 'latency_ms', value: round(value), unit: 'ms', repeats: ours.length,
      peer: 'onnxruntime-node', peer_value: round(peerValue), ratio: round(value / peerValue, 3),
    };
    emit(record);
    records.push(record);
  }
  return records;
}
