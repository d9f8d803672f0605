// Fused attention in WebAssembly, after the JavaScript backend's: forward,
// per query row, one pass over the keys with an online softmax (a running
// maximum rescales what has been accumulated), the row's log-sum-exp kept
// for the backward pass; with contiguous rows and whole vectors, q·k and
// the output row in f32x4 vectors, else scalar in f64. Backward: per query
// row, the probabilities recomputed from the saved log-sum-exp; dq finished
// per row, dk and dv accumulated over the rows of a batch in f64 scratch.
// Threads split the forward's query rows and the backward's batches.

import type { AttentionGradKernel, AttentionKernel, Operand, Placement } from '../../kernel/ir.js';
import { counted, countedRange, f64At, host, loops, share, sharedLoops, viewBase, zeroF64, type KernelWriter } from './writer.js';

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

function renderAttentionScalar(w: KernelWriter, k: AttentionKernel): void {
  const { c } = w;
  const oAt = 0;
  w.scratchBytes.push(8 * k.depthV);
  const [qb, kb, vb] = [c.local('i32'), c.local('i32'), c.local('i32')];
  const [top, sum, s, e, f] = [c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64')];
  const [i, j, ch] = [c.local('i32'), c.local('i32'), c.local('i32')];
  const rows = share(w, k.queries);
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
  const rows = share(w, k.queries);
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
    countedRange(c, i, rows.lo, rows.hi, () => {
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

export function renderAttentionGrad(w: KernelWriter, k: AttentionGradKernel): void {
  const { c } = w;
  const dqAt = 0;
  const dkAt = dqAt + 8 * k.depth;
  const dvAt = dkAt + 8 * k.keys * k.depth;
  w.scratchBytes.push(dvAt + 8 * k.keys * k.depthV);
  const [qb, kb, vb, gb] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
  const [lse, delta, prob, keep, dp, ds] = [c.local('f64'), c.local('f64'), c.local('f64'), c.local('f64'), c.local('f32'), c.local('f64')];
  const [i, j, ch] = [c.local('i32'), c.local('i32'), c.local('i32')];
  // dk and dv sum over a batch's query rows: threads split the batches.
  sharedLoops(w, k.batch, (batch) => {
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


/** The forward pass: in vectors where rows are contiguous and widths whole vectors, else scalar. */
export function renderAttention(w: KernelWriter, k: AttentionKernel): void {
  if (vectorRows(k)) renderAttentionSimd(w, k);
  else renderAttentionScalar(w, k);
}
