// What the optimizing passes buy, measured in one run: the same model
// compiled with every pass (fused kernels, planned memory) and with fusion
// and planning off (one kernel per op, every buffer its own bytes), timed on
// the CPU backend and on the machine's WebGPU adapter, and their arenas.

import { performance } from 'node:perf_hooks';
import { acquireDevice, describeAdapter, isSoftwareAdapter } from '../backends/webgpu/device.js';
import type { WebGpuExecutor } from '../backends/webgpu/executor.js';
import type { Graph } from '../compiler/ir/graph.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { openSession } from '../runtime/session.js';
import { encoderGraph } from './inference.js';
import { emit, median, round, type Record_ } from './stats.js';
import { BATCH, pretrainingTokensPerSecond, SEQ as TRAIN_SEQ, trainingGraph, type Backend } from './training.js';

const SEQ = 128;
const UNFUSED = 'unfused, unplanned (one kernel per op)';

/** Milliseconds per forward pass (median after a warm-up), waiting for the device. */
async function latency(graph: Graph, backend: Backend, fused: boolean, repeats: number): Promise<{ ms: number; kernels: number }> {
  const compiled = buildProgram(graph, { plan: fused });
  const session = await openSession(compiled, { backend });
  session.setParams(initParams(compiled.program.params, 0));
  const ids = Int32Array.from({ length: SEQ }, (_, i) => (i === 0 ? 101 : 1000 + ((i * 7919) % 20000)));
  const inputs = { input_ids: ids, token_type_ids: new Int32Array(SEQ), attention_mask: new Int32Array(SEQ).fill(1) };
  await session.run(inputs);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await session.run(inputs);
    if (backend === 'webgpu') await (session.executor as WebGpuExecutor).settle();
    times.push(performance.now() - start);
  }
  session.destroy();
  return { ms: median(times), kernels: compiled.program.kernels.length };
}

export async function benchFusion(progress: (line: string) => void): Promise<{ records: Record_[]; adapter?: string }> {
  const records: Record_[] = [];
  const record = (r: Record_) => {
    emit(r);
    records.push(r);
  };
  // Memory: planned arena against every buffer its own bytes, inference and training.
  for (const [model, mode] of [['bert-base', 'infer'], ['bert-base', 'train'], ['bert-large', 'train']] as const) {
    const graph = mode === 'infer' ? encoderGraph(model, 1) : trainingGraph(model);
    const plain = mode === 'infer' ? encoderGraph(model, 1, false) : trainingGraph(model, false);
    const [planned, naive] = [buildProgram(graph).plan, buildProgram(plain, { plan: false }).plan];
    const batch = mode === 'infer' ? 1 : BATCH;
    record({ bench: `memory-${mode}`, model, backend: 'any', batch, seq: SEQ, metric: 'arena_bytes', value: planned.arenaBytes, unit: 'bytes', peer: UNFUSED, peer_value: naive.arenaBytes, ratio: round(planned.arenaBytes / naive.arenaBytes, 3) });
  }
  // Time on the CPU backends.
  const cpuCases = [
    { backend: 'native', model: 'bert-tiny', repeats: 50 }, { backend: 'native', model: 'bert-small', repeats: 20 }, { backend: 'native', model: 'bert-base', repeats: 10 },
    { backend: 'js', model: 'bert-tiny', repeats: 10 }, { backend: 'js', model: 'bert-small', repeats: 3 }, { backend: 'js', model: 'bert-base', repeats: 2 },
  ] as const;
  for (const { backend, model, repeats } of cpuCases) {
    progress(`fused and unfused ${model} inference on the CPU (${backend})…`);
    const fused = await latency(encoderGraph(model, 1), backend, true, repeats);
    const plain = await latency(encoderGraph(model, 1, false), backend, false, repeats);
    record({ bench: 'fusion-infer', model, backend: `cpu-${backend}`, batch: 1, seq: SEQ, metric: 'latency_ms', value: round(fused.ms), unit: 'ms', repeats, peer: UNFUSED, peer_value: round(plain.ms), ratio: round(fused.ms / plain.ms) });
  }
  progress('fused and unfused bert-tiny pretraining on the CPU…');
  const fusedTokens = await pretrainingTokensPerSecond('bert-tiny', 'js', 3);
  const plainTokens = await pretrainingTokensPerSecond('bert-tiny', 'js', 3, false);
  record({ bench: 'fusion-train', model: 'bert-tiny', backend: 'cpu-js', batch: BATCH, seq: TRAIN_SEQ, metric: 'tokens_per_s', value: round(fusedTokens, 1), unit: 'tokens/s', repeats: 3, peer: UNFUSED, peer_value: round(plainTokens, 1), ratio: round(fusedTokens / plainTokens) });

  // Time on WebGPU.
  let gpu;
  try {
    gpu = await acquireDevice();
  } catch (e) {
    progress(`no WebGPU adapter (${(e as Error).message.split('\n')[0]}): fusion on WebGPU not measured`);
    return { records };
  }
  const adapter = describeAdapter(gpu.info);
  const software = isSoftwareAdapter(gpu.info);
  for (const { model, repeats } of [{ model: 'bert-tiny', repeats: 5 }, { model: 'bert-small', repeats: 3 }]) {
    progress(`fused and unfused ${model} inference on ${adapter}…`);
    const fused = await latency(encoderGraph(model, 1), 'webgpu', true, repeats);
    const plain = await latency(encoderGraph(model, 1, false), 'webgpu', false, repeats);
    record({ bench: 'fusion-infer', model, backend: 'webgpu', batch: 1, seq: SEQ, metric: 'latency_ms', value: round(fused.ms), unit: 'ms', repeats, peer: UNFUSED, peer_value: round(plain.ms), ratio: round(fused.ms / plain.ms) });
  }
  progress(`fused and unfused bert-tiny pretraining on ${adapter}…`);
  const repeats = software ? 3 : 10;
  const gpuFused = await pretrainingTokensPerSecond('bert-tiny', 'webgpu', repeats);
  const gpuPlain = await pretrainingTokensPerSecond('bert-tiny', 'webgpu', repeats, false);
  record({ bench: 'fusion-train', model: 'bert-tiny', backend: 'webgpu', batch: BATCH, seq: TRAIN_SEQ, metric: 'tokens_per_s', value: round(gpuFused, 1), unit: 'tokens/s', repeats, peer: UNFUSED, peer_value: round(gpuPlain, 1), ratio: round(gpuFused / gpuPlain) });
  return { records, adapter: `${adapter}${software ? ' (software: CPU figures)' : ''}` };
}
