// Pretraining throughput (MLM + NSP with AdamW, batch 8 × seq 128) on the
// native CPU backend, beside PyTorch training the same model on the same batch
// shape in the same run (Debian's python3-torch; with libopenblas0-pthread,
// else torch falls back to the reference BLAS). Without torch the peer is
// reported as missing, never invented.

import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { buildGraph } from '../compiler/frontend/build.js';
import { DEFAULT_ADAMW } from '../compiler/passes/optimizer.js';
import { runPipeline } from '../compiler/passes/pipeline.js';
import type { RecomputeMode } from '../compiler/passes/recompute.js';
import { loadSpec } from '../compiler/parser/load.js';
import { graphStats } from '../compiler/ir/stats.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { openSession } from '../runtime/session.js';
import { maxMaskedPositions } from '../train/masking.js';
import { Trainer } from '../train/trainer.js';
import { emit, median, round, type Record_ } from './stats.js';

export const BATCH = 8;
export const SEQ = 128;
const CASES = [
  { model: 'bert-tiny', hidden: 128, layers: 2, heads: 2, repeats: 5 },
  { model: 'bert-small', hidden: 512, layers: 4, heads: 8, repeats: 3 },
];

export type Backend = 'js' | 'native' | 'webgpu';

function torchPeer(c: (typeof CASES)[number]): { tokens_per_s: number; threads: number; torch: string } | string {
  const script = fileURLToPath(new URL('../../bench/torch_bert.py', import.meta.url));
  const spec = { batch: BATCH, seq: SEQ, vocab: 30522, hidden: c.hidden, layers: c.layers, heads: c.heads, intermediate: 4 * c.hidden, warmup: 1, repeats: 3, threads: os.cpus().length };
  const run = spawnSync('/usr/bin/python3', [script, JSON.stringify(spec)], { encoding: 'utf8' });
  if (run.status !== 0) return (run.stderr || run.error?.message || 'python3 failed').trim().split('\n').pop()!;
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as { tokens_per_s: number; threads: number; torch: string };
}

/**
 * The training graph of a shipped model (MLM + NSP, AdamW) at batch 8 × seq
 * 128, as tcc pretrain compiles it (the masked-LM head at the masked
 * positions alone) or with fusion off.
 */
export function trainingGraph(model: string, fuse = true, recompute: RecomputeMode = 'none') {
  const { spec } = loadSpec(fileURLToPath(new URL(`../../models/${model}.yaml`, import.meta.url)));
  const labelledRows = BATCH * maxMaskedPositions(SEQ);
  return runPipeline(buildGraph(spec, { batch: BATCH, seq: SEQ, mode: 'train' }), { fuse, recompute, labelledRows, optimizer: DEFAULT_ADAMW }).graph;
}

/** The batch every pretraining benchmark trains on: every 7th token a masked-LM target, alternating NSP labels. */
export function pretrainBatch() {
  const ids = Int32Array.from({ length: BATCH * SEQ }, (_, i) => (i % SEQ === 0 ? 101 : 1000 + ((i * 7919) % 20000)));
  const labels = Int32Array.from(ids, (id, i) => (i % 7 === 3 ? id : -100));
  return { input_ids: ids, token_type_ids: new Int32Array(BATCH * SEQ), attention_mask: new Int32Array(BATCH * SEQ).fill(1), labels, next_sentence_label: Int32Array.from({ length: BATCH }, (_, i) => i % 2) };
}

/** Tokens per second of pretraining steps of a shipped model on a backend, the median over `repeats` steps after a warm-up step. */
export async function pretrainingTokensPerSecond(model: string, backend: Backend, repeats: number, fuse = true): Promise<number> {
  const compiled = buildProgram(trainingGraph(model, fuse), backend === 'webgpu' ? 'wgsl' : 'cpu', { plan: fuse });
  const session = await openSession(compiled, { native: backend === 'native' });
  session.setParams(initParams(compiled.program.params, 0));
  const trainer = new Trainer(session, { schedule: { lr: 1e-4, warmupSteps: 0, totalSteps: 100 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 0 });
  const batch = pretrainBatch();
  await trainer.trainStep(batch); // warm-up
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await trainer.trainStep(batch);
    times.push((performance.now() - start) / 1000);
  }
  session.destroy();
  return (BATCH * SEQ) / median(times);
}

/**
 * Native pretraining against PyTorch; also the share of the native GEMM
 * rate (`peakGflops`: the gemm bench's 1024³ product of two fresh operands,
 * the kernel alone) that the step's FLOPs (every op of the training graph)
 * reach.
 */
export async function benchTraining(progress: (line: string) => void, peakGflops?: number): Promise<Record_[]> {
  const records: Record_[] = [];
  for (const c of CASES) {
    progress(`training ${c.model} batch ${BATCH}…`);
    const value = await pretrainingTokensPerSecond(c.model, 'native', c.repeats);
    const peer = torchPeer(c);
    if (peakGflops) {
      const gflops = (graphStats(trainingGraph(c.model)).flops * value) / (BATCH * SEQ) / 1e9;
      const share: Record_ = { bench: 'pretrain', model: c.model, backend: 'native', batch: BATCH, seq: SEQ, metric: 'gflops', value: round(gflops, 1), unit: 'GFLOP/s', peer: 'native GEMM 1024³', peer_value: peakGflops, ratio: round(gflops / peakGflops, 3) };
      emit(share);
      records.push(share);
    }
    const record: Record_ = {
      bench: 'pretrain', model: c.model, backend: 'native', batch: BATCH, seq: SEQ, metric: 'tokens_per_s', value: round(value, 1), unit: 'tokens/s', repeats: c.repeats,
      ...(typeof peer === 'string' ? { peer: `pytorch (unavailable: ${peer})` } : { peer: `pytorch ${peer.torch} (${peer.threads} threads)`, peer_value: round(peer.tokens_per_s, 1), ratio: round(value / peer.tokens_per_s, 3) }),
    };
    emit(record);
    records.push(record);
  }
  return records;
}
