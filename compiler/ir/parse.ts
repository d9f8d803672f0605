// Reading the IR's text form back (the inverse of print.ts), so that a pass
// can be tested as "this graph becomes that graph", both written as IR:
//
//   graph g (infer) {
//     %0: f32[2,3] = input "x"
//     %1: f32[2,3] = affine(%0) {scale=2}
//     return y=%1
//   }
//
// Node numbers in the text may be any distinct integers in order; nodes are
// renumbered from 0. Attributes left out take their defaults, and each
// node's stated type must equal what its op infers. Nodes are not
// hash-consed here: a graph with duplicates reads as written (what a CSE
// test starts from).

import type { Graph, GraphOutput, Mode, Node, ScheduledKernel } from './graph.js';
import { isOpName, opDef, type OpName } from './ops/index.js';
import { formatType, type DType } from './types.js';

export class IrParseError extends Error {
  override name = 'IrParseError';
}

/** A JSON-like attribute value: number, true/false, "string" or [list]. */
function parseValue(text: string, at: { i: number }, line: number): unknown {
  const rest = text.slice(at.i);
  const m = /^(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|-?Infinity|NaN|true|false|"(?:[^"\\]|\\.)*")/.exec(rest);
  if (m) {
    at.i += m[0].length;
    return m[0] === 'Infinity' ? Infinity : m[0] === '-Infinity' ? -Infinity : m[0] === 'NaN' ? NaN : JSON.parse(m[0]);
  }
  if (rest.startsWith('[')) {
    at.i++;
    const items: unknown[] = [];
    while (text[at.i] !== ']') {
      if (at.i >= text.length) throw new IrParseError(`line ${line}: unclosed list`);
      items.push(parseValue(text, at, line));
      if (text[at.i] === ',') at.i++;
    }
    at.i++;
    return items;
  }
  throw new IrParseError(`line ${line}: cannot read a value at '${rest.slice(0, 20)}'`);
}

function parseAttrs(text: string, line: number): Record<string, unknown> {
  const attrs: Record<string, unknown> = {};
  const at = { i: 0 };
  while (at.i < text.length) {
    const key = /^\s*([A-Za-z_]\w*)=/.exec(text.slice(at.i));
    if (!key) throw new IrParseError(`line ${line}: expected name=value in {${text}}`);
    at.i += key[0].length;
    attrs[key[1]!] = parseValue(text, at, line);
    const sep = /^\s*,?\s*/.exec(text.slice(at.i))!;
    at.i += sep[0].length;
  }
  return attrs;
}

const NODE = /^%(\d+):\s*(f32|i32)\[([\d,]*)\]\s*=\s*(\w+)(?:\(([^)]*)\)|\s+("(?:[^"\\]|\\.)*"))?\s*(?:\{(.*)\})?\s*(?:#\s*(.*))?$/;

export function parseGraph(text: string): Graph {
  const lines = text.split('\n');
  const header = /^graph\s+(\S+)\s+\((infer|train)(?:;\s*([^)]*))?\)\s*\{$/.exec(lines[0]?.trim() ?? '');
  if (!header) throw new IrParseError(`line 1: expected 'graph NAME (infer|train[; dims]) {'`);
  const dims: Record<string, number> = {};
  for (const part of (header[3] ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const [k, v] = part.split('=');
    dims[k!.trim()] = Number(v);
  }
  const ids = new Map<number, number>();
  const nodes: Node[] = [];
  const outputs: GraphOutput[] = [];
  let schedule: ScheduledKernel[] | undefined;
  const ref = (text: string, line: number) => {
    const id = ids.get(Number(text.replace(/^%/, '')));
    if (id === undefined) throw new IrParseError(`line ${line}: ${text} is not defined`);
    return id;
  };
  lines.slice(1).forEach((raw, index) => {
    const line = index + 2;
    const text = raw.trim();
    if (!text || text === '}') return;
    if (text === 'schedule {') {
      schedule = [];
      return;
    }
    if (schedule) {
      const k = /^k\d+:\s*([^-]*)->\s*(.*)$/.exec(text);
      if (!k) throw new IrParseError(`line ${line}: expected 'kN: %a %b -> %b'`);
      const list = (part: string) => part.trim().split(/\s+/).filter(Boolean).map((t) => ref(t, line));
      schedule.push({ nodes: list(k[1]!), stored: list(k[2]!) });
      return;
    }
    if (text.startsWith('return')) {
      for (const part of text.slice('return'.length).split(',').map((p) => p.trim()).filter(Boolean)) {
        const m = /^([^=]+)=%(\d+)$/.exec(part);
        if (!m || !ids.has(Number(m[2]))) throw new IrParseError(`line ${line}: bad output '${part}'`);
        outputs.push({ name: m[1]!, node: ids.get(Number(m[2]))! });
      }
      return;
    }
    const m = NODE.exec(text);
    if (!m) throw new IrParseError(`line ${line}: cannot read '${text}'`);
    const [, idText, dtype, shapeText, op, argText, nameText, attrText, label] = m;
    if (!isOpName(op!)) throw new IrParseError(`line ${line}: unknown op '${op}'`);
    const shape = shapeText ? shapeText.split(',').map(Number) : [];
    const args = (argText ?? '').split(',').map((a) => a.trim()).filter(Boolean).map((a) => {
      const id = ids.get(Number(a.replace(/^%/, '')));
      if (id === undefined) throw new IrParseError(`line ${line}: ${a} is not defined before use`);
      return id;
    });
    const def = opDef(op as OpName);
    const given = parseAttrs(attrText ?? '', line);
    if (nameText !== undefined) {
      // A source's name follows its op; its dtype and shape are the node's type.
      const implied: Record<string, unknown> = { name: JSON.parse(nameText), dtype, shape };
      for (const key of Object.keys(implied)) if (key in def.attrs) given[key] = implied[key];
    }
    const attrs: Record<string, unknown> = {};
    for (const [key, spec] of Object.entries(def.attrs as Record<string, { default?: unknown }>)) {
      if (key in given) attrs[key] = given[key];
      else if (spec.default !== undefined) attrs[key] = spec.default;
      else throw new IrParseError(`line ${line}: ${op} needs attribute '${key}'`);
    }
    const unknown = Object.keys(given).filter((k) => !(k in def.attrs));
    if (unknown.length) throw new IrParseError(`line ${line}: ${op} has no attribute '${unknown[0]}'`);
    const type = def.infer(args.map((a) => nodes[a]!.type), attrs as never);
    const stated = { dtype: dtype as DType, shape };
    if (formatType(type) !== formatType(stated)) throw new IrParseError(`line ${line}: stated ${formatType(stated)} but ${op} gives ${formatType(type)}`);
    ids.set(Number(idText), nodes.length);
    nodes.push({ id: nodes.length, op: op as OpName, args, attrs: attrs as never, type, label: label?.trim() ?? '' });
  });
  return { name: header[1]!, mode: header[2] as Mode, dims, nodes, outputs, ...(schedule ? { schedule } : {}) };
}
