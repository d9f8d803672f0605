// Pretraining examples as the model takes them: token ids padded to the
// sequence length, with HuggingFace's field names.

import { vocabularyToken, type Instance } from './corpus.js';
import type { MaskedTokens } from './masking.js';
import type { TextTokenizer } from './tokenizer.js';

/** The label of positions that are not predicted (HuggingFace's and PyTorch's ignore_index). */
export const IGNORE_INDEX = -100;

export interface PretrainingExample {
  readonly input_ids: number[];
  readonly token_type_ids: number[];
  readonly attention_mask: number[];
  /** The original token id at masked positions, -100 elsewhere. */
  readonly labels: number[];
  /** Sentence pairs only (next-sentence prediction). */
  readonly next_sentence_label?: number;
}

export function encodeExample(tokenizer: TextTokenizer, instance: Instance, masked: MaskedTokens, seqLength: number): PretrainingExample {
  const id = (t: string) => {
    const found = tokenizer.id(vocabularyToken(t)) ?? tokenizer.id('[UNK]');
    if (found === undefined) throw new RangeError(`the token ${JSON.stringify(t)} is not in the tokenizer's vocabulary`);
    return found;
  };
  const pad = seqLength - masked.tokens.length;
  if (pad < 0) throw new RangeError(`instance of ${masked.tokens.length} tokens is longer than ${seqLength}`);
  const padId = tokenizer.id(tokenizer.specials.pad ?? '[PAD]') ?? 0;
  return {
    input_ids: [...masked.tokens.map(id), ...new Array<number>(pad).fill(padId)],
    token_type_ids: [...instance.segmentIds, ...new Array<number>(pad).fill(0)],
    attention_mask: [...masked.tokens.map(() => 1), ...new Array<number>(pad).fill(0)],
    labels: [...masked.labels.map((t) => (t === null ? IGNORE_INDEX : id(t))), ...new Array<number>(pad).fill(IGNORE_INDEX)],
    ...(instance.isRandomNext === undefined ? {} : { next_sentence_label: instance.isRandomNext }),
  };
}
