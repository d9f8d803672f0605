// Mutations of a valid input file, drawn by fast-check: text edits with a
// dictionary of tokens a hostile or careless user would type, edits of a
// JSON document's values at any path, and edits of a safetensors file's
// header (its JSON and its length field) and data. A case is a list of edits
// applied in order to the seed file, so it is reproducible from its seed.

import fc from 'fast-check';

/** A position in the text as a fraction of its length, so that edits apply to any content. */
type At = number;

export type Edit =
  | { readonly op: 'delete'; readonly at: At; readonly length: number }
  | { readonly op: 'insert'; readonly at: At; readonly text: string }
  | { readonly op: 'duplicate'; readonly at: At; readonly length: number; readonly times: number }
  | { readonly op: 'truncate'; readonly at: At }
  | { readonly op: 'number'; readonly which: At; readonly value: string }
  | { readonly op: 'swap-lines'; readonly a: At; readonly b: At }
  | { readonly op: 'json-set'; readonly path: At; readonly value: unknown }
  | { readonly op: 'json-delete'; readonly path: At }
  | { readonly op: 'json-rename'; readonly path: At; readonly key: string }
  | { readonly op: 'header-length'; readonly value: number }
  | { readonly op: 'bytes'; readonly at: At; readonly bytes: readonly number[] };

/** Text that breaks parsers, tokenizers and size checks. */
const TOKENS = [
  '{', '}', '[', ']', '(', ')', ':', ',', '- ', '"', "'", '\n', '\t', '  ', '#', '\\', '//', '/*', '=', '.', '..', '/',
  '*a', '&a ', '<<: *a', '!!js/function', '!!binary', '%YAML 1.2\n', '---\n', '...\n', '? ',
  '0', '-1', '1e9', '1e12', '1e308', '1e999', '-0', '0.5', '2147483648', '9007199254740993', '0x10', 'NaN', '.inf', '-.inf', 'Infinity',
  'null', '~', 'true', 'no', '""', '[]', '{}',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype',
  'extends: /dev/zero\n', '/dev/zero', '/proc/self/environ', '../../../etc/passwd',
  '\u0000', '\uFEFF', '\u202E', '\uD800', 'é', '𝔘', '[MASK]', '[UNK]', '##', '\r\n',
];

/** Values a JSON field could be given instead of its own. */
const JSON_VALUES: readonly unknown[] = [
  0, -1, 1, 2, 0.5, -0.5, 1e9, 1e12, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53 + 2, 1e-320,
  '', 'x', 'constructor', '__proto__', 'toString', 'F32', 'F64', 'I64', 'U8', 'gelu', 'f32', 'i32', '1', 'NaN', 'x'.repeat(5000),
  null, true, false, [], {}, [0], [-1], [1e9, 1e9], [[1, 2], [3]], [0.5], ['a'], { a: 1 }, JSON.parse('{"__proto__": {"x": 1}, "constructor": 1}'),
  nest(200),
];

function nest(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const at = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

function textEdit(words: readonly string[]): fc.Arbitrary<Edit> {
  const token = fc.constantFrom(...TOKENS, ...words);
  return fc.oneof(
    fc.record({ op: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ op: fc.constant('insert' as const), at, text: fc.oneof(token, fc.array(token, { minLength: 2, maxLength: 6 }).map((t) => t.join(' ')), fc.string({ maxLength: 8, unit: 'binary' })) }),
    fc.record({ op: fc.constant('duplicate' as const), at, length: fc.integer({ min: 1, max: 200 }), times: fc.integer({ min: 1, max: 50 }) }),
    fc.record({ op: fc.constant('truncate' as const), at }),
    fc.record({ op: fc.constant('number' as const), which: at, value: fc.constantFrom('0', '-1', '1e9', '1e12', '1e999', '0.5', '-0', '2147483648', '99999999999999999999', 'NaN', '1e-9') }),
    fc.record({ op: fc.constant('swap-lines' as const), a: at, b: at }),
  );
}

const jsonKey = fc.constantFrom('__proto__', 'constructor', 'x', '', 'dtype', 'shape', 'data_offsets', 'input_ids', 'label', 'text', 'format', 'buffers');

const jsonEdit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('json-set' as const), path: at, value: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...JSON_VALUES) }, fc.jsonValue({ maxDepth: 3 })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('json-delete' as const), path: at }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('json-rename' as const), path: at, key: jsonKey }) },
);

const byteEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('bytes' as const), at, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('header-length' as const), value: fc.constantFrom(0, 1, 2, 7, 8, 1e6, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -1) }),
  fc.record({ op: fc.constant('truncate' as const), at }),
);

/** The kind of content a seed file is, which decides the edits drawn for it. */
export type Format = 'text' | 'json' | 'jsonl' | 'safetensors';

/** One to four edits for a file of this format; `words` are the seed's own tokens, so that edits stay plausible. */
export function edits(format: Format, words: readonly string[]): fc.Arbitrary<Edit[]> {
  const text = textEdit(words);
  const edit = format === 'text' ? text : format === 'safetensors' ? fc.oneof({ weight: 3, arbitrary: jsonEdit }, { weight: 2, arbitrary: byteEdit }) : fc.oneof({ weight: 3, arbitrary: jsonEdit }, { weight: 1, arbitrary: text });
  return fc.array(edit, { minLength: 1, maxLength: 4 });
}

/** Distinct words of a text file (for the dictionary of insertions). */
export function wordsOf(text: string): string[] {
  return [...new Set(text.match(/[A-Za-z_][A-Za-z0-9_.#]*/g) ?? [])].slice(0, 200);
}

const index = (fraction: number, length: number) => Math.min(length, Math.floor(fraction * (length + 1)));

function applyText(text: string, e: Edit): string {
  switch (e.op) {
    case 'delete': {
      const i = index(e.at, text.length);
      return text.slice(0, i) + text.slice(i + e.length);
    }
    case 'insert': {
      const i = index(e.at, text.length);
      return text.slice(0, i) + e.text + text.slice(i);
    }
    case 'duplicate': {
      const i = index(e.at, text.length);
      return text.slice(0, i) + text.slice(i, i + e.length).repeat(e.times + 1) + text.slice(i + e.length);
    }
    case 'truncate':
      return text.slice(0, index(e.at, text.length));
    case 'number': {
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?(e-?\d+)?/g)];
      if (numbers.length === 0) return text;
      const m = numbers[Math.min(numbers.length - 1, Math.floor(e.which * numbers.length))]!;
      return text.slice(0, m.index) + e.value + text.slice(m.index + m[0].length);
    }
    case 'swap-lines': {
      const lines = text.split('\n');
      const a = Math.min(lines.length - 1, Math.floor(e.a * lines.length));
      const b = Math.min(lines.length - 1, Math.floor(e.b * lines.length));
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      return lines.join('\n');
    }
    default:
      return text;
  }
}

type Json = unknown;

/** Every place in a JSON value: the container and the key of each value (the root has no container). */
function places(value: Json, out: { parent: Record<string, Json> | Json[]; key: string | number }[] = []): typeof out {
  if (Array.isArray(value)) value.forEach((v, i) => { out.push({ parent: value, key: i }); places(v, out); });
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) { out.push({ parent: value as Record<string, Json>, key: k }); places(v, out); }
  return out;
}

/** Applies a JSON edit to a parsed document in place; returns the document (a new root if the root was replaced). */
function applyJson(doc: Json, e: Edit): Json {
  const all = places(doc);
  if (all.length === 0) return e.op === 'json-set' ? e.value : doc;
  const place = all[Math.min(all.length - 1, Math.floor((e as { path: number }).path * all.length))]!;
  const { parent, key } = place;
  if (e.op === 'json-set') {
    if (Array.isArray(parent)) parent[key as number] = e.value;
    else Object.defineProperty(parent, key, { value: e.value, enumerable: true, writable: true, configurable: true });
  } else if (e.op === 'json-delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
  } else if (e.op === 'json-rename' && !Array.isArray(parent)) {
    const v = parent[key as string];
    delete parent[key as string];
    Object.defineProperty(parent, e.key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return doc;
}

const isJsonEdit = (e: Edit) => e.op === 'json-set' || e.op === 'json-delete' || e.op === 'json-rename';

function mutateJsonText(text: string, list: readonly Edit[], lines: boolean): string {
  let out = text;
  for (const e of list) {
    if (!isJsonEdit(e)) { out = applyText(out, e); continue; }
    if (lines) {
      // JSON lines: an edit of one line's document, chosen by the edit's path.
      const rows = out.split('\n');
      const filled = rows.map((r, i) => [r, i] as const).filter(([r]) => r.trim() !== '');
      if (filled.length === 0) continue;
      const p = (e as { path: number }).path * filled.length;
      const [row, i] = filled[Math.min(filled.length - 1, Math.floor(p))]!;
      const doc = tryParse(row);
      if (doc === undefined) continue;
      rows[i] = JSON.stringify(applyJson(doc.value, { ...e, path: p - Math.floor(p) } as Edit));
      out = rows.join('\n');
    } else {
      const doc = tryParse(out);
      if (doc === undefined) continue;
      out = JSON.stringify(applyJson(doc.value, e), null, 2);
    }
  }
  return out;
}

function tryParse(text: string): { value: Json } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

function mutateSafetensors(bytes: Buffer, list: readonly Edit[]): Buffer {
  const length = Number(bytes.readBigUInt64LE(0));
  let header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Json;
  let data: Buffer = bytes.subarray(8 + length);
  let claimed: number | undefined;
  const late: Edit[] = [];
  for (const e of list) {
    if (isJsonEdit(e)) header = applyJson(header, e);
    else if (e.op === 'header-length') claimed = e.value;
    else late.push(e);
  }
  const json = Buffer.from(JSON.stringify(header) ?? 'null');
  const prefix = Buffer.alloc(8);
  prefix.writeBigInt64LE(BigInt(claimed ?? json.length));
  let out = Buffer.concat([prefix, json, data]);
  for (const e of late) {
    if (e.op === 'truncate') out = out.subarray(0, index(e.at, out.length));
    else if (e.op === 'bytes') {
      const i = Math.min(out.length, index(e.at, out.length));
      out = Buffer.concat([out.subarray(0, i), Buffer.from(e.bytes), out.subarray(Math.min(out.length, i + e.bytes.length))]);
    }
  }
  return out;
}

/** The seed file with the edits applied. */
export function mutate(format: Format, seed: Buffer, list: readonly Edit[]): Buffer {
  if (format === 'safetensors') return mutateSafetensors(seed, list);
  const text = seed.toString('utf8');
  if (format === 'text') return Buffer.from(list.reduce(applyText, text));
  return Buffer.from(mutateJsonText(text, list, format === 'jsonl'));
}
