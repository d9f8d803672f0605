// The pretraining data pipeline's statistics over 10,000 sequences, and its
// rules: masking never splits a word under whole-word and span masking, NSP
// labels are balanced, bad corpora are clear errors; RoBERTa's full-sentence
// packing keeps every sentence in order, and a byte-level BPE tokenizer.json
// masks with its own <mask>, never its specials.

import { describe, expect, it } from 'vitest';
import { bpeTokenizer } from '../../bench/fuzz/kinds.js';
import { createInstances, packSentences, readCorpus } from '../../train/corpus.js';
import { JsonTokenizer } from '../../train/hf-tokenizer/tokenizer.js';
import { maskTokens, wordsOf, type MaskingStrategy } from '../../train/masking.js';
import { Rng } from '../../train/rng.js';
import { WordPieceTokenizer } from '../../train/tokenizer.js';
import { rng as testRng } from '../helpers/random.js';

const STEMS = ['run', 'jump', 'read', 'writ', 'play', 'talk', 'walk', 'sing', 'cook', 'paint', 'build', 'teach'];
const SUFFIXES = ['##ing', '##er', '##s', '##ed', '##ly'];
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', 'the', 'a', 'and', ...STEMS, ...SUFFIXES];
const tokenizer = new WordPieceTokenizer(VOCAB, { lowercase: true });

/** Documents of sentences of words, many of them several WordPieces long. */
function syntheticCorpus(documents: number, seed: number): string {
  const next = testRng(seed);
  const word = () => STEMS[Math.floor(next() * STEMS.length)]! + (next() < 0.5 ? SUFFIXES[Math.floor(next() * SUFFIXES.length)]!.slice(2) : '');
  const sentence = () => Array.from({ length: 4 + Math.floor(next() * 10) }, () => (next() < 0.2 ? 'the' : word())).join(' ') + ' .';
  return Array.from({ length: documents }, () => Array.from({ length: 3 + Math.floor(next() * 8) }, sentence).join('\n')).join('\n\n');
}

function sequences(count: number): ReturnType<typeof createInstances> {
  const documents = readCorpus(syntheticCorpus(1200, 4), tokenizer);
  const instances = createInstances(documents, { maxSeqLength: 64, shortSeqProb: 0.1, dupeFactor: 4 }, new Rng(1, 1));
  expect(instances.length).toBeGreaterThanOrEqual(count);
  return instances.slice(0, count);
}

describe('pretraining data', () => {
  const instances = sequences(10_000);

  it('labels half the pairs as random next sentences (±2%)', () => {
    const random = instances.filter((i) => i.isRandomNext === 1).length / instances.length;
    expect(Math.abs(random - 0.5)).toBeLessThan(0.02);
    for (const i of instances.slice(0, 500)) {
      expect(i.tokens.length).toBeLessThanOrEqual(64);
      expect(i.tokens[0]).toBe('[CLS]');
      expect(i.tokens.filter((t) => t === '[SEP]')).toHaveLength(2);
    }
  });

  const rates: [MaskingStrategy, number][] = [['dynamic', 0.15], ['wwm', 0.15], ['ngram', 0.15], ['span', 0.15], ['dynamic', 0.4], ['wwm', 0.4]];
  it.each(rates)('%s masking at rate %s selects that share (±0.5%), 80/10/10 (±1%)', (strategy, rate) => {
    const rng = new Rng(5, 9);
    let candidates = 0;
    let selected = 0;
    const outcome = { mask: 0, random: 0, kept: 0 };
    // Counted, and asserted once at the end: an expect per token made this test take seconds.
    let changedUnselected = 0;
    let splitWords = 0;
    for (const instance of instances) {
      const { tokens, labels } = maskTokens(instance.tokens, strategy, rng, tokenizer, rate);
      candidates += instance.tokens.filter((t) => t !== '[CLS]' && t !== '[SEP]').length;
      labels.forEach((label, i) => {
        if (label === null) {
          if (tokens[i] !== instance.tokens[i]) changedUnselected++;
          return;
        }
        selected++;
        if (tokens[i] === '[MASK]') outcome.mask++;
        else if (tokens[i] === label) outcome.kept++;
        else outcome.random++;
      });
      if (strategy !== 'dynamic') {
        // A word is selected whole or not at all.
        for (const word of wordsOf(instance.tokens, (t) => tokenizer.isSpecial(t))) {
          const picked = word.filter((i) => labels[i] !== null).length;
          if (picked !== 0 && picked !== word.length) splitWords++;
        }
      }
    }
    expect(changedUnselected).toBe(0);
    expect(splitWords).toBe(0);
    expect(Math.abs(selected / candidates - rate)).toBeLessThan(0.005);
    expect(Math.abs(outcome.mask / selected - 0.8)).toBeLessThan(0.01);
    expect(Math.abs(outcome.random / selected - 0.1)).toBeLessThan(0.01);
    expect(Math.abs(outcome.kept / selected - 0.1)).toBeLessThan(0.01);
  });

  it('is reproducible from the seed and the stream position', () => {
    const a = new Rng(3, 7);
    const first = maskTokens(instances[0]!.tokens, 'span', a, tokenizer);
    const position = a.position;
    const second = maskTokens(instances[1]!.tokens, 'span', a, tokenizer);
    expect(maskTokens(instances[0]!.tokens, 'span', new Rng(3, 7), tokenizer)).toEqual(first);
    expect(maskTokens(instances[1]!.tokens, 'span', new Rng(3, 7, position), tokenizer)).toEqual(second);
  });

  it('refuses an empty corpus and a corpus of one document', () => {
    expect(() => readCorpus('\n\n  \n', tokenizer, 'c.txt')).toThrow('c.txt has no text');
    expect(() => readCorpus('one sentence .\nanother .\n', tokenizer, 'c.txt')).toThrow('c.txt has one document; next-sentence prediction needs at least two');
  });

  it('packs full sentences in order, across documents with a separator, within the length', () => {
    const documents = readCorpus(syntheticCorpus(300, 6), tokenizer, 'c.txt', undefined, 'full-sentences');
    const packed = packSentences(documents, 40, tokenizer.specials);
    let separators = 0;
    const body: string[] = [];
    for (const p of packed) {
      expect(p.tokens.length).toBeLessThanOrEqual(40);
      expect(p.tokens[0]).toBe('[CLS]');
      expect(p.tokens[p.tokens.length - 1]).toBe('[SEP]');
      expect(p.segmentIds.every((s) => s === 0)).toBe(true);
      expect(p.isRandomNext).toBeUndefined();
      const inner = p.tokens.slice(1, -1);
      separators += inner.filter((t) => t === '[SEP]').length;
      body.push(...inner.filter((t) => t !== '[SEP]'));
    }
    // Every token of the corpus once, in order; sequences full but for the sentence that did not fit.
    expect(body).toEqual(documents.flat(2));
    expect(separators).toBeGreaterThan(0);
    expect(separators).toBeLessThan(documents.length);
    const meanLength = packed.reduce((n, p) => n + p.tokens.length, 0) / packed.length;
    expect(meanLength).toBeGreaterThan(30);
    // A sentence longer than a sequence is cut, not dropped.
    const long = packSentences([[Array.from({ length: 25 }, (_, i) => `w${i}`)]], 10, tokenizer.specials);
    expect(long.map((p) => p.tokens.length)).toEqual([10, 10, 10, 3]);
    expect(long.flatMap((p) => p.tokens.slice(1, -1))).toEqual(Array.from({ length: 25 }, (_, i) => `w${i}`));
    // One document is enough without pairs.
    expect(readCorpus('one sentence .\nanother .\n', tokenizer, 'c.txt', undefined, 'full-sentences')).toHaveLength(1);
  });

  it("masks a byte-level BPE tokenizer's text with <mask>, never its special tokens", () => {
    const bpe = JsonTokenizer.fromJson(JSON.stringify(bpeTokenizer()));
    const text = Array.from({ length: 200 }, (_, i) => ['the cat sat', 'the dog ran fast', 'a cat, the dog'][i % 3] + ' .').join('\n');
    const packed = packSentences(readCorpus(text, bpe, 'c.txt', undefined, 'full-sentences'), 32, bpe.specials);
    expect(packed[0]!.tokens[0]).toBe('<s>');
    const rng = new Rng(1, 2);
    let [selected, candidates, masks] = [0, 0, 0];
    for (const p of packed) {
      const { tokens, labels } = maskTokens(p.tokens, 'dynamic', rng, bpe);
      labels.forEach((label, i) => {
        if (label === null) return;
        expect(bpe.isSpecial(label)).toBe(false);
        selected++;
        if (tokens[i] === '<mask>') masks++;
        else expect(bpe.isSpecial(tokens[i]!)).toBe(false);
      });
      candidates += p.tokens.length - p.tokens.filter((t) => bpe.isSpecial(t)).length;
    }
    expect(Math.abs(selected / candidates - 0.15)).toBeLessThan(0.01);
    expect(Math.abs(masks / selected - 0.8)).toBeLessThan(0.05);
  });

  it("makes ALBERT's sentence-order pairs: B continues A, swapped half the time (label 1)", () => {
    const documents = readCorpus(syntheticCorpus(400, 8), tokenizer);
    const instances = createInstances(documents, { maxSeqLength: 256, shortSeqProb: 0, dupeFactor: 2, packing: 'sentence-order' }, new Rng(2, 3));
    const texts = documents.map((d) => ` ${d.flat().join(' ')} `);
    let swapped = 0;
    for (const i of instances) {
      const sep = i.tokens.indexOf('[SEP]');
      const [a, b] = [i.tokens.slice(1, sep), i.tokens.slice(sep + 1, -1)];
      // In its document's order: A then B, or B then A where the pair is swapped; never from two documents.
      const ordered = i.isRandomNext === 1 ? [...b, ...a] : [...a, ...b];
      expect(texts.some((t) => t.includes(` ${ordered.join(' ')} `))).toBe(true);
      swapped += i.isRandomNext!;
    }
    expect(Math.abs(swapped / instances.length - 0.5)).toBeLessThan(0.05);
  });
});
