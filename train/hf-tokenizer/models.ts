// tokenizer.json's models: WordPiece (BERT), byte-level BPE (RoBERTa,
// ModernBERT) and Unigram (SentencePiece: XLM-R, ALBERT). Each turns one
// pre-tokenized word into tokens with their character ranges in the word.

import { Fields, JsonFieldError, checkList, checkNumber } from '../../runtime/json-fields.js';

export interface Token {
  readonly id: number;
  readonly value: string;
  /** Character range in the word. */
  readonly start: number;
  readonly end: number;
}

export interface Model {
  /** Token strings by id (holes where the model has none). */
  readonly vocab: readonly (string | undefined)[];
  id(token: string): number | undefined;
  tokenize(word: string): Token[];
}

export const MODELS = ['WordPiece', 'BPE', 'Unigram'] as const;

/** The most tokens a vocabulary may hold (XLM-R has 250,002). */
const MAX_VOCAB = 4_000_000;

function vocabMap(f: Fields): Map<string, number> {
  const v = f.get('vocab');
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new JsonFieldError(f.at('vocab'), 'expected an object of token: id');
  const ids = new Map<string, number>();
  for (const [token, id] of Object.entries(v as Record<string, unknown>)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= MAX_VOCAB) throw new JsonFieldError(`${f.at('vocab')}.${JSON.stringify(token)}`, `expected an id from 0 to ${MAX_VOCAB - 1}, got ${JSON.stringify(id)}`);
    ids.set(token, id);
  }
  if (ids.size > MAX_VOCAB) throw new JsonFieldError(f.at('vocab'), `has ${ids.size} tokens, more than ${MAX_VOCAB}`);
  return ids;
}

function byId(ids: ReadonlyMap<string, number>): (string | undefined)[] {
  const vocab: (string | undefined)[] = [];
  for (const [token, id] of ids) vocab[id] = token;
  return vocab;
}

const optionalString = (f: Fields, key: string): string | undefined => (f.has(key) && f.value[key] !== null ? f.string(key) : undefined);

class WordPiece implements Model {
  readonly vocab: (string | undefined)[];
  private readonly unkId: number;

  constructor(
    private readonly ids: Map<string, number>,
    private readonly unk: string,
    private readonly prefix: string,
    private readonly maxChars: number,
    path: string,
  ) {
    const unkId = ids.get(unk);
    if (unkId === undefined) throw new JsonFieldError(path, `the unknown token ${JSON.stringify(unk)} is not in the vocabulary`);
    this.unkId = unkId;
    this.vocab = byId(ids);
  }

  id(token: string) {
    return this.ids.get(token);
  }

  /** Greedy longest match from the left; a word with a piece not in the vocabulary (or too long) is one unknown token. */
  tokenize(word: string): Token[] {
    const chars = [...word];
    const unknown = [{ id: this.unkId, value: this.unk, start: 0, end: chars.length }];
    if (chars.length > this.maxChars) return unknown;
    const tokens: Token[] = [];
    for (let start = 0; start < chars.length; ) {
      let found: Token | undefined;
      for (let end = chars.length; end > start; end--) {
        const piece = (start > 0 ? this.prefix : '') + chars.slice(start, end).join('');
        const id = this.ids.get(piece);
        if (id !== undefined) {
          found = { id, value: piece, start, end };
          break;
        }
      }
      if (!found) return unknown;
      tokens.push(found);
      start = found.end;
    }
    return tokens;
  }
}

const pairKey = (a: string, b: string) => `${a}\u0000${b}`;

class Bpe implements Model {
  readonly vocab: (string | undefined)[];
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, Token[]>();

  constructor(
    private readonly ids: Map<string, number>,
    merges: readonly [string, string][],
    private readonly options: { unk?: string; prefix?: string; suffix?: string; fuseUnk: boolean; ignoreMerges: boolean },
    path: string,
  ) {
    this.vocab = byId(ids);
    const prefixLength = options.prefix?.length ?? 0;
    merges.forEach(([a, b], rank) => {
      if (!ids.has(a) || !ids.has(b) || !ids.has(a + b.slice(prefixLength))) throw new JsonFieldError(`${path}[${rank}]`, `merges tokens that are not in the vocabulary: ${JSON.stringify(`${a} ${b}`)}`);
      this.ranks.set(pairKey(a, b), rank);
    });
  }

  id(token: string) {
    return this.ids.get(token);
  }

  tokenize(word: string): Token[] {
    if (!word) return [];
    let tokens = this.cache.get(word);
    if (!tokens) {
      tokens = this.merge(word);
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(word, tokens);
    }
    return tokens;
  }

  /** The word's characters (unknown ones as the unknown token, fused when asked), then the lowest-ranked adjacent pair merged until none is left. */
  private merge(word: string): Token[] {
    const { unk, prefix, suffix, fuseUnk, ignoreMerges } = this.options;
    const chars = [...word];
    if (ignoreMerges) {
      const id = this.ids.get(word);
      if (id !== undefined) return [{ id, value: word, start: 0, end: chars.length }];
    }
    const symbols: { value: string; id: number; start: number; end: number }[] = [];
    let pendingUnk: { start: number; end: number } | undefined;
    const flushUnk = () => {
      if (pendingUnk && unk !== undefined) symbols.push({ value: unk, id: this.ids.get(unk)!, ...pendingUnk });
      pendingUnk = undefined;
    };
    chars.forEach((c, i) => {
      let s = c;
      if (i > 0 && prefix) s = prefix + s;
      if (i === chars.length - 1 && suffix) s += suffix;
      const id = this.ids.get(s);
      if (id !== undefined) {
        flushUnk();
        symbols.push({ value: s, id, start: i, end: i + 1 });
      } else if (unk !== undefined) {
        if (pendingUnk && fuseUnk) pendingUnk.end = i + 1;
        else {
          flushUnk();
          pendingUnk = { start: i, end: i + 1 };
        }
      }
    });
    flushUnk();
    return this.mergePairs(symbols);
  }

  /**
   * Merges the lowest-ranked adjacent pair, the leftmost of equal ones,
   * until none is left: a heap of candidate pairs over a linked list of
   * symbols, so a word of n characters takes O(n log n) (a word as long as
   * the input, with no space in it, is what hostile text sends).
   */
  private mergePairs(symbols: { value: string; id: number; start: number; end: number }[]): Token[] {
    const prefix = this.options.prefix;
    const n = symbols.length;
    const next = Int32Array.from({ length: n }, (_, k) => (k + 1 < n ? k + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, k) => k - 1);
    const alive = new Uint8Array(n).fill(1);
    const heap = new PairHeap();
    const offer = (k: number) => {
      const r = next[k]!;
      if (k < 0 || r < 0) return;
      const rank = this.ranks.get(pairKey(symbols[k]!.value, symbols[r]!.value));
      if (rank !== undefined) heap.push({ rank, start: symbols[k]!.start, left: k, right: r, a: symbols[k]!.value, b: symbols[r]!.value });
    };
    for (let k = 0; k + 1 < n; k++) offer(k);
    for (let pair = heap.pop(); pair; pair = heap.pop()) {
      const { left: k, right: r } = pair;
      // A pair is stale once either side merged with something else.
      if (!alive[k] || !alive[r] || next[k] !== r || symbols[k]!.value !== pair.a || symbols[r]!.value !== pair.b) continue;
      const [a, b] = [symbols[k]!, symbols[r]!];
      const value = a.value + (prefix && b.value.startsWith(prefix) ? b.value.slice(prefix.length) : b.value);
      symbols[k] = { value, id: this.ids.get(value)!, start: a.start, end: b.end };
      alive[r] = 0;
      next[k] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = k;
      offer(prev[k]!);
      offer(k);
    }
    return symbols.filter((_, k) => alive[k]);
  }
}

/** A candidate merge: its rank, where it starts (the leftmost first among equal ranks), its symbols and their values then. */
interface Pair {
  readonly rank: number;
  readonly start: number;
  readonly left: number;
  readonly right: number;
  readonly a: string;
  readonly b: string;
}

/** A binary min-heap of candidate merges by (rank, start). */
class PairHeap {
  private readonly items: Pair[] = [];

  private static less(x: Pair, y: Pair): boolean {
    return x.rank < y.rank || (x.rank === y.rank && x.start < y.start);
  }

  push(p: Pair): void {
    const items = this.items;
    items.push(p);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!PairHeap.less(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): Pair | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length && last) {
      items[0] = last;
      for (let i = 0; ; ) {
        const [l, r] = [2 * i + 1, 2 * i + 2];
        let m = i;
        if (l < items.length && PairHeap.less(items[l]!, items[m]!)) m = l;
        if (r < items.length && PairHeap.less(items[r]!, items[m]!)) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m]!, items[i]!];
        i = m;
      }
    }
    return top;
  }
}


class Unigram implements Model {
  readonly vocab: string[];
  private readonly ids = new Map<string, number>();
  private readonly scores: number[];
  private readonly unkScore: number;
  private readonly maxPieceChars: number;

  constructor(
    pieces: readonly (readonly [string, number])[],
    private readonly unkId: number,
  ) {
    this.vocab = pieces.map(([p]) => p);
    let min = Infinity;
    let longest = 1;
    pieces.forEach(([piece, score], id) => {
      this.ids.set(piece, id); // a piece listed twice takes its last id, as HuggingFace's
      min = Math.min(min, score);
      longest = Math.max(longest, [...piece].length);
    });
    this.scores = pieces.map(([, s]) => s);
    this.unkScore = min - 10;
    this.maxPieceChars = longest;
  }

  id(token: string) {
    return this.ids.get(token);
  }

  /** Viterbi over the pieces that start at each character; characters no piece covers are unknown, and adjacent unknowns one token. */
  tokenize(word: string): Token[] {
    const chars = [...word];
    const n = chars.length;
    if (!n) return [];
    const score = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const ids = new Int32Array(n + 1);
    // Every position is reached: a piece or the unknown token covers each character.
    for (let start = 0; start < n; start++) {
      const base = score[start]!;
      let single = false;
      let piece = '';
      for (let len = 1; len <= this.maxPieceChars && start + len <= n; len++) {
        piece += chars[start + len - 1];
        const id = this.ids.get(piece);
        if (id === undefined) continue;
        const end = start + len;
        const candidate = this.scores[id]! + base;
        if (from[end] === -1 || candidate > score[end]!) [score[end], from[end], ids[end]] = [candidate, start, id];
        if (len === 1) single = true;
      }
      if (!single) {
        const candidate = this.unkScore + base;
        if (from[start + 1] === -1 || candidate > score[start + 1]!) [score[start + 1], from[start + 1], ids[start + 1]] = [candidate, start, this.unkId];
      }
    }
    const tokens: Token[] = [];
    for (let end = n; end > 0; ) {
      const start = from[end]!;
      const id = ids[end]!;
      const last = tokens[tokens.length - 1];
      if (id === this.unkId && last && last.id === this.unkId && last.start === end) tokens[tokens.length - 1] = { ...last, start, value: chars.slice(start, last.end).join('') };
      else tokens.push({ id, value: chars.slice(start, end).join(''), start, end });
      end = start;
    }
    return tokens.reverse().map((t) => ({ ...t, id: this.ids.get(t.value) ?? this.unkId }));
  }
}

function readMerges(f: Fields): [string, string][] {
  return checkList(f.get('merges'), f.at('merges'), MAX_VOCAB).map((m, i) => {
    const at = `${f.at('merges')}[${i}]`;
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2) throw new JsonFieldError(at, `expected two tokens separated by a space, got ${JSON.stringify(m.slice(0, 40))}`);
      return parts as [string, string];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw new JsonFieldError(at, 'expected "a b" or ["a", "b"]');
  });
}

export function readModel(f: Fields): Model {
  // The old format has no type: a BPE model by its merges.
  const type = f.has('type') ? f.oneOf('type', MODELS) : f.has('merges') ? 'BPE' : f.oneOf('type', MODELS);
  switch (type) {
    case 'WordPiece': {
      f.only(['type', 'unk_token', 'continuing_subword_prefix', 'max_input_chars_per_word', 'vocab']);
      return new WordPiece(vocabMap(f), f.string('unk_token'), f.has('continuing_subword_prefix') ? f.string('continuing_subword_prefix') : '##', f.has('max_input_chars_per_word') ? f.int('max_input_chars_per_word', { min: 1 }) : 100, f.at('unk_token'));
    }
    case 'BPE': {
      f.only(['type', 'dropout', 'unk_token', 'continuing_subword_prefix', 'end_of_word_suffix', 'fuse_unk', 'byte_fallback', 'ignore_merges', 'vocab', 'merges']);
      if (f.has('dropout') && f.value.dropout !== null && checkNumber(f.value.dropout, f.at('dropout')) !== 0) throw new JsonFieldError(f.at('dropout'), 'BPE dropout is not supported (tokenization would not be reproducible)');
      if (f.has('byte_fallback') && f.bool('byte_fallback')) throw new JsonFieldError(f.at('byte_fallback'), 'byte fallback is not supported');
      const ids = vocabMap(f);
      const unk = optionalString(f, 'unk_token');
      if (unk !== undefined && !ids.has(unk)) throw new JsonFieldError(f.at('unk_token'), `${JSON.stringify(unk)} is not in the vocabulary`);
      return new Bpe(ids, readMerges(f), {
        unk,
        prefix: optionalString(f, 'continuing_subword_prefix'),
        suffix: optionalString(f, 'end_of_word_suffix'),
        fuseUnk: f.has('fuse_unk') ? f.bool('fuse_unk') : false,
        ignoreMerges: f.has('ignore_merges') ? f.bool('ignore_merges') : false,
      }, f.at('merges'));
    }
    case 'Unigram': {
      f.only(['type', 'unk_id', 'vocab', 'byte_fallback']);
      if (f.has('byte_fallback') && f.bool('byte_fallback')) throw new JsonFieldError(f.at('byte_fallback'), 'byte fallback is not supported');
      const list = checkList(f.get('vocab'), f.at('vocab'), MAX_VOCAB);
      const pieces = list.map((e, i): [string, number] => {
        const at = `${f.at('vocab')}[${i}]`;
        if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string') throw new JsonFieldError(at, 'expected ["piece", score]');
        return [e[0], checkNumber(e[1], `${at}[1]`)];
      });
      if (f.value.unk_id === null || !f.has('unk_id')) throw new JsonFieldError(f.at('unk_id'), 'a Unigram model needs an unknown token id');
      return new Unigram(pieces, f.int('unk_id', { min: 0, max: pieces.length - 1 }));
    }
  }
}
