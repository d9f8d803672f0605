// The WGSL renderer: kernel IR → one WGSL module per kernel, with the passes
// (entry point and workgroup counts) that run it. Shapes and strides are
// baked in as constants, as in the CPU renderer.
//
//   map      one invocation per point; an ordered map's invocations walk its
//            ordered axes in a loop (a scatter-add: one per column, rows in
//            order, deterministic, no float atomics)
//   reduce   a workgroup per outer point when there are element stores (row
//            programs: softmax, layer norm) or the reduced space is long:
//            each stage a strided loop and a tree reduction in workgroup
//            memory; otherwise one invocation per outer point
//   matmul   tiles in workgroup memory or a direct kernel (matmul.ts)
//
// Workgroup counts beyond the 65535 a dimension allows fold into a second
// dimension. Sizes stay within WebGPU's default limits (256 invocations,
// 16 KiB of workgroup memory, 8 storage buffers), which every adapter offers.

import type { Kernel, MapKernel, ReduceKernel, Store } from '../../kernel/ir.js';
import { renderAttention, renderAttentionGrad } from './attention.js';
import { WgslExprs } from './expr.js';
import { renderMatmul } from './matmul.js';
import { BUILTINS, coordinates, extentWgsl, flatGrid, groupIndex, KernelModule, MAP_GROUP, ROW_GROUP, type WgslKernel } from './module.js';

export type { WgslKernel } from './module.js';

/** Workgroup-memory tree reductions over ROW_GROUP invocations (called in uniform control flow). */
export const TREE = `var<workgroup> tree: array<f32, ${ROW_GROUP}>;
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
`;

/**
 * Returns from the invocation where a coordinate lies past the run's extent
 * of its axis (a program sized at run time): the grid covers the largest
 * extents. `field` names the axes ('shape', 'reduced'), `name` their
 * coordinates (those before `from` are loops of their own). Uniform per
 * workgroup where the coordinates are.
 */
function skipPastRun(mod: KernelModule, k: Kernel, field: string, extents: readonly number[], name: (axis: number) => string, from = 0): void {
  extents.forEach((d, a) => {
    if (a >= from && k.runtime?.[`${field}.${a}`]) mod.w.line(`if (${name(a)} >= ${extentWgsl(k, `${field}.${a}`, d)}) { return; }`);
  });
}

/** Skips the points of a flat walk of the reduced space past the run's extent of an axis (a sum over a packed stream's tokens). */
function skipReducedPastRun(mod: KernelModule, k: ReduceKernel): void {
  k.reduced.forEach((d, a) => {
    if (k.runtime?.[`reduced.${a}`]) mod.w.line(`if (r${a} >= ${extentWgsl(k, `reduced.${a}`, d)}) { continue; }`);
  });
}

function emitStores(mod: KernelModule, scope: WgslExprs, stores: readonly Store[]): void {
  const inner = scope.open(mod.w, stores.flatMap((s) => [s.index, s.value]));
  for (const s of stores) mod.w.line(`a${s.arg}[${inner.render(s.index)}] = ${inner.render(s.value)};`);
}

function renderMap(k: MapKernel): WgslKernel {
  const mod = new KernelModule(k);
  const ordered = k.ordered ?? 0;
  const split = k.shape.slice(ordered);
  const total = split.reduce((a, d) => a * d, 1);
  const { workgroups, sized } = flatGrid(k, 'shape', split, ordered, MAP_GROUP);
  const scope = new WgslExprs({ idx: k.shape, ridx: [] }, mod.names());
  const walk = (a: number): void => {
    if (a === ordered) return emitStores(mod, scope, k.stores);
    mod.w.block(`for (var c${a} = 0i; c${a} < ${extentWgsl(k, `shape.${a}`, k.shape[a]!)}; c${a}++) {`, () => walk(a + 1));
  };
  mod.w.line(`@compute @workgroup_size(${MAP_GROUP})`);
  mod.w.block(`fn main(${BUILTINS}) {`, () => {
    mod.w.line(`let e = i32(${groupIndex(workgroups)} * ${MAP_GROUP}u + lid);`);
    mod.w.line(`if (e >= ${total}i) { return; }`);
    coordinates(mod.w, split, 'e', (a) => `c${a + ordered}`);
    skipPastRun(mod, k, 'shape', k.shape, (a) => `c${a}`, ordered);
    walk(0);
  });
  return mod.finish([{ entry: 'main', workgroups, ...(sized ? { sized } : {}) }]);
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
    const { workgroups, sized } = flatGrid(k, 'shape', k.shape, 0, MAP_GROUP);
    w.line(`@compute @workgroup_size(${MAP_GROUP})`);
    w.block(`fn main(${BUILTINS}) {`, () => {
      w.line(`let e = i32(${groupIndex(workgroups)} * ${MAP_GROUP}u + lid);`);
      w.line(`if (e >= ${outer}i) { return; }`);
      coordinates(w, k.shape, 'e', (a) => `c${a}`);
      skipPastRun(mod, k, 'shape', k.shape, (a) => `c${a}`);
      k.stages.forEach((stage, i) => {
        if (stage.combine === 'let') {
          w.line(`let v${i} = ${scope.open(w, [stage.value]).render(stage.value)};`);
          return;
        }
        w.line(`var v${i} = ${start(stage.combine)};`);
        w.block(`for (var rr = 0i; rr < ${extent}i; rr++) {`, () => {
          coordinates(w, k.reduced, 'rr', (a) => `r${a}`);
          skipReducedPastRun(mod, k);
          w.line(`let x = ${scope.open(w, [stage.value]).render(stage.value)};`);
          w.line(fold(stage.combine, `v${i}`, 'x'));
        });
      });
      emitStores(mod, scope, k.stores);
    });
    return mod.finish([{ entry: 'main', workgroups, ...(sized ? { sized } : {}) }]);
  }
  const { workgroups, sized } = flatGrid(k, 'shape', k.shape, 0, 1);
  const eachElement = (body: () => void) =>
    w.block(`for (var rr = i32(lid); rr < ${extent}i; rr += ${ROW_GROUP}i) {`, () => {
      coordinates(w, k.reduced, 'rr', (a) => `r${a}`);
      skipReducedPastRun(mod, k);
      body();
    });
  w.line(`@compute @workgroup_size(${ROW_GROUP})`);
  w.block(`fn main(${BUILTINS}) {`, () => {
    w.line(`let e = i32(${groupIndex(workgroups)});`);
    w.line(`if (e >= ${outer}i) { return; }`);
    coordinates(w, k.shape, 'e', (a) => `c${a}`);
    skipPastRun(mod, k, 'shape', k.shape, (a) => `c${a}`);
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
  return mod.finish([{ entry: 'main', workgroups, ...(sized ? { sized } : {}) }], [TREE]);
}

export function renderKernelWgsl(k: Kernel): WgslKernel {
  switch (k.kind) {
    case 'map': return renderMap(k);
    case 'reduce': return renderReduce(k);
    case 'matmul': return renderMatmul(k);
    case 'attention': return renderAttention(k);
    case 'attention_grad': return renderAttentionGrad(k);
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
