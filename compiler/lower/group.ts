// One scheduled group of graph nodes → one kernel. The group's anchor (a
// reduction, row op, matmul, or opaque op; none for a map) decides the
// kernel's kind and iteration space. Every other node of the group is
// evaluated as an expression: upstream of the anchor it is a prologue,
// substituted into the anchor's operands; downstream it is an epilogue, over
// the anchor's result (`acc`, a stage `var`, a row element), and the nodes
// the group stores are written through explicit indices. Values from outside
// the group are loads from the buffers where they live.
//
// Coordinates flow both ways: a node's value at given coordinates asks its
// operands for theirs (the op's inline rule), and an epilogue node's own
// coordinates follow from the anchor's through the layout ops in between (a
// transpose after attention stores into the transposed place).

import { attrsKey, type Graph, type Node, type ScheduledKernel } from '../ir/graph.js';
import { opDef, type AttrsOf } from '../ir/ops/index.js';
import { normalizeAxis, numel, type Shape } from '../ir/types.js';
import { ExprBuilder } from './expr.js';
import {
  ARG_ALIGNMENT, walkExpr, type AttentionKernel, type Kernel, type KernelArg, type KExpr, type Operand, type Placement, type Stage, type Store,
} from '../../kernel/ir.js';
import { broadcastCoords, LOWERING, type Anchor, type InlineContext, type RowContext } from './rules.js';
import { lowerExpanded, type Placed } from './expand.js';

/** Where a node's value lives: contiguous, row-major, from an element offset of a buffer. */
export interface Location {
  readonly buffer: number;
  readonly offset: number;
}

export interface LoweringState {
  readonly graph: Graph;
  readonly locations: ReadonlyMap<number, Location>;
  readonly bufferDtype: (buffer: number) => 'f32' | 'i32';
  /** Whether a buffer holds a parameter (a constant operand). */
  readonly isParameter: (buffer: number) => boolean;
  /** A new arena buffer of f32 working space (for ops lowered to several kernels). */
  readonly scratch: (size: number) => number;
}

type Leaf = (at: readonly KExpr[]) => KExpr;

export class KernelError extends Error {
  override name = 'KernelError';
}

const anchorOf = (node: Node): Anchor | undefined => {
  const rule = LOWERING[node.op];
  return typeof rule === 'object' && 'anchor' in rule ? rule.anchor : undefined;
};

/** Whether an op is computed by a kernel of its own kind (not inlined into others). */
export function isAnchor(node: Node): boolean {
  return anchorOf(node) !== undefined;
}

class GroupLowering {
  readonly args: KernelArg[] = [];
  /** The random streams of the group's stochastic nodes, in node order: the kernel's `streams`. */
  readonly streams: number[] = [];
  private readonly argOfBuffer = new Map<number, number>();
  readonly members: ReadonlySet<number>;
  private readonly coordsMemo = new Map<number, readonly KExpr[]>();

  constructor(
    private readonly state: LoweringState,
    readonly group: ScheduledKernel,
  ) {
    this.members = new Set(group.nodes);
    for (const id of group.nodes) {
      const stream = (this.node(id).attrs as { stream?: number }).stream;
      if (opDef(this.node(id).op).stochastic && stream !== undefined && !this.streams.includes(stream)) this.streams.push(stream);
    }
    const ranges = new Map<number, { lo: number; hi: number; read: boolean; write: boolean }>();
    const touch = (node: number, write: boolean) => {
      const loc = this.location(node);
      const size = Math.max(1, numel(this.node(node).type.shape));
      const r = ranges.get(loc.buffer) ?? { lo: Infinity, hi: 0, read: false, write: false };
      r.lo = Math.min(r.lo, loc.offset);
      r.hi = Math.max(r.hi, loc.offset + size);
      if (write) r.write = true;
      else r.read = true;
      ranges.set(loc.buffer, r);
    };
    for (const id of group.nodes) for (const a of this.node(id).args) if (!this.members.has(a)) touch(a, false);
    for (const id of group.stored) touch(id, true);
    for (const [buffer, r] of ranges) {
      const offset = Math.floor(r.lo / ARG_ALIGNMENT) * ARG_ALIGNMENT;
      this.argOfBuffer.set(buffer, this.args.length);
      const access = r.read && r.write ? 'readwrite' : r.write ? 'write' : 'read';
      this.args.push({ buffer, offset, size: r.hi - offset, dtype: state.bufferDtype(buffer), access });
    }
  }

  node(id: number): Node {
    return this.state.graph.nodes[id]!;
  }

  get training(): boolean {
    return this.state.graph.mode === 'train';
  }

  /** The kernel's index of a random stream of one of its nodes. */
  stream(stream: number): number {
    const k = this.streams.indexOf(stream);
    if (k < 0) throw new KernelError(`stream ${stream} belongs to no node of the kernel`);
    return k;
  }

  /** A new buffer of f32 working space. */
  scratch(size: number): number {
    return this.state.scratch(size);
  }

  /** Whether an arg binds a parameter's buffer. */
  isParameterArg(arg: number): boolean {
    return this.state.isParameter(this.args[arg]!.buffer);
  }

  location(id: number): Location {
    const loc = this.state.locations.get(id);
    if (!loc) throw new KernelError(`%${id} (${this.node(id).op}) is read by a kernel but stored nowhere`);
    return loc;
  }

  /** The arg and the element offset within it of a node stored outside (or by) the kernel. */
  slice(id: number): { arg: number; offset: number } {
    const loc = this.location(id);
    const arg = this.argOfBuffer.get(loc.buffer)!;
    return { arg, offset: loc.offset - this.args[arg]!.offset };
  }

  /** A node's value stored in memory, at coordinates. */
  loadNode(b: ExprBuilder, id: number, at: readonly KExpr[]): KExpr {
    const { arg, offset } = this.slice(id);
    const node = this.node(id);
    return b.load(arg, b.add(b.int(offset), b.flatIndex(node.type.shape, at)), node.type.dtype);
  }

  /** A store of a group node at its coordinates. */
  store(b: ExprBuilder, id: number, at: readonly KExpr[], value: KExpr): Store {
    const { arg, offset } = this.slice(id);
    return { arg, index: b.add(b.int(offset), b.flatIndex(this.node(id).type.shape, at)), value };
  }

  /**
   * A node's value at coordinates: a leaf of the kernel (an anchor's result),
   * a load of a value from outside the group, or the node's inline rule over
   * its operands' values.
   */
  value(b: ExprBuilder, id: number, at: readonly KExpr[], leaves: ReadonlyMap<number, Leaf>, memo: Map<string, KExpr>): KExpr {
    const key = `${id}@${at.map((x) => b.idOf(x)).join(',')}`;
    const known = memo.get(key);
    if (known) return known;
    let out: KExpr;
    const leaf = leaves.get(id);
    const node = this.node(id);
    if (leaf) out = leaf(at);
    else if (!this.members.has(id)) out = this.loadNode(b, id, at);
    else {
      const rule = LOWERING[node.op];
      if (typeof rule !== 'object' || !('inline' in rule)) throw new KernelError(`%${id} (${node.op}) cannot be inlined into a kernel`);
      const ctx: InlineContext = {
        b,
        shape: node.type.shape,
        training: this.state.graph.mode === 'train',
        operands: node.args.length,
        stream: (stream) => this.stream(stream),
        operand: (i, coords) => this.value(b, node.args[i]!, coords, leaves, memo),
        operandShape: (i) => this.node(node.args[i]!).type.shape,
      };
      out = (rule.inline as (c: InlineContext, a: unknown, at: readonly KExpr[]) => KExpr)(ctx, node.attrs, at);
    }
    if (out.type !== node.type.dtype) out = b.cast(node.type.dtype, out);
    memo.set(key, out);
    return out;
  }

  /**
   * The coordinates of an epilogue node as a function of its anchors'
   * coordinates: equal through elementwise ops, permuted through a
   * transpose, re-flattened through a reshape.
   */
  epilogueCoords(b: ExprBuilder, id: number, anchors: ReadonlyMap<number, readonly KExpr[]>): readonly KExpr[] | undefined {
    const fixed = anchors.get(id);
    if (fixed) return fixed;
    const known = this.coordsMemo.get(id);
    if (known) return known;
    const node = this.node(id);
    if (!this.members.has(id)) return undefined;
    let coords: readonly KExpr[] | undefined;
    for (const a of node.args) {
      const from = this.epilogueCoords(b, a, anchors);
      if (!from) continue;
      const shape = this.node(a).type.shape;
      if (node.op === 'transpose') {
        const perm = (node.attrs as AttrsOf<'transpose'>).perm;
        coords = perm.map((p) => from[p]!);
      } else if (node.op === 'reshape') {
        coords = b.unflatten(node.type.shape, b.flatIndex(shape, from));
      } else if (shape.length === node.type.shape.length && shape.every((d, i) => d === node.type.shape[i])) {
        coords = from;
      } else {
        throw new KernelError(`%${id} (${node.op}) changes the shape of its anchor's result; it cannot be an epilogue`);
      }
      break;
    }
    if (coords) this.coordsMemo.set(id, coords);
    return coords;
  }

  /**
   * Stores of the group's stored nodes that follow from the anchors
   * (epilogues); with `some`, only those that do (a kernel with several kinds
   * of result), else every stored node must.
   */
  epilogueStores(b: ExprBuilder, anchors: ReadonlyMap<number, readonly KExpr[]>, leaves: ReadonlyMap<number, Leaf>, memo: Map<string, KExpr>, some = false): Store[] {
    const stores: Store[] = [];
    for (const id of this.group.stored) {
      const at = this.epilogueCoords(b, id, anchors);
      if (!at) {
        if (some) continue;
        throw new KernelError(`%${id} (${this.node(id).op}) is stored by a kernel but does not follow from its anchor`);
      }
      stores.push(this.store(b, id, at, this.value(b, id, at, leaves, memo)));
    }
    this.coordsMemo.clear();
    return stores;
  }
}

function kernelName(index: number, group: ScheduledKernel, graph: Graph, anchors: readonly number[]): { name: string; label: string } {
  const main = graph.nodes[anchors[0] ?? group.stored[0]!]!;
  return { name: `k${index}_${main.op}`, label: graph.nodes[group.stored[0]!]!.label || main.label };
}

function lowerMap(g: GroupLowering, base: KernelHead): Kernel {
  const shape = g.node(g.group.stored[0]!).type.shape;
  for (const id of g.group.stored) {
    const other = g.node(id).type.shape;
    if (other.length !== shape.length || other.some((d, i) => d !== shape[i])) throw new KernelError(`a map kernel stores [${shape}] and [${other}]`);
  }
  const b = new ExprBuilder({ idx: shape, ridx: [] });
  const at = b.coords(shape.length);
  const memo = new Map<string, KExpr>();
  const stores = g.group.stored.map((id) => g.store(b, id, at, g.value(b, id, at, new Map(), memo)));
  return { ...base, kind: 'map', shape, stores };
}

/** The shared stages of a reduction kernel: identical stages of several anchors are computed once. */
class Stages {
  readonly list: Stage[] = [];
  private readonly index = new Map<string, KExpr>();

  constructor(private readonly b: ExprBuilder) {}

  add(combine: Stage['combine'], value: KExpr): KExpr {
    const key = `${combine}:${this.b.idOf(value)}`;
    let v = this.index.get(key);
    if (!v) {
      v = this.b.variable(this.list.length);
      this.list.push({ combine, value });
      this.index.set(key, v);
    }
    return v;
  }
}

function lowerReduce(g: GroupLowering, anchors: readonly Node[], base: KernelHead): Kernel {
  const first = anchors[0]!;
  const xShape = g.node(first.args[0]!).type.shape;
  const { axes, keepdims } = first.attrs as AttrsOf<'sum'>;
  const reducedAxes = new Set(axes.map((a) => normalizeAxis(a, xShape.length)));
  const shape = first.type.shape;
  const reduced = xShape.filter((_, d) => reducedAxes.has(d));
  const b = new ExprBuilder({ idx: shape, ridx: reduced });
  const at = b.coords(shape.length);
  // The reduced operand's coordinates: ridx along reduced axes, idx along kept ones.
  let kept = 0;
  let r = 0;
  const xAt = xShape.map((_, d) => (reducedAxes.has(d) ? (keepdims ? (kept++, b.ridx(r++)) : b.ridx(r++)) : b.idx(kept++)));
  const memo = new Map<string, KExpr>();
  const stages = new Stages(b);
  const leaves = new Map<number, Leaf>();
  const anchorCoords = new Map<number, readonly KExpr[]>();
  for (const a of anchors) {
    const same = g.node(a.args[0]!).type.shape.join() === xShape.join() && a.type.shape.join() === shape.join() && (a.attrs as AttrsOf<'sum'>).axes.map((x) => normalizeAxis(x, xShape.length)).every((x) => reducedAxes.has(x));
    if (!same) throw new KernelError(`reductions of different spaces in one kernel: %${first.id} and %${a.id}`);
    const rule = anchorOf(a) as Extract<Anchor, { kind: 'reduce' }>;
    const v = stages.add(rule.combine, g.value(b, a.args[0]!, xAt, leaves, memo));
    const result = rule.mean ? b.binary('div', v, b.constant(numel(reduced))) : v;
    leaves.set(a.id, () => result);
    anchorCoords.set(a.id, at);
  }
  const stores = g.epilogueStores(b, anchorCoords, leaves, memo);
  return { ...base, kind: 'reduce', shape, reduced, stages: stages.list, stores, elementStores: [] };
}

function lowerRows(g: GroupLowering, anchors: readonly Node[], base: KernelHead): Kernel {
  const first = anchors[0]!;
  const full = first.type.shape;
  const rule = anchorOf(first) as Extract<Anchor, { kind: 'rows' }>;
  const axis = rule.axis(first.attrs as never, full.length);
  const size = full[axis]!;
  const shape = full.map((d, i) => (i === axis ? 1 : d));
  const b = new ExprBuilder({ idx: shape, ridx: [size] });
  const element = b.coords(full.length).map((x, i) => (i === axis ? b.ridx(0) : x));
  const memo = new Map<string, KExpr>();
  const stages = new Stages(b);
  const leaves = new Map<number, Leaf>();
  const anchorCoords = new Map<number, readonly KExpr[]>();
  for (const a of anchors) {
    const r = anchorOf(a) as Extract<Anchor, { kind: 'rows' }>;
    if (a.type.shape.join() !== full.join() || r.axis(a.attrs as never, full.length) !== axis) throw new KernelError(`row ops over different rows in one kernel: %${first.id} and %${a.id}`);
    const ctx: RowContext = {
      b,
      size,
      element: (i) => g.value(b, a.args[i]!, broadcastCoords(b, g.node(a.args[i]!).type.shape, full, element), leaves, memo),
      stage: (combine, value) => stages.add(combine, value),
    };
    const value = r.row(ctx, a.attrs as never);
    leaves.set(a.id, () => value);
    anchorCoords.set(a.id, element);
  }
  const elementStores = g.epilogueStores(b, anchorCoords, leaves, memo);
  return { ...base, kind: 'reduce', shape, reduced: [size], stages: stages.list, stores: [], elementStores };
}

/** An operand of a template over its own space: its value, and its strided view when it is a plain load. */
function operand(g: GroupLowering, b: ExprBuilder, value: KExpr, batchAxes: number): Operand {
  if (value.op !== 'load') return { value, constant: false };
  const form = b.affine(value.index, batchAxes + 2);
  if (!form) return { value, constant: false };
  const view = { arg: value.arg, offset: form.offset, batchStrides: form.strides.slice(0, batchAxes), rowStride: form.strides[batchAxes]!, colStride: form.strides[batchAxes + 1]! };
  return { value, view, constant: g.isParameterArg(value.arg) };
}

function lowerMatmul(g: GroupLowering, anchors: readonly Node[], base: KernelHead): Kernel {
  if (anchors.length !== 1) throw new KernelError(`a kernel holds ${anchors.length} matmuls`);
  const mm = anchors[0]!;
  const { transpose_a: ta, transpose_b: tb } = mm.attrs as AttrsOf<'matmul'>;
  const out = mm.type.shape;
  const nb = out.length - 2;
  const batch = out.slice(0, nb);
  const [m, n] = out.slice(nb) as [number, number];
  const aShape = g.node(mm.args[0]!).type.shape;
  const k = ta ? aShape[aShape.length - 2]! : aShape[aShape.length - 1]!;
  const memo = new Map<string, KExpr>();
  const side = (slot: 0 | 1, rows: number, cols: number, transposed: boolean): Operand => {
    const b = new ExprBuilder({ idx: [...batch, rows, cols], ridx: [] });
    const shape = g.node(mm.args[slot]!).type.shape;
    const batchAt = broadcastCoords(b, shape.slice(0, -2), batch, b.coords(nb));
    const [row, col] = [b.idx(nb), b.idx(nb + 1)];
    const value = g.value(b, mm.args[slot]!, [...batchAt, ...(transposed ? [col, row] : [row, col])], new Map(), new Map());
    return operand(g, b, value, nb);
  };
  const a = side(0, m, k, ta);
  const bOperand = side(1, k, n, tb);
  const b = new ExprBuilder({ idx: out, ridx: [] });
  const at = b.coords(out.length);
  const acc = b.acc();
  const stores = g.epilogueStores(b, new Map([[mm.id, at]]), new Map([[mm.id, () => acc]]), memo);
  return foldBatch({ ...base, kind: 'matmul', batch, m, n, k, a, b: bOperand, stores });
}

/**
 * A batch whose B operand is the same matrix for every batch (a weight)
 * folds into A's rows: one m·batch × k product instead of a batch of small
 * ones, B packed or tiled once. A and the stores read the batch and row
 * coordinates back from the merged row by division where they are not
 * affine in it (attention's context, read across its heads; the gradient
 * stored back into them).
 */
function foldBatch(k: Extract<Kernel, { kind: 'matmul' }>): Kernel {
  const nb = k.batch.length;
  if (nb === 0) return k;
  const usesBatch = (e: KExpr) => {
    let found = false;
    walkExpr(e, (x) => (found ||= x.op === 'idx' && x.axis < nb));
    return found;
  };
  if (usesBatch(k.b.value)) return k;
  const rows = k.batch.reduce((p, d) => p * d, k.m);
  const merge = (space: number[]) => {
    const b = new ExprBuilder({ idx: space, ridx: [] });
    const r = b.idx(0);
    const old: KExpr[] = [];
    let inner = k.m;
    for (let d = nb - 1; d >= 0; d--) {
      old[d] = b.mod(b.idiv(r, inner), k.batch[d]!);
      inner *= k.batch[d]!;
    }
    old[nb] = b.mod(r, k.m);
    old[nb + 1] = b.idx(1);
    return { b, map: (e: KExpr) => b.substitute(e, (x) => (x.op === 'idx' ? old[x.axis] : undefined)) };
  };
  const aMerge = merge([rows, k.k]);
  const aValue = aMerge.map(k.a.value);
  const outMerge = merge([rows, k.n]);
  const stores = k.stores.map((s) => ({ arg: s.arg, index: outMerge.map(s.index), value: outMerge.map(s.value) }));
  const bb = new ExprBuilder({ idx: [k.k, k.n], ridx: [] });
  const bValue = bb.substitute(k.b.value, (x) => (x.op === 'idx' ? bb.idx(x.axis - nb) : undefined));
  const reread = (b: ExprBuilder, value: KExpr, constant: boolean): Operand => {
    if (value.op !== 'load') return { value, constant: false };
    const form = b.affine(value.index, 2);
    if (!form) return { value, constant: false };
    return { value, view: { arg: value.arg, offset: form.offset, batchStrides: [], rowStride: form.strides[0]!, colStride: form.strides[1]! }, constant };
  };
  return { ...k, batch: [], m: rows, a: reread(aMerge.b, aValue, k.a.constant), b: reread(bb, bValue, k.b.constant), stores };
}

/** A template operand that must be a plain view (fusion stores anything else). */
function viewOperand(g: GroupLowering, node: number, batch: readonly number[], rows: number, cols: number): Operand {
  const nb = batch.length;
  const b = new ExprBuilder({ idx: [...batch, rows, cols], ridx: [] });
  const o = operand(g, b, g.value(b, node, b.coords(nb + 2), new Map(), new Map()), nb);
  if (!o.view) throw new KernelError(`%${node} (${g.node(node).op}) is read by attention as a strided view, but it is an expression`);
  return o;
}

/** The single placement of an anchor's stored result (layout epilogues only). */
function placement(g: GroupLowering, anchor: number, space: readonly number[]): Placement | undefined {
  const b = new ExprBuilder({ idx: space, ridx: [] });
  const at = b.coords(space.length);
  const stores = g.epilogueStores(b, new Map([[anchor, at]]), new Map([[anchor, () => b.acc()]]), new Map(), true);
  if (stores.length > 1 || stores.some((s) => s.value !== b.acc())) throw new KernelError(`%${anchor} (${g.node(anchor).op}) is stored once, as it is`);
  return stores[0] && { arg: stores[0].arg, index: stores[0].index };
}

interface Scores {
  readonly batch: readonly number[];
  readonly queries: number;
  readonly keys: number;
  readonly depth: number;
  readonly score: KExpr;
  readonly keep?: KExpr;
}

/** The score expression acc·scale + mask and the dropout factor at (b…, i, j), from attention's operands and attributes. */
function scores(g: GroupLowering, q: number, k: number, mask: number, attrs: { scale: number; rate: number; stream: number }): Scores {
  const qShape = g.node(q).type.shape;
  const batch = qShape.slice(0, -2);
  const [queries, depth] = qShape.slice(-2) as [number, number];
  const keys = g.node(k).type.shape.at(-2)!;
  const shape = [...batch, queries, keys];
  const b = new ExprBuilder({ idx: shape, ridx: [] });
  const at = b.coords(shape.length);
  const maskValue = g.value(b, mask, broadcastCoords(b, g.node(mask).type.shape, shape, at), new Map(), new Map());
  const score = b.binary('add', b.binary('mul', b.acc(), b.constant(attrs.scale)), maskValue);
  const dropping = g.training && attrs.rate > 0;
  const keep = dropping ? b.where(b.binary('lt', b.random(g.stream(attrs.stream), b.flatIndex(shape, at), numel(shape)), b.constant(attrs.rate)), b.constant(0), b.constant(1 / (1 - attrs.rate))) : undefined;
  return { batch, queries, keys, depth, score, ...(keep ? { keep } : {}) };
}

/**
 * The half-width of a local window the mask adds (a sliding_window term of a
 * sum), if any: keys outside it score −1e30 lower than any mask term can
 * lift, so a kernel may skip them.
 */
function localWindow(g: GroupLowering, mask: number): number | undefined {
  const n = g.node(mask);
  if (n.op === 'sliding_window') {
    const { window } = n.attrs as AttrsOf<'sliding_window'>;
    return window > 0 ? Math.floor(window / 2) : undefined;
  }
  if (n.op !== 'add') return undefined;
  const found = n.args.map((a) => localWindow(g, a)).filter((w) => w !== undefined);
  return found.length ? Math.min(...found) : undefined;
}

/**
 * The keys each query row may count when the mask holds a segment_mask term
 * (a packed stream): [starts[i], ends[i]) read over the rows (b…, i), kept
 * within [0, keys] so that a renderer may loop over them as they are.
 */
function keyRange(g: GroupLowering, mask: number, s: Scores): AttentionKernel['keyRange'] {
  const n = g.node(mask);
  if (n.op === 'add') return n.args.map((a) => keyRange(g, a, s)).find((r) => r !== undefined);
  if (n.op !== 'segment_mask') return undefined;
  const rows = [...s.batch, s.queries];
  const b = new ExprBuilder({ idx: rows, ridx: [] });
  const i = b.coords(rows.length)[s.batch.length]!;
  const bounded = (id: number) => b.binary('min', b.binary('max', g.value(b, id, [i], new Map(), new Map()), b.int(0)), b.int(s.keys));
  return { from: bounded(n.args[0]!), to: bounded(n.args[1]!) };
}

function lowerAttention(g: GroupLowering, anchors: readonly Node[], base: KernelHead): Kernel {
  const main = anchors.find((a) => a.op === 'attention');
  const stats = anchors.find((a) => a.op === 'attention_lse');
  const first = anchors[0]!;
  const [q, k] = first.args as [number, number];
  const mask = first.op === 'attention' ? first.args[3]! : first.args[2]!;
  for (const a of anchors) {
    const m = a.op === 'attention' ? a.args[3] : a.args[2];
    if (a.args[0] !== q || a.args[1] !== k || m !== mask || (a.attrs as { scale: number }).scale !== (first.attrs as { scale: number }).scale) throw new KernelError(`attention ops over different scores in one kernel: %${first.id} and %${a.id}`);
  }
  const attrs = main ? (main.attrs as AttrsOf<'attention'>) : { ...(first.attrs as AttrsOf<'attention_lse'>), rate: 0, stream: 0 };
  const s = scores(g, q, k, mask, attrs);
  const depthV = main ? g.node(main.args[2]!).type.shape.at(-1)! : 0;
  const out = main && placement(g, main.id, [...s.batch, s.queries, depthV]);
  const lse = stats && placement(g, stats.id, [...s.batch, s.queries]);
  const window = localWindow(g, mask);
  const range = keyRange(g, mask, s);
  return {
    ...base, kind: 'attention', batch: s.batch, queries: s.queries, keys: s.keys, depth: s.depth, depthV, ...(window !== undefined ? { window } : {}), ...(range ? { keyRange: range } : {}),
    q: viewOperand(g, q, s.batch, s.queries, s.depth), k: viewOperand(g, k, s.batch, s.keys, s.depth),
    ...(main ? { v: viewOperand(g, main.args[2]!, s.batch, s.keys, depthV) } : {}),
    score: s.score, ...(s.keep ? { keep: s.keep } : {}), ...(out ? { out } : {}), ...(lse ? { lse } : {}),
  };
}

function lowerAttentionGrad(g: GroupLowering, anchors: readonly Node[], base: KernelHead): Kernel {
  const first = anchors[0]!;
  const [q, k, v, mask, dout, lseNode, deltaNode] = first.args as [number, number, number, number, number, number, number];
  const attrs = first.attrs as AttrsOf<'attention_grad'>;
  for (const a of anchors) {
    const other = a.attrs as AttrsOf<'attention_grad'>;
    const same = a.args.every((x, i) => x === first.args[i]) && other.scale === attrs.scale && other.rate === attrs.rate && other.stream === attrs.stream;
    if (!same) throw new KernelError(`gradients of different attention ops in one kernel: %${first.id} and %${a.id}`);
  }
  const s = scores(g, q, k, mask, attrs);
  const depthV = g.node(v).type.shape.at(-1)!;
  const rowSpace = [...s.batch, s.queries];
  const rb = new ExprBuilder({ idx: rowSpace, ridx: [] });
  const rowAt = rb.coords(rowSpace.length);
  const place = (wrt: string, rows: number, cols: number) => {
    const a = anchors.find((x) => (x.attrs as AttrsOf<'attention_grad'>).wrt === wrt);
    return a && placement(g, a.id, [...s.batch, rows, cols]);
  };
  const [dq, dk, dv, dscores] = [place('q', s.queries, s.depth), place('k', s.keys, s.depth), place('v', s.keys, depthV), place('mask', s.queries, s.keys)];
  const range = keyRange(g, mask, s);
  return {
    ...(range ? { keyRange: range } : {}),
    ...base, kind: 'attention_grad', batch: s.batch, queries: s.queries, keys: s.keys, depth: s.depth, depthV,
    q: viewOperand(g, q, s.batch, s.queries, s.depth), k: viewOperand(g, k, s.batch, s.keys, s.depth), v: viewOperand(g, v, s.batch, s.keys, depthV),
    dout: viewOperand(g, dout, s.batch, s.queries, depthV),
    lse: g.value(rb, lseNode, rowAt, new Map(), new Map()), delta: g.value(rb, deltaNode, rowAt, new Map(), new Map()),
    score: s.score, ...(s.keep ? { keep: s.keep } : {}), scale: attrs.scale,
    ...(dq ? { dq } : {}), ...(dk ? { dk } : {}), ...(dv ? { dv } : {}), ...(dscores ? { dscores } : {}),
  };
}

/** An op lowered to several plain kernels (expand.ts): its operands are stored, and its kernel stores it alone. */
function lowerOpaque(g: GroupLowering, anchor: Node, head: Omit<KernelHead, 'args' | 'streams'>): Kernel[] {
  for (const a of anchor.args) if (g.members.has(a)) throw new KernelError(`%${anchor.id} (${anchor.op}) takes stored operands only; %${a} is computed in its kernel`);
  if (g.group.stored.length !== 1 || g.group.stored[0] !== anchor.id) throw new KernelError(`%${anchor.id} (${anchor.op}) stores its result alone`);
  const place = (id: number): Placed => {
    const { buffer, offset } = g.location(id);
    const n = g.node(id);
    return { buffer, offset, size: Math.max(1, numel(n.type.shape)), dtype: n.type.dtype };
  };
  const scratch = (size: number): Placed => ({ buffer: g.scratch(size), offset: 0, size, dtype: 'f32' });
  return lowerExpanded(anchor, anchor.args, { place, scratch, training: g.training }, head);
}

type KernelHead = { name: string; label: string; nodes: readonly number[]; args: readonly KernelArg[]; streams: readonly number[] };

/** Builds the kernel of one scheduled group. */
/**
 * A group's structure: everything its kernel depends on but the buffers it
 * binds (the ops, attributes and types of its nodes, how they connect, and
 * where each value sits within its arg). Groups with equal structure (the
 * layers of a model) lower to the same kernel over different args.
 */
function structureKey(g: GroupLowering): string {
  const members = new Map(g.group.nodes.map((id, i) => [id, i]));
  const external = new Map<number, number>();
  const parts: string[] = [g.training ? 'train' : 'infer'];
  for (const id of g.group.nodes) {
    const n = g.node(id);
    const args = n.args.map((a) => {
      const m = members.get(a);
      if (m !== undefined) return `m${m}`;
      let e = external.get(a);
      if (e === undefined) {
        e = external.size;
        external.set(a, e);
        const x = g.node(a);
        const { arg, offset } = g.slice(a);
        parts.push(`x${e}=${x.op === 'param' || x.op === 'input' || x.op === 'state' ? x.op : 'v'}:${x.type.dtype}[${x.type.shape}]@${arg}+${offset}${g.isParameterArg(arg) ? 'p' : ''}`);
      }
      return `x${e}`;
    });
    const stream = (n.attrs as { stream?: number }).stream;
    const attrs = stream === undefined || !opDef(n.op).stochastic ? attrsKey(n.attrs) : `${attrsKey({ ...n.attrs, stream: 0 })}#${g.stream(stream)}`;
    parts.push(`${n.op}(${args})${attrs}${n.type.dtype}[${n.type.shape}]`);
  }
  for (const id of g.group.stored) {
    const { arg, offset } = g.slice(id);
    parts.push(`s${members.get(id)}@${arg}+${offset}`);
  }
  parts.push(g.args.map((a) => `${a.dtype}${a.access}`).join(','));
  return parts.join(';');
}

/**
 * Builds the kernels of one scheduled group: one, reusing the kernel of an
 * earlier group of the same structure, or several for an op without a
 * kernel kind of its own.
 */
export function lowerGroup(state: LoweringState, group: ScheduledKernel, index: number, cache?: Map<string, Kernel>): Kernel[] {
  const g = new GroupLowering(state, group);
  const anchors = group.nodes.map((id) => g.node(id)).filter(isAnchor);
  const name = kernelName(index, group, state.graph, anchors.map((a) => a.id));
  const rule = anchors[0] && anchorOf(anchors[0]);
  if (rule?.kind === 'expanded') {
    if (anchors.length !== 1) throw new KernelError(`a kernel holds ${anchors.length} ${anchors[0]!.op} ops`);
    return lowerOpaque(g, anchors[0]!, { ...name, nodes: group.nodes });
  }
  const base: KernelHead = { ...name, nodes: group.nodes, args: g.args, streams: g.streams };
  const key = cache && structureKey(g);
  const known = key !== undefined ? cache!.get(key) : undefined;
  if (known) return [{ ...known, ...base } as Kernel];
  const kernel = lowerNew(g, anchors, base);
  if (key !== undefined) cache!.set(key, kernel);
  return [kernel];
}

function lowerNew(g: GroupLowering, anchors: readonly Node[], base: KernelHead): Kernel {
  if (anchors.length === 0) return lowerMap(g, base);
  const kinds = new Set(anchors.map((a) => anchorOf(a)!.kind));
  if (kinds.size > 1) throw new KernelError(`a kernel mixes ${[...kinds].join(' and ')} anchors`);
  const rule = anchorOf(anchors[0]!)!;
  switch (rule.kind) {
    case 'reduce': return lowerReduce(g, anchors, base);
    case 'rows': return lowerRows(g, anchors, base);
    case 'matmul': return lowerMatmul(g, anchors, base);
    case 'attention': return lowerAttention(g, anchors, base);
    case 'attention_grad': return lowerAttentionGrad(g, anchors, base);
    case 'expanded': throw new KernelError(`%${anchors[0]!.id} (${anchors[0]!.op}) lowers to kernels of its own`);
  }
}
