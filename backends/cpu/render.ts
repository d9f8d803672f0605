// The CPU renderer: kernel IR → JavaScript. Each kernel becomes a function
// `(b0, b1, …, out, rt)` over typed arrays, with shapes and strides baked in
// as constants; loops are nested over the iteration space so that index
// arithmetic stays affine. Matmul picks a loop order from its operands'
// strides: dot products over contiguous rows (4×4 blocks of the result held in
// registers) or row updates over contiguous columns, accumulating in doubles.

import { CodeWriter } from '../common/writer.js';
import type { KExpr, Kernel, LossKernel, MapKernel, MatmulKernel, ReduceKernel, RowsKernel, ScatterKernel } from '../../compiler/lower/kernel.js';

const UNARY: Record<string, (x: string) => string> = {
  neg: (x) => `(-${x})`,
  exp: (x) => `Math.exp(${x})`,
  log: (x) => `Math.log(${x})`,
  sqrt: (x) => `Math.sqrt(${x})`,
  rsqrt: (x) => `(1 / Math.sqrt(${x}))`,
  tanh: (x) => `Math.tanh(${x})`,
  sigmoid: (x) => `(1 / (1 + Math.exp(-${x})))`,
  erf: (x) => `erf(${x})`,
  relu: (x) => `relu(${x})`,
  gelu: (x) => `gelu(${x})`,
  gelu_tanh: (x) => `geluTanh(${x})`,
  sin: (x) => `Math.sin(${x})`,
  cos: (x) => `Math.cos(${x})`,
};

const BINARY: Record<string, (a: string, b: string) => string> = {
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  mul: (a, b) => `(${a} * ${b})`,
  div: (a, b) => `(${a} / ${b})`,
  max: (a, b) => `maximum(${a}, ${b})`,
  min: (a, b) => `minimum(${a}, ${b})`,
  pow: (a, b) => `Math.pow(${a}, ${b})`,
  lt: (a, b) => `(${a} < ${b} ? 1 : 0)`,
  mod: (a, b) => `(${a} % ${b})`,
  idiv: (a, b) => `Math.floor(${a} / ${b})`,
  gelu_grad: (x, dy) => `(${dy} * geluGrad(${x}))`,
  gelu_tanh_grad: (x, dy) => `(${dy} * geluTanhGrad(${x}))`,
};

function literal(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return Object.is(value, -0) ? '-0' : String(value);
}

export function renderExpr(e: KExpr): string {
  switch (e.op) {
    case 'const': return literal(e.value);
    case 'idx': return `c${e.axis}`;
    case 'ridx': return 'r';
    case 'acc': return 'acc';
    case 'load': return `b${e.slot}[${renderExpr(e.index)}]`;
    case 'unary': return UNARY[e.fn]!(renderExpr(e.x));
    case 'binary': return BINARY[e.fn]!(renderExpr(e.a), renderExpr(e.b));
    case 'where': return `(${renderExpr(e.cond)} ? ${renderExpr(e.then)} : ${renderExpr(e.else)})`;
    case 'cast': return e.to === 'i32' ? `Math.trunc(${renderExpr(e.x)})` : renderExpr(e.x);
    case 'random': return `uniform01(rt.seed, ${e.stream}, rt.step, ${renderExpr(e.element)})`;
  }
}

/** Nested loops c0, c1, … over a shape; `body` runs innermost. */
function loops(w: CodeWriter, shape: readonly number[], body: () => void, axis = 0): void {
  if (axis === shape.length) return body();
  if (shape[axis] === 1) {
    w.line(`const c${axis} = 0;`);
    return loops(w, shape, body, axis + 1);
  }
  w.block(`for (let c${axis} = 0; c${axis} < ${shape[axis]}; c${axis}++) {`, () => loops(w, shape, body, axis + 1));
}

function renderMap(w: CodeWriter, k: MapKernel): void {
  w.line('let e = 0;');
  loops(w, k.shape, () => w.line(`out[e++] = ${renderExpr(k.expr)};`));
}

function renderReduce(w: CodeWriter, k: ReduceKernel): void {
  w.line('let e = 0;');
  loops(w, k.shape, () => {
    w.line(`let acc = ${k.combine === 'sum' ? '0' : '-Infinity'};`);
    w.block(`for (let r = 0; r < ${k.extent}; r++) {`, () => {
      w.line(`const v = ${renderExpr(k.expr)};`);
      w.line(k.combine === 'sum' ? 'acc += v;' : 'if (v > acc || v !== v) acc = v;');
    });
    w.line(`out[e++] = ${renderExpr(k.finish)};`);
  });
}

function renderRows(w: CodeWriter, k: RowsKernel): void {
  const at = (i: string) => (k.inner === 1 ? `base + ${i}` : `base + ${i} * ${k.inner}`);
  w.block(`for (let o = 0; o < ${k.outer}; o++) {`, () => {
    w.block(`for (let i = 0; i < ${k.inner}; i++) {`, () => {
      w.line(`const base = o * ${k.size * k.inner} + i;`);
      if (k.fn === 'layer_norm_dx') {
        // b0 = x, b1 = gamma, b2 = dy: dx = inv · (g·dy − mean(g·dy) − x̂·mean(g·dy·x̂))
        w.line('let mean = 0;');
        w.line(`for (let j = 0; j < ${k.size}; j++) mean += b0[${at('j')}];`);
        w.line(`mean /= ${k.size};`);
        w.line('let variance = 0;');
        w.line(`for (let j = 0; j < ${k.size}; j++) { const d = b0[${at('j')}] - mean; variance += d * d; }`);
        w.line(`const inv = 1 / Math.sqrt(variance / ${k.size} + ${literal(k.eps)});`);
        w.line('let meanG = 0, meanGX = 0;');
        w.line(`for (let j = 0; j < ${k.size}; j++) { const g = b1[j] * b2[${at('j')}]; meanG += g; meanGX += g * (b0[${at('j')}] - mean) * inv; }`);
        w.line(`meanG /= ${k.size}; meanGX /= ${k.size};`);
        w.line(`for (let j = 0; j < ${k.size}; j++) out[${at('j')}] = inv * (b1[j] * b2[${at('j')}] - meanG - (b0[${at('j')}] - mean) * inv * meanGX);`);
        return;
      }
      if (k.fn === 'layer_norm') {
        w.line('let mean = 0;');
        w.line(`for (let j = 0; j < ${k.size}; j++) mean += b0[${at('j')}];`);
        w.line(`mean /= ${k.size};`);
        w.line('let variance = 0;');
        w.block(`for (let j = 0; j < ${k.size}; j++) {`, () => {
          w.line(`const d = b0[${at('j')}] - mean;`);
          w.line('variance += d * d;');
        });
        w.line(`const inv = 1 / Math.sqrt(variance / ${k.size} + ${literal(k.eps)});`);
        w.line(`for (let j = 0; j < ${k.size}; j++) out[${at('j')}] = (b0[${at('j')}] - mean) * inv * b1[j] + b2[j];`);
        return;
      }
      w.line('let max = -Infinity;');
      w.line(`for (let j = 0; j < ${k.size}; j++) max = maximum(max, b0[${at('j')}]);`);
      w.line('let sum = 0;');
      w.line(`for (let j = 0; j < ${k.size}; j++) sum += Math.exp(b0[${at('j')}] - max);`);
      const value = k.fn === 'softmax' ? `Math.exp(b0[${at('j')}] - max) / sum` : `b0[${at('j')}] - max - logSum`;
      if (k.fn === 'log_softmax') w.line('const logSum = Math.log(sum);');
      w.line(`for (let j = 0; j < ${k.size}; j++) out[${at('j')}] = ${value};`);
    });
  });
}

/** Offsets of one batch of A, B and C from the batch loop counters. */
function batchOffsets(k: MatmulKernel): { a: string; b: string; c: string } {
  const sum = (strides: readonly number[]) => strides.map((s, d) => (s ? `c${d} * ${s}` : '')).filter(Boolean).join(' + ') || '0';
  const cStrides = k.batch.map((_, d) => k.batch.slice(d + 1).reduce((p, x) => p * x, k.m * k.n));
  return { a: sum(k.a.batchStrides), b: sum(k.b.batchStrides), c: sum(cStrides) };
}

function renderMatmul(w: CodeWriter, k: MatmulKernel): void {
  const { m, n, k: depth, a, b } = k;
  const offsets = batchOffsets(k);
  const dotForm = a.colStride === 1 && b.rowStride === 1;
  const rowForm = !dotForm && b.colStride === 1;
  if (rowForm) w.line(`const acc = new Float64Array(${n});`);
  loops(w, k.batch, () => {
    w.line(`const aOff = ${offsets.a}, bOff = ${offsets.b}, cOff = ${offsets.c};`);
    if (dotForm) {
      // C[i, j] = A[i, :] · B[:, j], both contiguous along k. A 4×4 block of C
      // per pass: 8 loads feed 16 multiply-adds, kept in registers.
      const tile = (rows: number, cols: number) => {
        const is = Array.from({ length: rows }, (_, r) => r);
        const js = Array.from({ length: cols }, (_, c) => c);
        w.line(`const ${is.map((r) => `a${r} = aOff + (i + ${r}) * ${a.rowStride}`).join(', ')};`);
        w.line(`const ${js.map((c) => `q${c} = bOff + (j + ${c}) * ${b.colStride}`).join(', ')};`);
        w.line(`let ${is.flatMap((r) => js.map((c) => `s${r}${c} = 0`)).join(', ')};`);
        w.block(`for (let p = 0; p < ${depth}; p++) {`, () => {
          w.line(`const ${is.map((r) => `x${r} = b0[a${r} + p]`).join(', ')};`);
          w.line(`const ${js.map((c) => `y${c} = b1[q${c} + p]`).join(', ')};`);
          w.line(is.flatMap((r) => js.map((c) => `s${r}${c} += x${r} * y${c};`)).join(' '));
        });
        for (const r of is) w.line(js.map((c) => `out[cOff + (i + ${r}) * ${n} + j + ${c}] = s${r}${c};`).join(' '));
      };
      // Full 4×4 blocks, then the columns left over (4×1), then the rows left over (1×1).
      const rowsMain = m - (m % 4);
      const colsMain = n - (n % 4);
      const loop = (i: string, j: string, rows: number, cols: number) => w.block(`for (${i}) {`, () => w.block(`for (${j}) {`, () => tile(rows, cols)));
      if (rowsMain && colsMain) loop(`let i = 0; i < ${rowsMain}; i += 4`, `let j = 0; j < ${colsMain}; j += 4`, 4, 4);
      if (rowsMain && colsMain < n) loop(`let i = 0; i < ${rowsMain}; i += 4`, `let j = ${colsMain}; j < ${n}; j++`, 4, 1);
      if (rowsMain < m) loop(`let i = ${rowsMain}; i < ${m}; i++`, `let j = 0; j < ${n}; j++`, 1, 1);
    } else if (rowForm) {
      // C[i, :] = Σ_p A[i, p] · B[p, :], B contiguous along n.
      w.block(`for (let i = 0; i < ${m}; i++) {`, () => {
        w.line('acc.fill(0);');
        w.block(`for (let p = 0; p < ${depth}; p++) {`, () => {
          w.line(`const av = b0[aOff + i * ${a.rowStride} + p * ${a.colStride}];`);
          w.line(`const bp = bOff + p * ${b.rowStride};`);
          w.line(`for (let j = 0; j < ${n}; j++) acc[j] += av * b1[bp + j];`);
        });
        w.line(`out.set(acc, cOff + i * ${n});`);
      });
    } else {
      w.block(`for (let i = 0; i < ${m}; i++) {`, () => {
        w.block(`for (let j = 0; j < ${n}; j++) {`, () => {
          w.line('let s = 0;');
          w.line(`for (let p = 0; p < ${depth}; p++) s += b0[aOff + i * ${a.rowStride} + p * ${a.colStride}] * b1[bOff + p * ${b.rowStride} + j * ${b.colStride}];`);
          w.line(`out[cOff + i * ${n} + j] = s;`);
        });
      });
    }
  });
}

function renderScatter(w: CodeWriter, k: ScatterKernel): void {
  w.line('out.fill(0);');
  w.block(`for (let i = 0; i < ${k.count}; i++) {`, () => {
    w.line(`const row = b0[i] * ${k.rowSize}, from = i * ${k.rowSize};`);
    w.line(`for (let j = 0; j < ${k.rowSize}; j++) out[row + j] += b1[from + j];`);
  });
}

/** b0 = logits [rows, classes], b1 = labels [rows], b2 = dloss (gradient only). */
function renderLoss(w: CodeWriter, k: LossKernel): void {
  const { rows, classes, ignoreIndex } = k;
  w.line('let count = 0;');
  w.line(`for (let r = 0; r < ${rows}; r++) if (b1[r] !== ${ignoreIndex}) count++;`);
  if (k.fn === 'cross_entropy_grad') w.line('out.fill(0);');
  w.line('let total = 0;');
  w.block(`for (let r = 0; r < ${rows}; r++) {`, () => {
    w.line(`const label = b1[r];`);
    w.line(`if (label === ${ignoreIndex}) continue;`);
    w.line(`const base = r * ${classes};`);
    if (k.fn === 'accuracy') {
      w.line('let best = 0;');
      w.line(`for (let c = 1; c < ${classes}; c++) if (b0[base + c] > b0[base + best]) best = c;`);
      w.line('if (best === label) total++;');
      return;
    }
    w.line('let max = -Infinity;');
    w.line(`for (let c = 0; c < ${classes}; c++) max = maximum(max, b0[base + c]);`);
    w.line('let sum = 0;');
    w.line(`for (let c = 0; c < ${classes}; c++) sum += Math.exp(b0[base + c] - max);`);
    w.line('const lse = max + Math.log(sum);');
    if (k.fn === 'cross_entropy') w.line('total += lse - b0[base + label];');
    else {
      w.line('const scale = b2[0] / count;');
      w.line(`for (let c = 0; c < ${classes}; c++) out[base + c] = (Math.exp(b0[base + c] - lse) - (c === label ? 1 : 0)) * scale;`);
    }
  });
  if (k.fn !== 'cross_entropy_grad') w.line('out[0] = count ? total / count : 0;');
}

export function renderKernelJs(k: Kernel): string {
  const w = new CodeWriter();
  const params = [...k.inputs.map((_, i) => `b${i}`), 'out', 'rt'].join(', ');
  w.block(`kernels[${JSON.stringify(k.name)}] = function (${params}) { // ${k.label || k.kind}`, () => {
    if (k.kind === 'map') renderMap(w, k);
    else if (k.kind === 'reduce') renderReduce(w, k);
    else if (k.kind === 'rows') renderRows(w, k);
    else if (k.kind === 'scatter') renderScatter(w, k);
    else if (k.kind === 'loss') renderLoss(w, k);
    else renderMatmul(w, k);
  }, '};');
  return w.toString();
}

/** The whole kernels.js of a program: run as `new Function('kernels', 'helpers', source)`. */
export function renderProgramJs(kernels: readonly Kernel[], title: string): string {
  const head = [
    `// Generated by tcc: CPU kernels of ${title}. Do not edit.`,
    "'use strict';",
    'const { erf, gelu, geluTanh, geluGrad, geluTanhGrad, relu, maximum, minimum, uniform01 } = helpers;',
    '',
  ].join('\n');
  return head + kernels.map(renderKernelJs).join('\n');
}
