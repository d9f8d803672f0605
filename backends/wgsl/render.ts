// The WGSL renderer: kernel IR → one WGSL module per kernel, with the passes
// (entry point and workgroup counts) that run it. Every tensor is bound as
// its own range of a shared storage buffer, declared read_write (a buffer
// bound both read-only and writable in one dispatch is a usage conflict in
// WebGPU; disjoint writable ranges are not). Shapes and strides are baked in
// as constants, as in the CPU renderer.
//
//   map      one invocation per element
//   reduce   one invocation per output, or a workgroup per output when the
//            reduction is long (tree reduction in workgroup memory)
//   matmul   tiles of A and B in workgroup memory, a block of outputs per
//            invocation, vec4 loads along a contiguous axis (matmul.ts)
//   rows     a workgroup per row: softmax, log-softmax, layer norm and its dx
//   scatter  zero the table, then one invocation per column adds the rows in
//            order (deterministic, no float atomics)
//   loss     a workgroup per labelled row, then one workgroup sums the rows
//
// Workgroup counts beyond the 65535 a dimension allows fold into a second
// dimension. Sizes stay within WebGPU's default limits (256 invocations,
// 16 KiB of workgroup memory, 8 storage buffers), which every adapter offers.

import { CodeWriter } from '../common/writer.js';
import type { Kernel, KernelArg, LossKernel, MapKernel, ReduceKernel, RowsKernel, ScalarType, ScatterKernel } from '../../compiler/lower/kernel.js';
import { convert, helpersFor, renderExpr, usesRandom, type ExprScope } from './expr.js';
import { renderMatmul } from './matmul.js';

/** One dispatch of a kernel's module. */
export interface WgslPass {
  readonly entry: string;
  readonly workgroups: readonly [number, number, number];
}

export interface WgslKernel {
  readonly name: string;
  readonly code: string;
  readonly passes: readonly WgslPass[];
  /** Storage bindings in order: buffer ids (inputs deduplicated, then the output). */
  readonly bindings: readonly number[];
  /** f32 elements of scratch memory the kernel needs, bound after the output (0: none). */
  readonly scratch: number;
  /** Whether binding `bindings.length (+1 with scratch)` is the run's uniform (seed, step). */
  readonly uniform: boolean;
  /** The largest workgroup of its entry points, and the workgroup memory the module declares (bytes). */
  readonly invocations: number;
  readonly workgroupBytes: number;
}

/** Invocations per workgroup (the largest @workgroup_size) and workgroup memory of a module, read from its code. */
function workgroupNeeds(code: string): { invocations: number; workgroupBytes: number } {
  const sizes = [...code.matchAll(/@workgroup_size\(([^)]*)\)/g)].map((m) => m[1]!.split(',').reduce((a, d) => a * Number(d.trim()), 1));
  const bytes = [...code.matchAll(/var<workgroup>\s+\w+\s*:\s*array<(?:f32|i32|u32), (\d+)>/g)].reduce((a, m) => a + 4 * Number(m[1]), 0);
  return { invocations: Math.max(1, ...sizes), workgroupBytes: bytes };
}

/** WebGPU's guaranteed minimum of workgroups per dispatch dimension. */
export const MAX_GROUPS = 65535;
export const ROW_GROUP = 64;
const MAP_GROUP = 256;

/** Workgroup counts for `groups` groups, folded into y beyond the per-dimension limit. */
export function grid(groups: number): [number, number, number] {
  if (groups <= MAX_GROUPS) return [Math.max(1, groups), 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  if (y > MAX_GROUPS) throw new RangeError(`${groups} workgroups exceed a dispatch`);
  return [MAX_GROUPS, y, 1];
}

/** The linear workgroup index in a folded grid. */
export function groupIndex(workgroups: readonly [number, number, number]): string {
  return workgroups[1] > 1 ? `(wid.y * ${workgroups[0]}u + wid.x)` : 'wid.x';
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** Bindings and declarations shared by every kernel kind. */
export class KernelModule {
  readonly w = new CodeWriter();
  readonly bindings: number[] = [];
  private readonly slotNames: string[] = [];
  private readonly slotTypes: ScalarType[] = [];
  readonly declarations: string[] = [];
  scratch = 0;
  uniform = false;

  constructor(readonly kernel: Kernel, elementTypes: readonly string[] = []) {
    kernel.inputs.forEach((arg, slot) => {
      if (arg.buffer === kernel.output.buffer) throw new Error(`${kernel.name}: the output is also an operand`);
      const type = elementTypes[slot] ?? arg.dtype;
      const shared = kernel.inputs.findIndex((other, s) => s < slot && other.buffer === arg.buffer && (elementTypes[s] ?? other.dtype) === type);
      if (shared >= 0) {
        this.slotNames.push(this.slotNames[shared]!);
      } else {
        this.slotNames.push(this.bind(arg, type, `b${slot}`));
      }
      this.slotTypes.push(arg.dtype);
    });
    this.bind(kernel.output, kernel.output.dtype, 'out');
  }

  private bind(arg: KernelArg, type: string, name: string): string {
    this.declarations.push(`@group(0) @binding(${this.bindings.length}) var<storage, read_write> ${name}: array<${type}>;`);
    this.bindings.push(arg.buffer);
    return name;
  }

  readonly scope: ExprScope = { slot: (s) => ({ name: this.slotNames[s]!, type: this.slotTypes[s]! }) };

  useScratch(elements: number): void {
    this.scratch = elements;
    this.declarations.push(`@group(0) @binding(${this.bindings.length}) var<storage, read_write> scratch: array<f32>;`);
  }

  useUniform(): void {
    this.uniform = true;
    const at = this.bindings.length + (this.scratch ? 1 : 0);
    this.declarations.push('struct Run { seed: u32, step: u32 }', `@group(0) @binding(${at}) var<uniform> rt: Run;`);
  }

  finish(passes: WgslPass[], shared: readonly string[] = []): WgslKernel {
    const body = this.w.toString();
    const head = [`// ${this.kernel.name}: ${this.kernel.kind} ${this.kernel.label}`.trimEnd(), ...this.declarations, ...shared, ...helpersFor(body)];
    const code = head.join('\n') + '\n\n' + body;
    return { name: this.kernel.name, code, passes, bindings: this.bindings, scratch: this.scratch, uniform: this.uniform, ...workgroupNeeds(code) };
  }
}

/** `let c0 = …; let c1 = …;` from a row-major flat index held in `flat`. */
function coordinates(w: CodeWriter, shape: readonly number[], flat: string): void {
  let inner = shape.reduce((a, d) => a * d, 1);
  shape.forEach((d, axis) => {
    inner /= d;
    const q = inner === 1 ? flat : `(${flat} / ${inner}i)`;
    w.line(`let c${axis} = ${axis === 0 ? q : `${q} % ${d}i`};`);
  });
}

export const BUILTINS = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32';

function renderMap(k: MapKernel): WgslKernel {
  const mod = new KernelModule(k);
  if (usesRandom(k.expr)) mod.useUniform();
  const total = k.output.size;
  const workgroups = grid(ceilDiv(total, MAP_GROUP));
  mod.w.line(`@compute @workgroup_size(${MAP_GROUP})`);
  mod.w.block(`fn main(${BUILTINS}) {`, () => {
    mod.w.line(`let e = i32(${groupIndex(workgroups)} * ${MAP_GROUP}u + lid);`);
    mod.w.line(`if (e >= ${total}i) { return; }`);
    coordinates(mod.w, k.shape, 'e');
    mod.w.line(`out[e] = ${convert(renderExpr(k.expr, mod.scope), k.output.dtype)};`);
  });
  return mod.finish([{ entry: 'main', workgroups }]);
}

/** Workgroup-memory tree reductions over ROW_GROUP invocations (called in uniform control flow). */
const TREE = `var<workgroup> tree: array<f32, ${ROW_GROUP}>;
var<workgroup> tree_index: array<i32, ${ROW_GROUP}>;
fn group_sum(lid: u32, v: f32) -> f32 {
  tree[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_GROUP / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { tree[lid] = tree[lid] + tree[lid + s]; }
    workgroupBarrier();
  }
  let r = tree[0];
  workgroupBarrier();
  return r;
}
fn group_max(lid: u32, v: f32) -> f32 {
  tree[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_GROUP / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { tree[lid] = select(tree[lid], tree[lid + s], tree[lid + s] > tree[lid]); }
    workgroupBarrier();
  }
  let r = tree[0];
  workgroupBarrier();
  return r;
}
// The index of the first largest value: ties go to the smaller index, as a sequential scan does.
fn group_argmax(lid: u32, v: f32, i: i32) -> i32 {
  tree[lid] = v;
  tree_index[lid] = i;
  workgroupBarrier();
  for (var s = ${ROW_GROUP / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let other = tree[lid + s];
      let j = tree_index[lid + s];
      if (j >= 0i && (tree_index[lid] < 0i || other > tree[lid] || (other == tree[lid] && j < tree_index[lid]))) {
        tree[lid] = other;
        tree_index[lid] = j;
      }
    }
    workgroupBarrier();
  }
  let r = tree_index[0];
  workgroupBarrier();
  return r;
}`;

function renderReduce(k: ReduceKernel): WgslKernel {
  const mod = new KernelModule(k);
  if (usesRandom(k.expr)) mod.useUniform();
  const total = k.output.size;
  const value = convert(renderExpr(k.expr, mod.scope), 'f32');
  const finish = convert(renderExpr(k.finish, mod.scope), k.output.dtype);
  const start = k.combine === 'sum' ? '0.0f' : 'special_f32(1u)';
  const fold = k.combine === 'sum' ? 'acc = acc + v;' : 'acc = select(acc, v, v > acc);';
  const { w } = mod;
  if (k.extent < 4 * ROW_GROUP) {
    const workgroups = grid(ceilDiv(total, MAP_GROUP));
    w.line(`@compute @workgroup_size(${MAP_GROUP})`);
    w.block(`fn main(${BUILTINS}) {`, () => {
      w.line(`let e = i32(${groupIndex(workgroups)} * ${MAP_GROUP}u + lid);`);
      w.line(`if (e >= ${total}i) { return; }`);
      coordinates(w, k.shape, 'e');
      w.line(`var acc = ${start};`);
      w.block(`for (var r = 0i; r < ${k.extent}i; r++) {`, () => {
        w.line(`let v = ${value};`);
        w.line(fold);
      });
      w.line(`out[e] = ${finish};`);
    });
    return mod.finish([{ entry: 'main', workgroups }]);
  }
  const workgroups = grid(total);
  w.line(`@compute @workgroup_size(${ROW_GROUP})`);
  w.block(`fn main(${BUILTINS}) {`, () => {
    w.line(`let e = i32(${groupIndex(workgroups)});`);
    w.line(`if (e >= ${total}i) { return; }`);
    coordinates(w, k.shape, 'e');
    w.line(`var acc = ${start};`);
    w.block(`for (var r = i32(lid); r < ${k.extent}i; r += ${ROW_GROUP}i) {`, () => {
      w.line(`let v = ${value};`);
      w.line(fold);
    });
    w.line(`acc = ${k.combine === 'sum' ? 'group_sum' : 'group_max'}(lid, acc);`);
    w.line(`if (lid == 0u) { out[e] = ${finish}; }`);
  });
  return mod.finish([{ entry: 'main', workgroups }], [TREE]);
}

function renderRows(k: RowsKernel): WgslKernel {
  const mod = new KernelModule(k);
  const { w } = mod;
  const rows = k.outer * k.inner;
  const workgroups = grid(rows);
  const at = (j: string) => (k.inner === 1 ? `base + ${j}` : `base + ${j} * ${k.inner}i`);
  const each = (body: string) => w.line(`for (var j = i32(lid); j < ${k.size}i; j += ${ROW_GROUP}i) { ${body} }`);
  const n = `${k.size}.0f`;
  w.line(`@compute @workgroup_size(${ROW_GROUP})`);
  w.block(`fn main(${BUILTINS}) {`, () => {
    w.line(`let row = i32(${groupIndex(workgroups)});`);
    w.line(`if (row >= ${rows}i) { return; }`);
    w.line(`let base = (row / ${k.inner}i) * ${k.size * k.inner}i + row % ${k.inner}i;`);
    if (k.fn === 'layer_norm' || k.fn === 'layer_norm_dx') {
      w.line('var part = 0.0f;');
      each(`part += b0[${at('j')}];`);
      w.line(`let mean = group_sum(lid, part) / ${n};`);
      w.line('part = 0.0f;');
      each(`let d = b0[${at('j')}] - mean; part += d * d;`);
      w.line(`let inv = 1.0f / sqrt(group_sum(lid, part) / ${n} + ${renderExpr({ op: 'const', value: k.eps, type: 'f32' }, mod.scope).code});`);
      if (k.fn === 'layer_norm') {
        each(`out[${at('j')}] = (b0[${at('j')}] - mean) * inv * b1[j] + b2[j];`);
        return;
      }
      // b0 = x, b1 = gamma, b2 = dy: dx = inv · (g·dy − mean(g·dy) − x̂·mean(g·dy·x̂))
      w.line('var partG = 0.0f;');
      w.line('var partGX = 0.0f;');
      each(`let g = b1[j] * b2[${at('j')}]; partG += g; partGX += g * (b0[${at('j')}] - mean) * inv;`);
      w.line(`let meanG = group_sum(lid, partG) / ${n};`);
      w.line(`let meanGX = group_sum(lid, partGX) / ${n};`);
      each(`out[${at('j')}] = inv * (b1[j] * b2[${at('j')}] - meanG - (b0[${at('j')}] - mean) * inv * meanGX);`);
      return;
    }
    w.line('var part = special_f32(1u);');
    each(`part = select(part, b0[${at('j')}], b0[${at('j')}] > part);`);
    w.line('let top = group_max(lid, part);');
    w.line('part = 0.0f;');
    each(`part += exp(b0[${at('j')}] - top);`);
    w.line('let sum = group_sum(lid, part);');
    if (k.fn === 'softmax') each(`out[${at('j')}] = exp(b0[${at('j')}] - top) / sum;`);
    else {
      w.line('let log_sum = log(sum);');
      each(`out[${at('j')}] = b0[${at('j')}] - top - log_sum;`);
    }
  });
  return mod.finish([{ entry: 'main', workgroups }], [TREE]);
}

function renderScatter(k: ScatterKernel): WgslKernel {
  const mod = new KernelModule(k);
  const { w } = mod;
  const table = k.output.size;
  const zeroGroups = grid(ceilDiv(table, MAP_GROUP));
  const addGroups = grid(ceilDiv(k.rowSize, MAP_GROUP));
  w.line(`@compute @workgroup_size(${MAP_GROUP})`);
  w.block(`fn zero(${BUILTINS}) {`, () => {
    w.line(`let e = i32(${groupIndex(zeroGroups)} * ${MAP_GROUP}u + lid);`);
    w.line(`if (e < ${table}i) { out[e] = 0.0f; }`);
  });
  w.line('');
  w.line('// Each invocation owns one column and adds the rows in index order.');
  w.line(`@compute @workgroup_size(${MAP_GROUP})`);
  w.block(`fn add(${BUILTINS}) {`, () => {
    w.line(`let j = i32(${groupIndex(addGroups)} * ${MAP_GROUP}u + lid);`);
    w.line(`if (j >= ${k.rowSize}i) { return; }`);
    w.block(`for (var i = 0i; i < ${k.count}i; i++) {`, () => {
      w.line(`let at = b0[i] * ${k.rowSize}i + j;`);
      w.line(`out[at] = out[at] + b1[i * ${k.rowSize}i + j];`);
    });
  });
  return mod.finish([{ entry: 'zero', workgroups: zeroGroups }, { entry: 'add', workgroups: addGroups }]);
}

/** b0 = logits [rows, classes], b1 = labels [rows], b2 = dloss (gradient only). */
function renderLoss(k: LossKernel): WgslKernel {
  const mod = new KernelModule(k);
  const { w } = mod;
  const { rows, classes, ignoreIndex } = k;
  const workgroups = grid(rows);
  const each = (body: string) => w.line(`for (var c = i32(lid); c < ${classes}i; c += ${ROW_GROUP}i) { ${body} }`);
  const rowStart = () => {
    w.line(`let row = i32(${groupIndex(workgroups)});`);
    w.line(`if (row >= ${rows}i) { return; }`);
    w.line('let label = b1[row];');
    w.line(`let base = row * ${classes}i;`);
  };
  const logSumExp = () => {
    w.line('var part = special_f32(1u);');
    each('part = select(part, b0[base + c], b0[base + c] > part);');
    w.line('let top = group_max(lid, part);');
    w.line('part = 0.0f;');
    each('part += exp(b0[base + c] - top);');
    w.line('let lse = top + log(group_sum(lid, part));');
  };
  if (k.fn === 'cross_entropy_grad') {
    w.line(`@compute @workgroup_size(${ROW_GROUP})`);
    w.block(`fn main(${BUILTINS}) {`, () => {
      rowStart();
      w.line('var counted = 0.0f;');
      w.line(`for (var r = i32(lid); r < ${rows}i; r += ${ROW_GROUP}i) { counted += select(1.0f, 0.0f, b1[r] == ${ignoreIndex}i); }`);
      w.line('let count = group_sum(lid, counted);');
      // Labels are not uniform values: every row computes, unlabelled rows write zeros.
      logSumExp();
      w.line(`let scale = select(b2[0] / count, 0.0f, label == ${ignoreIndex}i);`);
      each('out[base + c] = (exp(b0[base + c] - lse) - select(0.0f, 1.0f, c == label)) * scale;');
    });
    return mod.finish([{ entry: 'main', workgroups }], [TREE]);
  }
  // Pass 1: per row, scratch[row] = the row's value and scratch[rows + row] = 1 if labelled.
  mod.useScratch(2 * rows);
  w.line(`@compute @workgroup_size(${ROW_GROUP})`);
  w.block(`fn rows(${BUILTINS}) {`, () => {
    rowStart();
    w.line(`let labelled = label != ${ignoreIndex}i;`);
    if (k.fn === 'accuracy') {
      w.line('var best = -1i;');
      w.line('var top = 0.0f;');
      each('let v = b0[base + c]; if (best < 0i || v > top) { best = c; top = v; }');
      w.line('let winner = group_argmax(lid, top, best);');
      w.line(`if (lid == 0u) { scratch[row] = select(0.0f, 1.0f, labelled && winner == label); scratch[${rows}i + row] = select(0.0f, 1.0f, labelled); }`);
    } else {
      logSumExp();
      w.line(`if (lid == 0u) { scratch[row] = select(0.0f, lse - b0[base + max(label, 0i)], labelled); scratch[${rows}i + row] = select(0.0f, 1.0f, labelled); }`);
    }
  });
  w.line('');
  w.line('// Pass 2: the mean over labelled rows (0 when none are).');
  w.line(`@compute @workgroup_size(${ROW_GROUP})`);
  w.block(`fn total(@builtin(local_invocation_index) lid: u32) {`, () => {
    w.line('var total = 0.0f;');
    w.line('var counted = 0.0f;');
    w.line(`for (var r = i32(lid); r < ${rows}i; r += ${ROW_GROUP}i) { total += scratch[r]; counted += scratch[${rows}i + r]; }`);
    w.line('let sum = group_sum(lid, total);');
    w.line('let count = group_sum(lid, counted);');
    w.line('if (lid == 0u) { out[0] = select(0.0f, sum / count, count > 0.0f); }');
  });
  return mod.finish([{ entry: 'rows', workgroups }, { entry: 'total', workgroups: [1, 1, 1] }], [TREE]);
}

export function renderKernelWgsl(k: Kernel): WgslKernel {
  switch (k.kind) {
    case 'map': return renderMap(k);
    case 'reduce': return renderReduce(k);
    case 'rows': return renderRows(k);
    case 'scatter': return renderScatter(k);
    case 'loss': return renderLoss(k);
    case 'matmul': return renderMatmul(k);
  }
}

