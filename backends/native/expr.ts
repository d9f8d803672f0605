// Kernel expressions → C. Every expression carries its type, so rendering is
// direct: f32 is `float` (computed in single precision, as WGSL does), i32 is
// `int32_t`, bool is an `int` holding 0 or 1. Shared subexpressions become
// local constants. Transcendental functions are the prelude's inline
// polynomials (tcc_expf, tcc_erff, …), which vectorize; integer division and
// modulo are floor division and modulo, as the kernel IR states, with C's
// truncating operators where range analysis shows both operands
// non-negative.

import { ExprScope } from '../common/expr-scope.js';
import { entryFor, isCompositeBinary } from '../../kernel/composite.js';
import { children, type BinaryFn, type Composite, type KExpr, type PrimitiveUnary, type ScalarType, type Space, type UnaryFn } from '../../kernel/ir.js';

/** A C literal of the value as the type holds it (f32 rounded to float exactly). */
export function cLiteral(value: number, type: ScalarType): string {
  if (type === 'bool') return value ? '1' : '0';
  if (type === 'i32') return String(Math.trunc(value));
  const f = Math.fround(value);
  if (Number.isNaN(f)) return 'NAN';
  if (!Number.isFinite(f)) return f > 0 ? 'INFINITY' : '(-INFINITY)';
  // The shortest decimal form of the f32 value reads back as the same float.
  const text = Object.is(f, -0) ? '-0.0' : String(f);
  return `${/[.e]/.test(text) ? text : `${text}.0`}f`;
}

export const C_TYPE: Readonly<Record<ScalarType, string>> = { f32: 'float', i32: 'int32_t', bool: 'int' };

/** The composite functions the C prelude computes itself (polynomials with stated error; tcc_gelu keeps its accuracy for negative x). */
export const C_INTRINSICS = ['sigmoid', 'gelu', 'gelu_tanh', 'gelu_grad', 'gelu_tanh_grad'] as const satisfies readonly Composite[];
type Intrinsic = (typeof C_INTRINSICS)[number];

const UNARY: { readonly [F in PrimitiveUnary | Extract<Intrinsic, UnaryFn>]: (x: string) => string } = {
  neg: (x) => `(-${x})`,
  exp: (x) => `tcc_expf(${x})`,
  log: (x) => `tcc_logf(${x})`,
  sqrt: (x) => `sqrtf(${x})`,
  rsqrt: (x) => `(1.0f / sqrtf(${x}))`,
  tanh: (x) => `tcc_tanhf(${x})`,
  sigmoid: (x) => `(1.0f / (1.0f + tcc_expf(-${x})))`,
  erf: (x) => `tcc_erff(${x})`,
  relu: (x) => `tcc_relu(${x})`,
  gelu: (x) => `tcc_gelu(${x})`,
  gelu_tanh: (x) => `tcc_gelu_tanh(${x})`,
  sin: (x) => `sinf(${x})`,
  cos: (x) => `cosf(${x})`,
};

/** Composite binary intrinsics, (x, dy) → dy · f'(x). */
const BINARY_INTRINSICS: { readonly [F in Extract<Intrinsic, BinaryFn>]: (x: string, dy: string) => string } = {
  gelu_grad: (x, dy) => `(${dy} * tcc_gelu_grad(${x}))`,
  gelu_tanh_grad: (x, dy) => `(${dy} * tcc_gelu_tanh_grad(${x}))`,
};


/** How a kernel names its coordinates and args. */
export interface CNames {
  readonly idx: (axis: number) => string;
  readonly ridx: (axis: number) => string;
}

export const C_NAMES: CNames = { idx: (a) => `c${a}`, ridx: (a) => `r${a}` };

const drawOnlyMemo = new WeakMap<KExpr, boolean>();

/** Whether a condition is made of random draws and constants alone (dropout's keep test), so that it cannot guard a load. */
function drawOnly(e: KExpr): boolean {
  if (e.op === 'random' || e.op === 'const') return true;
  if (e.op !== 'unary' && e.op !== 'binary' && e.op !== 'cast') return false;
  let known = drawOnlyMemo.get(e);
  if (known === undefined) drawOnlyMemo.set(e, (known = children(e).every(drawOnly)));
  return known;
}

/**
 * How a scope renders dropout's keep test, a draw below a constant: by
 * Threefry in place, or as a byte of the run's table of the stream's keep
 * tests against that constant (keepTable, drawn once per run:
 * backends/native/render.ts).
 */
export type KeepTests = 'inline' | 'tables';

/** A keep test (`random < rate`): its draw and rate, if `e` is one. */
export function keepTest(e: KExpr): { draw: Extract<KExpr, { op: 'random' }>; rate: number } | undefined {
  return e.op === 'binary' && e.fn === 'lt' && e.a.op === 'random' && e.b.op === 'const' ? { draw: e.a, rate: e.b.value } : undefined;
}

/** The name of the table (by stream) of keep tests against `rate`: one per rate, named by its f32 bits. */
export function keepTable(rate: number): string {
  const bits = new Uint32Array(Float32Array.of(rate).buffer)[0]!;
  return `tcc_kept_${bits.toString(16).padStart(8, '0')}`;
}

export class CExprs extends ExprScope {
  constructor(
    space: Space,
    private readonly names: CNames = C_NAMES,
    private readonly keep: KeepTests = 'tables',
    prefix = 't',
  ) {
    super(space, prefix);
  }

  protected child(prefix: string): this {
    return new CExprs(this.space, this.names, this.keep, prefix) as this;
  }

  protected declare(name: string, e: KExpr, value: string): string {
    return `const ${C_TYPE[e.type]} ${name} = ${value};`;
  }

  render(e: KExpr): string {
    const name = this.named.get(e);
    if (name) return name;
    const go = (x: KExpr) => this.render(x);
    switch (e.op) {
      case 'const': return cLiteral(e.value, e.type);
      case 'idx': return this.names.idx(e.axis);
      case 'ridx': return this.names.ridx(e.axis);
      case 'var': return `v${e.id}`;
      case 'acc': return 'acc';
      case 'load': return `a${e.arg}[${go(e.index)}]`;
      case 'unary': return entryFor(UNARY, e.fn)(go(e.x));
      case 'cast':
        if (e.x.type === 'bool' || e.type === 'bool') return `((${C_TYPE[e.type]})(${go(e.x)} != 0))`;
        return `((${C_TYPE[e.type]})${go(e.x)})`;
      case 'where':
        // A draw guards no index: both arms are evaluated, so that a load in one is not masked and the loop vectorizes (dropout).
        if (drawOnly(e.cond)) return `tcc_select${e.type === 'f32' ? 'f' : 'i'}(${go(e.cond)}, ${go(e.then)}, ${go(e.else)})`;
        return `(${go(e.cond)} ? ${go(e.then)} : ${go(e.else)})`;
      case 'random': return `tcc_uniform01(rt->seed, streams[${e.stream}], rt->step, (uint32_t)(${go(e.element)}))`;
      case 'binary': {
        const kept = keepTest(e);
        if (kept && this.keep === 'tables') return `(${keepTable(kept.rate)}[streams[${kept.draw.stream}]][${go(kept.draw.element)}] != 0)`;
        const [a, b] = [go(e.a), go(e.b)];
        if (isCompositeBinary(e.fn)) return entryFor(BINARY_INTRINSICS, e.fn)(a, b);
        switch (e.fn) {
          case 'add': return `(${a} + ${b})`;
          case 'sub': return `(${a} - ${b})`;
          case 'mul': return `(${a} * ${b})`;
          case 'div': return `(${a} / ${b})`;
          // NaN on the left gives the right operand, as the JavaScript and WGSL backends do.
          case 'max': return `tcc_max${e.type === 'i32' ? 'i' : 'f'}(${a}, ${b})`;
          case 'min': return `tcc_min${e.type === 'i32' ? 'i' : 'f'}(${a}, ${b})`;
          case 'lt': return `(${a} < ${b})`;
          case 'pow': return `powf(${a}, ${b})`;
          case 'idiv': return this.nonNegative(e.a) && this.nonNegative(e.b) ? `(${a} / ${b})` : `tcc_floor_div(${a}, ${b})`;
          case 'mod': return this.nonNegative(e.a) && this.nonNegative(e.b) ? `(${a} % ${b})` : `tcc_floor_mod(${a}, ${b})`;
        }
      }
    }
  }
}
