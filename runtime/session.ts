// A loaded program, ready to run on a backend: parameters are set once,
// inputs per call, outputs come back as copies with their shapes. Writes and
// runs are queued on the executor; what comes back is awaited.

import { chooseBackend, openOn, REFERENCE, type OpenOptions } from '../backends/registry.js';
import type { BackendName, CpuArray, Executor, RunContext } from './executor.js';
import { InputError } from './errors.js';
import { labelledRows, type Derived } from './labelled-rows.js';
import { checkProgram } from './program-check.js';
import { tensorRange, type LoadedProgram, type Program, type ProgramTensor } from './program.js';

export type { BackendName, RunContext };

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

export interface SessionOptions extends OpenOptions {
  /** Where the kernels run: a registered backend's name, or `cpu` for the first CPU backend that runs here (default: the JavaScript reference). */
  readonly backend?: BackendName;
  /** Told in one line when the backend asked for cannot run here and another runs instead (no C compiler: JavaScript). */
  readonly notice?: (line: string) => void;
}

/**
 * Opens a session on a backend. The program is checked first (every field,
 * every kernel proven inside its buffers: a program may come from a shared
 * directory), then the backend generates its code from the kernel IR here:
 * nothing a program directory says is run as code.
 */
export async function openSession(loaded: LoadedProgram, options: SessionOptions = {}): Promise<Session> {
  const { program, kernels } = checkProgram(loaded.program, 'the program');
  const backend = await chooseBackend(options.backend ?? REFERENCE.name, options.notice, (program.symbols?.length ?? 0) > 0);
  return new Session(program, await openOn(backend, program, kernels, options));
}

export class Session {
  constructor(
    readonly program: Program,
    readonly executor: Executor,
  ) {}

  private stored(name: string) {
    return this.program.params.find((p) => p.name === name) ?? this.program.states.find((s) => s.name === name);
  }

  /** Copies parameter values in by name; every name must be a parameter of the program. */
  setParams(values: Readonly<Record<string, ArrayLike<number>>>): void {
    for (const [name, data] of Object.entries(values)) {
      const param = this.program.params.find((p) => p.name === name);
      if (!param) throw new InputError(`the program has no parameter '${name}'`);
      expectSize('parameter', param, data.length);
      this.executor.write(tensorRange(param), data);
    }
  }

  /** Sets state tensors (optimizer moments) by name, e.g. when resuming. */
  setStates(values: Readonly<Record<string, ArrayLike<number>>>): void {
    for (const [name, data] of Object.entries(values)) {
      const state = this.program.states.find((s) => s.name === name);
      if (!state) throw new InputError(`the program has no state '${name}'`);
      expectSize('state', state, data.length);
      this.executor.write(tensorRange(state), data);
    }
  }

  /** Current values of parameters or state tensors, by name (after every queued run). */
  async read(names: readonly string[]): Promise<Record<string, Float32Array>> {
    const ranges = names.map((name) => {
      const found = this.stored(name);
      if (!found) throw new Error(`the program has no parameter or state '${name}'`);
      return tensorRange(found);
    });
    const data = await this.executor.read(ranges);
    return Object.fromEntries(names.map((name, i) => [name, data[i] as Float32Array]));
  }

  /** Every parameter's current values. */
  readParams(): Promise<Record<string, Float32Array>> {
    return this.read(this.program.params.map((p) => p.name));
  }

  /** Every state tensor's current values. */
  readStates(): Promise<Record<string, Float32Array>> {
    return this.read(this.program.states.map((s) => s.name));
  }

  /** The sizes of a run: none for a program of one shape; for a packed program, each of its symbols within [1, its max]. */
  private sizesOf(ctx: RunContext): readonly number[] {
    const symbols = this.program.symbols ?? [];
    const sizes = ctx.sizes ?? [];
    if (sizes.length !== symbols.length) {
      throw new InputError(symbols.length ? `the program runs with its ${symbols.map((s) => s.name).join(' and ')} given (a packed batch); got ${sizes.length} sizes` : 'the program has one shape; it takes no sizes');
    }
    symbols.forEach((s, i) => {
      const v = sizes[i]!;
      if (!(Number.isInteger(v) && v >= 1 && v <= s.max)) throw new InputError(`${v} ${s.name} is outside what the program was compiled for (1 to ${s.max})`);
    });
    return sizes;
  }

  /** A tensor's shape in a run of these sizes (its runtime axis at the run's extent); a derived input's label input's too. */
  private shapeIn<T extends ProgramTensor & { readonly derived?: Derived }>(t: T, sizes: readonly number[]): T {
    const sized = <S extends { readonly shape: readonly number[]; readonly runtime?: ProgramTensor['runtime'] }>(x: S): S => {
      if (!x.runtime) return x;
      const { axis, size } = x.runtime;
      return { ...x, shape: x.shape.map((d, a) => (a === axis ? size.scale * sizes[size.symbol]! + size.offset : d)) };
    };
    const out = sized(t);
    return out.derived ? { ...out, derived: sized(out.derived) } : out;
  }

  /** Writes the inputs and queues a run; nothing is read back. */
  enqueue(inputs: Readonly<Record<string, ArrayLike<number>>>, ctx: RunContext = { seed: 0, step: 0 }): void {
    const sizes = this.sizesOf(ctx);
    for (const declared of this.program.inputs) {
      const input = this.shapeIn(declared, sizes);
      const { derived } = input;
      const fed = inputs[derived ? derived.of : input.name];
      if (!fed) throw new InputError(`missing input '${derived ? derived.of : input.name}'`);
      const data = derived ? labelledRows(fed, derived, input.shape[0]!) : fed;
      expectSize('input', input, data.length);
      if (input.bound !== undefined) checkIndices(input.name, input.shape, data, input.bound, input.ignore);
      this.executor.write(tensorRange(input), data);
    }
    this.executor.run(ctx);
  }

  /** Runs; returns copies of the outputs named in `wanted` (default: all but parameter and state updates). */
  async run(inputs: Readonly<Record<string, ArrayLike<number>>>, ctx?: RunContext, wanted?: readonly string[]): Promise<Record<string, Tensor>> {
    this.enqueue(inputs, ctx);
    const sizes = ctx?.sizes ?? [];
    const outputs = this.program.outputs.filter((o) => (wanted ? wanted.includes(o.name) : !o.name.startsWith('update:'))).map((o) => this.shapeIn(o, sizes));
    const data = await this.executor.read(outputs.map(tensorRange));
    return Object.fromEntries(outputs.map((o, i) => [o.name, { dtype: o.dtype, shape: o.shape, data: data[i]! }]));
  }

  /** Frees the backend's memory. */
  destroy(): void {
    this.executor.destroy();
  }
}
