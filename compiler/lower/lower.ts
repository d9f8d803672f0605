// Lowering: Graph → KernelProgram, one kernel per computing node (fusion will
// group nodes later). Stages:
//   1. buffers: one per node; a reshape shares its operand's buffer (row-major
//      data does not move); inputs and parameters get their own;
//   2. kernels: each node's lowering rule (rules.ts) builds its kernel over
//      the operand buffers;
//   3. outputs: an output that is an input or parameter gets a copy kernel, so
//      that outputs are always buffers the program writes.

import type { Graph, Node } from '../ir/graph.js';
import { sourceName, UPDATE_PREFIX } from '../ir/graph.js';
import { numel } from '../ir/types.js';
import { load, type BufferInfo, type Kernel, type KernelArg, type KernelProgram } from './kernel.js';
import { flatIndex, LOWERING, type LowerContext } from './rules.js';

export function lowerToKernels(graph: Graph): KernelProgram {
  const buffers: BufferInfo[] = [];
  const bufferOf: number[] = [];
  const newBuffer = (info: Omit<BufferInfo, 'id'>): number => {
    buffers.push({ id: buffers.length, ...info });
    return buffers.length - 1;
  };
  const outputNodes = new Set(graph.outputs.map((o) => o.node));
  const kernels: Kernel[] = [];
  const inputs: KernelProgram['inputs'][number][] = [];
  const params: KernelProgram['params'][number][] = [];
  const states: KernelProgram['states'][number][] = [];

  for (const node of graph.nodes) {
    const dtype = node.type.dtype;
    const size = numel(node.type.shape);
    const rule = LOWERING[node.op];
    if (rule === 'source') {
      const name = sourceName(node)!;
      const role = node.op === 'input' ? 'input' : node.op === 'state' ? 'state' : 'param';
      const buffer = newBuffer({ dtype, size, role, name });
      bufferOf[node.id] = buffer;
      if (role === 'input') inputs.push({ name, buffer, dtype, shape: node.type.shape });
      else if (role === 'state') states.push({ name, buffer, shape: node.type.shape });
      else {
        const a = (node as Node<'param'>).attrs;
        params.push({ name, buffer, shape: node.type.shape, init: a.init, std: a.std });
      }
      continue;
    }
    if (rule === 'alias') {
      bufferOf[node.id] = bufferOf[node.args[0]!]!;
      continue;
    }
    const buffer = newBuffer({ dtype, size, role: outputNodes.has(node.id) ? 'output' : 'intermediate' });
    bufferOf[node.id] = buffer;
    const arg = (id: number): KernelArg => ({ buffer: bufferOf[id]!, dtype: graph.nodes[id]!.type.dtype, size: numel(graph.nodes[id]!.type.shape) });
    const ctx: LowerContext = {
      name: `k${kernels.length}_${node.op}`,
      node: node.id,
      label: node.label,
      inputs: node.args.map(arg),
      output: { buffer, dtype, size },
      operandTypes: node.args.map((a) => graph.nodes[a]!.type),
      type: node.type,
      training: graph.mode === 'train',
    };
    kernels.push(rule(ctx, node.attrs as never));
  }

  const outputs = graph.outputs.map((o) => {
    const node = graph.nodes[o.node]!;
    let buffer = bufferOf[o.node]!;
    if (buffers[buffer]!.role !== 'output' && buffers[buffer]!.role !== 'intermediate') {
      // An input or parameter (or a reshape of one) returned as is: copy it out.
      const size = numel(node.type.shape);
      const source: KernelArg = { buffer, dtype: node.type.dtype, size };
      buffer = newBuffer({ dtype: node.type.dtype, size, role: 'output' });
      const shape = node.type.shape;
      kernels.push({ kind: 'map', name: `k${kernels.length}_copy`, node: o.node, label: o.name, inputs: [source], output: { buffer, dtype: node.type.dtype, size }, shape, expr: load(0, flatIndex(shape)) });
    } else {
      buffers[buffer] = { ...buffers[buffer]!, role: 'output' };
    }
    buffers[buffer] = { ...buffers[buffer]!, name: buffers[buffer]!.name ?? o.name };
    return { name: o.name, buffer, dtype: node.type.dtype, shape: node.type.shape };
  });
  // Index and label inputs are range-checked by the runtime before a run.
  const isInput = (id: number, name: string) => graph.nodes[id]!.op === 'input' && sourceName(graph.nodes[id]!) === name;
  const bounded = inputs.map((input) => {
    const rows = graph.nodes
      .filter((n) => (n.op === 'gather' && isInput(n.args[1]!, input.name)) || (n.op === 'scatter_add' && isInput(n.args[0]!, input.name)))
      .map((n) => (n.op === 'gather' ? graph.nodes[n.args[0]!]!.type.shape[0]! : (n.attrs as { rows: number }).rows));
    const labelled = graph.nodes.filter((n) => (n.op === 'cross_entropy' || n.op === 'cross_entropy_grad' || n.op === 'accuracy') && isInput(n.args[1]!, input.name));
    const classes = labelled.map((n) => graph.nodes[n.args[0]!]!.type.shape.at(-1)!);
    const bound = [...rows, ...classes];
    if (!bound.length) return input;
    const ignore = labelled.length ? (labelled[0]!.attrs as { ignore_index: number }).ignore_index : undefined;
    return { ...input, bound: Math.min(...bound), ...(ignore === undefined ? {} : { ignore }) };
  });
  const sources = new Map(buffers.filter((b) => b.role === 'param' || b.role === 'state').map((b) => [b.name!, b.id]));
  const updates = outputs
    .filter((o) => o.name.startsWith(UPDATE_PREFIX))
    .map((o) => {
      const target = o.name.slice(UPDATE_PREFIX.length);
      const to = sources.get(target);
      if (to === undefined) throw new Error(`output ${o.name} updates '${target}', which is no parameter or state`);
      return { name: target, from: o.buffer, to };
    });
  return { buffers, kernels, inputs: bounded, params, outputs, states, updates };
}

