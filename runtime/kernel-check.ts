// The proof that a kernel stays inside its buffers, made before any code is
// generated from it: the runtime runs generated C in this process, so a
// kernel from a program directory is code only once this check passes.
//
//   1. Scopes: every expression is read where the renderers evaluate it (a
//      matmul's A operand over (b…, m, k), its epilogue over (b…, m, n) with
//      the accumulator, a reduction's stage over the kept and reduced axes
//      with the earlier stages' values, …); a coordinate, stage value or
//      accumulator outside its scope is refused.
//   2. Ranges: each integer node's bounds over its scope's extents, by
//      interval arithmetic, once per node and scope (expressions are DAGs).
//      A loaded integer (a token id) is unbounded until clamped with min and
//      max, as the lowering of gathers does, and so is arithmetic that may
//      pass 32 bits; integer division needs a divisor proven positive.
//   3. Accesses: every load, store and placement index lies in [0, size) of
//      its arg for the sizes this kernel binds; strided views and
//      random draws likewise; args written are not read-only.
//   4. Work: iteration spaces and the scratch the templates allocate are
//      bounded, so that a hostile size cannot make a renderer allocate
//      without limit.
//
// Loads in either arm of a `where` must both be in range: renderers may
// evaluate a shared subexpression before the choice.

import type { AttentionGradKernel, AttentionKernel, Kernel, KExpr, Operand, Placement, Store, StridedView } from '../kernel/ir.js';

/** A kernel that does not pass, with the reason. */
export class KernelCheckError extends Error {}

type Range = readonly [number, number];
const I32: Range = [-(2 ** 31), 2 ** 31 - 1];
const UNKNOWN: Range = [-Infinity, Infinity];

/** Where an expression is evaluated: its coordinates' extents and what else is in scope. */
interface Scope {
  readonly what: string;
  readonly idx: readonly number[];
  readonly ridx: readonly number[];
  /** Stage values `var 0 … vars-1` in scope. */
  readonly vars: number;
  readonly acc: boolean;
}

const product = (xs: readonly number[]) => xs.reduce((a, d) => a * d, 1);

class KernelProver {
  private readonly ranges = new Map<Scope, Map<KExpr, Range>>();

  constructor(
    private readonly k: Kernel,
    private readonly fail: (message: string) => never,
    private readonly budget: number,
  ) {}

  private arg(i: number, what: string): Kernel['args'][number] {
    const a = this.k.args[i];
    if (!a) this.fail(`${what} names arg ${i}; the kernel has ${this.k.args.length}`);
    return a;
  }

  /** Bounds of an i32 expression in a scope; checks every node below it on the way. */
  range(e: KExpr, scope: Scope): Range {
    let memo = this.ranges.get(scope);
    if (!memo) this.ranges.set(scope, (memo = new Map()));
    const known = memo.get(e);
    if (known) return known;
    const r = this.compute(e, scope);
    memo.set(e, r);
    return r;
  }

  private compute(e: KExpr, s: Scope): Range {
    switch (e.op) {
      case 'const': return [e.value, e.value];
      case 'idx':
        if (e.axis >= s.idx.length) this.fail(`${s.what} uses coordinate ${e.axis} of a space of ${s.idx.length}`);
        return [0, s.idx[e.axis]! - 1];
      case 'ridx':
        if (e.axis >= s.ridx.length) this.fail(`${s.what} uses reduced coordinate ${e.axis} of ${s.ridx.length}`);
        return [0, s.ridx[e.axis]! - 1];
      case 'var':
        if (e.id >= s.vars) this.fail(`${s.what} uses stage ${e.id}, which is not computed before it`);
        return UNKNOWN;
      case 'acc':
        if (!s.acc) this.fail(`${s.what} uses the accumulator, which it has not`);
        return UNKNOWN;
      case 'load': {
        const a = this.arg(e.arg, `a load in ${s.what}`);
        if (a.access === 'write') this.fail(`${s.what} loads arg ${e.arg}, which the kernel only writes`);
        this.inside(this.range(e.index, s), a.size, `a load of arg ${e.arg} in ${s.what}`);
        return UNKNOWN;
      }
      case 'unary': this.range(e.x, s); return UNKNOWN;
      case 'cast': {
        const x = this.range(e.x, s);
        return e.x.type === 'bool' ? [0, 1] : e.x.type === 'i32' && e.type === 'i32' ? x : UNKNOWN;
      }
      case 'where': {
        this.range(e.cond, s);
        const [a, b] = [this.range(e.then, s), this.range(e.else, s)];
        return [Math.min(a[0], b[0]), Math.max(a[1], b[1])];
      }
      case 'random': {
        if (e.stream >= this.k.streams.length) this.fail(`${s.what} draws from stream ${e.stream}; the kernel binds ${this.k.streams.length}`);
        // A backend may draw a stream's tests once per run into a table of `count` entries.
        if (e.count > this.budget) this.fail(`${s.what} draws ${e.count} values, more than the program's ${this.budget}`);
        this.inside(this.range(e.element, s), e.count, `a random draw in ${s.what}`);
        return UNKNOWN;
      }
      case 'binary': {
        const [a, b] = [this.range(e.a, s), this.range(e.b, s)];
        if (e.a.type !== 'i32') return UNKNOWN;
        return this.integer(e.fn, a, b, s);
      }
    }
  }

  /**
   * The range of an i32 operation. Arithmetic on unbounded values (data, not
   * indices) or past 32 bits has no range, so no index may depend on it
   * unclamped; division needs a divisor proven positive (a zero would trap).
   */
  private integer(fn: string, a: Range, b: Range, s: Scope): Range {
    if (fn === 'max') return [Math.max(a[0], b[0]), Math.max(a[1], b[1])];
    if (fn === 'min') return [Math.min(a[0], b[0]), Math.min(a[1], b[1])];
    if (fn === 'lt') return [0, 1];
    if ((fn === 'idiv' || fn === 'mod') && !(b[0] >= 1)) this.fail(`${s.what} divides by a value that may be zero or negative`);
    const bounded = (r: Range) => Number.isFinite(r[0]) && Number.isFinite(r[1]);
    if (!bounded(a) || !bounded(b)) return UNKNOWN;
    let r: Range;
    switch (fn) {
      case 'add': r = [a[0] + b[0], a[1] + b[1]]; break;
      case 'sub': r = [a[0] - b[1], a[1] - b[0]]; break;
      case 'mul': {
        const p = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]];
        r = [Math.min(...p), Math.max(...p)];
        break;
      }
      case 'mod': r = a[0] >= 0 && a[1] < b[0] ? a : [0, b[1] - 1]; break;
      case 'idiv': r = [Math.min(Math.floor(a[0] / b[0]), Math.floor(a[0] / b[1])), Math.max(Math.floor(a[1] / b[0]), Math.floor(a[1] / b[1]))]; break;
      default: return this.fail(`${s.what} applies ${fn} to integers`);
    }
    return r[0] < I32[0] || r[1] > I32[1] ? UNKNOWN : r;
  }

  private inside(r: Range, size: number, what: string): void {
    if (!(r[0] >= 0 && r[1] < size)) this.fail(`${what} reaches [${r[0]}, ${r[1]}], outside [0, ${size})`);
  }

  /** Checks an expression and everything below it in a scope. */
  expr(e: KExpr, scope: Scope): void {
    this.range(e, scope);
  }

  store(s: Store | Placement, scope: Scope, value?: KExpr): void {
    const a = this.arg(s.arg, `a store in ${scope.what}`);
    if (a.access === 'read') this.fail(`${scope.what} stores to arg ${s.arg}, which the kernel only reads`);
    this.inside(this.range(s.index, scope), a.size, `a store to arg ${s.arg} in ${scope.what}`);
    if (value) this.expr(value, scope);
  }

  /** A strided view over (batch…, rows, cols) inside its arg. */
  view(v: StridedView, batch: readonly number[], rows: number, cols: number, what: string): void {
    const a = this.arg(v.arg, what);
    if (a.access === 'write') this.fail(`${what} reads arg ${v.arg}, which the kernel only writes`);
    if (v.batchStrides.length !== batch.length) this.fail(`${what} has ${v.batchStrides.length} batch strides for ${batch.length} batch axes`);
    let [lo, hi] = [v.offset, v.offset];
    const extend = (extent: number, stride: number) => {
      const far = (extent - 1) * stride;
      lo += Math.min(0, far);
      hi += Math.max(0, far);
    };
    batch.forEach((d, i) => extend(d, v.batchStrides[i]!));
    extend(rows, v.rowStride);
    extend(cols, v.colStride);
    this.inside([lo, hi], a.size, what);
  }

  operand(o: Operand, batch: readonly number[], rows: number, cols: number, what: string): void {
    this.expr(o.value, { what, idx: [...batch, rows, cols], ridx: [], vars: 0, acc: false });
    if (o.view) this.view(o.view, batch, rows, cols, `${what}'s view`);
  }
}

/** Points of a space or a scratch block, at most 32-bit. */
function points(extents: readonly number[], what: string, fail: (m: string) => never): number {
  const n = product(extents);
  if (n > 2 ** 31 - 1) fail(`its ${what} has ${n} points, more than 2^31 - 1`);
  return n;
}

/** Query rows a backend takes at once in attention (the largest block any renderer uses). */
const QUERY_BLOCK = 128;

function attentionScratch(k: AttentionKernel | AttentionGradKernel): number {
  return 2 * QUERY_BLOCK * k.keys + k.keys * (k.depth + k.depthV) + QUERY_BLOCK * Math.max(k.depth, k.depthV);
}

/**
 * Checks one kernel of a program. `budget` bounds the elements of scratch a
 * kernel may need (the program's own memory, or a few million for a small
 * one): packing buffers and attention's blocks are sized from the kernel's
 * extents.
 */
export function checkKernel(k: Kernel, budget: number): void {
  const fail = (message: string): never => {
    throw new KernelCheckError(`kernel ${k.name} (${k.kind}): ${message}`);
  };
  const p = new KernelProver(k, fail, budget);
  const scope = (what: string, idx: readonly number[], ridx: readonly number[] = [], vars = 0, acc = false): Scope => ({ what, idx, ridx, vars, acc });
  const scratch = (elements: number) => {
    if (elements > budget) fail(`needs ${elements} elements of scratch, more than the program's ${budget}`);
  };
  switch (k.kind) {
    case 'map': {
      points(k.shape, 'space', fail);
      if ((k.ordered ?? 0) > k.shape.length) fail(`it orders ${k.ordered} axes of a ${k.shape.length}-axis space`);
      const s = scope('a store', k.shape);
      for (const st of k.stores) p.store(st, s, st.value);
      return;
    }
    case 'reduce': {
      points([...k.shape, ...k.reduced], 'space', fail);
      k.stages.forEach((stage, i) => p.expr(stage.value, scope(`stage ${i}`, k.shape, stage.combine === 'let' ? [] : k.reduced, i)));
      const after = scope('a store', k.shape, [], k.stages.length);
      for (const st of k.stores) p.store(st, after, st.value);
      const each = scope('an element store', k.shape, k.reduced, k.stages.length);
      for (const st of k.elementStores) p.store(st, each, st.value);
      return;
    }
    case 'matmul': {
      for (const [what, face] of [['A', [k.m, k.k]], ['B', [k.k, k.n]], ['output', [k.m, k.n]]] as const) points([...k.batch, ...face], what, fail);
      scratch(k.m * k.k + k.k * k.n + k.m * k.n);
      p.operand(k.a, k.batch, k.m, k.k, 'operand A');
      p.operand(k.b, k.batch, k.k, k.n, 'operand B');
      const out = scope('the epilogue', [...k.batch, k.m, k.n], [], 0, true);
      for (const st of k.stores) p.store(st, out, st.value);
      return;
    }
    case 'attention':
    case 'attention_grad': {
      const { batch, queries, keys, depth, depthV } = k;
      for (const [what, face] of [['scores', [queries, keys]], ['queries', [queries, Math.max(depth, depthV)]], ['keys', [keys, Math.max(depth, depthV)]]] as const) points([...batch, ...face], what, fail);
      scratch(attentionScratch(k));
      p.operand(k.q, batch, queries, depth, 'q');
      p.operand(k.k, batch, keys, depth, 'k');
      if (k.v) p.operand(k.v, batch, keys, depthV, 'v');
      const scores = [...batch, queries, keys];
      p.expr(k.score, scope('the score', scores, [], 0, true));
      if (k.keep) p.expr(k.keep, scope('the keep factor', scores));
      const rows = [...batch, queries];
      const place = (pl: Placement | undefined, extents: readonly number[], what: string) => pl && p.store(pl, scope(what, extents));
      if (k.keyRange) {
        // Renderers read keys [from, to) where they lie: both bounds within [0, keys].
        for (const [what, e] of [['from', k.keyRange.from], ['to', k.keyRange.to]] as const) {
          const [lo, hi] = p.range(e, scope(`the key range's ${what}`, rows));
          if (lo < 0 || hi > keys) fail(`its key range's ${what} may lie outside [0, ${keys}]`);
        }
      }
      if (k.kind === 'attention') {
        place(k.out, [...rows, depthV], 'the output');
        place(k.lse, rows, 'the log-sum-exp');
        return;
      }
      p.operand(k.dout, batch, queries, depthV, 'dout');
      p.expr(k.lse, scope('the saved log-sum-exp', rows));
      p.expr(k.delta, scope('delta', rows));
      if (!Number.isFinite(k.scale)) fail('its scale is not finite');
      place(k.dq, [...rows, depth], 'dq');
      place(k.dk, [...batch, keys, depth], 'dk');
      place(k.dv, [...batch, keys, depthV], 'dv');
      place(k.dscores, scores, 'the scores\' gradient');
      return;
    }
  }
}

/** Elements of scratch any kernel may need: the program's own memory, and at least a few million for small programs. */
export function scratchBudget(regionBytes: number): number {
  return Math.max(1 << 22, Math.floor(regionBytes / 4));
}
