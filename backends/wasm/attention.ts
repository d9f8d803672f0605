// Fused attention in WebAssembly: forward, per query row, the row's
// log-sum-exp kept for the backward pass; with contiguous rows and whole
// vectors in three passes over the keys in f32x4 vectors (scores, then
// probabilities, then their product with V in registers), else scalar in
// f64 after the JavaScript backend's online softmax. Backward: per query
// row, the probabilities recomputed from the saved log-sum-exp; dq finished
// per row, dk and dv accumulated over the rows of a batch in scratch (f32x4
// with contiguous rows and whole vectors, else f64).
// Threads split the forward's query rows and the backward's batches.

import type { AttentionGradKernel, AttentionKernel, Operand, Placement } from '../../kernel/ir.js';
import { counted, countedRange, f64At, host, loops, pushCount, scaled, share, sharedLoops, vectorRun, viewBase, zeroF64, type Count, type KernelWriter } from './writer.js';
import { inlineExp } from './math.js';
import { vectorExp, VectorExprs } from './vector.js';
import type { WasmExprs } from './expr.js';

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

/** f64 scratch[offset + index] += factor · the f32 operand element whose address `element` pushes (factor: an f64 pushed by `factor`). */
function accumulate(w: KernelWriter, offset: number, index: () => void, factor: () => void, element: () => void): void {
  f64At(w, offset, index);
  f64At(w, offset, index);
  w.c.f64Load();
  factor();
  element();
  w.c.f32Load().f64PromoteF32().f64Mul().f64Add().f64Store();
}

/**
 * Sets `from` and `to` to the keys query row i may count: its key range
 * where the kernel has one (a packed stream's sequence, read in `scope`
 * over the rows), else all the run's keys.
 */
function keysOfRow(w: KernelWriter, k: AttentionKernel | AttentionGradKernel, scope: WasmExprs, keys: Count, from: number, to: number): void {
  const { c } = w;
  if (!k.keyRange) {
    c.i32(0).set(from);
    pushCount(c, keys).set(to);
    return;
  }
  const range = scope.open([k.keyRange.from, k.keyRange.to]);
  range.emit(k.keyRange.from);
  c.set(from);
  range.emit(k.keyRange.to);
  c.set(to);
}

function renderAttentionScalar(w: KernelWriter, k: AttentionKernel): void {
  const { c } = w;
  const oAt = 0;
  w.scratchBytes.push(8 * k.depthV);
  const [qb, kb, vb] = [c.local('i32'), c.local('i32'), c.local('i32')];
  const [top, sum, s, e, f] = [c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64')];
  const [i, j, ch, from, to] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
  const keys = w.extent('keys', k.keys);
  const rows = share(w, w.extent('queries', k.queries));
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
    countedRange(c, i, rows.lo, rows.hi, () => {
      c.f64(-Infinity).set(top).f64(0).set(sum);
      zeroF64(w, oAt, k.depthV);
      keysOfRow(w, k, outs, keys, from, to);
      countedRange(c, j, from, to, () => {
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
            accumulate(w, oAt, () => c.get(ch), () => c.get(e), () => operandAt(w, k.v!, vb, j, ch));
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

/** Output channels a register block of the forward's V product holds: 8 f32x4 accumulators. */
const V_BLOCK = 8;

/**
 * The forward pass with f32x4 vectors where rows are contiguous, per query
 * row in two passes over the keys: the scores (q·k four lanes at a time,
 * summed across lanes) into a scratch row with their maximum, then each
 * probability e^(s − max) (its keep factor applied) in place of its score
 * and their sum; the output is Σ_j p_j·V_j over blocks of up to 32
 * channels held in registers, divided by the sum once.
 */
function renderAttentionSimd(w: KernelWriter, k: AttentionKernel): void {
  const { c } = w;
  const rowAt = 0;
  // The row of scores (then probabilities), and a vector's staging slot after it.
  const stageAt = 4 * k.keys;
  w.scratchBytes.push(stageAt + 16);
  const [qb, kb, vb, qRow, kRow, vRow, at] = Array.from({ length: 7 }, () => c.local('i32'));
  const [top, sum, s, e] = [c.local('f32'), c.local('f32'), c.local('f32'), c.local('f32')];
  const [vacc, p, sv] = [c.local('v128'), c.local('v128'), c.local('v128')];
  const [from, to] = [c.local('i32'), c.local('i32')];
  const acc = Array.from({ length: V_BLOCK }, () => c.local('v128'));
  const [i, j, ch] = [c.local('i32'), c.local('i32'), c.local('i32')];
  const keys = w.extent('keys', k.keys);
  const rows = share(w, w.extent('queries', k.queries));
  /** The byte address of score j in the scratch row into `at`. */
  const scoreAt = () => {
    w.scratchAt(rowAt);
    c.get(j).i32(2).i32Shl().i32Add().set(at);
  };
  loops(c, k.batch, (batch) => {
    for (const [local, o] of [[qb, k.q], [kb, k.k], ...(k.v ? [[vb, k.v] as const] : [])] as const) {
      viewBase(c, o, batch);
      c.set(local);
    }
    const scoreSpace = { idx: [...k.batch, k.queries, k.keys], ridx: [] };
    const scores = w.exprs([...batch, i, j], scoreSpace);
    const keeps = new VectorExprs(w.frame([...batch, i, j]), scoreSpace, { ridx: false, axis: k.batch.length + 1 });
    const outs = w.exprs([...batch, i, ch], { idx: [...k.batch, k.queries, k.depthV], ridx: [] });
    countedRange(c, i, rows.lo, rows.hi, () => {
      rowAddress(w, k.q, qb, i, qRow);
      keysOfRow(w, k, outs, keys, from, to);
      // Pass 1: the scores and their maximum (a NaN score never becomes it; its exponential makes the sum NaN).
      c.f32(-Infinity).set(top);
      countedRange(c, j, from, to, () => {
        rowAddress(w, k.k, kb, j, kRow);
        c.v128Zero().set(vacc);
        counted(c, ch, k.depth / 4, () => {
          c.get(vacc);
          c.get(qRow).get(ch).i32(4).i32Shl().i32Add().v128Load();
          c.get(kRow).get(ch).i32(4).i32Shl().i32Add().v128Load();
          c.f32x4Mul().f32x4Add().set(vacc);
        });
        c.get(vacc).f32x4ExtractLane(0).get(vacc).f32x4ExtractLane(1).f32Add().get(vacc).f32x4ExtractLane(2).get(vacc).f32x4ExtractLane(3).f32Add().f32Add().set(w.acc());
        scores.open([k.score]).emit(k.score);
        c.set(s);
        scoreAt();
        c.get(at).get(s).f32Store();
        c.get(s).get(top).f32Gt().ifElse(() => c.get(s).set(top));
      });
      // Pass 2: probabilities in place of the scores, and their sum in key order (before the keep factor, as the softmax's); four keys at a time.
      c.f32(0).set(sum);
      vectorRun(w, j, from, to, () => {
        scoreAt();
        c.get(at).v128Load().get(top).f32x4Splat().f32x4Sub().set(sv);
        vectorExp(c, sv);
        c.set(sv);
        for (const lane of [0, 1, 2, 3]) c.get(sv).f32x4ExtractLane(lane).get(sum).f32Add().set(sum);
        if (k.keep) {
          c.get(sv);
          keeps.value(k.keep);
          c.f32x4Mul().set(sv);
        }
        c.get(at).get(sv).v128Store();
      }, () => {
        scoreAt();
        c.get(at).f32Load().get(top).f32Sub().set(s);
        inlineExp(c, s);
        c.tee(e).get(sum).f32Add().set(sum);
        if (k.keep) {
          c.get(e);
          scores.open([k.keep]).emit(k.keep);
          c.f32Mul().set(e);
        }
        c.get(at).get(e).f32Store();
      });
      const out = k.out;
      if (k.v && out) {
        // Pass 3, per block of channels: Σ_j p_j · V[j, block] in registers, then each channel ÷ sum stored where the kernel says.
        for (let block = 0; block < k.depthV / 4; block += V_BLOCK) {
          const width = Math.min(V_BLOCK, k.depthV / 4 - block);
          for (let t = 0; t < width; t++) c.v128Zero().set(acc[t]!);
          countedRange(c, j, from, to, () => {
            scoreAt();
            c.get(at).v128Load32Splat().set(p);
            rowAddress(w, k.v!, vb, j, vRow);
            for (let t = 0; t < width; t++) c.get(acc[t]!).get(vRow).v128Load(16 * (block + t)).get(p).f32x4Mul().f32x4Add().set(acc[t]!);
          });
          for (let t = 0; t < width; t++) {
            w.scratchAt(stageAt);
            c.get(acc[t]!).v128Store(0);
            for (let lane = 0; lane < 4; lane++) {
              c.i32(4 * (block + t) + lane).set(ch);
              const o = outs.open([out.index]);
              o.address(out.arg, out.index);
              w.scratchAt(stageAt);
              c.f32Load(4 * lane).get(sum).f32Div().f32Store();
            }
          }
        }
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

function renderAttentionGradScalar(w: KernelWriter, k: AttentionGradKernel): void {
  const { c } = w;
  const dqAt = 0;
  const dkAt = dqAt + 8 * k.depth;
  const dvAt = dkAt + 8 * k.keys * k.depth;
  w.scratchBytes.push(dvAt + 8 * k.keys * k.depthV);
  const [qb, kb, vb, gb] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
  const [lse, delta, prob, keep, dp, ds] = [c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64'), c.local('f32'), c.local('f64')];
  const [i, j, ch, from, to] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
  const [queries, keys] = [w.extent('queries', k.queries), w.extent('keys', k.keys)];
  // dk and dv sum over a batch's query rows: threads split the batches.
  sharedLoops(w, k.batch, (batch) => {
    for (const [local, o] of [[qb, k.q], [kb, k.k], [vb, k.v], [gb, k.dout]] as const) {
      viewBase(c, o, batch);
      c.set(local);
    }
    const scores = w.exprs([...batch, i, j], { idx: [...k.batch, k.queries, k.keys], ridx: [] });
    const rows = w.exprs([...batch, i, ch], { idx: [...k.batch, k.queries, k.depth], ridx: [] });
    const keyRows = w.exprs([...batch, j, ch], { idx: [...k.batch, k.keys, Math.max(k.depth, k.depthV)], ridx: [] });
    zeroF64(w, dkAt, scaled(c, keys, k.depth));
    zeroF64(w, dvAt, scaled(c, keys, k.depthV));
    counted(c, i, queries, () => {
      const r = rows.open([k.lse, k.delta]);
      r.emit(k.lse);
      c.f64PromoteF32().set(lse);
      r.emit(k.delta);
      c.f64PromoteF32().set(delta);
      zeroF64(w, dqAt, k.depth);
      keysOfRow(w, k, rows, keys, from, to);
      countedRange(c, j, from, to, () => {
        dot(w, k.depth, w.acc(), (p) => operandAt(w, k.q, qb, i, p), (p) => operandAt(w, k.k, kb, j, p));
        const s = scores.open([k.score, ...(k.keep ? [k.keep] : []), ...(k.dscores ? [k.dscores.index] : [])]);
        s.emit(k.score);
        // At most e⁰ (see the JavaScript backend's attention_grad).
        c.f64PromoteF32().get(lse).f64Sub().f64(0).f64Min();
        host(w, 'exp');
        c.set(prob);
        if (k.keep) {
          s.emit(k.keep);
          c.f64PromoteF32().set(keep);
        } else c.f64(1).set(keep);
        // dv[j, c] += prob · keep · dO[i, c]
        counted(c, ch, k.depthV, () => {
          accumulate(w, dvAt, () => c.get(j).i32(k.depthV).i32Mul().get(ch).i32Add(), () => c.get(prob).get(keep).f64Mul(), () => operandAt(w, k.dout, gb, i, ch));
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
          accumulate(w, dqAt, () => c.get(ch), () => c.get(ds), () => operandAt(w, k.k, kb, j, ch));
          accumulate(w, dkAt, () => c.get(j).i32(k.depth).i32Mul().get(ch).i32Add(), () => c.get(ds), () => operandAt(w, k.q, qb, i, ch));
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
    counted(c, j, keys, () => {
      store(k.dk, k.depth, dkAt);
      store(k.dv, k.depthV, dvAt);
    });
  });
}


/** The forward pass: in vectors where rows are contiguous and widths whole vectors, else scalar. */
/** Pushes Σ_p x[p]·y[p] over `depth` (a multiple of 4) of two contiguous f32 rows at the addresses in locals x and y, four lanes at a time, the lanes summed at the end. */
function vectorDot(w: KernelWriter, x: number, y: number, depth: number, lanes: number, p: number): void {
  const { c } = w;
  c.v128Zero().set(lanes);
  counted(c, p, depth / 4, () => {
    c.get(lanes);
    c.get(x).get(p).i32(4).i32Shl().i32Add().v128Load();
    c.get(y).get(p).i32(4).i32Shl().i32Add().v128Load();
    c.f32x4Mul().f32x4Add().set(lanes);
  });
  c.get(lanes).f32x4ExtractLane(0).get(lanes).f32x4ExtractLane(1).f32Add().get(lanes).f32x4ExtractLane(2).get(lanes).f32x4ExtractLane(3).f32Add().f32Add();
}

/** row[0 … width) += factor · from[0 … width) in f32x4: row and from addresses in locals, factor an f32 local. */
function axpy(w: KernelWriter, row: number, from: number, factor: number, width: number, p: number): void {
  const { c } = w;
  counted(c, p, width / 4, () => {
    c.get(row).get(p).i32(4).i32Shl().i32Add();
    c.get(row).get(p).i32(4).i32Shl().i32Add().v128Load();
    c.get(from).get(p).i32(4).i32Shl().i32Add().v128Load().get(factor).f32x4Splat().f32x4Mul().f32x4Add();
    c.v128Store();
  });
}

/**
 * The backward pass in f32x4 where rows are contiguous: per query row, per
 * key, the probability recomputed from the saved log-sum-exp (q·k four
 * lanes at a time), dv[j] and the row's dq and dk[j] accumulated in f32
 * scratch four channels at a time, dO·v likewise.
 */
function renderAttentionGradSimd(w: KernelWriter, k: AttentionGradKernel): void {
  const { c } = w;
  const dqAt = 0;
  const dkAt = dqAt + 4 * k.depth;
  const dvAt = dkAt + 4 * k.keys * k.depth;
  w.scratchBytes.push(dvAt + 4 * k.keys * k.depthV);
  const [qb, kb, vb, gb, qRow, kRow, vRow, gRow, dqRow, dkRow, dvRow, p] = Array.from({ length: 12 }, () => c.local('i32'));
  const [lse, delta, prob, pk, keep, ds] = Array.from({ length: 6 }, () => c.local('f32'));
  const lanes = c.local('v128');
  const [i, j, ch, from, to] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
  const [queries, keys] = [w.extent('queries', k.queries), w.extent('keys', k.keys)];
  /** Zeroes `vectors` f32x4 of scratch from `at`. */
  const zero = (at: number, vectors: Count) => counted(c, p, vectors, () => {
    w.scratchAt(at);
    c.get(p).i32(4).i32Shl().i32Add().v128Zero().v128Store();
  });
  // dk and dv sum over a batch's query rows: threads split the batches.
  sharedLoops(w, k.batch, (batch) => {
    for (const [local, o] of [[qb, k.q], [kb, k.k], [vb, k.v], [gb, k.dout]] as const) {
      viewBase(c, o, batch);
      c.set(local);
    }
    const scores = w.exprs([...batch, i, j], { idx: [...k.batch, k.queries, k.keys], ridx: [] });
    const rows = w.exprs([...batch, i, ch], { idx: [...k.batch, k.queries, k.depth], ridx: [] });
    const keyRows = w.exprs([...batch, j, ch], { idx: [...k.batch, k.keys, Math.max(k.depth, k.depthV)], ridx: [] });
    zero(dkAt, scaled(c, keys, k.depth / 4));
    zero(dvAt, scaled(c, keys, k.depthV / 4));
    w.scratchAt(dqAt);
    c.set(dqRow);
    counted(c, i, queries, () => {
      const r = rows.open([k.lse, k.delta]);
      r.emit(k.lse);
      c.set(lse);
      r.emit(k.delta);
      c.set(delta);
      rowAddress(w, k.q, qb, i, qRow);
      rowAddress(w, k.dout, gb, i, gRow);
      zero(dqAt, k.depth / 4);
      keysOfRow(w, k, rows, keys, from, to);
      countedRange(c, j, from, to, () => {
        rowAddress(w, k.k, kb, j, kRow);
        rowAddress(w, k.v, vb, j, vRow);
        vectorDot(w, qRow, kRow, k.depth, lanes, p);
        c.set(w.acc());
        const s = scores.open([k.score, ...(k.keep ? [k.keep] : []), ...(k.dscores ? [k.dscores.index] : [])]);
        s.emit(k.score);
        c.get(lse).f32Sub().f32(0).f32Min().set(prob);
        inlineExp(c, prob);
        c.set(prob);
        if (k.keep) s.emit(k.keep);
        else c.f32(1);
        c.tee(keep).get(prob).f32Mul().set(pk);
        // dv[j] += prob · keep · dO[i]
        w.scratchAt(dvAt);
        c.get(j).i32(4 * k.depthV).i32Mul().i32Add().set(dvRow);
        axpy(w, dvRow, gRow, pk, k.depthV, p);
        // ds = prob · (dO[i]·v[j] · keep − delta)
        vectorDot(w, gRow, vRow, k.depthV, lanes, p);
        c.get(keep).f32Mul().get(delta).f32Sub().get(prob).f32Mul().set(ds);
        const dscores = k.dscores;
        if (dscores) {
          s.address(dscores.arg, dscores.index);
          c.get(ds).f32Store();
        }
        c.get(ds).f32(k.scale).f32Mul().set(ds);
        // dq[i] += ds · k[j]; dk[j] += ds · q[i]
        axpy(w, dqRow, kRow, ds, k.depth, p);
        w.scratchAt(dkAt);
        c.get(j).i32(4 * k.depth).i32Mul().i32Add().set(dkRow);
        axpy(w, dkRow, qRow, ds, k.depth, p);
      });
      const dq = k.dq;
      if (dq) {
        counted(c, ch, k.depth, () => {
          const o = rows.open([dq.index]);
          o.address(dq.arg, dq.index);
          w.scratchAt(dqAt);
          c.get(ch).i32(2).i32Shl().i32Add().f32Load().f32Store();
        });
      }
    });
    const store = (pl: Placement | undefined, width: number, at: number) => {
      if (!pl) return;
      counted(c, ch, width, () => {
        const o = keyRows.open([pl.index]);
        o.address(pl.arg, pl.index);
        w.scratchAt(at);
        c.get(j).i32(width).i32Mul().get(ch).i32Add().i32(2).i32Shl().i32Add().f32Load().f32Store();
      });
    };
    counted(c, j, keys, () => {
      store(k.dk, k.depth, dkAt);
      store(k.dv, k.depthV, dvAt);
    });
  });
}

export function renderAttentionGrad(w: KernelWriter, k: AttentionGradKernel): void {
  const rows = [k.q, k.k, k.v, k.dout].every((o) => o.view!.colStride === 1);
  if (rows && k.depth % 4 === 0 && k.depthV % 4 === 0) renderAttentionGradSimd(w, k);
  else renderAttentionGradScalar(w, k);
}

export function renderAttention(w: KernelWriter, k: AttentionKernel): void {
  if (vectorRows(k)) renderAttentionSimd(w, k);
  else renderAttentionScalar(w, k);
}
