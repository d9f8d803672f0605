// Fused attention in WGSL, FlashAttention's way: scores never reach memory.
//
// Forward: a workgroup holds 64 query rows of one batch entry, an
// invocation per row, q and the output accumulator in private arrays. Keys
// and values are staged through workgroup memory a tile of KT rows at a
// time; each invocation folds the tile into its row with an online softmax
// (a new maximum rescales what has been accumulated). The row's log-sum-exp
// is stored for the backward pass.
//
// Backward, two passes: `dq` (an invocation per query row, keys and values
// staged as in the forward) and `dkv` (an invocation per key row, queries,
// output gradients and the rows' saved statistics staged). Both recompute
// each probability from the saved log-sum-exp: p = exp(min(score − lse, 0)); with
// D = Σ dO·O per row, ds = p · (dO·v · keep − D) · scale.

import type { CodeWriter } from '../common/writer.js';
import { type AttentionGradKernel, type AttentionKernel, type KExpr, type Operand } from '../../kernel/ir.js';
import { literal, WgslExprs } from './expr.js';
import { extentWgsl, KernelModule, MAX_GROUPS, ROW_GROUP, sizedBy, type WgslKernel } from './module.js';

type Dims = { batch: readonly number[]; queries: number; keys: number; depth: number; depthV: number };

/** Rows staged per tile so that the tiles fit 16 KiB of workgroup memory. */
function tileRows(width: number): number {
  return Math.max(1, Math.min(16, Math.floor(3840 / width)));
}

const batchParams = (d: Dims) => d.batch.map((_, i) => `z${i}: i32, `).join('');
const batchArgs = (d: Dims) => d.batch.map((_, i) => `z${i}, `).join('');

function batchCoordinates(w: CodeWriter, d: Dims): void {
  const count = d.batch.reduce((a, x) => a * x, 1);
  if (count > MAX_GROUPS) throw new RangeError(`attention over ${count} matrices exceeds a dispatch`);
  w.line('let zb = i32(wid.z);');
  let inner = count;
  d.batch.forEach((size, axis) => {
    inner /= size;
    const q = inner === 1 ? 'zb' : `(zb / ${inner}i)`;
    w.line(`let z${axis} = ${axis === 0 ? q : `${q} % ${size}i`};`);
  });
}

/** `fn NAME(z…, row, col) -> f32`: an operand's element. */
function operandFunction(w: CodeWriter, mod: KernelModule, d: Dims, name: string, o: Operand, rows: number, cols: number): void {
  const nb = d.batch.length;
  const scope = new WgslExprs({ idx: [...d.batch, rows, cols], ridx: [] }, mod.names((axis) => (axis < nb ? `z${axis}` : axis === nb ? 'row' : 'col')));
  w.block(`fn ${name}(${batchParams(d)}row: i32, col: i32) -> f32 {`, () => w.line(`return ${scope.open(w, [o.value]).render(o.value)};`));
}

/** `fn NAME(z…, i, j[, acc]) -> f32`: an expression over (b…, i, j) or (b…, i); the score takes q·k as acc. */
function pointFunction(w: CodeWriter, mod: KernelModule, d: Dims, name: string, e: KExpr, params: readonly string[], extents: readonly number[], withAcc = false): void {
  const nb = d.batch.length;
  const scope = new WgslExprs({ idx: [...d.batch, ...extents], ridx: [] }, mod.names((axis) => (axis < nb ? `z${axis}` : params[axis - nb]!)));
  const list = [...params.map((p) => `${p}: i32`), ...(withAcc ? ['acc: f32'] : [])];
  w.block(`fn ${name}(${batchParams(d)}${list.join(', ')}) -> f32 {`, () => w.line(`return ${scope.open(w, [e]).render(e)};`));
}

/** `fn place_NAME(z…, i, c) -> i32`: where a tensor's element goes. */
function placeFunction(w: CodeWriter, mod: KernelModule, d: Dims, name: string, index: KExpr, params: readonly string[], extents: readonly number[]): void {
  const nb = d.batch.length;
  const scope = new WgslExprs({ idx: [...d.batch, ...extents], ridx: [] }, mod.names((axis) => (axis < nb ? `z${axis}` : params[axis - nb]!)));
  w.block(`fn place_${name}(${batchParams(d)}${params.map((p) => `${p}: i32`).join(', ')}) -> i32 {`, () => w.line(`return ${scope.open(w, [index]).render(index)};`));
}

/** Cooperative copy of `count` rows × `width` of an operand into workgroup memory `into[r * width + c]`, rows below `limit` (a WGSL i32). */
function stage(w: CodeWriter, d: Dims, into: string, fn: string, first: string, count: number, limit: string, width: number): void {
  w.block(`for (var e = i32(lid); e < ${count * width}i; e += ${ROW_GROUP}i) {`, () => {
    w.line(`let r = e / ${width}i;`);
    w.line(`let c = e % ${width}i;`);
    w.line(`var v = 0.0f;`);
    w.line(`if (${first} + r < ${limit}) { v = ${fn}(${batchArgs(d)}${first} + r, c); }`);
    w.line(`${into}[e] = v;`);
  });
}

/** `fn NAME(z…, i) -> i32`: a bound of query row i's keys (keyRange). */
function rowBoundFunction(w: CodeWriter, mod: KernelModule, d: Dims, name: string, e: KExpr): void {
  const nb = d.batch.length;
  const scope = new WgslExprs({ idx: [...d.batch, d.queries], ridx: [] }, mod.names((axis) => (axis < nb ? `z${axis}` : 'i')));
  w.block(`fn ${name}(${batchParams(d)}i: i32) -> i32 {`, () => w.line(`return ${scope.open(w, [e]).render(e)};`));
}

/**
 * `j_lo`, `j_hi`: the keys a workgroup's rows (from `first`) may count, from
 * its first row's range's start to its last row's end (both rise with the
 * row), made uniform through workgroup memory; else every key of the run.
 */
function keyBounds(w: CodeWriter, k: AttentionKernel | AttentionGradKernel, queries: string, keys: string): void {
  if (!k.keyRange) {
    w.line(`let j_lo = 0i; let j_hi = ${keys};`);
    return;
  }
  w.line(`if (lid == 0u) { key_lo = key_from(${batchArgs(k)}first); key_hi = key_to(${batchArgs(k)}min(first + ${ROW_GROUP - 1}i, ${queries} - 1i)); }`);
  w.line('let j_lo = workgroupUniformLoad(&key_lo);');
  w.line('let j_hi = workgroupUniformLoad(&key_hi);');
}

export function renderAttention(k: AttentionKernel): WgslKernel {
  const mod = new KernelModule(k);
  const { w } = mod;
  for (const key of ['depth', 'depthV', ...k.batch.map((_, i) => `batch.${i}`)]) extentWgsl(k, key, 0, false);
  // The run's queries and keys where they are a packed stream's tokens; the grid covers the most.
  const [queries, keys] = [extentWgsl(k, 'queries', k.queries), extentWgsl(k, 'keys', k.keys)];
  const kt = tileRows(k.depth + k.depthV);
  w.line(`var<workgroup> tk: array<f32, ${kt * k.depth}>;`);
  if (k.v) w.line(`var<workgroup> tv: array<f32, ${kt * k.depthV}>;`);
  operandFunction(w, mod, k, 'operand_q', k.q, k.queries, k.depth);
  operandFunction(w, mod, k, 'operand_k', k.k, k.keys, k.depth);
  if (k.v) operandFunction(w, mod, k, 'operand_v', k.v, k.keys, k.depthV);
  pointFunction(w, mod, k, 'score', k.score, ['i', 'j'], [k.queries, k.keys], true);
  if (k.keep) pointFunction(w, mod, k, 'keep', k.keep, ['i', 'j'], [k.queries, k.keys]);
  if (k.out) placeFunction(w, mod, k, 'out', k.out.index, ['i', 'c'], [k.queries, k.depthV]);
  if (k.lse) placeFunction(w, mod, k, 'lse', k.lse.index, ['i'], [k.queries]);
  if (k.keyRange) {
    rowBoundFunction(w, mod, k, 'key_from', k.keyRange.from);
    rowBoundFunction(w, mod, k, 'key_to', k.keyRange.to);
    w.line('var<workgroup> key_lo: i32;');
    w.line('var<workgroup> key_hi: i32;');
  }
  const workgroups: [number, number, number] = [Math.ceil(k.queries / ROW_GROUP), 1, k.batch.reduce((a, x) => a * x, 1)];
  w.line('');
  w.line(`@compute @workgroup_size(${ROW_GROUP})`);
  w.block('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {', () => {
    batchCoordinates(w, k);
    w.line(`let first = i32(wid.x) * ${ROW_GROUP}i;`);
    if (k.runtime?.['queries']) w.line(`if (first >= ${queries}) { return; }`);
    w.line(`let i = first + i32(lid);`);
    w.line(`let live = i < ${queries};`);
    keyBounds(w, k, queries, keys);
    w.line(`var q: array<f32, ${k.depth}>;`);
    if (k.v) w.line(`var o: array<f32, ${k.depthV}>;`);
    w.line(`if (live) { for (var p = 0i; p < ${k.depth}i; p++) { q[p] = operand_q(${batchArgs(k)}i, p); } }`);
    w.line('var top = special_f32(1u);');
    w.line('var sum = 0.0f;');
    w.block(`for (var j0 = j_lo; j0 < j_hi; j0 += ${kt}i) {`, () => {
      stage(w, k, 'tk', 'operand_k', 'j0', kt, 'j_hi', k.depth);
      if (k.v) stage(w, k, 'tv', 'operand_v', 'j0', kt, 'j_hi', k.depthV);
      w.line('workgroupBarrier();');
      w.block(`if (live) {`, () => {
        w.block(`for (var jj = 0i; jj < ${kt}i && j0 + jj < j_hi; jj++) {`, () => {
          w.line('let j = j0 + jj;');
          w.line('var acc = 0.0f;');
          w.line(`for (var p = 0i; p < ${k.depth}i; p++) { acc += q[p] * tk[jj * ${k.depth}i + p]; }`);
          w.line(`let s = score(${batchArgs(k)}i, j, acc);`);
          w.block('if (s > top) {', () => {
            w.line('let f = exp(top - s);');
            w.line('sum = sum * f;');
            if (k.v) w.line(`for (var c = 0i; c < ${k.depthV}i; c++) { o[c] = o[c] * f; }`);
            w.line('top = s;');
          });
          w.line('let e = exp(s - top);');
          w.line('sum += e;');
          if (k.v) {
            w.line(`let pk = ${k.keep ? `e * keep(${batchArgs(k)}i, j)` : 'e'};`);
            w.line(`for (var c = 0i; c < ${k.depthV}i; c++) { o[c] += pk * tv[jj * ${k.depthV}i + c]; }`);
          }
        });
      });
      w.line('workgroupBarrier();');
    });
    w.block('if (live) {', () => {
      if (k.out) w.line(`for (var c = 0i; c < ${k.depthV}i; c++) { a${k.out.arg}[place_out(${batchArgs(k)}i, c)] = o[c] / sum; }`);
      if (k.lse) w.line(`a${k.lse.arg}[place_lse(${batchArgs(k)}i)] = top + log(sum);`);
    });
  });
  return mod.finish([{ entry: 'main', workgroups, ...sizedBy(k, 'queries', 0, ROW_GROUP) }]);
}

export function renderAttentionGrad(k: AttentionGradKernel): WgslKernel {
  for (const key of ['depth', 'depthV', ...k.batch.map((_, i) => `batch.${i}`)]) extentWgsl(k, key, 0, false);
  // The run's queries and keys where they are a packed stream's tokens; the grid covers the most.
  const [queries, keys] = [extentWgsl(k, 'queries', k.queries), extentWgsl(k, 'keys', k.keys)];
  const mod = new KernelModule(k);
  const { w } = mod;
  const kt = tileRows(k.depth + k.depthV);
  const qt = tileRows(k.depth + k.depthV + 2);
  w.line(`var<workgroup> tk: array<f32, ${Math.max(kt * k.depth, qt * k.depth)}>;`);
  w.line(`var<workgroup> tv: array<f32, ${Math.max(kt * k.depthV, qt * k.depthV)}>;`);
  w.line(`var<workgroup> tstat: array<f32, ${2 * qt}>;`);
  operandFunction(w, mod, k, 'operand_q', k.q, k.queries, k.depth);
  operandFunction(w, mod, k, 'operand_k', k.k, k.keys, k.depth);
  operandFunction(w, mod, k, 'operand_v', k.v, k.keys, k.depthV);
  operandFunction(w, mod, k, 'operand_g', k.dout, k.queries, k.depthV);
  pointFunction(w, mod, k, 'score', k.score, ['i', 'j'], [k.queries, k.keys], true);
  if (k.keep) pointFunction(w, mod, k, 'keep', k.keep, ['i', 'j'], [k.queries, k.keys]);
  pointFunction(w, mod, k, 'row_lse', k.lse, ['i'], [k.queries]);
  pointFunction(w, mod, k, 'row_delta', k.delta, ['i'], [k.queries]);
  if (k.dq) placeFunction(w, mod, k, 'dq', k.dq.index, ['i', 'c'], [k.queries, k.depth]);
  if (k.dscores) placeFunction(w, mod, k, 'dscores', k.dscores.index, ['i', 'j'], [k.queries, k.keys]);
  if (k.dk) placeFunction(w, mod, k, 'dk', k.dk.index, ['j', 'c'], [k.keys, k.depth]);
  if (k.dv) placeFunction(w, mod, k, 'dv', k.dv.index, ['j', 'c'], [k.keys, k.depthV]);
  if (k.keyRange && (k.dq || k.dscores)) {
    rowBoundFunction(w, mod, k, 'key_from', k.keyRange.from);
    rowBoundFunction(w, mod, k, 'key_to', k.keyRange.to);
    w.line('var<workgroup> key_lo: i32;');
    w.line('var<workgroup> key_hi: i32;');
  }
  const keep = (i: string, j: string) => (k.keep ? `keep(${batchArgs(k)}${i}, ${j})` : '1.0f');
  const batches = k.batch.reduce((a, x) => a * x, 1);
  w.line('');
  if (k.dq || k.dscores) {
    w.line('// Pass 1: dq (and the scores\' gradient), an invocation per query row; keys and values staged.');
    w.line(`@compute @workgroup_size(${ROW_GROUP})`);
    w.block('fn dq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {', () => {
      batchCoordinates(w, k);
      w.line(`let first = i32(wid.x) * ${ROW_GROUP}i;`);
      if (k.runtime?.['queries']) w.line(`if (first >= ${queries}) { return; }`);
      w.line('let i = first + i32(lid);');
      w.line(`let live = i < ${queries};`);
      keyBounds(w, k, queries, keys);
      w.line(`var q: array<f32, ${k.depth}>;`);
      w.line(`var g: array<f32, ${k.depthV}>;`);
      w.line(`var dq: array<f32, ${k.depth}>;`);
      w.line('var lse = 0.0f;');
      w.line('var delta = 0.0f;');
      w.block('if (live) {', () => {
        w.line(`for (var p = 0i; p < ${k.depth}i; p++) { q[p] = operand_q(${batchArgs(k)}i, p); }`);
        w.line(`for (var c = 0i; c < ${k.depthV}i; c++) { g[c] = operand_g(${batchArgs(k)}i, c); }`);
        w.line(`lse = row_lse(${batchArgs(k)}i);`);
        w.line(`delta = row_delta(${batchArgs(k)}i);`);
      });
      w.block(`for (var j0 = j_lo; j0 < j_hi; j0 += ${kt}i) {`, () => {
        stage(w, k, 'tk', 'operand_k', 'j0', kt, 'j_hi', k.depth);
        stage(w, k, 'tv', 'operand_v', 'j0', kt, 'j_hi', k.depthV);
        w.line('workgroupBarrier();');
        w.block('if (live) {', () => {
          w.block(`for (var jj = 0i; jj < ${kt}i && j0 + jj < j_hi; jj++) {`, () => {
            w.line('let j = j0 + jj;');
            w.line('var acc = 0.0f;');
            w.line(`for (var p = 0i; p < ${k.depth}i; p++) { acc += q[p] * tk[jj * ${k.depth}i + p]; }`);
            // At most 1 (see the JavaScript backend's attention_grad).
            w.line(`let prob = exp(min(score(${batchArgs(k)}i, j, acc) - lse, 0.0));`);
            w.line('var dp = 0.0f;');
            w.line(`for (var c = 0i; c < ${k.depthV}i; c++) { dp += g[c] * tv[jj * ${k.depthV}i + c]; }`);
            w.line(`let ds = prob * (dp * ${keep('i', 'j')} - delta) * ${literal(k.scale, 'f32')};`);
            if (k.dscores) w.line(`a${k.dscores.arg}[place_dscores(${batchArgs(k)}i, j)] = prob * (dp * ${keep('i', 'j')} - delta);`);
            w.line(`for (var p = 0i; p < ${k.depth}i; p++) { dq[p] += ds * tk[jj * ${k.depth}i + p]; }`);
          });
        });
        w.line('workgroupBarrier();');
      });
      if (k.dq) w.line(`if (live) { for (var p = 0i; p < ${k.depth}i; p++) { a${k.dq.arg}[place_dq(${batchArgs(k)}i, p)] = dq[p]; } }`);
    });
  }
  if (k.dk || k.dv) {
    w.line('');
    w.line('// Pass 2: dk and dv, an invocation per key row; queries, output gradients and row statistics staged.');
    w.line(`@compute @workgroup_size(${ROW_GROUP})`);
    w.block('fn dkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {', () => {
      batchCoordinates(w, k);
      w.line(`let first = i32(wid.x) * ${ROW_GROUP}i;`);
      if (k.runtime?.['keys']) w.line(`if (first >= ${keys}) { return; }`);
      w.line('let j = first + i32(lid);');
      w.line(`let live = j < ${keys};`);
      // Every query of the run (a packed stream's other sequences score −1e30: probability 0).
      w.line(`var kr: array<f32, ${k.depth}>;`);
      w.line(`var vr: array<f32, ${k.depthV}>;`);
      w.line(`var dk: array<f32, ${k.depth}>;`);
      w.line(`var dv: array<f32, ${k.depthV}>;`);
      w.block('if (live) {', () => {
        w.line(`for (var p = 0i; p < ${k.depth}i; p++) { kr[p] = operand_k(${batchArgs(k)}j, p); }`);
        w.line(`for (var c = 0i; c < ${k.depthV}i; c++) { vr[c] = operand_v(${batchArgs(k)}j, c); }`);
      });
      w.block(`for (var i0 = 0i; i0 < ${queries}; i0 += ${qt}i) {`, () => {
        stage(w, k, 'tk', 'operand_q', 'i0', qt, queries, k.depth);
        stage(w, k, 'tv', 'operand_g', 'i0', qt, queries, k.depthV);
        w.block(`if (i32(lid) < ${qt}i && i0 + i32(lid) < ${queries}) {`, () => {
          w.line(`tstat[lid] = row_lse(${batchArgs(k)}i0 + i32(lid));`);
          w.line(`tstat[${qt}u + lid] = row_delta(${batchArgs(k)}i0 + i32(lid));`);
        });
        w.line('workgroupBarrier();');
        w.block('if (live) {', () => {
          w.block(`for (var ii = 0i; ii < ${qt}i && i0 + ii < ${queries}; ii++) {`, () => {
            w.line('let i = i0 + ii;');
            w.line('var acc = 0.0f;');
            w.line(`for (var p = 0i; p < ${k.depth}i; p++) { acc += tk[ii * ${k.depth}i + p] * kr[p]; }`);
            w.line(`let prob = exp(min(score(${batchArgs(k)}i, j, acc) - tstat[ii], 0.0));`);
            w.line(`let kept = ${keep('i', 'j')};`);
            w.line('var dp = 0.0f;');
            w.line(`for (var c = 0i; c < ${k.depthV}i; c++) { dp += tv[ii * ${k.depthV}i + c] * vr[c]; dv[c] += prob * kept * tv[ii * ${k.depthV}i + c]; }`);
            w.line(`let ds = prob * (dp * kept - tstat[${qt}i + ii]) * ${literal(k.scale, 'f32')};`);
            w.line(`for (var p = 0i; p < ${k.depth}i; p++) { dk[p] += ds * tk[ii * ${k.depth}i + p]; }`);
          });
        });
        w.line('workgroupBarrier();');
      });
      w.block('if (live) {', () => {
        if (k.dk) w.line(`for (var p = 0i; p < ${k.depth}i; p++) { a${k.dk.arg}[place_dk(${batchArgs(k)}j, p)] = dk[p]; }`);
        if (k.dv) w.line(`for (var c = 0i; c < ${k.depthV}i; c++) { a${k.dv.arg}[place_dv(${batchArgs(k)}j, c)] = dv[c]; }`);
      });
    });
  }
  return mod.finish([
    ...(k.dq || k.dscores ? [{ entry: 'dq', workgroups: [Math.ceil(k.queries / ROW_GROUP), 1, batches] as [number, number, number], ...sizedBy(k, 'queries', 0, ROW_GROUP) }] : []),
    ...(k.dk || k.dv ? [{ entry: 'dkv', workgroups: [Math.ceil(k.keys / ROW_GROUP), 1, batches] as [number, number, number], ...sizedBy(k, 'keys', 0, ROW_GROUP) }] : []),
  ]);
}
