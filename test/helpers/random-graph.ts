// Random graphs for property tests of passes, fusion and memory planning:
// a program of small integers (what fast-check shrinks) becomes a graph of
// elementwise, broadcasting, layout, reduction, row, matmul and dropout ops
// over a few inputs and parameters, with constants, identities and
// duplicates sprinkled in so that every clean-up pass has work to do. Nodes
// are added without hash-consing, so duplicates survive until CSE.

import fc from 'fast-check';
import type { Graph, Mode, Node } from '../../compiler/ir/graph.js';
import { opDef, type OpName } from '../../compiler/ir/ops/index.js';
import type { HostTensor } from '../../compiler/ir/tensor.js';
import { numel, type Shape } from '../../compiler/ir/types.js';
import { randomTensor, rng } from './random.js';

class RawBuilder {
  readonly nodes: Node[] = [];
  constructor(readonly mode: Mode) {}

  add(op: OpName, args: readonly number[], attrs: object, label = ''): number {
    const type = opDef(op).infer(args.map((a) => this.nodes[a]!.type), attrs as never);
    this.nodes.push({ id: this.nodes.length, op, args: [...args], attrs: attrs as never, type, label });
    return this.nodes.length - 1;
  }

  shape(id: number): Shape {
    return this.nodes[id]!.type.shape;
  }
}

const SHAPES: readonly (readonly number[])[] = [[2, 3, 4], [3, 4], [4], [2, 3, 1]];

/** Builds a graph from a program of integers (each step reads a few). */
export function graphFromProgram(program: readonly number[], mode: Mode = 'infer'): Graph {
  const b = new RawBuilder(mode);
  let next = 0;
  const take = (n: number) => {
    const v = program[next % program.length]!;
    next++;
    return Math.abs(v) % n;
  };
  const values: number[] = [];
  for (let i = 0; i < 3; i++) values.push(b.add('input', [], { name: `x${i}`, dtype: 'f32', shape: [...SHAPES[i]!] }));
  values.push(b.add('param', [], { name: 'w', shape: [4, 4], init: 'normal', std: 0.5 }));
  const gamma = b.add('param', [], { name: 'gamma', shape: [4], init: 'ones', std: 0.02 });
  const beta = b.add('param', [], { name: 'beta', shape: [4], init: 'zeros', std: 0.02 });
  const pick = () => values[take(values.length)]!;
  const withShape = (shape: Shape) => values.filter((v) => b.shape(v).join() === shape.join());
  const push = (id: number) => values.push(id);
  const steps = 4 + (program.length % 10);
  let stream = 0;
  for (let step = 0; step < steps; step++) {
    const x = pick();
    const shape = b.shape(x);
    const rank = shape.length;
    switch (take(16)) {
      case 0: push(b.add((['tanh', 'neg', 'sigmoid', 'gelu', 'relu'] as const)[take(5)]!, [x], {})); break;
      case 1: push(b.add('affine', [x], { scale: [1, 2, -0.5][take(3)]!, shift: [0, 1][take(2)]! })); break;
      case 2: {
        // A binary op against another value of a broadcastable shape, or a constant.
        const partners = [...withShape(shape), ...withShape(shape.slice(1)), ...withShape([shape.at(-1) ?? 1])];
        const y = partners.length && take(3) ? partners[take(partners.length)]! : b.add('fill', [], { value: [0, 1, 0.5][take(3)]!, dtype: 'f32', shape: [] });
        const op = (['add', 'sub', 'mul', 'maximum'] as const)[take(4)]!;
        push(take(2) ? b.add(op, [x, y], {}) : b.add(op, [y, x], {}));
        break;
      }
      case 3: {
        // A reversal or a rotation of the axes (rotations are not their own inverse).
        const axes = [...Array(rank).keys()];
        const turn = take(rank);
        if (rank >= 2) push(b.add('transpose', [x], { perm: take(2) ? axes.reverse() : [...axes.slice(turn), ...axes.slice(0, turn)] }));
        break;
      }
      case 4: push(b.add('reshape', [x], { shape: [numel(shape)] })); break;
      case 5: if (rank >= 1) push(b.add((['sum', 'mean', 'max'] as const)[take(3)]!, [x], { axes: [take(rank)], keepdims: take(2) === 1 })); break;
      case 6: if (rank >= 1) push(b.add((['softmax', 'log_softmax'] as const)[take(2)]!, [x], { axis: -1 })); break;
      case 7: if (shape.at(-1) === 4) push(b.add('layer_norm', [x, gamma, beta], { eps: 1e-5 })); break;
      case 8: if (rank >= 2 && shape.at(-1) === 4) push(b.add('matmul', [x, values[3]!], { transpose_a: false, transpose_b: take(2) === 1 })); break;
      case 9: if (mode === 'train') push(b.add('dropout', [x], { rate: 0.25, stream: stream++ % 2 })); break;
      case 10: if (rank >= 1 && shape.at(-1)! > 1) push(b.add('slice', [x], { axis: -1, start: 1, end: shape.at(-1)! })); break;
      case 11: if (rank >= 1) push(b.add('concat', [x, x], { axis: -1 })); break;
      case 12: if (rank >= 1) push(b.add('pad', [x], { axis: 0, before: 1, after: 0 })); break;
      case 13: push(b.add('broadcast', [x], { shape: [2, ...shape] })); break;
      case 14: {
        // A duplicate of an existing computing node: work for CSE.
        const computed = values.filter((v) => b.nodes[v]!.args.length > 0);
        if (computed.length) {
          const n = b.nodes[computed[take(computed.length)]!]!;
          push(b.add(n.op, n.args, n.attrs));
        }
        break;
      }
      default: if (rank >= 1) push(b.add('mul', [x, b.add('fill', [], { value: 1, dtype: 'f32', shape: [] })], {})); break;
    }
  }
  const computed = values.filter((v) => b.nodes[v]!.args.length > 0);
  const outs = computed.length ? computed.slice(-1 - take(2)) : [values[0]!];
  return { name: 'random', mode, dims: {}, nodes: b.nodes, outputs: [...new Set(outs)].map((node, i) => ({ name: `y${i}`, node })) };
}

export const arbitraryProgram = fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 8, maxLength: 40 });

/** Inputs and parameters for a random graph (seeded). */
export function feedsFor(graph: Graph, seed: number): { inputs: Record<string, HostTensor>; params: Record<string, HostTensor> } {
  const next = rng(seed);
  const inputs: Record<string, HostTensor> = {};
  const params: Record<string, HostTensor> = {};
  for (const n of graph.nodes) {
    const name = (n.attrs as { name?: string }).name;
    if (n.op === 'input') inputs[name!] = randomTensor(next, 'f32', n.type.shape, -2, 2);
    if (n.op === 'param') params[name!] = randomTensor(next, 'f32', n.type.shape, -1, 1);
  }
  return { inputs, params };
}
