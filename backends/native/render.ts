// The native renderer: kernel IR → one C translation unit per program. Each
// distinct kernel (by its structural key) becomes one function over typed
// pointers, one per arg, with shapes and strides baked in as constants, and
// the kernels that differ only in their buffers and random streams (the
// layers of a model) share it. A call table binds each kernel of the
// program, in order, to its ranges of the two memory regions; Node-API entry
// points run the table (napi.c).
//
//   map        the space's loops, the outer ones split across threads, the
//              innermost vectorized; an ordered map's ordered axes outside,
//              on one thread
//   reduce     per outer point (split across threads): each stage a loop
//              over the reduced space, sums accumulated in double; then the
//              stores and the element stores
//   matmul     per batch: both operands packed into register-tile panels
//              (their prologue expressions evaluated while packing; B's
//              panel by panel as threads reach them where A's rows make one
//              block; a row-major A of a product over k whole is read in
//              place), tiles of C split across threads, the micro-kernel in
//              registers, the epilogue stored per element of each tile as it
//              completes
//   attention  per (batch, query row), split across threads: the row's
//              scores in a local array, the softmax, and the value product,
//              so no [batch, heads, seq, seq] tensor is ever stored;
//              attention_grad: per batch, dq per row and dk, dv accumulated
//              in each thread's scratch
//
// Dropout's keep tests outside attention are drawn once per run, a byte per
// element (renderKeepTables), and the kernels read them.

import { CodeWriter, commentText } from '../common/writer.js';
import { extentText, viewBase } from '../common/expr-scope.js';
import { keepsPackedB, kernelExprs, kernelExtents, walkExpr, type AttentionGradKernel, type AttentionKernel, type Kernel, type KExpr, type MapKernel, type MatmulKernel, type Operand, type Placement, type ReduceKernel, type Store } from '../../kernel/ir.js';
import { tensorRange, type BufferRange, type Program, type ProgramBuffer } from '../../runtime/program.js';
import { cLiteral, CExprs, C_NAMES, C_TYPE, keepTable, keepTest, type CNames } from './expr.js';
import { NAPI_GLUE, PRELUDE } from './prelude.js';

/** Work (points × inner steps) below which a loop runs on one thread: forking costs microseconds. */
const PARALLEL_WORK = 1 << 15;

const product = (xs: readonly number[]) => xs.reduce((a, d) => a * d, 1);

/** A kernel's extent as C (extentText): its number, or what the run gives in `rt->sizes`. */
const extentC = (k: Kernel, key: string, value: number, runtime = true) => extentText(k, key, value, 'rt->sizes', 'native', runtime);

/** The C extents of a list field ('shape', 'reduced', 'batch'). */
const extentsC = (k: Kernel, field: string, values: readonly number[], runtime = true) => values.map((d, i) => extentC(k, `${field}.${i}`, d, runtime));

function emitStores(w: CodeWriter, scope: CExprs, stores: readonly Store[]): void {
  const inner = scope.open(w, stores.flatMap((s) => [s.index, s.value]));
  for (const s of stores) w.line(`a${s.arg}[${inner.render(s.index)}] = ${inner.render(s.value)};`);
}

/**
 * Loops over `shape` named by `name`; axes of extent 1 are constants. The
 * loops are split across threads when `work` is large (collapsed, so a
 * short outer axis still gives every thread a share), all but the innermost
 * when it is marked for vectorization (`simd`).
 */
function loops(w: CodeWriter, shape: readonly number[], name: (axis: number) => string, work: number, simd: boolean, body: () => void, bounds: readonly string[] = shape.map(String)): void {
  const axes = shape.map((d, a) => [d, a] as const).filter(([d]) => d !== 1);
  w.block('{', () => {
    shape.forEach((d, a) => d === 1 && w.line(`const int32_t ${name(a)} = 0;`));
    const parallel = work >= PARALLEL_WORK;
    axes.forEach(([d, a], i) => {
      const innermost = i === axes.length - 1;
      if (i === 0 && parallel) {
        // Every loop collapsed into the split, but a vectorized innermost one.
        const collapse = simd ? Math.max(axes.length - 1, 1) : axes.length;
        w.line(`#pragma omp parallel for${innermost && simd ? ' simd' : ''} schedule(static)${collapse > 1 ? ` collapse(${collapse})` : ''}`);
      } else if (innermost && simd) w.line('#pragma omp simd');
      w.line(`for (int32_t ${name(a)} = 0; ${name(a)} < ${bounds[a]}; ${name(a)}++)`);
    });
    w.block('{', body);
  });
}

function renderMap(w: CodeWriter, k: MapKernel): void {
  const scope = new CExprs({ idx: k.shape, ridx: [] });
  const ordered = k.ordered ?? 0;
  const bounds = extentsC(k, 'shape', k.shape);
  const inner = () => loops(w, k.shape.slice(ordered), (a) => C_NAMES.idx(a + ordered), ordered ? 0 : product(k.shape), true, () => emitStores(w, scope, k.stores), bounds.slice(ordered));
  const outer = (a: number): void => {
    if (a === ordered) return inner();
    w.block(`for (int32_t ${C_NAMES.idx(a)} = 0; ${C_NAMES.idx(a)} < ${bounds[a]}; ${C_NAMES.idx(a)}++) {`, () => outer(a + 1));
  };
  outer(0);
}

function renderReduce(w: CodeWriter, k: ReduceKernel): void {
  if (readsAlongKept(k)) return renderReduceByRows(w, k);
  const scope = new CExprs({ idx: k.shape, ridx: k.reduced });
  const reduced = product(k.reduced);
  const reducedBounds = extentsC(k, 'reduced', k.reduced);
  // One long sum (a gradient norm over every parameter): no kept axis to split across threads, so its reduced axis is.
  const chunked = product(k.shape) === 1 && k.reduced.length === 1 && reduced >= 4 * SUM_CHUNK && !k.runtime?.['reduced.0'];
  loops(w, k.shape, C_NAMES.idx, product(k.shape) * reduced, false, () => {
    k.stages.forEach((stage, i) => {
      if (stage.combine === 'let') {
        w.line(`const float v${i} = ${scope.open(w, [stage.value]).render(stage.value)};`);
        return;
      }
      if (stage.combine === 'sum') {
        w.line(`double s${i} = 0;`);
        if (chunked) {
          chunkedSum(w, reduced, `s${i}`, () => scope.open(w, [stage.value]).render(stage.value));
        } else {
          reducedLoops(w, reducedBounds, `reduction(+:s${i})`, () => {
            const x = scope.open(w, [stage.value]).render(stage.value);
            w.line(`s${i} += ${x};`);
          });
        }
        w.line(`const float v${i} = (float)s${i};`);
        return;
      }
      // max, NaN-propagating as the other backends' (x > v || x != x): the
      // NaNs seen kept apart, so that the maximum vectorizes.
      w.line(`float m${i} = -INFINITY;`);
      w.line(`int32_t nan${i} = 0;`);
      reducedLoops(w, reducedBounds, `reduction(max:m${i}) reduction(|:nan${i})`, () => {
        const x = scope.open(w, [stage.value]).render(stage.value);
        w.line(`const float x = ${x};`);
        w.line(`m${i} = x > m${i} ? x : m${i};`);
        w.line(`nan${i} |= x != x;`);
      });
      w.line(`const float v${i} = nan${i} ? NAN : m${i};`);
    });
    if (k.stores.length) emitStores(w, scope, k.stores);
    if (k.elementStores.length) reducedLoops(w, reducedBounds, '', () => emitStores(w, scope, k.elementStores));
  }, extentsC(k, 'shape', k.shape));
}

/** Elements per partial sum of a long sum split across threads. */
const SUM_CHUNK = 1 << 16;

/**
 * `acc` += the sum of `x` over r0 in [0, n), split into chunks of SUM_CHUNK
 * elements whose partial sums the threads compute and one thread then adds
 * in order: the result depends on SUM_CHUNK alone, not on the thread count.
 */
function chunkedSum(w: CodeWriter, n: number, acc: string, x: () => string): void {
  w.block('{', () => {
    const chunks = Math.ceil(n / SUM_CHUNK);
    w.line(`double *part = (double *)tcc_scratch(3, sizeof(double) * ${chunks});`);
    w.line('#pragma omp parallel for schedule(static)');
    w.block(`for (int32_t ch = 0; ch < ${chunks}; ch++) {`, () => {
      w.line('double p = 0;');
      w.line(`const int32_t hi = ch < ${chunks - 1} ? (ch + 1) * ${SUM_CHUNK} : ${n};`);
      w.line('#pragma omp simd reduction(+:p)');
      w.block(`for (int32_t r0 = ch * ${SUM_CHUNK}; r0 < hi; r0++) {`, () => w.line(`p += ${x()};`));
      w.line('part[ch] = p;');
    });
    w.line(`for (int32_t ch = 0; ch < ${chunks}; ch++) ${acc} += part[ch];`);
  });
}

/** Kept points an interchanged reduction sums at once: a block of double accumulators per stage. */
const ROW_BLOCK = 64;

const coefficientMemo = new WeakMap<KExpr, ReadonlyMap<string, number>>();

/** The coefficient of each coordinate (`idx0`, `ridx1`, …) in an affine index; other terms are left out. */
function coefficients(e: KExpr): ReadonlyMap<string, number> {
  const known = coefficientMemo.get(e);
  if (known) return known;
  const out = new Map<string, number>();
  const add = (from: ReadonlyMap<string, number>, scale: number) => from.forEach((c, x) => out.set(x, (out.get(x) ?? 0) + c * scale));
  if (e.op === 'idx' || e.op === 'ridx') out.set(`${e.op}${e.axis}`, 1);
  else if (e.op === 'binary' && e.fn === 'add') [e.a, e.b].forEach((x) => add(coefficients(x), 1));
  else if (e.op === 'binary' && e.fn === 'mul' && e.b.op === 'const') add(coefficients(e.a), e.b.value);
  else if (e.op === 'binary' && e.fn === 'mul' && e.a.op === 'const') add(coefficients(e.b), e.a.value);
  coefficientMemo.set(e, out);
  return out;
}

/**
 * Whether a sum reduction reads along its kept space: every load steps by 1
 * with the innermost kept axis and not with the innermost reduced one (the
 * column sums of a row-major matrix: bias and LayerNorm parameter
 * gradients). Per kept point, such a sum would stride through memory.
 */
function readsAlongKept(k: ReduceKernel): boolean {
  const last = k.shape.length - 1;
  const rlast = k.reduced.length - 1;
  if (last < 0 || rlast < 0 || k.shape[last]! < 8 || k.elementStores.length || !k.stages.length || k.stages.some((s) => s.combine !== 'sum')) return false;
  return readsAlong(k.stages.map((s) => s.value), `idx${last}`, `ridx${rlast}`);
}

/**
 * A sum reduction by loop interchange: per block of ROW_BLOCK points of the
 * innermost kept axis (blocks split across threads), the reduced space is
 * walked once, each step adding a contiguous, vectorized run of values to
 * the block's double accumulators; then the stores. Each point's sum keeps
 * its order (over the reduced space, in double).
 */
function renderReduceByRows(w: CodeWriter, k: ReduceKernel): void {
  const scope = new CExprs({ idx: k.shape, ridx: k.reduced });
  const last = k.shape.length - 1;
  const bounds = extentsC(k, 'shape', k.shape);
  const n = bounds[last]!;
  const blocks = [...k.shape.slice(0, last), Math.ceil(k.shape[last]! / ROW_BLOCK)];
  const name = (a: number) => (a === last ? 'cb' : C_NAMES.idx(a));
  const point = () => w.line(`const int32_t ${C_NAMES.idx(last)} = cb * ${ROW_BLOCK} + q;`);
  loops(w, blocks, name, product(k.shape) * product(k.reduced), false, () => {
    w.line(`const int32_t width = ${n} - cb * ${ROW_BLOCK} < ${ROW_BLOCK} ? ${n} - cb * ${ROW_BLOCK} : ${ROW_BLOCK};`);
    k.stages.forEach((_, i) => w.line(`double s${i}[${ROW_BLOCK}] = {0};`));
    reducedLoops(w, extentsC(k, 'reduced', k.reduced), null, () => {
      w.line('#pragma omp simd');
      w.block('for (int32_t q = 0; q < width; q++) {', () => {
        point();
        const inner = scope.open(w, k.stages.map((s) => s.value));
        k.stages.forEach((s, i) => w.line(`s${i}[q] += ${inner.render(s.value)};`));
      });
    });
    w.block('for (int32_t q = 0; q < width; q++) {', () => {
      point();
      k.stages.forEach((_, i) => w.line(`const float v${i} = (float)s${i}[q];`));
      emitStores(w, scope, k.stores);
    });
  }, [...bounds.slice(0, last), `(${n} + ${ROW_BLOCK - 1}) / ${ROW_BLOCK}`]);
}

/** Loops over the reduced space (ridx axes), the innermost vectorized with `clause` unless it is null (a loop-carried max). */
function reducedLoops(w: CodeWriter, shape: readonly string[], clause: string | null, body: () => void): void {
  w.block('{', () => {
    shape.forEach((d, a) => {
      if (a === shape.length - 1 && clause !== null) w.line(`#pragma omp simd ${clause}`.trimEnd());
      w.line(`for (int32_t r${a} = 0; r${a} < ${d}; r${a}++)`);
    });
    w.block('{', body);
  });
}

/** Names for expressions over a matmul's operand or output space: batch counters, then two named axes. */
function matNames(nb: number, row: string, col: string): CNames {
  return { idx: (axis) => (axis < nb ? `c${axis}` : axis === nb ? row : col), ridx: C_NAMES.ridx };
}

/** Whether every load of `exprs` steps by 1 along coordinate `along` and not along `across` (e.g. `idx2`, `ridx0`), and there is one. */
function readsAlong(exprs: readonly KExpr[], along: string, across: string): boolean {
  let loads = 0;
  let unit = true;
  for (const e of exprs) {
    walkExpr(e, (x) => {
      if (x.op !== 'load') return;
      loads++;
      const c = coefficients(x.index);
      if (c.get(along) !== 1 || c.get(across) === 1) unit = false;
    });
  }
  return loads > 0 && unit;
}

/** A product's k (its depth) as C: the run's where it is a packed stream's tokens (a weight's gradient over them). */
const depthC = (k: MatmulKernel) => extentC(k, 'k', k.k);

/** Where an operand's panels go: `tile` entries of the panel axis (`axis`, of `extent`: A's rows o, B's columns j) per panel, `tiles` panels. */
interface Panels {
  readonly dst: 'pa' | 'pb';
  readonly tile: 'TCC_MR' | 'TCC_NR';
  readonly tiles: 'mt' | 'nt';
  readonly axis: 'o' | 'j';
  /** The panel axis's extent as C, and its largest value. */
  readonly extent: string;
  readonly largest: number;
}

/**
 * Packs an operand into panels, each k step (p) `tile` consecutive floats,
 * padding zero, split across threads when large. The loops run along the
 * operand's unit stride (`alongAxis`: along the panel axis, else along k),
 * with the bounds test outside the inner loop so that the value (a prologue
 * such as a GELU) is computed a vector at a time; read along the panel
 * axis, a k step of an expression is computed into the thread's row first,
 * then stored a panel's run at a time, and a plain load is stored straight.
 */
function packPanels(w: CodeWriter, k: MatmulKernel, value: KExpr, scope: CExprs, alongAxis: boolean, { dst, tile, tiles, axis: x, extent, largest }: Panels): void {
  const render = () => scope.open(w, [value]).render(value);
  if (largest * k.k >= PARALLEL_WORK) w.line('#pragma omp parallel for schedule(static)');
  if (!alongAxis) {
    w.block(`for (int32_t ${x} = 0; ${x} < ${tiles} * ${tile}; ${x}++) {`, () => {
      w.line(`float *at = ${dst} + (size_t)(${x} / ${tile}) * ${depthC(k)} * ${tile} + ${x} % ${tile};`);
      w.block(`if (${x} < ${extent}) {`, () => {
        w.line('#pragma omp simd');
        w.block(`for (int32_t p = 0; p < ${depthC(k)}; p++) {`, () => w.line(`at[(size_t)p * ${tile}] = ${render()};`));
      }, `} else for (int32_t p = 0; p < ${depthC(k)}; p++) at[(size_t)p * ${tile}] = 0.0f;`);
    });
    return;
  }
  w.block(`for (int32_t p = 0; p < ${depthC(k)}; p++) {`, () => {
    w.line(`float *out = ${dst} + (size_t)p * ${tile};`);
    if (value.op !== 'load') {
      w.line(`float *row = tcc_local(8, (size_t)${tiles} * ${tile});`);
      w.line('#pragma omp simd');
      w.block(`for (int32_t ${x} = 0; ${x} < ${extent}; ${x}++) {`, () => w.line(`row[${x}] = ${render()};`));
      w.line(`for (int32_t ${x} = ${extent}; ${x} < ${tiles} * ${tile}; ${x}++) row[${x}] = 0.0f;`);
      w.block(`for (int32_t t = 0; t < ${tiles}; t++) {`, () => {
        w.line('#pragma omp simd');
        w.line(`for (int32_t r = 0; r < ${tile}; r++) out[(size_t)t * ${depthC(k)} * ${tile} + r] = row[t * ${tile} + r];`);
      });
      return;
    }
    // A plain load goes straight into the panels: whole panels a vector at a time, then the padded last one.
    w.line(`const int32_t full = ${extent} / ${tile};`);
    w.block(`for (int32_t t = 0; t < full; t++) {`, () => {
      w.line('#pragma omp simd');
      w.block(`for (int32_t r = 0; r < ${tile}; r++) {`, () => {
        w.line(`const int32_t ${x} = t * ${tile} + r;`);
        w.line(`out[(size_t)t * ${depthC(k)} * ${tile} + r] = ${render()};`);
      });
    });
    w.block(`for (int32_t t = full; t < ${tiles}; t++) for (int32_t r = 0; r < ${tile}; r++) {`, () => {
      w.line(`const int32_t ${x} = t * ${tile} + r;`);
      w.block(`if (${x} < ${extent}) {`, () => w.line(`out[(size_t)t * ${depthC(k)} * ${tile} + r] = ${render()};`), `} else out[(size_t)t * ${depthC(k)} * ${tile} + r] = 0.0f;`);
    });
  });
}

/** Packs A into row panels (`pa`): along its rows where it is read so, else along k. */
function packA(w: CodeWriter, k: MatmulKernel): void {
  const nb = k.batch.length;
  const scope = new CExprs({ idx: [...k.batch, k.m, k.k], ridx: [] }, matNames(nb, 'o', 'p'));
  const alongRows = k.a.view ? k.a.view.rowStride === 1 && k.a.view.colStride !== 1 : readsAlong([k.a.value], `idx${nb}`, `idx${nb + 1}`);
  packPanels(w, k, k.a.value, scope, alongRows, { dst: 'pa', tile: 'TCC_MR', tiles: 'mt', axis: 'o', extent: extentC(k, 'm', k.m), largest: k.m });
}

/** Expressions over B's element (p, j) (and the batch coordinates), and whether B is read along k (its columns runs of k). */
function operandB(k: MatmulKernel): { scope: CExprs; alongK: boolean } {
  const nb = k.batch.length;
  const scope = new CExprs({ idx: [...k.batch, k.k, k.n], ridx: [] }, matNames(nb, 'p', 'j'));
  const alongK = k.b.view ? k.b.view.rowStride === 1 && k.b.view.colStride !== 1 : readsAlong([k.b.value], `idx${nb}`, `idx${nb + 1}`);
  return { scope, alongK };
}

/** Packs B whole into column panels (`pb`): along k where it is read so, else along its columns. */
function packB(w: CodeWriter, k: MatmulKernel): void {
  const { scope, alongK } = operandB(k);
  packPanels(w, k, k.b.value, scope, !alongK, { dst: 'pb', tile: 'TCC_NR', tiles: 'nt', axis: 'j', extent: String(k.n), largest: k.n });
}

/**
 * Packs steps [from, from + steps) of column panel `tj` of B into the
 * thread's scratch (`bp`, room for `room` steps), padding zero past B's last
 * column: along k where B is read so (each column a run of k), else a k
 * step's run of columns at a time.
 */
function packColumnPanel(w: CodeWriter, k: MatmulKernel, from: string, steps: string, room: string): void {
  const { scope, alongK } = operandB(k);
  const render = () => scope.open(w, [k.b.value]).render(k.b.value);
  const at = `bp[(size_t)(p - ${from}) * TCC_NR + q]`;
  const stepsLoop = `for (int32_t p = ${from}; p < ${from} + ${steps}; p++)`;
  w.line(`float *bp = tcc_local(9, (size_t)TCC_NR * ${room});`);
  if (alongK) {
    w.block('for (int32_t q = 0; q < TCC_NR; q++) {', () => {
      w.line('const int32_t j = tj * TCC_NR + q;');
      w.block(`if (j < ${k.n}) {`, () => {
        w.line('#pragma omp simd');
        w.block(`${stepsLoop} {`, () => w.line(`${at} = ${render()};`));
      }, `} else ${stepsLoop} ${at} = 0.0f;`);
    });
    return;
  }
  // Whether the panel lies within B's columns is tested outside the vectorized loop (no load past B's last column is made).
  w.line(`const int full = tj * TCC_NR + TCC_NR <= ${k.n};`);
  w.block(`if (full) ${stepsLoop} {`, () => {
    w.line('#pragma omp simd');
    w.block('for (int32_t q = 0; q < TCC_NR; q++) {', () => {
      w.line('const int32_t j = tj * TCC_NR + q;');
      w.line(`${at} = ${render()};`);
    });
  });
  w.block(`if (!full) ${stepsLoop} for (int32_t q = 0; q < TCC_NR; q++) {`, () => {
    w.line('const int32_t j = tj * TCC_NR + q;');
    w.block(`if (j < ${k.n}) {`, () => w.line(`${at} = ${render()};`), `} else ${at} = 0.0f;`);
  });
}


/** Expressions over a product's output element (i, j) (and its batch coordinates): its epilogue's scope. */
const outputScope = (k: MatmulKernel) => new CExprs({ idx: [...k.batch, k.m, k.n], ridx: [] }, matNames(k.batch.length, 'i', 'j'));

/**
 * Requests the memory a tile's epilogue writes and reads (at each of its
 * rows, from its first column) before the micro-kernel computes the tile:
 * the rows of a row-major output lie a row's length apart, beyond what the
 * hardware prefetchers follow, and an epilogue of many operations (a GELU
 * gradient) would otherwise wait for each row in turn.
 */
function prefetchEpilogue(w: CodeWriter, k: MatmulKernel): void {
  const touched: { arg: number; index: KExpr; write: boolean }[] = [];
  for (const s of k.stores) {
    touched.push({ arg: s.arg, index: s.index, write: true });
    walkExpr(s.value, (x) => {
      if (x.op === 'load') touched.push({ arg: x.arg, index: x.index, write: false });
    });
  }
  w.block('for (int32_t r = 0; r < rows; r++) {', () => {
    w.line(`const int32_t i = ti * TCC_MR + r, j = tj * TCC_NR;`);
    const scope = outputScope(k).open(w, touched.map((t) => t.index));
    const writes = new Map<string, boolean>();
    for (const t of touched) {
      const at = `&a${t.arg}[${scope.render(t.index)}]`;
      writes.set(at, (writes.get(at) ?? false) || t.write);
    }
    for (const [at, write] of writes) w.line(`__builtin_prefetch(${at}, ${write ? 1 : 0});`);
  });
}

/**
 * Products over at most this many steps of k compute each tile in one call
 * of the micro-kernel (its B panel then lives in L2: 512 KB at most with
 * AVX-512's 32 columns) and store it through the epilogue at once; longer
 * ones go block by block of TCC_KC through the tiles buffer, and their
 * epilogue runs after the last block. bert-base's second FFN product (k
 * 3072) took 20% less whole than by blocks (inference, A read in place).
 */
const WHOLE_K = 4096;

/**
 * Rows up to which A makes one block of row panels on every target (at most
 * 32 panels of TCC_MR rows, which is 6 or more), so that each column panel
 * of B meets every row panel in one sweep (per block of k, for long
 * products): the masked-LM decoder's rows, a batch of 128 or 192 tokens.
 * Such a product packs each column panel of B (each block of it) as a
 * thread reaches it, into the thread's scratch, rather than all of B first:
 * B is read once and never written back to memory whole (the tied decoder's
 * 62 MB embedding, twice per training step: its logits' product 50 → 35 ms).
 */
const ONE_BLOCK_ROWS = 32 * 6;

function renderMatmul(w: CodeWriter, k: MatmulKernel, cached: boolean): void {
  const nb = k.batch.length;
  // The rows and the depth may be a run's (a packed stream's tokens); decisions take their largest numbers.
  for (const key of ['n', ...k.batch.map((_, i) => `batch.${i}`)]) extentC(k, key, 0, false);
  const m = extentC(k, 'm', k.m);
  const panelwise = !cached && k.m <= ONE_BLOCK_ROWS;
  w.line(`const int32_t mt = (${m} + TCC_MR - 1) / TCC_MR, nt = (${k.n} + TCC_NR - 1) / TCC_NR;`);
  // A row-major A (each row's k steps consecutive) is read where it lies by products that take k whole: packing it would only copy it.
  const aRows = k.k <= WHOLE_K && k.a.view?.colStride === 1 ? k.a.view : undefined;
  if (!aRows) w.line(`float *pa = tcc_scratch(0, sizeof(float) * (size_t)mt * TCC_MR * ${depthC(k)});`);
  if (k.k > WHOLE_K) w.line('float *tiles = tcc_scratch(2, sizeof(float) * (size_t)mt * nt * TCC_MR * TCC_NR);');
  if (cached) {
    // B packed once per value of its parameter (tcc_pack_fresh follows the parameters' writes).
    w.line(`float *pb = tcc_pack_data(pk, (size_t)nt * TCC_NR * ${depthC(k)});`);
    w.block('if (!tcc_pack_fresh(pk)) {', () => {
      // The same for every batch: the batch coordinates are 0.
      if (nb) w.line(`const int32_t ${Array.from({ length: nb }, (_, d) => `c${d} = 0`).join(', ')};`);
      packB(w, k);
      w.line('tcc_pack_done(pk);');
    });
  } else if (!panelwise) w.line(`float *pb = tcc_scratch(1, sizeof(float) * (size_t)nt * TCC_NR * ${depthC(k)});`);
  loops(w, k.batch, C_NAMES.idx, 0, false, () => {
    if (!aRows) packA(w, k);
    if (!cached && !panelwise) packB(w, k);
    const work = k.runtime?.['m'] || k.runtime?.['k'] ? `(int64_t)${m} * ${depthC(k)} * ${k.n} >= ${PARALLEL_WORK}` : k.m * k.n * k.k >= PARALLEL_WORK ? 1 : 0;
    w.line(`#pragma omp parallel if(${work})`);
    w.block('{', () => {
      const epilogue = (row: string) => {
        w.line('#pragma omp simd');
        w.block('for (int32_t q = 0; q < cols; q++) {', () => {
          w.line('const int32_t j = tj * TCC_NR + q;');
          w.line(`const float acc = ${row}[q];`);
          emitStores(w, outputScope(k), k.stores);
        });
      };
      const cols = () => w.line(`const int32_t cols = ${k.n} - tj * TCC_NR < TCC_NR ? ${k.n} - tj * TCC_NR : TCC_NR;`);
      if (k.k <= WHOLE_K) {
        // Each tile's sums complete in one call of the micro-kernel, and its epilogue runs while the tile is in L1.
        // Row panels by blocks that stay in L2 while the column panels sweep them; up to 32 panels (a batch of 128 rows,
        // the decoder's masked rows) make one block, so that B streams through once.
        w.line('float tile[TCC_MR * TCC_NR] __attribute__((aligned(64)));');
        w.line('const int32_t mc = mt <= 32 ? mt : TCC_MC_TILES;');
        w.block('for (int32_t i0 = 0; i0 < mt; i0 += mc) {', () => {
          w.line('const int32_t i1 = mt - i0 < mc ? mt : i0 + mc;');
          // In one block of row panels the column panels go to threads as they come free: a core that another tenant's
          // work slows would otherwise hold up the product (bert-base's inference: 5-10% in median profiles). Over
          // several blocks each thread keeps the same column panels, whose B then stays in its caches (training's
          // products ran 5% slower scheduled dynamically).
          w.line(`#pragma omp for schedule(${k.m <= ONE_BLOCK_ROWS ? 'dynamic' : 'static'}) nowait`);
          w.block('for (int32_t tj = 0; tj < nt; tj++) {', () => {
            if (panelwise) packColumnPanel(w, k, '0', depthC(k), depthC(k));
            cols();
            w.block('for (int32_t ti = i0; ti < i1; ti++) {', () => {
              w.line(`const int32_t rows = ${m} - ti * TCC_MR < TCC_MR ? ${m} - ti * TCC_MR : TCC_MR;`);
              prefetchEpilogue(w, k);
              const bPanel = panelwise ? 'bp' : `pb + (size_t)tj * ${depthC(k)} * TCC_NR`;
              if (aRows) w.line(`tcc_micro_rows(${depthC(k)}, a${aRows.arg} + ${viewBase(k.a)} + (size_t)ti * TCC_MR * ${aRows.rowStride}, ${aRows.rowStride}, rows, ${bPanel}, tile);`);
              else w.line(`tcc_micro(${depthC(k)}, pa + (size_t)ti * ${depthC(k)} * TCC_MR, ${bPanel}, tile, 0);`);
              w.block('for (int32_t r = 0; r < rows; r++) {', () => {
                w.line('const int32_t i = ti * TCC_MR + r;');
                w.line('const float *row = tile + r * TCC_NR;');
                epilogue('row');
              });
            });
          });
        });
        return;
      }
      if (panelwise) {
        // tcc_gemm_packed's order with one block of row panels, each thread packing its column panels' rows of a k block.
        w.block(`for (int32_t k0 = 0; k0 < ${depthC(k)}; k0 += TCC_KC) {`, () => {
          w.line(`const int32_t kc = ${depthC(k)} - k0 < TCC_KC ? ${depthC(k)} - k0 : TCC_KC;`);
          w.line('#pragma omp for schedule(static) nowait');
          w.block('for (int32_t tj = 0; tj < nt; tj++) {', () => {
            packColumnPanel(w, k, 'k0', 'kc', 'TCC_KC');
            w.line(`for (int32_t ti = 0; ti < mt; ti++) tcc_micro(kc, pa + (size_t)ti * ${depthC(k)} * TCC_MR + (size_t)k0 * TCC_MR, bp, tiles + ((size_t)tj * mt + ti) * TCC_MR * TCC_NR, k0 > 0);`);
          });
        });
      } else w.line(`tcc_gemm_packed(mt, nt, ${depthC(k)}, pa, pb, tiles);`);
      // The epilogue of each column panel, by the thread that computed it.
      w.line('#pragma omp for schedule(static)');
      w.block('for (int32_t tj = 0; tj < nt; tj++) {', () => {
        cols();
        w.block(`for (int32_t i = 0; i < ${m}; i++) {`, () => {
          w.line('const float *row = tiles + ((size_t)tj * mt + i / TCC_MR) * TCC_MR * TCC_NR + (i % TCC_MR) * TCC_NR;');
          epilogue('row');
        });
      });
    });
  });
}

/**
 * `starts[0 … nblk]`: blocks of at most `block` query rows, each ending where
 * its first row's keys end (`to`, a packed stream's sequence end), listed
 * before the loops; `starts[nblk]` is the queries' end. `scope` renders `to`
 * over (b…, i), the batch coordinates 0 (the range does not read them).
 */
function alignedBlocks(w: CodeWriter, to: KExpr, nb: number, queries: string, block: number, scope: CExprs): void {
  w.line(`int32_t *starts = (int32_t *)tcc_scratch(5, sizeof(int32_t) * ((size_t)${queries} + 1)), nblk = 0;`);
  w.block(`for (int32_t i = 0; i < ${queries};) {`, () => {
    if (nb) w.line(`const int32_t ${Array.from({ length: nb }, (_, d) => `c${d} = 0`).join(', ')};`);
    w.line('starts[nblk++] = i;');
    w.line(`const int32_t end = ${scope.open(w, [to]).render(to)}, next = i + ${block} < end ? i + ${block} : end;`);
    w.line(`i = next > i ? (next < ${queries} ? next : ${queries}) : i + 1;`);
  });
  w.line(`starts[nblk] = ${queries};`);
}

/** Whether a key range's bounds read a batch coordinate (idx axes below `nb`). */
function readsBatch(range: { readonly from: KExpr; readonly to: KExpr }, nb: number): boolean {
  let reads = false;
  for (const e of [range.from, range.to]) walkExpr(e, (x) => (reads ||= x.op === 'idx' && x.axis < nb));
  return reads;
}

/** A plain operand view: its arg, strides, and the batch offset `base` names. */
function view(o: Operand): { arg: number; rs: number; cs: number } {
  const v = o.view;
  if (!v) throw new Error('attention operands must be plain views');
  return { arg: v.arg, rs: v.rowStride, cs: v.colStride };
}

function bases(w: CodeWriter, operands: readonly [string, Operand][]): void {
  for (const [name, o] of operands) w.line(`const int32_t ${name} = ${viewBase(o)};`);
}

/** Query rows per block: a block's scores (rows × keys) live in the thread's scratch. */
const QUERY_BLOCK = 128;
/** The fewest query rows per block of local attention. */
const LOCAL_BLOCK = 16;
/**
 * Query rows per block of a packed stream's attention: a block reads the
 * keys from its first row's sequence start to its last row's sequence end,
 * so 32 rows of sentences of 26 tokens read about 58 keys each where 128
 * rows read 154 (SST-2's lengths: attention 65 → ms per batch of 32).
 */
const SEGMENT_BLOCK = 32;

/**
 * Attention forward, per (batch, block of query rows), blocks split across
 * threads: S = Q·Kᵀ by the packed GEMM, each row's scores (the score
 * expression on the product), its softmax and log-sum-exp, then O = P·V by
 * the GEMM, scaled by the row's 1/Σ when stored.
 */
function renderAttention(w: CodeWriter, k: AttentionKernel): void {
  const nb = k.batch.length;
  const [q, kk] = [view(k.q), view(k.k)];
  for (const key of ['depth', 'depthV', ...k.batch.map((_, i) => `batch.${i}`)]) extentC(k, key, 0, false);
  // The run's queries and keys (a packed stream's tokens); scratch and threads go by their largest numbers.
  const [queries, keys] = [extentC(k, 'queries', k.queries), extentC(k, 'keys', k.keys)];
  // A local window: a block of query rows needs only the keys within the window of one of its rows ([j0, j1));
  // blocks of half as many rows as the window's half-width (a quarter of the window, at least LOCAL_BLOCK) keep the keys
  // outside every row's window few.
  const local = k.window !== undefined && k.window < k.keys;
  // A packed stream's block of rows reads the keys of every sequence it meets: blocks of SEGMENT_BLOCK rows keep those few.
  const block = Math.min(local ? Math.max(LOCAL_BLOCK, Math.floor(k.window! / 2)) : k.keyRange ? SEGMENT_BLOCK : QUERY_BLOCK, QUERY_BLOCK, k.queries);
  const blocks = Math.ceil(k.queries / block);
  const scores = new CExprs({ idx: [...k.batch, k.queries, k.keys], ridx: [] }, matNames(nb, 'i', 'j'), 'inline');
  const outs = new CExprs({ idx: [...k.batch, k.queries, k.depthV], ridx: [] }, matNames(nb, 'i', 'c'), 'inline');
  const keysPerBlock = local ? Math.min(k.keys, block + 2 * k.window!) : k.keys;
  const work = product(k.batch) * k.queries * keysPerBlock * (k.depth + k.depthV);
  // A key range that does not depend on the batch (a packed stream's sequences): blocks that end where their first row's
  // keys end, listed before the loops, so that a block reads exactly its sequence's keys.
  const aligned = k.keyRange !== undefined && !readsBatch(k.keyRange, nb);
  if (aligned) alignedBlocks(w, k.keyRange!.to, nb, queries, block, outs);
  const blockBounds = [...k.batch.map(String), aligned ? 'nblk' : k.runtime?.['queries'] ? `(${queries} + ${block - 1}) / ${block}` : String(blocks)];
  // (Aligned blocks number at most the queries: a loop even where the largest run fits one block of rows.)
  loops(w, [...k.batch, aligned ? k.queries : blocks], (a) => (a < nb ? `c${a}` : 'blk'), work, false, () => {
    bases(w, [['qb', k.q], ['kb', k.k], ...(k.v ? [['vb', k.v] as [string, Operand]] : [])]);
    if (aligned) w.line('const int32_t i0 = starts[blk], rows = starts[blk + 1] - i0;');
    else w.line(`const int32_t i0 = blk * ${block}, rows = ${queries} - i0 < ${block} ? ${queries} - i0 : ${block};`);
    if (local) {
      w.line(`int32_t j0 = i0 - ${k.window} > 0 ? i0 - ${k.window} : 0, j1 = i0 + rows + ${k.window} < ${keys} ? i0 + rows + ${k.window} : ${keys};`);
    } else w.line(`int32_t j0 = 0, j1 = ${keys};`);
    if (k.keyRange) {
      // The block's rows take keys from the first row's range's start to the last row's end (both bounds rise with the row).
      const { from, to } = k.keyRange;
      w.block('{', () => w.line(`const int32_t i = i0; const int32_t from = ${outs.open(w, [from]).render(from)}; if (from > j0) j0 = from;`));
      w.block('{', () => w.line(`const int32_t i = i0 + rows - 1; const int32_t to = ${outs.open(w, [to]).render(to)}; if (to < j1) j1 = to;`));
    }
    w.line('const int32_t nk = j1 > j0 ? j1 - j0 : 0;');
    w.line(`float *s = tcc_local(3, ${block * keysPerBlock}), inv[${block}];`);
    w.line(`tcc_sgemm(rows, nk, ${k.depth}, a${q.arg} + qb + (size_t)i0 * ${q.rs}, ${q.rs}, ${q.cs}, a${kk.arg} + kb + (size_t)j0 * ${kk.rs}, ${kk.cs}, ${kk.rs}, s, nk, 0);`);
    w.block('for (int32_t r = 0; r < rows; r++) {', () => {
      w.line('const int32_t i = i0 + r;');
      // Row entry j - j0 holds key j.
      w.line('float *row = s + (size_t)r * nk, sum = 0.0f;');
      w.line('#pragma omp simd');
      w.block('for (int32_t j = j0; j < j0 + nk; j++) {', () => {
        w.line('const float acc = row[j - j0];');
        const sc = scores.open(w, [k.score]);
        w.line(`row[j - j0] = ${sc.render(k.score)};`);
      });
      w.line('const float top = tcc_row_max(row, nk);');
      w.line('#pragma omp simd reduction(+:sum)');
      w.line('for (int32_t j = 0; j < nk; j++) { row[j] = tcc_expf(row[j] - top); sum += row[j]; }');
      if (k.keep) {
        const keep = k.keep;
        w.line('#pragma omp simd');
        w.block('for (int32_t j = j0; j < j0 + nk; j++) {', () => {
          const sc = scores.open(w, [keep]);
          w.line(`row[j - j0] *= ${sc.render(keep)};`);
        });
      }
      w.line('inv[r] = 1.0f / sum;');
      if (k.lse) {
        const lse = k.lse;
        w.block('{', () => {
          const l = outs.open(w, [lse.index]);
          w.line(`a${lse.arg}[${l.render(lse.index)}] = top + logf(sum);`);
        });
      }
    });
    if (k.v && k.out) {
      const [v, out] = [view(k.v), k.out];
      w.line(`float *o = tcc_local(4, ${block * k.depthV});`);
      w.line(`tcc_sgemm(rows, ${k.depthV}, nk, s, nk, 1, a${v.arg} + vb + (size_t)j0 * ${v.rs}, ${v.rs}, ${v.cs}, o, ${k.depthV}, 0);`);
      w.block('for (int32_t r = 0; r < rows; r++) {', () => {
        w.line('const int32_t i = i0 + r;');
        w.block(`for (int32_t c = 0; c < ${k.depthV}; c++) {`, () => {
          const o = outs.open(w, [out.index]);
          w.line(`a${out.arg}[${o.render(out.index)}] = o[r * ${k.depthV} + c] * inv[r];`);
        });
      });
    }
  }, blockBounds);
}

/**
 * Attention backward, per batch (split across threads), a block of query
 * rows at a time: the probabilities recomputed from Q·Kᵀ and the saved
 * log-sum-exp, dP = dO·Vᵀ, dS, then dV += (P∘keep)ᵀ·dO, dK += dSᵀ·Q and
 * dQ = dS·K, each by the packed GEMM; dK and dV are stored after the last
 * block.
 */
function renderAttentionGrad(w: CodeWriter, k: AttentionGradKernel): void {
  const nb = k.batch.length;
  for (const key of ['depth', 'depthV', ...k.batch.map((_, i) => `batch.${i}`)]) extentC(k, key, 0, false);
  // The run's queries and keys (a packed stream's tokens); scratch and threads go by their largest numbers.
  const [queries, keys] = [extentC(k, 'queries', k.queries), extentC(k, 'keys', k.keys)];
  const [q, kk, v, g] = [view(k.q), view(k.k), view(k.v), view(k.dout)];
  const block = Math.min(k.keyRange ? SEGMENT_BLOCK : QUERY_BLOCK, k.queries);
  const scores = new CExprs({ idx: [...k.batch, k.queries, k.keys], ridx: [] }, matNames(nb, 'i', 'j'), 'inline');
  const rows = new CExprs({ idx: [...k.batch, k.queries, k.depth], ridx: [] }, matNames(nb, 'i', 'c'), 'inline');
  const keyRows = new CExprs({ idx: [...k.batch, k.keys, Math.max(k.depth, k.depthV)], ridx: [] }, matNames(nb, 'j', 'c'), 'inline');
  const work = product(k.batch) * k.queries * k.keys * (2 * k.depth + 3 * k.depthV);
  // Blocks that end with their sequence (as the forward's): each reads exactly its sequence's keys.
  const aligned = k.keyRange !== undefined && !readsBatch(k.keyRange, nb);
  if (aligned) alignedBlocks(w, k.keyRange!.to, nb, queries, block, rows);
  loops(w, k.batch, C_NAMES.idx, work, false, () => {
    bases(w, [['qb', k.q], ['kb', k.k], ['vb', k.v], ['gb', k.dout]]);
    w.line(`float *p = tcc_local(3, ${block * k.keys}), *dp = tcc_local(4, ${block * k.keys});`);
    w.line(`float *dk = tcc_local(5, ${k.keys * k.depth}), *dv = tcc_local(6, ${k.keys * k.depthV}), *dq = tcc_local(7, ${block * k.depth});`);
    w.line(`memset(dk, 0, sizeof(float) * ${k.keys * k.depth});`);
    w.line(`memset(dv, 0, sizeof(float) * ${k.keys * k.depthV});`);
    w.block(aligned ? 'for (int32_t blk = 0; blk < nblk; blk++) {' : `for (int32_t i0 = 0; i0 < ${queries}; i0 += ${block}) {`, () => {
      if (aligned) w.line('const int32_t i0 = starts[blk], rows = starts[blk + 1] - i0;');
      else w.line(`const int32_t rows = ${queries} - i0 < ${block} ? ${queries} - i0 : ${block};`);
      // The block's keys [j0, j0 + nk): every key, or from its first row's range's start to its last row's end.
      w.line(`int32_t j0 = 0, j1 = ${keys};`);
      if (k.keyRange) {
        const { from, to } = k.keyRange;
        w.block('{', () => w.line(`const int32_t i = i0; const int32_t from = ${rows.open(w, [from]).render(from)}; if (from > j0) j0 = from;`));
        w.block('{', () => w.line(`const int32_t i = i0 + rows - 1; const int32_t to = ${rows.open(w, [to]).render(to)}; if (to < j1) j1 = to;`));
      }
      w.line('const int32_t nk = j1 > j0 ? j1 - j0 : 0;');
      w.line(`const float *qrows = a${q.arg} + qb + (size_t)i0 * ${q.rs}, *grows = a${g.arg} + gb + (size_t)i0 * ${g.rs};`);
      w.line(`const float *krows = a${kk.arg} + kb + (size_t)j0 * ${kk.rs}, *vrows = a${v.arg} + vb + (size_t)j0 * ${v.rs};`);
      w.line(`tcc_sgemm(rows, nk, ${k.depth}, qrows, ${q.rs}, ${q.cs}, krows, ${kk.cs}, ${kk.rs}, p, nk, 0);`);
      w.line(`tcc_sgemm(rows, nk, ${k.depthV}, grows, ${g.rs}, ${g.cs}, vrows, ${v.cs}, ${v.rs}, dp, nk, 0);`);
      w.block('for (int32_t r = 0; r < rows; r++) {', () => {
        w.line('const int32_t i = i0 + r;');
        const rr = rows.open(w, [k.lse, k.delta]);
        w.line(`const float lse = ${rr.render(k.lse)}, delta = ${rr.render(k.delta)};`);
        w.line('#pragma omp simd');
        w.block('for (int32_t j = j0; j < j0 + nk; j++) {', () => {
          w.line('const float acc = p[r * nk + j - j0];');
          const sc = scores.open(w, [k.score, ...(k.keep ? [k.keep] : []), ...(k.dscores ? [k.dscores.index] : [])]);
          // At most 1 (see the JavaScript backend's attention_grad).
          w.line(`const float prob = tcc_expf(fminf(${sc.render(k.score)} - lse, 0.0f));`);
          w.line(`const float keep = ${k.keep ? sc.render(k.keep) : '1.0f'};`);
          w.line('const float gs = prob * (dp[r * nk + j - j0] * keep - delta);');
          if (k.dscores) w.line(`a${k.dscores.arg}[${sc.render(k.dscores.index)}] = gs;`);
          w.line(`dp[r * nk + j - j0] = gs * ${k.scale}f;`);
          w.line('p[r * nk + j - j0] = prob * keep;');
        });
      });
      w.line(`tcc_sgemm(nk, ${k.depthV}, rows, p, 1, nk, grows, ${g.rs}, ${g.cs}, dv + (size_t)j0 * ${k.depthV}, ${k.depthV}, 1);`);
      w.line(`tcc_sgemm(nk, ${k.depth}, rows, dp, 1, nk, qrows, ${q.rs}, ${q.cs}, dk + (size_t)j0 * ${k.depth}, ${k.depth}, 1);`);
      const { dq } = k;
      if (dq) {
        w.line(`tcc_sgemm(rows, ${k.depth}, nk, dp, nk, 1, krows, ${kk.rs}, ${kk.cs}, dq, ${k.depth}, 0);`);
        w.block('for (int32_t r = 0; r < rows; r++) {', () => {
          w.line('const int32_t i = i0 + r;');
          w.block(`for (int32_t c = 0; c < ${k.depth}; c++) {`, () => {
            const o = rows.open(w, [dq.index]);
            w.line(`a${dq.arg}[${o.render(dq.index)}] = dq[r * ${k.depth} + c];`);
          });
        });
      }
    });
    const store = (pl: Placement | undefined, width: number, from: string) => {
      if (!pl) return;
      w.block(`for (int32_t c = 0; c < ${width}; c++) {`, () => {
        const o = keyRows.open(w, [pl.index]);
        w.line(`a${pl.arg}[${o.render(pl.index)}] = ${from}[j * ${width} + c];`);
      });
    };
    w.block(`for (int32_t j = 0; j < ${keys}; j++) {`, () => {
      store(k.dk, k.depth, 'dk');
      store(k.dv, k.depthV, 'dv');
    });
  });
}

/** The C function of a kernel: `void fn(a0, a1, …, rt, streams, pk)`, pk its call site's cache of packed parameters. */
export function renderKernelC(k: Kernel, fn: string, mode: 'infer' | 'train'): string {
  const w = new CodeWriter();
  const params = [...k.args.map((a, i) => `${a.access === 'read' ? 'const ' : ''}${C_TYPE[a.dtype]} *a${i}`), 'const tcc_rt *rt', 'const uint32_t *streams', 'tcc_pack *pk'].join(', ');
  w.line(`// ${k.kind} ${commentText(k.label)}`.trimEnd());
  w.block(`static void ${fn}(${params}) {`, () => {
    w.line('(void)rt; (void)streams; (void)pk;');
    switch (k.kind) {
      case 'map': return renderMap(w, k);
      case 'reduce': return renderReduce(w, k);
      case 'matmul': return renderMatmul(w, k, keepsPackedB(k, mode));
      case 'attention': return renderAttention(w, k);
      case 'attention_grad': return renderAttentionGrad(w, k);
    }
  });
  return w.toString();
}

/** What the C program needs of the program: where each buffer lives and which ranges each kernel binds, and its function's name. */
interface NativeLayout {
  /** Inference programs never write their parameters, so packed copies of them are kept between runs. */
  readonly mode: 'infer' | 'train';
  readonly buffers: readonly Pick<ProgramBuffer, 'id' | 'dtype' | 'region' | 'offset'>[];
  readonly kernels: readonly { readonly fn: string; readonly args: readonly BufferRange[]; readonly streams?: readonly number[] }[];
  readonly updates: readonly { readonly from: BufferRange; readonly to: BufferRange }[];
}

/**
 * Dropout's keep tests outside attention, per stream: each is read by up to
 * four kernels (the forward epilogue, the gradient's, a packed operand, a
 * column sum) that would each run Threefry's 20 rounds per element again,
 * so a run draws each stream's tests once into a byte per element (a
 * quarter of the activation's bytes; a table per rate, keepTable) and the
 * kernels read those. Attention draws its own in place (its tests are as many as its
 * scores, which are never stored; its gradient recomputes them once).
 */
function renderKeepTables(kernels: readonly Kernel[], layout: NativeLayout): string {
  // Per rate, per stream: the draws read (the most any kernel reads; a stream's draws do not depend on how many).
  const tables = new Map<number, Map<number, number>>();
  kernels.forEach((k, i) => {
    if (k.kind === 'attention' || k.kind === 'attention_grad') return;
    for (const root of kernelExprs(k)) {
      walkExpr(root, (e) => {
        const kept = keepTest(e);
        if (!kept) return;
        const stream = layout.kernels[i]!.streams![kept.draw.stream]!;
        const rate = Math.fround(kept.rate);
        const streams = tables.get(rate) ?? new Map<number, number>();
        streams.set(stream, Math.max(streams.get(stream) ?? 0, kept.draw.count));
        tables.set(rate, streams);
      });
    }
  });
  const w = new CodeWriter();
  const sorted = [...tables].sort((a, b) => a[0] - b[0]).map(([rate, streams]) => ({ rate, name: keepTable(rate), streams: [...streams].sort((a, b) => a[0] - b[0]) }));
  for (const { name, streams } of sorted) {
    for (const [s, count] of streams) w.line(`static uint8_t ${name}_${s}[${count}];`);
    w.line(`static uint8_t *const ${name}[${streams.at(-1)![0] + 1}] = {${streams.map(([s]) => `[${s}] = ${name}_${s}`).join(', ')}};`);
  }
  w.block('static void tcc_draw(const tcc_rt *rt) {', () => {
    w.line('(void)rt;');
    if (!sorted.length) return;
    w.line('#pragma omp parallel');
    w.block('{', () => {
      for (const { rate, name, streams } of sorted) {
        for (const [s, count] of streams) {
          w.line('#pragma omp for simd schedule(static) nowait');
          w.line(`for (int32_t e = 0; e < ${count}; e++) ${name}_${s}[e] = tcc_uniform01(rt->seed, ${s}u, rt->step, (uint32_t)e) < ${cLiteral(rate, 'f32')};`);
        }
      }
    });
  });
  return w.toString().trimEnd();
}

/**
 * The whole kernels.c of a program: the prelude, each distinct kernel once
 * (`fns` names each kernel's function), the call table and the Node-API
 * entry points.
 */
export function renderProgramC(program: Program, kernels: readonly Kernel[], fns: readonly string[]): string {
  const layout: NativeLayout = {
    mode: program.mode,
    buffers: program.buffers,
    kernels: program.kernels.map((k, i) => ({ fn: fns[i]!, args: k.args, ...(k.streams ? { streams: k.streams } : {}) })),
    updates: program.updates.map((u) => ({ from: tensorRange(u.from), to: tensorRange(u.to) })),
  };
  const title = program.model;
  const w = new CodeWriter();
  w.line(`// Generated by tcc: native CPU kernels of ${commentText(title)}. Do not edit.`);
  const seen = new Set<string>();
  const bodies: string[] = [];
  kernels.forEach((k, i) => {
    const fn = layout.kernels[i]!.fn;
    if (seen.has(fn)) return;
    seen.add(fn);
    bodies.push(renderKernelC(k, fn, layout.mode));
  });
  const pointer = (range: { buffer: number; offset: number }, cast: string) => {
    const b = layout.buffers[range.buffer]!;
    return `(${cast} *)(${b.region === 'arena' ? 'a' : 'p'} + ${b.offset + 4 * range.offset})`;
  };
  const calls = layout.kernels.map((entry, i) => {
    const k = kernels[i]!;
    const args = entry.args.map((r, j) => pointer(r, C_TYPE[k.args[j]!.dtype]));
    const streams = entry.streams?.length ? `(const uint32_t[]){${entry.streams.join(', ')}}` : 'NULL';
    const pack = k.kind === 'matmul' && keepsPackedB(k, layout.mode) ? `&tcc_packs[${i}]` : 'NULL';
    return `static void tcc_call_${i}(char *p, char *a, const tcc_rt *rt) { ${entry.fn}(${[...args, 'rt', streams, pack].join(', ')}); }`;
  });
  const updates = layout.updates.map((u) => `  memmove(${pointer(u.to, 'char')}, ${pointer(u.from, 'char')}, ${4 * u.from.size});`);
  return [
    w.toString().trimEnd(),
    PRELUDE,
    renderKeepTables(kernels, layout),
    ...bodies,
    `static tcc_pack tcc_packs[${Math.max(calls.length, 1)}];`,
    ...calls,
    `#define TCC_CALLS ${calls.length}`,
    `static void (*const tcc_calls[${Math.max(calls.length, 1)}])(char *, char *, const tcc_rt *) = {${calls.length ? layout.kernels.map((_, i) => `tcc_call_${i}`).join(', ') : '0'}};`,
    `static void tcc_updates(char *p, char *a) {\n  (void)p; (void)a;\n${updates.join('\n')}\n}`,
    NAPI_GLUE,
  ].join('\n');
}

export type { KExpr };
