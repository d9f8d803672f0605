// Every registered backend against the JavaScript reference on whole
// models: a BERT forward pass with padding, and 20 AdamW steps of
// bert-tiny's architecture (over a 2,000-word vocabulary, to keep the suite
// quick) with dropout on, the same Threefry masks on all, give the same
// numbers within 1e-4.

import { describe, expect, it } from 'vitest';
import { modelsDir, specFiles } from '../helpers/cli.js';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { BACKENDS, REFERENCE } from '../../backends/registry.js';
import { initParams } from '../../runtime/init.js';
import { openSession, type Session } from '../../runtime/session.js';
import { Trainer } from '../../train/trainer.js';
import { rng } from '../helpers/random.js';
import { closeness } from './op-table.js';

type Backend = string;

async function session(file: string, backend: Backend, options: { batch: number; seq: number; mode: 'infer' | 'train' }): Promise<Session> {
  const { graph } = compileFile(file, options);
  const s = await openSession(buildProgram(graph), { backend });
  s.setParams(initParams(s.program.params, 3));
  return s;
}

/** A batch of token ids with masked-LM labels on 15% of the positions and padding at the end of odd rows. */
function batchOf(next: () => number, batch: number, seq: number, vocab: number) {
  const ids: number[] = [];
  const labels: number[] = [];
  const mask: number[] = [];
  for (let b = 0; b < batch; b++) {
    const length = b % 2 ? seq - 5 : seq;
    for (let i = 0; i < seq; i++) {
      const id = i === 0 ? 101 : 200 + Math.floor(next() * (vocab - 200));
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

/** Every registered backend but the reference, where it runs. */
const backends = await Promise.all(BACKENDS.filter((b) => b !== REFERENCE).map(async (b) => ({ backend: b.name, available: (await b.probe()).ok })));

/** bert-tiny's 20 training steps with dropout on two alternating batches: the settings, the spec and the batches. */
const TRAINING = {
  shape: { batch: 2, seq: 16, mode: 'train' as const },
  settings: { schedule: { lr: 1e-3, warmupSteps: 5, totalSteps: 20 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 9 },
  spec: () => specFiles({ 'tiny.yaml': `extends: ${modelsDir()}/bert-tiny.yaml\nconfig: {vocab_size: 2000}\n` })['tiny.yaml']!,
  batches: () => {
    const next = rng(17);
    return [batchOf(next, 2, 16, 2000), batchOf(next, 2, 16, 2000)];
  },
};

/** The JavaScript backend's metrics at each of those steps, computed once for every backend that compares against them. */
let referenceSteps: Promise<Record<string, number>[]> | undefined;
function referenceTraining(): Promise<Record<string, number>[]> {
  referenceSteps ??= (async () => {
    const cpu = new Trainer(await session(TRAINING.spec(), 'js', TRAINING.shape), TRAINING.settings);
    const batches = TRAINING.batches();
    const steps: Record<string, number>[] = [];
    for (let step = 0; step < 20; step++) steps.push(await cpu.trainStep(batches[step % 2]!));
    return steps;
  })();
  return referenceSteps;
}

describe.each(backends.filter((b) => b.available))('$backend on whole models', ({ backend }) => {
  it('runs a BERT forward pass (MLM and NSP heads, padding) with the JavaScript backend\'s outputs', async () => {
    const shape = { batch: 2, seq: 16, mode: 'infer' as const };
    const [cpu, gpu] = [await session('models/bert-tiny.yaml', 'js', shape), await session('models/bert-tiny.yaml', backend, shape)];
    const { labels: _l, next_sentence_label: _n, ...inputs } = batchOf(rng(5), 2, 16, 30522);
    const [want, got] = [await cpu.run(inputs), await gpu.run(inputs)];
    expect(Object.keys(got).sort()).toEqual(['last_hidden_state', 'pooler_output', 'prediction_logits', 'seq_relationship_logits']);
    for (const name of Object.keys(want)) expect(closeness(got[name]!.data, want[name]!.data, 1e-4, 1e-4), name).toBeLessThanOrEqual(1);
    gpu.destroy();
  });

  it('trains bert-tiny for 20 steps with dropout to the JavaScript backend\'s losses (within 1e-4)', async () => {
    const reference = await referenceTraining();
    const gpu = new Trainer(await session(TRAINING.spec(), backend, TRAINING.shape), TRAINING.settings);
    const batches = TRAINING.batches();
    const losses: [number, number][] = [];
    for (let step = 0; step < 20; step++) {
      const [a, b] = [reference[step]!, await gpu.trainStep(batches[step % 2]!)];
      for (const name of ['loss', 'mlm_loss', 'nsp_loss']) expect(Math.abs(b[name]! - a[name]!), `${name} at step ${step + 1}`).toBeLessThanOrEqual(1e-4);
      losses.push([a.loss!, b.loss!]);
    }
    expect(losses[19]![0]).toBeLessThan(losses[1]![0] - 0.5); // it did learn (the two batches by heart)
    gpu.session.destroy();
  }, 180_000);
});

describe.runIf(backends.filter((b) => b.available && b.backend !== REFERENCE.name).length >= 2)('two compiled backends on one model', () => {
  it('give each other\'s BERT forward pass within 1e-4 (the first two that run here besides the reference)', async () => {
    const [first, second] = backends.filter((b) => b.available).map((b) => b.backend);
    const shape = { batch: 2, seq: 16, mode: 'infer' as const };
    const [a, b] = [await session('models/bert-tiny.yaml', first!, shape), await session('models/bert-tiny.yaml', second!, shape)];
    const { labels: _l, next_sentence_label: _n, ...inputs } = batchOf(rng(6), 2, 16, 30522);
    const [x, y] = [await a.run(inputs), await b.run(inputs)];
    for (const name of Object.keys(x)) expect(closeness(y[name]!.data, x[name]!.data, 1e-4, 1e-4), `${first} against ${second}: ${name}`).toBeLessThanOrEqual(1);
    a.destroy();
    b.destroy();
  });
});

describe('wasm on worker threads', () => {
  it('gives the bits of one thread on two: a BERT forward pass, and 4 training steps with dropout (parameters and losses)', async () => {
    const spec = specFiles({ 'tiny.yaml': `extends: ${modelsDir()}/bert-tiny.yaml\nconfig: {vocab_size: 2000}\n` })['tiny.yaml']!;
    const open = async (threads: number, mode: 'infer' | 'train') => {
      const s = await openSession(buildProgram(compileFile(spec, { batch: 2, seq: 16, mode }).graph), { backend: 'wasm', threads });
      s.setParams(initParams(s.program.params, 3));
      return s;
    };
    const bits = (arrays: readonly ArrayLike<number>[]) => arrays.map((a) => Array.from(new Uint32Array(Float32Array.from(a).buffer)));
    const { labels: _l, next_sentence_label: _n, ...inputs } = batchOf(rng(6), 2, 16, 2000);
    const outputs: number[][][] = [];
    const trained: number[][][] = [];
    for (const threads of [1, 2]) {
      const infer = await open(threads, 'infer');
      expect(infer.executor.device).toContain(`${threads} thread`);
      const out = await infer.run(inputs);
      outputs.push(bits(Object.keys(out).sort().map((k) => out[k]!.data)));
      infer.destroy();
      const trainer = new Trainer(await open(threads, 'train'), { schedule: { lr: 1e-3, warmupSteps: 1, totalSteps: 4 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 9 });
      const next = rng(17);
      const losses: number[] = [];
      for (let step = 0; step < 4; step++) losses.push((await trainer.trainStep(batchOf(next, 2, 16, 2000))).loss!);
      const params = await trainer.session.readParams();
      trained.push([losses, ...bits(Object.keys(params).sort().map((k) => params[k]!))]);
      trainer.session.destroy();
    }
    expect(outputs[1]).toEqual(outputs[0]);
    expect(trained[1]).toEqual(trained[0]);
  }, 120_000);
});
