// tokenizer.json's normalizers, each a function NormalizedText → NormalizedText
// that keeps every character's original range. Read from the file with every
// field checked; a normalizer tcc does not implement is refused by name.

import { Fields, JsonFieldError, checkList } from '../../runtime/json-fields.js';
import { NormalizedText, type Change } from './normalized.js';
import { Precompiled } from './precompiled.js';
import { isBertCjk, isWhitespace } from './unicode.js';

export type Normalizer = (s: NormalizedText) => NormalizedText;

export const NORMALIZERS = ['BertNormalizer', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase', 'StripAccents', 'Replace', 'Strip', 'Prepend', 'Precompiled', 'Sequence'] as const;

/** Rust's `is_other` as HuggingFace's tokenizers have it: control, format, private use, surrogate (unassigned code points stay). */
const OTHER = /^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$/u;
const NONSPACING_MARK = /^\p{Mn}$/u;
const MARK = /^\p{M}$/u;

function bertNormalizer(f: Fields): Normalizer {
  f.only(['type', 'clean_text', 'handle_chinese_chars', 'strip_accents', 'lowercase']);
  const clean = f.bool('clean_text');
  const chinese = f.bool('handle_chinese_chars');
  const lowercase = f.bool('lowercase');
  const strip = f.value.strip_accents === null || !f.has('strip_accents') ? lowercase : f.bool('strip_accents');
  return (s) => {
    if (clean) {
      s = s.filter((c) => {
        const cp = c.codePointAt(0)!;
        return !(cp === 0 || cp === 0xfffd || (c !== '\t' && c !== '\n' && c !== '\r' && OTHER.test(c)));
      });
      s = s.mapChars((c) => (isWhitespace(c) ? ' ' : c));
    }
    if (chinese) {
      const changes: Change[] = [];
      for (const c of s.chars) {
        if (isBertCjk(c.codePointAt(0)!)) changes.push([' ', 0], [c, 1], [' ', 1]);
        else changes.push([c, 0]);
      }
      s = s.transform(changes);
    }
    if (strip) s = unicodeForm(s, 'NFD').filter((c) => !NONSPACING_MARK.test(c));
    if (lowercase) s = s.mapChars(lower);
    return s;
  };
}

/** Lower-casing one character at a time (a character may become several, as İ does). */
const lower = (c: string) => c.toLowerCase();

/** Canonical combining class 0, approximately: not a mark and not a Hangul vowel or trailing consonant (which compose with what precedes them). */
function isStarter(c: string): boolean {
  const cp = c.codePointAt(0)!;
  return !MARK.test(c) && !(cp >= 0x1161 && cp <= 0x11c2);
}

/**
 * A Unicode normalization form, segment by segment (a starter and the marks
 * after it): a segment that normalizes to itself keeps its alignments; one
 * that changes gives its first new characters the old ones' alignments in
 * order, inserts the surplus or removes the shortfall at its end.
 */
export function unicodeForm(s: NormalizedText, form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD'): NormalizedText {
  const changes: Change[] = [];
  let changed = false;
  const chars = s.chars;
  for (let i = 0; i < chars.length; ) {
    let j = i + 1;
    while (j < chars.length && !isStarter(chars[j]!)) j++;
    const segment = chars.slice(i, j);
    const joined = segment.join('');
    const normal = joined.normalize(form);
    if (normal === joined) for (const c of segment) changes.push([c, 0]);
    else {
      changed = true;
      const out = [...normal];
      const common = Math.min(out.length, segment.length);
      out.forEach((c, k) => changes.push([c, k < common ? 0 : 1]));
      if (out.length < segment.length) {
        if (out.length) {
          const [c, n] = changes[changes.length - 1]!;
          changes[changes.length - 1] = [c, n - (segment.length - out.length)];
        }
      }
    }
    i = j;
  }
  return changed ? s.transform(changes) : s;
}

function pattern(f: Fields): string {
  const p = f.object('pattern');
  if (p.has('String')) return p.string('String');
  throw new JsonFieldError(p.path, `only String patterns are supported here, got ${Object.keys(p.value).join(', ') || 'none'}`);
}

export function readNormalizer(v: unknown, path: string): Normalizer | undefined {
  if (v === null) return undefined;
  const f = Fields.of(v, path);
  const type = f.oneOf('type', NORMALIZERS);
  switch (type) {
    case 'BertNormalizer':
      return bertNormalizer(f);
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      f.only(['type']);
      return (s) => unicodeForm(s, type);
    case 'Lowercase':
      f.only(['type']);
      return (s) => s.mapChars(lower);
    case 'StripAccents':
      f.only(['type']);
      return (s) => s.filter((c) => !MARK.test(c));
    case 'Replace': {
      f.only(['type', 'pattern', 'content']);
      const find = pattern(f);
      const content = f.string('content');
      return (s) => s.replaceAll(find, content);
    }
    case 'Strip': {
      f.only(['type', 'strip_left', 'strip_right']);
      const [left, right] = [f.bool('strip_left'), f.bool('strip_right')];
      return (s) => strip(s, left, right);
    }
    case 'Prepend': {
      f.only(['type', 'prepend']);
      const prefix = f.string('prepend');
      return (s) => s.prepend(prefix);
    }
    case 'Precompiled': {
      f.only(['type', 'precompiled_charsmap']);
      const base64 = f.string('precompiled_charsmap', 64 * 2 ** 20);
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw new JsonFieldError(f.at('precompiled_charsmap'), 'is not base64');
      const map = new Precompiled(Buffer.from(base64, 'base64'), f.at('precompiled_charsmap'));
      return (s) => map.normalize(s);
    }
    case 'Sequence': {
      f.only(['type', 'normalizers']);
      const parts = checkList(f.get('normalizers'), f.at('normalizers'), 64).map((n, i) => readNormalizer(n, `${f.at('normalizers')}[${i}]`));
      return (s) => parts.reduce((t, n) => (n ? n(t) : t), s);
    }
  }
}

function strip(s: NormalizedText, left: boolean, right: boolean): NormalizedText {
  let a = 0;
  let b = s.length;
  if (left) while (a < b && isWhitespace(s.chars[a]!)) a++;
  if (right) while (b > a && isWhitespace(s.chars[b - 1]!)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
