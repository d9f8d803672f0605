// Fine-tuning examples through a tokenizer.json (byte-level BPE, RoBERTa's
// layout): a word's tag on its first token only, special and padding tokens
// unlabelled; a question-answering pair in the tokenizer's own template, the
// answer's span on the context's tokens its characters meet, and an answer
// cut off by the length left out.

import { describe, expect, it } from 'vitest';
import { bpeTokenizer } from '../../bench/fuzz/kinds.js';
import { JsonTokenizer } from '../../train/hf-tokenizer/tokenizer.js';
import { encodeTokens } from '../../train/labeled.js';
import { encodeQa } from '../../train/squad.js';

const tokenizer = JsonTokenizer.fromJson(JSON.stringify(bpeTokenizer()));

describe('fine-tuning examples through a tokenizer.json', () => {
  it("puts each word's tag on its first token", () => {
    // 'the' at the start is three bytes (no merge without its space); ' cat' one token; 'ran,' two (Ġran and ,).
    const row = encodeTokens(tokenizer, { tokens: ['the', 'cat', 'ran,', 'fast'], tags: [], line: 1 }, [1, 2, 3, 4], 12);
    const tokens = row.input_ids.map((id) => tokenizer.vocab[id]);
    expect(tokens.slice(0, 9)).toEqual(['<s>', 't', 'h', 'e', 'Ġcat', 'Ġran', ',', 'Ġfast', '</s>']);
    expect(row.labels).toEqual([-100, 1, -100, -100, 2, 3, -100, 4, -100, -100, -100, -100]);
    expect(row.attention_mask).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
  });

  it("finds the answer's tokens in the context, after the question and the template's separators", () => {
    const context = 'the dog sat . the cat ran fast';
    const e = { id: 'q', question: 'who ran ?', context, answer: 'cat', answerStart: context.indexOf('cat'), answers: ['cat'] };
    const row = encodeQa(tokenizer, e, 24);
    const tokens = row.input_ids.map((id) => tokenizer.vocab[id]);
    // RoBERTa's pair: <s> question </s></s> context </s>.
    expect(tokens[row.contextFrom - 1]).toBe('</s>');
    expect(tokens.slice(row.contextFrom, row.contextTo).join('')).toBe('theĠdogĠsatĠ.ĠtheĠcatĠranĠfast');
    expect(row.end).toBe(row.start);
    expect(tokens[row.start!]).toBe('Ġcat');
    // Cut off: the context ends before the answer.
    expect(encodeQa(tokenizer, e, 12).start).toBeUndefined();
  });
});
