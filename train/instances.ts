// Pretraining examples as the model takes them: token ids padded to the
// sequence length, with HuggingFace's field names.

import { vocabularyToken, type PairInstance } from './corpus.js';
import type { MaskedTokens } from './masking.js';
import type { WordPieceTokenizer } from './tokenizer.js';

/** The label of positions that are not predicted (HuggingFace's and PyTorch's ignore_index). */
export const IGNORE_INDEX = -100;

export interface PretrainingExample {
  readonly input_ids: number[];
  readonly token_type_ids: number[];
  readonly attention_mask: number[];
  /** The original token id at masked positions, -100 elsewhere. */
  readonly labels: number[];
  readonly next_sentence_label: number;
}

export function encodeExample(tokenizer: WordPieceTokenizer, instance: PairInstance, masked: MaskedTokens, seqLength: number): PretrainingExample {
  const id = (t: string) => tokenizer.id(vocabularyToken(t)) ?? tokenizer.id('[UNK]')!;
  const pad = seqLength - masked.tokens.length;
  if (pad < 0) throw new RangeError(`instance of ${masked.tokens.length} tokens is longer than ${seqLength}`);
  const padId = tokenizer.id('[PAD]') ?? 0;
  return {
    input_ids: [...masked.tokens.map(id), ...new Array<number>(pad).fill(padId)],
    token_type_ids: [...instance.segmentIds, ...new Array<number>(pad).fill(0)],
    attention_mask: [...masked.tokens.map(() => 1), ...new Array<number>(pad).fill(0)],
    labels: [...masked.labels.map((t) => (t === null ? IGNORE_INDEX : id(t))), ...new Array<number>(pad).fill(IGNORE_INDEX)],
    next_sentence_label: instance.isRandomNext,
  };
}
