// Training steps: AdamW against a hand-written torch.optim.AdamW with
// global-norm clipping and the warmup schedule; and a small BERT learning a
// fixed batch by heart.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { GraphBuilder } from '../../compiler/ir/graph.js';
import { autodiff } from '../../compiler/passes/autodiff.js';
import { addAdamW } from '../../compiler/passes/optimizer.js';
import { buildProgram } from '../../compiler/program.js';
import { initParams } from '../../runtime/init.js';
import { openSession } from '../../runtime/session.js';
import { learningRate } from '../../train/schedule.js';
import { Trainer } from '../../train/trainer.js';
import { modelsDir, specFiles } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';

describe('AdamW training step', () => {
  it('matches torch.optim.AdamW with clipping and linear warmup, written out here', async () => {
    // loss = Σ (x Wᵀ + b) ⊙ w: ∂loss/∂W = wᵀx, ∂loss/∂b = Σ_rows w.
    const next = rng(9);
    const [n, k, m] = [4, 3, 2];
    const x = Array.from({ length: n * k }, () => next() * 2 - 1);
    const w = Array.from({ length: n * m }, () => next() * 2 - 1);
    const g = new GraphBuilder('linear', 'train', {});
    const W = g.add('param', [], { name: 'W', shape: [m, k], init: 'normal', std: 0.02 });
    const bias = g.add('param', [], { name: 'b.bias', shape: [m], init: 'zeros', std: 0.02 });
    const xs = g.add('input', [], { name: 'x', dtype: 'f32', shape: [n, k] });
    const ws = g.add('input', [], { name: 'w', dtype: 'f32', shape: [n, m] });
    const y = g.add('add', [g.add('matmul', [xs.id, W.id], { transpose_a: false, transpose_b: true }).id, bias.id], {});
    g.output('loss', g.add('sum', [g.add('mul', [y.id, ws.id], {}).id], { axes: [0, 1], keepdims: false }).id);
    const clip = 0.5;
    const settings = { beta1: 0.9, beta2: 0.999, eps: 1e-6, clip, accumulate: 1 };
    const compiled = buildProgram(addAdamW(autodiff(g.build(), 'loss'), settings));
    const { program } = compiled;
    const session = await openSession(compiled);
    const W0 = Array.from({ length: m * k }, () => next() - 0.5);
    session.setParams({ W: W0, 'b.bias': [0.1, -0.2] });
    const schedule = { lr: 0.1, warmupSteps: 2, totalSteps: 6 };
    const trainer = new Trainer(session, { schedule, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 0 });

    // torch.optim.AdamW (decoupled decay, no decay on the bias) after clip_grad_norm_.
    const gradW = Array.from({ length: m * k }, (_, idx) => {
      const [r, c] = [Math.floor(idx / k), idx % k];
      let s = 0;
      for (let i = 0; i < n; i++) s += w[i * m + r]! * x[i * k + c]!;
      return s;
    });
    const gradB = Array.from({ length: m }, (_, r) => Array.from({ length: n }, (_, i) => w[i * m + r]!).reduce((a, v) => a + v, 0));
    const norm = Math.sqrt([...gradW, ...gradB].reduce((a, v) => a + v * v, 0));
    const coef = Math.min(1, clip / (norm + 1e-6));
    const p = { W: [...W0], b: [0.1, -0.2] };
    const state = { mW: new Array(m * k).fill(0), vW: new Array(m * k).fill(0), mB: new Array(m).fill(0), vB: new Array(m).fill(0) };
    for (let step = 0; step < 5; step++) {
      const metrics = await trainer.trainStep({ x, w });
      expect(metrics.grad_norm).toBeCloseTo(norm, 5);
      const lr = learningRate(schedule, step);
      expect(metrics.lr).toBeCloseTo(lr, 12);
      const t = step + 1;
      const update = (param: number[], grads: number[], mState: number[], vState: number[], decay: boolean) => {
        for (let i = 0; i < param.length; i++) {
          const gi = grads[i]! * coef;
          if (decay) param[i]! *= 1 - lr * 0.01;
          mState[i] = 0.9 * mState[i]! + 0.1 * gi;
          vState[i] = 0.999 * vState[i]! + 0.001 * gi * gi;
          const denom = Math.sqrt(vState[i]!) / Math.sqrt(1 - 0.999 ** t) + 1e-6;
          param[i]! -= (lr / (1 - 0.9 ** t)) * (mState[i]! / denom);
        }
      };
      update(p.W, gradW, state.mW, state.vW, true);
      update(p.b, gradB, state.mB, state.vB, false);
      const current = await session.read(['W', 'b.bias']);
      Array.from(current['W']!).forEach((v, i) => expect(v).toBeCloseTo(p.W[i]!, 5));
      Array.from(current['b.bias']!).forEach((v, i) => expect(v).toBeCloseTo(p.b[i]!, 5));
    }
    expect(p.W[0]).not.toBeCloseTo(W0[0]!, 2); // the parameters did move
  });
});

describe('gradient accumulation', () => {
  it('makes two batches of 4 one update equal to one batch of 8', async () => {
    const spec = specFiles({ 'c.yaml': `extends: ${modelsDir()}/bert-base-classifier.yaml\nconfig: {vocab_size: 30, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 8, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0}\n` })['c.yaml']!;
    const next = rng(12);
    const rows = Array.from({ length: 8 }, () => ({ ids: Array.from({ length: 6 }, () => 5 + Math.floor(next() * 25)), label: Math.floor(next() * 2) }));
    const batchOf = (rs: typeof rows) => ({
      input_ids: rs.flatMap((r) => r.ids), token_type_ids: rs.flatMap(() => new Array(6).fill(0)), attention_mask: rs.flatMap(() => new Array(6).fill(1)), labels: rs.map((r) => r.label),
    });
    const train = async (batch: number, accumulate: number) => {
      const { graph } = compileFile(spec, { batch, seq: 6, mode: 'train', optimizer: { accumulate } });
      const compiled = buildProgram(graph);
      const { program } = compiled;
      const session = await openSession(compiled);
      session.setParams(initParams(program.params, 4));
      const trainer = new Trainer(session, { schedule: { lr: 1e-2, warmupSteps: 0, totalSteps: 10 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 1, accumulate });
      const norms: number[] = [];
      for (let update = 0; update < 3; update++) {
        for (let j = 0; j < accumulate; j++) {
          const m = await trainer.trainStep(batchOf(rows.slice(j * batch, (j + 1) * batch)));
          if (j === accumulate - 1) norms.push(m.grad_norm!);
        }
      }
      expect(trainer.step).toBe(3);
      return { session, norms };
    };
    const { session: whole, norms: wholeNorms } = await train(8, 1);
    const { session: split, norms: splitNorms } = await train(4, 2);
    const [wholeParams, splitParams] = [await whole.readParams(), await split.readParams()];
    // Adam hardly sees a scale error in the gradients; their norm does.
    splitNorms.forEach((n, i) => expect(n).toBeCloseTo(wholeNorms[i]!, 5));
    for (const p of whole.program.params) {
      const a = wholeParams[p.name]!;
      const b = splitParams[p.name]!;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!), p.name).toBeLessThan(1e-5);
    }
  });
});

describe('a small BERT', () => {
  it('learns a fixed batch by heart: MLM loss below 0.5, NSP accuracy 100%', async () => {
    const spec = specFiles({ 'm.yaml': `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: 40, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 16}\n` })['m.yaml']!;
    const { graph } = compileFile(spec, { batch: 4, seq: 12, mode: 'train' });
    const compiled = buildProgram(graph);
    const { program } = compiled;
    const session = await openSession(compiled);
    session.setParams(initParams(program.params, 1));
    const steps = 150;
    const trainer = new Trainer(session, { schedule: { lr: 3e-3, warmupSteps: 10, totalSteps: steps }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 7 });
    const next = rng(3);
    const ids = Array.from({ length: 48 }, (_, i) => (i % 12 === 0 ? 2 : 5 + Math.floor(next() * 35)));
    const labels = ids.map((id, i) => (i % 12 !== 0 && i % 3 === 1 ? id : -100));
    const masked = ids.map((id, i) => (labels[i] !== -100 ? 4 : id));
    const batch = { input_ids: masked, token_type_ids: ids.map((_, i) => (i % 12 >= 6 ? 1 : 0)), attention_mask: ids.map(() => 1), labels, next_sentence_label: [0, 1, 1, 0] };
    let first: Record<string, number> | undefined;
    let last: Record<string, number> = {};
    for (let s = 0; s < steps; s++) {
      last = await trainer.trainStep(batch);
      first ??= last;
      expect(Number.isFinite(last.loss)).toBe(true);
    }
    expect(first!.mlm_loss).toBeGreaterThan(3);
    expect(last.mlm_loss).toBeLessThan(0.5);
    expect(last.nsp_acc).toBe(1);
    expect(last.mlm_acc).toBeGreaterThan(0.9);
  });
});
