// Pretraining throughput (MLM + NSP with AdamW, batch 8 × seq 128) on the
// native CPU backend, beside PyTorch training the same model on the same batch
// shape in the same run (Debian's python3-torch; with libopenblas0-pthread,
// else torch falls back to the reference BLAS), in rounds taken in turn: a
// shared machine's speed drifts by tens of percent over a minute, and
// engines timed one after the other would see different machines. Without
// torch the peer is reported as missing, never invented.

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

/** Rounds of tcc's steps and PyTorch's, taken in turn so that both see the same phases of a shared machine. */
const ROUNDS = 3;

/** A registered backend's name. */
export type Backend = string;

interface TorchRun { step_seconds: number[]; threads: number; torch: string }

/** PyTorch's step times for the case (after a warm-up step), or why there are none. */
function torchSteps(c: (typeof CASES)[number]): TorchRun | string {
  const script = fileURLToPath(new URL('../../bench/torch_bert.py', import.meta.url));
  const spec = { batch: BATCH, seq: SEQ, vocab: 30522, hidden: c.hidden, layers: c.layers, heads: c.heads, intermediate: 4 * c.hidden, warmup: 1, repeats: c.repeats, threads: os.cpus().length };
  const run = spawnSync('/usr/bin/python3', [script, JSON.stringify(spec)], { encoding: 'utf8' });
  if (run.status !== 0) return (run.stderr || run.error?.message || 'python3 failed').trim().split('\n').pop()!;
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as TorchRun;
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

/** A pretraining session of a shipped model on a backend, warmed up by one step: `step()` times one more, in seconds. */
async function pretrainer(model: string, backend: Backend, fuse = true, threads?: number): Promise<{ step(): Promise<number>; close(): void }> {
  const compiled = buildProgram(trainingGraph(model, fuse), { plan: fuse });
  const session = await openSession(compiled, { backend, ...(threads ? { threads } : {}) });
  session.setParams(initParams(compiled.program.params, 0));
  const trainer = new Trainer(session, { schedule: { lr: 1e-4, warmupSteps: 0, totalSteps: 100 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 0 });
  const batch = pretrainBatch();
  await trainer.trainStep(batch); // warm-up
  return {
    async step() {
      const start = performance.now();
      await trainer.trainStep(batch);
      return (performance.now() - start) / 1000;
    },
    close: () => session.destroy(),
  };
}

/** Tokens per second of pretraining steps of a shipped model on a backend, the median over `repeats` steps after a warm-up step. */
export async function pretrainingTokensPerSecond(model: string, backend: Backend, repeats: number, fuse = true, threads?: number): Promise<number> {
  const run = await pretrainer(model, backend, fuse, threads);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) times.push(await run.step());
  run.close();
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
    // tcc's steps and PyTorch's (a process per round) in turn.
    const run = await pretrainer(c.model, 'native');
    const ours: number[] = [];
    const theirs: number[] = [];
    let peer: TorchRun | string = 'not run';
    for (let round = 0; round < ROUNDS; round++) {
      // A warm-up step per round, as PyTorch's process has: the first step after the other engine ran is slower (its caches are cold).
      if (round > 0) await run.step();
      for (let i = 0; i < c.repeats; i++) ours.push(await run.step());
      const torch = torchSteps(c);
      if (typeof torch === 'string') {
        if (!theirs.length) peer = torch;
        continue;
      }
      peer = torch;
      theirs.push(...torch.step_seconds);
    }
    run.close();
    const value = (BATCH * SEQ) / median(ours);
    const peerValue = (BATCH * SEQ) / median(theirs);
    if (peakGflops) {
      const gflops = (graphStats(trainingGraph(c.model)).flops * value) / (BATCH * SEQ) / 1e9;
      const share: Record_ = { bench: 'pretrain', model: c.model, backend: 'native', batch: BATCH, seq: SEQ, metric: 'gflops', value: round(gflops, 1), unit: 'GFLOP/s', peer: 'native GEMM 1024³', peer_value: peakGflops, ratio: round(gflops / peakGflops, 3) };
      emit(share);
      records.push(share);
    }
    const record: Record_ = {
      bench: 'pretrain', model: c.model, backend: 'native', batch: BATCH, seq: SEQ, metric: 'tokens_per_s', value: round(value, 1), unit: 'tokens/s', repeats: ours.length,
      ...(typeof peer === 'string' ? { peer: `pytorch (unavailable: ${peer})` } : { peer: `pytorch ${peer.torch} (${peer.threads} threads)`, peer_value: round(peerValue, 1), ratio: round(value / peerValue, 3) }),
    };
    emit(record);
    records.push(record);
  }
  return records;
}
