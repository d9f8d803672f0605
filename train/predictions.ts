// The masked-LM head's answer: the likeliest tokens at each [MASK], with
// their softmax probabilities. Shared by `tcc run --text` and the web page.

export interface MaskPrediction {
  readonly position: number;
  readonly top: readonly { readonly id: number; readonly token: string; readonly probability: number }[];
}

/** The `k` likeliest tokens at each mask token ([MASK], <mask>) of `tokens`, from logits [seq, vocab] (row-major). */
export function maskPredictions(vocab: readonly string[], tokens: readonly string[], logits: Float32Array | Int32Array, vocabSize: number, k = 5, mask = '[MASK]'): MaskPrediction[] {
  return tokens.flatMap((token, position) => {
    if (token !== mask) return [];
    const row = logits.subarray(position * vocabSize, (position + 1) * vocabSize);
    const ids = [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, k);
    const max = row[ids[0]!]!;
    let total = 0;
    for (const v of row) total += Math.exp(v - max);
    return [{ position, top: ids.map((id) => ({ id, token: vocab[id] ?? `#${id}`, probability: Math.exp(row[id]! - max) / total })) }];
  });
}

/** Softmax probabilities of one row of logits. */
function softmax(row: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  const e = Array.from(row, (v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

export interface LabelScore {
  readonly label: string;
  readonly probability: number;
}

/** A classifier's labels for each row of logits [rows, classes], likeliest first; `names` from config.json's id2label. */
export function classify(logits: Float32Array | Int32Array, classes: number, names: (id: number) => string, k = 3): LabelScore[][] {
  const rows: LabelScore[][] = [];
  for (let r = 0; r * classes < logits.length; r++) {
    const p = softmax(logits.subarray(r * classes, (r + 1) * classes));
    rows.push([...p.keys()].sort((a, b) => p[b]! - p[a]! || a - b).slice(0, k).map((id) => ({ label: names(id), probability: p[id]! })));
  }
  return rows;
}

/** Words from WordPiece tokens: continuations ("##ing") joined to the piece before. */
export function joinPieces(tokens: readonly string[]): string {
  return tokens.reduce((text, t) => (t.startsWith('##') ? text + t.slice(2) : text ? `${text} ${t}` : t), '');
}

export interface Span {
  readonly start: number;
  readonly end: number;
  readonly score: number;
}

/**
 * The best answer span of extractive question answering, as HuggingFace's
 * pipeline picks it: start ≤ end, at most `maxTokens` long, inside the
 * context (token type 1, not a special token), by start + end logit.
 */
export function bestSpan(start: ArrayLike<number>, end: ArrayLike<number>, tokens: readonly string[], types: readonly number[], maxTokens = 30): Span | undefined {
  const inContext = (i: number) => types[i] === 1 && tokens[i] !== '[SEP]' && tokens[i] !== '[PAD]';
  let best: Span | undefined;
  for (let i = 0; i < tokens.length; i++) {
    if (!inContext(i)) continue;
    for (let j = i; j < Math.min(tokens.length, i + maxTokens); j++) {
      if (!inContext(j)) break;
      const score = start[i]! + end[j]!;
      if (!best || score > best.score) best = { start: i, end: j, score };
    }
  }
  return best;
}
