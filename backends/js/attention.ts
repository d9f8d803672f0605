// Fused attention in JavaScript. Forward: per query row, one pass over the
// keys with an online softmax (a running maximum rescales what has been
// accumulated), so no row of scores is ever stored; the row's log-sum-exp
// is kept for the backward pass. Backward: per query row, the probabilities
// are recomputed from the saved log-sum-exp; dq is finished per row, dk and
// dv accumulate over the rows of a batch in scratch.

import type { CodeWriter } from '../common/writer.js';
import { viewBase } from '../common/expr-scope.js';
import { type AttentionGradKernel, type AttentionKernel, type Operand, type Placement } from '../../kernel/ir.js';
import { DEFAULT_NAMES, extentJs, JsExprs, loops, type Names } from './expr.js';

/** Element (row, col) of a plain operand view, with `base` holding its batch offset. */
function at(o: Operand, base: string, row: string, col: string): string {
  const v = o.view;
  if (!v) throw new Error('attention operands must be plain views');
  const term = (x: string, s: number) => (s === 0 ? '' : s === 1 ? ` + ${x}` : ` + ${x} * ${s}`);
  return `a${v.arg}[${base}${term(row, v.rowStride)}${term(col, v.colStride)}]`;
}

function bases(w: CodeWriter, operands: readonly [string, Operand][]): void {
  for (const [name, o] of operands) w.line(`const ${name} = ${viewBase(o)};`);
}

/** Names for expressions over (b…, i, j) or (b…, i, c). */
function rowNames(nb: number, third: string): Names {
  return { idx: (axis) => (axis < nb ? `c${axis}` : axis === nb ? 'i' : third), ridx: DEFAULT_NAMES.ridx };
}

function dot(w: CodeWriter, name: string, depth: number, x: string, y: string): void {
  w.line(`let ${name} = 0;`);
  w.line(`for (let p = 0; p < ${depth}; p++) ${name} += ${x} * ${y};`);
}

export function renderAttention(w: CodeWriter, k: AttentionKernel): void {
  const nb = k.batch.length;
  const scores = new JsExprs({ idx: [...k.batch, k.queries, k.keys], ridx: [] }, rowNames(nb, 'j'));
  const outs = new JsExprs({ idx: [...k.batch, k.queries, k.depthV], ridx: [] }, rowNames(nb, 'c'));
  for (const key of ['depth', 'depthV', ...k.batch.map((_, i) => `batch.${i}`)]) extentJs(k, key, 0, false);
  w.line(`const o = scratch(0, ${k.depthV});`);
  loops(w, k.batch, DEFAULT_NAMES.idx, () => {
    bases(w, [['qb', k.q], ['kb', k.k], ...(k.v ? [['vb', k.v] as [string, Operand]] : [])]);
    w.block(`for (let i = 0; i < ${extentJs(k, 'queries', k.queries)}; i++) {`, () => {
      w.line('let top = -Infinity, sum = 0;');
      w.line('o.fill(0);');
      // A packed stream's row attends to its own sequence's keys only (the others score −1e30).
      const range = k.keyRange && outs.open(w, [k.keyRange.from, k.keyRange.to]);
      const [from, to] = range ? [range.render(k.keyRange!.from), range.render(k.keyRange!.to)] : ['0', extentJs(k, 'keys', k.keys)];
      w.block(`for (let j = ${from}; j < ${to}; j++) {`, () => {
        dot(w, 'acc', k.depth, at(k.q, 'qb', 'i', 'p'), at(k.k, 'kb', 'j', 'p'));
        const s = scores.open(w, [k.score, ...(k.keep ? [k.keep] : [])]);
        w.line(`const s = ${s.render(k.score)};`);
        w.block('if (s > top) {', () => {
          w.line('const f = Math.exp(top - s);');
          w.line('sum *= f;');
          w.line(`for (let c = 0; c < ${k.depthV}; c++) o[c] *= f;`);
          w.line('top = s;');
        });
        w.line('const e = Math.exp(s - top);');
        w.line('sum += e;');
        if (k.v) {
          w.line(`const pk = ${k.keep ? `e * ${s.render(k.keep)}` : 'e'};`);
          w.line(`for (let c = 0; c < ${k.depthV}; c++) o[c] += pk * ${at(k.v, 'vb', 'j', 'c')};`);
        }
      });
      if (k.out) {
        w.block(`for (let c = 0; c < ${k.depthV}; c++) {`, () => {
          const o = outs.open(w, [k.out!.index]);
          w.line(`a${k.out!.arg}[${o.render(k.out!.index)}] = o[c] / sum;`);
        });
      }
      if (k.lse) {
        const l = outs.open(w, [k.lse.index]);
        w.line(`a${k.lse.arg}[${l.render(k.lse.index)}] = top + Math.log(sum);`);
      }
    });
  });
}

export function renderAttentionGrad(w: CodeWriter, k: AttentionGradKernel): void {
  const nb = k.batch.length;
  for (const key of ['depth', 'depthV', ...k.batch.map((_, i) => `batch.${i}`)]) extentJs(k, key, 0, false);
  const [queries, keys] = [extentJs(k, 'queries', k.queries), extentJs(k, 'keys', k.keys)];
  const scores = new JsExprs({ idx: [...k.batch, k.queries, k.keys], ridx: [] }, rowNames(nb, 'j'));
  const rows = new JsExprs({ idx: [...k.batch, k.queries, k.depth], ridx: [] }, rowNames(nb, 'c'));
  const keyRows = new JsExprs({ idx: [...k.batch, k.keys, Math.max(k.depth, k.depthV)], ridx: [] }, { idx: (axis) => (axis < nb ? `c${axis}` : axis === nb ? 'j' : 'c'), ridx: DEFAULT_NAMES.ridx });
  w.line(`const dq = scratch(0, ${k.depth});`);
  w.line(`const dk = scratch(1, ${k.keys * k.depth});`);
  w.line(`const dv = scratch(2, ${k.keys * k.depthV});`);
  loops(w, k.batch, DEFAULT_NAMES.idx, () => {
    bases(w, [['qb', k.q], ['kb', k.k], ['vb', k.v], ['gb', k.dout]]);
    w.line(`dk.fill(0, 0, ${k.keys * k.depth});`);
    w.line(`dv.fill(0, 0, ${k.keys * k.depthV});`);
    w.block(`for (let i = 0; i < ${queries}; i++) {`, () => {
      const r = rows.open(w, [k.lse, k.delta, ...(k.keyRange ? [k.keyRange.from, k.keyRange.to] : [])]);
      w.line(`const lse = ${r.render(k.lse)}, delta = ${r.render(k.delta)};`);
      w.line(`dq.fill(0, 0, ${k.depth});`);
      // A packed stream's row: its own sequence's keys only (the others' probabilities are 0).
      const [from, to] = k.keyRange ? [r.render(k.keyRange.from), r.render(k.keyRange.to)] : ['0', keys];
      w.block(`for (let j = ${from}; j < ${to}; j++) {`, () => {
        dot(w, 'acc', k.depth, at(k.q, 'qb', 'i', 'p'), at(k.k, 'kb', 'j', 'p'));
        const s = scores.open(w, [k.score, ...(k.keep ? [k.keep] : []), ...(k.dscores ? [k.dscores.index] : [])]);
        // A probability is at most 1: a row whose saved log-sum-exp is not over all its keys (a padding query of local
        // attention, whose forward visited only its window, all padding) must give 0 · finite, not 0 · ∞; its gradient is 0.
        w.line(`const prob = Math.exp(Math.min(${s.render(k.score)} - lse, 0));`);
        w.line(`const keep = ${k.keep ? s.render(k.keep) : '1'};`);
        w.line(`for (let c = 0; c < ${k.depthV}; c++) dv[j * ${k.depthV} + c] += prob * keep * ${at(k.dout, 'gb', 'i', 'c')};`);
        dot(w, 'dp', k.depthV, at(k.dout, 'gb', 'i', 'p'), at(k.v, 'vb', 'j', 'p'));
        w.line(`const ds = prob * (dp * keep - delta) * ${k.scale};`);
        if (k.dscores) w.line(`a${k.dscores.arg}[${s.render(k.dscores.index)}] = prob * (dp * keep - delta);`);
        w.block(`for (let c = 0; c < ${k.depth}; c++) {`, () => {
          w.line(`dq[c] += ds * ${at(k.k, 'kb', 'j', 'c')};`);
          w.line(`dk[j * ${k.depth} + c] += ds * ${at(k.q, 'qb', 'i', 'c')};`);
        });
      });
      const { dq } = k;
      if (dq) {
        w.block(`for (let c = 0; c < ${k.depth}; c++) {`, () => {
          const o = rows.open(w, [dq.index]);
          w.line(`a${dq.arg}[${o.render(dq.index)}] = dq[c];`);
        });
      }
    });
    const store = (p: Placement | undefined, width: number, from: string) => {
      if (!p) return;
      w.block(`for (let c = 0; c < ${width}; c++) {`, () => {
        const o = keyRows.open(w, [p.index]);
        w.line(`a${p.arg}[${o.render(p.index)}] = ${from}[j * ${width} + c];`);
      });
    };
    w.block(`for (let j = 0; j < ${keys}; j++) {`, () => {
      store(k.dk, k.depth, 'dk');
      store(k.dv, k.depthV, 'dv');
    });
  });
}
