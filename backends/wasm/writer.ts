// What the wasm renderer's kernel bodies are written with: counted loops
// over constant extents or a run's sizes (read from the memory's first
// words, where the executor writes them before a run), the kernel's parameters (arg addresses, the draw's
// seed and step, stream ids, scratch, a parameter's kept pack), and a
// writer that hands out the locals of coordinates, stages and the
// accumulator and stores values where the kernel IR says.

import type { Kernel, Operand, Space, Store } from '../../kernel/ir.js';
import type { Code, ModuleBuilder } from './encode.js';
import { WasmExprs, type Frame, type Helpers, type HostMath } from './expr.js';

/** The byte address of a run's sizes in the memory: one i32 per symbol of the program (bytes below the persistent region). */
export const SIZES_AT = 0;

/** The most symbols a run gives. */
export const MAX_SIZES = 8;

/** A loop's extent: a constant, or the i32 local holding a run's size of at most `max`. */
export type Count = number | { readonly local: number; readonly max: number };

/** The largest value of a count. */
export const largest = (n: Count): number => (typeof n === 'number' ? n : n.max);

/** Pushes a count's value. */
export function pushCount(c: Code, n: Count): Code {
  return typeof n === 'number' ? c.i32(n) : c.get(n.local);
}

/** A count times a constant: a constant, or a new local set now. */
export function scaled(c: Code, n: Count, factor: number): Count {
  if (typeof n === 'number') return n * factor;
  const local = c.local('i32');
  c.get(n.local).i32(factor).i32Mul().set(local);
  return { local, max: n.max * factor };
}

/** ⌈n / d⌉ of a count: a constant, or a new local set now. */
export function ceilDiv(c: Code, n: Count, d: number): Count {
  if (typeof n === 'number') return Math.ceil(n / d);
  const local = c.local('i32');
  c.get(n.local).i32(d - 1).i32Add().i32(d).i32DivU().set(local);
  return { local, max: Math.ceil(n.max / d) };
}

/** A counted loop: `for (i = 0; i < count; i++) body()`. */
export function counted(c: Code, i: number, count: Count, body: () => void): void {
  c.i32(0).set(i);
  if (typeof count !== 'number') {
    c.block(() => c.loop(() => {
      c.get(i).get(count.local).i32GeS().brIf(1);
      body();
      c.get(i).i32(1).i32Add().set(i).br(0);
    }));
    return;
  }
  if (count <= 0) return;
  c.block(() => c.loop(() => {
    body();
    c.get(i).i32(1).i32Add().tee(i).i32(count).i32LtS().brIf(0);
  }));
}

/** `for (i = lo; i < hi; i++) body()` over locals lo and hi. */
export function countedRange(c: Code, i: number, lo: number, hi: number, body: () => void): void {
  c.get(lo).set(i);
  c.block(() => c.loop(() => {
    c.get(i).get(hi).i32GeS().brIf(1);
    body();
    c.get(i).i32(1).i32Add().set(i).br(0);
  }));
}

/**
 * This thread's share [lo, hi) of `count` items, in new locals: contiguous
 * blocks of ⌈count / threads⌉ in thread order (the last ones may be short or
 * empty), so that every item is computed by exactly one thread, as it would
 * be by one.
 */
export function share(w: KernelWriter, count: Count): { lo: number; hi: number } {
  const { c } = w;
  const { thread, threads } = w.params;
  const [chunk, lo, hi] = [c.local('i32'), c.local('i32'), c.local('i32')];
  pushCount(c, count).get(threads).i32Add().i32(1).i32Sub().get(threads).i32DivU().set(chunk);
  // lo = min(thread · chunk, count); hi = min(lo + chunk, count)
  c.get(thread).get(chunk).i32Mul().tee(lo);
  pushCount(c, count).get(lo);
  pushCount(c, count).i32LtS().select().set(lo);
  c.get(lo).get(chunk).i32Add().tee(hi);
  pushCount(c, count).get(hi);
  pushCount(c, count).i32LtS().select().set(hi);
  return { lo, hi };
}

/**
 * Loops over `shape` in new locals with the first axis longer than 1 split
 * across threads (the axes before it are single points); a shape of single
 * points runs on thread 0.
 */
export function sharedLoops(w: KernelWriter, shape: readonly Count[], body: (locals: number[]) => void): void {
  const { c } = w;
  const locals = shape.map(() => c.local('i32'));
  const split = shape.findIndex((d) => largest(d) > 1);
  if (split < 0) {
    c.get(w.params.thread).i32Eqz().ifElse(() => nestedLoops(c, shape, locals, () => body(locals)));
    return;
  }
  const { lo, hi } = share(w, shape[split]!);
  const nest = (axis: number): void => {
    if (axis === shape.length) return body(locals);
    if (axis === split) return countedRange(c, locals[axis]!, lo, hi, () => nest(axis + 1));
    counted(c, locals[axis]!, shape[axis]!, () => nest(axis + 1));
  };
  nest(0);
}

/**
 * `from` … `to` − 1 along the lanes' axis (local `at`): groups of four in
 * f32x4, then the rest one by one (the same bits either way).
 */
export function vectorRun(w: KernelWriter, at: number, from: number, to: number, vector: () => void, scalar: () => void): void {
  const { c } = w;
  c.get(from).set(at);
  c.block(() => c.loop(() => {
    c.get(at).i32(4).i32Add().get(to).i32GtS().brIf(1);
    vector();
    c.get(at).i32(4).i32Add().set(at).br(0);
  }));
  c.block(() => c.loop(() => {
    c.get(at).get(to).i32GeS().brIf(1);
    scalar();
    c.get(at).i32(1).i32Add().set(at).br(0);
  }));
}

/** Nested loops over a shape counting in the given i32 locals, one per axis; `body` runs innermost. */
export function nestedLoops(c: Code, shape: readonly Count[], locals: readonly number[], body: () => void): void {
  const nest = (axis: number): void => {
    if (axis === shape.length) return body();
    counted(c, locals[axis]!, shape[axis]!, () => nest(axis + 1));
  };
  nest(0);
}

/** Nested loops over a shape in new locals, which `body` is given. */
export function loops(c: Code, shape: readonly Count[], body: (locals: number[]) => void): void {
  const locals = shape.map(() => c.local('i32'));
  nestedLoops(c, shape, locals, () => body(locals));
}

/** The helpers a kernel calls: the host's math, the random draws, and B's packing. */
export interface KernelHelpers extends Helpers {
  readonly packB: number;
}

export interface KernelParams {
  readonly args: readonly number[];
  readonly seed: number;
  readonly step: number;
  readonly streams: number;
  readonly scratch: number;
  /** Where this call keeps B packed across runs (a parameter's, in an inference program; 0: pack into scratch each run): a word, the generation it was packed for, then the panels from byte 64. */
  readonly packs: number;
  /** The executor's count of parameter writes: packs of an older generation are stale. */
  readonly generation: number;
  /** This thread's number in [0, threads), and how many run the kernel together (each on its share). */
  readonly thread: number;
  readonly threads: number;
}

/** Bytes before the packed panels in a call's pack area: the generation each thread packed its panels for, a word per thread. */
export const PACK_HEADER = 64;

/** Threads a program runs on at most: one generation word each in a pack area's header. */
export const MAX_THREADS = PACK_HEADER / 4;

/** The extents each kind of kernel takes from a run (a padding-free stream's tokens and sequences). */
const RUNTIME_FIELDS: Readonly<Record<Kernel['kind'], RegExp>> = {
  map: /^shape\.\d+$/,
  reduce: /^(shape|reduced)\.\d+$/,
  matmul: /^[mk]$/,
  attention: /^(queries|keys)$/,
  attention_grad: /^(queries|keys)$/,
};

/** What one kernel's body is written with. */
export class KernelWriter {
  readonly scratchBytes: number[] = [0];
  private readonly vars: number[] = [];
  private accLocal = -1;
  /** The run's value of each extent a run gives, by field key, read once where the function starts. */
  private readonly sized = new Map<string, number>();

  constructor(
    readonly mod: ModuleBuilder,
    readonly c: Code,
    readonly k: Kernel,
    readonly params: KernelParams,
    readonly helpers: KernelHelpers,
  ) {
    for (const [key, r] of Object.entries(k.runtime ?? {})) {
      if (!RUNTIME_FIELDS[k.kind].test(key)) throw new Error(`the wasm backend does not take extent ${key} of a ${k.kind} kernel at run time (${k.name})`);
      const local = c.local('i32');
      c.i32(SIZES_AT).i32Load(4 * r.symbol);
      if (r.scale !== 1) c.i32(r.scale).i32Mul();
      if (r.offset) c.i32(r.offset).i32Add();
      c.set(local);
      this.sized.set(key, local);
    }
  }

  /** The kernel's extent `key` (largest value `value`): a constant, or the local holding the run's. */
  extent(key: string, value: number): Count {
    const local = this.sized.get(key);
    return local === undefined ? value : { local, max: value };
  }

  /** Each axis of an extent list ('shape', 'reduced') as extent() gives it. */
  extents(field: string, values: readonly number[]): Count[] {
    return values.map((d, i) => this.extent(`${field}.${i}`, d));
  }

  /** A frame whose idx axes are `idx` and ridx axes `ridx` (locals). */
  frame(idx: readonly number[], ridx: readonly number[] = []): Frame {
    return {
      c: this.c, helpers: this.helpers, args: this.params.args, argTypes: this.k.args.map((a) => a.dtype),
      seed: this.params.seed, step: this.params.step, streams: this.params.streams,
      idx: (axis) => idx[axis]!,
      ridx: (axis) => ridx[axis]!,
      variable: (id) => this.vars[id]!,
      acc: () => this.acc(),
    };
  }

  exprs(idx: readonly number[], space: Space, ridx: readonly number[] = []): WasmExprs {
    return new WasmExprs(this.frame(idx, ridx), space);
  }

  acc(): number {
    if (this.accLocal < 0) this.accLocal = this.c.local('f32');
    return this.accLocal;
  }

  variable(id: number): number {
    return (this.vars[id] ??= this.c.local('f32'));
  }

  /** Stores each store's value at its index (shared subexpressions once). */
  stores(scope: WasmExprs, stores: readonly Store[]): void {
    const inner = scope.open(stores.flatMap((s) => [s.index, s.value]));
    for (const s of stores) {
      inner.address(s.arg, s.index);
      inner.emit(s.value);
      if (this.k.args[s.arg]!.dtype === 'f32') this.c.f32Store();
      else this.c.i32Store();
    }
  }

  /** The byte address arg + 4·(element expression on the stack). */
  elementAddress(arg: number): void {
    this.c.i32(2).i32Shl().get(this.params.args[arg]!).i32Add();
  }

  /** Scratch bytes from `offset` as an address. */
  scratchAt(offset: number): void {
    this.c.get(this.params.scratch).i32(offset).i32Add();
  }
}

/** viewBase of an operand for the batch counters: offset + Σ c_d · s_d, as an element index on the stack. */
export function viewBase(c: Code, o: Operand, batch: readonly number[]): void {
  const v = o.view!;
  c.i32(v.offset);
  v.batchStrides.forEach((s, d) => {
    if (s) c.get(batch[d]!).i32(s).i32Mul().i32Add();
  });
}

/** An f64 scratch array at `offset`: its element `index` (an i32 expression pushed by `index`) as an address. */
export function f64At(w: KernelWriter, offset: number, index: () => void): void {
  w.scratchAt(offset);
  index();
  w.c.i32(3).i32Shl().i32Add();
}

export function zeroF64(w: KernelWriter, offset: number, count: Count): void {
  const i = w.c.local('i32');
  counted(w.c, i, count, () => {
    f64At(w, offset, () => w.c.get(i));
    w.c.f64(0).f64Store();
  });
}

/** fn of the f64 on the stack: the host's log, or e^x through the wasm f32 exp (its accuracy is f32's). */
export function host(w: KernelWriter, fn: HostMath): void {
  if (fn === 'exp') w.c.f32DemoteF64().call(w.helpers.fast.exp).f64PromoteF32();
  else w.c.call(w.helpers.math[fn]);
}

