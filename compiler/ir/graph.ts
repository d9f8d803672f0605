// The graph IR: a typed SSA tensor graph. Nodes are immutable and stored in
// topological order (a node's id is its index); operands refer to earlier ids.
// The builder hash-conses nodes by structure, so identical subgraphs are one
// node (CSE for free) and a parameter named twice is one tensor (tied weights).

import { opDef, type AttrsOf, type OpName } from './ops/index.js';
import { ShapeError, type TensorType } from './types.js';

export interface Node<K extends OpName = OpName> {
  readonly id: number;
  readonly op: K;
  readonly args: readonly number[];
  readonly attrs: AttrsOf<K>;
  readonly type: TensorType;
  /** Where the node came from (spec scope and value name), for printing and errors. */
  readonly label: string;
}

export interface GraphOutput {
  readonly name: string;
  readonly node: number;
}

export type Mode = 'infer' | 'train';

/** Outputs named "update:NAME" carry the next value of parameter or state NAME (training steps). */
export const UPDATE_PREFIX = 'update:';

/** A kernel of a fused graph: the nodes it computes, in order, and those it writes to memory. */
export interface ScheduledKernel {
  readonly nodes: readonly number[];
  readonly stored: readonly number[];
}

/** A repeated block of the model (an encoder layer): its nodes as id ranges [start, end). */
export interface Region {
  readonly name: string;
  readonly ranges: readonly (readonly [number, number])[];
}

export interface Graph {
  readonly name: string;
  readonly mode: Mode;
  /** Values bound to the spec's symbolic dims, e.g. { batch: 1, seq: 128 }. */
  readonly dims: Readonly<Record<string, number>>;
  readonly nodes: readonly Node[];
  readonly outputs: readonly GraphOutput[];
  /** After fusion: the kernels in execution order. Absent: one kernel per computing node. */
  readonly schedule?: readonly ScheduledKernel[];
  /** The model's repeated blocks, for recomputation and per-layer reports. */
  readonly regions?: readonly Region[];
  /** Nodes that recompute forward values for the backward pass (copies made by the recompute pass). */
  readonly recomputed?: readonly number[];
}

const attrKeys = new WeakMap<object, string>();

/** Node lists made by a GraphBuilder (or kept whole from one): no two of their nodes are structurally equal. */
const hashConsed = new WeakSet<readonly Node[]>();

/** Whether the graph's nodes are known to be free of structural duplicates (built by a GraphBuilder). */
export function isHashConsed(graph: Graph): boolean {
  return hashConsed.has(graph.nodes);
}

/** Records that a node list has no structural duplicates (a subset of a hash-consed list, renumbered). */
export function markHashConsed(nodes: readonly Node[]): void {
  hashConsed.add(nodes);
}

/** Stable text of attributes (keys sorted) for hashing and printing; attribute objects are never mutated, so it is kept. */
export function attrsKey(attrs: object): string {
  let key = attrKeys.get(attrs);
  if (key === undefined) {
    key = JSON.stringify(attrs, Object.keys(attrs).sort());
    attrKeys.set(attrs, key);
  }
  return key;
}

/** Raised when a parameter or input is declared twice with different types. */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly outputs: GraphOutput[] = [];
  private readonly outputNames = new Set<string>();
  private readonly regions: Region[] = [];

  constructor(
    readonly name: string,
    readonly mode: Mode,
    readonly dims: Readonly<Record<string, number>>,
  ) {}

  /**
   * Adds a node, or returns the existing one with the same structure. Throws
   * ShapeError from the op's type rule, with the operands' types in the message.
   */
  add<K extends OpName>(op: K, args: readonly number[], attrs: AttrsOf<K>, label = '', known?: TensorType): Node<K> {
    const key = this.keyOf(op, args, attrs);
    const existing = this.byKey.get(key);
    if (existing !== undefined) {
      const node = this.nodes[existing]!;
      if (op === 'param' || op === 'input' || op === 'state') this.checkSameSource(node, attrs);
      return node as Node<K>;
    }
    // A pass copying a node onto operands of the same types knows its type already.
    let type: TensorType;
    try {
      type = known ?? opDef(op).infer(
        args.map((a) => this.node(a).type),
        attrs,
      );
    } catch (e) {
      throw e instanceof ShapeError ? new ShapeError(`${op}: ${e.message}`) : e;
    }
    const node: Node<K> = { id: this.nodes.length, op, args: [...args], attrs, type, label };
    this.nodes.push(node);
    this.byKey.set(key, node.id);
    return node;
  }

  /** Nodes added so far. */
  get size(): number {
    return this.nodes.length;
  }

  node(id: number): Node {
    const node = this.nodes[id];
    if (!node) throw new RangeError(`no node %${id}`);
    return node;
  }

  output(name: string, node: number): void {
    if (this.outputNames.has(name)) throw new ConflictError(`output '${name}' is defined twice`);
    this.outputNames.add(name);
    this.outputs.push({ name, node });
  }

  build(): Graph {
    const nodes = [...this.nodes];
    hashConsed.add(nodes);
    return { name: this.name, mode: this.mode, dims: { ...this.dims }, nodes, outputs: [...this.outputs], ...(this.regions.length ? { regions: [...this.regions] } : {}) };
  }

  /** Marks nodes [start, end) as (part of) one of the model's repeated blocks (an encoder layer). */
  region(name: string, start: number, end: number): void {
    if (end <= start) return;
    const at = this.regions.findIndex((r) => r.name === name);
    if (at < 0) {
      this.regions.push({ name, ranges: [[start, end]] });
      return;
    }
    const ranges = [...this.regions[at]!.ranges];
    const last = ranges[ranges.length - 1]!;
    if (last[1] === start) ranges[ranges.length - 1] = [last[0], end];
    else ranges.push([start, end]);
    this.regions[at] = { name, ranges };
  }

  hasRegion(name: string): boolean {
    return this.regions.some((r) => r.name === name);
  }

  // Sources are identified by name alone; everything else by full structure.
  private keyOf(op: OpName, args: readonly number[], attrs: object): string {
    if (op === 'param' || op === 'input' || op === 'state') return `${op}:${(attrs as { name: string }).name}`;
    return `${op}(${args.join(',')})${attrsKey(attrs)}`;
  }

  private checkSameSource(node: Node, attrs: object): void {
    const a = node.attrs as { shape: number[] };
    const b = attrs as { name: string; shape: number[] };
    if (a.shape.join(',') !== b.shape.join(',')) {
      throw new ConflictError(`${node.op} '${b.name}' is declared with shape [${a.shape.join(',')}] and [${b.shape.join(',')}]`);
    }
  }
}

/** The name of an input, parameter or state node; undefined for other nodes. */
export function sourceName(node: Node): string | undefined {
  return node.op === 'input' || node.op === 'param' || node.op === 'state' ? (node.attrs as AttrsOf<'input'>).name : undefined;
}

export function isParam(node: Node): node is Node<'param'> {
  return node.op === 'param';
}

export function isInput(node: Node): node is Node<'input'> {
  return node.op === 'input';
}
