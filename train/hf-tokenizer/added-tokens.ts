// Added tokens ([CLS], <mask>, ModernBERT's runs of spaces…): found in the
// text before the model sees it, leftmost and longest first. Tokens marked
// `normalized: false` are matched in the raw text; the pieces between them
// are normalized, and then the `normalized: true` tokens are matched there
// (in their normalized form). `lstrip`/`rstrip` take the whitespace beside a
// match into it; `single_word` matches only between non-word characters.

import { Fields, checkList } from '../../runtime/json-fields.js';
import type { NormalizedText } from './normalized.js';
import type { Normalizer } from './normalizers.js';
import { SPACE, WORD } from './unicode.js';

export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
  readonly normalized: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly singleWord: boolean;
}

/** A piece of text: a run for the pre-tokenizer and the model, or an added token. */
export interface Piece {
  readonly text: NormalizedText;
  readonly token?: AddedToken;
}

const ENDS_WITH_WORD = new RegExp(`${WORD}$`, 'u');
const STARTS_WITH_WORD = new RegExp(`^${WORD}`, 'u');
const SPACE_CHAR = new RegExp(`^${SPACE}$`, 'u');
const isSpace = (c: string) => SPACE_CHAR.test(c);

export function readAddedTokens(v: unknown, path: string, maxId: number): AddedToken[] {
  return checkList(v, path, 1_000_000).map((t, i) => {
    const f = Fields.of(t, `${path}[${i}]`).only(['id', 'content', 'single_word', 'lstrip', 'rstrip', 'normalized', 'special']);
    return {
      id: f.int('id', { min: 0, max: maxId }),
      content: f.string('content', 10_000),
      special: f.bool('special'),
      normalized: f.bool('normalized'),
      lstrip: f.bool('lstrip'),
      rstrip: f.bool('rstrip'),
      singleWord: f.bool('single_word'),
    };
  });
}

/** Leftmost-longest matching of a set of patterns over a character array. */
class Matcher {
  private readonly byFirst = new Map<string, { chars: string[]; token: AddedToken }[]>();

  constructor(patterns: readonly { content: string; token: AddedToken }[]) {
    for (const p of patterns) {
      const chars = [...p.content];
      if (!chars.length) continue;
      const list = this.byFirst.get(chars[0]!) ?? [];
      list.push({ chars, token: p.token });
      this.byFirst.set(chars[0]!, list);
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.chars.length - a.chars.length);
  }

  get empty(): boolean {
    return this.byFirst.size === 0;
  }

  /** The longest pattern starting at `i`, if any. */
  at(chars: readonly string[], i: number): { length: number; token: AddedToken } | undefined {
    for (const p of this.byFirst.get(chars[i]!) ?? []) {
      if (i + p.chars.length > chars.length) continue;
      let k = 1;
      while (k < p.chars.length && chars[i + k] === p.chars[k]) k++;
      if (k === p.chars.length) return { length: k, token: p.token };
    }
    return undefined;
  }
}

export class AddedVocabulary {
  private readonly raw: Matcher;
  private readonly normalizedTokens: Matcher;

  constructor(
    readonly tokens: readonly AddedToken[],
    private readonly normalizer: Normalizer | undefined,
    normalizeContent: (content: string) => string,
  ) {
    this.raw = new Matcher(tokens.filter((t) => !t.normalized).map((t) => ({ content: t.content, token: t })));
    this.normalizedTokens = new Matcher(tokens.filter((t) => t.normalized).map((t) => ({ content: normalizeContent(t.content), token: t })));
  }

  /** The text cut at added tokens, the other pieces normalized. */
  split(text: NormalizedText): Piece[] {
    const pieces: Piece[] = [];
    for (const piece of this.find(text, this.raw)) {
      if (piece.token) pieces.push(piece);
      else pieces.push(...this.find(this.normalizer ? this.normalizer(piece.text) : piece.text, this.normalizedTokens));
    }
    return pieces.filter((p) => p.text.length > 0);
  }

  private find(s: NormalizedText, matcher: Matcher): Piece[] {
    if (matcher.empty || !s.length) return [{ text: s }];
    const chars = s.chars;
    const pieces: Piece[] = [];
    let done = 0;
    for (let i = 0; i < chars.length; ) {
      const m = matcher.at(chars, i);
      if (!m) {
        i++;
        continue;
      }
      let [start, stop] = [i, i + m.length];
      const t = m.token;
      if (t.singleWord) {
        const before = chars.slice(0, start).join('');
        const after = chars.slice(stop).join('');
        if ((start > 0 && ENDS_WITH_WORD.test(before)) || (stop < chars.length && STARTS_WITH_WORD.test(after))) {
          i = stop; // the search goes on after the match it discards
          continue;
        }
      }
      if (t.lstrip) {
        let k = start;
        while (k > done && isSpace(chars[k - 1]!)) k--;
        start = k;
      }
      if (t.rstrip) while (stop < chars.length && isSpace(chars[stop]!)) stop++;
      if (done < start) pieces.push({ text: s.slice(done, start) });
      pieces.push({ text: s.slice(start, stop), token: t });
      done = stop;
      i = stop;
    }
    if (done < chars.length) pieces.push({ text: s.slice(done, chars.length) });
    return pieces;
  }
}
