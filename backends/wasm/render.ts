// The wasm renderer: kernel IR → one WebAssembly module per program. Each
// distinct kernel (by its structural key) becomes one exported function
// `(arg addresses…, seed, step, streams, scratch)`, shapes and strides
// baked in as constants, shared by the kernels that differ only in their
// buffers and random streams (a model's layers). It follows the JavaScript
// backend, kind by kind; sums run in f64 as JavaScript's do.
//
//   map        nested loops over the space, a store per point
//   reduce     per outer point: each stage a loop over the reduced space (or
//              a local for `let`), then the stores and the element stores
//   matmul     per batch: operands read in place when they are plain views
//              (any strides), else computed into scratch with their
//              prologue; B packed into panels (a parameter of an inference
//              program once, kept by the executor until it is written); the
//              SIMD GEMM (gemm.ts) into scratch; the epilogue per element
//   attention  per query row, one pass over the keys with an online
//              softmax; backward from the saved log-sum-exp, dk and dv
//              accumulated in scratch
//   scatter, loss   as written

import type { AttentionGradKernel, AttentionKernel, Kernel, KExpr, LossKernel, MapKernel, MatmulKernel, Operand, Placement, ReduceKernel, ScatterKernel, Space, Store } from '../../kernel/ir.js';
import { ModuleBuilder, type Code, type ValType } from './encode.js';
import { HOST_MATH, WasmExprs, type Frame, type Helpers, type HostMath } from './expr.js';
import { emitGemmFor, emitPack, packedBytes } from './gemm.js';
import { emitExp } from './math.js';
import { emitUniform01 } from './threefry.js';

/** Rows per GEMM tile: measured best with two vectors of columns (npm run bench -- wasm). */
const MR = 4;

export interface WasmProgram {
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Scratch bytes the largest kernel needs (a kernel's scratch is reused by the next). */
  readonly scratchBytes: number;
}

/** A counted loop over a constant extent: `for (i = 0; i < count; i++) body()`. */
function counted(c: Code, i: number, count: number, body: () => void): void {
  c.i32(0).set(i);
  if (count <= 0) return;
  c.block(() => c.loop(() => {
    body();
    c.get(i).i32(1).i32Add().tee(i).i32(count).i32LtS().brIf(0);
  }));
}

/** Nested loops over a shape, one i32 local per axis (returned); `body` runs innermost. */
function loops(c: Code, shape: readonly number[], body: (locals: number[]) => void): void {
  const locals = shape.map(() => c.local('i32'));
  const nest = (axis: number): void => {
    if (axis === shape.length) return body(locals);
    counted(c, locals[axis]!, shape[axis]!, () => nest(axis + 1));
  };
  nest(0);
}

/** The helpers a kernel calls: the host's math, the random draws, and B's packing. */
interface KernelHelpers extends Helpers {
  readonly packB: number;
}

interface KernelParams {
  readonly args: readonly number[];
  readonly seed: number;
  readonly step: number;
  readonly streams: number;
  readonly scratch: number;
  /** Where this call keeps B packed across runs (a parameter's, in an inference program; 0: pack into scratch each run): a word, the generation it was packed for, then the panels from byte 64. */
  readonly packs: number;
  /** The executor's count of parameter writes: packs of an older generation are stale. */
  readonly generation: number;
}

/** Bytes before the packed panels in a call's pack area (its generation word, padded to the alignment). */
export const PACK_HEADER = 64;

/** What one kernel's body is written with. */
class KernelWriter {
  readonly scratchBytes: number[] = [0];
  private readonly vars: number[] = [];
  private accLocal = -1;

  constructor(
    readonly mod: ModuleBuilder,
    readonly c: Code,
    readonly k: Kernel,
    readonly params: KernelParams,
    readonly helpers: KernelHelpers,
  ) {}

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
      this.storeAs(this.k.args[s.arg]!.dtype);
    }
  }

  storeAs(dtype: 'f32' | 'i32'): void {
    if (dtype === 'f32') this.c.f32Store();
    else this.c.i32Store();
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

function renderMap(w: KernelWriter, k: MapKernel): void {
  const space = { idx: k.shape, ridx: [] };
  loops(w.c, k.shape, (idx) => w.stores(w.exprs(idx, space), k.stores));
}

function renderReduce(w: KernelWriter, k: ReduceKernel): void {
  const { c } = w;
  const space = { idx: k.shape, ridx: k.reduced };
  const sum = c.local('f64');
  loops(c, k.shape, (idx) => {
    const ridx = k.reduced.map(() => c.local('i32'));
    const outer = w.exprs(idx, space, ridx);
    k.stages.forEach((stage, i) => {
      const v = w.variable(i);
      if (stage.combine === 'let') {
        outer.open([stage.value]).emit(stage.value);
        c.set(v);
        return;
      }
      if (stage.combine === 'sum') c.f64(0).set(sum);
      else c.f32(-Infinity).set(v);
      reducedLoops(c, k.reduced, ridx, () => {
        const inner = outer.open([stage.value]);
        if (stage.combine === 'sum') {
          c.get(sum);
          inner.emit(stage.value);
          c.f64PromoteF32().f64Add().set(sum);
          return;
        }
        // x > v || x != x: v = x (a NaN wins, as on every backend)
        const x = c.local('f32');
        inner.emit(stage.value);
        c.tee(x).get(v).f32Gt().get(x).get(x).f32Ne().i32Or().ifElse(() => c.get(x).set(v));
      });
      if (stage.combine === 'sum') c.get(sum).f32DemoteF64().set(v);
    });
    if (k.stores.length) w.stores(outer, k.stores);
    if (k.elementStores.length) reducedLoops(c, k.reduced, ridx, () => w.stores(outer, k.elementStores));
  });
}

function reducedLoops(c: Code, shape: readonly number[], locals: readonly number[], body: () => void): void {
  const nest = (axis: number): void => {
    if (axis === shape.length) return body();
    counted(c, locals[axis]!, shape[axis]!, () => nest(axis + 1));
  };
  nest(0);
}

/** viewBase of an operand for the batch counters: offset + Σ c_d · s_d, as an element index on the stack. */
function viewBase(c: Code, o: Operand, batch: readonly number[]): void {
  const v = o.view!;
  c.i32(v.offset);
  v.batchStrides.forEach((s, d) => {
    if (s) c.get(batch[d]!).i32(s).i32Mul().i32Add();
  });
}

function renderMatmul(w: KernelWriter, k: MatmulKernel): void {
  const { c, mod } = w;
  const packsA = !k.a.view;
  const packsB = !k.b.view;
  // Scratch: A computed [m][k], B computed [k][n], B packed, C [m][n].
  const aAt = 0;
  const bAt = aAt + (packsA ? 4 * k.m * k.k : 0);
  const packedAt = bAt + (packsB ? 4 * k.k * k.n : 0);
  const cAt = packedAt + packedBytes(k.k, k.n);
  w.scratchBytes.push(cAt + 4 * k.m * k.n);
  const av = k.a.view;
  const shape = packsA ? { strideM: k.k, strideK: 1 } : { strideM: av!.rowStride, strideK: av!.colStride };
  const gemm = emitGemmFor(mod, { m: k.m, n: k.n, k: k.k, ldc: k.n, ...shape }, MR, `${k.name}_gemm`);
  const aBase = c.local('i32');
  const packed = c.local('i32');
  loops(c, k.batch, (batch) => {
    // A: in place, or computed into scratch with its prologue.
    if (packsA) {
      const [i, p] = [c.local('i32'), c.local('i32')];
      const scope = w.exprs([...batch, i, p], { idx: [...k.batch, k.m, k.k], ridx: [] });
      counted(c, i, k.m, () => counted(c, p, k.k, () => {
        w.scratchAt(aAt);
        c.get(i).i32(k.k).i32Mul().get(p).i32Add().i32(2).i32Shl().i32Add();
        scope.open([k.a.value]).emit(k.a.value);
        c.f32Store();
      }));
      w.scratchAt(aAt);
      c.set(aBase);
    } else {
      viewBase(c, k.a, batch);
      w.elementAddress(av!.arg);
      c.set(aBase);
    }
    // B: packed from its view, or computed into scratch first.
    if (packsB) {
      const [p, j] = [c.local('i32'), c.local('i32')];
      const scope = w.exprs([...batch, p, j], { idx: [...k.batch, k.k, k.n], ridx: [] });
      counted(c, p, k.k, () => counted(c, j, k.n, () => {
        w.scratchAt(bAt);
        c.get(p).i32(k.n).i32Mul().get(j).i32Add().i32(2).i32Shl().i32Add();
        scope.open([k.b.value]).emit(k.b.value);
        c.f32Store();
      }));
      w.scratchAt(bAt);
      c.i32(k.n).i32(1).i32(k.k).i32(k.n);
      w.scratchAt(packedAt);
      c.call(w.helpers.packB);
      w.scratchAt(packedAt);
      c.set(packed);
    } else {
      const bv = k.b.view!;
      const pack = (into: () => void) => {
        viewBase(c, k.b, batch);
        w.elementAddress(bv.arg);
        c.i32(bv.rowStride).i32(bv.colStride).i32(k.k).i32(k.n);
        into();
        c.call(w.helpers.packB);
      };
      const { packs, generation } = w.params;
      // A parameter kept packed by the executor (packs ≠ 0): packed again only after a write; else into scratch.
      c.get(packs).ifElse(() => {
        c.get(packs).i32Load().get(generation).i32Ne().ifElse(() => {
          pack(() => c.get(packs).i32(PACK_HEADER).i32Add());
          c.get(packs).get(generation).i32Store();
        });
        c.get(packs).i32(PACK_HEADER).i32Add().set(packed);
      }, () => {
        pack(() => w.scratchAt(packedAt));
        w.scratchAt(packedAt);
        c.set(packed);
      });
    }
    c.get(aBase).get(packed);
    w.scratchAt(cAt);
    c.call(gemm);
    // The epilogue per element of C.
    const [i, j] = [c.local('i32'), c.local('i32')];
    const scope = w.exprs([...batch, i, j], { idx: [...k.batch, k.m, k.n], ridx: [] });
    counted(c, i, k.m, () => counted(c, j, k.n, () => {
      w.scratchAt(cAt);
      c.get(i).i32(k.n).i32Mul().get(j).i32Add().i32(2).i32Shl().i32Add().f32Load().set(w.acc());
      w.stores(scope, k.stores);
    }));
  });
}

/** The byte address of (row, col) of a plain operand view whose batch base (elements) is in `base`. */
function operandAt(w: KernelWriter, o: Operand, base: number, row: number | null, col: number | null): void {
  const v = o.view!;
  const c = w.c;
  c.get(base);
  if (row !== null && v.rowStride) c.get(row).i32(v.rowStride).i32Mul().i32Add();
  if (col !== null && v.colStride) c.get(col).i32(v.colStride).i32Mul().i32Add();
  w.elementAddress(v.arg);
}

/** dot = Σ_p x(p)·y(p) in f64 over `depth`, demoted into the f32 local `into`. */
function dot(w: KernelWriter, depth: number, into: number, x: (p: number) => void, y: (p: number) => void): void {
  const c = w.c;
  const [p, s] = [c.local('i32'), c.local('f64')];
  c.f64(0).set(s);
  counted(c, p, depth, () => {
    c.get(s);
    x(p);
    c.f32Load().f64PromoteF32();
    y(p);
    c.f32Load().f64PromoteF32().f64Mul().f64Add().set(s);
  });
  c.get(s).f32DemoteF64().set(into);
}

/** An f64 scratch array at `offset`: its element `index` (an i32 expression pushed by `index`) as an address. */
function f64At(w: KernelWriter, offset: number, index: () => void): void {
  w.scratchAt(offset);
  index();
  w.c.i32(3).i32Shl().i32Add();
}

function zeroF64(w: KernelWriter, offset: number, count: number): void {
  const i = w.c.local('i32');
  counted(w.c, i, count, () => {
    f64At(w, offset, () => w.c.get(i));
    w.c.f64(0).f64Store();
  });
}

/** fn of the f64 on the stack: the host's log, or e^x through the wasm f32 exp (its accuracy is f32's). */
function host(w: KernelWriter, fn: HostMath): void {
  if (fn === 'exp') w.c.f32DemoteF64().call(w.helpers.fast.exp).f64PromoteF32();
  else w.c.call(w.helpers.math[fn]);
}

function renderAttention(w: KernelWriter, k: AttentionKernel): void {
  const { c } = w;
  const oAt = 0;
  w.scratchBytes.push(8 * k.depthV);
  const [qb, kb, vb] = [c.local('i32'), c.local('i32'), c.local('i32')];
  const [top, sum, s, e, f] = [c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64')];
  const [i, j, ch] = [c.local('i32'), c.local('i32'), c.local('i32')];
  loops(c, k.batch, (batch) => {
    viewBase(c, k.q, batch);
    c.set(qb);
    viewBase(c, k.k, batch);
    c.set(kb);
    if (k.v) {
      viewBase(c, k.v, batch);
      c.set(vb);
    }
    const scores = w.exprs([...batch, i, j], { idx: [...k.batch, k.queries, k.keys], ridx: [] });
    const outs = w.exprs([...batch, i, ch], { idx: [...k.batch, k.queries, k.depthV], ridx: [] });
    counted(c, i, k.queries, () => {
      c.f64(-Infinity).set(top).f64(0).set(sum);
      zeroF64(w, oAt, k.depthV);
      counted(c, j, k.keys, () => {
        dot(w, k.depth, w.acc(), (p) => operandAt(w, k.q, qb, i, p), (p) => operandAt(w, k.k, kb, j, p));
        const scope = scores.open([k.score, ...(k.keep ? [k.keep] : [])]);
        scope.emit(k.score);
        c.f64PromoteF32().set(s);
        c.get(s).get(top).f64Gt().ifElse(() => {
          c.get(top).get(s).f64Sub();
          host(w, 'exp');
          c.set(f);
          c.get(sum).get(f).f64Mul().set(sum);
          counted(c, ch, k.depthV, () => {
            f64At(w, oAt, () => c.get(ch));
            f64At(w, oAt, () => c.get(ch));
            c.f64Load().get(f).f64Mul().f64Store();
          });
          c.get(s).set(top);
        });
        c.get(s).get(top).f64Sub();
        host(w, 'exp');
        c.set(e);
        c.get(sum).get(e).f64Add().set(sum);
        if (k.v) {
          if (k.keep) {
            c.get(e);
            scope.emit(k.keep);
            c.f64PromoteF32().f64Mul().set(e);
          }
          counted(c, ch, k.depthV, () => {
            f64At(w, oAt, () => c.get(ch));
            f64At(w, oAt, () => c.get(ch));
            c.f64Load().get(e);
            operandAt(w, k.v!, vb, j, ch);
            c.f32Load().f64PromoteF32().f64Mul().f64Add().f64Store();
          });
        }
      });
      const out = k.out;
      if (out) {
        counted(c, ch, k.depthV, () => {
          const o = outs.open([out.index]);
          o.address(out.arg, out.index);
          f64At(w, oAt, () => c.get(ch));
          c.f64Load().get(sum).f64Div().f32DemoteF64().f32Store();
        });
      }
      const lse = k.lse;
      if (lse) {
        const l = outs.open([lse.index]);
        l.address(lse.arg, lse.index);
        c.get(top).get(sum);
        host(w, 'log');
        c.f64Add().f32DemoteF64().f32Store();
      }
    });
  });
}

/** Whether attention's rows are contiguous and its widths whole vectors: the SIMD forward then applies. */
function vectorRows(k: AttentionKernel): boolean {
  const rows = [k.q, k.k, ...(k.v ? [k.v] : [])].every((o) => o.view!.colStride === 1);
  return rows && k.depth % 4 === 0 && k.depthV % 4 === 0;
}

/** The byte address of row `row` of a contiguous-row operand view into `into`. */
function rowAddress(w: KernelWriter, o: Operand, base: number, row: number, into: number): void {
  const v = o.view!;
  w.c.get(base).get(row).i32(v.rowStride).i32Mul().i32Add();
  w.elementAddress(v.arg);
  w.c.set(into);
}

/**
 * The forward pass with f32x4 vectors where rows are contiguous: q·k four
 * lanes at a time (summed across lanes at the end), the output row kept in
 * f32 vectors, rescaled and accumulated four channels at a time.
 */
function renderAttentionSimd(w: KernelWriter, k: AttentionKernel): void {
  const { c } = w;
  const oAt = 0;
  w.scratchBytes.push(4 * k.depthV);
  const [qb, kb, vb, qRow, kRow, vRow, lane] = Array.from({ length: 7 }, () => c.local('i32'));
  const [top, sum, s, e] = [c.local('f32'), c.local('f32'), c.local('f32'), c.local('f32')];
  const [vacc, factor] = [c.local('v128'), c.local('v128')];
  const [i, j, ch] = [c.local('i32'), c.local('i32'), c.local('i32')];
  /** o[4·ch …] ← o[4·ch …] · factor (+ the vector `plus` pushes, if any). */
  const update = (plus?: () => void) => counted(c, ch, k.depthV / 4, () => {
    w.scratchAt(oAt);
    c.get(ch).i32(4).i32Shl().i32Add().tee(lane);
    c.get(lane).v128Load().get(factor).f32x4Mul();
    if (plus) {
      plus();
      c.f32x4Add();
    }
    c.v128Store();
  });
  loops(c, k.batch, (batch) => {
    for (const [local, o] of [[qb, k.q], [kb, k.k], ...(k.v ? [[vb, k.v] as const] : [])] as const) {
      viewBase(c, o, batch);
      c.set(local);
    }
    const scores = w.exprs([...batch, i, j], { idx: [...k.batch, k.queries, k.keys], ridx: [] });
    const outs = w.exprs([...batch, i, ch], { idx: [...k.batch, k.queries, k.depthV], ridx: [] });
    counted(c, i, k.queries, () => {
      rowAddress(w, k.q, qb, i, qRow);
      c.f32(-Infinity).set(top).f32(0).set(sum);
      counted(c, ch, k.depthV / 4, () => {
        w.scratchAt(oAt);
        c.get(ch).i32(4).i32Shl().i32Add().v128Zero().v128Store();
      });
      counted(c, j, k.keys, () => {
        rowAddress(w, k.k, kb, j, kRow);
        c.v128Zero().set(vacc);
        counted(c, ch, k.depth / 4, () => {
          c.get(vacc);
          c.get(qRow).get(ch).i32(4).i32Shl().i32Add().v128Load();
          c.get(kRow).get(ch).i32(4).i32Shl().i32Add().v128Load();
          c.f32x4Mul().f32x4Add().set(vacc);
        });
        c.get(vacc).f32x4ExtractLane(0).get(vacc).f32x4ExtractLane(1).f32Add().get(vacc).f32x4ExtractLane(2).get(vacc).f32x4ExtractLane(3).f32Add().f32Add().set(w.acc());
        const scope = scores.open([k.score, ...(k.keep ? [k.keep] : [])]);
        scope.emit(k.score);
        c.set(s);
        c.get(s).get(top).f32Gt().ifElse(() => {
          c.get(top).get(s).f32Sub().call(w.helpers.fast.exp).tee(e);
          c.get(sum).f32Mul().set(sum);
          c.get(e).f32x4Splat().set(factor);
          update();
          c.get(s).set(top);
        });
        c.get(s).get(top).f32Sub().call(w.helpers.fast.exp).set(e);
        c.get(sum).get(e).f32Add().set(sum);
        if (k.v) {
          if (k.keep) {
            c.get(e);
            scope.emit(k.keep);
            c.f32Mul().set(e);
          }
          rowAddress(w, k.v, vb, j, vRow);
          c.f32(1).f32x4Splat().set(factor);
          update(() => c.get(e).f32x4Splat().get(vRow).get(ch).i32(4).i32Shl().i32Add().v128Load().f32x4Mul());
        }
      });
      const out = k.out;
      if (out) {
        counted(c, ch, k.depthV, () => {
          const o = outs.open([out.index]);
          o.address(out.arg, out.index);
          w.scratchAt(oAt);
          c.get(ch).i32(2).i32Shl().i32Add().f32Load().get(sum).f32Div().f32Store();
        });
      }
      const lse = k.lse;
      if (lse) {
        const l = outs.open([lse.index]);
        l.address(lse.arg, lse.index);
        c.get(top).get(sum).f64PromoteF32().call(w.helpers.math.log).f32DemoteF64().f32Add().f32Store();
      }
    });
  });
}

function renderAttentionGrad(w: KernelWriter, k: AttentionGradKernel): void {
  const { c } = w;
  const dqAt = 0;
  const dkAt = dqAt + 8 * k.depth;
  const dvAt = dkAt + 8 * k.keys * k.depth;
  w.scratchBytes.push(dvAt + 8 * k.keys * k.depthV);
  const [qb, kb, vb, gb] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
  const [lse, delta, prob, keep, dp, ds] = [c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64'), c.local('f32'), c.local('f64')];
  const [i, j, ch] = [c.local('i32'), c.local('i32'), c.local('i32')];
  loops(c, k.batch, (batch) => {
    for (const [local, o] of [[qb, k.q], [kb, k.k], [vb, k.v], [gb, k.dout]] as const) {
      viewBase(c, o, batch);
      c.set(local);
    }
    const scores = w.exprs([...batch, i, j], { idx: [...k.batch, k.queries, k.keys], ridx: [] });
    const rows = w.exprs([...batch, i, ch], { idx: [...k.batch, k.queries, k.depth], ridx: [] });
    const keyRows = w.exprs([...batch, j, ch], { idx: [...k.batch, k.keys, Math.max(k.depth, k.depthV)], ridx: [] });
    zeroF64(w, dkAt, k.keys * k.depth);
    zeroF64(w, dvAt, k.keys * k.depthV);
    counted(c, i, k.queries, () => {
      const r = rows.open([k.lse, k.delta]);
      r.emit(k.lse);
      c.f64PromoteF32().set(lse);
      r.emit(k.delta);
      c.f64PromoteF32().set(delta);
      zeroF64(w, dqAt, k.depth);
      counted(c, j, k.keys, () => {
        dot(w, k.depth, w.acc(), (p) => operandAt(w, k.q, qb, i, p), (p) => operandAt(w, k.k, kb, j, p));
        const s = scores.open([k.score, ...(k.keep ? [k.keep] : []), ...(k.dscores ? [k.dscores.index] : [])]);
        s.emit(k.score);
        c.f64PromoteF32().get(lse).f64Sub();
        host(w, 'exp');
        c.set(prob);
        if (k.keep) {
          s.emit(k.keep);
          c.f64PromoteF32().set(keep);
        } else c.f64(1).set(keep);
        // dv[j, c] += prob · keep · dO[i, c]
        counted(c, ch, k.depthV, () => {
          f64At(w, dvAt, () => c.get(j).i32(k.depthV).i32Mul().get(ch).i32Add());
          f64At(w, dvAt, () => c.get(j).i32(k.depthV).i32Mul().get(ch).i32Add());
          c.f64Load().get(prob).get(keep).f64Mul();
          operandAt(w, k.dout, gb, i, ch);
          c.f32Load().f64PromoteF32().f64Mul().f64Add().f64Store();
        });
        dot(w, k.depthV, dp, (p) => operandAt(w, k.dout, gb, i, p), (p) => operandAt(w, k.v, vb, j, p));
        // ds = prob · (dp · keep − delta) · scale
        c.get(prob).get(dp).f64PromoteF32().get(keep).f64Mul().get(delta).f64Sub().f64Mul().set(ds);
        const dscores = k.dscores;
        if (dscores) {
          s.address(dscores.arg, dscores.index);
          c.get(ds).f32DemoteF64().f32Store();
        }
        c.get(ds).f64(k.scale).f64Mul().set(ds);
        counted(c, ch, k.depth, () => {
          f64At(w, dqAt, () => c.get(ch));
          f64At(w, dqAt, () => c.get(ch));
          c.f64Load().get(ds);
          operandAt(w, k.k, kb, j, ch);
          c.f32Load().f64PromoteF32().f64Mul().f64Add().f64Store();
          f64At(w, dkAt, () => c.get(j).i32(k.depth).i32Mul().get(ch).i32Add());
          f64At(w, dkAt, () => c.get(j).i32(k.depth).i32Mul().get(ch).i32Add());
          c.f64Load().get(ds);
          operandAt(w, k.q, qb, i, ch);
          c.f32Load().f64PromoteF32().f64Mul().f64Add().f64Store();
        });
      });
      const dq = k.dq;
      if (dq) {
        counted(c, ch, k.depth, () => {
          const o = rows.open([dq.index]);
          o.address(dq.arg, dq.index);
          f64At(w, dqAt, () => c.get(ch));
          c.f64Load().f32DemoteF64().f32Store();
        });
      }
    });
    const store = (p: Placement | undefined, width: number, at: number) => {
      if (!p) return;
      counted(c, ch, width, () => {
        const o = keyRows.open([p.index]);
        o.address(p.arg, p.index);
        f64At(w, at, () => c.get(j).i32(width).i32Mul().get(ch).i32Add());
        c.f64Load().f32DemoteF64().f32Store();
      });
    };
    counted(c, j, k.keys, () => {
      store(k.dk, k.depth, dkAt);
      store(k.dv, k.depthV, dvAt);
    });
  });
}

/** Ids outside the table (possible only in a program edited by hand: the runtime checks its inputs) add nothing. */
function renderScatter(w: KernelWriter, k: ScatterKernel): void {
  const { c } = w;
  const { ids, values, table } = k;
  const [i, j, id, row, from] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
  counted(c, i, k.rows * k.rowSize, () => {
    c.get(i).i32(table.offset).i32Add();
    w.elementAddress(table.arg);
    c.f32(0).f32Store();
  });
  counted(c, i, k.count, () => {
    c.get(i).i32(ids.offset).i32Add();
    w.elementAddress(ids.arg);
    c.i32Load().tee(id).i32(0).i32GeS().get(id).i32(k.rows).i32LtS().i32And().ifElse(() => {
      c.get(id).i32(k.rowSize).i32Mul().i32(table.offset).i32Add().set(row);
      c.get(i).i32(k.rowSize).i32Mul().i32(values.offset).i32Add().set(from);
      counted(c, j, k.rowSize, () => {
        c.get(row).get(j).i32Add();
        w.elementAddress(table.arg);
        c.get(row).get(j).i32Add();
        w.elementAddress(table.arg);
        c.f32Load();
        c.get(from).get(j).i32Add();
        w.elementAddress(values.arg);
        c.f32Load().f32Add().f32Store();
      });
    });
  });
}

/** A row counts when its label is a class: `ignoreIndex`, and anything else outside [0, classes), leaves it out. */
function renderLoss(w: KernelWriter, k: LossKernel): void {
  const { c } = w;
  const { rows, classes, ignoreIndex } = k;
  const [r, col, label, base, best, count] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
  const [total, max, sum, lse, scale, x] = [c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64')];
  const labelAt = (row: number) => {
    c.get(row).i32(k.labels.offset).i32Add();
    w.elementAddress(k.labels.arg);
    c.i32Load();
  };
  const labelled = (x: number) => c.get(x).i32(ignoreIndex).i32Ne().get(x).i32(0).i32GeS().i32And().get(x).i32(classes).i32LtS().i32And();
  /** The logit at (base + the column pushed by `at`), as f64. */
  const logit = (at: () => void) => {
    c.get(base);
    at();
    c.i32Add().i32(k.logits.offset).i32Add();
    w.elementAddress(k.logits.arg);
    c.f32Load().f64PromoteF32();
  };
  const out = (at: () => void) => {
    at();
    c.i32(k.out.offset).i32Add();
    w.elementAddress(k.out.arg);
  };
  c.i32(0).set(count);
  counted(c, r, rows, () => {
    labelAt(r);
    c.set(label);
    labelled(label);
    c.ifElse(() => c.get(count).i32(1).i32Add().set(count));
  });
  if (k.fn === 'cross_entropy_grad') {
    counted(c, r, rows * classes, () => {
      out(() => c.get(r));
      c.f32(0).f32Store();
    });
  }
  c.f64(0).set(total);
  counted(c, r, rows, () => {
    labelAt(r);
    c.set(label);
    labelled(label);
    c.ifElse(() => {
      c.get(r).i32(classes).i32Mul().set(base);
      if (k.fn === 'accuracy') {
        c.i32(0).set(best);
        counted(c, col, classes, () => {
          logit(() => c.get(col));
          logit(() => c.get(best));
          c.f64Gt().ifElse(() => c.get(col).set(best));
        });
        c.get(best).get(label).i32Eq().ifElse(() => c.get(total).f64(1).f64Add().set(total));
        return;
      }
      c.f64(-Infinity).set(max);
      counted(c, col, classes, () => {
        logit(() => c.get(col));
        c.tee(x).get(max).f64Gt().ifElse(() => c.get(x).set(max));
      });
      c.f64(0).set(sum);
      counted(c, col, classes, () => {
        c.get(sum);
        logit(() => c.get(col));
        c.get(max).f64Sub();
        host(w, 'exp');
        c.f64Add().set(sum);
      });
      c.get(max).get(sum);
      host(w, 'log');
      c.f64Add().set(lse);
      if (k.fn === 'cross_entropy') {
        c.get(total).get(lse);
        logit(() => c.get(label));
        c.f64Sub().f64Add().set(total);
      } else {
        c.i32(k.dloss!.offset);
        w.elementAddress(k.dloss!.arg);
        c.f32Load().f64PromoteF32().get(count).f64ConvertI32S().f64Div().set(scale);
        counted(c, col, classes, () => {
          out(() => c.get(base).get(col).i32Add());
          logit(() => c.get(col));
          c.get(lse).f64Sub();
          host(w, 'exp');
          c.get(col).get(label).i32Eq().f64ConvertI32S().f64Sub().get(scale).f64Mul().f32DemoteF64().f32Store();
        });
      }
    });
  });
  if (k.fn !== 'cross_entropy_grad') {
    out(() => c.i32(0));
    c.get(count).i32Eqz().ifValue('f32', () => c.f32(0), () => c.get(total).get(count).f64ConvertI32S().f64Div().f32DemoteF64());
    c.f32Store();
  }
}

const RENDER: { readonly [K in Kernel['kind']]: (w: KernelWriter, k: Extract<Kernel, { kind: K }>) => void } = {
  map: renderMap,
  reduce: renderReduce,
  matmul: renderMatmul,
  attention: (w, k) => (vectorRows(k) ? renderAttentionSimd(w, k) : renderAttention(w, k)),
  attention_grad: renderAttentionGrad,
  scatter: renderScatter,
  loss: renderLoss,
};

/** The module of a program's distinct kernels: `fns[i]` names kernel i's function (kernels of one name are one function). */
export function renderProgramWasm(kernels: readonly Kernel[], fns: readonly string[]): WasmProgram {
  const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1 });
  const math = Object.fromEntries(HOST_MATH.map((name) => [name, mod.importFunc('math', name, name === 'pow' ? ['f64', 'f64'] : ['f64'], ['f64'])])) as Record<HostMath, number>;
  const fast = { exp: emitExp(mod) };
  const helpers: KernelHelpers = { math, fast, uniform01: emitUniform01(mod), packB: emitPack(mod) };
  let scratchBytes = 0;
  const done = new Set<string>();
  kernels.forEach((k, index) => {
    const fn = fns[index]!;
    if (done.has(fn)) return;
    done.add(fn);
    const types: ValType[] = [...k.args.map((): ValType => 'i32'), 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'];
    mod.func(fn, types, [], (c) => {
      const n = k.args.length;
      const params: KernelParams = { args: k.args.map((_, i) => i), seed: n, step: n + 1, streams: n + 2, scratch: n + 3, packs: n + 4, generation: n + 5 };
      const w = new KernelWriter(mod, c, k, params, helpers);
      (RENDER[k.kind] as (w: KernelWriter, k: Kernel) => void)(w, k);
      scratchBytes = Math.max(scratchBytes, ...w.scratchBytes);
    });
  });
  return { bytes: mod.encode(), scratchBytes };
}

export type { KExpr };
