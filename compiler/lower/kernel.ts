// The kernel IR: what a backend renders. A program is a list of kernels over
// numbered buffers; each kernel computes one output buffer from input
// buffers. Kernels are target-neutral: no JavaScript, C or WGSL in them, only
// iteration spaces, scalar expressions and a few parameterized templates
// (matmul, row-wise softmax and layer norm) that fused prologues and
// epilogues will plug into.
//
//   map      out[c0, c1, …] = expr(c0, c1, …)            one element per point
//   reduce   out[kept…] = combine over r < extent of expr  sum or max, then finish
//   matmul   C[b, i, j] = Σ_k A[b, i, k] · B[b, k, j]      strided operands
//   rows     softmax, log_softmax, layer_norm (and its dx) along one axis
//   scatter  out[ids[i], :] += values[i, :] into a zeroed table
//   loss     cross-entropy, its gradient, accuracy over labelled rows

export type ScalarType = 'f32' | 'i32';

export type UnaryFn = 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'tanh' | 'sigmoid' | 'erf' | 'relu' | 'gelu' | 'gelu_tanh' | 'sin' | 'cos';
export type BinaryFn = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'lt' | 'mod' | 'idiv' | 'gelu_grad' | 'gelu_tanh_grad';

/** Scalar expressions. Loads take an element index (not bytes) into an input slot. */
export type KExpr =
  | { readonly op: 'const'; readonly value: number; readonly type: ScalarType }
  /** The output coordinate along an axis of the iteration space. */
  | { readonly op: 'idx'; readonly axis: number }
  /** The reduction counter of a reduce kernel. */
  | { readonly op: 'ridx' }
  | { readonly op: 'load'; readonly slot: number; readonly index: KExpr }
  | { readonly op: 'unary'; readonly fn: UnaryFn; readonly x: KExpr }
  | { readonly op: 'binary'; readonly fn: BinaryFn; readonly a: KExpr; readonly b: KExpr }
  | { readonly op: 'where'; readonly cond: KExpr; readonly then: KExpr; readonly else: KExpr }
  | { readonly op: 'cast'; readonly to: ScalarType; readonly x: KExpr }
  /** Uniform [0, 1) from Threefry keyed by (seed, stream) and counted by (step, element). */
  | { readonly op: 'random'; readonly stream: number; readonly element: KExpr }
  /** The accumulated value in a reduce kernel's finish expression. */
  | { readonly op: 'acc' };

/** A kernel argument: a buffer read (slots 0…) or written (the output, last slot). */
export interface KernelArg {
  readonly buffer: number;
  readonly dtype: ScalarType;
  readonly size: number;
}

interface KernelBase {
  /** Unique in the program, e.g. "k12_matmul". */
  readonly name: string;
  /** The graph node (and its spec label) that the kernel computes. */
  readonly node: number;
  readonly label: string;
  readonly inputs: readonly KernelArg[];
  readonly output: KernelArg;
}

export interface MapKernel extends KernelBase {
  readonly kind: 'map';
  readonly shape: readonly number[];
  readonly expr: KExpr;
}

export interface ReduceKernel extends KernelBase {
  readonly kind: 'reduce';
  /** Iteration space of the output (kept axes). */
  readonly shape: readonly number[];
  readonly extent: number;
  readonly combine: 'sum' | 'max';
  /** Value per (output point, ridx). */
  readonly expr: KExpr;
  /** Result from `acc` (e.g. the mean divides it). */
  readonly finish: KExpr;
}

/** Strides are in elements; batch strides are per batch axis of the output. */
export interface MatmulOperand {
  readonly batchStrides: readonly number[];
  readonly rowStride: number;
  readonly colStride: number;
}

export interface MatmulKernel extends KernelBase {
  readonly kind: 'matmul';
  readonly batch: readonly number[];
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** A is m×k, B is k×n, read through strides (a transposed operand just swaps them). */
  readonly a: MatmulOperand;
  readonly b: MatmulOperand;
}

export interface RowsKernel extends KernelBase {
  readonly kind: 'rows';
  readonly fn: 'softmax' | 'log_softmax' | 'layer_norm' | 'layer_norm_dx';
  /** Rows are (outer, inner) pairs; a row has `size` elements `inner` apart. */
  readonly outer: number;
  readonly size: number;
  readonly inner: number;
  readonly eps: number;
}

export interface ScatterKernel extends KernelBase {
  readonly kind: 'scatter';
  /** Index count; each moves a row of rowSize values into a table of `rows` rows. */
  readonly count: number;
  readonly rowSize: number;
  readonly rows: number;
}

/** Inputs: logits [rows, classes], labels [rows] (i32), and for the gradient dloss []. */
export interface LossKernel extends KernelBase {
  readonly kind: 'loss';
  readonly fn: 'cross_entropy' | 'cross_entropy_grad' | 'accuracy';
  readonly rows: number;
  readonly classes: number;
  readonly ignoreIndex: number;
}

export type Kernel = MapKernel | ReduceKernel | MatmulKernel | RowsKernel | ScatterKernel | LossKernel;

export interface BufferInfo {
  readonly id: number;
  readonly dtype: ScalarType;
  /** Elements. */
  readonly size: number;
  readonly role: 'input' | 'param' | 'state' | 'intermediate' | 'output';
  /** The name of an input or parameter, or the graph output it holds. */
  readonly name?: string;
}

/** The lowered program: buffers, kernels in execution order, and where inputs, params and outputs live. */
export interface KernelProgram {
  readonly buffers: readonly BufferInfo[];
  readonly kernels: readonly Kernel[];
  /**
   * Graph inputs. `bound` is set for integer inputs used as indices or labels:
   * values must lie in [0, bound), or equal `ignore` (labels without a target).
   */
  readonly inputs: readonly { readonly name: string; readonly buffer: number; readonly dtype: ScalarType; readonly shape: readonly number[]; readonly bound?: number; readonly ignore?: number }[];
  readonly params: readonly { readonly name: string; readonly buffer: number; readonly shape: readonly number[]; readonly init: string; readonly std: number }[];
  readonly outputs: readonly { readonly name: string; readonly buffer: number; readonly dtype: ScalarType; readonly shape: readonly number[] }[];
  /** Persistent state (optimizer moments): zeros at first, kept across runs. */
  readonly states: readonly { readonly name: string; readonly buffer: number; readonly shape: readonly number[] }[];
  /** After each run, copy buffer `from` over `to`: the new values of parameters and state ("update:NAME" outputs). */
  readonly updates: readonly { readonly name: string; readonly from: number; readonly to: number }[];
}

// ---- expression builders ----

export const constant = (value: number, type: ScalarType = 'f32'): KExpr => ({ op: 'const', value, type });
export const idx = (axis: number): KExpr => ({ op: 'idx', axis });
export const load = (slot: number, index: KExpr): KExpr => ({ op: 'load', slot, index });
export const unary = (fn: UnaryFn, x: KExpr): KExpr => ({ op: 'unary', fn, x });
export const binary = (fn: BinaryFn, a: KExpr, b: KExpr): KExpr => ({ op: 'binary', fn, a, b });

/** Integer sum of terms, dropping zeros: Σ coeff·expr + offset. */
export function affineIndex(terms: readonly [KExpr, number][], offset = 0): KExpr {
  let sum: KExpr | undefined;
  for (const [expr, coeff] of terms) {
    if (coeff === 0) continue;
    const term = coeff === 1 ? expr : binary('mul', expr, constant(coeff, 'i32'));
    sum = sum ? binary('add', sum, term) : term;
  }
  if (!sum) return constant(offset, 'i32');
  return offset ? binary('add', sum, constant(offset, 'i32')) : sum;
}
