// Extractive question answering data, SQuAD-style JSON:
// {"data": [{"paragraphs": [{"context": "...", "qas": [{"id": "...", "question": "...",
//   "answers": [{"text": "...", "answer_start": 12}]}]}]}]}
// Encoded as BERT's run_squad does without a document stride: [CLS] question
// [SEP] context [SEP], the context cut to fit; the answer's character span
// becomes the first and last WordPiece of the words it covers. A training
// example whose answer is cut off is left out.

import { InputError } from '../runtime/errors.js';
import type { EncodedBatchRow } from './labeled.js';
import { WordPieceTokenizer, type TextTokenizer } from './tokenizer.js';

export interface QaExample {
  readonly question: string;
  readonly context: string;
  readonly answer: string;
  readonly answerStart: number;
}

type Json = Readonly<Record<string, unknown>>;

const isRecord = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A list field of a SQuAD record (absent: empty); anything else is an error at `where`. */
function list(value: unknown, where: string, what: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InputError(`${where}: "${what}" must be a list`);
  return value;
}

export function readSquad(text: string, file: string): QaExample[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(json) || !Array.isArray(json['data'])) throw new InputError(`${file}: expected SQuAD JSON with a "data" list`);
  const examples: QaExample[] = [];
  json['data'].forEach((article: unknown, a) => {
    if (!isRecord(article)) throw new InputError(`${file}: data[${a}] must be an object with "paragraphs"`);
    list(article['paragraphs'], `${file}: data[${a}]`, 'paragraphs').forEach((paragraph, p) => {
      const where = `${file}: data[${a}].paragraphs[${p}]`;
      if (!isRecord(paragraph) || typeof paragraph['context'] !== 'string') throw new InputError(`${where}: missing the string "context"`);
      const context = paragraph['context'];
      for (const [q, qa] of list(paragraph['qas'], where, 'qas').entries()) {
        const answer = isRecord(qa) && Array.isArray(qa['answers']) ? (qa['answers'][0] as unknown) : undefined;
        if (!isRecord(qa) || typeof qa['question'] !== 'string' || !isRecord(answer) || typeof answer['text'] !== 'string' || !Number.isInteger(answer['answer_start']) || (answer['answer_start'] as number) < 0) {
          throw new InputError(`${where}.qas[${q}]: needs "question" and "answers": [{"text", "answer_start" (a character index)}]`);
        }
        const [answerText, answerStart] = [answer['text'], answer['answer_start'] as number];
        if (context.slice(answerStart, answerStart + answerText.length) !== answerText) {
          throw new InputError(`${where}.qas[${q}]: the answer "${answerText}" is not at character ${answerStart} of the context`);
        }
        examples.push({ question: qa['question'], context, answer: answerText, answerStart });
      }
    });
  });
  if (!examples.length) throw new InputError(`${file} has no questions`);
  return examples;
}

export interface EncodedQa extends EncodedBatchRow {
  /** Token positions of the answer, or undefined when the context was cut before it. */
  readonly start?: number;
  readonly end?: number;
  /** Token range of the context, where answers may lie. */
  readonly contextFrom: number;
  readonly contextTo: number;
}

/** Context tokens with the whitespace word each came from, and each word's character span. */
function contextTokens(tokenizer: WordPieceTokenizer, context: string): { tokens: string[]; wordOf: number[]; spans: [number, number][] } {
  const spans: [number, number][] = [];
  for (const m of context.matchAll(/\S+/g)) spans.push([m.index!, m.index! + m[0].length]);
  const tokens: string[] = [];
  const wordOf: number[] = [];
  spans.forEach(([from, to], w) => {
    for (const t of tokenizer.tokenize(context.slice(from, to))) {
      tokens.push(t);
      wordOf.push(w);
    }
  });
  return { tokens, wordOf, spans };
}

/**
 * A question and its context as one sequence with the answer's token span:
 * WordPiece's pieces of the context's words (the question kept to half the
 * length); for a tokenizer.json, the pair encoded by its own template
 * (truncated longest first), the context's tokens told from the question's
 * by the special tokens between them, the answer's tokens those whose
 * character ranges meet it.
 */
export function encodeQa(tokenizer: TextTokenizer, e: QaExample, seq: number): EncodedQa {
  if (!(tokenizer instanceof WordPieceTokenizer)) return encodeQaByOffsets(tokenizer, e, seq);
  const question = tokenizer.tokenize(e.question).slice(0, Math.floor(seq / 2));
  const { tokens, wordOf, spans } = contextTokens(tokenizer, e.context);
  const room = seq - question.length - 3;
  const kept = tokens.slice(0, Math.max(0, room));
  const offset = question.length + 2;
  const startWord = spans.findIndex(([, to]) => to > e.answerStart);
  const endChar = e.answerStart + e.answer.length - 1;
  const endWord = spans.findIndex(([, to]) => to > endChar);
  const first = wordOf.indexOf(startWord);
  const last = wordOf.lastIndexOf(endWord);
  const inside = first >= 0 && last >= first && last < kept.length;
  const all = ['[CLS]', ...question, '[SEP]', ...kept, '[SEP]'];
  const pad = seq - all.length;
  const padId = tokenizer.id('[PAD]') ?? 0;
  return {
    input_ids: [...all.map((t) => tokenizer.id(t) ?? tokenizer.id('[UNK]')!), ...new Array<number>(pad).fill(padId)],
    token_type_ids: [...new Array<number>(offset).fill(0), ...new Array<number>(kept.length + 1).fill(1), ...new Array<number>(pad).fill(0)],
    attention_mask: [...all.map(() => 1), ...new Array<number>(pad).fill(0)],
    labels: inside ? [offset + first, offset + last] : [0, 0],
    ...(inside ? { start: offset + first, end: offset + last } : {}),
    contextFrom: offset,
    contextTo: offset + kept.length,
  };
}

function encodeQaByOffsets(tokenizer: TextTokenizer, e: QaExample, seq: number): EncodedQa {
  const enc = tokenizer.encode(e.question, { pair: e.context, maxLength: seq, pad: true });
  if (!enc.offsets) throw new RangeError('question answering needs the tokenizer to give each token its character range');
  // Real tokens make two runs, the question's and the context's, with special tokens between and around them.
  const real = enc.tokens.map((t, i) => enc.attention_mask[i] === 1 && !tokenizer.isSpecial(t));
  const questionEnd = real.indexOf(false, real.indexOf(true));
  const contextFrom = real.indexOf(true, questionEnd);
  const contextTo = contextFrom < 0 ? questionEnd : real.indexOf(false, contextFrom) < 0 ? real.length : real.indexOf(false, contextFrom);
  const [answerFrom, answerTo] = [e.answerStart, e.answerStart + e.answer.length];
  let [start, end] = [-1, -1];
  for (let t = Math.max(contextFrom, 0); t < contextTo; t++) {
    const [from, to] = enc.offsets[t]!;
    if (to <= answerFrom || from >= answerTo) continue;
    if (start < 0) start = t;
    end = t;
  }
  // An answer cut off by the length (its last character beyond the last context token) is left out.
  const inside = start >= 0 && enc.offsets[end]![1] >= answerTo;
  return {
    input_ids: enc.input_ids, token_type_ids: enc.token_type_ids, attention_mask: enc.attention_mask,
    labels: inside ? [start, end] : [0, 0],
    ...(inside ? { start, end } : {}),
    contextFrom: Math.max(contextFrom, 0),
    contextTo,
  };
}
