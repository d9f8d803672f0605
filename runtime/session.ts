// A loaded program, ready to run: parameters are set once, inputs per call,
// outputs come back as copies with their shapes.

import { CpuExecutor, type CpuArray, type RunContext } from '../backends/cpu/executor.js';
import type { Program, ProgramTensor } from './program.js';

export interface Tensor {
  readonly dtype: 'f32' | 'i32';
  readonly shape: readonly number[];
  readonly data: CpuArray;
}

function expectSize(what: string, t: ProgramTensor | { name: string; shape: readonly number[] }, length: number): void {
  const size = t.shape.reduce((a, d) => a * d, 1);
  if (length !== size) throw new Error(`${what} '${t.name}' needs ${size} values for shape [${t.shape.join(',')}], got ${length}`);
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
      if (!param) throw new Error(`the program has no parameter '${name}'`);
      expectSize('parameter', param, data.length);
      this.executor.buffer(param.buffer).set(data);
    }
  }

  /** A parameter's current values (a live view: do not keep it across setParams). */
  param(name: string): Float32Array {
    const param = this.program.params.find((p) => p.name === name);
    if (!param) throw new Error(`the program has no parameter '${name}'`);
    return this.executor.buffer(param.buffer) as Float32Array;
  }

  run(inputs: Readonly<Record<string, ArrayLike<number>>>, ctx?: RunContext): Record<string, Tensor> {
    for (const input of this.program.inputs) {
      const data = inputs[input.name];
      if (!data) throw new Error(`missing input '${input.name}'`);
      expectSize('input', input, data.length);
      this.executor.buffer(input.buffer).set(data);
    }
    this.executor.run(ctx);
    return Object.fromEntries(
      this.program.outputs.map((o) => [o.name, { dtype: o.dtype, shape: o.shape, data: this.executor.buffer(o.buffer).slice() }]),
    );
  }
}
