// What every WGSL kernel module shares: one storage binding per kernel arg
// (read_write: WebGPU forbids a buffer bound read-only and writable in one
// dispatch; disjoint writable ranges are allowed), the run's uniform (seed,
// step), the workgroup grid, and the module's
// needs (invocations and workgroup memory) read from its code.

import { CodeWriter, commentText } from '../common/writer.js';
import { extentText } from '../common/expr-scope.js';
import type { Kernel, RuntimeSize } from '../../kernel/ir.js';
import { helpersFor, type WgslNames } from './expr.js';

/** One dispatch of a kernel's module. */
export interface WgslPass {
  readonly entry: string;
  /** The grid at the kernel's largest extents. */
  readonly workgroups: readonly [number, number, number];
  /** The grid dimension a run sizes, where the run's invocations are a leading part of it. */
  readonly sized?: SizedGrid;
}

/** Grid dimension `axis` of a run: ⌈(scale × size + offset) × times / per⌉ workgroups, at most the stated count. */
export interface SizedGrid {
  readonly axis: 0 | 1 | 2;
  readonly size: RuntimeSize;
  readonly times: number;
  readonly per: number;
}

/** A pass's grid dimension `axis` sized by the kernel's extent `key` (per workgroup `per` of it, `times` invocations each), if a run gives that extent. */
export function sizedBy(k: Kernel, key: string, axis: SizedGrid['axis'], per: number, times = 1): { sized?: SizedGrid } {
  const size = k.runtime?.[key];
  return size ? { sized: { axis, size, times, per } } : {};
}

/**
 * The grid of a map or reduction over `shape` in `groups` of `per` points
 * (a flat index, the first axis outermost), sized by the run where the
 * first axis longer than 1 is one a run gives (the run's points are then a
 * leading part of the flat index) and the grid is not folded into y.
 */
export function flatGrid(k: Kernel, field: string, shape: readonly number[], offset: number, per: number): { workgroups: [number, number, number]; sized?: SizedGrid } {
  const total = shape.reduce((a, d) => a * d, 1);
  const workgroups = grid(ceilDiv(total, per));
  const first = shape.findIndex((d) => d > 1);
  if (first < 0 || workgroups[1] > 1) return { workgroups };
  return { workgroups, ...sizedBy(k, `${field}.${first + offset}`, 0, per, shape.slice(first + 1).reduce((a, d) => a * d, 1)) };
}

/** A pass's grid in a run of these sizes. */
export function runGrid(pass: Pick<WgslPass, 'workgroups' | 'sized'>, sizes: readonly number[] | undefined): readonly [number, number, number] {
  const { sized } = pass;
  if (!sized || !sizes) return pass.workgroups;
  const { size } = sized;
  const count = Math.ceil(((size.scale * sizes[size.symbol]! + size.offset) * sized.times) / sized.per);
  const out: [number, number, number] = [...pass.workgroups];
  out[sized.axis] = Math.max(1, Math.min(out[sized.axis], count));
  return out;
}

export interface WgslKernel {
  readonly name: string;
  readonly code: string;
  readonly passes: readonly WgslPass[];
  /** Storage bindings in order: the kernel's arg indices. */
  readonly bindings: readonly number[];
  /** Whether the binding after them is the run's uniform (seed, step). */
  readonly uniform: boolean;
  /** Whether the last binding is the kernel's streams (a uniform). */
  readonly streams: boolean;
  /** The largest workgroup of its entry points, and the workgroup memory the module declares (bytes). */
  readonly invocations: number;
  readonly workgroupBytes: number;
}

/** WebGPU's guaranteed minimum of workgroups per dispatch dimension. */
export const MAX_GROUPS = 65535;
export const ROW_GROUP = 64;
export const MAP_GROUP = 256;

export const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** Sizes a run gives that a WGSL kernel reads (rt.sizes, a vec4). */
export const RUN_SIZES = 4;

/**
 * A kernel's extent as a WGSL i32: its number, or what the run gives in
 * rt.sizes (extentText). Invocations past the run's extent do nothing; the
 * dispatch covers the run's extent where the run's invocations lead the
 * grid (runGrid), else the largest.
 */
export function extentWgsl(k: Kernel, key: string, value: number, runtime = true): string {
  const r = k.runtime?.[key];
  if (r && r.symbol >= RUN_SIZES) throw new Error(`${k.name}: WebGPU reads ${RUN_SIZES} sizes a run gives, not size ${r.symbol}`);
  return r ? `(${extentText(k, key, value, 'rt.sizes', 'webgpu', runtime)})` : `${value}i`;
}

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

export const BUILTINS = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32';

/** Invocations per workgroup (the largest @workgroup_size) and workgroup memory of a module, read from its code. */
function workgroupNeeds(code: string): { invocations: number; workgroupBytes: number } {
  const sizes = [...code.matchAll(/@workgroup_size\(([^)]*)\)/g)].map((m) => m[1]!.split(',').reduce((a, d) => a * Number(d.trim()), 1));
  const bytes = [...code.matchAll(/var<workgroup>\s+\w+\s*:\s*array<(?:f32|i32|u32), (\d+)>/g)].reduce((a, m) => a + 4 * Number(m[1]), 0);
  return { invocations: Math.max(1, ...sizes), workgroupBytes: bytes };
}

/** `let c0 = …; let c1 = …;` from a row-major flat index held in `flat` (non-negative). */
export function coordinates(w: CodeWriter, shape: readonly number[], flat: string, name: (axis: number) => string): void {
  let inner = shape.reduce((a, d) => a * d, 1);
  shape.forEach((d, axis) => {
    inner /= d;
    if (d === 1) {
      w.line(`let ${name(axis)} = 0i;`);
      return;
    }
    const q = inner === 1 ? flat : `(${flat} / ${inner}i)`;
    w.line(`let ${name(axis)} = ${axis === 0 ? q : `${q} % ${d}i`};`);
  });
}

export class KernelModule {
  readonly w = new CodeWriter();
  readonly bindings: number[] = [];
  readonly declarations: string[] = [];
  uniform = false;

  /** `elementTypes[i]` overrides arg i's array element type (vec4 loads). */
  constructor(readonly kernel: Kernel, elementTypes: readonly (string | undefined)[] = []) {
    kernel.args.forEach((arg, i) => {
      const type = elementTypes[i] ?? arg.dtype;
      this.declarations.push(`@group(0) @binding(${i}) var<storage, read_write> a${i}: array<${type}>;`);
      this.bindings.push(i);
    });
  }

  /** Coordinates named c0…, reduced coordinates r0…, args a0…. */
  names(idx: (axis: number) => string = (a) => `c${a}`, ridx: (axis: number) => string = (a) => `r${a}`): WgslNames {
    return { idx, ridx, arg: (a) => `a${a}` };
  }

  useUniform(): void {
    this.uniform = true;
    const at = this.bindings.length;
    this.declarations.push(`struct Run { seed: u32, step: u32, pad0: u32, pad1: u32, sizes: vec4<i32> }`, `@group(0) @binding(${at}) var<uniform> rt: Run;`);
  }

  finish(passes: WgslPass[], shared: readonly string[] = []): WgslKernel {
    const body = this.w.toString();
    if (!this.uniform && /\brt\./.test(body)) this.useUniform();
    // The kernel's random streams: a uniform bound after everything else.
    const streams = /\bks\./.test(body);
    if (streams) {
      const at = this.bindings.length + (this.uniform ? 1 : 0);
      this.declarations.push(`struct Streams { s: array<vec4<u32>, ${Math.max(1, Math.ceil(this.kernel.streams.length / 4))}> }`, `@group(0) @binding(${at}) var<uniform> ks: Streams;`);
    }
    const head = [`// ${this.kernel.kind} ${commentText(this.kernel.label)}`.trimEnd(), ...this.declarations, ...shared, ...helpersFor(body)];
    const code = head.join('\n') + '\n\n' + body;
    return { name: this.kernel.name, code, passes, bindings: this.bindings, uniform: this.uniform, streams, ...workgroupNeeds(code) };
  }
}
