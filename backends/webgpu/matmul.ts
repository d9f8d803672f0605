// Matmul in WGSL. C[b, i, j] = Σ_p A[b, i, p] · B[b, p, j]. Each operand is
// a function of its coordinates (`operand_a(z…, row, col)`: a strided load,
// or a prologue such as GELU or dropout over loads), and the stores are an
// epilogue function of the output coordinates and the accumulator.
//
// The tiled kernel: a workgroup of 16×16 invocations computes a BM×BN tile of
// C, each invocation a TM×TN block of it held in registers. Per step of BK
// along p, the workgroup stages a BM×BK tile of A and a BK×BN tile of B in
// workgroup memory; a plain operand is loaded along its contiguous axis (p
// for A row-major and B transposed, i or j otherwise), four elements at a
// time through a vec4 binding when the strides allow it; any other operand
// is evaluated element by element. Tile sizes follow the shape: 4×4 blocks
// where a dimension reaches 64, single outputs along a short one.
//
// The direct kernel, one output per invocation reading both operands from
// storage with no workgroup memory, takes the small products (the NSP head,
// attention over a few tokens) and those with fewer than 16 rows or columns
// (a short text's projections, the MLM decoder at batch 1): they have too
// few tiles to fill a GPU, or tiles mostly empty, and stepping through k
// with barriers costs more than it saves.

import type { CodeWriter } from '../common/writer.js';
import { walkExpr, type KExpr, type MatmulKernel, type Operand } from '../../kernel/ir.js';
import { WgslExprs } from './expr.js';
import { BUILTINS, extentWgsl, KernelModule, MAX_GROUPS, sizedBy, type WgslKernel } from './module.js';

export interface Tiling {
  /** Invocations along n and m. */
  readonly wx: number;
  readonly wy: number;
  /** Outputs per invocation along m and n. */
  readonly tm: number;
  readonly tn: number;
  /** Depth of a staged step along p. */
  readonly bk: number;
}

/** Outputs below which a product runs as the direct kernel: eight 64×64 tiles. */
export const DIRECT_OUTPUTS = 8 * 64 * 64;

/** Tiles for products of many tiles; the direct kernel for small ones and for rows or columns shorter than a 16-wide tile. */
export function chooseVariant(k: MatmulKernel): 'tiled' | 'direct' {
  const outputs = k.batch.reduce((a, d) => a * d, k.m * k.n);
  return outputs < DIRECT_OUTPUTS || Math.min(k.m, k.n) < 16 ? 'direct' : 'tiled';
}

export function chooseTiling(m: number, n: number): Tiling {
  return { wx: 16, wy: 16, tm: m >= 64 ? 4 : 1, tn: n >= 64 ? 4 : 1, bk: 16 };
}

/** One operand as the loader sees it: an axis along p and an "outer" axis (i for A, j for B). */
interface Side {
  readonly name: 'a' | 'b';
  readonly operand: Operand;
  /** Strides along p and along the outer axis, when the operand is a plain view. */
  readonly strideP: number;
  readonly strideO: number;
  /** Global extent of the outer axis (m or n) and its tile length (BM or BN). */
  readonly extentO: number;
  readonly tileO: number;
  /** Load four elements at a time along the contiguous axis. */
  vector: boolean;
}

const argsOf = (...exprs: KExpr[]) => {
  const args = new Set<number>();
  for (const e of exprs) walkExpr(e, (x) => x.op === 'load' && args.add(x.arg));
  return args;
};

/** Whether vec4 loads along the contiguous axis stay aligned and in bounds, and the arg is read by nothing else. */
function canVectorize(side: Side, others: ReadonlySet<number>, depth: number, bk: number): boolean {
  const v = side.operand.view;
  if (!v || others.has(v.arg)) return false;
  const { strideP, strideO, extentO, tileO } = side;
  const aligned = v.offset % 4 === 0 && v.batchStrides.every((s) => s % 4 === 0);
  if (strideP === 1) return depth % 4 === 0 && strideO % 4 === 0 && aligned && bk % 4 === 0;
  if (strideO === 1) return extentO % 4 === 0 && strideP % 4 === 0 && aligned && tileO % 4 === 0;
  return false;
}

const batchParams = (k: MatmulKernel) => k.batch.map((_, d) => `z${d}: i32, `).join('');
const batchArgs = (k: MatmulKernel) => k.batch.map((_, d) => `z${d}, `).join('');

/** `fn operand_a(z…, row, col) -> f32` and the like: an operand's element at its coordinates. */
function operandFunction(w: CodeWriter, mod: KernelModule, k: MatmulKernel, name: 'a' | 'b', o: Operand): void {
  const nb = k.batch.length;
  const space = { idx: [...k.batch, name === 'a' ? k.m : k.k, name === 'a' ? k.k : k.n], ridx: [] };
  const scope = new WgslExprs(space, mod.names((axis) => (axis < nb ? `z${axis}` : axis === nb ? 'row' : 'col')));
  w.block(`fn operand_${name}(${batchParams(k)}row: i32, col: i32) -> f32 {`, () => {
    const inner = scope.open(w, [o.value]);
    w.line(`return ${inner.render(o.value)};`);
  });
}

/** `fn epilogue(z…, i, j, acc)`: every store of one output element. */
function epilogueFunction(w: CodeWriter, mod: KernelModule, k: MatmulKernel): void {
  const nb = k.batch.length;
  const scope = new WgslExprs({ idx: [...k.batch, k.m, k.n], ridx: [] }, mod.names((axis) => (axis < nb ? `z${axis}` : axis === nb ? 'i' : 'j')));
  w.block(`fn epilogue(${batchParams(k)}i: i32, j: i32, acc: f32) {`, () => {
    const inner = scope.open(w, k.stores.flatMap((s) => [s.index, s.value]));
    for (const s of k.stores) w.line(`a${s.arg}[${inner.render(s.index)}] = ${inner.render(s.value)};`);
  });
}

/** Lines that copy one operand's tile into workgroup memory `s${name}[p * tileO + o]`. */
function loader(side: Side, k: MatmulKernel, bk: number, threads: number, depth: string): string[] {
  const { name, strideP, strideO, extentO, tileO } = side;
  const fastP = strideP === 1 || strideO !== 1;
  const width = side.vector ? 4 : 1;
  const fastLength = (fastP ? bk : tileO) / width;
  const items = (bk * tileO) / width;
  const lines: string[] = [];
  for (let first = 0; first < items; first += threads) {
    lines.push('{');
    lines.push(`  let item = ${first}i + i32(lid);`);
    const partial = first + threads > items;
    if (partial) lines.push(`  if (item < ${items}i) {`);
    const pad = partial ? '    ' : '  ';
    const [p, o] = fastP ? [`(item % ${fastLength}i) * ${width}i`, `item / ${fastLength}i`] : [`item / ${fastLength}i`, `(item % ${fastLength}i) * ${width}i`];
    lines.push(`${pad}let p = ${p};`);
    lines.push(`${pad}let o = ${o};`);
    lines.push(`${pad}let gp = k0 + p;`);
    lines.push(`${pad}let go = ${name}o0 + o;`);
    lines.push(`${pad}let inside = gp < ${depth} && go < ${extentO}i;`);
    if (width === 1) {
      const call = name === 'a' ? `operand_a(${batchArgs(k)}go, gp)` : `operand_b(${batchArgs(k)}gp, go)`;
      lines.push(`${pad}var v = 0.0f;`);
      lines.push(`${pad}if (inside) { v = ${call}; }`);
      lines.push(`${pad}s${name}[p * ${tileO}i + o] = v;`);
    } else {
      const view = side.operand.view!;
      const batch = view.batchStrides.map((s, d) => (s ? ` + z${d} * ${s}i` : '')).join('');
      const address = `${view.offset}i${batch} + go * ${strideO}i + gp * ${strideP}i`;
      lines.push(`${pad}var v = vec4<f32>(0.0f);`);
      lines.push(`${pad}if (inside) { v = a${view.arg}[(${address}) / 4i]; }`);
      for (let e = 0; e < 4; e++) {
        const at = fastP ? `(p + ${e}i) * ${tileO}i + o` : `p * ${tileO}i + o + ${e}i`;
        lines.push(`${pad}s${name}[${at}] = v[${e}];`);
      }
    }
    if (partial) lines.push('  }');
    lines.push('}');
  }
  return lines;
}

function batchCoordinates(k: MatmulKernel): string[] {
  const lines = ['let zb = i32(wid.z);'];
  let inner = k.batch.reduce((a, d) => a * d, 1);
  k.batch.forEach((d, axis) => {
    inner /= d;
    const q = inner === 1 ? 'zb' : `(zb / ${inner}i)`;
    lines.push(`let z${axis} = ${axis === 0 ? q : `${q} % ${d}i`};`);
  });
  return lines;
}

function batchCount(k: MatmulKernel): number {
  const count = k.batch.reduce((a, d) => a * d, 1);
  if (count > MAX_GROUPS) throw new RangeError(`${k.name}: ${count} matrices in a batch exceed a dispatch`);
  return count;
}

/** A product's rows and depth as WGSL: the run's where they are a packed stream's tokens (a weight's gradient sums over them). */
function sizesWgsl(k: MatmulKernel): { m: string; depth: string } {
  for (const key of ['n', ...k.batch.map((_, i) => `batch.${i}`)]) extentWgsl(k, key, 0, false);
  return { m: extentWgsl(k, 'm', k.m), depth: extentWgsl(k, 'k', k.k) };
}

function renderTiled(k: MatmulKernel): WgslKernel {
  const { m, depth } = sizesWgsl(k);
  const t = chooseTiling(k.m, k.n);
  const bm = t.wy * t.tm;
  const bn = t.wx * t.tn;
  const threads = t.wx * t.wy;
  const a: Side = { name: 'a', operand: k.a, strideP: k.a.view?.colStride ?? 0, strideO: k.a.view?.rowStride ?? 0, extentO: k.m, tileO: bm, vector: false };
  const b: Side = { name: 'b', operand: k.b, strideP: k.b.view?.rowStride ?? 0, strideO: k.b.view?.colStride ?? 0, extentO: k.n, tileO: bn, vector: false };
  const epilogueArgs = argsOf(...k.stores.flatMap((s) => [s.index, s.value]));
  // A depth the run gives may end inside a vector along it: those operands load by element.
  const depthVectors = !k.runtime?.['k'];
  a.vector = canVectorize(a, new Set([...argsOf(k.b.value), ...epilogueArgs]), k.k, t.bk) && (depthVectors || a.strideP !== 1);
  b.vector = canVectorize(b, new Set([...argsOf(k.a.value), ...epilogueArgs]), k.k, t.bk) && (depthVectors || b.strideP !== 1);
  const types: (string | undefined)[] = [];
  if (a.vector) types[k.a.view!.arg] = 'vec4<f32>';
  if (b.vector) types[k.b.view!.arg] = 'vec4<f32>';
  const mod = new KernelModule(k, types);
  const { w } = mod;
  const rows = Array.from({ length: t.tm }, (_, r) => r);
  const cols = Array.from({ length: t.tn }, (_, c) => c);
  const workgroups: [number, number, number] = [Math.ceil(k.n / bn), Math.ceil(k.m / bm), batchCount(k)];
  if (workgroups[0] > MAX_GROUPS || workgroups[1] > MAX_GROUPS) throw new RangeError(`${k.name}: ${k.m}×${k.n} needs more workgroups than a dispatch allows`);
  const how = (s: Side) => (s.vector ? `vec4 along ${s.strideP === 1 ? 'p' : s.name === 'a' ? 'i' : 'j'}` : 'by element');
  w.line(`// ${k.batch.length ? `[${k.batch.join('×')}] × ` : ''}${k.m}×${k.k} · ${k.k}×${k.n}: tiles ${bm}×${bn}×${t.bk}, ${t.tm}×${t.tn} per invocation; A ${how(a)}, B ${how(b)}`);
  w.line(`var<workgroup> sa: array<f32, ${t.bk * bm}>;`);
  w.line(`var<workgroup> sb: array<f32, ${t.bk * bn}>;`);
  w.line('');
  if (!a.vector) operandFunction(w, mod, k, 'a', k.a);
  if (!b.vector) operandFunction(w, mod, k, 'b', k.b);
  epilogueFunction(w, mod, k);
  w.line('');
  w.line(`@compute @workgroup_size(${threads})`);
  w.block(`fn main(${BUILTINS}) {`, () => {
    for (const line of batchCoordinates(k)) w.line(line);
    w.line(`let tx = i32(lid) % ${t.wx}i;`);
    w.line(`let ty = i32(lid) / ${t.wx}i;`);
    w.line(`let ao0 = i32(wid.y) * ${bm}i;`);
    w.line(`let bo0 = i32(wid.x) * ${bn}i;`);
    // Tiles of rows past the run's (a packed stream's tokens) do nothing; the grid covers the most rows.
    if (k.runtime?.['m']) w.line(`if (ao0 >= ${m}) { return; }`);
    w.line(`var acc: array<array<f32, ${t.tn}>, ${t.tm}>;`);
    w.block(`for (var k0 = 0i; k0 < ${depth}; k0 += ${t.bk}i) {`, () => {
      for (const line of [...loader(a, k, t.bk, threads, depth), ...loader(b, k, t.bk, threads, depth)]) w.line(line);
      w.line('workgroupBarrier();');
      w.block(`for (var p = 0i; p < ${t.bk}i; p++) {`, () => {
        for (const r of rows) w.line(`let x${r} = sa[p * ${bm}i + ty * ${t.tm}i + ${r}i];`);
        for (const c of cols) w.line(`let y${c} = sb[p * ${bn}i + tx * ${t.tn}i + ${c}i];`);
        for (const r of rows) w.line(cols.map((c) => `acc[${r}][${c}] += x${r} * y${c};`).join(' '));
      });
      w.line('workgroupBarrier();');
    });
    for (const r of rows) {
      w.line(`let i${r} = ao0 + ty * ${t.tm}i + ${r}i;`);
      for (const c of cols) w.line(`if (i${r} < ${m} && bo0 + tx * ${t.tn}i + ${c}i < ${k.n}i) { epilogue(${batchArgs(k)}i${r}, bo0 + tx * ${t.tn}i + ${c}i, acc[${r}][${c}]); }`);
    }
  });
  return mod.finish([{ entry: 'main', workgroups, ...sizedBy(k, 'm', 1, bm) }]);
}

function renderDirect(k: MatmulKernel): WgslKernel {
  const { m, depth } = sizesWgsl(k);
  const mod = new KernelModule(k);
  const { w } = mod;
  const workgroups: [number, number, number] = [Math.ceil(k.n / 16), Math.ceil(k.m / 16), batchCount(k)];
  operandFunction(w, mod, k, 'a', k.a);
  operandFunction(w, mod, k, 'b', k.b);
  epilogueFunction(w, mod, k);
  w.line('');
  w.line(`@compute @workgroup_size(16, 16)`);
  w.block('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {', () => {
    for (const line of batchCoordinates(k)) w.line(line);
    w.line('let i = i32(wid.y * 16u + local.y);');
    w.line('let j = i32(wid.x * 16u + local.x);');
    w.line(`if (i >= ${m} || j >= ${k.n}i) { return; }`);
    w.line('var s = 0.0f;');
    w.line(`for (var p = 0i; p < ${depth}; p++) { s += operand_a(${batchArgs(k)}i, p) * operand_b(${batchArgs(k)}p, j); }`);
    w.line(`epilogue(${batchArgs(k)}i, j, s);`);
  });
  return mod.finish([{ entry: 'main', workgroups, ...sizedBy(k, 'm', 1, 16) }]);
}

export function renderMatmul(k: MatmulKernel, variant: 'tiled' | 'direct' = chooseVariant(k)): WgslKernel {
  return variant === 'tiled' ? renderTiled(k) : renderDirect(k);
}
