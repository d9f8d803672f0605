// A loaded program, ready to run: parameters are set once, inputs per call,
// outputs come back as copies with their shapes.

import { CpuExecutor, type CpuArray, type RunContext } from '../backends/cpu/executor.js';
import { InputError } from './errors.js';
import type { Program, ProgramTensor } from './program.js';

export interface Tensor {
  readonly dtype: 'f32' | 'i32';
  readonly shape: readonly number[];
  readonly data: CpuArray;
}

function expectSize(what: string, t: ProgramTensor | { name: string; shape: readonly number[] }, length: number): void {
  const size = t.shape.reduce((a, d) => a * d, 1);
  if (length !== size) throw new InputError(`${what} '${t.name}' needs ${size} values for shape [${t.shape.join(',')}], got ${length}`);
}

/** Token ids and the like must index inside their table: a bad id is an error, not garbage. */
function checkIndices(name: string, shape: readonly number[], data: ArrayLike<number>, bound: number, ignore: number | undefined): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if ((Number.isInteger(v) && v >= 0 && v < bound) || v === ignore) continue;
    const at = shape.map((_, d) => Math.floor(i / shape.slice(d + 1).reduce((a, x) => a * x, 1)) % shape[d]!);
    throw new InputError(`${name}[${at.join('][')}] = ${v} is out of range [0, ${bound})${ignore === undefined ? '' : ` and is not ${ignore}`}`);
  }
}

export class Session {
  private readonly executor: CpuExecutor;

  constructor(
    readonly program: Program,
    source: string,
  ) {
    this.executor = new CpuExecutor(program, source);
  }

  /** Copies parameter values in by name; every name must be a parameter of the program. */
  setParams(values: Readonly<Record<string, ArrayLike<number>>>): void {
    for (const [name, data] of Object.entries(values)) {
      const param = this.program.params.find((p) => p.name === name);
      if (!param) throw new InputError(`the program has no parameter '${name}'`);
      expectSize('parameter', param, data.length);
      this.executor.buffer(param.buffer).set(data);
    }
  }

  /** A parameter's or state tensor's current values (a live view). */
  param(name: string): Float32Array {
    const found = this.program.params.find((p) => p.name === name) ?? this.program.states.find((s) => s.name === name);
    if (!found) throw new Error(`the program has no parameter or state '${name}'`);
    return this.executor.buffer(found.buffer) as Float32Array;
  }

  /** Sets state tensors (optimizer moments) by name, e.g. when resuming. */
  setStates(values: Readonly<Record<string, ArrayLike<number>>>): void {
    for (const [name, data] of Object.entries(values)) {
      const state = this.program.states.find((s) => s.name === name);
      if (!state) throw new InputError(`the program has no state '${name}'`);
      expectSize('state', state, data.length);
      this.executor.buffer(state.buffer).set(data);
    }
  }

  /** Runs; returns copies of the outputs named in `wanted` (default: all but parameter and state updates). */
  run(inputs: Readonly<Record<string, ArrayLike<number>>>, ctx?: RunContext, wanted?: readonly string[]): Record<string, Tensor> {
    for (const input of this.program.inputs) {
      const data = inputs[input.name];
      if (!data) throw new InputError(`missing input '${input.name}'`);
      expectSize('input', input, data.length);
      if (input.bound !== undefined) checkIndices(input.name, input.shape, data, input.bound, input.ignore);
      this.executor.buffer(input.buffer).set(data);
    }
    this.executor.run(ctx);
    for (const u of this.program.updates) this.executor.buffer(u.to).set(this.executor.buffer(u.from));
    return Object.fromEntries(
      this.program.outputs
        .filter((o) => !(wanted ? !wanted.includes(o.name) : o.name.startsWith('update:')))
        .map((o) => [o.name, { dtype: o.dtype, shape: o.shape, data: this.executor.buffer(o.buffer).slice() }]),
    );
  }
}
