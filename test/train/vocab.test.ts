import { describe, expect, it } from 'vitest';
import { trainVocabulary } from '../../train/vocab.js';
import { WordPieceTokenizer } from '../../train/tokenizer.js';
import { generatedLines, HAND_WRITTEN } from './tokenizer-lines.js';

const corpus = [...HAND_WRITTEN, ...generatedLines(400, 3)].join('\n');

describe('WordPiece vocabulary training', () => {
  const vocab = trainVocabulary(corpus, 450, { lowercase: true });

  it('puts the special tokens first and reaches the size asked for', () => {
    expect(vocab.slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    expect(vocab).toHaveLength(450);
    expect(new Set(vocab).size).toBe(450);
  });

  it('covers every character of the corpus, so its own text needs no [UNK]', () => {
    const tokenizer = new WordPieceTokenizer(vocab, { lowercase: true });
    const unknown = generatedLines(400, 3).flatMap((line) => tokenizer.tokenize(line)).filter((t) => t === '[UNK]');
    expect(unknown).toEqual([]);
  });

  it('learns frequent words whole and is deterministic', () => {
    for (const word of ['the', 'quick', 'transformers', 'tokenization']) expect(vocab).toContain(word);
    expect(trainVocabulary(corpus, 450, { lowercase: true })).toEqual(vocab);
  });

  it('stops early when no pair is frequent enough', () => {
    const small = trainVocabulary('ab ab ab cd', 1000, { lowercase: true });
    expect(small).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', '##b', 'c', '##d', 'ab']);
  });
});
