// Kernel expressions → WebAssembly instructions. f32 values are f32, i32
// values i32, booleans i32 0 or 1. A scope (a loop body) first computes the
// subexpressions its roots use more than once into locals, as every
// renderer's scopes do; exp, tanh and erf are polynomials in wasm, inline
// (math.ts), log, sin, cos and pow the host's (imported), and the random
// draws are Threefry-2x32 in wasm, bit for bit the other backends'.

import { notLegalized } from '../../kernel/composite.js';
import { rangeOf, sharedNodes, type KExpr, type ScalarType, type Space } from '../../kernel/ir.js';
import type { Code, ValType } from './encode.js';
import { inlineErf, inlineExp, inlineTanh } from './math.js';

const INLINE = { exp: inlineExp, tanh: inlineTanh, erf: inlineErf } as const;

/** The host functions a module imports, by name: f64 → f64 (pow: two). */
export const HOST_MATH = ['exp', 'log', 'tanh', 'erf', 'sin', 'cos', 'pow'] as const;
export type HostMath = (typeof HOST_MATH)[number];

/** Function indices a kernel body calls. */
export interface Helpers {
  readonly math: Readonly<Record<HostMath, number>>;
  /** exp in wasm as a function (f32 → f32), for the f64 paths of attention. */
  readonly fast: Readonly<Record<'exp', number>>;
  /** uniform01(seed, stream, step, element) → f32. */
  readonly uniform01: number;
}

/** Where a kernel's values are: the locals of its coordinates, args, draws and accumulators. */
export interface Frame {
  readonly c: Code;
  readonly helpers: Helpers;
  /** The byte address of each arg. */
  readonly args: readonly number[];
  readonly argTypes: readonly ('f32' | 'i32')[];
  readonly seed: number;
  readonly step: number;
  /** The address of the kernel's stream ids (i32 each). */
  readonly streams: number;
  idx(axis: number): number;
  ridx(axis: number): number;
  /** The f32 local holding stage `id`'s value, or the accumulator. */
  variable(id: number): number;
  acc(): number;
}

const valType = (t: ScalarType): ValType => (t === 'f32' ? 'f32' : 'i32');

export class WasmExprs {
  constructor(
    private readonly frame: Frame,
    private readonly space: Space,
    private readonly named: ReadonlyMap<KExpr, number> = new Map(),
  ) {}

  /** A scope whose shared subexpressions of `roots` are computed now, into locals. */
  open(roots: readonly KExpr[]): WasmExprs {
    const named = new Map(this.named);
    const inner = new WasmExprs(this.frame, this.space, named);
    for (const e of sharedNodes(roots, new Set(this.named.keys()))) {
      inner.emit(e);
      const local = this.frame.c.local(valType(e.type));
      this.frame.c.set(local);
      named.set(e, local);
    }
    return inner;
  }

  /** A scope over another space (the same frame and locals), for range analysis. */
  within(space: Space): WasmExprs {
    return new WasmExprs(this.frame, space, this.named);
  }

  private nonNegative(e: KExpr): boolean {
    return rangeOf(e, this.space)[0] >= 0;
  }

  /** The byte address of element `index` of arg `arg`. */
  address(arg: number, index: KExpr): void {
    const c = this.frame.c;
    c.get(this.frame.args[arg]!);
    this.emit(index);
    c.i32(2).i32Shl().i32Add();
  }

  /** Pushes the value of `e`. */
  emit(e: KExpr): void {
    const { c, helpers } = this.frame;
    const local = this.named.get(e);
    if (local !== undefined) {
      c.get(local);
      return;
    }
    switch (e.op) {
      case 'const':
        if (e.type === 'f32') c.f32(e.value);
        else c.i32(e.type === 'bool' ? (e.value ? 1 : 0) : e.value);
        return;
      case 'idx': c.get(this.frame.idx(e.axis)); return;
      case 'ridx': c.get(this.frame.ridx(e.axis)); return;
      case 'var': c.get(this.frame.variable(e.id)); return;
      case 'acc': c.get(this.frame.acc()); return;
      case 'load':
        this.address(e.arg, e.index);
        if (this.frame.argTypes[e.arg] === 'f32') c.f32Load();
        else c.i32Load();
        return;
      case 'random':
        c.get(this.frame.seed);
        c.get(this.frame.streams).i32Load(4 * e.stream);
        c.get(this.frame.step);
        this.emit(e.element);
        c.call(helpers.uniform01);
        return;
      case 'cast': return this.cast(e.x, e.type);
      case 'where':
        this.emit(e.cond);
        c.ifValue(valType(e.type), () => this.emit(e.then), () => this.emit(e.else));
        return;
      case 'unary': return this.unary(e);
      case 'binary': return this.binary(e);
    }
  }

  private cast(x: KExpr, to: ScalarType): void {
    const c = this.frame.c;
    this.emit(x);
    const from = x.type;
    if (from === to) return;
    if (to === 'bool') {
      if (from === 'f32') c.f32(0).f32Ne();
      else c.i32(0).i32Ne();
    } else if (to === 'f32') c.f32ConvertI32S();
    else if (from === 'f32') c.i32TruncSatF32S();
  }

  /** Calls a host function on the f32 on the stack. */
  private host(fn: HostMath): void {
    this.frame.c.f64PromoteF32().call(this.frame.helpers.math[fn]).f32DemoteF64();
  }

  private unary(e: Extract<KExpr, { op: 'unary' }>): void {
    const c = this.frame.c;
    if (e.type === 'i32') {
      if (e.fn !== 'neg') throw new Error(`i32 ${e.fn} has no meaning`);
      c.i32(0);
      this.emit(e.x);
      c.i32Sub();
      return;
    }
    this.emit(e.x);
    switch (e.fn) {
      case 'neg': c.f32Neg(); return;
      case 'sqrt': c.f32Sqrt(); return;
      case 'rsqrt': {
        const t = c.local('f32');
        c.f32Sqrt().set(t).f32(1).get(t).f32Div();
        return;
      }
      case 'relu': {
        const t = c.local('f32');
        c.tee(t).f32(0).get(t).f32(0).f32Gt().select();
        return;
      }
      case 'exp': case 'tanh': case 'erf': {
        // Inline: no call boundary, so the polynomials of neighbouring elements overlap.
        const x = c.local('f32');
        c.set(x);
        INLINE[e.fn](c, x);
        return;
      }
      case 'log': case 'sin': case 'cos':
        this.host(e.fn);
        return;
      default: notLegalized(e.fn);
    }
  }

  private binary(e: Extract<KExpr, { op: 'binary' }>): void {
    const c = this.frame.c;
    const f32 = e.a.type === 'f32';
    const both = (): [number, number] => {
      const [ta, tb] = [c.local(valType(e.a.type)), c.local(valType(e.b.type))];
      this.emit(e.a);
      c.set(ta);
      this.emit(e.b);
      c.set(tb);
      return [ta, tb];
    };
    switch (e.fn) {
      case 'max': case 'min': {
        // a > b ? a : b (max), a < b ? a : b (min): NaN on the left gives the right operand, as on every backend.
        const [ta, tb] = both();
        c.get(ta).get(tb).get(ta).get(tb);
        if (f32) (e.fn === 'max' ? c.f32Gt() : c.f32Lt());
        else (e.fn === 'max' ? c.i32GtS() : c.i32LtS());
        c.select();
        return;
      }
      case 'pow':
        this.emit(e.a);
        c.f64PromoteF32();
        this.emit(e.b);
        c.f64PromoteF32().call(this.frame.helpers.math.pow).f32DemoteF64();
        return;
      case 'idiv': case 'mod':
        if (this.nonNegative(e.a) && this.nonNegative(e.b)) {
          this.emit(e.a);
          this.emit(e.b);
          if (e.fn === 'idiv') c.i32DivS();
          else c.i32RemS();
          return;
        }
        return divide(c, e.fn, ...both(), false);
      default:
        break;
    }
    this.emit(e.a);
    this.emit(e.b);
    switch (e.fn) {
      case 'add': f32 ? c.f32Add() : c.i32Add(); return;
      case 'sub': f32 ? c.f32Sub() : c.i32Sub(); return;
      case 'mul': f32 ? c.f32Mul() : c.i32Mul(); return;
      case 'div': f32 ? c.f32Div() : c.i32DivS(); return;
      case 'lt': f32 ? c.f32Lt() : c.i32LtS(); return;
      default: notLegalized(e.fn);
    }
  }
}

/**
 * a idiv b or a mod b of two i32 locals: floor division and floor modulo
 * (the remainder takes the divisor's sign) from truncating ones, or the
 * truncating ones alone where both operands are known non-negative.
 */
export function divide(c: Code, fn: 'idiv' | 'mod', a: number, b: number, truncating: boolean): void {
  if (truncating) {
    c.get(a).get(b);
    if (fn === 'idiv') c.i32DivS();
    else c.i32RemS();
    return;
  }
  const r = c.local('i32');
  c.get(a).get(b).i32RemS().set(r);
  // 1 when the remainder is not zero and its sign differs from the divisor's, else 0.
  const adjust = () => c.get(r).i32(0).i32Ne().get(r).get(b).i32Xor().i32(0).i32LtS().i32And();
  if (fn === 'idiv') {
    c.get(a).get(b).i32DivS();
    adjust();
    c.i32Sub();
  } else {
    c.get(r).get(b);
    adjust();
    c.i32Mul().i32Add();
  }
}
