// Kernel fusion: which nodes compute together, and which values reach
// memory. Driven by each op's fusion class, never by op names (in the
// spirit of TVM's FuseOps and tinygrad's scheduler):
//
//   1. Anchors. Reductions (sum, softmax, layer norm, …), matmuls and opaque
//      ops each make a kernel of their own kind.
//   2. Epilogues. From each reduction or matmul anchor, its single consumer
//      joins the kernel while it is elementwise or broadcasting over the
//      anchor's shape (bias, GELU, scale, dropout, residual add), or a
//      transpose or reshape of such a value (stored in the permuted place);
//      the chain stops at a value with other uses, which is stored, and
//      before a value that the program computes after the anchor (joining
//      it would move the anchor late and keep its inputs alive).
//   3. Prologues. Elementwise, broadcasting, injective and generator nodes
//      are not stored: each kernel that needs one computes it inline from
//      what is stored (a transpose becomes an index, a mask a few ops of a
//      load). A value is stored anyway when it is an output, when an opaque
//      op reads it, or when it is costly and read by several kernels.
//   4. Horizontal fusion. Kernels of the same kind over the same iteration
//      space that read a common value and do not depend on each other become
//      one kernel with several stores (the optimizer's parameter, moment and
//      velocity updates; a layer norm's gradient and its normalized input;
//      the weight and bias gradients' column sums).
//   5. Limits. A kernel binds at most MAX_BUFFERS buffers (WebGPU's default
//      of 8 storage bindings); where an inlined expression would read more,
//      its largest sub-expression that fits is stored by a kernel of its own.
//
// Concatenations laid out in place, and the views that lead to them (the
// layout, lower/layout.ts), are computed by no kernel: their operands are
// stored at their places, and readers load them as memory.
//
// The result is the graph with a `schedule`: kernels in a topological
// order, each listing the nodes it computes and those it stores.

import type { Graph, Node, ScheduledKernel } from '../ir/graph.js';
import { opDef, type FusionClass } from '../ir/ops/index.js';
import { numel, sameShape } from '../ir/types.js';
import { planLayout, type Layout } from '../lower/layout.js';
import { LOWERING, type Anchor } from '../lower/rules.js';

export const fusePass = { name: 'fuse', summary: 'groups nodes into kernels: anchors with their prologues and epilogues, inlined elementwise and layout chains, horizontal merges' } as const;

/** Storage buffers a kernel may bind (WebGPU's default maxStorageBuffersPerShaderStage), its output included. */
export const MAX_BUFFERS = 8;

/** How many reductions apart (in program order) two of one space may be and still merge. */
const NEARBY = 6;

/** Inline cost (ops) above which a value read by several kernels is stored once instead. */
const SHARED_COST = 24;

const cls = (n: Node): FusionClass => opDef(n.op).fusion;
const inlinable = (n: Node) => { const c = cls(n); return c === 'elementwise' || c === 'broadcast' || c === 'injective' || c === 'generator'; };
const isLayout = (n: Node) => opDef(n.op).view === 'layout';

type Kind = 'map' | 'reduce' | 'rows' | 'matmul' | 'attention' | 'attention_grad' | 'opaque';

/** The lowering's anchor rule of a node, if it makes a kernel of its own. */
function anchorRule(n: Node): Anchor | undefined {
  const rule = LOWERING[n.op];
  return typeof rule === 'object' && 'anchor' in rule ? rule.anchor : undefined;
}

/** What kind of kernel an anchor makes (its lowering's kind): kernels of one kind over one space may merge. */
function anchorKind(n: Node): Exclude<Kind, 'map'> | undefined {
  const c = cls(n);
  if (c === 'opaque') return 'opaque';
  if (c !== 'reduction' && c !== 'matmul') return undefined;
  const kind = anchorRule(n)?.kind;
  return kind === 'reduce' || kind === 'rows' || kind === 'matmul' || kind === 'attention' || kind === 'attention_grad' ? kind : 'opaque';
}

/** Whether a kernel's anchor takes value-changing epilogues (attention stores its result as computed, layout aside). */
const takesEpilogues = (kind: Kind) => kind === 'reduce' || kind === 'rows' || kind === 'matmul';

interface Group {
  id: number;
  kind: Kind;
  anchors: number[];
  /** Epilogue nodes, in order. */
  epilogue: number[];
  stored: Set<number>;
  /** Nodes computed inline (prologues), filled in after stored values are known. */
  inlined: Set<number>;
  /** The iteration space's signature, for horizontal merges. */
  space: string;
}

class Fusion {
  readonly consumers: number[][];
  readonly outputs: Set<number>;
  readonly stored = new Set<number>();
  readonly groups: Group[] = [];
  /** The group that computes (anchors, epilogues) or stores a node. */
  readonly owner = new Map<number, Group>();

  readonly layout: Layout;

  constructor(readonly graph: Graph) {
    this.layout = planLayout(graph);
    this.consumers = graph.nodes.map(() => []);
    for (const n of graph.nodes) for (const a of new Set(n.args)) this.consumers[a]!.push(n.id);
    this.outputs = new Set(graph.outputs.map((o) => o.node));
  }

  node(id: number): Node {
    return this.graph.nodes[id]!;
  }

  /** Memory from outside or laid out by the layout: read, never computed. */
  isSource(n: Node): boolean {
    return cls(n) === 'source' || this.layout.free.has(n.id);
  }

  newGroup(kind: Group['kind'], space: string): Group {
    const g: Group = { id: this.groups.length, kind, anchors: [], epilogue: [], stored: new Set(), inlined: new Set(), space };
    this.groups.push(g);
    return g;
  }

  /** Steps 1–2: anchors and their epilogue chains. */
  anchors(): void {
    for (const n of this.graph.nodes) {
      const kind = anchorKind(n);
      if (!kind) continue;
      const g = this.newGroup(kind, this.spaceOf(n, kind));
      g.anchors.push(n.id);
      this.owner.set(n.id, g);
      let end = n.id;
      // Values the chain reads besides itself: each takes a binding (at least), the stored end another.
      const reads = new Set(n.args);
      if (kind !== 'opaque') {
        for (;;) {
          const uses = this.consumers[end]!;
          if (uses.length !== 1 || this.outputs.has(end)) break;
          const c = this.node(uses[0]!);
          const cur = this.node(end);
          const elementwise = takesEpilogues(kind) && (cls(c) === 'elementwise' || cls(c) === 'broadcast') && sameShape(c.type.shape, cur.type.shape);
          if (!(elementwise || isLayout(c)) || this.owner.has(c.id) || this.layout.free.has(c.id)) break;
          // An epilogue reads only what exists when its anchor can run: waiting for a later value would hold the anchor's inputs alive.
          const others = c.args.filter((a) => a !== end);
          if (others.some((a) => a > n.id && !this.isSource(this.node(a)) && cls(this.node(a)) !== 'generator')) break;
          const more = new Set([...reads, ...others]);
          if (more.size + 1 > MAX_BUFFERS) break;
          for (const a of more) reads.add(a);
          g.epilogue.push(c.id);
          this.owner.set(c.id, g);
          end = c.id;
        }
      }
      this.store(g, end);
    }
  }

  private spaceOf(n: Node, kind: string): string {
    // Attention's forward and its statistics share their scores; the gradients wrt q, k and v share everything.
    if (kind === 'attention') return `${kind}:${n.args.slice(0, 2).join(',')}:${(n.attrs as { scale: number }).scale}`;
    if (kind === 'attention_grad') return `${kind}:${n.args.join(',')}`;
    const operand = n.args[0] !== undefined ? this.node(n.args[0]).type.shape : [];
    return `${kind}:${n.type.shape.join('x')}<${operand.join('x')}:${JSON.stringify(n.attrs)}`;
  }

  store(g: Group, id: number): void {
    g.stored.add(id);
    this.stored.add(id);
    this.owner.set(id, g);
  }

  /** Step 3: inlinable values that must or should be stored get map kernels. */
  storeInlinable(): void {
    const cost = this.inlineCosts();
    for (const n of this.graph.nodes) {
      if (!inlinable(n) || this.owner.has(n.id) || this.layout.free.has(n.id)) continue;
      const uses = this.consumers[n.id]!;
      const readByOpaque = uses.some((u) => anchorKind(this.node(u)) === 'opaque');
      const shared = uses.length > 1 && cost[n.id]! > SHARED_COST;
      const viewed = uses.some((u) => this.readsAsView(u, n.id)) && !this.isView(n.id);
      const placed = this.layout.members.has(n.id);
      if (this.outputs.has(n.id) || readByOpaque || shared || viewed || placed) this.store(this.newGroup('map', `map:${n.type.shape.join('x')}`), n.id);
    }
  }

  /** Whether consumer `u` reads `id` through an operand its kernel wants as a plain view. */
  private readsAsView(u: number, id: number): boolean {
    const views = anchorRule(this.node(u))?.views ?? [];
    return this.node(u).args.some((a, i) => a === id && views.includes(i));
  }

  /** Whether a value is a stored value or source seen through layout ops only (a strided view of memory). */
  private isView(id: number): boolean {
    const n = this.node(id);
    if (this.isSource(n) || this.stored.has(id)) return true;
    return opDef(n.op).view !== undefined && this.isView(n.args[0]!);
  }

  /** Ops of each inlinable node's expression down to stored values (each op's OpDef.inlineCost). */
  private inlineCosts(): number[] {
    const cost: number[] = [];
    for (const n of this.graph.nodes) {
      if (!inlinable(n)) {
        cost[n.id] = 0;
        continue;
      }
      const own = opDef(n.op).inlineCost ?? 1;
      // Stored values, and memory laid out by the layout (an in-place concatenation of gradients), are loads.
      cost[n.id] = own + n.args.reduce((s, a) => s + (this.stored.has(a) || this.owner.has(a) || this.isSource(this.node(a)) ? 0 : cost[a]!), 0);
    }
    return cost;
  }

  /** The inlined nodes of each group: what its members read, down to stored values and sources. */
  collectPrologues(): void {
    for (const g of this.groups) g.inlined = this.inlinedOf(g);
  }

  /** What a group computes inline, were `also` stored too. */
  private inlinedOf(g: Group, also?: number): Set<number> {
    const inlined = new Set<number>();
    const visit = (id: number) => {
      const n = this.node(id);
      if (this.isSource(n) || this.stored.has(id) || id === also || inlined.has(id) || this.isMember(g, id)) return;
      if (!inlinable(n)) throw new Error(`%${id} (${n.op}) is neither stored nor inlinable`);
      inlined.add(id);
      for (const a of n.args) visit(a);
    };
    for (const id of this.members(g)) for (const a of this.node(id).args) visit(a);
    return inlined;
  }

  /** The nodes a group computes as its own: anchors, epilogues and stored map values. */
  members(g: Group): number[] {
    return [...new Set([...g.anchors, ...g.epilogue, ...(g.kind === 'map' ? g.stored : [])])];
  }

  private isMember(g: Group, id: number): boolean {
    return g.anchors.includes(id) || g.epilogue.includes(id) || (g.kind === 'map' && g.stored.has(id));
  }

  /** Stored values and sources a group reads. */
  reads(g: Group, inlined: ReadonlySet<number> = g.inlined): Set<number> {
    const reads = new Set<number>();
    const computed = new Set([...this.members(g), ...inlined]);
    for (const id of computed) for (const a of this.node(id).args) if (!computed.has(a)) reads.add(a);
    return reads;
  }

  /** Buffers a group binds: what it reads and what it stores. */
  buffers(g: Group, inlined: ReadonlySet<number> = g.inlined): number {
    return this.bufferRoots(g, inlined).size;
  }

  private bufferRoots(g: Group, inlined: ReadonlySet<number> = g.inlined): Set<number> {
    const roots = new Set<number>();
    for (const id of [...this.reads(g, inlined), ...g.stored]) roots.add(this.bufferRoot(id));
    return roots;
  }

  /** Values laid out together share a buffer; so do reshapes of stored values. */
  private bufferRoot(id: number): number {
    const placed = this.layout.free.get(id) ?? this.layout.members.get(id);
    if (placed) return -1 - placed.root;
    let n = this.node(id);
    while (n.op === 'reshape' && !this.stored.has(n.id)) n = this.node(n.args[0]!);
    return n.id;
  }

  /**
   * Step 5: while a group binds too many buffers, store the inlined
   * sub-expression whose storing saves the group the most buffers and whose
   * own kernel fits.
   */
  enforceLimits(): void {
    for (let changed = true; changed; ) {
      changed = false;
      this.collectPrologues();
      for (const g of [...this.groups]) {
        const count = this.buffers(g);
        if (count <= MAX_BUFFERS) continue;
        let best: { id: number; count: number } | undefined;
        for (const id of g.inlined) {
          const alone: Group = { ...g, kind: 'map', anchors: [], epilogue: [], stored: new Set([id]) };
          if (this.buffers(alone, this.inlinedOf(alone)) > MAX_BUFFERS) continue;
          const after = this.buffers(g, this.inlinedOf(g, id));
          if (after < count && (!best || after < best.count)) best = { id, count: after };
        }
        if (!best) throw new Error(`the kernel storing %${[...g.stored][0]} reads more than ${MAX_BUFFERS} buffers and cannot be split`);
        this.store(this.newGroup('map', `map:${this.node(best.id).type.shape.join('x')}`), best.id);
        changed = true;
        break;
      }
    }
  }

  /** Groups each group reads from. */
  private dependencies(): Map<Group, Set<Group>> {
    // A value laid out with others is written by the kernels of the members its range covers.
    const members = new Map<number, { start: number; end: number; group: Group }[]>();
    for (const [member, place] of this.layout.members) {
      const g = this.owner.get(member);
      const end = place.offset + numel(this.node(member).type.shape);
      if (g) members.set(place.root, [...(members.get(place.root) ?? []), { start: place.offset, end, group: g }]);
    }
    const deps = new Map<Group, Set<Group>>();
    for (const g of this.groups) {
      const d = new Set<Group>();
      for (const id of this.reads(g)) {
        const free = this.layout.free.get(id);
        if (free) {
          const end = free.offset + numel(this.node(id).type.shape);
          for (const m of members.get(free.root) ?? []) if (m.group !== g && m.start < end && free.offset < m.end) d.add(m.group);
        }
        let root = id;
        while (!this.owner.has(root) && this.node(root).op === 'reshape') root = this.node(root).args[0]!;
        const from = this.owner.get(root);
        if (from && from !== g) d.add(from);
      }
      deps.set(g, d);
    }
    return deps;
  }

  /**
   * Step 4: merge groups of one kind and space that read a common value, or
   * reductions over one space that lie close in the program (a layer's bias
   * and LayerNorm gradients), when neither depends on the other.
   */
  mergeHorizontally(): void {
    this.collectPrologues();
    const deps = this.dependencies();
    const merged = new Set<Group>();
    // Each group's buffers, kept current as groups merge: a merge is tried often, decided rarely.
    const roots = new Map(this.groups.map((g) => [g, this.bufferRoots(g)]));
    const tryMerge = (a: Group, b: Group) => {
      if (merged.has(a) || merged.has(b) || a === b || a.space !== b.space) return;
      const both = new Set([...roots.get(a)!, ...roots.get(b)!]);
      if (both.size > MAX_BUFFERS) return;
      // Maps may merge with a map they read directly (its value is then computed inline); anything else must be independent.
      const direct = a.kind === 'map' && b.kind === 'map';
      if (this.reaches(a, b, deps, direct) || this.reaches(b, a, deps, direct)) return;
      this.absorb(a, b);
      merged.add(b);
      roots.set(a, both);
      // a now stands for both: it depends on what either did, and what used b uses a.
      const after = new Set([...deps.get(a)!, ...deps.get(b)!]);
      after.delete(a);
      after.delete(b);
      deps.set(a, after);
      deps.delete(b);
      for (const d of deps.values()) if (d.delete(b)) d.add(a);
    };
    // Only a shared computed tensor pairs groups: a shared scalar (a step size, a norm) says nothing about
    // locality, nor does a shared parameter (a layer's forward and its recomputation both read its weights).
    const sourceRoots = new Set([...this.layout.members].filter(([m]) => cls(this.node(m)) === 'source').map(([, p]) => p.root));
    const byReads = new Map<number, Group[]>();
    for (const g of this.groups) {
      if (g.kind === 'opaque' || g.kind === 'matmul') continue;
      for (const id of this.reads(g)) {
        const placed = this.layout.free.get(id) ?? this.layout.members.get(id);
        const source = placed ? sourceRoots.has(placed.root) : cls(this.node(id)) === 'source';
        if (numel(this.node(id).type.shape) > 1 && !source) byReads.set(id, [...(byReads.get(id) ?? []), g]);
      }
    }
    for (const list of byReads.values()) for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) tryMerge(list[i]!, list[j]!);
    const first = new Map(this.groups.map((g) => [g, Math.min(...g.stored)]));
    const order = this.groups.filter((g) => g.kind === 'reduce' && !merged.has(g)).sort((a, b) => first.get(a)! - first.get(b)!);
    for (let i = 0; i < order.length; i++) for (let j = i + 1; j < Math.min(order.length, i + 1 + NEARBY); j++) tryMerge(order[i]!, order[j]!);
    const kept = this.groups.filter((g) => !merged.has(g));
    this.groups.length = 0;
    this.groups.push(...kept);
  }

  private absorb(a: Group, b: Group): void {
    a.anchors.push(...b.anchors);
    a.epilogue.push(...b.epilogue);
    for (const s of b.stored) a.stored.add(s);
    for (const s of b.inlined) a.inlined.add(s);
    for (const id of [...b.anchors, ...b.epilogue, ...b.stored]) this.owner.set(id, a);
  }

  /** Whether `to` depends on `from` through the groups' reads (through another group only, when `direct` is allowed). */
  private reaches(from: Group, to: Group, deps: Map<Group, Set<Group>>, direct = false): boolean {
    const seen = new Set<Group>();
    const stack = [to];
    while (stack.length) {
      const g = stack.pop()!;
      for (const d of deps.get(g) ?? []) {
        if (d === from) {
          if (direct && g === to) continue;
          return true;
        }
        if (!seen.has(d)) {
          seen.add(d);
          stack.push(d);
        }
      }
    }
    return false;
  }

  /** Kernels in a topological order (ties broken by the groups' first stored node). */
  schedule(): ScheduledKernel[] {
    this.collectPrologues();
    const deps = this.dependencies();
    const first = new Map(this.groups.map((g) => [g, Math.min(...g.stored)]));
    const key = (g: Group) => first.get(g)!;
    const ready = this.groups.filter((g) => deps.get(g)!.size === 0).sort((a, b) => key(a) - key(b));
    const waiting = new Map(this.groups.map((g) => [g, deps.get(g)!.size]));
    const users = new Map<Group, Group[]>();
    for (const g of this.groups) for (const d of deps.get(g)!) users.set(d, [...(users.get(d) ?? []), g]);
    const order: Group[] = [];
    while (ready.length) {
      const g = ready.shift()!;
      order.push(g);
      for (const u of users.get(g) ?? []) {
        const left = waiting.get(u)! - 1;
        waiting.set(u, left);
        if (left === 0) {
          const at = ready.findIndex((r) => key(r) > key(u));
          ready.splice(at < 0 ? ready.length : at, 0, u);
        }
      }
    }
    if (order.length !== this.groups.length) throw new Error('the kernels depend on each other in a cycle');
    return order.map((g) => {
      const nodes = [...new Set([...g.inlined, ...this.members(g)])].sort((a, b) => a - b);
      return { nodes, stored: [...g.stored].sort((a, b) => a - b) };
    });
  }
}

export function fuse(graph: Graph): Graph {
  const f = new Fusion(graph);
  f.anchors();
  f.storeInlinable();
  f.enforceLimits();
  f.mergeHorizontally();
  return { ...graph, schedule: f.schedule() };
}

/** Elements a kernel stores, for reports. */
export const storedElements = (graph: Graph, k: ScheduledKernel) => k.stored.reduce((s, id) => s + numel(graph.nodes[id]!.type.shape), 0);
