// The packed GEMM of the wasm backend, emitted as WebAssembly with 128-bit
// SIMD: C[m, n] = A[m, k] · B[k, n] in f32.
//
//   1. pack: B (any strides: a weight stored [out, in] is B transposed) is
//      copied into panels of NR = 8 columns, each panel k rows of 8
//      consecutive values (zeros past n), so that the micro-kernel reads B
//      as two aligned vectors per step. A constant B is packed once.
//   2. gemm: for each tile of MR rows × one panel, MR × 2 f32x4
//      accumulators stay in registers over the whole of k: per step two
//      vector loads of B, MR loads of A splat to four lanes, 2·MR
//      multiplies and adds (WebAssembly SIMD has no fused multiply-add in
//      Node 20). Rows past m repeat the last row (their sums are not
//      stored); columns past n are computed on the panel's zeros and not
//      stored.
//
// A's rows may have any strides (a transposed A walks down its columns).

import type { Code, ModuleBuilder } from './encode.js';

/** Columns of a packed panel: two f32x4 vectors. */
export const NR = 8;

/** Bytes of B packed for the micro-kernel: whole panels of k × NR values. */
export const packedBytes = (k: number, n: number): number => Math.ceil(n / NR) * k * NR * 4;

/** Emits a counted loop: `while (i < end) { body; i += step }`, with i and end locals. */
function forLoop(c: Code, i: number, end: number, step: number, body: () => void): void {
  c.block(() => c.loop(() => {
    c.get(i).get(end).i32GeS().brIf(1);
    body();
    c.get(i).i32(step).i32Add().set(i).br(0);
  }));
}

/**
 * pack(b, strideK, strideN, k, n, out, p0, p1): B[p, j] at b + 4·(p·strideK +
 * j·strideN) into panels p0 … p1 − 1 of the packedBytes(k, n) bytes at out
 * (a thread packs the panels it multiplies by).
 */
export function emitPack(mod: ModuleBuilder, name = 'pack_b'): number {
  return mod.func(name, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], (c) => {
    const [b, sk, sn, k, n, out, p0, p1] = [0, 1, 2, 3, 4, 5, 6, 7];
    const [j0, p, jj, col, nr, end] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
    c.i32(NR).set(nr);
    c.get(p0).i32(NR).i32Mul().set(j0);
    c.get(p1).i32(NR).i32Mul().tee(end).get(n).get(end).get(n).i32LtS().select().set(end);
    c.get(out).get(p0).get(k).i32Mul().i32(NR * 4).i32Mul().i32Add().set(out);
    forLoop(c, j0, end, NR, () => {
      c.i32(0).set(p);
      forLoop(c, p, k, 1, () => {
        c.i32(0).set(jj);
        forLoop(c, jj, nr, 1, () => {
          c.get(j0).get(jj).i32Add().set(col);
          // out ← col < n ? B[p, col] : 0 (B read at a column clamped into it: nothing past B is touched)
          c.get(out);
          c.get(b);
          c.get(p).get(sk).i32Mul();
          c.get(col).get(n).i32(1).i32Sub().get(col).get(n).i32LtS().select().get(sn).i32Mul();
          c.i32Add().i32(2).i32Shl().i32Add().f32Load();
          c.f32(0);
          c.get(col).get(n).i32LtS().select();
          c.f32Store();
          c.get(out).i32(4).i32Add().set(out);
        });
      });
    });
  });
}

/** A product's sizes and strides (elements), fixed when the kernel is generated, as the C backend bakes them in. */
export interface GemmShape {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** A[i, p] at a + 4·(i·strideM + p·strideK). */
  readonly strideM: number;
  readonly strideK: number;
  /** C[i, j] at c + 4·(i·ldc + j). */
  readonly ldc: number;
}

/**
 * gemm_NAME(a, packed, c, p0, p1) for one shape, over panels p0 … p1 − 1
 * (a thread's columns): the tile's rows are constant
 * offsets from one A pointer, and the last tile of fewer rows has a
 * micro-kernel of its own, so the inner loop is MR splat loads, two B
 * loads, 2·MR multiplies and adds, and two pointer steps. `sized`: the rows
 * and depth are a run's, two more parameters (m, k) at most the shape's (B
 * packed at that depth).
 */
export function emitGemmFor(mod: ModuleBuilder, shape: GemmShape, mr: number, name: string, sized = false): number {
  const { m, n, k, strideM, strideK, ldc } = shape;
  const panels = Math.ceil(n / NR);
  return mod.func(name, sized ? ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'] : ['i32', 'i32', 'i32', 'i32', 'i32'], [], (c) => {
    const [a, packed, cOut, p0, p1, rowsArg, depthArg] = [0, 1, 2, 3, 4, 5, 6];
    const tileA = c.local('i32');
    const tileC = c.local('i32');
    const ap = c.local('i32');
    const bp = c.local('i32');
    const bEnd = c.local('i32');
    const jp = c.local('i32');
    const acc = Array.from({ length: mr }, () => [c.local('v128'), c.local('v128')] as const);
    const [b0, b1, av] = [c.local('v128'), c.local('v128'), c.local('v128')];
    const panelEnd = c.local('i32');
    // A panel's bytes: k rows of NR values.
    const panelBytes = c.local('i32');
    if (sized) c.get(depthArg).i32(NR * 4).i32Mul().set(panelBytes);
    else c.i32(k * NR * 4).set(panelBytes);

    /** Every panel of one tile of `rows` rows at tileA / tileC. */
    const tile = (rows: number) => {
      c.get(p0).set(jp);
      c.get(p1).set(panelEnd);
      forLoop(c, jp, panelEnd, 1, () => {
        c.get(packed).get(jp).get(panelBytes).i32Mul().i32Add().tee(bp).get(panelBytes).i32Add().set(bEnd);
        c.get(tileA).set(ap);
        for (let r = 0; r < rows; r++) c.v128Zero().set(acc[r]![0]).v128Zero().set(acc[r]![1]);
        const steps = () => c.loop(() => {
          c.get(bp).v128Load().set(b0);
          c.get(bp).v128Load(16).set(b1);
          for (let r = 0; r < rows; r++) {
            const [x, y] = acc[r]!;
            c.get(ap).v128Load32Splat(4 * r * strideM).set(av);
            c.get(x).get(av).get(b0).f32x4Mul().f32x4Add().set(x);
            c.get(y).get(av).get(b1).f32x4Mul().f32x4Add().set(y);
          }
          c.get(ap).i32(4 * strideK).i32Add().set(ap);
          c.get(bp).i32(NR * 4).i32Add().tee(bp).get(bEnd).i32Ne().brIf(0);
        });
        if (sized) c.get(depthArg).i32(0).i32GtS().ifElse(steps);
        else if (k > 0) steps();
        // C's address of this panel: tileC + 4·NR·jp; whole panels as two vectors, the last lane by lane.
        const whole = n % NR === 0 ? panels : panels - 1;
        const store = (partial: boolean) => {
          for (let r = 0; r < rows; r++) {
            const [x, y] = acc[r]!;
            if (!partial) {
              c.get(tileC).get(jp).i32(NR * 4).i32Mul().i32Add().get(x).v128Store(4 * r * ldc);
              c.get(tileC).get(jp).i32(NR * 4).i32Mul().i32Add().get(y).v128Store(4 * r * ldc + 16);
              continue;
            }
            for (let l = 0; l < n % NR; l++) c.get(tileC).get(jp).i32(NR * 4).i32Mul().i32Add().get(l < 4 ? x : y).f32x4ExtractLane(l & 3).f32Store(4 * (r * ldc + l));
          }
        };
        if (whole === panels) store(false);
        else c.get(jp).i32(whole).i32LtS().ifElse(() => store(false), () => store(true));
      });
    };

    const i = c.local('i32');
    const tiles = c.local('i32');
    c.get(a).set(tileA);
    c.get(cOut).set(tileC);
    c.i32(0).set(i);
    if (sized) c.get(rowsArg).i32(mr).i32DivU().set(tiles);
    else c.i32(Math.floor(m / mr)).set(tiles);
    forLoop(c, i, tiles, 1, () => {
      tile(mr);
      c.get(tileA).i32(4 * mr * strideM).i32Add().set(tileA);
      c.get(tileC).i32(4 * mr * ldc).i32Add().set(tileC);
    });
    // The last rows, fewer than a tile: one micro-kernel for each count a run may leave.
    if (!sized) {
      if (m % mr) tile(m % mr);
      return;
    }
    for (let rows = 1; rows < mr; rows++) c.get(rowsArg).i32(mr).i32RemU().i32(rows).i32Eq().ifElse(() => tile(rows));
  });
}
