// The kernel IR: what a backend renders. A program is a list of kernels over
// numbered buffers. Kernels are target-neutral, shaped so that JavaScript,
// WGSL and C renderers each only render:
//
//   - every expression carries its scalar type (f32, i32, bool); nothing is
//     left to a renderer's type inference;
//   - integer `idiv` and `mod` are floor division and floor modulo (the
//     remainder takes the divisor's sign); `rangeOf` tells a renderer when
//     both operands are non-negative and a truncating form is exact;
//   - a kernel reads and writes `args`: ranges of buffers (a binding each,
//     starting at an element offset that is a multiple of 64, so that
//     WebGPU can bind it); loads and stores index an arg explicitly, so an
//     output is stored through an explicit index, never a running counter;
//   - iteration spaces are stated; in a map every axis may be split across
//     threads but its `ordered` leading ones, in a reduction every outer
//     point is independent.
//
// The kinds:
//
//   map        for each point c of `shape`: stores; the first `ordered`
//              axes are walked in order, so a store may add to what an
//              earlier point stored (a scatter-add into a table)
//   reduce     for each outer point c: stages (sum, max or let over the
//              reduced space, each a value `var i` later expressions use),
//              then `stores` once per outer point and `elementStores` once
//              per point of the reduced space (softmax, layer norm: rows)
//   matmul     C[b, i, j] = Σ_p A[b, i, p] · B[b, p, j]; each operand is an
//              expression over its own coordinates (a prologue: GELU,
//              dropout, a transpose folded into strides), with its strided
//              view when it is a plain load (`constant` when that view is a
//              parameter, which a backend may pack once); stores are
//              epilogues over the accumulator `acc` at (b…, i, j)
//   attention  softmax(score(q·k, b…, i, j)) · keep(b…, i, j) · V, online,
//              never holding a row of scores; stores O and the rows'
//              log-sum-exp; attention_grad: dq, dk, dv from the saved ones
//
// Everything else is lowered to these: a loss to reductions over rows and
// then over the batch, a scatter-add to a map that zeroes the table and an
// ordered map that adds rows into it.

import type { Derived } from '../runtime/labelled-rows.js';

export type ScalarType = 'f32' | 'i32' | 'bool';

/** Scalar functions every renderer implements. */
export const PRIMITIVE_UNARY = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'erf', 'relu', 'sin', 'cos'] as const;
export const PRIMITIVE_BINARY = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'lt', 'mod', 'idiv'] as const;
/**
 * Scalar functions made of primitive ones (kernel/composite.ts says how): a
 * backend renders one directly only where it declares it an intrinsic;
 * elsewhere it is expanded before rendering. The binary ones take (x, dy).
 */
export const COMPOSITE_UNARY = ['sigmoid', 'gelu', 'gelu_tanh'] as const;
export const COMPOSITE_BINARY = ['gelu_grad', 'gelu_tanh_grad'] as const;

export type PrimitiveUnary = (typeof PRIMITIVE_UNARY)[number];
export type PrimitiveBinary = (typeof PRIMITIVE_BINARY)[number];
export type CompositeUnary = (typeof COMPOSITE_UNARY)[number];
export type CompositeBinary = (typeof COMPOSITE_BINARY)[number];
export type Composite = CompositeUnary | CompositeBinary;
export type UnaryFn = PrimitiveUnary | CompositeUnary;
export type BinaryFn = PrimitiveBinary | CompositeBinary;

/** Scalar expressions. Loads take an element index (relative to the arg's offset). */
export type KExpr =
  | { readonly op: 'const'; readonly type: ScalarType; readonly value: number }
  /** A coordinate of the iteration space (the outer space of a reduction). */
  | { readonly op: 'idx'; readonly type: 'i32'; readonly axis: number }
  /** A coordinate of a reduction's reduced space. */
  | { readonly op: 'ridx'; readonly type: 'i32'; readonly axis: number }
  /** The value of stage `id` of a reduction. */
  | { readonly op: 'var'; readonly type: 'f32'; readonly id: number }
  /** The accumulated product of a matmul (its epilogue's input) or the dot product q·k of attention. */
  | { readonly op: 'acc'; readonly type: 'f32' }
  | { readonly op: 'load'; readonly type: ScalarType; readonly arg: number; readonly index: KExpr }
  | { readonly op: 'unary'; readonly type: ScalarType; readonly fn: UnaryFn; readonly x: KExpr }
  | { readonly op: 'binary'; readonly type: ScalarType; readonly fn: BinaryFn; readonly a: KExpr; readonly b: KExpr }
  | { readonly op: 'where'; readonly type: ScalarType; readonly cond: KExpr; readonly then: KExpr; readonly else: KExpr }
  /** f32 → i32 truncates toward zero; bool → 0 or 1. */
  | { readonly op: 'cast'; readonly type: ScalarType; readonly x: KExpr }
  /**
   * Uniform [0, 1) from Threefry-2x32 keyed by (seed, stream) and counted by
   * (step, element); `stream` indexes the kernel's `streams` (so that layers
   * whose dropouts differ only in their streams share a kernel). A stream
   * draws `count` values: element is in [0, count).
   */
  | { readonly op: 'random'; readonly type: 'f32'; readonly stream: number; readonly element: KExpr; readonly count: number };

/** A range of a buffer that a kernel binds. */
export interface KernelArg {
  readonly buffer: number;
  /** First element bound (a multiple of ARG_ALIGNMENT). */
  readonly offset: number;
  /** Elements bound. */
  readonly size: number;
  readonly dtype: 'f32' | 'i32';
  readonly access: 'read' | 'write' | 'readwrite';
}

/** Elements an arg's offset is a multiple of: 256 bytes, WebGPU's storage binding alignment. */
export const ARG_ALIGNMENT = 64;

export interface Store {
  readonly arg: number;
  readonly index: KExpr;
  readonly value: KExpr;
}

/**
 * A size a run gives (a program over a padding-free stream): `scale` × the
 * run's value of the program's symbol `symbol` (tokens, sequences) +
 * `offset`. The number the kernel states is its largest value, and every
 * index and buffer is laid out for it: a run only iterates less.
 */
export interface RuntimeSize {
  readonly symbol: number;
  readonly scale: number;
  readonly offset: number;
}

/** A kernel's extents that a run gives, by field: 'shape.0', 'reduced.1', 'batch.0', 'm', 'n', 'k', 'queries', 'keys', 'depth', 'depthV'. */
export type RuntimeExtents = Readonly<Record<string, RuntimeSize>>;

/** The extent fields of each kind of kernel (the keys RuntimeExtents may use; lists by index). */
export const EXTENT_FIELDS: Readonly<Record<Kernel['kind'], readonly string[]>> = {
  map: ['shape'],
  reduce: ['shape', 'reduced'],
  matmul: ['batch', 'm', 'n', 'k'],
  attention: ['batch', 'queries', 'keys', 'depth', 'depthV'],
  attention_grad: ['batch', 'queries', 'keys', 'depth', 'depthV'],
};

/** A kernel's extents by field key ('shape.0', 'm', …): what RuntimeExtents names. */
export function kernelExtents(k: Kernel): Map<string, number> {
  const out = new Map<string, number>();
  const fields = k as unknown as Record<string, number | readonly number[]>;
  for (const field of EXTENT_FIELDS[k.kind]) {
    const v = fields[field]!;
    if (typeof v === 'number') out.set(field, v);
    else v.forEach((d, i) => out.set(`${field}.${i}`, d));
  }
  return out;
}

interface KernelBase {
  /** Unique in the program, e.g. "k12_matmul". */
  readonly name: string;
  /** The random streams (dropout) its `random` expressions draw from, by index; a parameter of the kernel, like its args. */
  readonly streams: readonly number[];
  /** The spec label of the value the kernel computes. */
  readonly label: string;
  /** The graph nodes computed inside the kernel. */
  readonly nodes: readonly number[];
  readonly args: readonly KernelArg[];
  /** Extents a run gives (absent: every extent is as stated). */
  readonly runtime?: RuntimeExtents;
}

export interface MapKernel extends KernelBase {
  readonly kind: 'map';
  readonly shape: readonly number[];
  /**
   * Leading axes walked in order, one point after another (absent: 0): a
   * store at a point may read what a store at an earlier point wrote. The
   * other axes may still be split across threads.
   */
  readonly ordered?: number;
  readonly stores: readonly Store[];
}

export interface Stage {
  /** sum or max over the reduced space, or a value computed once per outer point. */
  readonly combine: 'sum' | 'max' | 'let';
  readonly value: KExpr;
}

export interface ReduceKernel extends KernelBase {
  readonly kind: 'reduce';
  /** The outer (kept) space: idx axes. */
  readonly shape: readonly number[];
  /** The reduced space: ridx axes. */
  readonly reduced: readonly number[];
  readonly stages: readonly Stage[];
  /** Once per outer point, after the stages. */
  readonly stores: readonly Store[];
  /** Once per point of the reduced space, after the stages (ridx in scope). */
  readonly elementStores: readonly Store[];
}

/** A plain operand: a strided load of one arg. Strides are in elements. */
export interface StridedView {
  readonly arg: number;
  readonly offset: number;
  readonly batchStrides: readonly number[];
  readonly rowStride: number;
  readonly colStride: number;
}

/**
 * A matmul or attention operand: its element at (b…, row, col) as an
 * expression over idx axes (batch axes, then row, then column), and the
 * view it is when it is a plain load.
 */
export interface Operand {
  readonly value: KExpr;
  readonly view?: StridedView;
  /** A plain view of a parameter: unchanged during a run, so a backend may pack it once. */
  readonly constant: boolean;
}

export interface MatmulKernel extends KernelBase {
  readonly kind: 'matmul';
  readonly batch: readonly number[];
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** A is m×k, B is k×n. */
  readonly a: Operand;
  readonly b: Operand;
  /** Epilogues: values over `acc` and idx axes (b…, i, j). */
  readonly stores: readonly Store[];
}

/** Where an attention kernel writes a tensor: an index over its own idx axes. */
export interface Placement {
  readonly arg: number;
  readonly index: KExpr;
}

export interface AttentionKernel extends KernelBase {
  readonly kind: 'attention';
  readonly batch: readonly number[];
  readonly queries: number;
  readonly keys: number;
  /** Width of q and k rows, and of v rows. */
  readonly depth: number;
  readonly depthV: number;
  /** Operands over (b…, row, col); q [queries, depth], k [keys, depth], v [keys, depthV] (absent when only lse is stored); plain views. */
  readonly q: Operand;
  readonly k: Operand;
  readonly v?: Operand;
  /** The score at (b…, i, j) from acc = q_i·k_j (scale, additive mask). */
  readonly score: KExpr;
  /**
   * A local window's half-width: the score of a key farther than this from
   * its query carries −1e30 (a local-attention mask), so that its probability
   * is 0 where any key within counts; a renderer may skip those keys. Absent:
   * every key may count.
   */
  readonly window?: number;
  /**
   * The keys of query row i that may count, [from, to): expressions over idx
   * (b…, i), each non-decreasing in i (a packed stream's sequence bounds). A
   * key outside scores −1e30 (the score expression says so too), so a
   * renderer may skip it. Absent: every key may count.
   */
  readonly keyRange?: { readonly from: KExpr; readonly to: KExpr };
  /** A factor on each probability at (b…, i, j) after the softmax (dropout), if any. */
  readonly keep?: KExpr;
  /** O at idx (b…, i, c); the log-sum-exp of each row's scores at idx (b…, i). */
  readonly out?: Placement;
  readonly lse?: Placement;
}

export interface AttentionGradKernel extends KernelBase {
  readonly kind: 'attention_grad';
  readonly batch: readonly number[];
  readonly queries: number;
  readonly keys: number;
  readonly depth: number;
  readonly depthV: number;
  readonly q: Operand;
  readonly k: Operand;
  readonly v: Operand;
  /** dO over (b…, i, c). */
  readonly dout: Operand;
  /** Per row (b…, i): the forward's log-sum-exp, and Σ_c dO·O. Values over idx (b…, i). */
  readonly lse: KExpr;
  readonly delta: KExpr;
  readonly score: KExpr;
  readonly keep?: KExpr;
  /** The keys of query row i that may count, as the forward's (AttentionKernel.keyRange). */
  readonly keyRange?: { readonly from: KExpr; readonly to: KExpr };
  /** ∂score/∂acc: the factor the score applies to q·k (its scale). */
  readonly scale: number;
  /** dq at (b…, i, c); dk at (b…, j, c); dv at (b…, j, c); the scores' gradient at (b…, i, j); each where it is wanted. */
  readonly dq?: Placement;
  readonly dk?: Placement;
  readonly dv?: Placement;
  readonly dscores?: Placement;
}

export type Kernel = MapKernel | ReduceKernel | MatmulKernel | AttentionKernel | AttentionGradKernel;

/** Where a buffer's memory lives: kept across runs (inputs, parameters, state) or planned per run. */
export type BufferRegion = 'persistent' | 'arena';

export interface BufferInfo {
  readonly id: number;
  readonly dtype: 'f32' | 'i32';
  /** Elements. */
  readonly size: number;
  readonly region: BufferRegion;
  /** What it holds, for people: a parameter's name, an output's, a label. */
  readonly name?: string;
  /** The graph node whose value it holds (for buffers laid out with others, the layout's root node). */
  readonly node?: number;
}

/** A tensor of the program: a range of a buffer. */
export interface TensorRef {
  readonly name: string;
  readonly buffer: number;
  /** First element within the buffer. */
  readonly offset: number;
  readonly dtype: 'f32' | 'i32';
  readonly shape: readonly number[];
  /** The axis whose extent a run gives (a packed program's tokens or sequences), and its size; the shape states its largest. */
  readonly runtime?: { readonly axis: number; readonly size: RuntimeSize };
}

export interface InputRef extends TensorRef {
  /** For index and label inputs: values must lie in [0, bound), or equal `ignore`. */
  readonly bound?: number;
  readonly ignore?: number;
  /** Not fed: derived from a label input before each run (the labelled rows of a head computed only there). */
  readonly derived?: Derived;
}

export interface ParamRef extends TensorRef {
  readonly init: string;
  readonly std: number;
}

/** The lowered program: buffers, kernels in execution order, and where inputs, params and outputs live. */
export interface KernelProgram {
  readonly buffers: readonly BufferInfo[];
  readonly kernels: readonly Kernel[];
  readonly inputs: readonly InputRef[];
  readonly params: readonly ParamRef[];
  readonly outputs: readonly TensorRef[];
  /** Persistent state (optimizer moments): zeros at first, kept across runs. */
  readonly states: readonly TensorRef[];
  /** After each run, copy `from` over `to`: new values of parameters and state not computed in place. */
  readonly updates: readonly { readonly name: string; readonly from: TensorRef; readonly to: TensorRef }[];
  /** The sizes a run gives (RuntimeSize.symbol indexes them), with their largest values; absent: none. */
  readonly symbols?: readonly Symbol_[];
}

/** A size a run of the program gives: `tokens` of a padding-free stream, its `sequences`. */
export interface Symbol_ {
  readonly name: string;
  readonly max: number;
}

// ---- ranges ----

/** The extents of a kernel's idx and ridx axes, for range analysis. */
export interface Space {
  readonly idx: readonly number[];
  readonly ridx: readonly number[];
}

/** Ranges found so far, per space: expressions are DAGs, and a walk per use could take exponential time. */
const rangeMemo = new WeakMap<Space, Map<KExpr, [number, number]>>();

/** Bounds [lo, hi] of an integer expression over a space (±Infinity when unknown). */
export function rangeOf(e: KExpr, space: Space): [number, number] {
  let memo = rangeMemo.get(space);
  if (!memo) rangeMemo.set(space, (memo = new Map()));
  let r = memo.get(e);
  if (!r) memo.set(e, (r = computeRange(e, space)));
  return r;
}

function computeRange(e: KExpr, space: Space): [number, number] {
  switch (e.op) {
    case 'const': return [e.value, e.value];
    case 'idx': return [0, (space.idx[e.axis] ?? Infinity) - 1];
    case 'ridx': return [0, (space.ridx[e.axis] ?? Infinity) - 1];
    case 'cast': return e.x.type === 'bool' ? [0, 1] : [-Infinity, Infinity];
    case 'where': {
      const [a, b] = [rangeOf(e.then, space), rangeOf(e.else, space)];
      return [Math.min(a[0], b[0]), Math.max(a[1], b[1])];
    }
    case 'binary': {
      if (e.type !== 'i32') return [-Infinity, Infinity];
      const a = rangeOf(e.a, space);
      const b = rangeOf(e.b, space);
      switch (e.fn) {
        case 'add': return [a[0] + b[0], a[1] + b[1]];
        case 'sub': return [a[0] - b[1], a[1] - b[0]];
        case 'mul': {
          const products = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]].map((p) => (Number.isNaN(p) ? 0 : p));
          return [Math.min(...products), Math.max(...products)];
        }
        case 'idiv': return b[0] === b[1] && b[0] > 0 ? [Math.floor(a[0] / b[0]), Math.floor(a[1] / b[0])] : [-Infinity, Infinity];
        case 'mod': {
          if (!(b[0] === b[1] && b[0] > 0)) return [-Infinity, Infinity];
          return a[0] >= 0 && a[1] < b[0] ? a : [0, b[0] - 1];
        }
        case 'max': return [Math.max(a[0], b[0]), Math.max(a[1], b[1])];
        case 'min': return [Math.min(a[0], b[0]), Math.min(a[1], b[1])];
        default: return [-Infinity, Infinity];
      }
    }
    default: return [-Infinity, Infinity];
  }
}

/** The idx and ridx extents each kind of kernel gives its expressions (stores and stage values). */
export function spaceOf(k: MapKernel | ReduceKernel): Space {
  return { idx: k.shape, ridx: k.kind === 'reduce' ? k.reduced : [] };
}

/** Calls `visit` on every expression node of `e`, each distinct node once. */
export function walkExpr(e: KExpr, visit: (e: KExpr) => void, seen = new Set<KExpr>()): void {
  if (seen.has(e)) return;
  seen.add(e);
  visit(e);
  switch (e.op) {
    case 'load': return walkExpr(e.index, visit, seen);
    case 'unary': case 'cast': return walkExpr(e.x, visit, seen);
    case 'binary': walkExpr(e.a, visit, seen); return walkExpr(e.b, visit, seen);
    case 'where': walkExpr(e.cond, visit, seen); walkExpr(e.then, visit, seen); return walkExpr(e.else, visit, seen);
    case 'random': return walkExpr(e.element, visit, seen);
    default: return;
  }
}

/** Whether an expression draws random numbers (and so needs the run's seed and step). */
export function usesRandom(...exprs: readonly (KExpr | undefined)[]): boolean {
  let found = false;
  for (const e of exprs) if (e) walkExpr(e, (x) => (found ||= x.op === 'random'));
  return found;
}

/** Every top-level expression of a kernel (stores, stages, operands, scores), for analyses that walk them all. */
export function kernelExprs(k: Kernel): KExpr[] {
  const stores = (ss: readonly Store[]) => ss.flatMap((s) => [s.index, s.value]);
  const placed = (p: Placement | undefined) => (p ? [p.index] : []);
  switch (k.kind) {
    case 'map': return stores(k.stores);
    case 'reduce': return [...k.stages.map((s) => s.value), ...stores(k.stores), ...stores(k.elementStores)];
    case 'matmul': return [k.a.value, k.b.value, ...stores(k.stores)];
    case 'attention': return [k.q.value, k.k.value, ...(k.v ? [k.v.value] : []), k.score, ...(k.keep ? [k.keep] : []), ...placed(k.out), ...placed(k.lse), ...(k.keyRange ? [k.keyRange.from, k.keyRange.to] : [])];
    case 'attention_grad': return [k.q.value, k.k.value, k.v.value, k.dout.value, k.lse, k.delta, k.score, ...(k.keep ? [k.keep] : []), ...placed(k.dq), ...placed(k.dk), ...placed(k.dv), ...placed(k.dscores), ...(k.keyRange ? [k.keyRange.from, k.keyRange.to] : [])];
  }
}

/**
 * Whether a matmul's B may be packed once and kept across runs: a plain
 * view of a parameter, the same for every batch, in a program that never
 * writes its parameters (inference). Backends that pack B keep it so until
 * a parameter is written.
 */
export function keepsPackedB(k: MatmulKernel, mode: 'infer' | 'train'): boolean {
  return mode === 'infer' && k.b.constant && !!k.b.view && k.b.view.batchStrides.every((s) => s === 0);
}

/** Direct operands of an expression node. */
export function children(e: KExpr): KExpr[] {
  switch (e.op) {
    case 'load': return [e.index];
    case 'unary': case 'cast': return [e.x];
    case 'binary': return [e.a, e.b];
    case 'where': return [e.cond, e.then, e.else];
    case 'random': return [e.element];
    default: return [];
  }
}

const isLeaf = (e: KExpr) => e.op === 'const' || e.op === 'idx' || e.op === 'ridx' || e.op === 'var' || e.op === 'acc';

/**
 * The non-leaf nodes that `roots` use more than once, in an order where each
 * comes after the shared nodes it uses: what a renderer names once (a local
 * variable) instead of computing at every use. Nodes in `known` are already
 * named by an enclosing scope and are not repeated.
 */
export function sharedNodes(roots: readonly KExpr[], known: ReadonlySet<KExpr> = new Set()): KExpr[] {
  const uses = new Map<KExpr, number>();
  const count = (e: KExpr) => {
    const n = (uses.get(e) ?? 0) + 1;
    uses.set(e, n);
    if (n === 1 && !known.has(e)) for (const c of children(e)) count(c);
  };
  for (const r of roots) count(r);
  const order: KExpr[] = [];
  const placed = new Set<KExpr>();
  const visit = (e: KExpr) => {
    if (placed.has(e) || known.has(e)) return;
    placed.add(e);
    for (const c of children(e)) visit(c);
    if (!isLeaf(e) && (uses.get(e) ?? 0) > 1) order.push(e);
  };
  for (const r of roots) visit(r);
  return order;
}

/**
 * Rebuilds an expression bottom-up: each node's children first, then `node`
 * on the node with its new children (shared subexpressions stay shared
 * through `memo`).
 */
export function rebuildExpr(e: KExpr, node: (e: KExpr) => KExpr, memo: Map<KExpr, KExpr>): KExpr {
  const known = memo.get(e);
  if (known) return known;
  const go = (x: KExpr) => rebuildExpr(x, node, memo);
  let out: KExpr;
  switch (e.op) {
    case 'load': out = { ...e, index: go(e.index) }; break;
    case 'unary': case 'cast': out = { ...e, x: go(e.x) } as KExpr; break;
    case 'binary': out = { ...e, a: go(e.a), b: go(e.b) }; break;
    case 'where': out = { ...e, cond: go(e.cond), then: go(e.then), else: go(e.else) }; break;
    case 'random': out = { ...e, element: go(e.element) }; break;
    default: out = e;
  }
  out = node(out);
  memo.set(e, out);
  return out;
}

/** A kernel with its args renumbered: `to(old)` is each old arg's new index in `k.args`. */
export function mapArgs(k: Kernel, to: (arg: number) => number): Kernel {
  return rebuildKernel(k, (e) => (e.op === 'load' ? { ...e, arg: to(e.arg) } : e), to);
}

/** A kernel with every expression rebuilt by `node` (rebuildExpr) and its args renumbered by `to`. */
export function rebuildKernel(k: Kernel, node: (e: KExpr) => KExpr, to: (arg: number) => number = (a) => a): Kernel {
  const memo = new Map<KExpr, KExpr>();
  const e = (x: KExpr) => rebuildExpr(x, node, memo);
  const store = (s: Store): Store => ({ arg: to(s.arg), index: e(s.index), value: e(s.value) });
  const operand = (o: Operand): Operand => ({ ...o, value: e(o.value), ...(o.view ? { view: { ...o.view, arg: to(o.view.arg) } } : {}) });
  const placed = (p: Placement | undefined) => (p ? { placement: { arg: to(p.arg), index: e(p.index) } } : undefined);
  switch (k.kind) {
    case 'map': return { ...k, stores: k.stores.map(store) };
    case 'reduce': return { ...k, stages: k.stages.map((s) => ({ ...s, value: e(s.value) })), stores: k.stores.map(store), elementStores: k.elementStores.map(store) };
    case 'matmul': return { ...k, a: operand(k.a), b: operand(k.b), stores: k.stores.map(store) };
    case 'attention': {
      const out = placed(k.out)?.placement;
      const lse = placed(k.lse)?.placement;
      const keyRange = k.keyRange && { from: e(k.keyRange.from), to: e(k.keyRange.to) };
      return { ...k, q: operand(k.q), k: operand(k.k), ...(k.v ? { v: operand(k.v) } : {}), score: e(k.score), ...(k.keep ? { keep: e(k.keep) } : {}), ...(out ? { out } : {}), ...(lse ? { lse } : {}), ...(keyRange ? { keyRange } : {}) };
    }
    case 'attention_grad': {
      const [dq, dk, dv, dscores] = [k.dq, k.dk, k.dv, k.dscores].map((p) => placed(p)?.placement);
      const keyRange = k.keyRange && { from: e(k.keyRange.from), to: e(k.keyRange.to) };
      return {
        ...(keyRange ? { keyRange } : {}),
        ...k, q: operand(k.q), k: operand(k.k), v: operand(k.v), dout: operand(k.dout), lse: e(k.lse), delta: e(k.delta), score: e(k.score), ...(k.keep ? { keep: e(k.keep) } : {}),
        ...(dq ? { dq } : {}), ...(dk ? { dk } : {}), ...(dv ? { dv } : {}), ...(dscores ? { dscores } : {}),
      };
    }
  }
}
