// `npm run bench -- hashes`: fingerprints of what each backend computes, to
// compare across a change that should not change numbers (a refactor, a
// renderer rewritten): for bert-tiny and bert-small at batch 2 × seq 32, the
// SHA-256 of every forward output (initialized with seed 3, padding in odd
// rows) and of every parameter after two AdamW steps with dropout (seed 9),
// with the two losses. Equal hashes before and after mean bit-identical
// results. One JSON line per model and backend; backends that do not run
// here are left out, saying so.

import { createHash } from 'node:crypto';
import { BACKENDS } from '../backends/registry.js';
import { compileFile } from '../compiler/compile.js';
import { buildProgram } from '../compiler/program.js';
import { initParams } from '../runtime/init.js';
import { openSession } from '../runtime/session.js';
import { Trainer } from '../train/trainer.js';

const SHAPE = { batch: 2, seq: 32 };
const VOCAB = 30522;

/** A small linear congruential generator: the batches must not depend on anything that could change. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Token ids with masked-LM labels on 15% of the positions, the odd rows padded at the end. */
function batchOf(next: () => number) {
  const { batch, seq } = SHAPE;
  const ids: number[] = [];
  const labels: number[] = [];
  const mask: number[] = [];
  for (let b = 0; b < batch; b++) {
    const length = b % 2 ? seq - 5 : seq;
    for (let i = 0; i < seq; i++) {
      const id = i === 0 ? 101 : 200 + Math.floor(next() * (VOCAB - 200));
      const masked = i > 0 && i < length && next() < 0.15;
      ids.push(i >= length ? 0 : masked ? 103 : id);
      labels.push(masked ? id : -100);
      mask.push(i < length ? 1 : 0);
    }
  }
  return {
    input_ids: ids, attention_mask: mask, labels,
    token_type_ids: ids.map((_, i) => (i % seq >= seq / 2 ? 1 : 0)),
    next_sentence_label: Array.from({ length: batch }, () => (next() < 0.5 ? 1 : 0)),
  };
}

function sha256(arrays: readonly (Float32Array | Int32Array)[]): string {
  const hash = createHash('sha256');
  for (const a of arrays) hash.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  return hash.digest('hex').slice(0, 16);
}

async function fingerprint(model: string, backend: string) {
  const infer = await openSession(buildProgram(compileFile(`models/${model}.yaml`, { ...SHAPE, mode: 'infer' }).graph), { backend });
  infer.setParams(initParams(infer.program.params, 3));
  const { labels: _labels, next_sentence_label: _nsp, ...inputs } = batchOf(lcg(5));
  const out = await infer.run(inputs);
  const forward = sha256(Object.keys(out).sort().map((k) => out[k]!.data));
  infer.destroy();
  const train = await openSession(buildProgram(compileFile(`models/${model}.yaml`, { ...SHAPE, mode: 'train' }).graph), { backend });
  train.setParams(initParams(train.program.params, 3));
  const trainer = new Trainer(train, { schedule: { lr: 1e-3, warmupSteps: 1, totalSteps: 3 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 9 });
  const next = lcg(17);
  const losses: number[] = [];
  for (let step = 0; step < 2; step++) losses.push((await trainer.trainStep(batchOf(next))).loss!);
  const params = await train.readParams();
  train.destroy();
  return { forward, params: sha256(Object.keys(params).sort().map((k) => params[k]!)), losses };
}

export async function benchHashes(progress: (line: string) => void): Promise<object[]> {
  const records: object[] = [];
  for (const backend of BACKENDS) {
    const state = await backend.probe();
    if (!state.ok) {
      progress(`${backend.name}: left out (${state.found})`);
      continue;
    }
    for (const model of ['bert-tiny', 'bert-small']) {
      const record = { bench: 'hashes', model, backend: backend.name, ...SHAPE, ...(await fingerprint(model, backend.name)) };
      process.stdout.write(JSON.stringify(record) + '\n');
      records.push(record);
    }
  }
  return records;
}
