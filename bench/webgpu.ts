// The WGSL backend on the machine's WebGPU adapter (named in the output:
// figures from a software adapter such as lavapipe are CPU figures):
//  - matmul GFLOP/s of the tiled kernel beside the direct one (an output per
//    invocation, no workgroup memory) and beside tfjs's WebGPU matMul;
//  - BERT inference latency beside @tensorflow/tfjs-backend-webgpu running the
//    same BertModel with the same weights on the same adapter;
//  - pretraining tokens/s (MLM + NSP, AdamW).

import { performance } from 'node:perf_hooks';
import { acquireDevice, describeAdapter, isSoftwareAdapter } from '../backends/webgpu/device.js';
import { WebGpuExecutor } from '../backends/webgpu/executor.js';
import { renderMatmul } from '../backends/webgpu/matmul.js';
import { GraphBuilder } from '../compiler/ir/graph.js';
import type { MatmulKernel } from '../kernel/ir.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { tensorRange, type Program } from '../runtime/program.js';
import { openSession } from '../runtime/session.js';
import { encoderGraph } from './inference.js';
import { emit, median, round, timeAsync, type Record_ } from './stats.js';
import { tfjsBert, tfjsPretrainer, tfjsRunner, tfjsWebGpu } from './tfjs-bert.js';
import { BATCH, pretrainBatch, pretrainingTokensPerSecond, SEQ as TRAIN_SEQ, trainingGraph } from './training.js';

const SEQ = 128;
const MATMULS: readonly [number, number, number][] = [
  [128, 768, 768], // BERT-base attention projections at batch 1 × seq 128
  [128, 768, 3072], // its feed-forward
  [512, 512, 512],
];
const MODELS: readonly { model: string; layers: number; heads: number; hidden: number; repeats: number }[] = [
  { model: 'bert-tiny', layers: 2, heads: 2, hidden: 128, repeats: 10 },
  { model: 'bert-small', layers: 4, heads: 8, hidden: 512, repeats: 5 },
  { model: 'bert-base', layers: 12, heads: 12, hidden: 768, repeats: 3 },
];

/** Seconds per run of a one-matmul program, tiled or direct, from `runs` back-to-back runs. */
async function matmulSeconds(m: number, k: number, n: number, variant: 'tiled' | 'direct', runs: number): Promise<number> {
  const g = new GraphBuilder('matmul', 'infer', {});
  const a = g.add('input', [], { name: 'a', dtype: 'f32', shape: [m, k] });
  const b = g.add('input', [], { name: 'b', dtype: 'f32', shape: [k, n] });
  g.output('c', g.add('matmul', [a.id, b.id], { transpose_a: false, transpose_b: false }).id);
  const compiled = buildProgram(g.build());
  const kernel = compiled.kernels[0] as MatmulKernel;
  const executor = await WebGpuExecutor.create(compiled.program, [kernel], { render: (k) => renderMatmul(k as MatmulKernel, variant) });
  executor.write(tensorRange(compiled.program.inputs[0]!), Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)));
  executor.write(tensorRange(compiled.program.inputs[1]!), Float32Array.from({ length: k * n }, (_, i) => Math.cos(i)));
  executor.run();
  await executor.settle();
  const times: number[] = [];
  for (let repeat = 0; repeat < 3; repeat++) {
    const start = performance.now();
    for (let i = 0; i < runs; i++) executor.run();
    await executor.settle();
    times.push((performance.now() - start) / 1000 / runs);
  }
  executor.destroy();
  return median(times);
}

export interface WebGpuBench {
  readonly adapter: string;
  readonly software: boolean;
  readonly records: Record_[];
}

export async function benchWebGpu(progress: (line: string) => void): Promise<WebGpuBench> {
  const gpu = await acquireDevice();
  const adapter = describeAdapter(gpu.info);
  const software = isSoftwareAdapter(gpu.info);
  const backend = `webgpu ${adapter}`;
  const tf = await tfjsWebGpu(gpu.gpu);
  const records: Record_[] = [];
  const record = (r: Record_) => {
    emit(r);
    records.push(r);
  };

  for (const [m, k, n] of MATMULS) {
    progress(`matmul ${m}×${k}×${n} on ${adapter}…`);
    const flops = 2 * m * k * n;
    const runs = software ? 5 : 50;
    const tiled = flops / (await matmulSeconds(m, k, n, 'tiled', runs)) / 1e9;
    const direct = flops / (await matmulSeconds(m, k, n, 'direct', runs)) / 1e9;
    const x = tf.randomNormal([m, k]);
    const y = tf.randomNormal([k, n]);
    const peerTimes = await timeAsync(3, async () => {
      let last: ReturnType<typeof tf.matMul> | undefined;
      for (let i = 0; i < runs; i++) {
        last?.dispose();
        last = tf.matMul(x, y);
      }
      await last!.data();
      last!.dispose();
    });
    tf.dispose([x, y]);
    const tfjs = flops / (median(peerTimes) / 1000 / runs) / 1e9;
    const shape = `${m}x${k}x${n}`;
    record({ bench: 'matmul', model: shape, backend, batch: 1, seq: 0, metric: 'gflops', value: round(tiled), unit: 'GFLOP/s', peer: 'direct WGSL (an output per invocation)', peer_value: round(direct), ratio: round(tiled / direct) });
    record({ bench: 'matmul', model: shape, backend, batch: 1, seq: 0, metric: 'gflops', value: round(tiled), unit: 'GFLOP/s', peer: 'tfjs-backend-webgpu matMul', peer_value: round(tfjs), ratio: round(tiled / tfjs) });
  }

  for (const c of MODELS) {
    progress(`inference ${c.model} batch 1 on ${adapter}…`);
    const compiled = buildProgram(encoderGraph(c.model, 1));
    const params = initParams(compiled.program.params, 0);
    const session = await openSession(compiled, { backend: 'webgpu' });
    session.setParams(params);
    const ids = Int32Array.from({ length: SEQ }, (_, i) => (i === 0 ? 101 : 1000 + ((i * 7919) % 20000)));
    const inputs = { input_ids: ids, token_type_ids: new Int32Array(SEQ), attention_mask: new Int32Array(SEQ).fill(1) };
    const ours = await timeAsync(c.repeats, () => session.run(inputs));
    const outputs = await session.run(inputs);
    session.destroy();

    const shapes = Object.fromEntries(compiled.program.params.map((p) => [p.name, p.shape]));
    const forward = tfjsBert(tf, params, shapes, c);
    const peerRun = tfjsRunner(tf, forward, inputs, SEQ);
    const peer = await timeAsync(c.repeats, peerRun);
    const [peerHidden] = await peerRun();
    let diff = 0;
    outputs['last_hidden_state']!.data.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - peerHidden![i]!))));
    progress(`  max |tcc − tfjs| over last_hidden_state: ${diff.toExponential(2)}`);
    tf.disposeVariables();
    tf.engine().reset();
    await tf.setBackend('webgpu');
    const value = median(ours);
    const peerValue = median(peer);
    record({ bench: 'inference', model: c.model, backend, batch: 1, seq: SEQ, metric: 'latency_ms', value: round(value), unit: 'ms', repeats: c.repeats, peer: 'tfjs-backend-webgpu', peer_value: round(peerValue), ratio: round(value / peerValue) });
  }

  progress(`pretraining bert-tiny batch ${BATCH} on ${adapter}…`);
  const repeats = software ? 3 : 10;
  const tokensPerSecond = await pretrainingTokensPerSecond('bert-tiny', 'webgpu', repeats);
  const { params } = buildProgram(trainingGraph('bert-tiny')).program;
  const step = tfjsPretrainer(tf, initParams(params, 0), Object.fromEntries(params.map((p) => [p.name, p.shape])), MODELS[0]!, BATCH, TRAIN_SEQ);
  const batch = pretrainBatch();
  const peerSeconds = median(await timeAsync(repeats, () => step(batch))) / 1000;
  const peerTokens = (BATCH * TRAIN_SEQ) / peerSeconds;
  record({ bench: 'pretrain', model: 'bert-tiny', backend, batch: BATCH, seq: TRAIN_SEQ, metric: 'tokens_per_s', value: round(tokensPerSecond, 1), unit: 'tokens/s', repeats, peer: 'tfjs-backend-webgpu (Adam, no clipping)', peer_value: round(peerTokens, 1), ratio: round(tokensPerSecond / peerTokens, 3) });
  return { adapter, software, records };
}
