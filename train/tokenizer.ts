// WordPiece tokenization as HuggingFace's BertTokenizer does it:
//   1. special tokens ([CLS], [MASK], …) written in the text are kept whole;
//   2. clean-up: drop NUL, U+FFFD and control ("other") characters, map
//      whitespace to ' ';
//   3. put spaces around every CJK ideograph (each becomes its own token);
//   4. lower-case and strip accents (NFD, drop combining marks) when uncased;
//   5. split on whitespace, then split off every punctuation character;
//   6. WordPiece: greedy longest match from the left, continuations with "##",
//      a word with no full match (or over 100 characters) is [UNK].
// Encoding adds [CLS] A [SEP] (B [SEP]), token type ids 0 then 1, truncates
// longest-first and pads when asked.

export interface TokenizerOptions {
  readonly lowercase: boolean;
  /** Accent stripping follows lower-casing unless set (HuggingFace's strip_accents). */
  readonly stripAccents?: boolean;
}

export interface Encoding {
  readonly tokens: string[];
  readonly input_ids: number[];
  readonly token_type_ids: number[];
  readonly attention_mask: number[];
  /** Character range of each token in its own text ([0, 0] for special and padding tokens), where the tokenizer tracks them. */
  readonly offsets?: [number, number][];
}

/** The special tokens of a tokenizer's encodings: [CLS], [SEP], [PAD], [MASK] for BERT; <s>, </s>, <pad>, <mask> for RoBERTa. */
export interface SpecialTokens {
  readonly cls?: string;
  readonly sep?: string;
  readonly pad?: string;
  readonly mask?: string;
}

/** What the commands that only encode text need of a tokenizer: a WordPiece vocab.txt or a tokenizer.json. */
export interface TextTokenizer {
  /** Token strings by id. */
  readonly vocab: readonly string[];
  readonly specials: SpecialTokens;
  id(token: string): number | undefined;
  /** Whether a token is one of the tokenizer's special tokens (never masked, never drawn as a random replacement). */
  isSpecial(token: string): boolean;
  /** The tokens of a text without special tokens; with `limit`, only the first `limit`. */
  tokenize(text: string, limit?: number): string[];
  encode(text: string, options?: EncodeOptions): Encoding;
}

/** Each token of an encoding as the vocabulary has it (an added token matched with the spaces beside it, RoBERTa's " <mask>", is "<mask>"). */
export function vocabTokens(tokenizer: Pick<TextTokenizer, 'vocab'>, encoding: Pick<Encoding, 'tokens' | 'input_ids'>): string[] {
  return encoding.tokens.map((t, i) => tokenizer.vocab[encoding.input_ids[i]!] || t);
}

export interface EncodeOptions {
  readonly pair?: string;
  /** Truncate (longest first) so that the encoding, special tokens included, fits. */
  readonly maxLength?: number;
  /** Pad with [PAD] to maxLength. */
  readonly pad?: boolean;
}

export class VocabError extends Error {
  override name = 'VocabError';
}

const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
const MAX_WORD_CHARS = 100;

export function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

// Unicode's "other" categories (Cc, Cf, Co, Cs, Cn) and its White_Space property, as HuggingFace's tokenizers.
const CONTROL = /^\p{C}$/u;
const WHITESPACE = /^\p{White_Space}$/u;
const PUNCTUATION = /^\p{P}$/u;
const COMBINING = /\p{Mn}/gu;

function isPunctuation(ch: string, cp: number): boolean {
  // BERT counts every non-alphanumeric ASCII symbol ($, +, ^, `…) as punctuation.
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || PUNCTUATION.test(ch);
}

function splitPunctuation(word: string): string[] {
  const pieces: string[] = [];
  let current = '';
  for (const ch of word) {
    if (isPunctuation(ch, ch.codePointAt(0)!)) {
      if (current) pieces.push(current);
      pieces.push(ch);
      current = '';
    } else current += ch;
  }
  if (current) pieces.push(current);
  return pieces;
}

/**
 * Steps 2–5, one word at a time: clean-up (NUL, U+FFFD and control
 * characters dropped, whitespace a separator, every CJK ideograph a word of
 * its own), lower-casing and accent stripping, punctuation split off. A
 * generator, so that a caller that needs the first few words of a text of
 * megabytes takes only those.
 */
function* basicWords(text: string, options: TokenizerOptions): Generator<string> {
  const strip = options.stripAccents ?? options.lowercase;
  function* finish(word: string): Generator<string> {
    if (options.lowercase) word = word.toLowerCase();
    if (strip) word = word.normalize('NFD').replace(COMBINING, '');
    yield* splitPunctuation(word);
  }
  let word = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd) continue;
    const control = CONTROL.test(ch);
    const space = ch === '\t' || ch === '\n' || ch === '\r' || (!control && WHITESPACE.test(ch));
    if (!space && control) continue;
    if (space || isCjk(cp)) {
      if (word) yield* finish(word);
      word = '';
      if (!space) yield* finish(ch);
    } else word += ch;
  }
  if (word) yield* finish(word);
}

function basicTokenize(text: string, options: TokenizerOptions): string[] {
  return [...basicWords(text, options)];
}

export class WordPieceTokenizer implements TextTokenizer {
  private readonly ids = new Map<string, number>();
  private readonly special: RegExp;
  readonly specials: SpecialTokens = { cls: '[CLS]', sep: '[SEP]', pad: '[PAD]', mask: '[MASK]' };

  constructor(
    readonly vocab: readonly string[],
    readonly options: TokenizerOptions,
  ) {
    // A token listed twice takes its last line's id, as HuggingFace's tokenizers read vocab.txt.
    vocab.forEach((token, id) => this.ids.set(token, id));
    for (const token of ['[UNK]', '[CLS]', '[SEP]']) {
      if (!this.ids.has(token)) throw new VocabError(`the vocabulary has no ${token} token`);
    }
    const present = SPECIAL.filter((t) => this.ids.has(t)).map((t) => t.replace(/[[\]]/g, '\\$&'));
    this.special = new RegExp(`(${present.join('|')})`);
  }

  /** Parses vocab.txt: one token per line, the id is the line number. */
  static fromVocabText(text: string, options: TokenizerOptions): WordPieceTokenizer {
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return new WordPieceTokenizer(lines.map((l) => l.replace(/\r$/, '')), options);
  }

  id(token: string): number | undefined {
    return this.ids.get(token);
  }

  isSpecial(token: string): boolean {
    return (SPECIAL as readonly string[]).includes(token);
  }

  /**
   * Steps 1–6: the WordPiece tokens of a text, without [CLS]/[SEP]; with
   * `limit`, only the first `limit` of them (a text of megabytes costs what
   * its first tokens cost).
   */
  tokenize(text: string, limit = Infinity): string[] {
    const tokens: string[] = [];
    for (const part of text.split(this.special)) {
      if (tokens.length >= limit) break;
      if (!part) continue;
      if (this.ids.has(part) && (SPECIAL as readonly string[]).includes(part)) {
        tokens.push(part);
        continue;
      }
      for (const word of basicWords(part, this.options)) {
        tokens.push(...this.wordPieces(word));
        if (tokens.length >= limit) break;
      }
    }
    return tokens.slice(0, limit);
  }

  /** Steps 2–5 without a vocabulary: the words WordPiece then splits (used to train vocabularies). */
  static basicTokens(text: string, options: TokenizerOptions): string[] {
    return basicTokenize(text, options);
  }

  private wordPieces(word: string): string[] {
    const chars = [...word];
    if (chars.length > MAX_WORD_CHARS) return ['[UNK]'];
    const pieces: string[] = [];
    for (let start = 0; start < chars.length; ) {
      let end = chars.length;
      let found: string | undefined;
      for (; end > start; end--) {
        const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        if (this.ids.has(piece)) {
          found = piece;
          break;
        }
      }
      if (!found) return ['[UNK]'];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }

  encode(text: string, options: EncodeOptions = {}): Encoding {
    // Longest-first truncation keeps at most maxLength tokens of either text: no more are made.
    const limit = options.maxLength ?? Infinity;
    let a = this.tokenize(text, limit);
    let b = options.pair === undefined ? undefined : this.tokenize(options.pair, limit);
    if (options.maxLength !== undefined) [a, b] = truncateLongestFirst(a, b, options.maxLength - (b ? 3 : 2));
    const tokens = ['[CLS]', ...a, '[SEP]', ...(b ? [...b, '[SEP]'] : [])];
    const types = tokens.map((_, i) => (i < a.length + 2 ? 0 : 1));
    const mask = tokens.map(() => 1);
    if (options.pad && options.maxLength !== undefined) {
      if (!this.ids.has('[PAD]')) throw new VocabError('the vocabulary has no [PAD] token to pad with');
      while (tokens.length < options.maxLength) {
        tokens.push('[PAD]');
        types.push(0);
        mask.push(0);
      }
    }
    return { tokens, input_ids: tokens.map((t) => this.ids.get(t) ?? this.ids.get('[UNK]')!), token_type_ids: types, attention_mask: mask };
  }
}

/** HuggingFace's "longest_first": drop the last token of the longer sequence (the second on a tie) until both fit. */
export function truncateLongestFirst(a: string[], b: string[] | undefined, budget: number): [string[], string[] | undefined] {
  if (budget < 0) throw new VocabError(`max length ${budget + (b ? 3 : 2)} leaves no room for the special tokens`);
  let [na, nb] = [a.length, b?.length ?? 0];
  while (na + nb > budget) {
    if (b && nb >= na) nb--;
    else na--;
  }
  return [a.slice(0, na), b?.slice(0, nb)];
}
