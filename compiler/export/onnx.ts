// Graph → ONNX (opset 17): every IR op as ONNX operators, parameters as
// initializers with their HuggingFace names, so that onnxruntime can run the
// very model tcc compiles (the benchmark's peer and a test oracle).

import onnxProto from 'onnx-proto';
import type { Graph, Node } from '../ir/graph.js';
import { sourceName } from '../ir/graph.js';
import type { AttrsOf, OpName } from '../ir/ops/index.js';
import { sinusoidalTable } from '../ir/ops/source.js';

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
  range: (b, _x, out, { size }) => void b.node('Identity', [b.intTensor([size], Array.from({ length: size }, (_, i) => i), 'i32')], out),
  sinusoidal: (b, _x, out, { length, dim }) => void b.node('Identity', [b.floatTensor(b.fresh('sinusoidal'), [length, dim], sinusoidalTable(length, dim))], out),
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
  add: binaryOp('Add'),
  sub: binaryOp('Sub'),
  mul: binaryOp('Mul'),
  div: binaryOp('Div'),
  maximum: binaryOp('Max'),
  minimum: binaryOp('Min'),
  affine: (b, [x], out, { scale, shift }) => void b.node('Add', [b.node('Mul', [x!, b.scalar(scale)], b.fresh('scaled')), b.scalar(shift)], out),
  cast: (b, [x], out, { to }) => void b.node('Cast', [x!], out, { to: to === 'f32' ? FLOAT : INT32 }),
  dropout: (b, [x], out) => void b.node('Identity', [x!], out),
  reshape: (b, [x], out, _a, node) => void b.node('Reshape', [x!, b.intTensor([node.type.shape.length], [...node.type.shape])], out),
  transpose: (b, [x], out, { perm }) => void b.node('Transpose', [x!], out, { perm }),
  slice: (b, [x], out, { axis, start, end }) => void b.node('Slice', [x!, b.intTensor([1], [start]), b.intTensor([1], [end]), b.intTensor([1], [axis])], out),
  select: (b, [x], out, { axis, index }) => void b.node('Gather', [x!, b.intTensor([], [index])], out, { axis }),
  concat: (b, xs, out, { axis }) => void b.node('Concat', xs, out, { axis }),
  gather: (b, [table, ids], out) => void b.node('Gather', [table!, ids!], out, { axis: 0 }),
  sum: (b, [x], out, { axes, keepdims }) => void b.node('ReduceSum', [x!, b.intTensor([axes.length], axes)], out, { keepdims: keepdims ? 1 : 0 }),
  mean: (b, [x], out, { axes, keepdims }) => void b.node('ReduceMean', [x!], out, { axes, keepdims: keepdims ? 1 : 0 }),
  max: (b, [x], out, { axes, keepdims }) => void b.node('ReduceMax', [x!], out, { axes, keepdims: keepdims ? 1 : 0 }),
  softmax: (b, [x], out, { axis }) => void b.node('Softmax', [x!], out, { axis }),
  log_softmax: (b, [x], out, { axis }) => void b.node('LogSoftmax', [x!], out, { axis }),
  layer_norm: (b, [x, g, beta], out, { eps }) => void b.node('LayerNormalization', [x!, g!, beta!], out, { axis: -1, epsilon: eps }, ['epsilon']),
  fill: (b, _x, out, { value, dtype, shape }) =>
    void b.node('Identity', [dtype === 'f32' ? b.floatTensor(b.fresh('fill'), shape, new Array(shape.reduce((a, d) => a * d, 1)).fill(value)) : b.intTensor(shape, new Array(shape.reduce((a, d) => a * d, 1)).fill(value), 'i32')], out),
  broadcast: (b, [x], out, { shape }) => void b.node('Expand', [x!, b.intTensor([shape.length], shape)], out),
  pad: (b, [x], out, { axis, before, after }, node) => {
    const rank = node.type.shape.length;
    const a = axis < 0 ? axis + rank : axis;
    const pads = [...Array.from({ length: rank }, (_, d) => (d === a ? before : 0)), ...Array.from({ length: rank }, (_, d) => (d === a ? after : 0))];
    b.node('Pad', [x!, b.intTensor([2 * rank], pads)], out);
  },
  gt: (b, [x, y], out) => void b.node('Cast', [b.node('Greater', [x!, y!], b.fresh('gt'))], out, { to: FLOAT }),
  scatter_add: TRAINING_ONLY,
  gelu_grad: TRAINING_ONLY,
  gelu_tanh_grad: TRAINING_ONLY,
  layer_norm_dx: TRAINING_ONLY,
  cross_entropy: TRAINING_ONLY,
  cross_entropy_grad: TRAINING_ONLY,
  accuracy: TRAINING_ONLY,
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

function valueInfo(name: string, dtype: 'f32' | 'i32', shape: readonly number[]): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: dtype === 'f32' ? FLOAT : INT32, shape: { dim: shape.map((d) => ({ dimValue: d })) } } } };
}

/**
 * The graph as an ONNX model. Parameters become initializers from `params`
 * (HuggingFace names); inputs and outputs keep their names.
 */
export function exportOnnx(graph: Graph, params: Readonly<Record<string, ArrayLike<number>>>): Uint8Array {
  const b = new OnnxBuilder();
  const names: string[] = [];
  const inputs: onnxProto.onnx.IValueInfoProto[] = [];
  for (const node of graph.nodes) {
    const name = sourceName(node);
    if (node.op === 'param') {
      const values = params[name!];
      if (!values) throw new Error(`no value for parameter '${name}'`);
      names[node.id] = b.floatTensor(name!, node.type.shape, values);
    } else if (node.op === 'input') {
      names[node.id] = name!;
      inputs.push(valueInfo(name!, node.type.dtype, node.type.shape));
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
    return valueInfo(o.name, node.type.dtype, node.type.shape);
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'tcc',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: { name: graph.name, node: b.nodes, initializer: b.initializers, input: inputs, output: outputs },
  });
  return onnx.ModelProto.encode(model).finish();
}
