// Pretraining and fine-tuning the family against the PyTorch reference
// (test/reference/hf_family.py --pretrain: HuggingFace's heads and losses,
// torch.optim.AdamW with the Trainer's parameter groups, clipping and linear
// schedule): three steps' losses and the trained weights within 1e-5, from a
// HuggingFace directory with its own tokenizer.json; and a longer run from
// the corpus whose loss falls, leaving checkpoints of the model's family.
// Fine-tuning puts the family's own head on (RobertaClassificationHead) and
// leaves a directory of HuggingFace's class that the reference reads as tcc
// runs it.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bpeTokenizer, unigramTokenizer } from '../../bench/fuzz/kinds.js';
import { compileFile } from '../../compiler/compile.js';
import { hfConfigOf } from '../../compiler/export/hf-config.js';
import { TaskError, taskSpecFor } from '../../train/task-spec.js';
import { modelsDir } from '../helpers/cli.js';
import { readSafetensors, writeSafetensors } from '../../runtime/safetensors.js';
import { tcc } from '../helpers/cli.js';
import { pretrainWorkspace } from '../helpers/corpus.js';
import { randomCheckpoint } from '../helpers/programs.js';

const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
const REFERENCE = join(process.cwd(), 'test', 'reference', 'hf_family.py');

const SETTINGS = { steps: 3, batch: 4, lr: 2e-3, warmup: 0, weightDecay: 0.01, clip: 1 };

/** A HuggingFace directory: config.json, random weights with HuggingFace's names, and the tokenizer. */
function hfDirectory(dir: string, config: object, tokenizer: object, seed: number): void {
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(randomCheckpoint(compileFile(dir, { batch: 1, seq: 4 }).graph, seed, 0.2)));
}

/** ROOT/roberta: a RobertaForMaskedLM of odd sizes, `layers` deep, with the byte-level BPE tokenizer of the fuzz seeds. */
function robertaDirectory(root: string, layers: number, seed: number): string {
  const tokenizer = bpeTokenizer() as { model: { vocab: Record<string, number> } };
  const dir = join(root, 'roberta');
  hfDirectory(dir, {
    architectures: ['RobertaForMaskedLM'], model_type: 'roberta', vocab_size: Object.keys(tokenizer.model.vocab).length, hidden_size: 24, num_hidden_layers: layers,
    num_attention_heads: 3, intermediate_size: 37, max_position_embeddings: 40, type_vocab_size: 1, layer_norm_eps: 1e-5, pad_token_id: 1, hidden_act: 'gelu',
  }, tokenizer, seed);
  return dir;
}

/** tcc pretrain's losses and final weights against the reference's, on prepared data. */
async function againstReference(dir: string, data: string, seq: number, model = dir, ...flags: string[]): Promise<void> {
  const { steps, batch, lr, warmup, weightDecay, clip } = SETTINGS;
  const run = join(dir, 'run');
  const trained = await tcc('pretrain', model, ...flags, '--data', data, '-o', run, '--seq', String(seq), '--steps', String(steps), '--batch', String(batch), '--lr', String(lr),
    '--warmup', String(warmup), '--weight-decay', String(weightDecay), '--clip', String(clip), '--dropout', '0', '--backend', 'js');
  expect(trained.code, trained.stderr).toBe(0);
  const losses = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
  const out = join(dir, 'reference.json');
  const reference = spawnSync(python!, [REFERENCE, '--pretrain', dir, data, out, ...[steps, batch, lr, warmup, weightDecay, clip].map(String)], { encoding: 'utf8' });
  expect(reference.status, reference.stderr).toBe(0);
  const want = JSON.parse(readFileSync(out, 'utf8')) as { losses: number[]; tensors: Record<string, number[]> };
  expect(losses).toHaveLength(steps);
  for (const [k, loss] of losses.entries()) expect(Math.abs(loss - want.losses[k]!), `step ${k + 1}: tcc ${loss}, PyTorch ${want.losses[k]}`).toBeLessThan(1e-5);
  const final = readSafetensors(readFileSync(join(run, 'final', 'model.safetensors'))).tensors;
  let compared = 0;
  for (const [name, values] of Object.entries(want.tensors)) {
    const got = final.get(name);
    if (!got) continue; // a tensor the model does not use (HuggingFace's tied decoder copy)
    let worst = 0;
    values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got.data[i]!))));
    expect(worst, name).toBeLessThan(1e-5);
    compared++;
  }
  expect(compared).toBe(final.size);
}

describe("each family's fine-tuning heads", () => {
  const cases = [
    ['bert', 'classification', 'BertForSequenceClassification'], ['roberta', 'token-classification', 'RobertaForTokenClassification'],
    ['distilbert', 'classification', 'DistilBertForSequenceClassification'], ['albert', 'qa', 'AlbertForQuestionAnswering'],
    ['electra', 'classification', 'ElectraForSequenceClassification'], ['modernbert', 'classification', 'ModernBertForSequenceClassification'],
    ['jina-bert', 'classification', 'JinaBertForSequenceClassification'],
  ] as const;
  it.each(cases)('%s for %s: the head of %s, trained alone with its loss', (family, task, architecture) => {
    const file = join(modelsDir(), `${family}.yaml`);
    const { file: specFile, text } = taskSpecFor(file, task, 3);
    const small = { vocab_size: 40, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24 };
    const train = compileFile(specFile, { text, batch: 2, seq: 8, mode: 'train', config: small });
    const scalars = train.graph.outputs.filter((o) => train.graph.nodes[o.node]!.type.shape.length === 0).map((o) => o.name).sort();
    expect(scalars).toEqual(task === 'qa' ? ['end_acc', 'end_loss', 'grad_norm', 'loss', 'start_acc', 'start_loss'] : ['accuracy', 'classification_loss', 'grad_norm', 'loss']);
    const infer = compileFile(specFile, { text, batch: 2, seq: 8, config: small });
    expect(hfConfigOf(infer.spec, infer.graph).architectures).toEqual([architecture]);
  });
  it('says in one line when the family has no head for the task', () => {
    expect(() => taskSpecFor(join(modelsDir(), 'nomic-bert.yaml'), 'classification', 2)).toThrow(TaskError);
    expect(() => taskSpecFor(join(modelsDir(), 'nomic-bert.yaml'), 'classification', 2)).toThrow('nomic_bert has no classification head (HuggingFace\'s classes for it: NomicBertModel, NomicBertForPreTraining)');
  });
});

describe.skipIf(!python)('family pretraining and fine-tuning against the PyTorch reference', () => {
  it("RoBERTa: masked LM on full sentences through a byte-level BPE tokenizer.json, three steps as PyTorch's (1e-5)", async () => {
    const root = pretrainWorkspace(8);
    const dir = robertaDirectory(root, 2, 5);
    const data = join(root, 'data.jsonl');
    const prepared = await tcc('prepare', '--corpus', join(root, 'corpus.txt'), '--tokenizer', join(dir, 'tokenizer.json'), '--packing', 'full-sentences', '--seq', '24', '-o', data);
    expect(prepared.stderr).toMatch(/examples of 24 tokens, dynamic masking, full sentences/);
    const first = JSON.parse(readFileSync(data, 'utf8').split('\n')[0]!) as Record<string, number[]>;
    // <s> … </s>, <mask> (id 279) among the inputs, no next-sentence label.
    expect(first.input_ids![0]).toBe(0);
    expect(first).not.toHaveProperty('next_sentence_label');
    await againstReference(dir, data, 24);

    // From the corpus: the model has no next-sentence head, so full sentences; the loss falls; checkpoints are RoBERTa directories.
    const run = join(root, 'long');
    const long = await tcc('pretrain', dir, '--corpus', join(root, 'corpus.txt'), '-o', run, '--seq', '24', '--steps', '60', '--batch', '8', '--lr', '3e-3', '--warmup', '5', '--backend', 'js');
    expect(long.code, long.stderr).toBe(0);
    expect(long.stderr).toMatch(/pretraining 60 steps of 8 × 24 on \d+ examples \(dynamic masking\)/);
    expect(long.stderr).toMatch(/done: loss [\d.]+, mlm_acc [\d.]+;/);
    const losses = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)) - 0.5);
    const config = JSON.parse(readFileSync(join(run, 'final', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect([config.model_type, config.architectures]).toEqual(['roberta', ['RobertaForMaskedLM']]);
    expect(readFileSync(join(run, 'final', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const ran = await tcc('run', '--model', join(run, 'final'), '--text', 'the cat sat', '--out', join(root, 'o.safetensors'), '--backend', 'js');
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain('tokens <s> t h e Ġcat Ġsat </s>'); // the tokenizer has no merge for 'the' at the start
  }, 120_000);

  it("ModernBERT: masked LM (pre-LN, global and local layers, two rotary bases), three steps as PyTorch's (1e-5)", async () => {
    const root = pretrainWorkspace(8);
    const tokenizer = bpeTokenizer() as { model: { vocab: Record<string, number> } };
    const dir = join(root, 'modernbert');
    hfDirectory(dir, {
      architectures: ['ModernBertForMaskedLM'], model_type: 'modernbert', hidden_size: 24, num_hidden_layers: 3, num_attention_heads: 3, intermediate_size: 37,
      vocab_size: Object.keys(tokenizer.model.vocab).length, max_position_embeddings: 64, hidden_activation: 'gelu', norm_eps: 1e-5, global_rope_theta: 1000.0,
      local_rope_theta: 100.0, local_attention: 8, global_attn_every_n_layers: 2, attention_bias: false, mlp_bias: false, norm_bias: false, decoder_bias: true,
      embedding_dropout: 0, attention_dropout: 0, mlp_dropout: 0, pad_token_id: 1,
    }, tokenizer, 7);
    const data = join(root, 'data.jsonl');
    expect((await tcc('prepare', '--corpus', join(root, 'corpus.txt'), '--tokenizer', join(dir, 'tokenizer.json'), '--packing', 'full-sentences', '--seq', '24', '-o', data)).code).toBe(0);
    await againstReference(dir, data, 24);
  }, 120_000);

  it("ALBERT: masked LM and sentence order (pairs swapped half the time) through a SentencePiece tokenizer.json, three steps as PyTorch's (1e-5)", async () => {
    const root = pretrainWorkspace(8);
    const tokenizer = unigramTokenizer() as { model: { vocab: unknown[] } };
    const dir = join(root, 'albert');
    hfDirectory(dir, {
      architectures: ['AlbertForPreTraining'], model_type: 'albert', vocab_size: tokenizer.model.vocab.length, hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 3,
      intermediate_size: 37, embedding_size: 10, max_position_embeddings: 40, type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu_new', num_hidden_groups: 1,
      inner_group_num: 1, classifier_dropout_prob: 0.1, pad_token_id: 0,
    }, tokenizer, 8);
    const data = join(root, 'data.jsonl');
    const prepared = await tcc('prepare', '--corpus', join(root, 'corpus.txt'), '--tokenizer', join(dir, 'tokenizer.json'), '--packing', 'sentence-order', '--seq', '24', '-o', data);
    expect(prepared.stderr).toMatch(/examples of 24 tokens, dynamic masking, [\d.]+% of the pairs swapped/);
    await againstReference(dir, data, 24);
  }, 120_000);

  it("ELECTRA: the generator's masked LM and the discriminator's replaced-token detection on its draws, three steps as PyTorch's (1e-5)", async () => {
    const root = pretrainWorkspace(8);
    // [MASK] is id 4 of the workspace's WordPiece vocabulary of 24.
    const config = {
      vocab_size: 24, embedding_size: 10, hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 37, max_position_embeddings: 40,
      generator_hidden_size: 8, generator_num_attention_heads: 1, generator_intermediate_size: 16, mask_token_id: 4,
    };
    const spec = join(root, 'electra.yaml');
    writeFileSync(spec, `extends: tcc:electra-pretraining.yaml\nname: electra-test\nconfig: ${JSON.stringify(config)}\n`);
    const dir = join(root, 'reference');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'electra', architectures: ['ElectraForPreTraining'], type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu' }));
    const init = join(dir, 'model.safetensors');
    writeFileSync(init, writeSafetensors(randomCheckpoint(compileFile(spec, { batch: 1, seq: 4 }).graph, 9, 0.4)));
    const data = join(root, 'data.jsonl');
    expect((await tcc('prepare', '--corpus', join(root, 'corpus.txt'), '--vocab', join(root, 'vocab.txt'), '--packing', 'full-sentences', '--seq', '24', '-o', data)).code).toBe(0);
    await againstReference(dir, data, 24, spec, '--init', init, '--vocab', join(root, 'vocab.txt'));
    // The PyTorch export of the same spec trains the same way: its generator draws tcc's numbers (the counter-based generator in torch).
    const torch = join(root, 'torch');
    expect((await tcc('export', spec, '--format', 'torch', '-o', torch, '--weights', init)).code).toBe(0);
    const { steps, batch, lr, warmup, weightDecay, clip } = SETTINGS;
    const trained = spawnSync(python!, [join(torch, 'train.py'), data, '--init', torch, '-o', join(root, 'torch-trained'), '--steps', String(steps), '--batch', String(batch), '--lr', String(lr),
      '--warmup', String(warmup), '--weight-decay', String(weightDecay), '--clip', String(clip), '--dropout', '0'], { encoding: 'utf8', cwd: torch });
    expect(trained.status, trained.stderr).toBe(0);
    const torchLosses = trained.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
    const tccLosses = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
    torchLosses.forEach((loss, k) => expect(Math.abs(loss - tccLosses[k]!), `step ${k + 1}: exported model.py ${loss}, tcc ${tccLosses[k]}`).toBeLessThan(1e-5));
    // The discriminator alone, by its spec, from the pretraining checkpoint: HuggingFace's ElectraForPreTraining.
    const { generator_hidden_size: _h, generator_num_attention_heads: _a, generator_intermediate_size: _i, mask_token_id: _m, ...sizes } = config;
    writeFileSync(join(root, 'discriminator.yaml'), `extends: tcc:electra.yaml\nname: discriminator\nconfig: ${JSON.stringify(sizes)}\n`);
    const exported = await tcc('export', join(root, 'discriminator.yaml'), '--weights', join(dir, 'run', 'final', 'model.safetensors'), '--format', 'hf', '-o', join(root, 'hf'), '--vocab', join(root, 'vocab.txt'));
    expect(exported.stderr).toContain("HuggingFace's ElectraForPreTraining loads it");
    // A model whose mask_token_id is not the tokenizer's [MASK] would never replace a token: one line says so.
    writeFileSync(spec, `extends: tcc:electra-pretraining.yaml\nname: electra-test\nconfig: ${JSON.stringify({ ...config, mask_token_id: 103 })}\n`);
    const wrong = await tcc('pretrain', spec, '--data', data, '--vocab', join(root, 'vocab.txt'), '-o', join(root, 'wrong'), '--seq', '24', '--steps', '1', '--backend', 'js');
    expect([wrong.code, wrong.stderr.trim()]).toEqual([2, "tcc: error: electra-test's mask_token_id is 103, but the tokenizer's [MASK] is 4: set mask_token_id: 4 in its config"]);
    // The generator drew: some [MASK] became another token, and the discriminator's loss is in the metrics.
    const logged = JSON.parse(readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').split('\n')[0]!) as Record<string, number>;
    expect(Object.keys(logged)).toEqual(expect.arrayContaining(['mlm_loss', 'rtd_loss', 'mlm_acc', 'rtd_acc']));
  }, 120_000);

  // DistilBERT, nomic-bert (rotary, SwiGLU) and JinaBERT (ALiBi, GeGLU): masked LM on full sentences of the workspace's WordPiece text.
  it.each([
    ['DistilBERT', { architectures: ['DistilBertForMaskedLM'], model_type: 'distilbert', activation: 'gelu', dim: 24, n_layers: 2, n_heads: 3, hidden_dim: 37, max_position_embeddings: 40, dropout: 0.1, attention_dropout: 0.1, tie_weights_: true, pad_token_id: 0, initializer_range: 0.02 }],
    ['nomic-bert', {
      architectures: ['NomicBertForPreTraining'], model_type: 'nomic_bert', n_embd: 24, n_head: 3, n_layer: 2, n_inner: 37, n_positions: 64, type_vocab_size: 2, layer_norm_epsilon: 1e-12,
      rotary_emb_base: 1000, rotary_emb_fraction: 0.5, rotary_emb_interleaved: false, rotary_emb_scale_base: null, rotary_scaling_factor: null, prenorm: false, causal: false,
      activation_function: 'swiglu', qkv_proj_bias: true, mlp_fc1_bias: true, mlp_fc2_bias: true, resid_pdrop: 0, attn_pdrop: 0, embd_pdrop: 0,
    }],
    ['JinaBERT', {
      architectures: ['JinaBertForMaskedLM'], model_type: 'bert', hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 37, hidden_act: 'gelu', max_position_embeddings: 40,
      type_vocab_size: 2, layer_norm_eps: 1e-12, pad_token_id: 0, position_embedding_type: 'alibi', feed_forward_type: 'geglu',
    }],
  ] as const)("%s: masked LM on full sentences, three steps as PyTorch's (1e-5)", async (_family, config) => {
    const root = pretrainWorkspace(8);
    const dir = join(root, 'model');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: 24 }));
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(randomCheckpoint(compileFile(dir, { batch: 1, seq: 4 }).graph, 11, 0.2)));
    const data = join(root, 'data.jsonl');
    expect((await tcc('prepare', '--corpus', join(root, 'corpus.txt'), '--vocab', join(root, 'vocab.txt'), '--packing', 'full-sentences', '--seq', '24', '-o', data)).code).toBe(0);
    await againstReference(dir, data, 24, dir, '--vocab', join(root, 'vocab.txt'));
  }, 120_000);

  it("RoBERTa: fine-tunes RobertaForSequenceClassification through its tokenizer.json, a directory the reference runs as tcc does", async () => {
    const root = pretrainWorkspace(2);
    const dir = robertaDirectory(root, 1, 6);
    // Whether a dog is in the sentence.
    const words = ['the', 'cat', 'sat', 'ran', 'fast', 'dog'];
    let state = 9;
    const next = () => (state = (state * 48271) % 2147483647) / 2147483647;
    const rows = (n: number) => 'text\tlabel\n' + Array.from({ length: n }, () => {
      const sentence = Array.from({ length: 5 }, () => words[Math.floor(next() * words.length)]!);
      return `${sentence.join(' ')}\t${sentence.includes('dog') ? 'dog' : 'none'}\n`;
    }).join('');
    writeFileSync(join(root, 'train.tsv'), rows(96));
    writeFileSync(join(root, 'eval.tsv'), rows(32));
    const out = join(root, 'tuned');
    const tuned = await tcc('finetune', dir, '--task', 'classification', '--train', join(root, 'train.tsv'), '--eval', join(root, 'eval.tsv'), '-o', out,
      '--seq', '12', '--batch', '8', '--epochs', '20', '--lr', '3e-3', '--warmup', '0', '--dropout', '0', '--backend', 'js');
    expect(tuned.code, tuned.stderr).toBe(0);
    expect(tuned.stderr).toMatch(/new head: classifier\.dense\.weight, classifier\.dense\.bias, classifier\.out_proj\.weight, classifier\.out_proj\.bias/);
    const best = Math.max(...readFileSync(join(out, 'eval.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { accuracy: number }).accuracy));
    expect(best).toBeGreaterThan(0.8);
    const config = JSON.parse(readFileSync(join(out, 'best', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect([config.model_type, config.architectures, config.num_labels]).toEqual(['roberta', ['RobertaForSequenceClassification'], 2]);
    expect(readFileSync(join(out, 'best', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));

    const inputs = join(root, 'inputs.json');
    writeFileSync(inputs, JSON.stringify({ input_ids: [[0, 270, 276, 2, 1, 1], [0, 271, 272, 273, 274, 2]], attention_mask: [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]] }));
    const ran = await tcc('run', '--model', join(out, 'best'), '--inputs', inputs, '--out', join(root, 'logits.safetensors'), '--backend', 'js');
    expect(ran.code, ran.stderr).toBe(0);
    const reference = spawnSync(python!, [REFERENCE, join(out, 'best'), inputs, join(root, 'reference.json')], { encoding: 'utf8' });
    expect(reference.status, reference.stderr).toBe(0);
    const want = (JSON.parse(readFileSync(join(root, 'reference.json'), 'utf8')) as { logits: number[][] }).logits.flat();
    const got = readSafetensors(readFileSync(join(root, 'logits.safetensors'))).tensors.get('logits')!.data;
    want.forEach((v, i) => expect(Math.abs(v - got[i]!)).toBeLessThan(1e-4));
  }, 120_000);
});
