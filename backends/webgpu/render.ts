// The WGSL renderer: kernel IR → one WGSL module per kernel, with the passes
// (entry point and workgroup counts) that run it. Shapes and strides are
// baked in as constants, as in the CPU renderer.
//
//   map      one invocation per point
//   reduce   a workgroup per outer point when there are element stores (row
//            programs: softmax, layer norm) or the reduced space is long:
//            each stage a strided loop and a tree reduction in workgroup
//            memory; otherwise one invocation per outer point
//   matmul   tiles in workgroup memory or a direct kernel (matmul.ts)
//   scatter  zero the table, then one invocation per column adds the rows in
//            order (deterministic, no float atomics)
//   loss     a workgroup per labelled row, then one workgroup sums the rows
//
// Workgroup counts beyond the 65535 a dimension allows fold into a second
// dimension. Sizes stay within WebGPU's default limits (256 invocations,
// 16 KiB of workgroup memory, 8 storage buffers), which every adapter offers.

import type { Kernel, LossKernel, MapKernel, ReduceKernel, ScatterKernel, Slice, Store } from '../../kernel/ir.js';
import { renderAttention, renderAttentionGrad } from './attention.js';
import { WgslExprs } from './expr.js';
import { renderMatmul } from './matmul.js';
import { BUILTINS, ceilDiv, coordinates, grid, groupIndex, KernelModule, MAP_GROUP, ROW_GROUP, type WgslKernel } from './module.js';

export type { WgslKernel } from './module.js';

/** Workgroup-memory tree reductions over ROW_GROUP invocations (called in uniform control flow). */
export const TREE = `var<workgroup> tree: array<f32, ${ROW_GROUP}>;
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

function emitStores(mod: KernelModule, scope: WgslExprs, stores: readonly Store[]): void {
  const inner = scope.open(mod.w, stores.flatMap((s) => [s.index, s.value]));
  for (const s of stores) mod.w.line(`a${s.arg}[${inner.render(s.index)}] = ${inner.render(s.value)};`);
}

function renderMap(k: MapKernel): WgslKernel {
  const mod = new KernelModule(k);
  const total = k.shape.reduce((a, d) => a * d, 1);
  const workgroups = grid(ceilDiv(total, MAP_GROUP));
  const scope = new WgslExprs({ idx: k.shape, ridx: [] }, mod.names());
  mod.w.line(`@compute @workgroup_size(${MAP_GROUP})`);
  mod.w.block(`fn main(${BUILTINS}) {`, () => {
    mod.w.line(`let e = i32(${groupIndex(workgroups)} * ${MAP_GROUP}u + lid);`);
    mod.w.line(`if (e >= ${total}i) { return; }`);
    coordinates(mod.w, k.shape, 'e', (a) => `c${a}`);
    emitStores(mod, scope, k.stores);
  });
  return mod.finish([{ entry: 'main', workgroups }]);
}

/** Reductions this long, or with element stores, take a workgroup per outer point. */
const GROUP_REDUCTION = 4 * ROW_GROUP;

function renderReduce(k: ReduceKernel): WgslKernel {
  const mod = new KernelModule(k);
  const { w } = mod;
  const outer = k.shape.reduce((a, d) => a * d, 1);
  const extent = k.reduced.reduce((a, d) => a * d, 1);
  const scope = new WgslExprs({ idx: k.shape, ridx: k.reduced }, mod.names());
  const start = (combine: string) => (combine === 'sum' ? '0.0f' : 'special_f32(1u)');
  const fold = (combine: string, into: string, x: string) => (combine === 'sum' ? `${into} = ${into} + ${x};` : `${into} = select(${into}, ${x}, ${x} > ${into});`);
  const byGroup = k.elementStores.length > 0 || extent >= GROUP_REDUCTION;
  if (!byGroup) {
    const workgroups = grid(ceilDiv(outer, MAP_GROUP));
    w.line(`@compute @workgroup_size(${MAP_GROUP})`);
    w.block(`fn main(${BUILTINS}) {`, () => {
      w.line(`let e = i32(${groupIndex(workgroups)} * ${MAP_GROUP}u + lid);`);
      w.line(`if (e >= ${outer}i) { return; }`);
      coordinates(w, k.shape, 'e', (a) => `c${a}`);
      k.stages.forEach((stage, i) => {
        if (stage.combine === 'let') {
          w.line(`let v${i} = ${scope.open(w, [stage.value]).render(stage.value)};`);
          return;
        }
        w.line(`var v${i} = ${start(stage.combine)};`);
        w.block(`for (var rr = 0i; rr < ${extent}i; rr++) {`, () => {
          coordinates(w, k.reduced, 'rr', (a) => `r${a}`);
          w.line(`let x = ${scope.open(w, [stage.value]).render(stage.value)};`);
          w.line(fold(stage.combine, `v${i}`, 'x'));
        });
      });
      emitStores(mod, scope, k.stores);
    });
    return mod.finish([{ entry: 'main', workgroups }]);
  }
  const workgroups = grid(outer);
  const eachElement = (body: () => void) =>
    w.block(`for (var rr = i32(lid); rr < ${extent}i; rr += ${ROW_GROUP}i) {`, () => {
      coordinates(w, k.reduced, 'rr', (a) => `r${a}`);
      body();
    });
  w.line(`@compute @workgroup_size(${ROW_GROUP})`);
  w.block(`fn main(${BUILTINS}) {`, () => {
    w.line(`let e = i32(${groupIndex(workgroups)});`);
    w.line(`if (e >= ${outer}i) { return; }`);
    coordinates(w, k.shape, 'e', (a) => `c${a}`);
    k.stages.forEach((stage, i) => {
      if (stage.combine === 'let') {
        w.line(`let v${i} = ${scope.open(w, [stage.value]).render(stage.value)};`);
        return;
      }
      w.line(`var part${i} = ${start(stage.combine)};`);
      eachElement(() => {
        w.line(`let x = ${scope.open(w, [stage.value]).render(stage.value)};`);
        w.line(fold(stage.combine, `part${i}`, 'x'));
      });
      w.line(`let v${i} = ${stage.combine === 'sum' ? 'group_sum' : 'group_max'}(lid, part${i});`);
    });
    if (k.stores.length) w.block('if (lid == 0u) {', () => emitStores(mod, scope, k.stores));
    if (k.elementStores.length) eachElement(() => emitStores(mod, scope, k.elementStores));
  });
  return mod.finish([{ entry: 'main', workgroups }], [TREE]);
}

const at = (s: Slice, index: string) => `a${s.arg}[${s.offset ? `${s.offset}i + ` : ''}${index}]`;

function renderScatter(k: ScatterKernel): WgslKernel {
  const mod = new KernelModule(k);
  const { w } = mod;
  const table = k.rows * k.rowSize;
  const zeroGroups = grid(ceilDiv(table, MAP_GROUP));
  const addGroups = grid(ceilDiv(k.rowSize, MAP_GROUP));
  w.line(`@compute @workgroup_size(${MAP_GROUP})`);
  w.block(`fn zero(${BUILTINS}) {`, () => {
    w.line(`let e = i32(${groupIndex(zeroGroups)} * ${MAP_GROUP}u + lid);`);
    w.line(`if (e < ${table}i) { ${at(k.table, 'e')} = 0.0f; }`);
  });
  w.line('');
  w.line('// Each invocation owns one column and adds the rows in index order.');
  w.line(`@compute @workgroup_size(${MAP_GROUP})`);
  w.block(`fn add(${BUILTINS}) {`, () => {
    w.line(`let j = i32(${groupIndex(addGroups)} * ${MAP_GROUP}u + lid);`);
    w.line(`if (j >= ${k.rowSize}i) { return; }`);
    w.block(`for (var i = 0i; i < ${k.count}i; i++) {`, () => {
      // Ids outside the table (a program edited by hand: the runtime checks its inputs) add nothing.
      w.line(`let id = ${at(k.ids, 'i')};`);
      w.line(`if (id < 0i || id >= ${k.rows}i) { continue; }`);
      w.line(`let place = id * ${k.rowSize}i + j;`);
      w.line(`${at(k.table, 'place')} = ${at(k.table, 'place')} + ${at(k.values, `i * ${k.rowSize}i + j`)};`);
    });
  });
  return mod.finish([{ entry: 'zero', workgroups: zeroGroups }, { entry: 'add', workgroups: addGroups }]);
}

function renderLoss(k: LossKernel): WgslKernel {
  const mod = new KernelModule(k);
  const { w } = mod;
  const { rows, classes, ignoreIndex } = k;
  const workgroups = grid(rows);
  const logit = (c: string) => at(k.logits, `base + ${c}`);
  // A row counts when its label is a class: ignoreIndex, and anything else outside [0, classes), leaves it out.
  const labelled = (x: string) => `(${x} != ${ignoreIndex}i && ${x} >= 0i && ${x} < ${classes}i)`;
  const each = (body: string) => w.line(`for (var c = i32(lid); c < ${classes}i; c += ${ROW_GROUP}i) { ${body} }`);
  const rowStart = () => {
    w.line(`let row = i32(${groupIndex(workgroups)});`);
    w.line(`if (row >= ${rows}i) { return; }`);
    w.line(`let label = ${at(k.labels, 'row')};`);
    w.line(`let labelled = ${labelled('label')};`);
    w.line(`let base = row * ${classes}i;`);
  };
  const logSumExp = () => {
    w.line('var part = special_f32(1u);');
    each(`part = select(part, ${logit('c')}, ${logit('c')} > part);`);
    w.line('let top = group_max(lid, part);');
    w.line('part = 0.0f;');
    each(`part += exp(${logit('c')} - top);`);
    w.line('let lse = top + log(group_sum(lid, part));');
  };
  if (k.fn === 'cross_entropy_grad') {
    w.line(`@compute @workgroup_size(${ROW_GROUP})`);
    w.block(`fn main(${BUILTINS}) {`, () => {
      rowStart();
      w.line('var counted = 0.0f;');
      w.line(`for (var r = i32(lid); r < ${rows}i; r += ${ROW_GROUP}i) { let l = ${at(k.labels, 'r')}; counted += select(0.0f, 1.0f, ${labelled('l')}); }`);
      w.line('let count = group_sum(lid, counted);');
      // Labels are not uniform values: every row computes, unlabelled rows write zeros.
      logSumExp();
      w.line(`let scale = select(0.0f, ${at(k.dloss!, '0')} / count, labelled);`);
      each(`${at(k.out, 'base + c')} = (exp(${logit('c')} - lse) - select(0.0f, 1.0f, c == label)) * scale;`);
    });
    return mod.finish([{ entry: 'main', workgroups }], [TREE]);
  }
  // Pass 1: per row, scratch[row] = the row's value and scratch[rows + row] = 1 if labelled.
  mod.useScratch(2 * rows);
  w.line(`@compute @workgroup_size(${ROW_GROUP})`);
  w.block(`fn rows(${BUILTINS}) {`, () => {
    rowStart();
    if (k.fn === 'accuracy') {
      w.line('var best = -1i;');
      w.line('var top = 0.0f;');
      each(`let v = ${logit('c')}; if (best < 0i || v > top) { best = c; top = v; }`);
      w.line('let winner = group_argmax(lid, top, best);');
      w.line(`if (lid == 0u) { scratch[row] = select(0.0f, 1.0f, labelled && winner == label); scratch[${rows}i + row] = select(0.0f, 1.0f, labelled); }`);
    } else {
      logSumExp();
      w.line(`if (lid == 0u) { scratch[row] = select(0.0f, lse - ${logit(`clamp(label, 0i, ${classes - 1}i)`)}, labelled); scratch[${rows}i + row] = select(0.0f, 1.0f, labelled); }`);
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
    w.line(`if (lid == 0u) { ${at(k.out, '0')} = select(0.0f, sum / count, count > 0.0f); }`);
  });
  return mod.finish([{ entry: 'rows', workgroups }, { entry: 'total', workgroups: [1, 1, 1] }], [TREE]);
}

export function renderKernelWgsl(k: Kernel): WgslKernel {
  switch (k.kind) {
    case 'map': return renderMap(k);
    case 'reduce': return renderReduce(k);
    case 'matmul': return renderMatmul(k);
    case 'attention': return renderAttention(k);
    case 'attention_grad': return renderAttentionGrad(k);
    case 'scatter': return renderScatter(k);
    case 'loss': return renderLoss(k);
  }
}

/**
 * The WGSL module of each distinct kernel, by its function name (`fns`
 * names each kernel's; the layers of a model share one), and how it is
 * bound and dispatched.
 */
export function renderProgramWgsl(kernels: readonly Kernel[], fns: readonly string[]): Map<string, WgslKernel> {
  const modules = new Map<string, WgslKernel>();
  kernels.forEach((k, i) => {
    if (!modules.has(fns[i]!)) modules.set(fns[i]!, renderKernelWgsl(k));
  });
  return modules;
}
