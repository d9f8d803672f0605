// The padding-free form of an encoder: a batch of sequences of different
// lengths runs as one stream of tokens, with no padding token anywhere
// (text-embeddings-inference's and FlashAttention's "varlen" layout). The
// pass rewrites a graph built at batch 1 × seq T (T: the most tokens a run
// may hold) into the graph over the stream:
//
//   attention_mask     gone: every token of the stream is real (the input is
//                      a constant 1, which simplify folds away)
//   range over tokens  the `positions` input: each token's place in its own
//                      sequence (learned position embeddings; RoBERTa's
//                      padded positions count from padding_idx + 1)
//   attention          its mask gains segment_mask(starts, ends), both read
//                      from the `bounds` input: a token attends to the keys
//                      of its own sequence only
//   select(token 0)    the rows of the `firsts` input: each sequence's first
//                      token ([CLS] pooling); what follows is per sequence,
//                      [sequences, …]
//   inputs [batch]     one value per sequence (a classifier's labels):
//                      [sequences]; losses and metrics over labelled rows
//                      stay what they are (the stream's rows are the padded
//                      batch's real ones)
//   rotary             rotate by a table of angles gathered at the positions
//   sum over tokens    each sequence's own sum (mean pooling): its rows
//                      gathered into [sequences, longest, …], those past its
//                      end weighted 0 (and read at its last token, so that
//                      no row of another run is ever multiplied)
//
// Which axis of each value runs along the tokens is found by building the
// same spec at T + 1 (`probe`): the axes whose extent changed; which inputs
// are per sequence, by building it at batch 2 (`batchProbe`). Every op that
// would mix tokens across that axis in another way (a max over the tokens,
// a slice of them, a sinusoidal table) is refused with its label: the
// stream would give it other tokens than a padded batch does.
//
// The inputs `positions` (i32 [tokens]), `bounds` (i32 [tokens, 2]: each
// token's sequence's start and end, one buffer, so that attention's
// gradient kernel stays within WebGPU's 8 storage bindings) and `firsts`
// (i32 [sequences]) are derived from the sequences' lengths by the runtime
// (runtime/packed.ts), never fed by hand.

import { GraphBuilder, type Graph, type Node } from '../ir/graph.js';
import { opDef, type AttrsOf } from '../ir/ops/index.js';
import { formatType, type Shape } from '../ir/types.js';
import { dce } from './dce.js';
import { movedRegions } from './rewrite.js';
import { PACKED_INPUTS, type PackedInput } from '../../runtime/packed.js';
import { InputError } from '../../runtime/errors.js';

/** The input a packed graph drops: every token of the stream is real. */
export const PADDING_MASK = 'attention_mask';

/** A model the padding-free form cannot take, with the op and why: one line for the user. */
export class PackError extends InputError {
  override name = 'PackError';
}

/** What tokenAxes says of a value over (query, key) pairs of tokens: its last two axes. */
export const PAIRS = -2;

/** Per node of `graph`, the axis that runs along the tokens (-1: none), from the same graph built at one token more (or one batch entry more: the batch axis). */
export function tokenAxes(graph: Graph, probe: Graph): number[] {
  const same = probe.nodes.length === graph.nodes.length && probe.nodes.every((n, i) => n.op === graph.nodes[i]!.op);
  if (!same) throw new PackError('the model\'s graph changes with its length beyond its sizes; it has no padding-free form');
  return graph.nodes.map((n, i) => {
    const other = probe.nodes[i]!.type.shape;
    const axes = n.type.shape.flatMap((d, a) => (other[a] !== d ? [a] : []));
    if (axes.length === 0) return -1;
    if (axes.length === 1 && other[axes[0]!] === n.type.shape[axes[0]!]! + 1) return axes[0]!;
    // A value per (query, key) pair, the last two axes: a mask term such as a local window's or ALiBi's.
    if (axes.length === 2 && axes[0] === n.type.shape.length - 2 && axes[1] === n.type.shape.length - 1) return PAIRS;
    // Scores [.., tokens, tokens] exist only before attention fusion; a product of tokens is a layout the stream cannot follow.
    throw new PackError(`${where(n)} has more than one axis along the tokens (${formatType(n.type)}); the padding-free form needs attention fusion`);
  });
}

const where = (n: Node) => `'${n.label ?? `%${n.id}`}' (${n.op})`;

/** The product of the extents before `axis`. */
const outer = (shape: Shape, axis: number) => shape.slice(0, axis).reduce((a, d) => a * d, 1);

/**
 * The graph over a stream of at most `graph.dims.seq` tokens in at most
 * `sequences` sequences of at most `longest` tokens; `graph` is built at
 * batch 1 and fused for attention, `probe` the same at one token more,
 * `batchProbe` at batch 2.
 */
export function packGraph(graph: Graph, probe: Graph, batchProbe: Graph, sequences: number, longest: number): Graph {
  if (graph.dims['batch'] !== 1) throw new PackError(`pack a graph built at batch 1, not ${graph.dims['batch']}`);
  const axes = tokenAxes(graph, probe);
  // Per-sequence inputs (a classifier's labels [batch]): the values whose first axis follows the batch but not the tokens.
  const batchAxes = tokenAxes(graph, batchProbe);
  const tokens = graph.dims['seq']!;
  const b = new GraphBuilder(graph.name, graph.mode, { ...graph.dims, tokens, sequences });
  const mapped: number[] = [];
  /** New nodes made before each old one: the model's regions (its layers) follow them. */
  const madeBefore: number[] = [];
  /** Nodes of `graph` whose leading axis became the sequences (pooled rows and what follows from them). */
  const perSequence = new Set<number>();
  const inputs = new Map<PackedInput, number>();
  const input = (name: PackedInput) => {
    let id = inputs.get(name);
    if (id === undefined) {
      const shape = name === 'firsts' ? [sequences] : name === 'bounds' ? [tokens, 2] : [tokens];
      id = b.add('input', [], { name, dtype: 'i32', shape }, name).id;
      inputs.set(name, id);
    }
    return id;
  };
  const tokenAxis = (id: number) => axes[id]!;
  /** Each token's sequence's first token (`start`) or one past its last (`end`): a column of `bounds`. */
  const bound = (which: 'start' | 'end', label: string) => b.add('select', [input('bounds')], { axis: 1, index: which === 'start' ? 0 : 1 }, label).id;

  for (const node of graph.nodes) {
    madeBefore[node.id] = b.size;
    const args = node.args.map((a) => mapped[a]!);
    const axis = tokenAxis(node.id);
    const refuse = (why: string): never => {
      throw new PackError(`${where(node)} ${why}; the padding-free form does not take it`);
    };
    const copy = () => b.add(node.op, args, node.attrs as never, node.label, node.type).id;
    let id: number;
    if (node.op === 'cross_entropy' || node.op === 'accuracy') {
      // A loss or a metric over every labelled row of the batch: the stream's rows are the padded batch's real ones;
      // classes along the tokens (a span's start among a sequence's positions) are not.
      const logits = graph.nodes[node.args[0]!]!;
      if (tokenAxis(logits.id) === logits.type.shape.length - 1) refuse('scores each sequence\'s positions as classes (a question-answering span)');
      id = b.add(node.op, args, node.attrs as never, node.label).id;
      mapped[node.id] = id;
      continue;
    }
    if (node.args.some((a) => perSequence.has(a))) {
      // Per-sequence values: the batch axis of 1 is now the sequences; shapes are inferred again.
      if (node.op === 'reshape' || node.op === 'broadcast' || node.op === 'fill') refuse('states a shape after the pooling');
      if (node.args.some((a) => tokenAxis(a) >= 0 || tokenAxis(a) === PAIRS)) refuse('mixes per-token and per-sequence values');
      id = b.add(node.op, args, node.attrs as never, node.label).id;
      perSequence.add(node.id);
      mapped[node.id] = id;
      continue;
    }
    switch (node.op) {
      case 'input': {
        const attrs = node.attrs as AttrsOf<'input'>;
        const { name } = attrs;
        if ((PACKED_INPUTS as readonly string[]).includes(name)) refuse(`is named as an input the padding-free form derives`);
        if (attrs.of !== undefined) refuse('is derived from labels (--max-predictions)');
        if (name !== PADDING_MASK && axis >= 0 && outer(node.type.shape, axis) !== 1) refuse(`is fed [${node.type.shape}] with tokens not its first axis`);
        if (axis < 0 && batchAxes[node.id] === 0) {
          // One value per sequence: [sequences, …].
          const shape = [sequences, ...node.type.shape.slice(1)];
          id = b.add('input', [], { ...attrs, shape }, node.label).id;
          perSequence.add(node.id);
          break;
        }
        id = name === PADDING_MASK ? b.add('fill', [], { value: 1, dtype: 'i32', shape: [...node.type.shape] }, node.label).id : copy();
        break;
      }
      case 'range':
        id = axis >= 0 ? input('positions') : copy();
        break;
      case 'rotary': {
        // Rotary angles by each token's place in its own sequence: the table's rows at the positions, read by rotate.
        const { base, dims, inverse } = node.attrs as AttrsOf<'rotary'>;
        if (axis !== node.type.shape.length - 2) {
          id = axis < 0 ? copy() : refuse('turns values by position along an axis other than the tokens');
          break;
        }
        const table = b.add('rotary_table', [], { base, dims, length: longest }, node.label).id;
        id = b.add('rotate', [args[0]!, b.add('gather', [table, input('positions')], {}, node.label).id], { dims, inverse }, node.label, node.type).id;
        break;
      }
      case 'padded_positions': {
        // RoBERTa's positions count from padding_idx + 1 in every sequence (no token of the stream is padding).
        const { padding_idx } = node.attrs as AttrsOf<'padded_positions'>;
        const positions = b.add('reshape', [input('positions')], { shape: [...node.type.shape] }, node.label).id;
        id = b.add('add', [positions, b.add('fill', [], { value: padding_idx + 1, dtype: 'i32', shape: [] }, node.label).id], {}, node.label).id;
        break;
      }
      case 'attention': {
        if (axis < 0) {
          id = copy();
          break;
        }
        const [q, k, v, mask] = args as [number, number, number, number];
        const segments = b.add('segment_mask', [bound('start', node.label), bound('end', node.label)], {}, node.label).id;
        const masked = b.add('add', [mask, segments], {}, node.label).id;
        id = b.add('attention', [q, k, v, masked], node.attrs as never, node.label, node.type).id;
        break;
      }
      case 'sum': {
        const x = graph.nodes[node.args[0]!]!;
        const { axes: reduced, keepdims } = node.attrs as AttrsOf<'sum'>;
        const along = tokenAxis(x.id);
        const rank = x.type.shape.length;
        if (along < 0 || !reduced.some((r) => (r < 0 ? r + rank : r) === along)) {
          id = copy();
          break;
        }
        if (reduced.length !== 1 || along !== 1 || x.type.shape[0] !== 1) refuse(`sums [${x.type.shape}] over more than each sequence's tokens`);
        const rest = x.type.shape.slice(2);
        const i32 = (value: number) => b.add('fill', [], { value, dtype: 'i32', shape: [] }, node.label).id;
        const column = (v: number, shape: number[]) => b.add('reshape', [v], { shape }, node.label).id;
        // Row r of sequence s: stream index firsts[s] + r, kept inside the sequence; weight 1 up to its end, 0 after.
        const firsts = column(input('firsts'), [sequences, 1]);
        const at = b.add('add', [firsts, column(b.add('range', [], { size: longest }, node.label).id, [1, longest])], {}, node.label).id;
        const ends = b.add('gather', [column(bound('end', node.label), [tokens, 1]), input('firsts')], {}, node.label).id;
        const last = b.add('add', [ends, i32(-1)], {}, node.label).id;
        const rows = b.add('gather', [column(args[0]!, x.type.shape.slice(1)), b.add('minimum', [at, last], {}, node.label).id], {}, node.label).id;
        const inside = column(b.add('gt', [ends, at], {}, node.label).id, [sequences, longest, ...rest.map(() => 1)]);
        const summed = b.add('sum', [b.add('mul', [rows, inside], {}, node.label).id], { axes: [1], keepdims }, node.label).id;
        id = summed;
        perSequence.add(node.id);
        break;
      }
      case 'select': {
        const x = graph.nodes[node.args[0]!]!;
        const { axis: along, index } = node.attrs as AttrsOf<'select'>;
        const on = along < 0 ? along + x.type.shape.length : along;
        if (tokenAxis(x.id) !== on) {
          id = copy();
          break;
        }
        if (index !== 0) refuse(`takes token ${index} of each sequence (only the first is kept per sequence)`);
        if (on !== 1 || x.type.shape[0] !== 1) refuse(`pools [${x.type.shape}] along axis ${on}`);
        const rows = b.add('reshape', [args[0]!], { shape: x.type.shape.slice(1) }, node.label).id;
        id = b.add('gather', [rows, input('firsts')], {}, node.label).id;
        perSequence.add(node.id);
        break;
      }
      default:
        checkAlongTokens(graph, node, axes, refuse);
        id = copy();
    }
    mapped[node.id] = id;
  }
  madeBefore[graph.nodes.length] = b.size;
  for (const out of graph.outputs) b.output(out.name, mapped[out.node]!);
  const built = b.build();
  const regions = movedRegions(graph, madeBefore);
  return dce(regions ? { ...built, regions } : built);
}

/** Refuses an op that would read across tokens: anything but per-token work along an axis every operand keeps. */
function checkAlongTokens(graph: Graph, node: Node, axes: readonly number[], refuse: (why: string) => never): void {
  const def = opDef(node.op);
  const shapes = node.args.map((a) => graph.nodes[a]!.type.shape);
  const axis = axes[node.id]!;
  const operandAxes = node.args.map((a) => axes[a]!);
  if (axis === -1 && operandAxes.every((a) => a === -1)) return;
  if (axis === PAIRS || operandAxes.includes(PAIRS)) {
    // Mask terms per (query, key): made from the distance of the two (a window, ALiBi: the same within a sequence)
    // and combined element by element before attention adds them to its scores.
    const elementwise = def.fusion === 'elementwise' || def.fusion === 'broadcast';
    const rank = node.type.shape.length;
    // An operand per key or per query (a padding mask [.., 1, keys]) broadcasts over the pairs.
    const fits = (a: number, i: number) => a === PAIRS || a === -1 || a + rank - shapes[i]!.length >= rank - 2;
    if (node.op === 'sliding_window' || node.op === 'alibi' || (elementwise && axis === PAIRS && operandAxes.every(fits))) return;
    return refuse('reads a value over pairs of tokens');
  }
  switch (def.fusion) {
    case 'generator':
      // Functions of the distance between a query and a key (local windows, ALiBi) hold within each sequence; tables by position do not.
      if (node.op === 'sliding_window' || node.op === 'alibi') return;
      return refuse('makes a table along the tokens (positions restart in every sequence)');
    case 'elementwise':
    case 'broadcast': {
      // Operands aligned to the output's last axes: each token axis must be the output's.
      const rank = node.type.shape.length;
      const aligned = operandAxes.every((a, i) => a < 0 ? shapes[i]!.every((d, k) => d === 1 || k + rank - shapes[i]!.length !== axis) : a + rank - shapes[i]!.length === axis);
      if (!aligned) refuse('combines values along different axes of the tokens');
      return;
    }
    case 'matmul': {
      const attrs = node.attrs as AttrsOf<'matmul'>;
      const [a, bAxis] = operandAxes as [number, number];
      const rankA = shapes[0]!.length;
      const rankB = shapes[1]!.length;
      const contracted = (a >= 0 && a === (attrs.transpose_a ? rankA - 2 : rankA - 1)) || (bAxis >= 0 && bAxis === (attrs.transpose_b ? rankB - 1 : rankB - 2));
      if (contracted) refuse('sums over the tokens');
      return;
    }
    case 'injective':
      if (node.op === 'transpose' || node.op === 'gather') return;
      if (node.op === 'slice' || node.op === 'concat') {
        // Along another axis: each token's values sliced or joined alike.
        const along = (node.attrs as { axis: number }).axis;
        const rank = shapes[0]!.length;
        if ((along < 0 ? along + rank : along) !== operandAxes.find((a) => a >= 0)) return;
      }
      if (node.op === 'reshape') {
        const from = operandAxes[0]!;
        if (axis >= 0 && from >= 0 && outer(shapes[0]!, from) === outer(node.type.shape, axis)) return;
        return refuse(`merges the tokens with another axis ([${shapes[0]}] to [${node.type.shape}])`);
      }
      return refuse('moves values along the tokens');
    case 'reduction': {
      if (node.op === 'layer_norm' || node.op === 'softmax' || node.op === 'log_softmax') {
        const last = shapes[0]!.length - 1;
        if (operandAxes[0] !== last) return;
        return refuse('normalizes along the tokens');
      }
      const { axes: reduced } = node.attrs as { axes?: number[] };
      const rank = shapes[0]!.length;
      if (reduced && !reduced.some((r) => (r < 0 ? r + rank : r) === operandAxes[0])) return;
      return refuse('reduces over the tokens (mean or max pooling over a stream is not supported yet)');
    }
    default:
      return refuse('works along the tokens');
  }
}

