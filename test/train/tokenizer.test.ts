// The WordPiece tokenizer against @huggingface/tokenizers (a reference
// implementation of HuggingFace's BERT tokenizer) on over 300 lines: a
// vocabulary made here from the lines always, and the real bert-base-uncased
// and bert-base-chinese vocabularies when ../shared/vocab is present.

import { existsSync, readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { truncateLongestFirst, WordPieceTokenizer } from '../../train/tokenizer.js';
import { TEST_LINES } from './tokenizer-lines.js';
import { wordPieceJson } from '../helpers/tokenizers.js';

const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

function reference(vocabList: readonly string[], lowercase: boolean): Tokenizer {
  const vocab: Record<string, number> = {};
  vocabList.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
  });
  const json = wordPieceJson(vocab, lowercase);
  return new Tokenizer(json as ConstructorParameters<typeof Tokenizer>[0], { do_lower_case: lowercase, model_max_length: 512 });
}

/** A small vocabulary from the lines: frequent words, every character alone and as a continuation, common suffixes. */
function vocabularyFrom(lines: readonly string[]): string[] {
  const counts = new Map<string, number>();
  const chars = new Set<string>();
  for (const line of lines) {
    const folded = line.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
    for (const word of folded.split(/[^\p{L}\p{N}]+/u)) if (word) counts.set(word, (counts.get(word) ?? 0) + 1);
    for (const ch of folded) if (/\S/u.test(ch)) chars.add(ch);
  }
  const words = [...counts].filter(([, n]) => n >= 2).map(([w]) => w).slice(0, 300);
  const pieces = ['##ing', '##ed', '##s', '##er', '##ly', '##tion', '##al', '##ness', 'un', 'pre', '##un', '##able'];
  return [...new Set([...SPECIAL, ...words, ...chars, ...[...chars].map((c) => `##${c}`), ...pieces])].filter((t) => !t.includes('\n'));
}

/**
 * CJK ideographs outside the BMP (extension B and on). HuggingFace's Python and
 * Rust tokenizers split them like any CJK character; the JavaScript reference
 * walks UTF-16 code units and misses them, so those lines are checked by hand below.
 */
const ASTRAL_CJK = /[\u{20000}-\u{2FA1F}]/u;
const COMPARABLE = TEST_LINES.filter((line) => !ASTRAL_CJK.test(line));

function compareOn(vocab: readonly string[], lowercase: boolean): void {
  const ours = new WordPieceTokenizer(vocab, { lowercase });
  const theirs = reference(vocab, lowercase);
  let unknowns = 0;
  COMPARABLE.forEach((line, i) => {
    const want = theirs.encode(line, { return_token_type_ids: true });
    const got = ours.encode(line);
    expect(got.tokens, `line ${i}: ${JSON.stringify(line)}`).toEqual(want.tokens);
    expect(got.input_ids, `line ${i}`).toEqual(want.ids);
    expect(got.attention_mask).toEqual(want.attention_mask);
    unknowns += got.tokens.filter((t) => t === '[UNK]').length;
    const pair = COMPARABLE[(i + 7) % COMPARABLE.length]!;
    // The reference takes an empty second text for no pair at all (HuggingFace's Python adds its [SEP]).
    if (i % 3 === 0 && pair !== '') {
      const wantPair = theirs.encode(line, { text_pair: pair, return_token_type_ids: true });
      const gotPair = ours.encode(line, { pair });
      expect(gotPair.input_ids, `pair at line ${i}`).toEqual(wantPair.ids);
      expect(gotPair.token_type_ids, `pair at line ${i}`).toEqual(wantPair.token_type_ids);
    }
  });
  // The comparison means something only if most text is not [UNK].
  expect(unknowns).toBeLessThan(TEST_LINES.length * 2);
}

const shared = (path: string) => new URL(`../../../shared/vocab/${path}`, import.meta.url);
const vocabFile = (path: string) => readFileSync(shared(path), 'utf8').split('\n').filter((l, i, all) => i < all.length - 1 || l);

describe('WordPiece tokenizer', () => {
  it('has over 200 test lines to compare', () => {
    expect(COMPARABLE.length).toBeGreaterThan(300);
  });

  it('matches @huggingface/tokenizers with a vocabulary built from the lines (uncased)', () => {
    compareOn(vocabularyFrom(TEST_LINES), true);
  });

  it('matches @huggingface/tokenizers with the same vocabulary, cased', () => {
    compareOn(vocabularyFrom(TEST_LINES), false);
  });

  it.runIf(existsSync(shared('bert-base-uncased/vocab.txt')))('matches on the real bert-base-uncased vocabulary', () => {
    compareOn(vocabFile('bert-base-uncased/vocab.txt'), true);
  });

  it.runIf(existsSync(shared('bert-base-chinese/vocab.txt')))('matches on the real bert-base-chinese vocabulary (cased)', () => {
    compareOn(vocabFile('bert-base-chinese/vocab.txt'), false);
  });

  it('splits CJK ideographs outside the BMP one per token, as HuggingFace', () => {
    const t = new WordPieceTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '𠀀', '𠀁', '##𠀁', 'rare'], { lowercase: true });
    expect(TEST_LINES.filter((l) => ASTRAL_CJK.test(l))).toHaveLength(1);
    expect(t.tokenize('𠀀𠀁 rare𪜀')).toEqual(['𠀀', '𠀁', 'rare', '[UNK]']);
  });

  it('truncates the longest sequence first, the second on a tie, as HuggingFace', () => {
    const seq = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}`);
    expect(truncateLongestFirst(seq(10, 'a'), seq(10, 'b'), 9).map((s) => s?.length)).toEqual([5, 4]);
    expect(truncateLongestFirst(seq(12, 'a'), seq(3, 'b'), 10).map((s) => s?.length)).toEqual([7, 3]);
    expect(truncateLongestFirst(seq(2, 'a'), seq(12, 'b'), 6).map((s) => s?.length)).toEqual([2, 4]);
    expect(truncateLongestFirst(seq(8, 'a'), undefined, 5)).toEqual([seq(5, 'a'), undefined]);
  });

  it('keeps the second [SEP] of an empty second text, as HuggingFace', () => {
    const t = new WordPieceTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello'], { lowercase: true });
    expect(t.encode('hello', { pair: '' })).toMatchObject({ tokens: ['[CLS]', 'hello', '[SEP]', '[SEP]'], token_type_ids: [0, 0, 0, 1] });
  });

  it('pads to the maximum length with [PAD], mask 0', () => {
    const t = new WordPieceTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello', 'world'], { lowercase: true });
    expect(t.encode('Hello world hello', { pair: 'world', maxLength: 8, pad: true })).toEqual({
      tokens: ['[CLS]', 'hello', 'world', 'hello', '[SEP]', 'world', '[SEP]', '[PAD]'],
      input_ids: [2, 4, 5, 4, 3, 5, 3, 0],
      token_type_ids: [0, 0, 0, 0, 0, 1, 1, 0],
      attention_mask: [1, 1, 1, 1, 1, 1, 1, 0],
    });
    expect(t.encode('hello world hello world', { maxLength: 4 }).tokens).toEqual(['[CLS]', 'hello', 'world', '[SEP]']);
  });
});
