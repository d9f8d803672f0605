// The masked-LM head's answer: the likeliest tokens at each [MASK], with
// their softmax probabilities. Shared by `tcc run --text` and the web page.

export interface MaskPrediction {
  readonly position: number;
  readonly top: readonly { readonly id: number; readonly token: string; readonly probability: number }[];
}

/** The `k` likeliest tokens at each [MASK] of `tokens`, from logits [seq, vocab] (row-major). */
export function maskPredictions(vocab: readonly string[], tokens: readonly string[], logits: Float32Array | Int32Array, vocabSize: number, k = 5): MaskPrediction[] {
  return tokens.flatMap((token, position) => {
    if (token !== '[MASK]') return [];
    const row = logits.subarray(position * vocabSize, (position + 1) * vocabSize);
    const ids = [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, k);
    const max = row[ids[0]!]!;
    let total = 0;
    for (const v of row) total += Math.exp(v - max);
    return [{ position, top: ids.map((id) => ({ id, token: vocab[id] ?? `#${id}`, probability: Math.exp(row[id]! - max) / total })) }];
  });
}
