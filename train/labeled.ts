// Labeled data for fine-tuning. Sentence tasks: TSV with a header naming the
// columns text, label and optionally text_pair; or JSON lines with those
// fields. Token tasks: JSON lines {"tokens": [...], "tags": [...]}. Every
// problem names the file and line.

import { InputError } from '../runtime/errors.js';
import { WordPieceTokenizer, type TextTokenizer } from './tokenizer.js';

export interface SentenceExample {
  readonly text: string;
  readonly pair?: string;
  readonly label: string;
  readonly line: number;
}

export interface TokenExample {
  readonly tokens: readonly string[];
  readonly tags: readonly string[];
  readonly line: number;
}

function jsonLines(text: string, file: string): { value: Record<string, unknown>; line: number }[] {
  return text.split('\n').flatMap((raw, i) => {
    if (!raw.trim()) return [];
    try {
      const value = JSON.parse(raw) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error();
      return [{ value: value as Record<string, unknown>, line: i + 1 }];
    } catch {
      throw new InputError(`${file}:${i + 1}: not a JSON object`);
    }
  });
}

export function readSentenceExamples(text: string, file: string): SentenceExample[] {
  const examples: SentenceExample[] = [];
  if (/\.jsonl?$/i.test(file)) {
    for (const { value, line } of jsonLines(text, file)) {
      const { text: t, text_pair: pair, label } = value;
      if (typeof t !== 'string') throw new InputError(`${file}:${line}: missing the string field 'text'`);
      if (pair !== undefined && typeof pair !== 'string') throw new InputError(`${file}:${line}: 'text_pair' must be a string`);
      if (typeof label !== 'string' && typeof label !== 'number') throw new InputError(`${file}:${line}: missing the field 'label'`);
      examples.push({ text: t, ...(pair === undefined ? {} : { pair: pair as string }), label: String(label), line });
    }
  } else {
    const lines = text.split('\n');
    const header = (lines[0] ?? '').replace(/\r$/, '').split('\t');
    const column = (name: string) => header.indexOf(name);
    for (const required of ['text', 'label']) {
      if (column(required) < 0) throw new InputError(`${file}:1: the header has no column '${required}' (it names: ${header.join(', ')})`);
    }
    lines.slice(1).forEach((raw, i) => {
      if (!raw.trim()) return;
      const cells = raw.replace(/\r$/, '').split('\t');
      const line = i + 2;
      if (cells.length < header.length) throw new InputError(`${file}:${line}: ${cells.length} columns, the header has ${header.length}`);
      const pair = column('text_pair') >= 0 ? cells[column('text_pair')] : undefined;
      examples.push({ text: cells[column('text')]!, ...(pair === undefined ? {} : { pair }), label: cells[column('label')]!, line });
    });
  }
  if (!examples.length) throw new InputError(`${file} has no examples`);
  return examples;
}

export function readTokenExamples(text: string, file: string): TokenExample[] {
  const examples = jsonLines(text, file).map(({ value, line }) => {
    const { tokens, tags } = value;
    const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (!strings(tokens) || !strings(tags)) throw new InputError(`${file}:${line}: expected {"tokens": [strings], "tags": [strings]}`);
    if ((tokens as string[]).length !== (tags as string[]).length) throw new InputError(`${file}:${line}: ${(tokens as string[]).length} tokens but ${(tags as string[]).length} tags`);
    return { tokens: tokens as string[], tags: tags as string[], line };
  });
  if (!examples.length) throw new InputError(`${file} has no examples`);
  return examples;
}

/** Label names in sorted order: their index is the class id. */
export function labelSet(labels: Iterable<string>): string[] {
  return [...new Set(labels)].sort();
}

const labelIndexes = new WeakMap<readonly string[], ReadonlyMap<string, number>>();

/** A label's id among the training labels, or the set `what` names (looked up in a map: a set may hold tens of thousands of labels). */
export function labelId(labels: readonly string[], label: string, file: string, line: number, what = 'training labels'): number {
  let index = labelIndexes.get(labels);
  if (!index) labelIndexes.set(labels, (index = new Map(labels.map((l, i) => [l, i]))));
  const id = index.get(label);
  if (id === undefined) {
    const shown = labels.slice(0, 8).map((l) => `'${l.slice(0, 40)}'`).join(', ');
    throw new InputError(`${file}:${line}: label '${label.slice(0, 80)}' is not one of the ${labels.length.toLocaleString('en-US')} ${what} (${shown}${labels.length > 8 ? ', …' : ''})`);
  }
  return id;
}

export interface EncodedBatchRow {
  readonly input_ids: number[];
  readonly token_type_ids: number[];
  readonly attention_mask: number[];
  /** A class id (sentence tasks) or one per position, -100 where no tag applies (token tasks). */
  readonly labels: number | number[];
}

export function encodeSentence(tokenizer: TextTokenizer, e: SentenceExample, label: number, seq: number): EncodedBatchRow {
  const enc = tokenizer.encode(e.text, { ...(e.pair === undefined ? {} : { pair: e.pair }), maxLength: seq, pad: true });
  return { input_ids: enc.input_ids, token_type_ids: enc.token_type_ids, attention_mask: enc.attention_mask, labels: label };
}

/**
 * Each word's tag goes on its first token, as HuggingFace's token-classification
 * examples do: WordPiece's pieces of each word; for a tokenizer.json, the
 * words joined by spaces and encoded whole, each token given to the word its
 * character range starts in (special and padding tokens, and the later
 * tokens of a word, -100).
 */
export function encodeTokens(tokenizer: TextTokenizer, e: TokenExample, tagIds: readonly number[], seq: number): EncodedBatchRow {
  if (!(tokenizer instanceof WordPieceTokenizer)) return encodeTokensByOffsets(tokenizer, e, tagIds, seq);
  const pieces: string[] = [];
  const labels: number[] = [];
  e.tokens.forEach((word, i) => {
    const wordPieces = tokenizer.tokenize(word);
    wordPieces.forEach((p, k) => {
      pieces.push(p);
      labels.push(k === 0 ? tagIds[i]! : -100);
    });
  });
  const kept = pieces.slice(0, seq - 2);
  const tokens = ['[CLS]', ...kept, '[SEP]'];
  const ids = tokens.map((t) => tokenizer.id(t) ?? tokenizer.id('[UNK]')!);
  const pad = seq - tokens.length;
  const padId = tokenizer.id('[PAD]') ?? 0;
  return {
    input_ids: [...ids, ...new Array<number>(pad).fill(padId)],
    token_type_ids: new Array<number>(seq).fill(0),
    attention_mask: [...tokens.map(() => 1), ...new Array<number>(pad).fill(0)],
    labels: [-100, ...labels.slice(0, seq - 2), -100, ...new Array<number>(pad).fill(-100)],
  };
}

function encodeTokensByOffsets(tokenizer: TextTokenizer, e: TokenExample, tagIds: readonly number[], seq: number): EncodedBatchRow {
  const starts: number[] = [];
  let text = '';
  for (const word of e.tokens) {
    if (text) text += ' ';
    starts.push(text.length);
    text += word;
  }
  const enc = tokenizer.encode(text, { maxLength: seq, pad: true });
  if (!enc.offsets) throw new RangeError('token classification needs the tokenizer to give each token its character range');
  let [w, previous] = [0, -1];
  const labels = enc.offsets.map(([from, to], t) => {
    if (to <= from || enc.attention_mask[t] === 0) return -100;
    // The last word starting at or before the token's first character (tokens come in order).
    while (w + 1 < starts.length && starts[w + 1]! <= from) w++;
    const first = w !== previous;
    previous = w;
    return first ? tagIds[w]! : -100;
  });
  return { input_ids: enc.input_ids, token_type_ids: enc.token_type_ids, attention_mask: enc.attention_mask, labels };
}
