// Pretraining instances from a corpus, as BERT's create_pretraining_data.py:
// the corpus has one sentence per line and documents separated by blank
// lines. For each document, sentences are gathered into chunks of a target
// length (the full length, or with probability 0.1 a shorter random one);
// each chunk splits at a random point into segment A and segment B, where B is
// the true continuation (label 0) or, half the time, text from a random other
// document (label 1, HuggingFace's convention); the pair is truncated
// longest-first, dropping from the front or the back at random. One change
// keeps the labels balanced: a chunk of a single sentence takes the next
// sentence as its continuation (at the end of the document, the previous one
// and itself) instead of always becoming a random pair.
//
// For sentence-order prediction (ALBERT), B always continues A, and half the
// pairs are swapped (label 1).
//
// Without sentence pairs, RoBERTa's FULL-SENTENCES: whole
// sentences packed contiguously to the full length, across documents with a
// separator between two, one segment, no label.

import { InputError } from '../runtime/errors.js';
import type { Rng } from './rng.js';
import { isCjk, type SpecialTokens, type TextTokenizer } from './tokenizer.js';

/** A document is a list of tokenized sentences. */
export type Document = string[][];

export interface Instance {
  /** [CLS] A [SEP] B [SEP] (pairs) or [CLS] text [SEP] (packed sentences) as tokens. */
  readonly tokens: string[];
  readonly segmentIds: number[];
  /** Pairs: 1 when B is a random segment (or, in sentence order, when A and B are swapped), 0 when B continues A. */
  readonly isRandomNext?: 0 | 1;
}

/**
 * How a corpus becomes instances: BERT's sentence pairs for next-sentence
 * prediction, ALBERT's for sentence-order prediction, or RoBERTa's packed
 * full sentences.
 */
export type Packing = 'pairs' | 'sentence-order' | 'full-sentences';
export const PACKINGS: readonly Packing[] = ['pairs', 'sentence-order', 'full-sentences'];

export interface PairOptions {
  readonly maxSeqLength: number;
  readonly shortSeqProb: number;
  /** Sentence order: B always continues A, swapped half the time. */
  readonly order?: boolean;
}

/** Splits a sentence into words (a Chinese word segmenter); used to mask Chinese whole words. */
export type Segmenter = (sentence: string) => string[];

const isCjkChar = (ch: string) => ch.length > 0 && isCjk(ch.codePointAt(0)!);

/**
 * Marks the CJK characters that continue a segmenter's word with "##", the
 * convention of Chinese whole-word masking (Cui et al.): masking then groups
 * them like WordPiece continuations, and encoding drops the mark again.
 */
export function markChineseWords(tokens: string[], sentence: string, segment: Segmenter): string[] {
  const wordOfChar: number[] = [];
  segment(sentence).forEach((word, w) => {
    for (const ch of word) if (isCjkChar(ch)) wordOfChar.push(w);
  });
  let next = 0;
  let previous: number | undefined;
  return tokens.map((t) => {
    if (!isCjkChar(t) || [...t].length !== 1) {
      previous = undefined;
      return t;
    }
    const word = wordOfChar[next++];
    const continues = word !== undefined && word === previous;
    previous = word;
    return continues ? `##${t}` : t;
  });
}

/** The token to look up in the vocabulary: a "##" mark on a CJK character is only for masking. */
export function vocabularyToken(token: string): string {
  return token.startsWith('##') && isCjkChar(token.slice(2)) ? token.slice(2) : token;
}

export function readCorpus(text: string, tokenizer: TextTokenizer, source = 'corpus', segment?: Segmenter, packing: Packing = 'pairs'): Document[] {
  const documents: Document[] = [[]];
  for (const line of text.split('\n')) {
    if (!line.trim()) {
      if (documents[documents.length - 1]!.length) documents.push([]);
      continue;
    }
    const plain = tokenizer.tokenize(line);
    const tokens = segment && plain.some(isCjkChar) ? markChineseWords(plain, line, segment) : plain;
    if (tokens.length) documents[documents.length - 1]!.push(tokens);
  }
  const nonEmpty = documents.filter((d) => d.length);
  if (nonEmpty.length === 0) throw new InputError(`${source} has no text: it needs sentences, one per line, documents separated by blank lines`);
  if (packing === 'pairs' && nonEmpty.length < 2) throw new InputError(`${source} has one document; next-sentence prediction needs at least two (separate documents with a blank line)`);
  return nonEmpty;
}

function truncatePair(a: string[], b: string[], maxTokens: number, rng: Rng): void {
  while (a.length + b.length > maxTokens) {
    const longer = a.length > b.length ? a : b;
    if (rng.random() < 0.5) longer.shift();
    else longer.pop();
  }
}

/** The instances of one document, as create_instances_from_document. */
export function instancesFromDocument(documents: readonly Document[], index: number, options: PairOptions, rng: Rng, specials: SpecialTokens = BERT_SPECIALS): Instance[] {
  const [cls, sep] = sequenceTokens(specials);
  const document = documents[index]!;
  const maxTokens = options.maxSeqLength - 3;
  const target = rng.random() < options.shortSeqProb ? rng.randint(2, maxTokens) : maxTokens;
  const instances: Instance[] = [];
  let chunk: string[][] = [];
  let length = 0;
  for (let i = 0; i < document.length; i++) {
    chunk.push(document[i]!);
    length += document[i]!.length;
    if (i !== document.length - 1 && length < target) continue;
    let wantRandom = !options.order && rng.random() < 0.5;
    if (!wantRandom && chunk.length === 1) {
      // One segment has no continuation inside the chunk: pair it with the document's next
      // sentence (or, at its end, the previous one), so that true and random pairs stay
      // balanced (BERT's script makes all of these random).
      if (i + 1 < document.length) chunk.push(document[++i]!);
      else if (i >= 1) chunk.unshift(document[i - 1]!);
      else wantRandom = !options.order;
    }
    const aEnd = chunk.length >= 2 ? rng.randint(1, chunk.length - 1) : 1;
    const a = chunk.slice(0, aEnd).flat();
    let b: string[] = [];
    let isRandomNext: 0 | 1 = 0;
    if (wantRandom) {
      isRandomNext = 1;
      const targetB = target - a.length;
      let other = index;
      for (let tries = 0; tries < 10 && other === index; tries++) other = rng.randint(0, documents.length - 1);
      const randomDocument = documents[other]!;
      for (let j = rng.randint(0, randomDocument.length - 1); j < randomDocument.length; j++) {
        b.push(...randomDocument[j]!);
        if (b.length >= targetB) break;
      }
      // The segments not used as A go back to be read again.
      i -= chunk.length - aEnd;
    } else {
      b = chunk.slice(aEnd).flat();
    }
    truncatePair(a, b, maxTokens, rng);
    if (a.length >= 1 && b.length >= 1) {
      const swapped = options.order && rng.random() < 0.5;
      const [first, second] = swapped ? [b, a] : [a, b];
      instances.push({
        tokens: [cls, ...first, sep, ...second, sep],
        segmentIds: [...new Array<number>(first.length + 2).fill(0), ...new Array<number>(second.length + 1).fill(1)],
        isRandomNext: swapped ? 1 : isRandomNext,
      });
    }
    chunk = [];
    length = 0;
  }
  return instances;
}

const BERT_SPECIALS: SpecialTokens = { cls: '[CLS]', sep: '[SEP]' };

/** The tokens that open and close a sequence (and separate its parts). */
function sequenceTokens(specials: SpecialTokens): [string, string] {
  if (specials.cls === undefined || specials.sep === undefined) throw new InputError('the tokenizer adds no special tokens around a sequence (its post_processor): pretraining needs a first and a separator token');
  return [specials.cls, specials.sep];
}

export interface InstanceOptions extends PairOptions {
  readonly dupeFactor: number;
  readonly packing?: Packing;
}

/** All instances of a corpus, `dupeFactor` passes over it (each with fresh random choices), shuffled. */
export function createInstances(documents: readonly Document[], options: InstanceOptions, rng: Rng, specials: SpecialTokens = BERT_SPECIALS): Instance[] {
  const instances: Instance[] = [];
  for (let pass = 0; pass < options.dupeFactor; pass++) {
    if (options.packing === 'full-sentences') instances.push(...packSentences(documents, options.maxSeqLength, specials));
    else for (let d = 0; d < documents.length; d++) instances.push(...instancesFromDocument(documents, d, { ...options, order: options.packing === 'sentence-order' }, rng, specials));
  }
  return rng.shuffle(instances);
}

/**
 * RoBERTa's FULL-SENTENCES: the corpus's sentences in order, packed into
 * sequences of at most `maxSeqLength` tokens ([CLS] … [SEP]), a separator
 * between the last sentence of one document and the first of the next. A
 * sentence that does not fit in an empty sequence is cut into pieces that do.
 */
export function packSentences(documents: readonly Document[], maxSeqLength: number, specials: SpecialTokens): Instance[] {
  const [cls, sep] = sequenceTokens(specials);
  const budget = maxSeqLength - 2;
  if (budget < 1) throw new InputError(`a sequence of ${maxSeqLength} tokens leaves no room for text between ${cls} and ${sep}`);
  const instances: Instance[] = [];
  let body: string[] = [];
  const emit = () => {
    // A separator left at the end closes a document already closed by the last one.
    if (body[body.length - 1] === sep) body.pop();
    if (body.length) instances.push({ tokens: [cls, ...body, sep], segmentIds: new Array<number>(body.length + 2).fill(0) });
    body = [];
  };
  for (const [d, document] of documents.entries()) {
    if (d > 0 && body.length) {
      if (body.length + 1 > budget) emit();
      else body.push(sep);
    }
    for (const sentence of document) {
      if (body.length + sentence.length > budget) emit();
      for (let start = 0; start < sentence.length; start += budget) {
        const piece = sentence.slice(start, start + budget);
        if (body.length + piece.length > budget) emit();
        body.push(...piece);
      }
    }
  }
  emit();
  return instances;
}
