// Character classes as HuggingFace's tokenizers (Rust) define them.

const WHITE_SPACE = /^\p{White_Space}$/u;
const PUNCTUATION = /^\p{P}$/u;

/** Rust's char::is_whitespace: Unicode's White_Space property. */
export const isWhitespace = (c: string): boolean => WHITE_SPACE.test(c);

/** BERT's punctuation: every ASCII symbol, and Unicode's P categories. */
export function isBertPunctuation(c: string): boolean {
  const cp = c.codePointAt(0)!;
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || PUNCTUATION.test(c);
}

/** The CJK ideograph blocks that BertNormalizer surrounds with spaces (the Rust crate's ranges). */
export function isBertCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Rust regex's Unicode \w. */
export const WORD = String.raw`[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]`;
export const SPACE = String.raw`\p{White_Space}`;

/**
 * GPT-2's byte-to-character table: printable Latin-1 bytes stand for
 * themselves, the others for U+0100 on, so that any byte string is a string
 * of visible characters ("Ġ" is the space).
 */
export const BYTE_CHARS: readonly string[] = (() => {
  const chars: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return chars;
})();
