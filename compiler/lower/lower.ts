// Lowering: Graph → KernelProgram. Stages:
//   1. schedule: the graph's fused schedule, or one kernel per computing
//      node when the graph was not fused;
//   2. buffers: inputs, parameters and state get persistent buffers; every
//      value a kernel stores gets its own buffer (memory planning places
//      them later); a reshape of a stored value shares its buffer (row-major
//      data does not move);
//   3. kernels: each scheduled group becomes one kernel (group.ts);
//   4. outputs: an output that is an input or parameter gets a copy kernel,
//      so that outputs are always buffers the program writes; "update:NAME"
//      outputs say which buffer carries the next value of a parameter or
//      state.

import type { Graph, Node, ScheduledKernel } from '../ir/graph.js';
import { sourceName, UPDATE_PREFIX } from '../ir/graph.js';
import { numel } from '../ir/types.js';
import { ExprBuilder } from './expr.js';
import { isAnchor, KernelError, lowerGroup, type Location, type LoweringState } from './group.js';
import type { BufferInfo, InputRef, Kernel, KernelProgram, ParamRef, TensorRef } from '../../kernel/ir.js';
import { planLayout } from './layout.js';
import { LOWERING } from './rules.js';
import { derivedInput } from '../ir/ops/source.js';

export { KernelError };

/** One kernel per computing node: what the program is without fusion. Reshapes share their operand's buffer. */
export function unfusedSchedule(graph: Graph): ScheduledKernel[] {
  return graph.nodes.filter((n) => LOWERING[n.op] !== 'source' && n.op !== 'reshape').map((n) => ({ nodes: [n.id], stored: [n.id] }));
}

/** The buffer kinds a lowering tells apart: persistent sources, and values computed per run. */
type BufferKind = 'input' | 'param' | 'state' | 'value';

export function lowerToKernels(graph: Graph): KernelProgram {
  const schedule = graph.schedule ?? unfusedSchedule(graph);
  const buffers: BufferInfo[] = [];
  const kinds: BufferKind[] = [];
  const locations = new Map<number, Location>();
  const newBuffer = (node: Node, kind: BufferKind, name?: string): number => {
    const id = buffers.length;
    buffers.push({ id, dtype: node.type.dtype, size: Math.max(1, numel(node.type.shape)), region: kind === 'value' ? 'arena' : 'persistent', node: node.id, ...(name ? { name } : {}) });
    kinds.push(kind);
    return id;
  };

  const computed = new Set(schedule.flatMap((k) => k.nodes));
  const stored = new Set(schedule.flatMap((k) => k.stored));
  // A fused program lays concatenations out in place: one buffer holds their members.
  const layout = graph.schedule ? planLayout(graph) : undefined;
  const rootBuffers = new Map<number, number>();
  const placed = (id: number): Location | undefined => {
    const p = layout?.free.get(id) ?? layout?.members.get(id);
    if (!p || !layout) return undefined;
    let buffer = rootBuffers.get(p.root);
    if (buffer === undefined) {
      const member = [...layout.members].find(([, q]) => q.root === p.root)![0];
      const m = graph.nodes[member]!;
      const kind: BufferKind = LOWERING[m.op] === 'source' ? (m.op as 'input' | 'param' | 'state') : 'value';
      buffer = buffers.length;
      const root = graph.nodes[p.root]!;
      buffers.push({ id: buffer, dtype: m.type.dtype, size: layout.rootSizes.get(p.root)!, region: kind === 'value' ? 'arena' : 'persistent', node: p.root, ...(root.label ? { name: root.label } : {}) });
      kinds.push(kind);
      rootBuffers.set(p.root, buffer);
    }
    return { buffer, offset: p.offset };
  };
  for (const node of graph.nodes) {
    const place = placed(node.id);
    if (place) {
      locations.set(node.id, place);
    } else if (LOWERING[node.op] === 'source') {
      const kind = node.op as 'input' | 'param' | 'state';
      locations.set(node.id, { buffer: newBuffer(node, kind, sourceName(node)), offset: 0 });
    } else if (stored.has(node.id)) {
      locations.set(node.id, { buffer: newBuffer(node, 'value', node.label || undefined), offset: 0 });
    } else if (node.op === 'reshape' && !computed.has(node.id) && locations.has(node.args[0]!)) {
      locations.set(node.id, locations.get(node.args[0]!)!);
    }
  }

  const state: LoweringState = {
    graph,
    locations,
    bufferDtype: (b) => buffers[b]!.dtype,
    isParameter: (b) => kinds[b] === 'param',
    scratch: (size) => {
      const id = buffers.length;
      buffers.push({ id, dtype: 'f32', size, region: 'arena', name: 'working space' });
      kinds.push('value');
      return id;
    },
  };
  const structures = new Map<string, Kernel>();
  const kernels: Kernel[] = schedule.flatMap((group, i) => lowerGroup(state, group, i, structures));

  const ref = (name: string, node: Node): TensorRef => {
    const loc = locations.get(node.id);
    if (!loc) throw new KernelError(`output '${name}' (%${node.id}) is stored nowhere`);
    return { name, buffer: loc.buffer, offset: loc.offset, dtype: node.type.dtype, shape: node.type.shape };
  };
  const outputs = graph.outputs.map((o) => {
    const node = graph.nodes[o.node]!;
    let out = ref(o.name, node);
    if (kinds[out.buffer] !== 'value') out = copyOut(o.name, out, node, buffers, kinds, kernels);
    const b = buffers[out.buffer]!;
    if (!b.name || b.name === node.label) buffers[out.buffer] = { ...b, name: o.name };
    return out;
  });

  const sources = (kind: BufferKind) => graph.nodes.filter((n) => LOWERING[n.op] === 'source' && n.op === kind);
  const inputs: InputRef[] = sources('input').map((n) => {
    const derived = derivedInput((n as Node<'input'>).attrs);
    return { ...ref(sourceName(n)!, n), ...inputBound(graph, n), ...(derived ? { derived } : {}) };
  });
  const params: ParamRef[] = sources('param').map((n) => {
    const a = (n as Node<'param'>).attrs;
    return { ...ref(a.name, n), init: a.init, std: a.std };
  });
  const states = sources('state').map((n) => ref(sourceName(n)!, n));
  const stored_ = new Map([...params, ...states].map((r) => [r.name, r]));
  const updates = outputs
    .filter((o) => o.name.startsWith(UPDATE_PREFIX))
    .map((o) => {
      const name = o.name.slice(UPDATE_PREFIX.length);
      const to = stored_.get(name);
      if (!to) throw new KernelError(`output ${o.name} updates '${name}', which is no parameter or state`);
      return { name, from: o, to };
    });
  return { buffers, kernels, inputs, params, outputs, states, updates };
}

/** A copy kernel for an output that is a source: outputs are buffers the program writes. */
function copyOut(name: string, from: TensorRef, node: Node, buffers: BufferInfo[], kinds: BufferKind[], kernels: Kernel[]): TensorRef {
  const size = Math.max(1, numel(node.type.shape));
  const buffer = buffers.length;
  buffers.push({ id: buffer, dtype: node.type.dtype, size, region: 'arena', name });
  kinds.push('value');
  const b = new ExprBuilder({ idx: [size], ridx: [] });
  const e = b.idx(0);
  const src = buffers[from.buffer]!;
  const args = [
    { buffer: from.buffer, offset: 0, size: src.size, dtype: src.dtype, access: 'read' as const },
    { buffer, offset: 0, size, dtype: node.type.dtype, access: 'write' as const },
  ];
  kernels.push({ kind: 'map', name: `k${kernels.length}_copy`, label: name, nodes: [node.id], args, streams: [], shape: [size], stores: [{ arg: 1, index: e, value: b.load(0, b.add(e, b.int(from.offset)), node.type.dtype) }] });
  return { ...from, buffer, offset: 0 };
}

/** Index and label inputs are range-checked by the runtime before a run. */
function inputBound(graph: Graph, input: Node): { bound?: number; ignore?: number } {
  const isIt = (id: number) => id === input.id;
  const rows = graph.nodes
    .filter((n) => (n.op === 'gather' && isIt(n.args[1]!)) || (n.op === 'scatter_add' && isIt(n.args[0]!)))
    .map((n) => (n.op === 'gather' ? graph.nodes[n.args[0]!]!.type.shape[0]! : (n.attrs as { rows: number }).rows));
  const labelled = graph.nodes.filter((n) => (n.op === 'cross_entropy' || n.op === 'cross_entropy_grad' || n.op === 'accuracy') && isIt(n.args[1]!));
  const classes = labelled.map((n) => graph.nodes[n.args[0]!]!.type.shape.at(-1)!);
  const bound = [...rows, ...classes];
  if (!bound.length) return {};
  const ignore = labelled.length ? (labelled[0]!.attrs as { ignore_index: number }).ignore_index : undefined;
  return { bound: Math.min(...bound), ...(ignore === undefined ? {} : { ignore }) };
}

export { isAnchor };
