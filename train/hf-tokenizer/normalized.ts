// A string under normalization that remembers, for every character, the
// range of the original text it came from: the offsets a tokenizer reports
// are ranges of what the user wrote, whatever the normalizers and
// pre-tokenizers did to it.
//
// Characters are code points and offsets count code points, as HuggingFace's
// tokenizers report them (`encode_char_offsets`). Their NormalizedString
// keeps an alignment per byte; ours keeps one per character, which is the
// same thing because every byte of a character shares its alignment there.

/** One change of a transformation: the new character, and 0 (it replaces the next old one), 1 (it is inserted) or −n (it replaces the next old one and n more are removed). */
export type Change = readonly [char: string, change: number];

export class NormalizedText {
  private constructor(
    /** The characters, one code point each. */
    readonly chars: string[],
    /** Original range of each character: [starts[i], ends[i]). */
    readonly starts: number[],
    readonly ends: number[],
    /** Where in the original text this piece begins (an inserted first character points there). */
    readonly origin: number,
  ) {}

  static of(text: string): NormalizedText {
    const chars = [...text];
    return new NormalizedText(chars, chars.map((_, i) => i), chars.map((_, i) => i + 1), 0);
  }

  get length(): number {
    return this.chars.length;
  }

  text(): string {
    return this.chars.join('');
  }

  /** The original range of characters [a, b) (a < b). */
  originalRange(a: number, b: number): [number, number] {
    return [this.starts[a]!, this.ends[b - 1]!];
  }

  slice(a: number, b: number): NormalizedText {
    return new NormalizedText(this.chars.slice(a, b), this.starts.slice(a, b), this.ends.slice(a, b), a < this.length ? this.starts[a]! : this.origin);
  }

  /**
   * Rewrites the whole string from a list of changes, each new character
   * aligned as HuggingFace's `transform` aligns it: a replacing character takes
   * the alignment of the old character it replaces, an inserted one that of
   * the last old character consumed (the piece's start if none), and
   * `removedFirst` old characters are dropped before the first change.
   */
  transform(changes: readonly Change[], removedFirst = 0): NormalizedText {
    const chars: string[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    let old = removedFirst;
    for (const [ch, change] of changes) {
      let from: number;
      if (change > 0) from = old - 1;
      else {
        from = old;
        old += 1 - Math.min(change, 0);
      }
      chars.push(ch);
      if (from < 0) {
        starts.push(this.origin);
        ends.push(this.origin);
      } else {
        const k = Math.min(from, this.length - 1);
        starts.push(this.starts[k] ?? this.origin);
        ends.push(this.ends[k] ?? this.origin);
      }
    }
    return new NormalizedText(chars, starts, ends, this.origin);
  }

  /** Each character to zero or more (the first replaces it, the others are inserted after it). */
  mapChars(f: (ch: string) => string): NormalizedText {
    const changes: Change[] = [];
    for (const ch of this.chars) [...f(ch)].forEach((c, i) => changes.push([c, i > 0 ? 1 : 0]));
    return this.transform(changes);
  }

  /** Keeps the characters `keep` accepts; a removed one is accounted to the kept character before it. */
  filter(keep: (ch: string) => boolean): NormalizedText {
    const changes: Change[] = [];
    let removed = 0;
    let removedFirst = 0;
    let last: string | undefined;
    for (const ch of this.chars) {
      if (!keep(ch)) {
        removed++;
        continue;
      }
      if (last === undefined) removedFirst = removed;
      else changes.push([last, -removed]);
      last = ch;
      removed = 0;
    }
    if (last !== undefined) changes.push([last, -removed]);
    else removedFirst = removed;
    return this.transform(changes, removedFirst);
  }

  /** `prefix` before the first character, aligned with it. */
  prepend(prefix: string): NormalizedText {
    if (!this.length) return this;
    const p = [...prefix];
    const head: Change[] = [...p.map((c, i): Change => [c, i === 0 ? 0 : 1]), [this.chars[0]!, 1]];
    const first = this.transform(head);
    const rest = this.slice(1, this.length);
    return new NormalizedText([...first.chars, ...rest.chars], [...first.starts, ...rest.starts], [...first.ends, ...rest.ends], this.origin);
  }

  /** Replaces every non-overlapping match of `find` (a string) by `content`, the new characters aligned with the character before the match. */
  replaceAll(find: string, content: string): NormalizedText {
    const pattern = [...find];
    if (!pattern.length) return this;
    const chars: string[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    const inserted = [...content];
    for (let i = 0; i < this.length; ) {
      if (matchesAt(this.chars, pattern, i)) {
        // As HuggingFace: each new character is an insertion after the match's last character.
        const k = i + pattern.length - 1;
        for (const c of inserted) {
          chars.push(c);
          starts.push(this.starts[k]!);
          ends.push(this.ends[k]!);
        }
        i += pattern.length;
      } else {
        chars.push(this.chars[i]!);
        starts.push(this.starts[i]!);
        ends.push(this.ends[i]!);
        i++;
      }
    }
    return new NormalizedText(chars, starts, ends, this.origin);
  }

  /** Splits where `isDelimiter` holds, the delimiters dropped ("Removed") or kept alone ("Isolated"); empty pieces are dropped. */
  splitOn(isDelimiter: (ch: string) => boolean, keepDelimiters: boolean): NormalizedText[] {
    const pieces: NormalizedText[] = [];
    let start = 0;
    for (let i = 0; i < this.length; i++) {
      if (!isDelimiter(this.chars[i]!)) continue;
      if (i > start) pieces.push(this.slice(start, i));
      if (keepDelimiters) pieces.push(this.slice(i, i + 1));
      start = i + 1;
    }
    if (this.length > start) pieces.push(this.slice(start, this.length));
    return pieces;
  }

  /** Pieces at character ranges that cover the string in order; empty ones dropped. */
  pieces(ranges: readonly (readonly [number, number])[]): NormalizedText[] {
    return ranges.filter(([a, b]) => b > a).map(([a, b]) => this.slice(a, b));
  }
}

function matchesAt(chars: readonly string[], pattern: readonly string[], i: number): boolean {
  if (i + pattern.length > chars.length) return false;
  for (let k = 0; k < pattern.length; k++) if (chars[i + k] !== pattern[k]) return false;
  return true;
}

/** Character index of each UTF-16 offset of `text` (and of its end), so that regular-expression matches map to characters. */
export function charIndexes(text: string): Int32Array {
  const index = new Int32Array(text.length + 1);
  let c = 0;
  for (let i = 0; i < text.length; i++) {
    index[i] = c;
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next < 0xe000) index[++i] = c;
    }
    c++;
  }
  index[text.length] = c;
  return index;
}
