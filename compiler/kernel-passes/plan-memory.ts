// Memory planning: where each buffer of a lowered program lives. Inputs,
// parameters and optimizer state live in the persistent region, one range
// each; every value a run computes lives in the arena, whose bytes are
// shared by values whose lifetimes do not overlap.
//
//   1. Lifetimes. A buffer is live from the first kernel that touches it to
//      the last that reads it, in the kernel schedule; outputs (and the
//      sources of update copies) live to the end of the run.
//   2. In place. A kernel that writes a buffer element by element where it
//      reads another, at the same index in the same invocation, may write
//      over it when the read buffer dies at that kernel (an elementwise
//      map, a residual add in a matmul's epilogue, a row kernel's output
//      over its input): the two become one allocation. A parameter's or
//      moment's new value is computed over the old one the same way when
//      nothing reads the old value after the update: then the copy after
//      the run disappears.
//   3. Offsets. Allocations are placed greedily by decreasing size, each at
//      the smallest gap between already placed allocations whose lifetimes
//      overlap its own that fits it (best fit; TFLite's
//      GreedyBySizeAssignment, Pisarchyk & Lee 2020), or above them all.
//      Offsets and sizes are multiples of 256 bytes, so that WebGPU can bind
//      any buffer at its offset.
//   4. Check. checkPlan proves no two simultaneously live allocations
//      overlap; tests and --debug run it on every plan.
//
// The lower bound reported beside it is the largest total of allocations
// live at one kernel: no placement can do with less.

import { BUFFER_ALIGNMENT } from '../../runtime/program.js';
import { children, kernelExprs, mapArgs, type Kernel, type KExpr, type KernelArg, type KernelProgram, type Store } from '../../kernel/ir.js';

export const planMemoryPass = { name: 'plan-memory', summary: 'places buffers: lifetimes from the schedule, in-place reuse, greedy by size with best fit' } as const;

export interface MemoryPlan {
  /** Bytes from the start of its region, per buffer. */
  readonly offsets: readonly number[];
  /** The buffer whose memory a buffer reuses in place (itself when none). */
  readonly alias: readonly number[];
  /** Live ranges [first kernel, last kernel] of arena buffers (undefined: never touched, or persistent). */
  readonly lifetimes: readonly ([number, number] | undefined)[];
  readonly persistentBytes: number;
  readonly arenaBytes: number;
  /** The arena if every computed buffer had its own bytes. */
  readonly naiveBytes: number;
  /** The largest total of allocations live at one kernel. */
  readonly lowerBoundBytes: number;
}

export class PlanError extends Error {
  override name = 'PlanError';
}

const align = (bytes: number) => Math.ceil(bytes / BUFFER_ALIGNMENT) * BUFFER_ALIGNMENT;
const bytesOf = (p: KernelProgram, b: number) => align(4 * p.buffers[b]!.size);

/** Which buffers each kernel reads and writes. */
function accesses(k: Kernel): { reads: Set<number>; writes: Set<number> } {
  const reads = new Set<number>();
  const writes = new Set<number>();
  for (const a of k.args) {
    if (a.access !== 'write') reads.add(a.buffer);
    if (a.access !== 'read') writes.add(a.buffer);
  }
  return { reads, writes };
}

/** Lifetimes [first, last] of arena buffers over the kernel schedule; `end` stands for after the last kernel. */
export function lifetimes(p: KernelProgram): ([number, number] | undefined)[] {
  const end = p.kernels.length;
  const life: ([number, number] | undefined)[] = p.buffers.map(() => undefined);
  p.kernels.forEach((k, i) => {
    for (const a of k.args) {
      if (p.buffers[a.buffer]!.region !== 'arena') continue;
      const l = life[a.buffer];
      life[a.buffer] = l ? [l[0], i] : [i, i];
    }
  });
  const keep = (b: number) => {
    const l = life[b];
    if (l) life[b] = [l[0], end];
  };
  for (const o of p.outputs) keep(o.buffer);
  for (const u of p.updates) keep(u.from.buffer);
  return life;
}

/** Every store a kernel makes that a later element-by-element overwrite must match, by arg. */
function elementStores(k: Kernel): Store[] | undefined {
  switch (k.kind) {
    case 'map': return [...k.stores];
    case 'reduce': return k.stores.length ? undefined : [...k.elementStores];
    case 'matmul': return [...k.stores];
    default: return undefined;
  }
}

/** The args that `exprs` load anywhere with an index other than `index` (any index, where undefined). */
function loadedElsewhere(exprs: readonly KExpr[], index: KExpr | undefined): Set<number> {
  const args = new Set<number>();
  const seen = new Set<KExpr>();
  const visit = (e: KExpr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (e.op === 'load' && e.index !== index) args.add(e.arg);
    for (const c of children(e)) visit(c);
  };
  for (const e of exprs) visit(e);
  return args;
}

/**
 * Pairs (read arg, written arg) of a kernel where each element of the
 * written arg is stored by the invocation that alone reads that element of
 * the read arg, after its last read of it: writing over the read buffer
 * changes nothing it reads.
 */
export function inPlacePairs(k: Kernel): [number, number][] {
  const stores = elementStores(k);
  if (!stores) return [];
  const pairs: [number, number][] = [];
  // Every load of the read arg, in stores, stages and operands alike, must be of the stored element.
  const exprs = kernelExprs(k);
  k.args.forEach((w, wi) => {
    const mine = stores.filter((s) => s.arg === wi);
    if (mine.length !== 1 || w.access === 'read') return;
    const candidates = k.args.map((r, ri) => ri !== wi && r.access !== 'write' && sameRange(r, w));
    if (!candidates.includes(true)) return;
    const elsewhere = loadedElsewhere(exprs, mine[0]!.index);
    // Stores are made in order: one made after this store must not read the element it overwrote.
    const later = stores.slice(stores.indexOf(mine[0]!) + 1).flatMap((s) => [s.index, s.value]);
    const readLater = loadedElsewhere(later, undefined);
    candidates.forEach((ok, ri) => {
      if (ok && !elsewhere.has(ri) && !readLater.has(ri)) pairs.push([ri, wi]);
    });
  });
  return pairs;
}

const sameRange = (a: KernelArg, b: KernelArg) => a.offset === b.offset && a.size === b.size && a.dtype === b.dtype;

/** Union-find over buffers: in-place reuse joins allocations. */
function unionFind(n: number) {
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => (parent[x] === x ? x : (parent[x] = find(parent[x]!)));
  return { find, join: (a: number, into: number) => void (parent[find(a)] = find(into)) };
}

export function planMemory(p: KernelProgram, options: { inPlace?: boolean } = {}): MemoryPlan {
  const life = lifetimes(p);
  const uf = unionFind(p.buffers.length);
  const alive = (b: number) => life[uf.find(b)];
  const persistentTarget = new Map<number, number>();
  if (options.inPlace ?? true) {
    // Updates computed over what they update: the transient new value and the persistent old one.
    const lastRead = p.buffers.map(() => -1);
    p.kernels.forEach((k, i) => { for (const b of accesses(k).reads) lastRead[b] = i; });
    const updateTargets = new Map<number, Set<string>>();
    for (const u of p.updates) updateTargets.set(u.from.buffer, new Set([...(updateTargets.get(u.from.buffer) ?? []), `${u.to.buffer}@${u.from.offset === u.to.offset}`]));
    p.kernels.forEach((k, i) => {
      // Updates over their old values first: they save a copy, not only bytes.
      const pairs = inPlacePairs(k).sort(([ra], [rb]) => Number(p.buffers[k.args[rb]!.buffer]!.region === 'persistent') - Number(p.buffers[k.args[ra]!.buffer]!.region === 'persistent'));
      for (const [ri, wi] of pairs) {
        const [x, y] = [k.args[ri]!.buffer, k.args[wi]!.buffer];
        // y, first written here, takes over x's memory at most once.
        if (p.buffers[x]!.size !== p.buffers[y]!.size || p.buffers[y]!.region !== 'arena' || uf.find(y) !== y) continue;
        const ly = life[uf.find(y)];
        if (!ly || ly[0] !== i) continue; // y is first written here
        if (p.buffers[x]!.region === 'persistent') {
          const targets = updateTargets.get(y);
          if (!targets || targets.size !== 1 || !targets.has(`${x}@true`) || lastRead[x] > i || persistentTarget.has(x)) continue;
          const covered = p.updates.filter((u) => u.from.buffer === y).reduce((s, u) => s + u.to.shape.reduce((a, d) => a * d, 1), 0);
          if (covered !== p.buffers[y]!.size) continue;
          persistentTarget.set(x, y);
          uf.join(y, x);
          continue;
        }
        const lx = alive(x);
        if (!lx || lx[1] !== i || p.buffers[uf.find(x)]!.region !== 'arena' || p.outputs.some((o) => o.buffer === x) || uf.find(x) === uf.find(y)) continue;
        const merged: [number, number] = [lx[0], ly[1]];
        uf.join(y, x);
        life[uf.find(x)] = merged;
      }
    });
  }

  // Persistent region: one range each (an in-place new value shares its old value's).
  const offsets = p.buffers.map(() => 0);
  let persistentBytes = 0;
  for (const b of p.buffers) {
    if (b.region !== 'persistent') continue;
    offsets[b.id] = persistentBytes;
    persistentBytes += bytesOf(p, b.id);
  }
  // Arena: the allocations (classes of in-place reuse) with their lifetimes.
  const classes = new Map<number, { size: number; life: [number, number] }>();
  let naiveBytes = 0;
  for (const b of p.buffers) {
    if (b.region !== 'arena') continue;
    naiveBytes += bytesOf(p, b.id);
    const root = uf.find(b.id);
    if (p.buffers[root]!.region === 'persistent') continue;
    const l = life[root] ?? life[b.id] ?? [0, 0];
    const c = classes.get(root);
    classes.set(root, { size: Math.max(c?.size ?? 0, bytesOf(p, b.id)), life: c ? [Math.min(c.life[0], l[0]), Math.max(c.life[1], l[1])] : l });
  }
  const order = [...classes].sort((a, b) => b[1].size - a[1].size || a[1].life[0] - b[1].life[0] || a[0] - b[0]);
  const placed: { root: number; offset: number; size: number; life: [number, number] }[] = [];
  let arenaBytes = 0;
  for (const [root, c] of order) {
    const overlapping = placed.filter((q) => q.life[0] <= c.life[1] && c.life[0] <= q.life[1]).sort((a, b) => a.offset - b.offset);
    let best: number | undefined;
    let bestGap = Infinity;
    let at = 0;
    for (const q of overlapping) {
      const gap = q.offset - at;
      if (gap >= c.size && gap < bestGap) {
        best = at;
        bestGap = gap;
      }
      at = Math.max(at, q.offset + q.size);
    }
    const offset = best ?? at;
    placed.push({ root, offset, size: c.size, life: c.life });
    arenaBytes = Math.max(arenaBytes, offset + c.size);
  }
  const at = new Map(placed.map((q) => [q.root, q.offset]));
  for (const b of p.buffers) {
    const root = uf.find(b.id);
    if (b.region === 'arena') offsets[b.id] = p.buffers[root]!.region === 'persistent' ? offsets[root]! : at.get(root) ?? 0;
  }
  const alias = p.buffers.map((b) => uf.find(b.id));
  const merged = p.buffers.map((b) => (b.region === 'arena' && alias[b.id] !== b.id ? undefined : b.region === 'arena' ? life[b.id] : undefined));
  // Each class's span, on its representative.
  for (const [root, c] of classes) merged[root] = c.life;
  return { offsets, alias, lifetimes: merged, persistentBytes, arenaBytes, naiveBytes, lowerBoundBytes: lowerBound(p, classes), };
}

/** The largest total of allocations live at one kernel. */
function lowerBound(p: KernelProgram, classes: ReadonlyMap<number, { size: number; life: [number, number] }>): number {
  const delta = new Array<number>(p.kernels.length + 2).fill(0);
  for (const c of classes.values()) {
    delta[c.life[0]]! += c.size;
    delta[c.life[1] + 1]! -= c.size;
  }
  let live = 0;
  let most = 0;
  for (const d of delta) {
    live += d;
    most = Math.max(most, live);
  }
  return most;
}

/** Every buffer its own range of its region, in order: what the program is without planning. */
export function layoutNaive(p: KernelProgram): MemoryPlan {
  const ends = { persistent: 0, arena: 0 };
  const offsets = p.buffers.map((b) => {
    const offset = ends[b.region];
    ends[b.region] += bytesOf(p, b.id);
    return offset;
  });
  const life = lifetimes(p);
  const classes = new Map(p.buffers.filter((b) => b.region === 'arena' && life[b.id]).map((b) => [b.id, { size: bytesOf(p, b.id), life: life[b.id]! }]));
  return { offsets, alias: p.buffers.map((b) => b.id), lifetimes: life, persistentBytes: ends.persistent, arenaBytes: ends.arena, naiveBytes: ends.arena, lowerBoundBytes: lowerBound(p, classes) };
}

/**
 * Proves a plan sound: every buffer inside its region, aligned, and no two
 * arena allocations that are live at the same kernel overlapping (buffers
 * that share memory in place are one allocation).
 */
export function checkPlan(p: KernelProgram, plan: MemoryPlan): void {
  const problems: string[] = [];
  const regionBytes = { persistent: plan.persistentBytes, arena: plan.arenaBytes };
  for (const b of p.buffers) {
    const off = plan.offsets[b.id]!;
    if (off % BUFFER_ALIGNMENT !== 0) problems.push(`buffer ${b.id} at byte ${off} is not aligned to ${BUFFER_ALIGNMENT}`);
    const region = p.buffers[plan.alias[b.id]!]!.region;
    if (off + 4 * b.size > regionBytes[region]) problems.push(`buffer ${b.id} ends past its region`);
  }
  const life = lifetimes(p);
  const spans = p.buffers
    .filter((b) => b.region === 'arena' && life[b.id] && p.buffers[plan.alias[b.id]!]!.region === 'arena')
    .map((b) => ({ id: b.id, root: plan.alias[b.id]!, start: plan.offsets[b.id]!, end: plan.offsets[b.id]! + 4 * b.size, life: life[b.id]! }));
  spans.sort((a, b) => a.start - b.start);
  for (let i = 0; i < spans.length; i++) {
    const a = spans[i]!;
    for (let j = i + 1; j < spans.length && spans[j]!.start < a.end; j++) {
      const b = spans[j]!;
      if (a.root === b.root) continue;
      if (a.life[0] <= b.life[1] && b.life[0] <= a.life[1]) problems.push(`buffers ${a.id} and ${b.id} overlap in bytes [${b.start}, ${Math.min(a.end, b.end)}) while both are live (kernels ${Math.max(a.life[0], b.life[0])}–${Math.min(a.life[1], b.life[1])})`);
    }
  }
  if (problems.length) throw new PlanError(`memory plan is unsound:\n  ${problems.slice(0, 10).join('\n  ')}`);
}

/**
 * The program as the plan places it: buffers that share memory in place
 * become one (kernels bind it once, where WebGPU forbids two writable
 * bindings of the same bytes), and update copies of a value onto itself
 * disappear.
 */
export function applyPlan(p: KernelProgram, plan: MemoryPlan): KernelProgram {
  const root = (b: number) => plan.alias[b]!;
  const kernels = p.kernels.map((k) => {
    const merged: KernelArg[] = [];
    const index = k.args.map((a) => {
      const buffer = root(a.buffer);
      const at = merged.findIndex((m) => m.buffer === buffer);
      if (at < 0) {
        merged.push({ ...a, buffer });
        return merged.length - 1;
      }
      const m = merged[at]!;
      if (m.offset !== a.offset || m.size !== a.size) throw new PlanError(`${k.name}: buffers ${a.buffer} and ${m.buffer} share memory but are bound differently`);
      merged[at] = { ...m, access: m.access === a.access ? m.access : 'readwrite' };
      return at;
    });
    return mapArgs({ ...k, args: merged }, (arg) => index[arg]!);
  });
  const updates = p.updates.filter((u) => !(root(u.from.buffer) === root(u.to.buffer) && u.from.offset === u.to.offset));
  return { ...p, kernels, updates };
}
