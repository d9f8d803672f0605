// Kernel expressions four points at a time: every value is a v128 (f32x4
// for f32, i32x4 for i32, lane masks of all ones or zeros for bool) over
// four consecutive values of one idx axis, the lanes' axis. Each lane
// computes exactly what expr.ts computes for its point, with the same f32
// operations in the same order (comparisons and selects where it branches
// or selects), so the results are the same bits. A load or store whose four
// indices are consecutive is one vector access; otherwise (a gather through
// token ids, a row that ends inside the group) four scalar ones. Integer
// division, the host's functions and random draws run lane by lane.

import { notLegalized } from '../../kernel/composite.js';
import { rangeOf, sharedNodes, type KExpr, type Space, type Store } from '../../kernel/ir.js';
import type { Code } from './encode.js';
import { divide, type Frame, type HostMath } from './expr.js';

/** Lane offsets along the lanes' axis. */
const LANES: readonly [number, number, number, number] = [0, 1, 2, 3];

const splatF32 = (c: Code, v: number) => c.f32(v).f32x4Splat();
const splatI32 = (c: Code, v: number) => c.i32(v).i32x4Splat();

/** p(x) by Horner's rule over f32x4, x in a v128 local: as math.ts's horner, lane by lane. */
function horner(c: Code, x: number, coefficients: readonly number[]): void {
  splatF32(c, coefficients[0]!);
  for (const k of coefficients.slice(1)) {
    c.get(x).f32x4Mul();
    splatF32(c, k).f32x4Add();
  }
}

/** e^x of the f32x4 in local x: math.ts's inlineExp, lane by lane. */
export function vectorExp(c: Code, x: number): void {
  const [xc, n, r] = [c.local('v128'), c.local('v128'), c.local('v128')];
  // x < −87.3 ? −87.3 : x > 88.72 ? 88.72 : x
  splatF32(c, -87.3);
  splatF32(c, 88.72).get(x).get(x);
  splatF32(c, 88.72).f32x4Gt().v128Bitselect();
  c.get(x);
  splatF32(c, -87.3).f32x4Lt().v128Bitselect().set(xc);
  c.get(xc);
  splatF32(c, 1.44269504).f32x4Mul().f32x4Floor().set(n);
  c.get(xc).get(n);
  splatF32(c, 0.693359375).f32x4Mul().f32x4Sub().get(n);
  splatF32(c, -2.1219444e-4).f32x4Mul().f32x4Sub().set(r);
  horner(c, r, [2.75573192e-6, 2.48015873e-5, 1.98412698e-4, 1.38888889e-3, 8.33333333e-3, 4.16666667e-2, 1.66666667e-1, 0.5, 1, 1]);
  // 2^n through the bits of n + 1.5·2²³, as the scalar form.
  c.get(n);
  splatF32(c, 12582912).f32x4Add();
  splatI32(c, 0x4b400000 - 127).i32x4Sub().i32(23).i32x4Shl().f32x4Mul().set(r);
  // x < −87.3 ? 0 : x > 88.72 ? ∞ : e
  splatF32(c, 0);
  splatF32(c, Infinity).get(r).get(x);
  splatF32(c, 88.72).f32x4Gt().v128Bitselect();
  c.get(x);
  splatF32(c, -87.3).f32x4Lt().v128Bitselect();
}

/** tanh of the f32x4 in local x: math.ts's inlineTanh, lane by lane. */
export function vectorTanh(c: Code, x: number): void {
  const [a, x2, big, twice] = [c.local('v128'), c.local('v128'), c.local('v128'), c.local('v128')];
  c.get(x).f32x4Abs().set(a);
  c.get(x).get(x).f32x4Mul().set(x2);
  c.get(a);
  splatF32(c, 2).f32x4Mul().set(twice);
  splatF32(c, 1);
  splatF32(c, 2);
  vectorExp(c, twice);
  splatF32(c, 1).f32x4Add().f32x4Div().f32x4Sub().set(big);
  horner(c, x2, [-0.00886323553, 0.0218694885, -0.053968254, 0.133333333, -0.333333333, 1]);
  c.get(x).f32x4Mul();
  c.get(big).f32x4Neg().get(big).get(x);
  splatF32(c, 0).f32x4Lt().v128Bitselect();
  c.get(a);
  splatF32(c, 0.3).f32x4Lt().v128Bitselect();
}

/** erf of the f32x4 in local x: math.ts's inlineErf, lane by lane. */
export function vectorErf(c: Code, x: number): void {
  const [a, x2, t, tail] = [c.local('v128'), c.local('v128'), c.local('v128'), c.local('v128')];
  c.get(x).f32x4Abs().set(a);
  c.get(x).get(x).f32x4Mul().set(x2);
  splatF32(c, 1);
  splatF32(c, 1).get(a);
  splatF32(c, 0.5).f32x4Mul().f32x4Add().f32x4Div().set(t);
  horner(c, t, [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223]);
  c.get(a).get(a).f32x4Mul().f32x4Sub().set(tail);
  vectorExp(c, tail);
  c.get(t).f32x4Mul().set(tail);
  splatF32(c, 1).get(tail).f32x4Sub().set(tail);
  horner(c, x2, [-0.000757575758, 0.00462962963, -0.0238095238, 0.1, -0.333333333, 1]);
  c.get(x).f32x4Mul();
  splatF32(c, 1.1283791671).f32x4Mul();
  c.get(tail).f32x4Neg().get(tail).get(x);
  splatF32(c, 0).f32x4Lt().v128Bitselect();
  c.get(a);
  splatF32(c, 0.5).f32x4Lt().v128Bitselect();
}

const VECTOR_MATH = { exp: vectorExp, tanh: vectorTanh, erf: vectorErf } as const;

/** The axis whose four consecutive coordinates the lanes hold: an idx axis, or a reduction's ridx axis. */
export interface Lanes {
  readonly ridx: boolean;
  readonly axis: number;
}

export class VectorExprs {
  /**
   * The frame's local of the lanes' axis holds the first lane's coordinate;
   * `accVector` the accumulator's four values (matmul epilogues).
   */
  constructor(
    private readonly frame: Frame,
    private readonly space: Space,
    private readonly lanes: Lanes,
    private readonly accVector = -1,
    private readonly named: ReadonlyMap<KExpr, number> = new Map(),
  ) {}

  /** A scope whose shared subexpressions of `roots` are computed now, into v128 locals. */
  open(roots: readonly KExpr[]): VectorExprs {
    const named = new Map(this.named);
    const inner = new VectorExprs(this.frame, this.space, this.lanes, this.accVector, named);
    for (const e of sharedNodes(roots, new Set(this.named.keys()))) {
      inner.emit(e);
      const local = this.frame.c.local('v128');
      this.frame.c.set(local);
      named.set(e, local);
    }
    return inner;
  }

  /** Pushes the four values of `e` in a scope of its shared subexpressions. */
  value(e: KExpr): void {
    this.open([e]).emit(e);
  }

  /** Stores each store's four values at its four indices. */
  stores(stores: readonly Store[]): void {
    const inner = this.open(stores.flatMap((s) => [s.index, s.value]));
    for (const s of stores) inner.store(s);
  }

  private store(s: Store): void {
    const c = this.frame.c;
    const [value, index, first] = [c.local('v128'), c.local('v128'), c.local('i32')];
    this.emit(s.value);
    c.set(value);
    this.emit(s.index);
    c.set(index);
    const f32 = this.frame.argTypes[s.arg] === 'f32';
    const laneAddress = (lane: number) => c.get(this.frame.args[s.arg]!).get(index).i32x4ExtractLane(lane).i32(2).i32Shl().i32Add();
    if (this.step(s.index) === 1) {
      c.get(this.frame.args[s.arg]!).get(index).i32x4ExtractLane(0).i32(2).i32Shl().i32Add().get(value).v128Store();
      return;
    }
    this.consecutive(index, first);
    c.ifElse(() => {
      c.get(this.frame.args[s.arg]!).get(first).i32(2).i32Shl().i32Add().get(value).v128Store();
    }, () => {
      for (const lane of LANES) {
        laneAddress(lane);
        c.get(value);
        if (f32) c.f32x4ExtractLane(lane).f32Store();
        else c.i32x4ExtractLane(lane).i32Store();
      }
    });
  }

  /**
   * How an i32 expression steps from lane to lane, where that is plain
   * from its form: 0 (the same in every lane), a constant step, or
   * undefined (found at run time).
   */
  private step(e: KExpr): number | undefined {
    const memo = this.steps;
    if (memo.has(e)) return memo.get(e);
    let step: number | undefined;
    switch (e.op) {
      case 'const': case 'var': step = 0; break;
      case 'idx': case 'ridx': step = e.axis === this.lanes.axis && (e.op === 'ridx') === this.lanes.ridx ? 1 : 0; break;
      case 'binary': {
        const [a, b] = [this.step(e.a), this.step(e.b)];
        if (a === undefined || b === undefined) break;
        if (e.fn === 'add') step = a + b;
        else if (e.fn === 'sub') step = a - b;
        else if (e.fn === 'mul' && (a === 0 || b === 0)) step = a === 0 && b === 0 ? 0 : e.a.op === 'const' ? e.a.value * b : e.b.op === 'const' ? e.b.value * a : undefined;
        else if (a === 0 && b === 0) step = 0;
        break;
      }
      default: {
        // Anything else is uniform when all it reads is (a load at a uniform index, a function of uniform values).
        const parts = e.op === 'load' ? [e.index] : e.op === 'unary' || e.op === 'cast' ? [e.x] : e.op === 'where' ? [e.cond, e.then, e.else] : e.op === 'random' ? [e.element] : undefined;
        if (parts && parts.every((x) => this.step(x) === 0)) step = 0;
      }
    }
    memo.set(e, step);
    return step;
  }

  private readonly steps = new Map<KExpr, number | undefined>();

  /** Pushes whether the i32x4 in local `index` counts up by one from its first lane (kept in local `first`). */
  private consecutive(index: number, first: number): void {
    const c = this.frame.c;
    c.get(index).i32x4ExtractLane(0).set(first);
    c.get(index).get(first).i32x4Splat().v128I32x4(LANES).i32x4Add().i32x4Eq().i32x4AllTrue();
  }

  /** Pushes the four values of `e`. */
  emit(e: KExpr): void {
    const { c } = this.frame;
    const local = this.named.get(e);
    if (local !== undefined) {
      c.get(local);
      return;
    }
    switch (e.op) {
      case 'const':
        if (e.type === 'f32') splatF32(c, e.value);
        else splatI32(c, e.type === 'bool' ? (e.value ? -1 : 0) : e.value);
        return;
      case 'idx': case 'ridx': {
        const ridx = e.op === 'ridx';
        c.get(ridx ? this.frame.ridx(e.axis) : this.frame.idx(e.axis)).i32x4Splat();
        if (e.axis === this.lanes.axis && ridx === this.lanes.ridx) c.v128I32x4(LANES).i32x4Add();
        return;
      }
      case 'var': c.get(this.frame.variable(e.id)).f32x4Splat(); return;
      case 'acc': c.get(this.accVector); return;
      case 'load': return this.load(e.arg, e.index);
      case 'random': {
        const element = c.local('v128');
        this.emit(e.element);
        c.set(element);
        splatF32(c, 0);
        for (const lane of LANES) {
          c.get(this.frame.seed);
          c.get(this.frame.streams).i32Load(4 * e.stream);
          c.get(this.frame.step);
          c.get(element).i32x4ExtractLane(lane);
          c.call(this.frame.helpers.uniform01).f32x4ReplaceLane(lane);
        }
        return;
      }
      case 'cast': return this.cast(e);
      case 'where':
        this.emit(e.then);
        this.emit(e.else);
        this.emit(e.cond);
        c.v128Bitselect();
        return;
      case 'unary': return this.unary(e);
      case 'binary': return this.binary(e);
    }
  }

  private load(arg: number, index: KExpr): void {
    const c = this.frame.c;
    const [at, first] = [c.local('v128'), c.local('i32')];
    const f32 = this.frame.argTypes[arg] === 'f32';
    const base = this.frame.args[arg]!;
    const step = this.step(index);
    if (step === 0 || step === 1) {
      // Known from its form: one value in every lane, or four consecutive ones.
      this.emit(index);
      c.i32x4ExtractLane(0).i32(2).i32Shl().get(base).i32Add();
      if (step === 1) c.v128Load();
      else if (f32) c.v128Load32Splat();
      else c.i32Load().i32x4Splat();
      return;
    }
    this.emit(index);
    c.set(at);
    this.consecutive(at, first);
    c.ifValue('v128', () => {
      c.get(base).get(first).i32(2).i32Shl().i32Add().v128Load();
    }, () => {
      c.v128Zero();
      for (const lane of LANES) {
        c.get(base).get(at).i32x4ExtractLane(lane).i32(2).i32Shl().i32Add();
        if (f32) c.f32Load().f32x4ReplaceLane(lane);
        else c.i32Load().i32x4ReplaceLane(lane);
      }
    });
  }

  private cast(e: Extract<KExpr, { op: 'cast' }>): void {
    const c = this.frame.c;
    const from = e.x.type;
    const to = e.type;
    if (from === to) return this.emit(e.x);
    if (to === 'bool') {
      this.emit(e.x);
      if (from === 'f32') splatF32(c, 0).f32x4Ne();
      else splatI32(c, 0).i32x4Ne();
    } else if (from === 'bool') {
      if (to === 'f32') {
        splatF32(c, 1);
        splatF32(c, 0);
        this.emit(e.x);
        c.v128Bitselect();
      } else {
        this.emit(e.x);
        splatI32(c, 1).v128And();
      }
    } else if (to === 'f32') {
      this.emit(e.x);
      c.f32x4ConvertI32x4S();
    } else {
      this.emit(e.x);
      c.i32x4TruncSatF32x4S();
    }
  }

  /** fn lane by lane on the f32x4 on the stack (the host's f64 function, as the scalar form calls it). */
  private perLane(fn: HostMath): void {
    const c = this.frame.c;
    const x = c.local('v128');
    c.set(x);
    splatF32(c, 0);
    for (const lane of LANES) c.get(x).f32x4ExtractLane(lane).f64PromoteF32().call(this.frame.helpers.math[fn]).f32DemoteF64().f32x4ReplaceLane(lane);
  }

  private unary(e: Extract<KExpr, { op: 'unary' }>): void {
    const c = this.frame.c;
    if (e.type === 'i32') {
      if (e.fn !== 'neg') throw new Error(`i32 ${e.fn} has no meaning`);
      splatI32(c, 0);
      this.emit(e.x);
      c.i32x4Sub();
      return;
    }
    this.emit(e.x);
    switch (e.fn) {
      case 'neg': c.f32x4Neg(); return;
      case 'sqrt': c.f32x4Sqrt(); return;
      case 'rsqrt': {
        const t = c.local('v128');
        c.f32x4Sqrt().set(t);
        splatF32(c, 1).get(t).f32x4Div();
        return;
      }
      case 'relu': {
        // x > 0 ? x : 0
        const t = c.local('v128');
        c.set(t);
        c.get(t);
        splatF32(c, 0).get(t);
        splatF32(c, 0).f32x4Gt().v128Bitselect();
        return;
      }
      case 'exp': case 'tanh': case 'erf': {
        const x = c.local('v128');
        c.set(x);
        VECTOR_MATH[e.fn](c, x);
        return;
      }
      case 'log': case 'sin': case 'cos':
        this.perLane(e.fn);
        return;
      default: notLegalized(e.fn);
    }
  }

  private binary(e: Extract<KExpr, { op: 'binary' }>): void {
    const c = this.frame.c;
    const f32 = e.a.type === 'f32';
    const both = (): [number, number] => {
      const [ta, tb] = [c.local('v128'), c.local('v128')];
      this.emit(e.a);
      c.set(ta);
      this.emit(e.b);
      c.set(tb);
      return [ta, tb];
    };
    switch (e.fn) {
      case 'max': case 'min': {
        // a > b ? a : b (max), a < b ? a : b (min), as the scalar form selects.
        const [ta, tb] = both();
        c.get(ta).get(tb).get(ta).get(tb);
        if (f32) (e.fn === 'max' ? c.f32x4Gt() : c.f32x4Lt());
        else (e.fn === 'max' ? c.i32x4GtS() : c.i32x4LtS());
        c.v128Bitselect();
        return;
      }
      case 'pow': {
        const [ta, tb] = both();
        splatF32(c, 0);
        for (const lane of LANES) {
          c.get(ta).f32x4ExtractLane(lane).f64PromoteF32().get(tb).f32x4ExtractLane(lane).f64PromoteF32();
          c.call(this.frame.helpers.math.pow).f32DemoteF64().f32x4ReplaceLane(lane);
        }
        return;
      }
      case 'idiv': case 'mod': return this.division(e.fn, both(), rangeOf(e.a, this.space)[0] >= 0 && rangeOf(e.b, this.space)[0] >= 0);
      default:
        break;
    }
    this.emit(e.a);
    this.emit(e.b);
    switch (e.fn) {
      case 'add': f32 ? c.f32x4Add() : c.i32x4Add(); return;
      case 'sub': f32 ? c.f32x4Sub() : c.i32x4Sub(); return;
      case 'mul': f32 ? c.f32x4Mul() : c.i32x4Mul(); return;
      case 'div':
        if (!f32) throw new Error('i32 div has no meaning in the kernel IR');
        c.f32x4Div();
        return;
      case 'lt': f32 ? c.f32x4Lt() : c.i32x4LtS(); return;
      default: notLegalized(e.fn);
    }
  }

  /** Floor division or modulo lane by lane, as expr.ts's. */
  private division(fn: 'idiv' | 'mod', [ta, tb]: [number, number], truncating: boolean): void {
    const c = this.frame.c;
    const [a, b] = [c.local('i32'), c.local('i32')];
    splatI32(c, 0);
    for (const lane of LANES) {
      c.get(ta).i32x4ExtractLane(lane).set(a);
      c.get(tb).i32x4ExtractLane(lane).set(b);
      divide(c, fn, a, b, truncating);
      c.i32x4ReplaceLane(lane);
    }
  }
}
