// Kernel expressions → JavaScript. Values are doubles (f32 data is read from
// Float32Arrays and rounded when stored), booleans are JavaScript booleans,
// integers are doubles that stay exact. Subexpressions used more than once
// become local constants.

import type { CodeWriter } from '../common/writer.js';
import { ExprScope, extentText } from '../common/expr-scope.js';
import { entryFor, isCompositeBinary } from '../../kernel/composite.js';
import type { BinaryFn, Composite, Kernel, KExpr, PrimitiveUnary, Space, UnaryFn } from '../../kernel/ir.js';

/** The composite functions this backend computes with its own helpers (the interpreter's definitions, in doubles). */
export const JS_INTRINSICS = ['sigmoid', 'gelu', 'gelu_tanh', 'gelu_grad', 'gelu_tanh_grad'] as const satisfies readonly Composite[];
type Intrinsic = (typeof JS_INTRINSICS)[number];

const UNARY: { readonly [F in PrimitiveUnary | Extract<Intrinsic, UnaryFn>]: (x: string) => string } = {
  neg: (x) => `(-${x})`,
  exp: (x) => `Math.exp(${x})`,
  log: (x) => `Math.log(${x})`,
  sqrt: (x) => `Math.sqrt(${x})`,
  rsqrt: (x) => `(1 / Math.sqrt(${x}))`,
  tanh: (x) => `Math.tanh(${x})`,
  sigmoid: (x) => `(1 / (1 + Math.exp(-${x})))`,
  erf: (x) => `erf(${x})`,
  relu: (x) => `relu(${x})`,
  gelu: (x) => `gelu(${x})`,
  gelu_tanh: (x) => `geluTanh(${x})`,
  sin: (x) => `Math.sin(${x})`,
  cos: (x) => `Math.cos(${x})`,
};

/** Composite binary intrinsics, (x, dy) → dy · f'(x). */
const BINARY_INTRINSICS: { readonly [F in Extract<Intrinsic, BinaryFn>]: (x: string, dy: string) => string } = {
  gelu_grad: (x, dy) => `(${dy} * geluGrad(${x}))`,
  gelu_tanh_grad: (x, dy) => `(${dy} * geluTanhGrad(${x}))`,
};


export function jsLiteral(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return Object.is(value, -0) ? '-0' : String(value);
}

/** How a kernel names its coordinates and the accumulator. */
export interface Names {
  readonly idx: (axis: number) => string;
  readonly ridx: (axis: number) => string;
}

export const DEFAULT_NAMES: Names = { idx: (a) => `c${a}`, ridx: (a) => `r${a}` };

export class JsExprs extends ExprScope {
  constructor(
    space: Space,
    private readonly names: Names = DEFAULT_NAMES,
    prefix = 't',
  ) {
    super(space, prefix);
  }

  protected child(prefix: string): this {
    return new JsExprs(this.space, this.names, prefix) as this;
  }

  protected declare(name: string, e: KExpr, value: string): string {
    return `const ${name} = ${value};`;
  }

  render(e: KExpr): string {
    const name = this.named.get(e);
    if (name) return name;
    const go = (x: KExpr) => this.render(x);
    switch (e.op) {
      case 'const': return e.type === 'bool' ? (e.value ? 'true' : 'false') : jsLiteral(e.value);
      case 'idx': return this.names.idx(e.axis);
      case 'ridx': return this.names.ridx(e.axis);
      case 'var': return `v${e.id}`;
      case 'acc': return 'acc';
      case 'load': return `a${e.arg}[${go(e.index)}]`;
      case 'unary': return entryFor(UNARY, e.fn)(go(e.x));
      case 'cast':
        if (e.x.type === 'bool') return `(${go(e.x)} ? 1 : 0)`;
        return e.type === 'i32' && e.x.type === 'f32' ? `Math.trunc(${go(e.x)})` : go(e.x);
      case 'where': return `(${go(e.cond)} ? ${go(e.then)} : ${go(e.else)})`;
      case 'random': return `uniform01(rt.seed, streams[${e.stream}], rt.step, ${go(e.element)})`;
      case 'binary': {
        const [a, b] = [go(e.a), go(e.b)];
        if (isCompositeBinary(e.fn)) return entryFor(BINARY_INTRINSICS, e.fn)(a, b);
        switch (e.fn) {
          case 'add': return `(${a} + ${b})`;
          case 'sub': return `(${a} - ${b})`;
          case 'mul': return `(${a} * ${b})`;
          case 'div': return `(${a} / ${b})`;
          case 'max': return `maximum(${a}, ${b})`;
          case 'min': return `minimum(${a}, ${b})`;
          case 'pow': return `Math.pow(${a}, ${b})`;
          case 'lt': return `(${a} < ${b})`;
          case 'idiv': return `Math.floor(${a} / ${b})`;
          case 'mod': return this.nonNegative(e.a) && this.nonNegative(e.b) ? `(${a} % ${b})` : `(((${a} % ${b}) + ${b}) % ${b})`;
        }
      }
    }
  }
}

/** Nested loops over a shape with the given counter names; `body` runs innermost (in a block of its own). */
export function loops(w: CodeWriter, shape: readonly number[], name: (axis: number) => string, body: () => void, bounds: readonly string[] = shape.map(String)): void {
  const nest = (axis: number): void => {
    if (axis === shape.length) return body();
    if (shape[axis] === 1) {
      w.line(`const ${name(axis)} = 0;`);
      return nest(axis + 1);
    }
    w.block(`for (let ${name(axis)} = 0; ${name(axis)} < ${bounds[axis]}; ${name(axis)}++) {`, () => nest(axis + 1));
  };
  if (shape.some((d) => d === 1)) w.block('{', () => nest(0));
  else nest(0);
}

/** A kernel's extent as JavaScript (extentText): its number, or what the run gives in `rt.sizes`. */
export const extentJs = (k: Kernel, key: string, value: number, runtime = true) => extentText(k, key, value, 'rt.sizes', 'js', runtime);

/** The JavaScript extents of a list field ('shape', 'reduced', 'batch'). */
export const extentsJs = (k: Kernel, field: string, values: readonly number[], runtime = true) => values.map((d, i) => extentJs(k, `${field}.${i}`, d, runtime));
