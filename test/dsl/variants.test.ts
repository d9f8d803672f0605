// The variants written only in the DSL (models/variants/) compile, run and
// train: 10 AdamW steps on a fixed batch lower the loss on the CPU backend.
// Each also has what makes it that variant: ALBERT's one shared layer and
// factorized embeddings, DistilBERT's missing token types and pooler, the
// sinusoidal model's missing position table, pre-LN's final LayerNorm.

import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import { buildProgram } from '../../compiler/program.js';
import { initParams } from '../../runtime/init.js';
import { openSession } from '../../runtime/session.js';
import { Trainer } from '../../train/trainer.js';
import { modelsDir, specFiles } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';

const SMALL = 'vocab_size = 60  hidden_size = 32  num_hidden_layers = 3  num_attention_heads = 2  intermediate_size = 64  max_position_embeddings = 32';
const VARIANTS: Record<string, { extra?: string; check: (params: readonly string[], inputs: readonly string[]) => void }> = {
  'bert-pre-ln': {
    check: (params) => expect(params).toContain('bert.encoder.LayerNorm.weight'),
  },
  'bert-sinusoidal': {
    check: (params) => expect(params.some((p) => p.includes('position_embeddings'))).toBe(false),
  },
  albert: {
    extra: 'embedding_size = 16',
    check: (params) => {
      expect(params.filter((p) => p.startsWith('albert.encoder.shared_layer.')).length).toBe(16); // one layer's tensors for three layers
      expect(params.some((p) => p.includes('layer.1'))).toBe(false);
      expect(params).toContain('albert.encoder.embedding_hidden_mapping_in.weight');
    },
  },
  distilbert: {
    check: (params, inputs) => {
      expect(inputs).not.toContain('token_type_ids');
      expect(params.some((p) => p.includes('pooler') || p.includes('token_type'))).toBe(false);
      expect(params).toContain('vocab_projector.bias');
    },
  },
};

function batchFor(inputs: readonly { name: string; shape: readonly number[] }[]): Record<string, number[]> {
  const next = rng(21);
  const ids = Array.from({ length: 4 * 16 }, (_, i) => (i % 16 === 0 ? 2 : 5 + Math.floor(next() * 55)));
  const values: Record<string, number[]> = {
    input_ids: ids.map((id, i) => (i % 16 !== 0 && i % 5 === 2 ? 4 : id)),
    token_type_ids: ids.map((_, i) => (i % 16 >= 8 ? 1 : 0)),
    attention_mask: ids.map(() => 1),
    labels: ids.map((id, i) => (i % 16 !== 0 && i % 5 === 2 ? id : -100)),
    next_sentence_label: [0, 1, 1, 0],
  };
  return Object.fromEntries(inputs.filter((i) => !i.name.startsWith('opt.')).map((i) => [i.name, values[i.name]!]));
}

describe('DSL-only variants', () => {
  it.each(Object.keys(VARIANTS))('%s compiles, runs and trains 10 steps with falling loss', async (variant) => {
    const { extra, check } = VARIANTS[variant]!;
    const spec = specFiles({ 'v.tcc': `model small extends "${modelsDir()}/variants/${variant}.tcc" {\n  config { ${SMALL} ${extra ?? ''} }\n}\n` })['v.tcc']!;

    const infer = await openSession(buildProgram(compileFile(spec, { batch: 4, seq: 16 }).graph));
    infer.setParams(initParams(infer.program.params, 1));
    const { labels: _l, next_sentence_label: _n, ...inputs } = batchFor(infer.program.inputs);
    const outputs = await infer.run(inputs);
    for (const [name, t] of Object.entries(outputs)) expect(Array.from(t.data).every(Number.isFinite), name).toBe(true);
    check(infer.program.params.map((p) => p.name), infer.program.inputs.map((i) => i.name));

    const train = await openSession(buildProgram(compileFile(spec, { batch: 4, seq: 16, mode: 'train', config: { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 } }).graph));
    train.setParams(initParams(train.program.params, 1));
    const trainer = new Trainer(train, { schedule: { lr: 3e-3, warmupSteps: 0, totalSteps: 10 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 0 });
    const batch = batchFor(train.program.inputs);
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) losses.push((await trainer.trainStep(batch)).loss!);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[9]).toBeLessThan(losses[0]! - 0.3);
  });
});
