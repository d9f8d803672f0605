// tokenizer.json's pre-tokenizers: each splits a normalized piece into the
// words the model then tokenizes (and may rewrite them, as ByteLevel maps
// bytes to characters and Metaspace spaces to "▁").

import { Fields, JsonFieldError, checkList } from '../../runtime/json-fields.js';
import { charIndexes, NormalizedText, type Change } from './normalized.js';
import { BYTE_CHARS, isBertPunctuation, isWhitespace, SPACE, WORD } from './unicode.js';

export type PreTokenizer = (pieces: NormalizedText[]) => NormalizedText[];

export const PRE_TOKENIZERS = ['BertPreTokenizer', 'WhitespaceSplit', 'Whitespace', 'ByteLevel', 'Metaspace', 'Punctuation', 'Digits', 'Split', 'Sequence'] as const;

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';
const BEHAVIORS: readonly Behavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

/** GPT-2's word pattern, with Unicode's White_Space for \s as the Rust regex engine has it. */
const BYTE_LEVEL = new RegExp(String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^${SPACE}\p{L}\p{N}]+|[${SPACE}]+(?![^${SPACE}])|[${SPACE}]+`, 'gu');
const WHITESPACE_WORDS = new RegExp(String.raw`${WORD}+|[^${WORD.slice(1, -1)}${SPACE}]+`, 'gu');
const utf8 = new TextEncoder();
const NUMERIC = /^\p{N}$/u;
/** Rust's char::is_numeric: Unicode's N categories. */
const isNumeric = (c: string) => NUMERIC.test(c);

/** The string cut into [start, end, isMatch] character ranges that cover it, by a global regular expression. */
function regexMatches(s: NormalizedText, re: RegExp): [number, number, boolean][] {
  const text = s.text();
  const at = charIndexes(text);
  const out: [number, number, boolean][] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    const [a, b] = [at[m.index!]!, at[m.index! + m[0].length]!];
    if (a > last) out.push([last, a, false]);
    out.push([a, b, true]);
    last = b;
  }
  if (last < s.length) out.push([last, s.length, false]);
  return out;
}

function charMatches(s: NormalizedText, isDelimiter: (c: string) => boolean): [number, number, boolean][] {
  const out: [number, number, boolean][] = [];
  let last = 0;
  s.chars.forEach((c, i) => {
    if (!isDelimiter(c)) return;
    if (i > last) out.push([last, i, false]);
    out.push([i, i + 1, true]);
    last = i + 1;
  });
  if (last < s.length) out.push([last, s.length, false]);
  return out;
}

/** HuggingFace's split behaviours over matched and unmatched ranges. */
function splitBy(s: NormalizedText, matches: [number, number, boolean][], behavior: Behavior): NormalizedText[] {
  let ranges: [number, number][];
  switch (behavior) {
    case 'Removed':
      ranges = matches.filter((m) => !m[2]).map(([a, b]) => [a, b]);
      break;
    case 'Isolated':
      ranges = matches.map(([a, b]) => [a, b]);
      break;
    case 'Contiguous':
    case 'MergedWithPrevious': {
      ranges = [];
      let previous = false;
      for (const [a, b, match] of matches) {
        const merge = behavior === 'Contiguous' ? match === previous : match && !previous;
        if (merge && ranges.length) ranges[ranges.length - 1]![1] = b;
        else ranges.push([a, b]);
        previous = match;
      }
      break;
    }
    case 'MergedWithNext': {
      ranges = [];
      let previous = false;
      for (let k = matches.length - 1; k >= 0; k--) {
        const [a, b, match] = matches[k]!;
        if (match && !previous && ranges.length) ranges[ranges.length - 1]![0] = a;
        else ranges.push([a, b]);
        previous = match;
      }
      ranges.reverse();
      break;
    }
  }
  return s.pieces(ranges);
}

/** Each character to the GPT-2 characters of its UTF-8 bytes, all aligned with it. */
function toByteChars(s: NormalizedText): NormalizedText {
  const changes: Change[] = [];
  for (const c of s.chars) utf8.encode(c).forEach((b, i) => changes.push([BYTE_CHARS[b]!, i > 0 ? 1 : 0]));
  return s.transform(changes);
}

function byteLevel(f: Fields): PreTokenizer {
  f.only(['type', 'add_prefix_space', 'trim_offsets', 'use_regex']);
  const prefix = f.has('add_prefix_space') ? f.bool('add_prefix_space') : true;
  const useRegex = f.has('use_regex') ? f.bool('use_regex') : true;
  if (f.has('trim_offsets')) f.bool('trim_offsets');
  return (pieces) =>
    pieces
      .flatMap((p) => {
        if (prefix && p.chars[0] !== ' ') p = p.prepend(' ');
        return useRegex ? splitBy(p, regexMatches(p, BYTE_LEVEL), 'Isolated') : [p];
      })
      .map(toByteChars);
}

function metaspace(f: Fields): PreTokenizer {
  f.only(['type', 'replacement', 'add_prefix_space', 'prepend_scheme', 'split', 'str_rep']);
  const replacement = f.string('replacement');
  if ([...replacement].length !== 1) throw new JsonFieldError(f.at('replacement'), 'must be one character');
  let scheme = f.has('prepend_scheme') ? f.oneOf('prepend_scheme', ['always', 'first', 'never']) : 'always';
  if (f.has('add_prefix_space') && !f.bool('add_prefix_space')) {
    if (f.has('prepend_scheme') && scheme !== 'never') throw new JsonFieldError(f.at('add_prefix_space'), 'does not match prepend_scheme');
    scheme = 'never';
  }
  const split = f.has('split') ? f.bool('split') : true;
  return (pieces) =>
    pieces.flatMap((p) => {
      p = p.replaceAll(' ', replacement);
      if (p.chars[0] !== replacement && (scheme === 'always' || (scheme === 'first' && p.origin === 0))) p = p.prepend(replacement);
      return split ? splitBy(p, charMatches(p, (c) => c === replacement), 'MergedWithNext') : [p];
    });
}

function splitPattern(f: Fields): RegExp | string {
  const p = f.object('pattern');
  if (p.has('String')) return p.string('String');
  if (p.has('Regex')) {
    try {
      return new RegExp(p.string('Regex'), 'gu');
    } catch {
      throw new JsonFieldError(p.at('Regex'), 'is not a regular expression tcc can read');
    }
  }
  throw new JsonFieldError(p.path, 'expected String or Regex');
}

export function readPreTokenizer(v: unknown, path: string): PreTokenizer | undefined {
  if (v === null) return undefined;
  const f = Fields.of(v, path);
  const type = f.oneOf('type', PRE_TOKENIZERS);
  switch (type) {
    case 'BertPreTokenizer':
      f.only(['type']);
      return (pieces) => pieces.flatMap((p) => p.splitOn(isWhitespace, false)).flatMap((p) => p.splitOn(isBertPunctuation, true));
    case 'WhitespaceSplit':
      f.only(['type']);
      return (pieces) => pieces.flatMap((p) => p.splitOn(isWhitespace, false));
    case 'Whitespace':
      f.only(['type']);
      return (pieces) => pieces.flatMap((p) => splitBy(p, regexMatches(p, WHITESPACE_WORDS).map(([a, b, m]) => [a, b, !m]), 'Removed'));
    case 'ByteLevel':
      return byteLevel(f);
    case 'Metaspace':
      return metaspace(f);
    case 'Punctuation': {
      f.only(['type', 'behavior']);
      const behavior = f.has('behavior') ? f.oneOf('behavior', BEHAVIORS) : 'Isolated';
      return (pieces) => pieces.flatMap((p) => splitBy(p, charMatches(p, isBertPunctuation), behavior));
    }
    case 'Digits': {
      f.only(['type', 'individual_digits']);
      const single = f.bool('individual_digits');
      return (pieces) => pieces.flatMap((p) => splitBy(p, charMatches(p, isNumeric), single ? 'Isolated' : 'Contiguous'));
    }
    case 'Split': {
      f.only(['type', 'pattern', 'behavior', 'invert']);
      const pattern = splitPattern(f);
      const behavior = f.oneOf('behavior', BEHAVIORS);
      const invert = f.bool('invert');
      const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu') : pattern;
      return (pieces) => pieces.flatMap((p) => splitBy(p, regexMatches(p, re).map(([a, b, m]) => [a, b, m !== invert]), behavior));
    }
    case 'Sequence': {
      f.only(['type', 'pretokenizers']);
      const parts = checkList(f.get('pretokenizers'), f.at('pretokenizers'), 64).map((n, i) => readPreTokenizer(n, `${f.at('pretokenizers')}[${i}]`));
      return (pieces) => parts.reduce((ps, p) => (p ? p(ps) : ps), pieces);
    }
  }
}
