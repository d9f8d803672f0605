// Training a WordPiece vocabulary, as HuggingFace's WordPieceTrainer does:
// count the corpus's words (after BERT's basic tokenization), start from
// every character (a word's first as is, the rest as "##c"), then merge the
// most frequent adjacent pair of pieces again and again (ties by first
// seen), until the vocabulary has the size asked for. Pair counts are kept
// incrementally: a merge only revisits the words that hold the pair.

import { InputError } from '../runtime/errors.js';
import { WordPieceTokenizer, type TokenizerOptions } from './tokenizer.js';

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

const joinPieces = (a: string, b: string) => a + (b.startsWith('##') ? b.slice(2) : b);
const pairKey = (a: string, b: string) => `${a}\u0000${b}`;

export function trainVocabulary(text: string, size: number, options: TokenizerOptions, minFrequency = 2): string[] {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) for (const w of WordPieceTokenizer.basicTokens(line, options)) counts.set(w, (counts.get(w) ?? 0) + 1);
  if (!counts.size) throw new InputError('the corpus has no words to learn a vocabulary from');
  const words = [...counts.keys()];
  const freq = words.map((w) => counts.get(w)!);
  const pieces = words.map((w) => [...w].map((ch, i) => (i === 0 ? ch : `##${ch}`)));

  const vocab: string[] = [...SPECIAL_TOKENS];
  const seen = new Set<string>(vocab);
  const add = (t: string) => {
    if (!seen.has(t)) {
      seen.add(t);
      vocab.push(t);
    }
  };
  for (const p of pieces) p.forEach(add);

  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const pairOrder = new Map<string, number>();
  const count = (w: number, sign: 1 | -1) => {
    const p = pieces[w]!;
    for (let i = 0; i + 1 < p.length; i++) {
      const key = pairKey(p[i]!, p[i + 1]!);
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * freq[w]!);
      if (sign > 0) {
        if (!pairWords.has(key)) pairWords.set(key, new Set());
        pairWords.get(key)!.add(w);
        if (!pairOrder.has(key)) pairOrder.set(key, pairOrder.size);
      }
    }
  };
  words.forEach((_, w) => count(w, 1));

  while (vocab.length < size) {
    let best: string | undefined;
    let bestCount = minFrequency - 1;
    for (const [key, c] of pairCount) {
      if (c > bestCount || (c === bestCount && best !== undefined && pairOrder.get(key)! < pairOrder.get(best)!)) [best, bestCount] = [key, c];
    }
    if (best === undefined) break;
    const [a, b] = best.split('\u0000') as [string, string];
    const merged = joinPieces(a, b);
    for (const w of pairWords.get(best) ?? []) {
      count(w, -1);
      const p = pieces[w]!;
      const next: string[] = [];
      for (let i = 0; i < p.length; i++) {
        if (i + 1 < p.length && p[i] === a && p[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(p[i]!);
      }
      pieces[w] = next;
      count(w, 1);
    }
    pairCount.delete(best);
    add(merged);
  }
  return vocab;
}
