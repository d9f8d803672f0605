// Graph → ONNX (opset 17): every IR op as ONNX operators, parameters as
// initializers with their HuggingFace names, so that onnxruntime can run the
// very model tcc compiles (the benchmark's peer and a test oracle).

import onnxProto from 'onnx-proto';
import type { Graph, Node } from '../ir/graph.js';
import { sourceName } from '../ir/graph.js';
import type { AttrsOf, OpName } from '../ir/ops/index.js';
import { alibiSlope, OUTSIDE_WINDOW } from '../ir/ops/source.js';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;

const OPSET = 17;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT32 = onnx.TensorProto.DataType.INT32;
const INT64 = onnx.TensorProto.DataType.INT64;

type AttrValue = number | string | number[];

function attribute(name: string, value: AttrValue, float = false): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  return float ? { name, type: T.FLOAT, f: value } : { name, type: T.INT, i: value };
}

/** Accumulates nodes and constants; each IR node becomes one or a few ONNX nodes. */
class OnnxBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];
  /** Rank of every named value, for transposes of matmul operands. */
  readonly ranks = new Map<string, number>();
  private count = 0;

  fresh(hint: string): string {
    return `${hint}_${this.count++}`;
  }

  node(op: string, inputs: string[], output: string, attrs: Record<string, AttrValue> = {}, floats: string[] = []): string {
    this.nodes.push({ opType: op, input: inputs, output: [output], name: output, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v, floats.includes(k))) });
    return output;
  }

  floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): string {
    this.initializers.push({ name, dims: [...dims], dataType: FLOAT, rawData: new Uint8Array(Float32Array.from(values).buffer) });
    return name;
  }

  intTensor(dims: readonly number[], values: readonly number[], type: 'i32' | 'i64' = 'i64'): string {
    const name = this.fresh('const');
    const raw = type === 'i64' ? new BigInt64Array(values.map(BigInt)).buffer : Int32Array.from(values).buffer;
    this.initializers.push({ name, dims: [...dims], dataType: type === 'i64' ? INT64 : INT32, rawData: new Uint8Array(raw) });
    return name;
  }

  scalar(value: number): string {
    return this.floatTensor(this.fresh('scalar'), [], [value]);
  }

  /** Sizes that follow the call's batch and seq, per node and attribute (see `dynamicSizes`). */
  sizes = new Map<number, Readonly<Record<string, readonly Size[]>>>();
  /** 1-element int64 tensors holding the call's batch and seq, made on first use. */
  private runtime: { batch?: string; seq?: string } = {};
  /** Where each of batch and seq can be read: an input and its axis. */
  sources: { batch?: [string, number]; seq?: [string, number] } = {};

  private runtimeDim(which: 'batch' | 'seq'): string {
    const made = this.runtime[which];
    if (made) return made;
    const source = this.sources[which];
    if (!source) throw new Error(`no input has the ${which} axis to read it from`);
    const shape = this.node('Shape', [source[0]], this.fresh(`shape_${which}`));
    return (this.runtime[which] = this.node('Slice', [shape, this.intTensor([1], [source[1]]), this.intTensor([1], [source[1] + 1])], this.fresh(which)));
  }

  /** An attribute of sizes as a 1-D int64 tensor: a constant, or computed from the call's batch and seq. */
  shape(node: Node, attr: string, values: readonly number[]): string {
    const sizes = this.sizes.get(node.id)?.[attr];
    if (!sizes || sizes.every((s) => !s.batch && !s.seq)) return this.intTensor([values.length], values);
    const parts = sizes.map((s) => {
      if (!s.batch && !s.seq) return this.intTensor([1], [s.scale]);
      let part = s.batch ? this.runtimeDim('batch') : this.runtimeDim('seq');
      if (s.batch && s.seq) part = this.node('Mul', [part, this.runtimeDim('seq')], this.fresh('bs'));
      return s.scale === 1 ? part : this.node('Mul', [part, this.intTensor([1], [s.scale])], this.fresh('size'));
    });
    return parts.length === 1 ? parts[0]! : this.node('Concat', parts, this.fresh('shape'), { axis: 0 });
  }

  /** A single size attribute as a 0-D int64 tensor. */
  size(node: Node, attr: string, value: number): string {
    return this.node('Reshape', [this.shape(node, attr, [value]), this.intTensor([0], [])], this.fresh(attr));
  }
}

/** A size as scale · batch^(0|1) · seq^(0|1). */
export interface Size {
  readonly scale: number;
  readonly batch: boolean;
  readonly seq: boolean;
}

/** Attributes that hold sizes, by op. */
const SIZE_ATTRS: Readonly<Partial<Record<OpName, readonly string[]>>> = {
  reshape: ['shape'], fill: ['shape'], broadcast: ['shape'], range: ['size'], sinusoidal: ['length'], rotary_table: ['length'], sliding_window: ['queries', 'keys'], alibi: ['queries', 'keys'], slice: ['start', 'end'], pad: ['before', 'after'],
};

/**
 * Which sizes follow batch and seq: the graph built at three (batch, seq)
 * points, (2, 3), (3, 3) and (2, 5); a size that grows by 3/2 with batch
 * and 5/3 with seq is a multiple of them. The graphs must have the same
 * nodes; a size that varies otherwise cannot be expressed.
 */
function dynamicSizes(build: (dims: { batch: number; seq: number }) => Graph): { graph: Graph; sizes: Map<number, Record<string, Size[]>> } {
  const [g, gb, gs] = [build({ batch: 2, seq: 3 }), build({ batch: 3, seq: 3 }), build({ batch: 2, seq: 5 })];
  const same = (a: Graph) => a.nodes.length === g.nodes.length && a.nodes.every((n, i) => n.op === g.nodes[i]!.op);
  if (!same(gb) || !same(gs)) throw new Error('the graph changes with batch or seq beyond its sizes; export it at a fixed shape');
  const sizeOf = (v: number, vb: number, vs: number, where: string): Size => {
    const batch = vb !== v;
    const seq = vs !== v;
    const scale = v / ((batch ? 2 : 1) * (seq ? 3 : 1));
    const ok = Number.isInteger(scale) && vb === scale * (batch ? 3 : 1) * (seq ? 3 : 1) && vs === scale * (batch ? 2 : 1) * (seq ? 5 : 1);
    if (!ok) throw new Error(`${where}: a size that is not a multiple of batch and seq (${v}, ${vb}, ${vs})`);
    return { scale, batch, seq };
  };
  const sizes = new Map<number, Record<string, Size[]>>();
  g.nodes.forEach((node, i) => {
    const attrs = SIZE_ATTRS[node.op];
    const shapeSizes = (n: Graph) => n.nodes[i]!.type.shape;
    const record: Record<string, Size[]> = {};
    for (const attr of attrs ?? []) {
      const values = [g, gb, gs].map((x) => [(x.nodes[i]!.attrs as Record<string, number | number[]>)[attr]!].flat());
      record[attr] = values[0]!.map((v, k) => sizeOf(v, values[1]![k]!, values[2]![k]!, `${node.op} ${attr}`));
    }
    // The node's own type, under 'type' (inputs and outputs are declared with it).
    record['type'] = shapeSizes(g).map((v, k) => sizeOf(v, shapeSizes(gb)[k]!, shapeSizes(gs)[k]!, `the shape of ${node.op} ${node.label ?? node.id}`));
    if (Object.keys(record).length) sizes.set(node.id, record);
  });
  return { graph: g, sizes };
}

type Lowering<K extends OpName> = (b: OnnxBuilder, x: string[], out: string, attrs: AttrsOf<K>, node: Node) => void;

/** Ops that only training graphs hold; ONNX export is for inference graphs. */
const TRAINING_ONLY = 'training-only' as const;

const unaryOp = <K extends OpName>(op: string): Lowering<K> => (b, [x], out) => void b.node(op, [x!], out);
const binaryOp = <K extends OpName>(op: string): Lowering<K> => (b, [x, y], out) => void b.node(op, [x!, y!], out);

/** x with its last two axes swapped. */
function transposeLast(b: OnnxBuilder, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return b.node('Transpose', [x], b.fresh('t'), { perm });
}

const EXPORT: { readonly [K in OpName]: Lowering<K> | 'source' | typeof TRAINING_ONLY } = {
  input: 'source',
  param: 'source',
  state: TRAINING_ONLY,
  range: (b, _x, out, { size }, node) => void b.node('Cast', [b.node('Range', [b.intTensor([], [0]), b.size(node, 'size', size), b.intTensor([], [1])], b.fresh('range'))], out, { to: INT32 }),
  // (ids ≠ pad) · cumsum(ids ≠ pad) + pad, in int32 as HuggingFace's create_position_ids_from_input_ids.
  padded_positions: (b, [ids], out, { padding_idx }) => {
    const wide = b.node('Cast', [ids!], b.fresh('ids64'), { to: INT64 });
    const kept = b.node('Cast', [b.node('Not', [b.node('Equal', [wide, b.intTensor([], [padding_idx])], b.fresh('is_pad'))], b.fresh('not_pad'))], b.fresh('kept'), { to: INT64 });
    const counted = b.node('CumSum', [kept, b.intTensor([], [1])], b.fresh('counted'));
    const positions = b.node('Add', [b.node('Mul', [counted, kept], b.fresh('counted_kept')), b.intTensor([], [padding_idx])], b.fresh('positions'));
    b.node('Cast', [positions], out, { to: INT32 });
  },
  // -slope·|i − j| from two ranges and a [heads, 1, 1] table of slopes, for any length.
  alibi: (b, _x, out, { heads, queries, keys }, node) => {
    const range = (n: number, attr: string) => b.node('Range', [b.intTensor([], [0]), b.size(node, attr, n), b.intTensor([], [1])], b.fresh(attr));
    const rows = b.node('Unsqueeze', [range(queries, 'queries'), b.intTensor([1], [1])], b.fresh('rows'));
    const distance = b.node('Cast', [b.node('Abs', [b.node('Sub', [rows, range(keys, 'keys')], b.fresh('offset'))], b.fresh('distance'))], b.fresh('distance_f'), { to: FLOAT });
    const slopes = b.floatTensor(b.fresh('slopes'), [heads, 1, 1], Array.from({ length: heads }, (_, h) => -alibiSlope(h, heads)));
    b.node('Mul', [slopes, distance], out);
  },
  // 0 where |i − j| ≤ window/2, the large negative elsewhere: from two ranges, for any length.
  sliding_window: (b, _x, out, { queries, keys, window }, node) => {
    const range = (n: number, attr: string) => b.node('Range', [b.intTensor([], [0]), b.size(node, attr, n), b.intTensor([], [1])], b.fresh(attr));
    const rows = b.node('Unsqueeze', [range(queries, 'queries'), b.intTensor([1], [1])], b.fresh('rows'));
    const distance = b.node('Abs', [b.node('Sub', [rows, range(keys, 'keys')], b.fresh('offset'))], b.fresh('distance'));
    // A global window (0) is nowhere outside.
    const outside = b.node('Greater', [distance, b.intTensor([], [window === 0 ? 2 ** 52 : Math.floor(window / 2)])], b.fresh('outside'));
    b.node('Where', [outside, b.scalar(OUTSIDE_WINDOW), b.scalar(0)], out);
  },
  // 0 where starts[i] <= j < ends[i], the large negative elsewhere; the key index j counted from the tokens themselves.
  segment_mask: (b, [starts, ends], out) => {
    const wide = (x: string, name: string) => b.node('Cast', [x], b.fresh(name), { to: INT64 });
    const column = (x: string, name: string) => b.node('Unsqueeze', [x, b.intTensor([1], [1])], b.fresh(name));
    const [lo, hi] = [wide(starts!, 'starts64'), wide(ends!, 'ends64')];
    const ones = b.node('Add', [b.node('Mul', [lo, b.intTensor([], [0])], b.fresh('zeros')), b.intTensor([], [1])], b.fresh('ones'));
    const keys = b.node('Sub', [b.node('CumSum', [ones, b.intTensor([], [0])], b.fresh('counted')), b.intTensor([], [1])], b.fresh('keys'));
    const before = b.node('Less', [keys, column(lo, 'lo')], b.fresh('before'));
    const past = b.node('Not', [b.node('Less', [keys, column(hi, 'hi')], b.fresh('within'))], b.fresh('past'));
    b.node('Where', [b.node('Or', [before, past], b.fresh('outside')), b.scalar(OUTSIDE_WINDOW), b.scalar(0)], out);
  },
  // sin at even columns, cos at odd ones, of position / 10000^(2⌊i/2⌋/dim), for any length.
  sinusoidal: (b, _x, out, { length, dim }, node) => {
    const positions = b.node('Cast', [b.node('Range', [b.intTensor([], [0]), b.size(node, 'length', length), b.intTensor([], [1])], b.fresh('positions'))], b.fresh('positions_f'), { to: FLOAT });
    const column = b.node('Unsqueeze', [positions, b.intTensor([1], [1])], b.fresh('column'));
    const rates = b.floatTensor(b.fresh('rates'), [dim], Array.from({ length: dim }, (_, i) => 1 / Math.pow(10000, (2 * Math.floor(i / 2)) / dim)));
    const angle = b.node('Mul', [column, rates], b.fresh('angle'));
    const even = b.fresh('even');
    b.initializers.push({ name: even, dims: [dim], dataType: onnx.TensorProto.DataType.BOOL, rawData: Uint8Array.from({ length: dim }, (_, i) => (i % 2 === 0 ? 1 : 0)) });
    b.node('Where', [even, b.node('Sin', [angle], b.fresh('sin')), b.node('Cos', [angle], b.fresh('cos'))], out);
  },
  // x·cos θ + x[partner]·(±sin θ) with [seq, head_dim] tables: θ = position · rate (rate 0 past dims, where the sign is 0 too).
  rotary: (b, [x], out, { base, dims, inverse }, node) => {
    const width = node.type.shape.at(-1)!;
    const rank = node.type.shape.length;
    const half = dims / 2;
    const seq = b.node('Squeeze', [b.node('Shape', [x!], b.fresh('seq_dim'), { start: rank - 2, end: rank - 1 }), b.intTensor([1], [0])], b.fresh('seq'));
    const positions = b.node('Cast', [b.node('Range', [b.intTensor([], [0]), seq, b.intTensor([], [1])], b.fresh('positions'))], b.fresh('positions_f'), { to: FLOAT });
    const column = b.node('Unsqueeze', [positions, b.intTensor([1], [1])], b.fresh('column'));
    const rate = (i: number) => (i < dims ? 1 / Math.pow(base, (2 * (i < half ? i : i - half)) / dims) : 0);
    const sign = (i: number) => (i >= dims ? 0 : (i < half ? -1 : 1) * (inverse ? -1 : 1));
    const angle = b.node('Mul', [column, b.floatTensor(b.fresh('rates'), [width], Array.from({ length: width }, (_, i) => rate(i)))], b.fresh('angle'));
    const sin = b.node('Mul', [b.node('Sin', [angle], b.fresh('sin')), b.floatTensor(b.fresh('signs'), [width], Array.from({ length: width }, (_, i) => sign(i)))], b.fresh('signed_sin'));
    const partners = b.intTensor([width], Array.from({ length: width }, (_, i) => (i < half ? i + half : i < dims ? i - half : i)));
    const partner = b.node('Gather', [x!, partners], b.fresh('partner'), { axis: -1 });
    const turned = b.node('Mul', [x!, b.node('Cos', [angle], b.fresh('cos'))], b.fresh('turned'));
    b.node('Add', [turned, b.node('Mul', [partner, sin], b.fresh('shifted'))], out);
  },
  // cos (first half of the columns) and sin (second half) of position · rate, for any length.
  rotary_table: (b, _x, out, { base, dims, length }, node) => {
    const half = dims / 2;
    const positions = b.node('Cast', [b.node('Range', [b.intTensor([], [0]), b.size(node, 'length', length), b.intTensor([], [1])], b.fresh('positions'))], b.fresh('positions_f'), { to: FLOAT });
    const column = b.node('Unsqueeze', [positions, b.intTensor([1], [1])], b.fresh('column'));
    const rates = b.floatTensor(b.fresh('rates'), [dims], Array.from({ length: dims }, (_, i) => 1 / Math.pow(base, (2 * (i % half)) / dims)));
    const angle = b.node('Mul', [column, rates], b.fresh('angle'));
    const first = b.fresh('first_half');
    b.initializers.push({ name: first, dims: [dims], dataType: onnx.TensorProto.DataType.BOOL, rawData: Uint8Array.from({ length: dims }, (_, i) => (i < half ? 1 : 0)) });
    b.node('Where', [first, b.node('Cos', [angle], b.fresh('cos')), b.node('Sin', [angle], b.fresh('sin'))], out);
  },
  // x·cos θ + x[partner]·(±sin θ), cos and sin gathered from the table's columns (1 and 0 past dims).
  rotate: (b, [x, table], out, { dims, inverse }, node) => {
    const width = node.type.shape.at(-1)!;
    const half = dims / 2;
    const column = (i: number, offset: number) => (i < dims ? offset + (i % half) : 0);
    const gather = (offset: number, name: string) => b.node('Gather', [table!, b.intTensor([width], Array.from({ length: width }, (_, i) => column(i, offset)))], b.fresh(name), { axis: 1 });
    const inside = b.fresh('rotated');
    b.initializers.push({ name: inside, dims: [width], dataType: onnx.TensorProto.DataType.BOOL, rawData: Uint8Array.from({ length: width }, (_, i) => (i < dims ? 1 : 0)) });
    const cos = b.node('Where', [inside, gather(0, 'cos'), b.scalar(1)], b.fresh('cos_or_1'));
    const sign = (i: number) => (i >= dims ? 0 : (i < half ? -1 : 1) * (inverse ? -1 : 1));
    const sin = b.node('Mul', [gather(half, 'sin'), b.floatTensor(b.fresh('signs'), [width], Array.from({ length: width }, (_, i) => sign(i)))], b.fresh('signed_sin'));
    const partner = b.node('Gather', [x!, b.intTensor([width], Array.from({ length: width }, (_, i) => (i < half ? i + half : i < dims ? i - half : i)))], b.fresh('partner'), { axis: -1 });
    b.node('Add', [b.node('Mul', [x!, cos], b.fresh('turned')), b.node('Mul', [partner, sin], b.fresh('shifted'))], out);
  },
  neg: unaryOp('Neg'),
  exp: unaryOp('Exp'),
  log: unaryOp('Log'),
  sqrt: unaryOp('Sqrt'),
  rsqrt: (b, [x], out) => void b.node('Reciprocal', [b.node('Sqrt', [x!], b.fresh('sqrt'))], out),
  tanh: unaryOp('Tanh'),
  sigmoid: unaryOp('Sigmoid'),
  erf: unaryOp('Erf'),
  relu: unaryOp('Relu'),
  // 0.5·x·(1 + erf(x/√2)): onnxruntime fuses this pattern into its Gelu kernel.
  gelu: (b, [x], out) => {
    const e = b.node('Erf', [b.node('Mul', [x!, b.scalar(Math.SQRT1_2)], b.fresh('scaled'))], b.fresh('erf'));
    const half = b.node('Mul', [x!, b.scalar(0.5)], b.fresh('half'));
    b.node('Mul', [half, b.node('Add', [e, b.scalar(1)], b.fresh('one_plus'))], out);
  },
  gelu_tanh: (b, [x], out) => {
    const cube = b.node('Mul', [b.node('Mul', [x!, x!], b.fresh('sq')), x!], b.fresh('cube'));
    const inner = b.node('Mul', [b.node('Add', [x!, b.node('Mul', [cube, b.scalar(0.044715)], b.fresh('c'))], b.fresh('s')), b.scalar(Math.sqrt(2 / Math.PI))], b.fresh('inner'));
    const half = b.node('Mul', [x!, b.scalar(0.5)], b.fresh('half'));
    b.node('Mul', [half, b.node('Add', [b.node('Tanh', [inner], b.fresh('tanh')), b.scalar(1)], b.fresh('one_plus'))], out);
  },
  silu: (b, [x], out) => void b.node('Mul', [x!, b.node('Sigmoid', [x!], b.fresh('sigmoid'))], out),
  add: binaryOp('Add'),
  sub: binaryOp('Sub'),
  mul: binaryOp('Mul'),
  div: binaryOp('Div'),
  maximum: binaryOp('Max'),
  minimum: binaryOp('Min'),
  affine: (b, [x], out, { scale, shift }) => void b.node('Add', [b.node('Mul', [x!, b.scalar(scale)], b.fresh('scaled')), b.scalar(shift)], out),
  cast: (b, [x], out, { to }) => void b.node('Cast', [x!], out, { to: to === 'f32' ? FLOAT : INT32 }),
  dropout: (b, [x], out) => void b.node('Identity', [x!], out),
  dropout_rows: (b, [x], out) => void b.node('Identity', [x!], out),
  reshape: (b, [x], out, { shape }, node) => void b.node('Reshape', [x!, b.shape(node, 'shape', shape)], out),
  transpose: (b, [x], out, { perm }) => void b.node('Transpose', [x!], out, { perm }),
  slice: (b, [x], out, { axis, start, end }, node) => void b.node('Slice', [x!, b.shape(node, 'start', [start]), b.shape(node, 'end', [end]), b.intTensor([1], [axis])], out),
  select: (b, [x], out, { axis, index }) => void b.node('Gather', [x!, b.intTensor([], [index])], out, { axis }),
  concat: (b, xs, out, { axis }) => void b.node('Concat', xs, out, { axis }),
  gather: (b, [table, ids], out) => void b.node('Gather', [table!, ids!], out, { axis: 0 }),
  sum: (b, [x], out, { axes, keepdims }) => void b.node('ReduceSum', [x!, b.intTensor([axes.length], axes)], out, { keepdims: keepdims ? 1 : 0 }),
  mean: (b, [x], out, { axes, keepdims }) => void b.node('ReduceMean', [x!], out, { axes, keepdims: keepdims ? 1 : 0 }),
  max: (b, [x], out, { axes, keepdims }) => void b.node('ReduceMax', [x!], out, { axes, keepdims: keepdims ? 1 : 0 }),
  softmax: (b, [x], out, { axis }) => void b.node('Softmax', [x!], out, { axis }),
  log_softmax: (b, [x], out, { axis }) => void b.node('LogSoftmax', [x!], out, { axis }),
  layer_norm: (b, [x, g, beta], out, { eps }) => void b.node('LayerNormalization', [x!, g!, beta!], out, { axis: -1, epsilon: eps }, ['epsilon']),
  fill: (b, _x, out, { value, dtype, shape }, node) => {
    const one = dtype === 'f32' ? b.floatTensor(b.fresh('value'), [], [value]) : b.intTensor([], [value], 'i32');
    b.node('Expand', [one, b.shape(node, 'shape', shape)], out);
  },
  broadcast: (b, [x], out, { shape }, node) => void b.node('Expand', [x!, b.shape(node, 'shape', shape)], out),
  pad: (b, [x], out, { axis, before, after }, node) => {
    const rank = node.type.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    const zeros = (n: number) => (n ? [b.intTensor([n], new Array<number>(n).fill(0))] : []);
    const pads = [...zeros(a), b.shape(node, 'before', [before]), ...zeros(rank - a - 1), ...zeros(a), b.shape(node, 'after', [after]), ...zeros(rank - a - 1)];
    b.node('Pad', [x!, b.node('Concat', pads, b.fresh('pads'), { axis: 0 })], out);
  },
  gt: (b, [x, y], out) => void b.node('Cast', [b.node('Greater', [x!, y!], b.fresh('gt'))], out, { to: FLOAT }),
  scatter_add: TRAINING_ONLY,
  gelu_grad: TRAINING_ONLY,
  gelu_tanh_grad: TRAINING_ONLY,
  layer_norm_dx: TRAINING_ONLY,
  cross_entropy: TRAINING_ONLY,
  cross_entropy_grad: TRAINING_ONLY,
  accuracy: TRAINING_ONLY,
  // Outside training, the first largest logit of each row.
  sample: (b, [x], out) => void b.node('Cast', [b.node('ArgMax', [x!], b.fresh('argmax'), { axis: -1, keepdims: 0, select_last_index: 0 })], out, { to: INT32 }),
  // Inference: dropout is the identity; the softmax of scaled, masked scores times v.
  attention: (b, [q, k, v, mask], out, { scale }) => {
    const scores = b.node('MatMul', [q!, transposeLast(b, k!, b.ranks.get(k!)!)], b.fresh('scores'));
    const masked = b.node('Add', [b.node('Mul', [scores, b.scalar(scale)], b.fresh('scaled')), mask!], b.fresh('masked'));
    b.node('MatMul', [b.node('Softmax', [masked], b.fresh('probs'), { axis: -1 }), v!], out);
  },
  attention_lse: TRAINING_ONLY,
  attention_grad: TRAINING_ONLY,
  matmul: (b, [x, y], out, { transpose_a, transpose_b }) => {
    const a = transpose_a ? transposeLast(b, x!, b.ranks.get(x!)!) : x!;
    const c = transpose_b ? transposeLast(b, y!, b.ranks.get(y!)!) : y!;
    b.node('MatMul', [a, c], out);
  },
};

function valueInfo(name: string, dtype: 'f32' | 'i32' | 'i64', shape: readonly number[], sizes?: readonly Size[]): onnxProto.onnx.IValueInfoProto {
  const dim = shape.map((d, k) => {
    const s = sizes?.[k];
    if (!s || (!s.batch && !s.seq)) return { dimValue: d };
    return { dimParam: [s.scale === 1 ? '' : `${s.scale}`, s.batch ? 'batch' : '', s.seq ? 'seq' : ''].filter(Boolean).join('*') };
  });
  return { name, type: { tensorType: { elemType: dtype === 'f32' ? FLOAT : dtype === 'i64' ? INT64 : INT32, shape: { dim } } } };
}

export interface OnnxOptions {
  /**
   * Builds the graph at other batch and seq: given, the export's batch and seq
   * axes are dynamic (named 'batch' and 'seq'), and `graph` is replaced by
   * the build at (2, 3).
   */
  readonly dynamic?: (dims: { batch: number; seq: number }) => Graph;
  /**
   * Keep the parameters in a file of this name beside the model (ONNX's
   * external data) instead of inside it: a protobuf holds at most 2 GB.
   */
  readonly externalData?: string;
}

export interface OnnxModel {
  readonly model: Uint8Array;
  /** The parameters' bytes, when they go beside the model. */
  readonly data?: Uint8Array;
}

/** Parameters past this many bytes cannot stay inside the model. */
export const ONNX_INLINE_LIMIT = 2 ** 31 - 2 ** 26;

/** Moves each parameter's bytes out of its initializer into one data file (aligned to 64 bytes). */
function externalize(initializers: ITensorProto[], names: ReadonlySet<string>, file: string): Uint8Array {
  const moved = initializers.filter((t) => names.has(t.name!));
  const align = (n: number) => Math.ceil(n / 64) * 64;
  const data = new Uint8Array(moved.reduce((n, t) => align(n) + t.rawData!.length, 0));
  let offset = 0;
  for (const t of moved) {
    offset = align(offset);
    data.set(t.rawData!, offset);
    const length = t.rawData!.length;
    t.rawData = undefined;
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [{ key: 'location', value: file }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }];
    offset += length;
  }
  return data;
}

/**
 * The graph as an ONNX model. Parameters become initializers from `params`
 * (HuggingFace names); inputs and outputs keep their names.
 */
export function exportOnnx(graph: Graph, params: Readonly<Record<string, ArrayLike<number>>>, options: OnnxOptions = {}): OnnxModel {
  const b = new OnnxBuilder();
  if (options.dynamic) {
    const probed = dynamicSizes(options.dynamic);
    graph = probed.graph;
    b.sizes = probed.sizes;
    for (const node of graph.nodes) {
      if (node.op !== 'input') continue;
      probed.sizes.get(node.id)?.['type']?.forEach((s, axis) => {
        if (s.scale !== 1 || s.batch === s.seq) return;
        b.sources[s.batch ? 'batch' : 'seq'] ??= [sourceName(node)!, axis];
      });
    }
  }
  const names: string[] = [];
  const inputs: onnxProto.onnx.IValueInfoProto[] = [];
  for (const node of graph.nodes) {
    const name = sourceName(node);
    if (node.op === 'param') {
      const values = params[name!];
      if (!values) throw new Error(`no value for parameter '${name}'`);
      names[node.id] = b.floatTensor(name!, node.type.shape, values);
    } else if (node.op === 'input') {
      // Token ids, token types and masks come as int64, as HuggingFace's tokenizers and onnxruntime's users give them; tcc computes with int32.
      const wide = node.type.dtype === 'i32';
      names[node.id] = wide ? b.node('Cast', [name!], `${name!}.i32`, { to: INT32 }) : name!;
      inputs.push(valueInfo(name!, wide ? 'i64' : node.type.dtype, node.type.shape, b.sizes.get(node.id)?.['type']));
    } else {
      const out = `v${node.id}`;
      const rule = EXPORT[node.op];
      if (rule === TRAINING_ONLY) throw new Error(`op ${node.op} belongs to training graphs, which ONNX export does not cover; export an inference graph`);
      (rule as Lowering<OpName>)(b, node.args.map((a) => names[a]!), out, node.attrs as never, node);
      names[node.id] = out;
    }
    b.ranks.set(names[node.id]!, node.type.shape.length);
  }
  const outputs = graph.outputs.map((o) => {
    const node = graph.nodes[o.node]!;
    b.node('Identity', [names[o.node]!], o.name);
    return valueInfo(o.name, node.type.dtype, node.type.shape, b.sizes.get(o.node)?.['type']);
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'tcc',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: { name: graph.name, node: b.nodes, initializer: b.initializers, input: inputs, output: outputs },
  });
  const data = options.externalData === undefined ? undefined : externalize(b.initializers, new Set(Object.keys(params)), options.externalData);
  const bytes = onnx.ModelProto.encode(model).finish();
  return data ? { model: bytes, data } : { model: bytes };
}
