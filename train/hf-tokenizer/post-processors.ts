// tokenizer.json's post-processors: the special tokens around one sequence or
// a pair ([CLS] A [SEP] B [SEP], <s> A </s></s> B </s>), the type ids, and
// for byte-level models the offsets trimmed of the spaces tokens carry.

import { Fields, JsonFieldError, checkList, checkString } from '../../runtime/json-fields.js';
import { BYTE_CHARS } from './unicode.js';
import { isWhitespace } from './unicode.js';

/** One sequence's tokens, or the whole encoding after post-processing. */
export interface Encoded {
  ids: number[];
  tokens: string[];
  offsets: [number, number][];
  typeIds: number[];
}

export interface PostProcessor {
  /** How many special tokens it adds to one sequence or a pair (what truncation leaves room for). */
  added(pair: boolean): number;
  /** The sequences (one or two) to what follows: the joined encoding, or the sequences still apart. */
  process(sequences: Encoded[]): Encoded[];
  /** The special tokens it writes: the first is the sequence's start ([CLS], <s>), the last its end ([SEP], </s>). */
  readonly specials: readonly string[];
}

export const POST_PROCESSORS = ['TemplateProcessing', 'RobertaProcessing', 'BertProcessing', 'ByteLevel', 'Sequence'] as const;

const SPACE_CHAR = BYTE_CHARS[32]!;

/** Byte-level offsets without the spaces a token starts or ends with (HuggingFace's `process_offsets`). */
function trimOffsets(e: Encoded, addPrefixSpace: boolean): void {
  e.tokens.forEach((token, i) => {
    const chars = [...token];
    const space = (c: string) => c === SPACE_CHAR || isWhitespace(c);
    let leading = 0;
    while (leading < chars.length && space(chars[leading]!)) leading++;
    let trailing = 0;
    while (trailing < chars.length && space(chars[chars.length - 1 - trailing]!)) trailing++;
    const o = e.offsets[i]!;
    if (leading > 0) {
      if ((i === 0 || o[0] === 0) && addPrefixSpace && leading === 1) leading = 0;
      o[0] = Math.min(o[0] + leading, o[1]);
    }
    if (trailing > 0 && o[1] >= trailing) o[1] = Math.max(o[1] - trailing, o[0]);
  });
}

function concat(parts: Encoded[]): Encoded {
  return { ids: parts.flatMap((p) => p.ids), tokens: parts.flatMap((p) => p.tokens), offsets: parts.flatMap((p) => p.offsets), typeIds: parts.flatMap((p) => p.typeIds) };
}

const special = (token: string, id: number, typeId: number): Encoded => ({ ids: [id], tokens: [token], offsets: [[0, 0]], typeIds: [typeId] });
const typed = (e: Encoded, typeId: number): Encoded => ({ ...e, typeIds: e.typeIds.map(() => typeId) });

type Piece = { sequence: 'A' | 'B'; typeId: number } | { special: string; typeId: number };

function templatePieces(v: unknown, path: string): Piece[] {
  return checkList(v, path, 64).map((p, i) => {
    const f = Fields.of(p, `${path}[${i}]`);
    if (f.has('Sequence')) {
      const s = f.object('Sequence').only(['id', 'type_id']);
      return { sequence: s.oneOf('id', ['A', 'B']), typeId: s.int('type_id', { min: 0, max: 1023 }) };
    }
    const s = f.object('SpecialToken').only(['id', 'type_id']);
    return { special: s.string('id'), typeId: s.int('type_id', { min: 0, max: 1023 }) };
  });
}

function template(f: Fields): PostProcessor {
  f.only(['type', 'single', 'pair', 'special_tokens']);
  const single = templatePieces(f.get('single'), f.at('single'));
  const pair = templatePieces(f.get('pair'), f.at('pair'));
  const table = f.object('special_tokens');
  const specials = new Map<string, Encoded>();
  for (const name of Object.keys(table.value)) {
    const t = table.object(name).only(['id', 'ids', 'tokens']);
    const ids = t.ints('ids', { min: 0 }, 64);
    const tokens = t.list('tokens', 64).map((s, i) => checkString(s, `${t.at('tokens')}[${i}]`));
    if (ids.length !== tokens.length) throw new JsonFieldError(t.path, `has ${ids.length} ids and ${tokens.length} tokens`);
    specials.set(name, { ids, tokens, offsets: ids.map(() => [0, 0]), typeIds: ids.map(() => 0) });
  }
  for (const [which, pieces] of [['single', single], ['pair', pair]] as const) {
    pieces.forEach((p, i) => {
      if ('special' in p && !specials.has(p.special)) throw new JsonFieldError(`${f.at(which)}[${i}]`, `names the special token ${JSON.stringify(p.special)}, which special_tokens does not define`);
    });
  }
  const count = (pieces: Piece[]) => pieces.reduce((n, p) => n + ('special' in p ? specials.get(p.special)!.ids.length : 0), 0);
  return {
    added: (isPair) => count(isPair ? pair : single),
    specials: single.flatMap((p) => ('special' in p ? specials.get(p.special)!.tokens : [])),
    process([a, b]) {
      const parts = (b ? pair : single).map((p) => {
        if ('special' in p) return typed(structuredClone(specials.get(p.special)!), p.typeId);
        const e = p.sequence === 'A' ? a : b;
        return e ? typed(e, p.typeId) : { ids: [], tokens: [], offsets: [], typeIds: [] };
      });
      return [concat(parts)];
    },
  };
}

function tokenAndId(f: Fields, key: string): [string, number] {
  const v = f.list(key, 2);
  if (v.length !== 2) throw new JsonFieldError(f.at(key), 'expected ["token", id]');
  return [checkString(v[0], `${f.at(key)}[0]`), Fields.of({ id: v[1] }, f.at(key)).int('id', { min: 0 })];
}

export function readPostProcessor(v: unknown, path: string): PostProcessor | undefined {
  if (v === null) return undefined;
  const f = Fields.of(v, path);
  const type = f.oneOf('type', POST_PROCESSORS);
  switch (type) {
    case 'TemplateProcessing':
      return template(f);
    case 'RobertaProcessing':
    case 'BertProcessing': {
      f.only(['type', 'sep', 'cls', 'trim_offsets', 'add_prefix_space']);
      const [sep, sepId] = tokenAndId(f, 'sep');
      const [cls, clsId] = tokenAndId(f, 'cls');
      const roberta = type === 'RobertaProcessing';
      const trim = roberta && (f.has('trim_offsets') ? f.bool('trim_offsets') : true);
      const prefixSpace = f.has('add_prefix_space') ? f.bool('add_prefix_space') : true;
      return {
        added: (pair) => (pair ? (roberta ? 4 : 3) : 2),
        specials: [cls, sep],
        process([a, b]) {
          if (trim) [a, b].forEach((e) => e && trimOffsets(e, prefixSpace));
          const first = concat([special(cls, clsId, 0), typed(a!, 0), special(sep, sepId, 0)]);
          if (!b) return [first];
          const secondType = roberta ? 0 : 1;
          return [concat([first, ...(roberta ? [special(sep, sepId, 0)] : []), typed(b, secondType), special(sep, sepId, secondType)])];
        },
      };
    }
    case 'ByteLevel': {
      f.only(['type', 'add_prefix_space', 'trim_offsets', 'use_regex']);
      const trim = f.has('trim_offsets') ? f.bool('trim_offsets') : true;
      const prefixSpace = f.has('add_prefix_space') ? f.bool('add_prefix_space') : true;
      return {
        added: () => 0,
        specials: [],
        process(sequences) {
          if (trim) sequences.forEach((e) => trimOffsets(e, prefixSpace));
          return sequences;
        },
      };
    }
    case 'Sequence': {
      f.only(['type', 'processors']);
      const parts = checkList(f.get('processors'), f.at('processors'), 16).map((p, i) => readPostProcessor(p, `${f.at('processors')}[${i}]`)!).filter(Boolean);
      return {
        added: (pair) => parts.reduce((n, p) => n + p.added(pair), 0),
        specials: parts.flatMap((p) => p.specials),
        process: (sequences) => parts.reduce((list, p) => p.process(list), sequences),
      };
    }
  }
}
