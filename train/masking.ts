// Masked-LM inputs: 15% of the tokens are selected (or another rate: higher
// ones suit small models and data, Wettig et al. 2023), and of those 80% become
// the mask token ([MASK], <mask>), 10% a random token and 10% stay, as BERT
// and RoBERTa. Special tokens are never selected nor drawn. What is selected together
// depends on the strategy:
//   token (static, dynamic)  each WordPiece on its own
//   wwm    whole words: a word's "##" pieces are selected with it
//   ngram  phrases of 1–3 whole words (ERNIE), shorter ones likelier (p ∝ 1/n)
//   span   spans of whole words of geometric length (p = 0.2, at most 10; SpanBERT)
// Units are taken in random order while they fit in the budget,
// round(rate · candidates), so a unit is never split.

import type { Rng } from './rng.js';
import type { TextTokenizer } from './tokenizer.js';

export type MaskingStrategy = 'static' | 'dynamic' | 'wwm' | 'ngram' | 'span';
export const MASKING_STRATEGIES: readonly MaskingStrategy[] = ['dynamic', 'static', 'wwm', 'ngram', 'span'];

export const MASK_RATE = 0.15;
/** The strategies that select whole words: they read WordPiece's "##" continuations. */
export const WORD_STRATEGIES: readonly MaskingStrategy[] = ['wwm', 'ngram', 'span'];

/** What masking needs of a tokenizer. */
export type MaskingVocabulary = Pick<TextTokenizer, 'vocab' | 'specials' | 'isSpecial'>;

export interface MaskedTokens {
  readonly tokens: string[];
  /** The original token at selected positions, null elsewhere. */
  readonly labels: (string | null)[];
}

/**
 * Words as runs of token positions: a word's first piece and the "##" pieces
 * after it (for Chinese, the characters marked as continuing a segmented
 * word). Specials are no word.
 */
export function wordsOf(tokens: readonly string[], isSpecial: (token: string) => boolean): number[][] {
  const words: number[][] = [];
  tokens.forEach((t, i) => {
    if (isSpecial(t)) return;
    const last = words[words.length - 1];
    if (t.startsWith('##') && last && last[last.length - 1] === i - 1) last.push(i);
    else words.push([i]);
  });
  return words;
}

function geometric(rng: Rng, p: number, max: number): number {
  let n = 1;
  while (n < max && rng.random() >= p) n++;
  return n;
}

/** The units of selection, in the order they are tried. */
function units(tokens: readonly string[], strategy: MaskingStrategy, rng: Rng, isSpecial: (token: string) => boolean): number[][] {
  const words = wordsOf(tokens, isSpecial);
  if (strategy === 'static' || strategy === 'dynamic') return rng.shuffle(words.flat().map((i) => [i]));
  if (strategy === 'wwm') return rng.shuffle(words);
  // ngram and span: phrases of consecutive whole words from random starts (within one segment: not across [SEP]).
  const starts = rng.shuffle(words.map((_, w) => w));
  return starts.map((w) => {
    const n = strategy === 'ngram' ? pickNgram(rng) : geometric(rng, 0.2, 10);
    const phrase: number[] = [];
    for (let k = w; k < Math.min(words.length, w + n); k++) {
      const word = words[k]!;
      if (phrase.length && word[0] !== phrase[phrase.length - 1]! + 1) break; // a [SEP] lies between
      phrase.push(...word);
    }
    return phrase;
  });
}

/** n in 1..3 with probability ∝ 1/n. */
function pickNgram(rng: Rng): number {
  const r = rng.random() * (1 + 1 / 2 + 1 / 3);
  return r < 1 ? 1 : r < 1.5 ? 2 : 3;
}

/** The most positions maskTokens labels in a sequence of `seq` tokens (BERT's max_predictions_per_seq). */
export function maxMaskedPositions(seq: number, rate = MASK_RATE): number {
  return Math.max(1, Math.round(seq * rate));
}

export function maskTokens(tokens: readonly string[], strategy: MaskingStrategy, rng: Rng, tokenizer: MaskingVocabulary, rate = MASK_RATE): MaskedTokens {
  const vocab = tokenizer.vocab;
  // An id without a token ('' in a tokenizer.json's vocabulary) is never drawn either.
  const special = (t: string) => t === '' || tokenizer.isSpecial(t);
  const mask = tokenizer.specials.mask;
  if (mask === undefined) throw new RangeError('the tokenizer has no mask token ([MASK] or <mask>)');
  const candidates = tokens.filter((t) => !special(t)).length;
  const budget = Math.max(1, Math.round(candidates * rate));
  const selected = new Set<number>();
  for (const unit of units(tokens, strategy, rng, special)) {
    if (selected.size >= budget) break;
    if (!unit.length || selected.size + unit.length > budget || unit.some((i) => selected.has(i))) continue;
    for (const i of unit) selected.add(i);
  }
  const out = [...tokens];
  const labels: (string | null)[] = tokens.map(() => null);
  for (const i of [...selected].sort((a, b) => a - b)) {
    labels[i] = tokens[i]!;
    const r = rng.random();
    if (r < 0.8) out[i] = mask;
    else if (r < 0.9) {
      let random: string;
      do random = vocab[Math.floor(rng.random() * vocab.length)]!;
      while (special(random));
      out[i] = random;
    }
  }
  return { tokens: out, labels };
}
