// YAML with source positions. A file is parsed by the `yaml` package into a
// tree of located nodes (LNode), so that every later error, from the schema
// to shape inference, can point at the exact key or value that caused it.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { DiagnosticBag, type SourceLoc } from './diagnostics.js';
import { MAX_NESTING } from './spec.js';

export type Scalar = string | number | boolean | null;

export interface LMap {
  readonly kind: 'map';
  readonly loc: SourceLoc;
  readonly entries: ReadonlyMap<string, { readonly keyLoc: SourceLoc; readonly value: LNode }>;
}
export interface LSeq {
  readonly kind: 'seq';
  readonly loc: SourceLoc;
  readonly items: readonly LNode[];
}
export interface LScalar {
  readonly kind: 'scalar';
  readonly loc: SourceLoc;
  readonly value: Scalar;
  /** A block parameter's declared type in the DSL (int, float, string, bool), kept for formatting. */
  readonly declared?: string;
}
export type LNode = LMap | LSeq | LScalar;

class Locator {
  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
  ) {}
  span(start: number, end: number): SourceLoc {
    const a = this.lines.linePos(start);
    const b = this.lines.linePos(Math.max(start, end));
    return { file: this.file, line: a.line, col: a.col, endLine: b.line, endCol: b.col };
  }
}

function convert(node: YamlNode | null, doc: Document, at: Locator, bag: DiagnosticBag, fallback: SourceLoc, depth = 0): LNode {
  if (node === null) return { kind: 'scalar', loc: fallback, value: null };
  const range = node.range ?? [0, 0, 0];
  const loc = at.span(range[0], range[1]);
  // An alias could make the tree cyclic or exponentially large ("billion laughs"); a spec writes values out.
  if (isAlias(node)) {
    bag.error(loc, `YAML aliases (*${node.source}) are not supported in specs: write the value out`);
    return { kind: 'scalar', loc, value: null };
  }
  if (depth > MAX_NESTING) {
    bag.error(loc, `nested more than ${MAX_NESTING} levels deep`);
    return { kind: 'scalar', loc, value: null };
  }
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return { kind: 'scalar', loc, value: v };
    bag.error(loc, `unsupported YAML value of type ${typeof v}`);
    return { kind: 'scalar', loc, value: null };
  }
  if (isSeq(node)) {
    return { kind: 'seq', loc, items: node.items.map((item) => convert(item as YamlNode | null, doc, at, bag, loc, depth + 1)) };
  }
  if (isMap(node)) {
    const entries = new Map<string, { keyLoc: SourceLoc; value: LNode }>();
    for (const pair of node.items) {
      const key = pair.key as YamlNode | null;
      const keyLoc = key?.range ? at.span(key.range[0], key.range[1]) : loc;
      const keyValue = key && isScalar(key) ? key.value : undefined;
      if (typeof keyValue !== 'string' && typeof keyValue !== 'number') {
        bag.error(keyLoc, 'mapping keys must be plain names');
        continue;
      }
      // Duplicates found here, by the map, in linear time (the yaml package's own check is quadratic in a mapping's keys).
      if (entries.has(String(keyValue))) {
        bag.error(keyLoc, `duplicate key '${String(keyValue).slice(0, 80)}'`);
        continue;
      }
      entries.set(String(keyValue), { keyLoc, value: convert(pair.value as YamlNode | null, doc, at, bag, keyLoc, depth + 1) });
    }
    return { kind: 'map', loc, entries };
  }
  bag.error(loc, 'unsupported YAML node');
  return { kind: 'scalar', loc, value: null };
}

/** The offset where flow brackets ([ and {, outside quotes and comments) first nest deeper than MAX_NESTING, if they do. */
function tooDeep(text: string): number | undefined {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote && !(quote === '"' && text[i - 1] === '\\')) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) i = text.indexOf('\n', i) < 0 ? text.length : text.indexOf('\n', i);
    else if (c === '[' || c === '{') {
      if (++depth > MAX_NESTING) return i;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
    else if (c === '\n') quote = '';
  }
  return undefined;
}

/** Parses YAML text; syntax errors go to `bag` with their positions. */
export function parseYaml(text: string, file: string, bag: DiagnosticBag): LNode | undefined {
  // The yaml package runs out of memory on flow collections nested some ten thousand deep: refuse them first.
  const deep = tooDeep(text);
  if (deep !== undefined) {
    const lines = text.slice(0, deep).split('\n');
    const [line, col] = [lines.length, lines.at(-1)!.length + 1];
    bag.error({ file, line, col, endLine: line, endCol: col + 1 }, `brackets nested more than ${MAX_NESTING} deep`);
    return undefined;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const at = new Locator(file, lines);
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      bag.error(at.span(e.pos[0], e.pos[1]), message.charAt(0).toLowerCase() + message.slice(1));
    }
    return undefined;
  }
  return convert(doc.contents as YamlNode | null, doc, at, bag, at.span(0, 0));
}

/** Plain data of a located tree, for JSON Schema validation. */
export function toPlain(node: LNode): unknown {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(toPlain);
    case 'map':
      return Object.fromEntries([...node.entries].map(([k, e]) => [k, toPlain(e.value)]));
  }
}

/** The node at a JSON pointer (as ajv's instancePath), with the key's location for map entries. */
export function nodeAt(root: LNode, pointer: string): { node: LNode; keyLoc?: SourceLoc } | undefined {
  let node: LNode = root;
  let keyLoc: SourceLoc | undefined;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node.kind === 'map') {
      const entry = node.entries.get(part);
      if (!entry) return undefined;
      [node, keyLoc] = [entry.value, entry.keyLoc];
    } else if (node.kind === 'seq') {
      const item = node.items[Number(part)];
      if (!item) return undefined;
      [node, keyLoc] = [item, undefined];
    } else return undefined;
  }
  return { node, keyLoc };
}

/**
 * Deep merge for `extends`: mappings merge key by key, a null value in the
 * override deletes the key, anything else in the override replaces the base,
 * and so does a mapping at a path where `replaceWhole` says so.
 */
export function mergeNodes(base: LNode, override: LNode, replaceWhole: (path: readonly string[]) => boolean = () => false, path: readonly string[] = []): LNode {
  if (base.kind !== 'map' || override.kind !== 'map' || replaceWhole(path)) return override;
  const entries = new Map(base.entries);
  for (const [key, entry] of override.entries) {
    const previous = entries.get(key);
    if (entry.value.kind === 'scalar' && entry.value.value === null) entries.delete(key);
    else if (previous) entries.set(key, { keyLoc: entry.keyLoc, value: mergeNodes(previous.value, entry.value, replaceWhole, [...path, key]) });
    else entries.set(key, { keyLoc: entry.keyLoc, value: withoutNulls(entry.value) });
  }
  return { kind: 'map', loc: override.loc, entries };
}

/** A tree with its null-valued mapping entries removed: null deletes, also where there was nothing to delete. */
export function withoutNulls(node: LNode): LNode {
  if (node.kind !== 'map') return node;
  const entries = new Map<string, { keyLoc: SourceLoc; value: LNode }>();
  for (const [key, entry] of node.entries) {
    if (!(entry.value.kind === 'scalar' && entry.value.value === null)) entries.set(key, { keyLoc: entry.keyLoc, value: withoutNulls(entry.value) });
  }
  return { kind: 'map', loc: node.loc, entries };
}
