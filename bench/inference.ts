// Inference latency of BERT encoders (BertModel: no heads) on the native CPU
// backend, beside onnxruntime-node running the same graph, exported to ONNX
// with the same weights, in the same process. Both use every core: tcc's
// OpenMP threads, and onnxruntime's pool given as many (left to itself, it
// takes one per physical core it detects, and on some of these machines it
// detects one). The C is built before the timing starts. Then bert-base's
// products each alone, beside onnxruntime's MatMul: the part of the
// encoders' time that GEMM speed decides.

import { setTimeout as sleep } from 'node:timers/promises';
import * as ort from 'onnxruntime-node';
import { buildGraph } from '../compiler/frontend/build.js';
import { GraphBuilder } from '../compiler/ir/graph.js';
import { runPipeline } from '../compiler/passes/pipeline.js';
import { exportOnnx } from '../compiler/export/onnx.js';
import { loadSpec } from '../compiler/parser/load.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { openSession, type Session } from '../runtime/session.js';
import type { NativeExecutor } from '../backends/native/executor.js';
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

/** How long the other engine's idle threads may keep spinning on the cores after its last call (onnxruntime's pool spins by default). */
const SETTLE_MS = 200;

/**
 * Calls `work` untimed, 50 times or for a second, whichever ends first:
 * until then a product's calls (1–2 ms) ran 2–4 times slower, the copies of
 * their outputs (a new 1.2 MB array per call) being slow at first.
 */
async function warmUp(work: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < 50 && performance.now() - start < 1000; i++) await work();
}

/**
 * Durations of `ours` and `peer`, in interleaved rounds so that both see the
 * same state of a shared, noisy machine. Each engine's turn starts after the
 * other's threads have gone idle, with an untimed warm-up call: spinning
 * threads of the other engine otherwise take the cores from a few
 * milliseconds of calls (bert-base's products alone ran twice as long).
 */
export async function interleaved(repeats: number, ours: () => Promise<unknown>, peer: () => Promise<unknown>): Promise<[number[], number[]]> {
  const times: [number[], number[]] = [[], []];
  for (const work of [ours, peer]) await warmUp(work);
  for (let round = 0; round < 5; round++) {
    for (const [i, work] of [ours, peer].entries()) {
      await sleep(SETTLE_MS);
      times[i]!.push(...(await timeAsync(Math.ceil(repeats / 5), work)));
    }
  }
  return times;
}

/** onnxruntime's session of a model, on as many threads as tcc's session runs on (one where no C compiler left it JavaScript). */
export async function peerSession(model: Uint8Array, ours: Session): Promise<{ onnx: ort.InferenceSession; peer: string }> {
  const threads = (ours.executor as Partial<NativeExecutor>).threads ?? 1;
  return { onnx: await ort.InferenceSession.create(model, { intraOpNumThreads: threads }), peer: `onnxruntime-node (${threads} threads)` };
}

/** bert-base's products at batch 1 × seq 128 (m × k · k × n): the fused Q, K, V projection, the attention output, the FFN's two. */
const PRODUCTS: readonly [number, number, number][] = [[128, 768, 2304], [128, 768, 768], [128, 768, 3072], [128, 3072, 768]];

/**
 * Each of bert-base's products alone, x·W with W a parameter: tcc's native
 * kernel (W packed once) beside onnxruntime's MatMul over an initializer
 * (which it pre-packs), both timed as a run with its input and output. What
 * the encoder's ratio can come to where nearly all its time is products.
 */
async function benchProducts(progress: (line: string) => void): Promise<Record_[]> {
  const records: Record_[] = [];
  for (const [m, k, n] of PRODUCTS) {
    progress(`product ${m}×${k}×${n}…`);
    const g = new GraphBuilder('product', 'infer', {});
    const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [m, k] }).id;
    const w = g.add('param', [], { name: 'w', shape: [k, n], init: 'normal', std: 0.02 }).id;
    g.output('y', g.add('matmul', [x, w], { transpose_a: false, transpose_b: false }).id);
    const source = g.build();
    const compiled = buildProgram(runPipeline(source, { fuse: true }).graph);
    const params = initParams(compiled.program.params, 0);
    const session = await openSession(compiled, { backend: 'native' });
    session.setParams(params);
    const input = Float32Array.from({ length: m * k }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const { onnx, peer: peerName } = await peerSession(exportOnnx(source, params).model, session);
    const feeds = { x: new ort.Tensor('float32', input, [m, k]) };
    const [ours, peer] = await interleaved(40, () => session.run({ x: input }), () => onnx.run(feeds));
    await onnx.release();
    session.destroy();
    const [value, peerValue] = [median(ours), median(peer)];
    const record: Record_ = {
      bench: 'product', model: `${m}x${k}x${n}`, backend: session.executor.device, batch: 1, seq: m, metric: 'latency_ms', value: round(value, 3), unit: 'ms', repeats: ours.length,
      peer: peerName, peer_value: round(peerValue, 3), ratio: round(value / peerValue, 3),
    };
    emit(record);
    records.push(record);
  }
  return records;
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
    const session = await openSession(compiled, { backend: 'native' });
    session.setParams(params);
    const inputs = tokens(batch);
    const { onnx, peer: peerName } = await peerSession(exportOnnx(encoderSource(model, batch), params).model, session);
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, data]) => [name, new ort.Tensor('int64', BigInt64Array.from(data, BigInt), [batch, SEQ])]));
    const [ours, peer] = await interleaved(repeats, () => session.run(inputs), () => onnx.run(feeds));
    await onnx.release();
    session.destroy();

    const value = median(ours);
    const peerValue = median(peer);
    const record: Record_ = {
      bench: 'inference', model, backend: session.executor.device, batch, seq: SEQ, metric: 'latency_ms', value: round(value), unit: 'ms', repeats: ours.length,
      peer: peerName, peer_value: round(peerValue), ratio: round(value / peerValue, 3),
    };
    emit(record);
    records.push(record);
  }
  records.push(...(await benchProducts(progress)));
  return records;
}
