// The CPU renderer: kernel IR → JavaScript. Each distinct kernel (by its
// structural key) becomes one function `(a0, a1, …, rt, streams)` over typed
// arrays, one per arg, with shapes and strides baked in as constants;
// kernels that differ only in their buffers and random streams (the layers
// of a model) share it.
//
//   map      nested loops over the space, a store per point (in order, so
//            an ordered map needs nothing more)
//   reduce   per outer point: each stage a loop over the reduced space (or a
//            local for `let`), then the stores and the element stores
//   matmul   per batch: operands read where they are when contiguous along
//            k, else packed (with their prologue applied) into scratch
//            arrays; 4×4 blocks of dot products in doubles; the epilogue per
//            element

import { CodeWriter, commentText } from '../common/writer.js';
import type { Kernel, MapKernel, MatmulKernel, Operand, ReduceKernel, Space, Store } from '../../kernel/ir.js';
import { viewBase } from '../common/expr-scope.js';
import { DEFAULT_NAMES, extentJs, extentsJs, JsExprs, loops, type Names } from './expr.js';
import { renderAttention, renderAttentionGrad } from './attention.js';

function emitStores(w: CodeWriter, scope: JsExprs, stores: readonly Store[]): void {
  const inner = scope.open(w, stores.flatMap((s) => [s.index, s.value]));
  for (const s of stores) w.line(`a${s.arg}[${inner.render(s.index)}] = ${inner.render(s.value)};`);
}

function renderMap(w: CodeWriter, k: MapKernel): void {
  const scope = new JsExprs({ idx: k.shape, ridx: [] });
  loops(w, k.shape, DEFAULT_NAMES.idx, () => emitStores(w, scope, k.stores), extentsJs(k, 'shape', k.shape));
}

function renderReduce(w: CodeWriter, k: ReduceKernel): void {
  const scope = new JsExprs({ idx: k.shape, ridx: k.reduced });
  const reduced = extentsJs(k, 'reduced', k.reduced);
  loops(w, k.shape, DEFAULT_NAMES.idx, () => {
    k.stages.forEach((stage, i) => {
      if (stage.combine === 'let') {
        w.line(`const v${i} = ${scope.open(w, [stage.value]).render(stage.value)};`);
        return;
      }
      w.line(`let v${i} = ${stage.combine === 'sum' ? '0' : '-Infinity'};`);
      loops(w, k.reduced, DEFAULT_NAMES.ridx, () => {
        const x = scope.open(w, [stage.value]).render(stage.value);
        if (stage.combine === 'sum') w.line(`v${i} += ${x};`);
        else {
          w.line(`const x = ${x};`);
          w.line(`if (x > v${i} || x !== x) v${i} = x;`);
        }
      }, reduced);
    });
    if (k.stores.length) emitStores(w, scope, k.stores);
    if (k.elementStores.length) loops(w, k.reduced, DEFAULT_NAMES.ridx, () => emitStores(w, scope, k.elementStores), reduced);
  }, extentsJs(k, 'shape', k.shape));
}

/**
 * How the inner loop reads an operand: rows of `k` contiguous values, either
 * in place (a view contiguous along k) or packed into scratch `which`.
 */
function readOperand(w: CodeWriter, k: MatmulKernel, o: Operand, side: 'a' | 'b'): { array: string; base: string; stride: number } {
  const outer = side === 'a' ? extentJs(k, 'm', k.m) : k.n;
  const v = o.view;
  const alongK = side === 'a' ? v?.colStride : v?.rowStride;
  if (v && alongK === 1) return { array: `a${v.arg}`, base: `${side}Base`, stride: side === 'a' ? v.rowStride : v.colStride };
  // Pack: row o of the pack holds the operand's values along k for outer index o.
  const nb = k.batch.length;
  const names: Names = {
    idx: (axis) => (axis < nb ? `c${axis}` : axis === nb ? (side === 'a' ? 'po' : 'pk') : side === 'a' ? 'pk' : 'po'),
    ridx: DEFAULT_NAMES.ridx,
  };
  const space: Space = { idx: [...k.batch, side === 'a' ? k.m : k.k, side === 'a' ? k.k : k.n], ridx: [] };
  const scope = new JsExprs(space, names);
  w.block(`for (let po = 0; po < ${outer}; po++) {`, () => {
    w.block(`for (let pk = 0; pk < ${extentJs(k, 'k', k.k)}; pk++) {`, () => {
      const inner = scope.open(w, [o.value]);
      w.line(`pack${side.toUpperCase()}[po * ${k.k} + pk] = ${inner.render(o.value)};`);
    });
  });
  return { array: `pack${side.toUpperCase()}`, base: '0', stride: k.k };
}

function renderMatmul(w: CodeWriter, k: MatmulKernel): void {
  const nb = k.batch.length;
  // The rows and the depth may be a run's (a packed stream's tokens; a weight's gradient sums over them).
  for (const key of ['n', ...k.batch.map((_, i) => `batch.${i}`)]) extentJs(k, key, 0, false);
  const m = extentJs(k, 'm', k.m);
  if (k.runtime?.['m']) w.line(`const m = ${m}, rowsMain = m - m % 4;`);
  const packsA = !(k.a.view && k.a.view.colStride === 1);
  const packsB = !(k.b.view && k.b.view.rowStride === 1);
  if (packsA) w.line(`const packA = pack(0, ${k.m * k.k});`);
  if (packsB) w.line(`const packB = pack(1, ${k.k * k.n});`);
  // The epilogue: every store of one output element, from its coordinates and the accumulator.
  const names: Names = { idx: (axis) => (axis < nb ? `c${axis}` : axis === nb ? 'ei' : 'ej'), ridx: DEFAULT_NAMES.ridx };
  const params = [...k.batch.map((_, d) => `c${d}`), 'ei', 'ej', 'acc'].join(', ');
  w.block(`const epilogue = (${params}) => {`, () => {
    const scope = new JsExprs({ idx: [...k.batch, k.m, k.n], ridx: [] }, names);
    emitStores(w, scope, k.stores);
  }, '};');
  loops(w, k.batch, DEFAULT_NAMES.idx, () => {
    if (!packsA) w.line(`const aBase = ${viewBase(k.a)};`);
    if (!packsB) w.line(`const bBase = ${viewBase(k.b)};`);
    const A = readOperand(w, k, k.a, 'a');
    const B = readOperand(w, k, k.b, 'b');
    const batchArgs = k.batch.map((_, d) => `c${d}, `).join('');
    // C[i, j] = A[i, :] · B[:, j], both read along k. A 4×4 block of C per
    // pass: 8 loads feed 16 multiply-adds, kept in registers.
    const tile = (rows: number, cols: number) => {
      const is = Array.from({ length: rows }, (_, r) => r);
      const js = Array.from({ length: cols }, (_, c) => c);
      w.line(`const ${is.map((r) => `x${r} = ${A.base} + (i + ${r}) * ${A.stride}`).join(', ')};`);
      w.line(`const ${js.map((c) => `y${c} = ${B.base} + (j + ${c}) * ${B.stride}`).join(', ')};`);
      w.line(`let ${is.flatMap((r) => js.map((c) => `s${r}${c} = 0`)).join(', ')};`);
      w.block(`for (let p = 0; p < ${extentJs(k, 'k', k.k)}; p++) {`, () => {
        w.line(`const ${is.map((r) => `u${r} = ${A.array}[x${r} + p]`).join(', ')};`);
        w.line(`const ${js.map((c) => `q${c} = ${B.array}[y${c} + p]`).join(', ')};`);
        w.line(is.flatMap((r) => js.map((c) => `s${r}${c} += u${r} * q${c};`)).join(' '));
      });
      for (const r of is) w.line(js.map((c) => `epilogue(${batchArgs}i + ${r}, j + ${c}, s${r}${c});`).join(' '));
    };
    // Rows in fours, then one at a time (at run time where the rows are the run's).
    const dynamic = k.runtime?.['m'] !== undefined;
    const rowsMain = dynamic ? 'rowsMain' : String(k.m - (k.m % 4));
    const colsMain = k.n - (k.n % 4);
    const loop = (i: string, j: string, rows: number, cols: number) => w.block(`for (${i}) {`, () => w.block(`for (${j}) {`, () => tile(rows, cols)));
    const someRows = dynamic || rowsMain !== '0';
    if (someRows && colsMain) loop(`let i = 0; i < ${rowsMain}; i += 4`, `let j = 0; j < ${colsMain}; j += 4`, 4, 4);
    if (someRows && colsMain < k.n) loop(`let i = 0; i < ${rowsMain}; i += 4`, `let j = ${colsMain}; j < ${k.n}; j++`, 4, 1);
    if (dynamic || k.m % 4) loop(`let i = ${rowsMain}; i < ${m}; i++`, `let j = 0; j < ${k.n}; j++`, 1, 1);
  });
}

/** The JavaScript function body of a kernel: `(a0, a1, …, rt, streams) => void`, streams its random streams. */
export function renderKernelJs(k: Kernel, fn: string): string {
  const w = new CodeWriter();
  const params = [...k.args.map((_, i) => `a${i}`), 'rt', 'streams'].join(', ');
  w.block(`kernels[${JSON.stringify(fn)}] = function (${params}) { // ${k.kind} ${commentText(k.label)}`.trimEnd(), () => {
    switch (k.kind) {
      case 'map': return renderMap(w, k);
      case 'reduce': return renderReduce(w, k);
      case 'matmul': return renderMatmul(w, k);
      case 'attention': return renderAttention(w, k);
      case 'attention_grad': return renderAttentionGrad(w, k);
    }
  }, '};');
  return w.toString();
}

/** The whole kernels.js of a program: run as `new Function('kernels', 'helpers', source)`. */
export function renderProgramJs(kernels: readonly Kernel[], fns: readonly string[], title: string): string {
  const head = [
    `// Generated by tcc: CPU kernels of ${commentText(title)}. Do not edit.`,
    "'use strict';",
    'const { erf, gelu, geluTanh, geluGrad, geluTanhGrad, relu, maximum, minimum, uniform01, scratch, pack } = helpers;',
    '',
  ].join('\n');
  const seen = new Set<string>();
  const bodies: string[] = [];
  kernels.forEach((k, i) => {
    if (seen.has(fns[i]!)) return;
    seen.add(fns[i]!);
    bodies.push(renderKernelJs(k, fns[i]!));
  });
  return head + bodies.join('\n');
}
