// The ops a spec step may name. Most are graph IR ops, called as they are;
// a few are spec-level conveniences that expand into IR ops and create their
// parameters with HuggingFace names (linear, layer_norm, embedding, param),
// or depend on the mode (dropout) or the config (act).

import type { GraphBuilder, Mode } from '../ir/graph.js';
import { OPS, opDef, type AttrSpec, type InitKind, type OpName } from '../ir/ops/index.js';
import type { UnaryOpName } from '../ir/ops/elementwise.js';
import { SpecValueError } from './attrs.js';

export interface StepContext {
  readonly graph: GraphBuilder;
  readonly mode: Mode;
  /** Node label: the step's scoped name. */
  readonly label: string;
  /** A parameter's full name: scoped unless it starts with '/'. */
  paramName(name: string): string;
  /** Initializer std for new weights (the config's initializer_range, else 0.02). */
  readonly initStd: number;
  /** A fresh random stream id for this step (dropout). */
  nextStream(): number;
}

export interface SpecOp {
  readonly summary: string;
  /** Allowed operand counts. */
  readonly operands: readonly number[];
  readonly attrs: Readonly<Record<string, AttrSpec>>;
  build(ctx: StepContext, args: readonly number[], attrs: Record<string, unknown>): number;
}

const name = { kind: 'string' } as const;

function param(ctx: StepContext, paramName: string, shape: number[], init: InitKind): number {
  return ctx.graph.add('param', [], { name: ctx.paramName(paramName), shape, init, std: ctx.initStd }, ctx.label).id;
}

/** "dense" + "weight" → "dense.weight"; an empty module name puts the tensor in the scope itself. */
function joinName(module: unknown, tensor: string): string {
  return module ? `${module}.${tensor}` : tensor;
}

function lastDim(ctx: StepContext, id: number): number {
  const shape = ctx.graph.node(id).type.shape;
  return shape[shape.length - 1]!;
}

/** The activations `act` names, each an op of the IR (the exports write each as that op). */
export const ACTIVATIONS: Readonly<Record<string, UnaryOpName>> = { gelu: 'gelu', gelu_tanh: 'gelu_tanh', relu: 'relu', tanh: 'tanh', sigmoid: 'sigmoid', silu: 'silu' };

const specLevelOps: Readonly<Record<string, SpecOp>> = {
  linear: {
    summary: 'x @ W^T + b, W stored [out, in] as torch.nn.Linear; creates name.weight and name.bias (in the scope itself without a name), or takes W (and b) as operands',
    operands: [1, 2, 3],
    attrs: { name: { kind: 'string', default: '' }, out: { kind: 'int', default: 0 }, bias: { kind: 'bool', default: true } },
    build(ctx, [x, w, b], attrs) {
      if (w === undefined) {
        if (!attrs.out) throw new SpecValueError("linear with one operand needs 'out' to create its weight");
        w = param(ctx, joinName(attrs.name, 'weight'), [attrs.out as number, lastDim(ctx, x!)], 'normal');
        if (attrs.bias) b = param(ctx, joinName(attrs.name, 'bias'), [attrs.out as number], 'zeros');
      }
      const y = ctx.graph.add('matmul', [x!, w], { transpose_a: false, transpose_b: true }, ctx.label).id;
      return b === undefined ? y : ctx.graph.add('add', [y, b], {}, ctx.label).id;
    },
  },
  layer_norm: {
    summary: 'LayerNorm over the last axis; creates name.weight (ones) and name.bias (zeros; none with bias: false), or takes gamma and beta as operands',
    operands: [1, 3],
    attrs: { name: { kind: 'string', default: '' }, eps: { kind: 'float', default: 1e-12 }, bias: { kind: 'bool', default: true } },
    build(ctx, [x, gamma, beta], attrs) {
      if (gamma === undefined) {
        const width = lastDim(ctx, x!);
        gamma = param(ctx, joinName(attrs.name, 'weight'), [width], 'ones');
        beta = attrs.bias ? param(ctx, joinName(attrs.name, 'bias'), [width], 'zeros') : ctx.graph.add('fill', [], { value: 0, dtype: 'f32', shape: [width] }, ctx.label).id;
      }
      return ctx.graph.add('layer_norm', [x!, gamma, beta!], { eps: attrs.eps as number }, ctx.label).id;
    },
  },
  embedding: {
    summary: 'rows of a [rows, dim] table name.weight by i32 ids',
    operands: [1],
    attrs: { name: { kind: 'string', default: '' }, rows: { kind: 'int' }, dim: { kind: 'int' } },
    build(ctx, [ids], attrs) {
      const table = param(ctx, joinName(attrs.name, 'weight'), [attrs.rows as number, attrs.dim as number], 'normal');
      return ctx.graph.add('gather', [table, ids!], {}, ctx.label).id;
    },
  },
  param: {
    summary: 'a parameter tensor; the name is scoped unless it starts with /',
    operands: [0],
    attrs: { name, shape: { kind: 'ints' }, init: { kind: 'init', default: 'normal', oneOf: ['normal', 'zeros', 'ones'] } },
    build: (ctx, _args, attrs) => param(ctx, attrs.name as string, attrs.shape as number[], attrs.init as InitKind),
  },
  act: {
    summary: `an activation chosen by name: ${Object.keys(ACTIVATIONS).join(', ')}`,
    operands: [1],
    attrs: { fn: { kind: 'string', oneOf: Object.keys(ACTIVATIONS) } },
    build: (ctx, [x], attrs) => ctx.graph.add(ACTIVATIONS[attrs.fn as string]!, [x!], {}, ctx.label).id,
  },
  dropout: {
    summary: 'dropout at a rate; only in training graphs (inference passes the value through)',
    operands: [1],
    attrs: { rate: { kind: 'float' } },
    build(ctx, [x], attrs) {
      const rate = attrs.rate as number;
      if (!(rate >= 0 && rate < 1)) throw new SpecValueError(`dropout rate must be in [0, 1), got ${rate}`);
      if (ctx.mode === 'infer' || rate === 0) return x!;
      return ctx.graph.add('dropout', [x!], { rate, stream: ctx.nextStream() }, ctx.label).id;
    },
  },
};

/** IR ops a spec may call directly: all but graph inputs, which the spec declares at the top. */
function irOp(op: OpName): SpecOp {
  const def = opDef(op);
  return {
    summary: def.summary,
    operands: def.arity === 'variadic' ? [1, 2, 3, 4, 5, 6, 7, 8] : [def.arity],
    attrs: def.attrs as Record<string, AttrSpec>,
    build: (ctx, args, attrs) => ctx.graph.add(op, args, attrs as never, ctx.label).id,
  };
}

export const SPEC_OPS: Readonly<Record<string, SpecOp>> = {
  ...Object.fromEntries((Object.keys(OPS) as OpName[]).filter((op) => op !== 'input').map((op) => [op, irOp(op)])),
  ...specLevelOps,
};
