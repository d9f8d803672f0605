// What every renderer of kernel expressions shares: scopes (loop bodies)
// that name the subexpressions their roots use more than once, each named
// once as a local and visible in the scopes inside; and range analysis for
// integer division and modulo; where a strided operand's batch starts. A
// backend supplies the rendering of a node
// and of a local's declaration.

import type { CodeWriter } from './writer.js';
import { rangeOf, sharedNodes, type Kernel, type KExpr, type Operand, type Space } from '../../kernel/ir.js';

export abstract class ExprScope {
  protected readonly named = new Map<KExpr, string>();
  private counter = 0;

  constructor(
    protected readonly space: Space,
    private readonly prefix: string,
  ) {}

  /** An empty scope of the same kind with the given name prefix. */
  protected abstract child(prefix: string): this;

  /** The statement that declares `name` as the value of `e`, rendered as `value`. */
  protected abstract declare(name: string, e: KExpr, value: string): string;

  /** `e` in the target language, using the names of this scope. */
  abstract render(e: KExpr): string;

  /**
   * A scope inside this one (a loop body) that declares the shared
   * subexpressions of `roots` as locals; names of enclosing scopes stay
   * visible.
   */
  open(w: CodeWriter, roots: readonly KExpr[]): this {
    const inner = this.child(`${this.prefix}${this.counter++}_`);
    for (const [e, name] of this.named) inner.named.set(e, name);
    for (const e of sharedNodes(roots, new Set(this.named.keys()))) {
      const name = `${inner.prefix}${inner.counter++}`;
      w.line(inner.declare(name, e, inner.render(e)));
      inner.named.set(e, name);
    }
    return inner;
  }

  /** Whether an integer expression is never negative over the space (so truncating division is floor division). */
  protected nonNegative(e: KExpr): boolean {
    return rangeOf(e, this.space)[0] >= 0;
  }
}

/** The first element of a plain operand view for the batch counters c0, c1, …: `offset + c0 * s0 + …`. */
export function viewBase(o: Operand): string {
  const v = o.view;
  if (!v) throw new Error('the operand is not a plain view');
  const terms = v.batchStrides.map((s, d) => (s ? `c${d} * ${s}` : '')).filter(Boolean);
  return [String(v.offset), ...terms].join(' + ');
}

/**
 * A kernel's extent as code: its number, or what the run gives (a program
 * over a padding-free stream: `sizes[symbol] · scale + offset`, `sizes`
 * the renderer's name for the run's sizes); the number is then the largest
 * value, which scratch and thread decisions use. `runtime` false: the
 * renderer does not take this extent at run time, and a kernel that has it
 * so is refused by name.
 */
export function extentText(k: Kernel, key: string, value: number, sizes: string, backend: string, runtime = true): string {
  const r = k.runtime?.[key];
  if (!r) return String(value);
  if (!runtime) throw new Error(`the ${backend} backend does not take extent ${key} of a ${k.kind} kernel at run time (${k.name})`);
  const scaled = r.scale === 1 ? `${sizes}[${r.symbol}]` : `${sizes}[${r.symbol}] * ${r.scale}`;
  return r.offset ? `(${scaled} + ${r.offset})` : scaled;
}
