// tcc embed on sentence-transformers directories against the PyTorch
// reference (test/reference/hf_family.py: HuggingFace's modeling code and
// sentence-transformers' Pooling and Normalize): a MiniLM-shaped BERT with
// mean pooling and Normalize and a RoBERTa with max pooling, texts of
// different lengths (one truncated) in batches with padding.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bpeTokenizer, unigramTokenizer } from '../../bench/fuzz/kinds.js';
import { readSafetensors } from '../../runtime/safetensors.js';
import { JsonTokenizer } from '../../train/hf-tokenizer/tokenizer.js';
import { tcc } from '../helpers/cli.js';
import { MAX_LENGTH, SIZES, stDirectory, wordPieceTokenizer } from '../helpers/sentence-transformers.js';

const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
const REFERENCE = join(process.cwd(), 'test', 'reference', 'hf_family.py');
const TEXTS = ['The cat sat on the mat.', 'A dog ran fast', 'the big red dog , the slow cat and the mat sat on a mat and ran', 'Cat.', 'a dog and a cat'];

/** The reference's inputs: the texts tokenized as tcc does (one batch padded to the longest); returns its job's arguments. */
function referenceJob(dir: string): string[] {
  const tokenizer = JsonTokenizer.fromJson(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const encodings = TEXTS.map((t) => tokenizer.encode(t, { maxLength: MAX_LENGTH }));
  const seq = Math.max(...encodings.map((e) => e.input_ids.length));
  const pad = tokenizer.id(tokenizer.specials.pad!)!;
  const rows = (key: 'input_ids' | 'attention_mask', fill: number) => encodings.map((e) => [...e[key], ...new Array<number>(seq - e[key].length).fill(fill)]);
  writeFileSync(join(dir, 'inputs.json'), JSON.stringify({ input_ids: rows('input_ids', pad), attention_mask: rows('attention_mask', 0) }));
  return [dir, join(dir, 'inputs.json'), join(dir, 'reference.json')];
}

const referenceEmbeddings = (dir: string) => (JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { sentence_embedding: number[][] }).sentence_embedding;

const cosine = (a: readonly number[], b: readonly number[]) => {
  let [ab, aa, bb] = [0, 0, 0];
  a.forEach((x, i) => ((ab += x * b[i]!), (aa += x * x), (bb += b[i]! * b[i]!)));
  return ab / Math.sqrt(aa * bb);
};

describe.skipIf(!python)('tcc embed', () => {
  const CASES = [
    ['a MiniLM-shaped BERT, mean pooling and Normalize', { architectures: ['BertModel'], model_type: 'bert', type_vocab_size: 2 }, wordPieceTokenizer(), 'mean_tokens', true],
    ['a RoBERTa, max pooling', { architectures: ['RobertaModel'], model_type: 'roberta', type_vocab_size: 1, pad_token_id: 1, layer_norm_eps: 1e-5 }, bpeTokenizer(), 'max_tokens', false],
    ['a RoBERTa, the first token', { architectures: ['RobertaModel'], model_type: 'roberta', type_vocab_size: 1, pad_token_id: 1 }, bpeTokenizer(), 'cls_token', true],
    ['a DistilBERT, mean pooling', { architectures: ['DistilBertModel'], model_type: 'distilbert', dim: 24, n_layers: 2, n_heads: 3, hidden_dim: 37, activation: 'gelu', hidden_size: undefined, num_hidden_layers: undefined, num_attention_heads: undefined, intermediate_size: undefined, hidden_act: undefined, layer_norm_eps: undefined }, wordPieceTokenizer(), 'mean_tokens', true],
    ['an ALBERT, mean pooling', { architectures: ['AlbertModel'], model_type: 'albert', embedding_size: 10, type_vocab_size: 2, hidden_act: 'gelu_new' }, unigramTokenizer(), 'mean_tokens', true],
    ['a nomic-shaped model (rotary, SwiGLU), mean pooling and Normalize', {
      architectures: ['NomicBertModel'], model_type: 'nomic_bert', activation_function: 'swiglu', n_embd: 24, n_head: 3, n_layer: 2, n_inner: 37, n_positions: 64, type_vocab_size: 2,
      rotary_emb_base: 1000, rotary_emb_fraction: 1.0, qkv_proj_bias: false, mlp_fc1_bias: false, mlp_fc2_bias: false, layer_norm_epsilon: 1e-12,
      hidden_size: undefined, num_hidden_layers: undefined, num_attention_heads: undefined, intermediate_size: undefined, hidden_act: undefined, layer_norm_eps: undefined, max_position_embeddings: undefined,
    }, wordPieceTokenizer(), 'mean_tokens', true],
    ['a ModernBERT (local and global layers), mean pooling', {
      architectures: ['ModernBertModel'], model_type: 'modernbert', hidden_activation: 'gelu', num_hidden_layers: 4, norm_eps: 1e-5, global_rope_theta: 1000.0, local_rope_theta: 100.0,
      local_attention: 4, global_attn_every_n_layers: 3, attention_bias: false, mlp_bias: false, norm_bias: false, hidden_act: undefined, layer_norm_eps: undefined, type_vocab_size: undefined,
    }, bpeTokenizer(), 'mean_tokens', true],
    ['a JinaBERT (ALiBi, GeGLU), mean pooling and Normalize', { architectures: ['JinaBertModel'], model_type: 'bert', position_embedding_type: 'alibi', feed_forward_type: 'geglu', type_vocab_size: 2 }, wordPieceTokenizer(), 'mean_tokens', true],
    ['an ELECTRA, mean pooling', { architectures: ['ElectraModel'], model_type: 'electra', embedding_size: 10, type_vocab_size: 2 }, wordPieceTokenizer(), 'mean_tokens', false],
  ] as const;
  const dirs = new Map<string, string>();

  // One reference process for every case (torch takes a second to load).
  beforeAll(() => {
    const jobs: string[] = [];
    for (const [name, config, tokenizer, pooling, normalize] of CASES) {
      const dir = stDirectory(config as Record<string, unknown>, tokenizer, pooling, normalize);
      dirs.set(name, dir);
      jobs.push(...referenceJob(dir));
    }
    const run = spawnSync(python!, [REFERENCE, ...jobs], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`the reference failed:\n${run.stderr}`);
  }, 120_000);

  it.each(CASES)('equals the reference for %s (cosine ≥ 0.99999 per text)', async (name, _config, _tokenizer, _pooling, normalize) => {
    const dir = dirs.get(name)!;
    const want = referenceEmbeddings(dir);
    writeFileSync(join(dir, 'texts.txt'), TEXTS.join('\n') + '\n\n');
    const out = join(dir, 'out.jsonl');
    const result = await tcc('embed', dir, '--file', join(dir, 'texts.txt'), '-o', out, '--batch', '2', '--backend', 'js');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/5 texts → 24-dimensional embeddings on cpu \(JavaScript\), batches of 2 × 12 tokens/);
    const got = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string; embedding: number[] });
    expect(got.map((g) => g.text)).toEqual(TEXTS);
    got.forEach((g, i) => {
      expect(cosine(g.embedding, want[i]!), TEXTS[i]).toBeGreaterThanOrEqual(0.99999);
      expect(Math.max(...g.embedding.map((v, k) => Math.abs(v - want[i]![k]!))), TEXTS[i]).toBeLessThan(1e-4);
    });
    if (normalize) got.forEach((g) => expect(Math.hypot(...g.embedding)).toBeCloseTo(1, 5));
    const file = join(dir, 'out.safetensors');
    expect((await tcc('embed', dir, '--file', join(dir, 'texts.txt'), '-o', file, '--backend', 'js')).code).toBe(0);
    const tensor = readSafetensors(readFileSync(file)).tensors.get('embeddings')!;
    expect(tensor.shape).toEqual([5, 24]);
    expect(Math.abs(tensor.data[24]! - got[1]!.embedding[0]!)).toBeLessThan(1e-5);
  });

  it('refuses modules and pooling settings it does not build, at their line', async () => {
    const dir = stDirectory({ architectures: ['BertModel'], model_type: 'bert', type_vocab_size: 2 }, wordPieceTokenizer(), 'mean_tokens', true);
    const modules = JSON.parse(readFileSync(join(dir, 'modules.json'), 'utf8')) as object[];
    writeFileSync(join(dir, 'modules.json'), JSON.stringify([...modules, { idx: 3, name: '3', path: '3_Dense', type: 'sentence_transformers.models.Dense' }], null, 2));
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 24, pooling_mode_mean_tokens: true, pooling_mode_mean_sqrt_len_tokens: true }, null, 2));
    const result = await tcc('embed', dir, '--text', 'the cat');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${join(dir, 'modules.json')}:24:13: error: module "sentence_transformers.models.Dense" is not supported`);
    expect(result.stderr).toContain(`${join(dir, '1_Pooling', 'config.json')}:4:40: error: pooling_mode_mean_sqrt_len_tokens true is not supported`);
    const plain = mkdtempSync(join(tmpdir(), 'tcc-st-'));
    writeFileSync(join(plain, 'config.json'), JSON.stringify({ ...SIZES, vocab_size: 20, architectures: ['BertModel'], model_type: 'bert' }));
    writeFileSync(join(plain, 'tokenizer.json'), JSON.stringify(wordPieceTokenizer()));
    const none = await tcc('embed', plain, '--text', 'the cat', '--backend', 'js');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/has no output sentence_embedding: a sentence-transformers directory \(modules\.json with a Pooling module\) has one/);
  });
});
