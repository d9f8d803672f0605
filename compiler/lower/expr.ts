// Building kernel expressions. One builder per iteration space: it interns
// nodes (a structurally equal expression is the same object, so sharing is
// visible to renderers and equality is `===`), checks types, and keeps
// integer index arithmetic in a canonical form so that views compose:
//
//   - sums of integer terms become Σ coeff·atom + constant, terms in a
//     stable order (atoms are coordinates, loads, divisions, …);
//   - (Σ aₖ·tₖ + c) idiv D keeps the terms whose coefficient D divides and
//     drops the rest when its range lies in [0, D); mod keeps the rest; and
//     (g·X + R) idiv g·D' = X idiv D' when R lies in [0, g) (mod likewise),
//     so a flattened index divided by a block of rows loses its column;
//   - (t idiv D)·D + (t mod D) recombines into t, so a reshape that splits
//     an axis and one that merges it again cancel;
//   - nested divisions and moduli by constants fold.
//
// With these, the index of a transpose of a reshape of a slice comes out as
// the strided expression a person would write, and `linearForm` reads the
// strides back for templates that want them.

import { rangeOf, type BinaryFn, type KExpr, type ScalarType, type Space, type UnaryFn } from '../../kernel/ir.js';

export interface LinearForm {
  readonly constant: number;
  /** Atoms with their coefficients, in the builder's stable order. */
  readonly terms: readonly (readonly [KExpr, number])[];
}

const ARITHMETIC: ReadonlySet<BinaryFn> = new Set(['add', 'sub', 'mul', 'div', 'max', 'min']);

export class ExprBuilder {
  private readonly interned = new Map<string, KExpr>();
  private readonly ids = new Map<KExpr, number>();
  private readonly ranges = new Map<KExpr, [number, number]>();
  private readonly linear = new Map<KExpr, LinearForm>();

  constructor(readonly space: Space) {}

  /** A stable number for an interned expression (its creation order). */
  idOf(e: KExpr): number {
    let id = this.ids.get(e);
    if (id === undefined) {
      // An expression from elsewhere: intern a copy's identity by structure.
      id = this.ids.size;
      this.ids.set(e, id);
    }
    return id;
  }

  private intern<E extends KExpr>(key: string, make: () => E): E {
    let e = this.interned.get(key);
    if (!e) {
      e = make();
      this.interned.set(key, e);
      this.ids.set(e, this.ids.size);
    }
    return e as E;
  }

  constant(value: number, type: ScalarType = 'f32'): KExpr {
    const v = type === 'i32' ? Math.trunc(value) : type === 'bool' ? (value ? 1 : 0) : value;
    return this.intern(`c${type}:${Object.is(v, -0) ? '-0' : v}`, () => ({ op: 'const', type, value: v }));
  }

  int(value: number): KExpr {
    return this.constant(value, 'i32');
  }

  idx(axis: number): KExpr {
    return this.intern(`i${axis}`, () => ({ op: 'idx', type: 'i32', axis }));
  }

  ridx(axis: number): KExpr {
    return this.intern(`r${axis}`, () => ({ op: 'ridx', type: 'i32', axis }));
  }

  variable(id: number): KExpr {
    return this.intern(`v${id}`, () => ({ op: 'var', type: 'f32', id }));
  }

  acc(): KExpr {
    return this.intern('acc', () => ({ op: 'acc', type: 'f32' }));
  }

  load(arg: number, index: KExpr, type: ScalarType): KExpr {
    if (index.type !== 'i32') throw new Error(`load index must be i32, not ${index.type}`);
    return this.intern(`l${arg}:${type}:${this.idOf(index)}`, () => ({ op: 'load', type, arg, index }));
  }

  /** Draw `element` (in [0, count)) of random stream `stream`. */
  random(stream: number, element: KExpr, count: number): KExpr {
    return this.intern(`rnd${stream}:${count}:${this.idOf(element)}`, () => ({ op: 'random', type: 'f32', stream, element, count }));
  }

  unary(fn: UnaryFn, x: KExpr): KExpr {
    if (x.type === 'bool' || (x.type === 'i32' && fn !== 'neg')) throw new Error(`${fn} takes f32, not ${x.type}`);
    if (fn === 'neg' && x.type === 'i32') return this.mul(x, this.int(-1));
    if (fn === 'neg' && x.op === 'unary' && x.fn === 'neg') return x.x;
    if (x.op === 'const' && fn === 'neg') return this.constant(-x.value, x.type);
    return this.intern(`u${fn}:${this.idOf(x)}`, () => ({ op: 'unary', type: x.type, fn, x }));
  }

  cast(to: ScalarType, x: KExpr): KExpr {
    if (x.type === to) return x;
    if (x.op === 'const') return this.constant(to === 'i32' ? Math.trunc(x.value) : x.value, to);
    return this.intern(`cast${to}:${this.idOf(x)}`, () => ({ op: 'cast', type: to, x }));
  }

  where(cond: KExpr, then: KExpr, otherwise: KExpr): KExpr {
    if (cond.type !== 'bool') throw new Error(`where needs a bool condition, not ${cond.type}`);
    if (then.type !== otherwise.type) throw new Error(`where branches differ: ${then.type} and ${otherwise.type}`);
    if (cond.op === 'const') return cond.value ? then : otherwise;
    if (then === otherwise) return then;
    return this.intern(`w:${this.idOf(cond)}:${this.idOf(then)}:${this.idOf(otherwise)}`, () => ({ op: 'where', type: then.type, cond, then, else: otherwise }));
  }

  binary(fn: BinaryFn, a: KExpr, b: KExpr): KExpr {
    if (a.type !== b.type) throw new Error(`${fn} operands differ: ${a.type} and ${b.type}`);
    if (a.type === 'bool') throw new Error(`${fn} takes numbers, not bool`);
    if (a.type === 'i32') {
      switch (fn) {
        case 'add': return this.add(a, b);
        case 'sub': return this.add(a, this.mul(b, this.int(-1)));
        case 'mul': return this.mul(a, b);
        case 'idiv': return b.op === 'const' && b.value > 0 ? this.idiv(a, b.value) : this.raw('idiv', a, b, 'i32');
        case 'mod': return b.op === 'const' && b.value > 0 ? this.mod(a, b.value) : this.raw('mod', a, b, 'i32');
        case 'lt': {
          const [ra, rb] = [this.range(a), this.range(b)];
          if (ra[1] < rb[0]) return this.constant(1, 'bool');
          if (ra[0] >= rb[1]) return this.constant(0, 'bool');
          return this.raw('lt', a, b, 'bool');
        }
        default: return this.raw(fn, a, b, 'i32');
      }
    }
    if (fn === 'mod' || fn === 'idiv') throw new Error(`${fn} takes i32, not f32`);
    if (fn === 'lt') return this.raw('lt', a, b, 'bool');
    // Exact identities only: f32 arithmetic is left as written otherwise.
    if (fn === 'mul' && b.op === 'const' && b.value === 1) return a;
    if (fn === 'mul' && a.op === 'const' && a.value === 1) return b;
    if ((fn === 'add' || fn === 'sub') && b.op === 'const' && b.value === 0) return a;
    if (fn === 'add' && a.op === 'const' && a.value === 0) return b;
    if (fn === 'div' && b.op === 'const' && b.value === 1) return a;
    if (ARITHMETIC.has(fn) && a.op === 'const' && b.op === 'const' && fn !== 'div') {
      const v = fn === 'add' ? a.value + b.value : fn === 'sub' ? a.value - b.value : fn === 'mul' ? a.value * b.value : fn === 'max' ? Math.max(a.value, b.value) : Math.min(a.value, b.value);
      if (Math.fround(v) === v) return this.constant(v);
    }
    return this.raw(fn, a, b, 'f32');
  }

  /**
   * An i32 expression kept inside [lo, hi] with max and min, each only where
   * its range may leave it: indices read from memory (token ids) or chosen
   * by a condition (a concatenation's parts) stay inside their tensor
   * whatever the condition or the data, as the runtime's check of a
   * program's kernels requires.
   */
  clamp(x: KExpr, lo: number, hi: number): KExpr {
    const [min, max] = this.range(x);
    let e = x;
    if (min < lo) e = this.binary('max', e, this.int(lo));
    if (max > hi) e = this.binary('min', e, this.int(hi));
    return e;
  }

  private raw(fn: BinaryFn, a: KExpr, b: KExpr, type: ScalarType): KExpr {
    return this.intern(`b${fn}:${this.idOf(a)}:${this.idOf(b)}`, () => ({ op: 'binary', type, fn, a, b }));
  }

  // ---- integer index arithmetic ----

  /** Bounds of an integer expression over this builder's space. */
  range(e: KExpr): [number, number] {
    let r = this.ranges.get(e);
    if (!r) {
      r = rangeOf(e, this.space);
      this.ranges.set(e, r);
    }
    return r;
  }

  /** Σ coeff·atom + constant of an i32 expression. */
  linearForm(e: KExpr): LinearForm {
    const known = this.linear.get(e);
    if (known) return known;
    let form: LinearForm;
    if (e.op === 'const') form = { constant: e.value, terms: [] };
    else if (e.op === 'binary' && e.fn === 'add') form = this.sumForms(this.linearForm(e.a), this.linearForm(e.b), 1);
    else if (e.op === 'binary' && e.fn === 'mul' && e.b.op === 'const') form = this.scaleForm(this.linearForm(e.a), e.b.value);
    else form = { constant: 0, terms: [[e, 1]] };
    this.linear.set(e, form);
    return form;
  }

  private scaleForm(f: LinearForm, k: number): LinearForm {
    if (k === 0) return { constant: 0, terms: [] };
    return { constant: f.constant * k, terms: f.terms.map(([a, c]) => [a, c * k] as const) };
  }

  private sumForms(f: LinearForm, g: LinearForm, k: number): LinearForm {
    const terms = new Map<KExpr, number>();
    for (const [a, c] of f.terms) terms.set(a, (terms.get(a) ?? 0) + c);
    for (const [a, c] of g.terms) terms.set(a, (terms.get(a) ?? 0) + c * k);
    return { constant: f.constant + g.constant * k, terms: [...terms].filter(([, c]) => c !== 0) };
  }

  /** The canonical expression of a linear form (recombining divisions with their moduli). */
  fromForm(form: LinearForm): KExpr {
    const terms = this.recombine(form.terms.filter(([, c]) => c !== 0));
    terms.constant += form.constant;
    const sorted = [...terms.map].filter(([, c]) => c !== 0).sort((x, y) => this.idOf(x[0]) - this.idOf(y[0]));
    let sum: KExpr | undefined;
    for (const [atom, coeff] of sorted) {
      const term = coeff === 1 ? atom : this.raw('mul', atom, this.int(coeff), 'i32');
      sum = sum ? this.raw('add', sum, term, 'i32') : term;
    }
    if (!sum) return this.int(terms.constant);
    if (terms.constant) sum = this.raw('add', sum, this.int(terms.constant), 'i32');
    const formOfSum: LinearForm = { constant: terms.constant, terms: sorted };
    this.linear.set(sum, formOfSum);
    return sum;
  }

  /** k·D·(t idiv D) + k·(t mod D) → k·t, repeatedly. */
  private recombine(terms: readonly (readonly [KExpr, number])[]): { map: Map<KExpr, number>; constant: number } {
    const map = new Map<KExpr, number>();
    let constant = 0;
    if (!terms.some(([a]) => a.op === 'binary' && a.fn === 'mod')) {
      for (const [a, c] of terms) map.set(a, (map.get(a) ?? 0) + c);
      return { map, constant };
    }
    const addForm = (f: LinearForm, k: number) => {
      constant += f.constant * k;
      for (const [a, c] of f.terms) map.set(a, (map.get(a) ?? 0) + c * k);
    };
    for (const [a, c] of terms) map.set(a, (map.get(a) ?? 0) + c);
    for (let changed = true; changed; ) {
      changed = false;
      for (const [atom, coeff] of map) {
        if (coeff === 0 || atom.op !== 'binary' || atom.fn !== 'mod' || atom.b.op !== 'const') continue;
        const d = atom.b.value;
        const quotient = this.interned.get(`bidiv:${this.idOf(atom.a)}:${this.idOf(this.int(d))}`);
        const qc = quotient ? map.get(quotient) ?? 0 : 0;
        if (!quotient || qc === 0 || qc % d !== 0) continue;
        const k = Math.min(Math.abs(coeff), Math.abs(qc / d)) * Math.sign(coeff);
        if (Math.sign(qc / d) !== Math.sign(coeff)) continue;
        map.set(atom, coeff - k);
        map.set(quotient, qc - k * d);
        addForm(this.linearForm(atom.a), k);
        changed = true;
        break;
      }
    }
    return { map, constant };
  }

  add(a: KExpr, b: KExpr): KExpr {
    if (a.op === 'const' && b.op === 'const') return this.int(a.value + b.value);
    if (b.op === 'const' && b.value === 0) return a;
    if (a.op === 'const' && a.value === 0) return b;
    return this.fromForm(this.sumForms(this.linearForm(a), this.linearForm(b), 1));
  }

  mul(a: KExpr, b: KExpr): KExpr {
    if (a.op === 'const' && b.op !== 'const') [a, b] = [b, a];
    if (b.op === 'const') {
      if (a.op === 'const') return this.int(a.value * b.value);
      if (b.value === 1) return a;
      return this.fromForm(this.scaleForm(this.linearForm(a), b.value));
    }
    return this.raw('mul', a, b, 'i32');
  }

  /** Floor division by a positive constant. */
  idiv(a: KExpr, d: number): KExpr {
    if (d === 1) return a;
    const [lo, hi] = this.range(a);
    if (lo >= 0 && hi < d) return this.int(0);
    if (a.op === 'const') return this.int(Math.floor(a.value / d));
    if (a.op === 'binary' && a.fn === 'idiv' && a.b.op === 'const') return this.idiv(a.a, a.b.value * d);
    // (t mod (D·q)) idiv D = (t idiv D) mod q
    if (a.op === 'binary' && a.fn === 'mod' && a.b.op === 'const' && a.b.value % d === 0) return this.mod(this.idiv(a.a, d), a.b.value / d);
    const form = this.linearForm(a);
    const whole = Math.floor(form.constant / d);
    const exact = form.terms.filter(([, c]) => c % d === 0);
    const rest = form.terms.filter(([, c]) => c % d !== 0);
    const restForm: LinearForm = { constant: form.constant - whole * d, terms: rest };
    const quotient = this.fromForm({ constant: whole, terms: exact.map(([t, c]) => [t, c / d] as const) });
    if (rest.length === 0 && restForm.constant === 0) return quotient;
    const restExpr = this.fromForm(restForm);
    const [rlo, rhi] = this.range(restExpr);
    if (rlo >= 0 && rhi < d) return quotient;
    // (g·X + R) idiv (g·D') = X idiv D' when 0 ≤ R < g.
    const f = this.factor(restForm, d);
    return this.add(quotient, f ? this.idiv(f.x, d / f.g) : this.raw('idiv', restExpr, this.int(d), 'i32'));
  }

  /** Floor modulo by a positive constant. */
  mod(a: KExpr, d: number): KExpr {
    if (d === 1) return this.int(0);
    const [lo, hi] = this.range(a);
    if (lo >= 0 && hi < d) return a;
    if (a.op === 'const') return this.int(((a.value % d) + d) % d);
    if (a.op === 'binary' && a.fn === 'mod' && a.b.op === 'const' && a.b.value % d === 0) return this.mod(a.a, d);
    const form = this.linearForm(a);
    const rest = form.terms.filter(([, c]) => c % d !== 0);
    const restForm: LinearForm = { constant: ((form.constant % d) + d) % d, terms: rest };
    if (rest.length === 0) return this.int(restForm.constant);
    const restExpr = this.fromForm(restForm);
    const [rlo, rhi] = this.range(restExpr);
    if (rlo >= 0 && rhi < d) return restExpr;
    // (g·X + R) mod (g·D') = g·(X mod D') + R when 0 ≤ R < g.
    const f = this.factor(restForm, d);
    if (f) return this.add(this.mul(this.mod(f.x, d / f.g), this.int(f.g)), f.r);
    return this.raw('mod', restExpr, this.int(d), 'i32');
  }

  /**
   * A split of `form` as g·X + R with g > 1 dividing `d` and R's range in
   * [0, g) (e.g. o + 512·p over 65536, o < 512: g = 512, X = p, R = o), so
   * that division and modulo by `d` become ones of X by d / g. Larger g first.
   */
  private factor(form: LinearForm, d: number): { g: number; x: KExpr; r: KExpr } | undefined {
    const gcd = (a: number, b: number): number => (b === 0 ? Math.abs(a) : gcd(b, a % b));
    const candidates = [...new Set(form.terms.map(([, c]) => gcd(c, d)))].filter((g) => g > 1).sort((a, b) => b - a);
    for (const g of candidates) {
      const lift = Math.floor(form.constant / g);
      const r = this.fromForm({ constant: form.constant - lift * g, terms: form.terms.filter(([, c]) => c % g !== 0) });
      const [lo, hi] = this.range(r);
      if (lo < 0 || hi >= g) continue;
      return { g, x: this.fromForm({ constant: lift, terms: form.terms.filter(([, c]) => c % g === 0).map(([t, c]) => [t, c / g] as const) }), r };
    }
    return undefined;
  }

  // ---- shapes ----

  /** Row-major flat index of coordinates in a shape. */
  flatIndex(shape: readonly number[], coords: readonly KExpr[]): KExpr {
    // One linear form of all the terms, made canonical once.
    let form: LinearForm = { constant: 0, terms: [] };
    let stride = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (shape[d] !== 1) form = this.sumForms(form, this.linearForm(coords[d]!), stride);
      stride *= shape[d]!;
    }
    return this.fromForm(form);
  }

  /** Coordinates in a shape of a row-major flat index. */
  unflatten(shape: readonly number[], flat: KExpr): KExpr[] {
    const coords: KExpr[] = [];
    let inner = shape.reduce((a, d) => a * d, 1);
    for (let d = 0; d < shape.length; d++) {
      inner /= shape[d]!;
      const q = this.idiv(flat, inner);
      coords.push(d === 0 ? q : this.mod(q, shape[d]!));
    }
    return coords;
  }

  /** The idx coordinates of a shape (the iteration point itself). */
  coords(rank: number, first = 0): KExpr[] {
    return Array.from({ length: rank }, (_, d) => this.idx(first + d));
  }

  /**
   * The strides of an index over the idx axes, when it is exactly an affine
   * function of them: offset + Σ strideₐ·idx(a).
   */
  affine(index: KExpr, axes: number): { offset: number; strides: number[] } | undefined {
    const form = this.linearForm(index);
    const strides = new Array<number>(axes).fill(0);
    for (const [atom, coeff] of form.terms) {
      if (atom.op !== 'idx' || atom.axis >= axes) return undefined;
      strides[atom.axis]! += coeff;
    }
    return { offset: form.constant, strides };
  }

  /** Rebuilds `e` with idx, ridx, var or acc leaves replaced (memoized over the DAG). */
  substitute(e: KExpr, leaf: (e: KExpr) => KExpr | undefined, memo = new Map<KExpr, KExpr>()): KExpr {
    const known = memo.get(e);
    if (known) return known;
    const go = (x: KExpr) => this.substitute(x, leaf, memo);
    let out: KExpr;
    switch (e.op) {
      case 'const': out = this.constant(e.value, e.type); break;
      case 'idx': case 'ridx': case 'var': case 'acc': out = leaf(e) ?? this.copyLeaf(e); break;
      case 'load': out = this.load(e.arg, go(e.index), e.type); break;
      case 'unary': out = this.unary(e.fn, go(e.x)); break;
      case 'binary': out = this.binary(e.fn, go(e.a), go(e.b)); break;
      case 'where': out = this.where(go(e.cond), go(e.then), go(e.else)); break;
      case 'cast': out = this.cast(e.type, go(e.x)); break;
      case 'random': out = this.random(e.stream, go(e.element), e.count); break;
    }
    memo.set(e, out);
    return out;
  }

  private copyLeaf(e: KExpr): KExpr {
    switch (e.op) {
      case 'idx': return this.idx(e.axis);
      case 'ridx': return this.ridx(e.axis);
      case 'var': return this.variable(e.id);
      default: return this.acc();
    }
  }
}
