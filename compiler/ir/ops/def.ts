// The shape of an op definition. Every op is defined once, with everything a
// pass or backend asks of it; the registry (index.ts) is typed so that an op
// missing a rule does not compile, and a test walks it at run time too.

import type { HostTensor } from '../tensor.js';
import { ShapeError, type DType, type TensorType } from '../types.js';

export { ShapeError };

/** How an op fuses with its neighbours (TVM's pattern kinds). Passes ask this, never the op's name. */
export type FusionClass =
  | 'source' //      no tensor inputs, fed from outside: inputs, parameters, state
  | 'generator' //   no tensor inputs, computed from attributes: constants, positions
  | 'elementwise' // out[i] depends on in[i] of same-shaped operands
  | 'broadcast' //   elementwise after NumPy broadcasting of its operands
  | 'injective' //   each output element reads one input element (reshape, transpose, gather)
  | 'reduction' //   reduces one or more axes (sum, softmax, layer_norm)
  | 'matmul' //      contraction; fuses a prologue and an epilogue
  | 'opaque'; //     never fused

export type AttrKind = 'int' | 'float' | 'bool' | 'ints' | 'dtype' | 'string' | 'init';

export interface AttrSpec {
  readonly kind: AttrKind;
  /** Absent means the attribute is required. */
  readonly default?: unknown;
  /** Allowed values of a string attribute. */
  readonly oneOf?: readonly string[];
}

export type InitKind = 'normal' | 'zeros' | 'ones';

export interface InterpretContext {
  /** Dropout is active only when training. */
  readonly training: boolean;
  readonly seed: number;
  readonly step: number;
  input(name: string): HostTensor;
  param(name: string): HostTensor;
}

export interface OpDef<A extends object> {
  readonly summary: string;
  /** Number of tensor operands, or 'variadic' (at least one). */
  readonly arity: number | 'variadic';
  readonly fusion: FusionClass;
  /** Draws random numbers (dropout): two evaluations are not interchangeable with constants. */
  readonly stochastic?: boolean;
  /**
   * What one element costs when fusion computes it inline in another kernel
   * rather than storing it, in simple ops: transcendentals and random draws
   * count 4 (default 1). Fusion weighs recomputation by it.
   */
  readonly inlineCost?: number;
  /**
   * A strided view of its first operand's memory, computed by indexing alone:
   * `layout` relabels every element (reshape, transpose), `window` takes
   * some of them (slice, select). Fusion reads such values where they lie.
   */
  readonly view?: 'layout' | 'window';
  readonly attrs: { readonly [K in keyof A]-?: AttrSpec };
  /** Result type from operand types; throws ShapeError naming the shapes. */
  infer(inputs: readonly TensorType[], attrs: A): TensorType;
  /** Float64 reference semantics: the oracle for every backend. */
  interpret(inputs: readonly HostTensor[], attrs: A, out: TensorType, ctx: InterpretContext): HostTensor;
  /** Floating-point operations of one execution (multiply-add = 2). */
  flops(inputs: readonly TensorType[], out: TensorType, attrs: A): number;
}

export function defineOp<A extends object>(def: OpDef<A>): OpDef<A> {
  return def;
}

export function requireDType(t: TensorType, dtype: DType, what: string): void {
  if (t.dtype !== dtype) throw new ShapeError(`${what} must be ${dtype}, got ${t.dtype}`);
}

