// Running a compiled program with made-up but valid inputs: ids inside their
// bounds, labels with some positions ignored, attention masks with padding,
// the optimizer's step scalars; and comparing two runs' outputs.

import { sourceName, type Graph } from '../../compiler/ir/graph.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import type { TensorType } from '../../compiler/ir/types.js';
import { buildProgram, type CompiledProgram } from '../../compiler/program.js';
import { initParams } from '../../runtime/init.js';
import type { Program } from '../../runtime/program.js';
import { openSession, type SessionOptions, type Tensor } from '../../runtime/session.js';
import type { TensorToWrite } from '../../runtime/safetensors.js';
import { rng } from './random.js';

/** A checkpoint of a graph's parameters by their HuggingFace names, each value uniform in ±spread/2 from `seed`. */
export function randomCheckpoint(graph: Graph, seed: number, spread: number): Record<string, TensorToWrite> {
  const next = rng(seed);
  const tensors: Record<string, TensorToWrite> = {};
  for (const node of graph.nodes.filter((n) => n.op === 'param')) {
    const size = node.type.shape.reduce((a, d) => a * d, 1);
    tensors[sourceName(node)!] = { dtype: 'F32', shape: node.type.shape, data: Float32Array.from({ length: size }, () => (next() - 0.5) * spread) };
  }
  return tensors;
}

/** Valid inputs for any program tcc compiles from the shipped specs. */
export function inputsFor(program: Program, seed: number): Record<string, ArrayLike<number>> {
  const next = rng(seed);
  const seq = program.dims['seq'] ?? 1;
  const scalars: Record<string, number> = { 'opt.step_size': 1e-3, 'opt.inv_sqrt_bias2': 30, 'opt.decay': 0.999, 'opt.apply': 1 };
  // Labels that some inputs are derived from label at most as many rows as those inputs hold.
  const classes = (of: string) => program.inputs.find((i) => i.derived?.of === of && i.derived.take === 'labels')?.bound ?? 2;
  const derived = program.inputs.flatMap(({ derived: d, shape }) => (d?.take === 'rows' ? [[d.of, labelsEvery(d.shape, shape[0]!, classes(d.of), d.ignore, next)] as const] : []));
  return Object.fromEntries([
    ...derived,
    ...program.inputs.filter((input) => !input.derived).map((input) => {
      const n = input.shape.reduce((a, d) => a * d, 1);
      if (input.name in scalars) return [input.name, [scalars[input.name]!]];
      if (input.dtype === 'f32') return [input.name, Float32Array.from({ length: n }, () => next() * 2 - 1)];
      if (input.name === 'attention_mask') return [input.name, Int32Array.from({ length: n }, (_, i) => (i % seq < seq - 2 || i % seq === 0 ? 1 : 0))];
      const bound = input.bound ?? 2;
      return [input.name, Int32Array.from({ length: n }, (_, i) => (input.ignore !== undefined && i % 3 === 1 ? input.ignore : Math.floor(next() * bound)))];
    }),
  ]);
}

/** Labels of `shape` (below `classes`) at every k-th position, k chosen so that at most `count` are labelled; `ignore` elsewhere. */
function labelsEvery(shape: readonly number[], count: number, classes: number, ignore: number, next: () => number): Int32Array {
  const n = shape.reduce((a, d) => a * d, 1);
  const every = Math.ceil(n / count);
  return Int32Array.from({ length: n }, (_, i) => (i % every === 1 % every ? Math.floor(next() * classes) : ignore));
}

/**
 * The float64 interpreter's feeds for a training graph: the made-up inputs
 * of inputsFor (typed as the graph's input nodes are; `types` gives the
 * inputs that derived ones stand for, such as `labels`), parameters from
 * initParams and zero optimizer states.
 */
export function interpreterFeeds(graph: Graph, types: Record<string, TensorType>): { inputs: Record<string, HostTensor>; values: Record<string, HostTensor> } {
  const { program } = buildProgram(graph);
  const typeOf = new Map(graph.nodes.filter((n) => n.op === 'input').map((n) => [sourceName(n)!, n.type]));
  for (const [name, type] of Object.entries(types)) typeOf.set(name, type);
  const inputs = Object.fromEntries(Object.entries(inputsFor(program, 5)).map(([name, v]) => [name, hostTensor(typeOf.get(name)!.dtype, typeOf.get(name)!.shape, v)]));
  const params = Object.fromEntries(Object.entries(initParams(program.params, 3)).map(([name, v]) => [name, hostTensor('f32', program.params.find((p) => p.name === name)!.shape, v)]));
  const states = Object.fromEntries(program.states.map((s) => [s.name, hostTensor('f32', s.shape, new Float64Array(s.shape.reduce((a, d) => a * d, 1)))]));
  return { inputs, values: { ...params, ...states } };
}

/** Runs one step of a program with seeded parameters and inputs; every output (updates included). */
export async function runOnce(compiled: CompiledProgram, seed = 1, inputs = inputsFor(compiled.program, seed), options: SessionOptions = {}): Promise<Record<string, Tensor>> {
  const session = await openSession(compiled, options);
  try {
    session.setParams(initParams(compiled.program.params, seed));
    if (compiled.program.states.length) {
      const next = rng(seed + 1);
      session.setStates(Object.fromEntries(compiled.program.states.map((s) => [s.name, Float32Array.from({ length: s.shape.reduce((a, d) => a * d, 1) }, () => next() * 1e-3)])));
    }
    return await session.run(inputs, { seed, step: 3 }, compiled.program.outputs.map((o) => o.name));
  } finally {
    session.destroy();
  }
}

/**
 * The worst difference between two runs' outputs, as a multiple of the
 * tolerance: |a − b| ≤ rtol · max(|b|) over each tensor (its scale: a
 * relative error per element means nothing where values cancel to zero).
 */
export function worstDifference(a: Record<string, Tensor>, b: Record<string, Tensor>, rtol: number): { ratio: number; where: string } {
  let worst = { ratio: 0, where: '' };
  for (const [name, want] of Object.entries(b)) {
    const got = a[name];
    if (!got) throw new Error(`output ${name} is missing`);
    let scale = 0;
    for (let i = 0; i < want.data.length; i++) scale = Math.max(scale, Math.abs(want.data[i]!));
    for (let i = 0; i < want.data.length; i++) {
      const ratio = Math.abs(got.data[i]! - want.data[i]!) / (rtol * Math.max(scale, 1e-30));
      if (ratio > worst.ratio || Number.isNaN(ratio)) worst = { ratio: Number.isNaN(ratio) ? Infinity : ratio, where: `${name}[${i}]: ${got.data[i]} vs ${want.data[i]} (scale ${scale})` };
    }
  }
  return worst;
}
