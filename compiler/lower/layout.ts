// Layout: values that need no kernel because their memory is another
// value's. A concatenation along its first non-unit axis is a run of
// contiguous chunks; when each operand is (a reshape or a leading-axis slice
// of) a value that can be written or kept at that chunk, the operands are
// laid out at consecutive offsets of one buffer and the concatenation is
// free. Graph outputs that are such views of stored values are free too.
//
//   1. views: reshapes and contiguous slices resolve to a base value and an
//      element offset into it;
//   2. concatenations: each operand's base is unified with the concat at
//      the operand's chunk offset (union-find with offsets); a conflict (a
//      base needed at two places, members overlapping, parameters mixed with
//      computed values) leaves that concatenation to a kernel;
//   3. the result: for every free node and every member base, the root it
//      lives in and its element offset there.
//
// Fusion asks which nodes are free (they are computed by no kernel) and
// which bases must be stored; lowering places buffers by the same answer.

import { sourceName, type Graph, type Node } from '../ir/graph.js';
import { opDef } from '../ir/ops/index.js';
import { normalizeAxis, numel, stridesOf } from '../ir/types.js';

export interface Place {
  /** The node whose buffer holds this one (the root of its class). */
  readonly root: number;
  /** Element offset within the root. */
  readonly offset: number;
}

export interface Layout {
  /** Nodes computed by no kernel: concatenations laid out in place, and views of stored values they or outputs need. */
  readonly free: ReadonlyMap<number, Place>;
  /** Values that must be stored (or kept, for parameters) at a place: the members of free concatenations, the bases of free views. */
  readonly members: ReadonlyMap<number, Place>;
  /** Elements of each root's buffer. */
  readonly rootSizes: ReadonlyMap<number, number>;
}

/** Where a view reads its base: a reshape, or a slice of whole leading chunks. */
function viewOf(graph: Graph, node: Node): { base: number; offset: number } | undefined {
  if (node.op === 'reshape') return { base: node.args[0]!, offset: 0 };
  if (node.op === 'slice') {
    const shape = graph.nodes[node.args[0]!]!.type.shape;
    const { axis, start } = node.attrs as { axis: number; start: number };
    const a = normalizeAxis(axis, shape.length);
    if (shape.slice(0, a).every((d) => d === 1)) return { base: node.args[0]!, offset: start * stridesOf(shape)[a]! };
  }
  return undefined;
}

/** A concatenation of contiguous chunks: along its first non-unit axis. */
function chunked(node: Node): boolean {
  if (node.op !== 'concat') return false;
  const a = normalizeAxis((node.attrs as { axis: number }).axis, node.type.shape.length);
  return node.type.shape.slice(0, a).every((d) => d === 1);
}

type Kind = 'param' | 'state' | 'input' | 'value';

/** Union-find with offsets; changes can be undone back to a mark (a concatenation that does not fit). */
class Classes {
  private readonly parent = new Map<number, number>();
  /** Offset of a node within its parent. */
  private readonly delta = new Map<number, number>();
  private readonly log: number[] = [];

  find(id: number): { root: number; offset: number } {
    let offset = 0;
    let at = id;
    while (this.parent.has(at)) {
      offset += this.delta.get(at)!;
      at = this.parent.get(at)!;
    }
    return { root: at, offset };
  }

  /** Puts `id` at `offset` within `into`'s class; false on a conflict. */
  unite(id: number, into: number, offset: number): boolean {
    const a = this.find(id);
    const b = this.find(into);
    if (a.root === b.root) return a.offset === b.offset + offset;
    this.parent.set(a.root, b.root);
    this.delta.set(a.root, b.offset + offset - a.offset);
    this.log.push(a.root);
    return true;
  }

  mark(): number {
    return this.log.length;
  }

  undo(mark: number): void {
    while (this.log.length > mark) {
      const root = this.log.pop()!;
      this.parent.delete(root);
      this.delta.delete(root);
    }
  }
}

const planned = new WeakMap<readonly Node[], Layout>();

/** The layout of a graph (kept per node list: fusion and lowering ask of the same graph). */
export function planLayout(graph: Graph): Layout {
  let layout = planned.get(graph.nodes);
  if (!layout) {
    layout = computeLayout(graph);
    planned.set(graph.nodes, layout);
  }
  return layout;
}

function computeLayout(graph: Graph): Layout {
  const size = (id: number) => numel(graph.nodes[id]!.type.shape);
  const kindOf = (id: number): Kind => {
    const n = graph.nodes[id]!;
    return opDef(n.op).fusion === 'source' ? (n.op as Kind) : 'value';
  };
  const resolve = (id: number): { base: number; offset: number } => {
    let offset = 0;
    for (;;) {
      const v = viewOf(graph, graph.nodes[id]!);
      if (!v) return { base: id, offset };
      offset += v.offset;
      id = v.base;
    }
  };
  const classes = new Classes();
  const freeConcats = new Set<number>();
  /** What the members of each free concatenation are (nested ones included). */
  const concatKind = new Map<number, Kind>();
  const bases = new Set<number>();
  const used = new Set<number>();
  for (const n of graph.nodes) for (const a of n.args) used.add(a);
  for (const out of graph.outputs) used.add(out.node);

  /** The bases already placed in each class, by the class's root. */
  const placedIn = new Map<number, number[]>();
  /** Whether the bases of the classes `roots` (now joined under `root`) and the new ones overlap. */
  const overlaps = (root: number, roots: readonly number[], extra: readonly number[]): boolean => {
    const all = new Set([...roots.flatMap((r) => placedIn.get(r) ?? []), ...extra]);
    const spans = [...all].map((b) => {
      const at = classes.find(b);
      if (at.root !== root) throw new Error(`layout: %${b} left its class`);
      return [at.offset, at.offset + size(b)] as const;
    }).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) return true;
    return false;
  };

  for (const node of graph.nodes) {
    if (!chunked(node) || !used.has(node.id)) continue;
    const mark = classes.mark();
    let at = 0;
    let ok = true;
    const kinds = new Set<Kind>();
    const members: number[] = [];
    const joined = new Set<number>([classes.find(node.id).root]);
    for (const arg of node.args) {
      const { base, offset } = resolve(arg);
      // A member that is itself a free concatenation nests; anything else is a base placed at its chunk.
      kinds.add(freeConcats.has(base) ? concatKind.get(base)! : kindOf(base));
      if (!freeConcats.has(base)) members.push(base);
      joined.add(classes.find(base).root);
      if (!classes.unite(base, node.id, at - offset)) ok = false;
      at += size(arg);
    }
    const root = classes.find(node.id).root;
    // A base may appear more than once (slices of one gradient); the offsets' agreement was checked by the union.
    if (kinds.has('input') || kinds.size > 1 || !ok || overlaps(root, [...joined], members)) {
      classes.undo(mark);
      continue;
    }
    freeConcats.add(node.id);
    concatKind.set(node.id, [...kinds][0]!);
    const all = new Set([...[...joined].flatMap((r) => placedIn.get(r) ?? []), ...members]);
    for (const r of joined) placedIn.delete(r);
    placedIn.set(root, [...all]);
    for (const m of members) bases.add(m);
  }

  // Outputs that are views of stored values need no copy.
  const outputViews: number[] = [];
  for (const out of graph.outputs) {
    const { base } = resolve(out.node);
    if (base !== out.node && (kindOf(base) === 'value' || bases.has(base) || freeConcats.has(base))) outputViews.push(out.node);
  }
  for (const o of outputViews) {
    const { base } = resolve(o);
    if (!freeConcats.has(base)) bases.add(base);
  }

  // Offsets from the start of each root's buffer (a member may sit before its class's representative).
  const lowest = new Map<number, number>();
  const highest = new Map<number, number>();
  for (const id of [...bases, ...freeConcats]) {
    const { root, offset } = classes.find(id);
    lowest.set(root, Math.min(lowest.get(root) ?? 0, offset));
    highest.set(root, Math.max(highest.get(root) ?? 0, offset + size(id)));
  }
  const placeOf = (id: number, extra = 0): Place => {
    const { root, offset } = classes.find(id);
    return { root, offset: offset + extra - (lowest.get(root) ?? 0) };
  };
  const free = new Map<number, Place>();
  const members = new Map<number, Place>();
  // Views between a member and its concatenation, or an output and its base, are free.
  const markViews = (id: number) => {
    while (!bases.has(id) && !freeConcats.has(id)) {
      const v = viewOf(graph, graph.nodes[id]!);
      if (!v) return;
      const { base, offset } = resolve(id);
      free.set(id, placeOf(base, offset));
      id = v.base;
    }
  };
  for (const c of freeConcats) {
    free.set(c, placeOf(c));
    for (const arg of graph.nodes[c]!.args) markViews(arg);
  }
  for (const o of outputViews) markViews(o);
  for (const b of bases) members.set(b, placeOf(b));
  const rootSizes = new Map([...highest].map(([root, end]) => [root, end - (lowest.get(root) ?? 0)]));
  return { free, members, rootSizes };
}

/** A readable name for a root buffer holding several values. */
export function rootName(graph: Graph, root: number): string | undefined {
  const n = graph.nodes[root]!;
  return sourceName(n) ?? (n.label || undefined);
}
