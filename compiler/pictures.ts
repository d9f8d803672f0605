// What the compiler did, as data for pictures: the graph with each kernel's
// nodes in one outlined cluster (its ops, FLOPs and bytes moved), as
// Graphviz's DOT; and the memory plan, one rectangle per planned arena
// buffer (offset over the kernel schedule) with the bytes live at each
// kernel, whose peak is the plan's lower bound. Rendering is cli/pictures.ts's.

import { sourceName, type Graph } from './ir/graph.js';
import { opDef } from './ir/ops/index.js';
import { formatType } from './ir/types.js';
import { kernelKey } from '../kernel/hash.js';
import { lifetimes } from './kernel-passes/plan-memory.js';
import type { CompiledProgram } from './program.js';

export interface KernelFigures {
  readonly name: string;
  readonly kind: string;
  readonly ops: readonly string[];
  readonly flops: number;
  /** Bytes it reads from outside and writes for others: values, not the ranges it binds (a gather reads its rows, not the table). */
  readonly bytes: number;
}

const bytesOf = (graph: Graph, id: number) => 4 * graph.nodes[id]!.type.shape.reduce((a, d) => a * d, 1);

/** Bytes a group of nodes reads from other nodes and writes for other nodes or the outputs. */
function bytesMoved(graph: Graph, nodes: ReadonlySet<number>, readers: ReadonlyMap<number, readonly number[]>, outputs: ReadonlySet<number>): number {
  let bytes = 0;
  const read = new Set<number>();
  for (const id of nodes) {
    const node = graph.nodes[id]!;
    node.args.forEach((a, k) => {
      if (nodes.has(a) || read.has(a)) return;
      read.add(a);
      bytes += node.op === 'gather' && k === 0 ? bytesOf(graph, id) : bytesOf(graph, a);
    });
    if (outputs.has(id) || (readers.get(id) ?? []).some((r) => !nodes.has(r))) bytes += bytesOf(graph, id);
  }
  return bytes;
}

function nodeFlops(graph: Graph, id: number): number {
  const node = graph.nodes[id]!;
  return opDef(node.op).flops(node.args.map((a) => graph.nodes[a]!.type), node.type, node.attrs as never);
}

export function kernelFigures(graph: Graph, compiled: CompiledProgram): KernelFigures[] {
  const readers = new Map<number, number[]>();
  for (const node of graph.nodes) for (const a of node.args) readers.set(a, [...(readers.get(a) ?? []), node.id]);
  const outputs = new Set(graph.outputs.map((o) => o.node));
  return compiled.kernels.map((k) => ({
    name: k.name,
    kind: k.kind,
    ops: k.nodes.map((n) => graph.nodes[n]!.op),
    flops: k.nodes.reduce((sum, n) => sum + nodeFlops(graph, n), 0),
    bytes: bytesMoved(graph, new Set(k.nodes), readers, outputs),
  }));
}

export function scaled(n: number, unit: string): string {
  const prefixes: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  const [factor, prefix] = prefixes.find(([f]) => n >= f) ?? [1, ''];
  return `${(n / factor).toFixed(n >= factor * 100 ? 0 : 1)} ${prefix}${unit}`;
}

/**
 * Kernels of repeated layers that are drawn as one box: each region (an
 * encoder layer) whose kernels are, one for one, of the same structure as
 * the region before it is folded into a box "× N" after the first of the
 * run, which is drawn whole. Keys: folded kernel index → its run's box.
 */
export function foldedLayers(graph: Graph, compiled: Pick<CompiledProgram, 'kernels'>): { folded: Map<number, string>; boxes: Map<string, string> } {
  const regionOf = new Map<number, string>();
  for (const region of graph.regions ?? []) for (const [start, end] of region.ranges) for (let i = start; i < end; i++) regionOf.set(i, region.name);
  const byRegion = new Map<string, number[]>();
  compiled.kernels.forEach((k, i) => {
    const region = [...k.nodes].reverse().map((n) => regionOf.get(n)).find((r) => r !== undefined);
    if (region !== undefined) byRegion.set(region, [...(byRegion.get(region) ?? []), i]);
  });
  const signature = (ks: readonly number[]) => ks.map((i) => kernelKey(compiled.kernels[i]!)).join('\n');
  const folded = new Map<number, string>();
  const boxes = new Map<string, string>();
  const regions = [...byRegion];
  for (let start = 0; start < regions.length; ) {
    let end = start + 1;
    const first = signature(regions[start]![1]);
    while (end < regions.length && signature(regions[end]![1]) === first) end++;
    if (end - start > 1) {
      const box = `fold_${start}`;
      boxes.set(box, `${regions[start + 1]![0]} … ${regions[end - 1]![0]}: ${end - start - 1} more as ${regions[start]![0]} (× ${end - start} in all)`);
      for (let r = start + 1; r < end; r++) for (const k of regions[r]![1]) folded.set(k, box);
    }
    start = end;
  }
  return { folded, boxes };
}

const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/**
 * The graph as DOT: each kernel a cluster `cluster_k<i>` labelled with its
 * name, kind, FLOPs and bytes moved; each computed node a box with its op
 * and type; inputs, parameters and views laid out in place (no kernel of
 * their own) outside the clusters, in grey. Repeated layers after the first
 * are one box each run (foldedLayers): bert-base's twelve layers are drawn
 * as one and "× 12".
 */
export function graphDot(graph: Graph, compiled: CompiledProgram): string {
  const figures = kernelFigures(graph, compiled);
  const { folded, boxes } = foldedLayers(graph, compiled);
  const kernelOf = new Map<number, number>();
  const foldOf = new Map<number, string>();
  compiled.kernels.forEach((k, i) => k.nodes.forEach((n) => (folded.has(i) ? foldOf.set(n, folded.get(i)!) : kernelOf.set(n, i))));
  const lines = [
    `digraph ${quote(graph.name)} {`,
    '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.15, ranksep=0.25, newrank=true];',
    '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=9, height=0.25, margin="0.06,0.02"];',
    '  edge [color="#8a8f98", arrowsize=0.5];',
  ];
  const label = (id: number) => {
    const n = graph.nodes[id]!;
    const name = sourceName(n);
    return `${name ? `${name}\n` : ''}${n.op} ${formatType(n.type)}`;
  };
  compiled.kernels.forEach((k, i) => {
    if (folded.has(i)) return;
    const f = figures[i]!;
    lines.push(`  subgraph cluster_k${i} {`, `    id=${quote(`kernel-${i}`)}; label=${quote(`${f.name} · ${scaled(f.flops, 'FLOP')} · ${scaled(f.bytes, 'B')}`)};`);
    lines.push(`    style="rounded,filled"; color="#3b6fd8"; fillcolor="#eef3fd"; fontcolor="#1d3f8c";`);
    for (const n of k.nodes) lines.push(`    n${n} [label=${quote(label(n))}];`);
    lines.push('  }');
  });
  for (const [box, text] of boxes) lines.push(`  ${box} [label=${quote(text)}, shape=box3d, style="filled", fillcolor="#eef3fd", color="#3b6fd8", fontcolor="#1d3f8c"];`);
  // Every node a drawn kernel computes or reads, or a graph output names, is drawn; a folded layer's are its box.
  const drawn = new Set<number>(kernelOf.keys());
  for (const node of graph.nodes) if (kernelOf.has(node.id)) node.args.forEach((a) => foldOf.has(a) || drawn.add(a));
  for (const o of graph.outputs) if (!foldOf.has(o.node)) drawn.add(o.node);
  for (let grew = true; grew; ) {
    grew = false;
    for (const id of [...drawn]) for (const a of kernelOf.has(id) ? [] : graph.nodes[id]!.args) if (!drawn.has(a) && !foldOf.has(a)) grew = Boolean(drawn.add(a));
  }
  for (const node of graph.nodes) {
    if (kernelOf.has(node.id) || !drawn.has(node.id)) continue;
    const source = node.op === 'param' || node.op === 'input' || node.op === 'state';
    lines.push(`  n${node.id} [label=${quote(label(node.id))}, fillcolor="${source ? '#f3f3f3' : '#fffbe6'}", color="#b0b0b0", fontcolor="#555555"${source ? '' : ', style="rounded,filled,dashed"'}];`);
  }
  // Edges into and out of a folded run go to its box, once each.
  const end = (id: number) => foldOf.get(id) ?? (drawn.has(id) ? `n${id}` : undefined);
  const edges = new Set<string>();
  for (const node of graph.nodes) {
    const to = end(node.id);
    if (to === undefined) continue;
    for (const a of node.args) {
      const from = end(a);
      if (from !== undefined && from !== to) edges.add(`  ${from} -> ${to};`);
    }
  }
  lines.push(...edges);
  for (const o of graph.outputs) {
    lines.push(`  out_${o.name.replace(/\W/g, '_')} [label=${quote(o.name)}, shape=plaintext, style="", fontcolor="#1d3f8c"];`, `  ${end(o.node)} -> out_${o.name.replace(/\W/g, '_')};`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

export interface PlannedBuffer {
  readonly buffer: number;
  /** What it holds, and the buffers computed in place over it. */
  readonly name: string;
  /** First and one past the last kernel that touch it. */
  readonly start: number;
  readonly end: number;
  readonly offset: number;
  readonly bytes: number;
  /** Forward values (activations) or the backward pass's (gradients, optimizer work). */
  readonly pass: 'forward' | 'backward';
}

export interface MemoryPicture {
  readonly buffers: readonly PlannedBuffer[];
  /** Bytes of planned buffers live at each kernel. */
  readonly live: readonly number[];
  readonly arenaBytes: number;
  readonly lowerBoundBytes: number;
  readonly kernels: number;
}

/** The memory plan of the arena: buffers computed in place over another are drawn as that one (they are the same bytes). */
export function memoryPicture(graph: Graph, compiled: CompiledProgram): MemoryPicture {
  const { plan, program } = compiled;
  const loss = graph.outputs.find((o) => o.name === 'loss')?.node ?? graph.nodes.length;
  const recomputed = new Set(graph.recomputed ?? []);
  const node = (b: number) => compiled.lowered.buffers[b]!.node;
  const pass = (b: number): 'forward' | 'backward' => (node(b) === undefined || node(b)! <= loss || recomputed.has(node(b)!) ? 'forward' : 'backward');
  const life = lifetimes(compiled.lowered);
  const aliases = new Map<number, string[]>();
  program.buffers.forEach((b) => {
    if (plan.alias[b.id] !== b.id && b.name) aliases.set(plan.alias[b.id]!, [...(aliases.get(plan.alias[b.id]!) ?? []), b.name]);
  });
  const buffers: PlannedBuffer[] = [];
  for (const b of program.buffers) {
    const l = life[b.id];
    if (b.region !== 'arena' || !l || plan.alias[b.id] !== b.id) continue;
    const also = aliases.get(b.id) ?? [];
    buffers.push({ buffer: b.id, name: `${b.name ?? `b${b.id}`}${also.length ? ` (then in place: ${also.join(', ')})` : ''}`, start: l[0], end: l[1] + 1, offset: b.offset, bytes: 4 * b.size, pass: pass(b.id) });
  }
  const kernels = compiled.kernels.length;
  const live = new Array<number>(kernels).fill(0);
  for (const b of buffers) for (let k = b.start; k < Math.min(b.end, kernels); k++) live[k]! += b.bytes;
  return { buffers, live, arenaBytes: plan.arenaBytes, lowerBoundBytes: plan.lowerBoundBytes, kernels };
}
