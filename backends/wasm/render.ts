// The wasm renderer: kernel IR → one WebAssembly module per program. Each
// distinct kernel (by its structural key) becomes one exported function
// `(arg addresses…, seed, step, streams, scratch, packs, generation,
// thread, threads)`, shapes and strides baked in as constants (but for the
// extents a run gives, a padding-free stream's tokens and sequences: read
// from the memory's first words into locals where the function starts;
// buffers stay laid out at their largest), shared by the kernels that
// differ only in their buffers and random streams (a model's layers). Each
// thread computes its share of a kernel's outer loop (writer.ts `share`)
// and the executor meets them after it. It follows the
// JavaScript backend, kind by kind; sums run in f64 as JavaScript's do.
//
//   map        nested loops over the space, the last axis four points at a
//              time in f32x4 (vector.ts), the first axis longer than 1
//              split across threads (an ordered map on thread 0 alone)
//   reduce     per outer point (split as a map's): each stage a loop over
//              the reduced space (or a local for `let`), its last axis four
//              values at a time, folded into four lanes and then in order;
//              then the stores and the element stores
//   matmul     threads split C by panels of columns; per batch: operands
//              read in place when they are plain views
//              (any strides), else computed into scratch with their
//              prologue; B packed into panels (a parameter of an inference
//              program once, kept by the executor until it is written); the
//              SIMD GEMM (gemm.ts) into scratch; the epilogue four columns
//              at a time in f32x4 (vector.ts), the rest of a row one by one
//   attention  attention.ts

import type { Kernel, MapKernel, MatmulKernel, ReduceKernel } from '../../kernel/ir.js';
import { renderAttention, renderAttentionGrad } from './attention.js';
import { ModuleBuilder, type ValType } from './encode.js';
import { HOST_MATH, type HostMath } from './expr.js';
import { emitGemmFor, emitPack, NR, packedBytes } from './gemm.js';
import { emitExp } from './math.js';
import { emitUniform01 } from './threefry.js';
import { VectorExprs } from './vector.js';
import { ceilDiv, counted, countedRange, KernelWriter, largest, loops, PACK_HEADER, nestedLoops, pushCount, share, sharedLoops, vectorRun, viewBase, type KernelHelpers, type KernelParams } from './writer.js';

export { PACK_HEADER };

/** A 32-bit memory's most pages (4 GiB). */
const MAX_PAGES = 65536;

/** Rows per GEMM tile: measured best with two vectors of columns (npm run bench -- wasm). */
const MR = 4;

export interface WasmProgram {
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** Scratch bytes the largest kernel needs (a kernel's scratch is reused by the next). */
  readonly scratchBytes: number;
}

/**
 * A map's last axis four points at a time. Threads split the first axis
 * longer than 1; where that is the last, in whole groups of four.
 */
function renderMap(w: KernelWriter, k: MapKernel): void {
  const { c } = w;
  const space = { idx: k.shape, ridx: [] };
  const shape = w.extents('shape', k.shape);
  // An ordered map runs in order on thread 0.
  if (k.ordered) return void c.get(w.params.thread).i32Eqz().ifElse(() => loops(c, shape, (idx) => w.stores(w.exprs(idx, space), k.stores)));
  const last = k.shape.length - 1;
  const n = shape[last]!;
  if (last < 0 || largest(n) < 4) return sharedLoops(w, shape, (idx) => w.stores(w.exprs(idx, space), k.stores));
  const [at, from, to] = [c.local('i32'), c.local('i32'), c.local('i32')];
  const row = (idx: readonly number[]) => {
    const all = [...idx, at];
    const vectors = new VectorExprs(w.frame(all), space, { ridx: false, axis: last });
    const scalars = w.exprs(all, space);
    vectorRun(w, at, from, to, () => vectors.stores(k.stores), () => w.stores(scalars, k.stores));
  };
  const outer = shape.slice(0, last);
  if (outer.some((d) => largest(d) > 1)) {
    c.i32(0).set(from);
    pushCount(c, n).set(to);
    sharedLoops(w, outer, row);
    return;
  }
  // The last axis alone: thread t takes groups of four [lo, hi) of ⌈n / 4⌉.
  const groups = share(w, ceilDiv(c, n, 4));
  c.get(groups.lo).i32(2).i32Shl().set(from);
  c.get(groups.hi).i32(2).i32Shl().tee(to);
  pushCount(c, n).get(to);
  pushCount(c, n).i32LtS().select().set(to);
  loops(c, outer, row);
}

function renderReduce(w: KernelWriter, k: ReduceKernel): void {
  const { c } = w;
  const space = { idx: k.shape, ridx: k.reduced };
  const [shape, reduced] = [w.extents('shape', k.shape), w.extents('reduced', k.reduced)];
  const sum = c.local('f64');
  sharedLoops(w, shape, (idx) => {
    const ridx = k.reduced.map(() => c.local('i32'));
    const outer = w.exprs(idx, space, ridx);
    // Along the last reduced axis four values at a time where it is long (folded lane by lane, in order: the same bits).
    const last = k.reduced.length - 1;
    const wide = last >= 0 && k.reduced[last]! >= 8;
    const vectors = wide ? new VectorExprs(w.frame(idx, ridx), space, { ridx: true, axis: last }) : undefined;
    const [from, to, lane] = [c.local('i32'), c.local('i32'), c.local('f32')];
    /** The reduced space's loops, the last one four at a time where it is wide. */
    const eachReduced = (vector: () => void, scalar: () => void) => {
      if (!vectors) return nestedLoops(c, reduced, ridx, scalar);
      nestedLoops(c, reduced.slice(0, last), ridx, () => {
        c.i32(0).set(from);
        pushCount(c, reduced[last]!).set(to);
        vectorRun(w, ridx[last]!, from, to, vector, scalar);
      });
    };
    k.stages.forEach((stage, i) => {
      const v = w.variable(i);
      if (stage.combine === 'let') {
        outer.open([stage.value]).emit(stage.value);
        c.set(v);
        return;
      }
      // Sums in f64; a maximum takes x where x > v || x != x (a NaN wins, as on every backend).
      const fold = () => {
        if (stage.combine === 'sum') c.f64PromoteF32().get(sum).f64Add().set(sum);
        else c.tee(lane).get(v).f32Gt().get(lane).get(lane).f32Ne().i32Or().ifElse(() => c.get(lane).set(v));
      };
      // The vector groups fold into four lanes of their own (four f64 sums, or four maxima), which then fold in order before the rest.
      const [sums, top, x] = [[0, 1, 2, 3].map(() => c.local('f64')), c.local('v128'), c.local('v128')];
      if (stage.combine === 'sum') c.f64(0).set(sum);
      else c.f32(-Infinity).set(v);
      if (vectors && stage.combine === 'sum') for (const s of sums) c.f64(0).set(s);
      else if (vectors) c.f32(-Infinity).f32x4Splat().set(top);
      eachReduced(() => {
        vectors!.value(stage.value);
        if (stage.combine === 'sum') {
          c.set(x);
          sums.forEach((s, l) => c.get(x).f32x4ExtractLane(l).f64PromoteF32().get(s).f64Add().set(s));
        } else {
          c.tee(x).get(top).get(x).get(top).f32x4Gt().get(x).get(x).f32x4Ne().v128Or().v128Bitselect().set(top);
        }
      }, () => {
        outer.open([stage.value]).emit(stage.value);
        fold();
      });
      if (!vectors) {
        if (stage.combine === 'sum') c.get(sum).f32DemoteF64().set(v);
      } else if (stage.combine === 'sum') {
        c.get(sums[0]!).get(sums[1]!).f64Add().get(sums[2]!).f64Add().get(sums[3]!).f64Add();
        c.get(sum).f64Add().f32DemoteF64().set(v);
      } else {
        const tail = c.local('f32');
        c.get(v).set(tail);
        c.f32(-Infinity).set(v);
        for (const l of [0, 1, 2, 3]) {
          c.get(top).f32x4ExtractLane(l);
          fold();
        }
        c.get(tail);
        fold();
      }
    });
    if (k.stores.length) w.stores(outer, k.stores);
    if (k.elementStores.length) eachReduced(() => vectors!.stores(k.elementStores), () => w.stores(outer, k.elementStores));
  });
}

/**
 * Threads split C by panels of NR columns: each packs its panels of B (and
 * computes its columns of a B with a prologue), multiplies, and stores its
 * columns; A is computed by each (its prologue's work, small beside the
 * product).
 */
function renderMatmul(w: KernelWriter, k: MatmulKernel): void {
  const { c, mod } = w;
  const packsA = !k.a.view;
  const packsB = !k.b.view;
  // Scratch (each thread's own): A computed [m][k], B computed [k][n], B packed, C [m][n].
  const aAt = 0;
  const bAt = aAt + (packsA ? 4 * k.m * k.k : 0);
  const packedAt = bAt + (packsB ? 4 * k.k * k.n : 0);
  const cAt = packedAt + packedBytes(k.k, k.n);
  w.scratchBytes.push(cAt + 4 * k.m * k.n);
  const av = k.a.view;
  const shape = packsA ? { strideM: k.k, strideK: 1 } : { strideM: av!.rowStride, strideK: av!.colStride };
  // The rows and depth a run may give (a padding-free stream's tokens); buffers are laid out at the largest.
  const [m, depth] = [w.extent('m', k.m), w.extent('k', k.k)];
  const sized = typeof m !== 'number' || typeof depth !== 'number';
  const gemm = emitGemmFor(mod, { m: k.m, n: k.n, k: k.k, ldc: k.n, ...shape }, MR, `${k.name}_gemm`, sized);
  const aBase = c.local('i32');
  const packed = c.local('i32');
  const { lo: p0, hi: p1 } = share(w, Math.ceil(k.n / NR));
  // This thread's columns [j0, j1).
  const [j0, j1] = [c.local('i32'), c.local('i32')];
  c.get(p0).i32(NR).i32Mul().set(j0);
  c.get(p1).i32(NR).i32Mul().tee(j1).i32(k.n).get(j1).i32(k.n).i32LtS().select().set(j1);
  const packInto = () => c.get(p0).get(p1).call(w.helpers.packB);
  loops(c, k.batch, (batch) => {
    // A: in place, or computed into scratch with its prologue.
    if (packsA) {
      const [i, p] = [c.local('i32'), c.local('i32')];
      const scope = w.exprs([...batch, i, p], { idx: [...k.batch, k.m, k.k], ridx: [] });
      counted(c, i, m, () => counted(c, p, depth, () => {
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
      counted(c, p, depth, () => countedRange(c, j, j0, j1, () => {
        w.scratchAt(bAt);
        c.get(p).i32(k.n).i32Mul().get(j).i32Add().i32(2).i32Shl().i32Add();
        scope.open([k.b.value]).emit(k.b.value);
        c.f32Store();
      }));
      w.scratchAt(bAt);
      c.i32(k.n).i32(1);
      pushCount(c, depth).i32(k.n);
      w.scratchAt(packedAt);
      packInto();
      w.scratchAt(packedAt);
      c.set(packed);
    } else {
      const bv = k.b.view!;
      const pack = (into: () => void) => {
        viewBase(c, k.b, batch);
        w.elementAddress(bv.arg);
        c.i32(bv.rowStride).i32(bv.colStride);
        pushCount(c, depth).i32(k.n);
        into();
        packInto();
      };
      const { packs, generation, thread } = w.params;
      // A parameter kept packed by the executor (packs ≠ 0): this thread's panels packed again only after a write; else into scratch.
      const word = () => c.get(packs).get(thread).i32(2).i32Shl().i32Add();
      c.get(packs).ifElse(() => {
        word();
        c.i32Load().get(generation).i32Ne().ifElse(() => {
          pack(() => c.get(packs).i32(PACK_HEADER).i32Add());
          word();
          c.get(generation).i32Store();
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
    c.get(p0).get(p1);
    if (sized) {
      pushCount(c, m);
      pushCount(c, depth);
    }
    c.call(gemm);
    // The epilogue over this thread's columns of C: four columns at a time, then the rest one by one (the same bits).
    const [i, j] = [c.local('i32'), c.local('i32')];
    const space = { idx: [...k.batch, k.m, k.n], ridx: [] };
    const scope = w.exprs([...batch, i, j], space);
    const accVector = c.local('v128');
    const vectors = new VectorExprs(w.frame([...batch, i, j]), space, { ridx: false, axis: k.batch.length + 1 }, accVector);
    const cAddress = () => {
      w.scratchAt(cAt);
      c.get(i).i32(k.n).i32Mul().get(j).i32Add().i32(2).i32Shl().i32Add();
    };
    counted(c, i, m, () => vectorRun(w, j, j0, j1, () => {
      cAddress();
      c.v128Load().set(accVector);
      vectors.stores(k.stores);
    }, () => {
      cAddress();
      c.f32Load().set(w.acc());
      w.stores(scope, k.stores);
    }));
  });
}

const RENDER: { readonly [K in Kernel['kind']]: (w: KernelWriter, k: Extract<Kernel, { kind: K }>) => void } = {
  map: renderMap,
  reduce: renderReduce,
  matmul: renderMatmul,
  attention: renderAttention,
  attention_grad: renderAttentionGrad,
};

/**
 * The module of a program's distinct kernels: `fns[i]` names kernel i's
 * function (kernels of one name are one function); over a shared memory
 * when threads run it.
 */
export function renderProgramWasm(kernels: readonly Kernel[], fns: readonly string[], shared = false): WasmProgram {
  const mod = new ModuleBuilder(shared ? { module: 'env', name: 'memory', initial: 1, maximum: MAX_PAGES, shared } : { module: 'env', name: 'memory', initial: 1 });
  const math = Object.fromEntries(HOST_MATH.map((name) => [name, mod.importFunc('math', name, name === 'pow' ? ['f64', 'f64'] : ['f64'], ['f64'])])) as Record<HostMath, number>;
  const fast = { exp: emitExp(mod) };
  const helpers: KernelHelpers = { math, fast, uniform01: emitUniform01(mod), packB: emitPack(mod) };
  let scratchBytes = 0;
  const done = new Set<string>();
  kernels.forEach((k, index) => {
    const fn = fns[index]!;
    if (done.has(fn)) return;
    done.add(fn);
    const types: ValType[] = [...k.args.map((): ValType => 'i32'), 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'];
    mod.func(fn, types, [], (c) => {
      const n = k.args.length;
      const params: KernelParams = { args: k.args.map((_, i) => i), seed: n, step: n + 1, streams: n + 2, scratch: n + 3, packs: n + 4, generation: n + 5, thread: n + 6, threads: n + 7 };
      const w = new KernelWriter(mod, c, k, params, helpers);
      (RENDER[k.kind] as (w: KernelWriter, k: Kernel) => void)(w, k);
      scratchBytes = Math.max(scratchBytes, ...w.scratchBytes);
    });
  });
  return { bytes: mod.encode(), scratchBytes };
}
