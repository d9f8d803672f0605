// The op-test table on a backend: one op per graph, the same f32 inputs as
// the float64 interpreter, and the worst error relative to the tolerance.

import { expect } from 'vitest';
import { buildProgram } from '../../compiler/program.js';
import type { BackendName as Backend } from '../../runtime/executor.js';
import { GraphBuilder, type Mode } from '../../compiler/ir/graph.js';
import { interpret } from '../../compiler/ir/interpret.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import { openSession, Session } from '../../runtime/session.js';
import { checkProgram } from '../../runtime/program-check.js';
import { openOn, type Backend as BackendObject } from '../../backends/registry.js';
import type { OpCase, OperandSpec } from '../ops/cases.js';
import { randomTensor, rng } from '../helpers/random.js';

/** |got - want| <= atol + rtol·|want| everywhere; returns the worst ratio to that bound. */
export function closeness(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (atol + rtol * Math.abs(want[i]!)));
  return worst;
}

const f32 = (t: HostTensor): HostTensor => (t.dtype === 'f32' ? hostTensor('f32', t.shape, Float32Array.from(t.data)) : t);

/** A case's name in test listings: the op, its index and operand types. */
export const caseName = (c: OpCase, i: number) => `${c.op} #${i} ${c.operands.map((o) => `${o.dtype}[${o.shape}]`).join(' ')}`;

/** A session on a registered backend by name, or on a backend object (a variant of one, e.g. with fewer intrinsics). */
async function sessionOn(compiled: ReturnType<typeof buildProgram>, backend: Backend | BackendObject): Promise<Session> {
  if (typeof backend === 'string') return openSession(compiled, { backend });
  const { program, kernels } = checkProgram(compiled.program, 'the program');
  return new Session(program, await openOn(backend, program, kernels));
}

/** Runs one case on a backend and the interpreter; returns the worst error over the tolerance (≤ 1 passes). */
export async function checkOp(test: OpCase, mode: Mode, seed: number, backend: Backend | BackendObject, rtol: number, atol: number): Promise<number> {
  const next = rng(seed);
  const g = new GraphBuilder('case', mode, {});
  const xs = test.operands.map((o) => f32(o.values ? hostTensor(o.dtype, o.shape, o.values) : randomTensor(next, o.dtype, o.shape, o.lo ?? -2, o.hi ?? 2)));
  const args = xs.map((x, k) => g.add('input', [], { name: `x${k}`, dtype: x.dtype, shape: [...x.shape] }).id);
  const node = g.add(test.op, args, test.attrs as never);
  g.output('y', node.id);
  const graph = g.build();
  const source = f32(randomTensor(next, node.type.dtype, node.type.shape));
  const feeds: Record<string, HostTensor> = { ...Object.fromEntries(xs.map((x, k) => [`x${k}`, x])), x: source };
  const want = interpret(graph, feeds, { w: source }, { seed: 11, step: 5 })['y']!;
  const compiled = buildProgram(graph);
  const { program } = compiled;
  const session = await sessionOn(compiled, backend);
  try {
    if (program.params.length) session.setParams({ w: source.data });
    if (program.states.length) session.setStates({ w: source.data });
    const got = (await session.run(Object.fromEntries(program.inputs.map((i) => [i.name, feeds[i.name]!.data])), { seed: 11, step: 5 }))['y']!;
    expect(got.shape).toEqual(want.shape);
    expect(got.dtype).toBe(want.dtype);
    return closeness(got.data, want.data, rtol, atol);
  } finally {
    session.destroy();
  }
}

/** Ops whose case feeds a named source (an input, a parameter, a state): one program each (checkOp), their names being the case's. */
export const FED_SOURCES: ReadonlySet<string> = new Set(['input', 'param', 'state']);

/**
 * Runs many cases as one program on a backend (a backend that builds code
 * builds it once), each case's op on inputs of its own, against the
 * interpreter; returns each case's worst error over its tolerance. Cases
 * that feed a named source go through checkOp.
 */
export async function checkOps(cases: readonly OpCase[], mode: Mode, seed: number, backend: Backend, rtol: number, atol: (c: OpCase) => number): Promise<number[]> {
  const g = new GraphBuilder('cases', mode, {});
  const feeds: Record<string, HostTensor> = {};
  const outputs = cases.map((test, i) => {
    if (FED_SOURCES.has(test.op)) return undefined;
    const next = rng(seed + i);
    const args = test.operands.map((o, k) => {
      const x = f32(o.values ? hostTensor(o.dtype, o.shape, o.values) : randomTensor(next, o.dtype, o.shape, o.lo ?? -2, o.hi ?? 2));
      feeds[`c${i}.x${k}`] = x;
      return g.add('input', [], { name: `c${i}.x${k}`, dtype: x.dtype, shape: [...x.shape] }).id;
    });
    g.output(`c${i}.y`, g.add(test.op, args, test.attrs as never).id);
    return `c${i}.y`;
  });
  const graph = g.build();
  const want = interpret(graph, feeds, {}, { seed: 11, step: 5 });
  const compiled = buildProgram(graph);
  const session = await openSession(compiled, { backend });
  try {
    const got = await session.run(Object.fromEntries(compiled.program.inputs.map((x) => [x.name, feeds[x.name]!.data])), { seed: 11, step: 5 });
    return Promise.all(cases.map(async (test, i) => {
      const name = outputs[i];
      if (!name) return checkOp(test, mode, seed + i, backend, rtol, atol(test));
      expect(got[name]!.shape).toEqual(want[name]!.shape);
      expect(got[name]!.dtype).toBe(want[name]!.dtype);
      return closeness(got[name]!.data, want[name]!.data, rtol, atol(test));
    }));
  } finally {
    session.destroy();
  }
}

const f = (...shape: number[]): OperandSpec => ({ dtype: 'f32', shape });
/** f32 operands in [−1, 1]. */
const unit = (...shape: number[]): OperandSpec => ({ dtype: 'f32', shape, lo: -1, hi: 1 });
/** f32 operands of small integers (−2 … 2), spread by a multiplicative step. */
const integers = (...shape: number[]): OperandSpec => ({ dtype: 'f32', shape, values: Array.from({ length: shape.reduce((a, d) => a * d, 1) }, (_, i) => ((i * 7919) % 5) - 2) });
const labels = (classes: number, rows: number): OperandSpec => ({ dtype: 'i32', shape: [rows], values: Array.from({ length: rows }, (_, i) => (i % 5 === 2 ? -100 : (i * 37) % classes)) });

/**
 * Shapes past the table's small ones, for the paths kernels take only at
 * size: tiled matmul with vec4 and scalar loads along either axis, long
 * reductions by a whole workgroup, rows wider than a workgroup.
 */
export const SIZED_CASES: readonly OpCase[] = [
  // Tiled (at least 8 64×64 tiles of output): each operand layout, vec4 and scalar loads, short m or n, batches.
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: false }, operands: [f(130, 36), f(36, 260)] },
  { op: 'matmul', attrs: { transpose_a: true, transpose_b: false }, operands: [f(36, 132), f(36, 260)] },
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: true }, operands: [f(2, 3, 130, 20), f(2, 3, 44, 20)] },
  { op: 'matmul', attrs: { transpose_a: true, transpose_b: true }, operands: [f(3, 21, 130), f(3, 100, 21)] },
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: true }, operands: [f(40, 96), f(1000, 96)] },
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: false }, operands: [f(2, 1, 64, 8), f(3, 8, 200)] },
  // Long products: the native backend's whole-k tiles past its k block (600), and k blocks through a tiles buffer
  // (2100, of small integers: every sum exact in f32, so that any order of accumulation must give the interpreter's).
  // Up to one block of row panels (32 of 6 or 12 rows), B's column panels are packed as they are reached, read along
  // k or along its columns; with more rows (200, 400), B is packed whole first, read either way.
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: true }, operands: [f(13, 600), f(40, 600)] },
  { op: 'matmul', attrs: { transpose_a: true, transpose_b: false }, operands: [integers(2100, 10), integers(2100, 20)] },
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: true }, operands: [integers(12, 2100), integers(40, 2100)] },
  { op: 'matmul', attrs: { transpose_a: true, transpose_b: false }, operands: [integers(2100, 200), integers(2100, 20)] },
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: false }, operands: [f(400, 30), f(30, 40)] },
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: true }, operands: [f(200, 24), f(40, 24)] },
  // Direct (small products).
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: false }, operands: [f(70, 36), f(36, 130)] },
  { op: 'matmul', attrs: { transpose_a: false, transpose_b: false }, operands: [f(8, 96), f(96, 2)] },
  { op: 'sum', attrs: { axes: [1], keepdims: false }, operands: [f(3, 700)] },
  { op: 'sum', attrs: { axes: [0], keepdims: false }, operands: [f(600, 5)] },
  // Column sums (bias gradients): the native backend sums these row by row into blocks of 64 accumulators.
  { op: 'sum', attrs: { axes: [0], keepdims: false }, operands: [f(300, 150)] },
  { op: 'sum', attrs: { axes: [0, 1], keepdims: false }, operands: [f(2, 70, 130)] },
  // One long sum (a gradient norm): the native backend splits it into partial sums across threads.
  { op: 'sum', attrs: { axes: [0], keepdims: false }, operands: [f(300_000)] },
  { op: 'mean', attrs: { axes: [0, 2], keepdims: true }, operands: [f(40, 3, 30)] },
  { op: 'max', attrs: { axes: [1], keepdims: false }, operands: [f(4, 1000)] },
  { op: 'softmax', attrs: { axis: -1 }, operands: [{ dtype: 'f32', shape: [3, 130], lo: -8, hi: 8 }] },
  { op: 'softmax', attrs: { axis: 0 }, operands: [f(70, 3)] },
  { op: 'log_softmax', attrs: { axis: -1 }, operands: [f(2, 300)] },
  { op: 'layer_norm', attrs: { eps: 1e-12 }, operands: [f(3, 200), f(200), f(200)] },
  { op: 'layer_norm_dx', attrs: { eps: 1e-5 }, operands: [f(3, 200), f(200), f(3, 200)] },
  { op: 'cross_entropy', attrs: { ignore_index: -100 }, operands: [f(70, 300), labels(300, 70)] },
  { op: 'cross_entropy_grad', attrs: { ignore_index: -100 }, operands: [f(70, 300), labels(300, 70), f()] },
  { op: 'accuracy', attrs: { ignore_index: -100 }, operands: [f(70, 300), labels(300, 70)] },
  { op: 'scatter_add', attrs: { rows: 50 }, operands: [{ dtype: 'i32', shape: [300], lo: 0, hi: 50 }, f(300, 300)] },
  // Attention with more rows than a workgroup holds (and than the native backend's block of 128 query rows) and more keys
  // than a tile: q, k, v in the head-split layout of a projection, of size ~1 (dK and dV sum 140 rows of products).
  { op: 'attention', attrs: { scale: 0.25, rate: 0, stream: 0 }, operands: [unit(2, 2, 140, 16), unit(2, 2, 90, 16), unit(2, 2, 90, 8), f(2, 1, 1, 90)] },
  ...(['q', 'k', 'v'] as const).map((wrt) => ({ op: 'attention_grad', attrs: { scale: 0.25, rate: 0, stream: 0, wrt }, operands: [unit(2, 2, 140, 16), unit(2, 2, 90, 16), unit(2, 2, 90, 8), f(2, 1, 1, 90), unit(2, 2, 140, 8), { dtype: 'f32', shape: [2, 2, 140], lo: 2, hi: 3 }, unit(2, 2, 140)] })),
] as OpCase[];
