// Matmul in WGSL. C[b, i, j] = Σ_p A[b, i, p] · B[b, p, j], operands read
// through strides (a transposed operand has its strides swapped).
//
// The tiled kernel: a workgroup of 16×16 invocations computes a BM×BN tile of
// C, each invocation a TM×TN block of it held in registers. Per step of BK
// along p, the workgroup stages a BM×BK tile of A and a BK×BN tile of B in
// workgroup memory; each operand is loaded along its contiguous axis (p for
// A row-major and B transposed, i or j otherwise), four elements at a time
// through a vec4 binding when the strides allow it. Tile sizes follow the
// shape: 4×4 blocks where a dimension reaches 64, single outputs along a
// short one (the NSP head's 8×2, a batch's few rows).
//
// The direct kernel, one output per invocation reading A and B from storage
// with no workgroup memory, takes the small products (the NSP head, attention
// over a few tokens) and those with fewer than 16 rows or columns (a short
// text's projections, the MLM decoder at batch 1): they have too few tiles
// to fill a GPU, or tiles mostly empty, and stepping through k with barriers
// costs more than it saves.
// The benchmark times it against the tiled kernel on large shapes too.

import type { MatmulKernel, MatmulOperand } from '../../compiler/lower/kernel.js';
import { BUILTINS, KernelModule, MAX_GROUPS, type WgslKernel } from './render.js';

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
  readonly slot: number;
  readonly operand: MatmulOperand;
  readonly strideP: number;
  readonly strideO: number;
  /** Global extent of the outer axis (m or n) and its tile length (BM or BN). */
  readonly extentO: number;
  readonly tileO: number;
  /** Load four elements at a time along the contiguous axis. */
  vector: boolean;
}

/** Whether vec4 loads along the contiguous axis stay aligned and in bounds. */
function canVectorize(side: Side, depth: number, bk: number): boolean {
  const { strideP, strideO, operand, extentO, tileO } = side;
  const batchAligned = operand.batchStrides.every((s) => s % 4 === 0);
  if (strideP === 1) return depth % 4 === 0 && strideO % 4 === 0 && batchAligned && bk % 4 === 0;
  if (strideO === 1) return extentO % 4 === 0 && strideP % 4 === 0 && batchAligned && tileO % 4 === 0;
  return false;
}

/** Lines that copy one operand's tile into workgroup memory `s${name}[p * tileO + o]`. */
function loader(side: Side, source: string, k: MatmulKernel, bk: number, threads: number): string[] {
  const { name, strideP, strideO, extentO, tileO } = side;
  const fastP = strideP === 1 || strideO !== 1;
  const width = side.vector ? 4 : 1;
  const fastLength = (fastP ? bk : tileO) / width;
  const items = (bk * tileO) / width;
  const lines: string[] = [];
  for (let first = 0; first < items; first += threads) {
    const id = `${first}i + i32(lid)`;
    lines.push('{');
    lines.push(`  let item = ${id};`);
    if (first + threads > items) lines.push(`  if (item < ${items}i) {`);
    const pad = first + threads > items ? '    ' : '  ';
    const [p, o] = fastP ? [`(item % ${fastLength}i) * ${width}i`, `item / ${fastLength}i`] : [`item / ${fastLength}i`, `(item % ${fastLength}i) * ${width}i`];
    lines.push(`${pad}let p = ${p};`);
    lines.push(`${pad}let o = ${o};`);
    lines.push(`${pad}let gp = k0 + p;`);
    lines.push(`${pad}let go = ${name}o0 + o;`);
    lines.push(`${pad}let inside = gp < ${k.k}i && go < ${extentO}i;`);
    const address = `${name}Off + go * ${strideO}i + gp * ${strideP}i`;
    if (width === 1) {
      lines.push(`${pad}s${name}[p * ${tileO}i + o] = select(0.0f, ${source}[${address}], inside);`);
    } else {
      lines.push(`${pad}let v = select(vec4<f32>(0.0f), ${source}[(${address}) / 4i], inside);`);
      for (let e = 0; e < 4; e++) {
        const at = fastP ? `(p + ${e}i) * ${tileO}i + o` : `p * ${tileO}i + o + ${e}i`;
        lines.push(`${pad}s${name}[${at}] = v[${e}];`);
      }
    }
    if (first + threads > items) lines.push('  }');
    lines.push('}');
  }
  return lines;
}

function batchOffsets(k: MatmulKernel): string[] {
  const lines = ['let zb = i32(wid.z);'];
  let inner = k.batch.reduce((a, d) => a * d, 1);
  const coords = k.batch.map((d, axis) => {
    inner /= d;
    const q = inner === 1 ? 'zb' : `(zb / ${inner}i)`;
    lines.push(`let z${axis} = ${axis === 0 ? q : `${q} % ${d}i`};`);
    return `z${axis}`;
  });
  const sum = (strides: readonly number[]) => strides.map((s, d) => (s ? `${coords[d]} * ${s}i` : '')).filter(Boolean).join(' + ') || '0i';
  lines.push(`let aOff = ${sum(k.a.batchStrides)};`, `let bOff = ${sum(k.b.batchStrides)};`, `let cOff = zb * ${k.m * k.n}i;`);
  return lines;
}

function batchCount(k: MatmulKernel): number {
  const count = k.batch.reduce((a, d) => a * d, 1);
  if (count > MAX_GROUPS) throw new RangeError(`${k.name}: ${count} matrices in a batch exceed a dispatch`);
  return count;
}

function renderTiled(k: MatmulKernel): WgslKernel {
  const t = chooseTiling(k.m, k.n);
  const bm = t.wy * t.tm;
  const bn = t.wx * t.tn;
  const threads = t.wx * t.wy;
  const a: Side = { name: 'a', slot: 0, operand: k.a, strideP: k.a.colStride, strideO: k.a.rowStride, extentO: k.m, tileO: bm, vector: false };
  const b: Side = { name: 'b', slot: 1, operand: k.b, strideP: k.b.rowStride, strideO: k.b.colStride, extentO: k.n, tileO: bn, vector: false };
  const shared = k.inputs[0]!.buffer === k.inputs[1]!.buffer;
  for (const side of [a, b]) side.vector = !shared && canVectorize(side, k.k, t.bk);
  const mod = new KernelModule(k, [a.vector ? 'vec4<f32>' : 'f32', b.vector ? 'vec4<f32>' : 'f32']);
  const { w } = mod;
  const rows = Array.from({ length: t.tm }, (_, r) => r);
  const cols = Array.from({ length: t.tn }, (_, c) => c);
  const workgroups: [number, number, number] = [Math.ceil(k.n / bn), Math.ceil(k.m / bm), batchCount(k)];
  if (workgroups[0] > MAX_GROUPS || workgroups[1] > MAX_GROUPS) throw new RangeError(`${k.name}: ${k.m}×${k.n} needs more workgroups than a dispatch allows`);
  const layout = `A ${a.vector ? 'vec4' : 'scalar'} along ${a.strideP === 1 || a.strideO !== 1 ? 'p' : 'i'}, B ${b.vector ? 'vec4' : 'scalar'} along ${b.strideP === 1 || b.strideO !== 1 ? 'p' : 'j'}`;
  w.line(`// ${k.batch.length ? `[${k.batch.join('×')}] × ` : ''}${k.m}×${k.k} · ${k.k}×${k.n}: tiles ${bm}×${bn}×${t.bk}, ${t.tm}×${t.tn} per invocation; ${layout}`);
  w.line(`var<workgroup> sa: array<f32, ${t.bk * bm}>;`);
  w.line(`var<workgroup> sb: array<f32, ${t.bk * bn}>;`);
  w.line('');
  w.line(`@compute @workgroup_size(${threads})`);
  w.block(`fn main(${BUILTINS}) {`, () => {
    for (const line of batchOffsets(k)) w.line(line);
    w.line(`let tx = i32(lid) % ${t.wx}i;`);
    w.line(`let ty = i32(lid) / ${t.wx}i;`);
    w.line(`let ao0 = i32(wid.y) * ${bm}i;`);
    w.line(`let bo0 = i32(wid.x) * ${bn}i;`);
    w.line(`var acc: array<array<f32, ${t.tn}>, ${t.tm}>;`);
    w.block(`for (var k0 = 0i; k0 < ${k.k}i; k0 += ${t.bk}i) {`, () => {
      for (const line of [...loader(a, mod.scope.slot(0).name, k, t.bk, threads), ...loader(b, mod.scope.slot(1).name, k, t.bk, threads)]) w.line(line);
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
      for (const c of cols) w.line(`if (i${r} < ${k.m}i && bo0 + tx * ${t.tn}i + ${c}i < ${k.n}i) { out[cOff + i${r} * ${k.n}i + bo0 + tx * ${t.tn}i + ${c}i] = acc[${r}][${c}]; }`);
    }
  });
  return mod.finish([{ entry: 'main', workgroups }]);
}

function renderDirect(k: MatmulKernel): WgslKernel {
  const mod = new KernelModule(k);
  const { w } = mod;
  const workgroups: [number, number, number] = [Math.ceil(k.n / 16), Math.ceil(k.m / 16), batchCount(k)];
  w.line(`@compute @workgroup_size(16, 16)`);
  w.block('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {', () => {
    for (const line of batchOffsets(k)) w.line(line);
    w.line('let i = i32(wid.y * 16u + local.y);');
    w.line('let j = i32(wid.x * 16u + local.x);');
    w.line(`if (i >= ${k.m}i || j >= ${k.n}i) { return; }`);
    w.line('var s = 0.0f;');
    w.line(`for (var p = 0i; p < ${k.k}i; p++) { s += ${mod.scope.slot(0).name}[aOff + i * ${k.a.rowStride}i + p * ${k.a.colStride}i] * ${mod.scope.slot(1).name}[bOff + p * ${k.b.rowStride}i + j * ${k.b.colStride}i]; }`);
    w.line(`out[cOff + i * ${k.n}i + j] = s;`);
  });
  return mod.finish([{ entry: 'main', workgroups }]);
}

export function renderMatmul(k: MatmulKernel, variant: 'tiled' | 'direct' = chooseVariant(k)): WgslKernel {
  return variant === 'tiled' ? renderTiled(k) : renderDirect(k);
}
