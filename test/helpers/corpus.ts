// A tiny pretraining workspace: a generated corpus of made-up words, its
// WordPiece vocabulary, and bert-tiny's architecture over that vocabulary.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelsDir } from './cli.js';
import { rng } from './random.js';

const STEMS = ['run', 'jump', 'read', 'writ', 'play', 'talk', 'walk', 'sing', 'cook', 'paint', 'build', 'teach'];
const SUFFIXES = ['ing', 'er', 's', 'ed', 'ly'];
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', 'the', ...STEMS, ...SUFFIXES.map((s) => `##${s}`)];

/** DIR with corpus.txt, vocab.txt and tiny.yaml; `documents` documents, drawn from a seed of that number. */
export function pretrainWorkspace(documents: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-pretrain-'));
  const next = rng(documents);
  const word = () => STEMS[Math.floor(next() * STEMS.length)]! + (next() < 0.4 ? SUFFIXES[Math.floor(next() * SUFFIXES.length)] : '');
  const sentence = () => Array.from({ length: 3 + Math.floor(next() * 5) }, () => (next() < 0.2 ? 'the' : word())).join(' ') + ' .';
  const corpus = Array.from({ length: documents }, () => Array.from({ length: 2 + Math.floor(next() * 4) }, sentence).join('\n')).join('\n\n');
  writeFileSync(join(dir, 'corpus.txt'), corpus + '\n');
  writeFileSync(join(dir, 'vocab.txt'), VOCAB.join('\n') + '\n');
  // bert-tiny's architecture (L2/H128/A2) over this corpus's vocabulary.
  writeFileSync(join(dir, 'tiny.yaml'), `extends: ${modelsDir()}/bert-tiny.yaml\nname: tiny\nconfig: {vocab_size: ${VOCAB.length}, max_position_embeddings: 64}\n`);
  return dir;
}


/** Words w0…w34 after BERT's special tokens: a vocabulary of 40 for models of vocab_size 40. */
export const SMALL_VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: 35 }, (_, i) => `w${i}`)];

/**
 * DIR with m.yaml (BERT of hidden size 16, one layer, over SMALL_VOCAB),
 * vocab.txt and corpus.txt (six documents of six sentences of those words):
 * runs of a few steps that take milliseconds.
 */
export function smallPretrainWorkspace(seed = 7): string {
  const dir = mkdtempSync(join(tmpdir(), 'tcc-small-'));
  writeFileSync(join(dir, 'm.yaml'), `extends: ${modelsDir()}/bert.yaml\nconfig: {vocab_size: 40, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16}\n`);
  writeFileSync(join(dir, 'vocab.txt'), SMALL_VOCAB.join('\n') + '\n');
  let s = seed;
  const word = () => SMALL_VOCAB[5 + ((s = (s * 48271) % 2147483647) % 35)]!;
  writeFileSync(join(dir, 'corpus.txt'), Array.from({ length: 6 }, () => Array.from({ length: 6 }, () => `${Array.from({ length: 6 }, word).join(' ')} .`).join('\n')).join('\n\n') + '\n');
  return dir;
}
