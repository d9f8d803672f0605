// End to end on real text that installs with tcc (the Brown Corpus): a
// vocabulary, a short pretraining run, then a genre classifier (news vs
// romance, sentences of held-out documents) well above the majority class.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tcc } from '../helpers/cli.js';

describe('the Brown Corpus, end to end', () => {
  it('pretrains, fine-tunes and beats the majority class clearly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-brown-'));
    const ok = (r: { code: number; stderr: string }) => expect(r.code, r.stderr).toBe(0);
    ok((await tcc('dataset', 'brown', '-o', dir, '--genres', 'news,romance', '--train-size', '600', '--eval-size', '200', '--seed', '1')));
    ok((await tcc('vocab', '--corpus', join(dir, 'corpus.txt'), '--size', '3000', '-o', join(dir, 'vocab.txt'))));
    writeFileSync(join(dir, 'small.yaml'), 'extends: tcc:bert.yaml\nname: small\nconfig: {vocab_size: 3000, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 32}\n');
    ok((await tcc('pretrain', join(dir, 'small.yaml'), '--corpus', join(dir, 'corpus.txt'), '--vocab', join(dir, 'vocab.txt'), '-o', join(dir, 'pretrained'), '--seq', '32', '--batch', '8', '--steps', '30', '--lr', '1e-3')));
    const finetune = (await tcc('finetune', join(dir, 'pretrained', 'final'), '--task', 'classification', '--train', join(dir, 'genre-train.tsv'), '--eval', join(dir, 'genre-eval.tsv'), '-o', join(dir, 'genre'), '--seq', '32', '--batch', '32', '--epochs', '6', '--lr', '3e-3', '--dropout', '0'));
    ok(finetune);
    const majority = Number(/majority-class accuracy on the evaluation set: ([\d.]+)/.exec(finetune.stderr)![1]);
    const best = Math.max(...readFileSync(join(dir, 'genre', 'eval.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { accuracy: number }).accuracy));
    expect(majority).toBeGreaterThan(0.5);
    expect(best).toBeGreaterThan(majority + 0.1);
  });
});
