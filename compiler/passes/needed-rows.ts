// Row-wise values computed only at the rows that are read. In a training
// step, an encoder's last layer ends in a value [batch, seq, hidden] of
// which the heads read a few rows: the labelled rows that the masked-LM head
// gathers (labelled-rows.ts) and the first token of each sequence that the
// pooler selects. Above it, up to attention (which needs every row as a key),
// everything is row-wise: each output row computed from the same row of its
// operands (the attention output's projection, dropout, residual adds,
// LayerNorm, the feed-forward products and GELU). That region is rebuilt on
// the rows read, gathered where it starts:
//
//   y = f(x)         x, y [b, s, h]; readers take gather(y, rows), select(y, 1, 0)
//   →  L = concat(rows, first rows)                       [n + b]
//      y' = f(gather(x, L))                               [n + b, h]
//      gather(y, rows) → slice(y', 0, n);  select(y, 1, 0) → slice(y', n, n + b)
//
// Dropout in the region draws at the row's place in the whole value
// (dropout_rows), so the step drops what it dropped before, and the losses,
// metrics and gradients are those of the whole computation (a row read twice
// is computed twice; the gradients of its copies add up). A training step
// returns only scalars, so the values' other outputs (the hidden states) go.
// bert-small's last feed-forward then runs at 160 of 1024 rows.

import type { Graph, Node } from '../ir/graph.js';
import { opDef, type AttrsOf } from '../ir/ops/index.js';
import { normalizeAxis, numel, sameShape } from '../ir/types.js';
import { dce } from './dce.js';
import { rebuildGraph, type Rebuild } from './rewrite.js';

export const neededRowsPass = { name: 'needed-rows', summary: 'computes the row-wise end of a training graph (an encoder\'s last feed-forward) only at the rows its heads read' } as const;

/** The positions of the operands that `node` reads row by row (each output row from the same row of each), if it is row-wise over the leading dims `lead`. */
export function rowArgs(graph: Graph, node: Node, lead: readonly number[]): number[] | undefined {
  const def = opDef(node.op);
  const { shape } = node.type;
  if (shape.length !== lead.length + 1 || !lead.every((d, i) => shape[i] === d)) return undefined;
  const shapeOf = (id: number) => graph.nodes[id]!.type.shape;
  if (node.op === 'dropout' || node.op === 'layer_norm') return [0];
  if ((def.fusion === 'elementwise' || def.fusion === 'broadcast') && !def.stochastic) {
    // Every operand is the value's shape or broadcast along the rows (a bias).
    if (!node.args.every((a) => sameShape(shapeOf(a), shape) || shapeOf(a).length <= 1)) return undefined;
    return node.args.flatMap((a, i) => (sameShape(shapeOf(a), shape) ? [i] : []));
  }
  if (node.op === 'matmul') {
    const [a, w] = node.args as [number, number];
    const fromRows = !(node.attrs as AttrsOf<'matmul'>).transpose_a && shapeOf(w).length === 2 && shapeOf(a).length === shape.length;
    return fromRows && lead.every((d, i) => shapeOf(a)[i] === d) ? [0] : undefined;
  }
  return undefined;
}

/** Rows that a reader of a value [...lead, w] takes, by flat row index over `lead`. */
type Take =
  /** gather(reshape(value, [rows, w]), ids): the rows an input lists. */
  | { readonly kind: 'ids'; readonly ids: Node }
  /** select(value, axis, index) with axis the first or last of `lead`: `count` rows, row t at `first + t·stride`. */
  | { readonly kind: 'every'; readonly count: number; readonly first: number; readonly stride: number };

interface Read {
  /** The node that gets the rows: the gather, or the select. */
  readonly node: Node;
  readonly take: Take;
}

/** How each reader of `value` takes its rows, if every reader takes rows. */
function rowReads(graph: Graph, value: Node, uses: readonly Node[][]): Read[] | undefined {
  const { shape } = value.type;
  const lead = shape.slice(0, -1);
  const rows = numel(lead);
  const reads: Read[] = [];
  for (const reader of uses[value.id]!) {
    if (reader.op === 'select') {
      const { axis, index } = reader.attrs as AttrsOf<'select'>;
      const a = normalizeAxis(axis, shape.length);
      if (a === lead.length) return undefined;
      // Rows whose coordinate a is index: a run of consecutive rows (a first) or one row in every lead[a] (a last).
      if (a === 0) reads.push({ node: reader, take: { kind: 'every', count: rows / lead[0]!, first: index * (rows / lead[0]!), stride: 1 } });
      else if (a === lead.length - 1) reads.push({ node: reader, take: { kind: 'every', count: rows / lead[a]!, first: index, stride: lead[a]! } });
      else return undefined;
    } else if (reader.op === 'reshape' && sameShape(reader.type.shape, [rows, shape.at(-1)!])) {
      for (const gather of uses[reader.id]!) {
        const ids = graph.nodes[gather.args[1]!]!;
        if (gather.op !== 'gather' || gather.args[0] !== reader.id || ids.op !== 'input' || ids.type.shape.length !== 1) return undefined;
        reads.push({ node: gather, take: { kind: 'ids', ids } });
      }
    } else {
      return undefined;
    }
  }
  return reads.length ? reads : undefined;
}

interface Region {
  /** The value whose readers take rows. */
  readonly value: Node;
  readonly reads: readonly Read[];
  /** The row-wise nodes computed at the rows read (the value among them), each with the positions of the operands it reads by rows. */
  readonly byRows: ReadonlyMap<number, readonly number[]>;
}

/** The largest row-wise region ending at `value` whose values nothing else reads. */
function region(graph: Graph, value: Node, reads: readonly Read[], uses: readonly Node[][], outputs: ReadonlySet<number>): Region | undefined {
  const lead = value.type.shape.slice(0, -1);
  const first = rowArgs(graph, value, lead);
  if (!first) return undefined;
  const byRows = new Map([[value.id, first]]);
  const wanted = new Set(first.map((i) => value.args[i]!));
  // Only where a member reads it by rows.
  const readByRows = (id: number, reader: Node) => reader.args.every((a, i) => a !== id || byRows.get(reader.id)?.includes(i));
  // Readers come after their operands: going down, a node's readers are all decided before it.
  for (let id = value.id - 1; id >= 0 && wanted.size; id--) {
    if (!wanted.delete(id)) continue;
    const node = graph.nodes[id]!;
    const rows = rowArgs(graph, node, lead);
    if (!rows || outputs.has(id) || !uses[id]!.every((u) => readByRows(id, u))) continue;
    byRows.set(id, rows);
    for (const i of rows) wanted.add(node.args[i]!);
  }
  return { value, reads, byRows };
}

/** The graph with the row-wise end of each value whose readers take rows computed at those rows alone. */
export function neededRows(graph: Graph): Graph {
  const uses = graph.nodes.map(() => [] as Node[]);
  for (const n of graph.nodes) for (const a of new Set(n.args)) uses[a]!.push(n);
  // A training step returns only scalars: the values' other outputs go.
  const kept = graph.outputs.filter((o) => graph.nodes[o.node]!.type.shape.length === 0);
  const outputs = new Set(kept.map((o) => o.node));
  const regions: Region[] = [];
  const taken = new Set<number>();
  for (const value of graph.nodes) {
    if (value.type.shape.length < 2 || outputs.has(value.id)) continue;
    const reads = rowReads(graph, value, uses);
    const found = reads && region(graph, value, reads, uses, outputs);
    if (!found) continue;
    const members = [...found.byRows.keys()];
    // It pays where it holds a product: the rows' gathers and the readers' slices cost about what an elementwise node saves.
    if (members.some((m) => taken.has(m)) || !members.some((m) => graph.nodes[m]!.op === 'matmul')) continue;
    regions.push(found);
    for (const m of members) taken.add(m);
  }
  if (!regions.length) return graph;

  const owner = new Map(regions.flatMap((g) => [...g.byRows.keys()].map((m) => [m, g] as const)));
  const readOf = new Map(regions.flatMap((g) => g.reads.map((read) => [read.node.id, { g, read }] as const)));
  // The flat views that gathers read the value through: they go with their gathers.
  const views = new Set(regions.flatMap((g) => g.reads.flatMap((read) => (read.take.kind === 'ids' ? [read.node.args[0]!] : []))));
  const built = new Map<Region, Built>();
  const start = (g: Region, r: Rebuild) => {
    let at = built.get(g);
    if (!at) built.set(g, (at = startRegion(g, r)));
    return at;
  };
  const rewritten = rebuildGraph({ ...graph, outputs: kept }, (node, r) => {
    if (views.has(node.id)) return undefined;
    const g = owner.get(node.id);
    if (g) return start(g, r).member(node);
    const read = readOf.get(node.id);
    if (read) return start(read.g, r).slice(read.read);
    return r.copy(node);
  });
  return dce(rewritten);
}

interface Built {
  /** A member's node on the rows read. */
  member(node: Node): number;
  /** A reader's rows of the region's value, in the reader's shape. */
  slice(read: Read): number;
}

const takeKey = (take: Take) => (take.kind === 'ids' ? `ids:${take.ids.id}` : `every:${take.count}:${take.first}:${take.stride}`);

/** The rows read (L: each input of row ids once, then each run of selected rows once) and the region's nodes on them, as the rebuild reaches them. */
function startRegion(g: Region, r: Rebuild): Built {
  const { b } = r;
  const rows = numel(g.value.type.shape.slice(0, -1));
  const label = g.value.label;
  const parts = new Map<string, { id: number; start: number; size: number }>();
  let size = 0;
  for (const { take } of g.reads) {
    const key = takeKey(take);
    if (parts.has(key)) continue;
    let id: number;
    if (take.kind === 'ids') {
      // The input comes later in the old order; copied now, it is the same node (an input is one node per name).
      id = r.copy(take.ids);
    } else {
      const int = (value: number) => b.add('fill', [], { value, dtype: 'i32', shape: [] }, label).id;
      const t = b.add('range', [], { size: take.count }, label).id;
      const scaled = take.stride === 1 ? t : b.add('mul', [t, int(take.stride)], {}, label).id;
      id = take.first === 0 ? scaled : b.add('add', [scaled, int(take.first)], {}, label).id;
    }
    const part = { id, start: size, size: b.node(id).type.shape[0]! };
    parts.set(key, part);
    size += part.size;
  }
  const list = [...parts.values()];
  const ids = list.length === 1 ? list[0]!.id : b.add('concat', list.map((p) => p.id), { axis: 0 }, label).id;

  const made = new Map<number, number>();
  // An operand by rows: a member's node, or the rows of a value from outside, gathered.
  const rowsOf = (old: number) => {
    let at = made.get(old);
    if (at === undefined) {
      const whole = b.node(r.map(old));
      const flat = b.add('reshape', [whole.id], { shape: [rows, whole.type.shape.at(-1)!] }, whole.label).id;
      made.set(old, (at = b.add('gather', [flat, ids], {}, whole.label).id));
    }
    return at;
  };
  return {
    member(node) {
      const byRows = g.byRows.get(node.id)!;
      const args = node.args.map((a, i) => (byRows.includes(i) ? rowsOf(a) : r.map(a)));
      const id =
        node.op === 'dropout'
          ? b.add('dropout_rows', [args[0]!, ids], { ...(node.attrs as AttrsOf<'dropout'>), rows }, node.label).id
          : b.add(node.op, args, node.attrs as never, node.label).id;
      made.set(node.id, id);
      return id;
    },
    slice(read) {
      const part = parts.get(takeKey(read.take))!;
      const value = made.get(g.value.id)!;
      const rowsRead = part.size === size ? value : b.add('slice', [value], { axis: 0, start: part.start, end: part.start + part.size }, read.node.label).id;
      const { shape } = read.node.type;
      return sameShape(b.node(rowsRead).type.shape, shape) ? rowsRead : b.add('reshape', [rowsRead], { shape: [...shape] }, read.node.label).id;
    },
  };
}
