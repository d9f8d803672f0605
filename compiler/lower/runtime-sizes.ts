// Which extents of a lowered program a run gives. A program over a
// padding-free stream is lowered once at its maxima (every buffer and
// index laid out for the most tokens and sequences) and runs at fewer:
// its kernels iterate the run's tokens, not the maxima. The extents that
// follow a symbol are found by lowering the same graph with the symbol one
// and two larger (the probes) and comparing kernel by kernel: an extent
// that moves must move by a whole multiple of the symbol, the same at both
// probes (scale × symbol + offset), and only with one symbol. Everything
// else of a kernel stays as lowered at the maxima: an index constant that
// moves is a stride over a buffer laid out at the maxima, which a run at
// fewer tokens reads as it is.

import { InputError } from '../../runtime/errors.js';
import { kernelExtents, type Kernel, type KernelProgram, type RuntimeSize, type Symbol_, type TensorRef } from '../../kernel/ir.js';
import type { Derived } from '../../runtime/labelled-rows.js';

/** The program lowered with one symbol larger than its max: `by` more. */
export interface Probe {
  readonly symbol: number;
  readonly by: number;
  readonly program: KernelProgram;
}

/** A program whose kernels do not follow its sizes in a line: it has no form sized at run time. */
export class RuntimeSizeError extends InputError {
  override name = 'RuntimeSizeError';
}

/** The size a value follows, from its value at the maxima and at each probe (undefined: it stays). */
function fit(what: string, at: number, probes: readonly Probe[], value: (p: KernelProgram) => number | undefined, symbols: readonly Symbol_[]): RuntimeSize | undefined {
  let found: RuntimeSize | undefined;
  for (const probe of probes) {
    const v = value(probe.program);
    if (v === undefined) throw new RuntimeSizeError(`${what} is not there when ${symbols[probe.symbol]!.name} changes`);
    if (v === at) continue;
    const scale = (v - at) / probe.by;
    if (!Number.isInteger(scale) || scale < 1) throw new RuntimeSizeError(`${what} goes from ${at} to ${v} when ${symbols[probe.symbol]!.name} grows by ${probe.by}: not a whole multiple of it`);
    const size = { symbol: probe.symbol, scale, offset: at - scale * symbols[probe.symbol]!.max };
    if (found && (found.symbol !== size.symbol || found.scale !== size.scale)) throw new RuntimeSizeError(`${what} follows more than one size (${symbols[found.symbol]!.name} and ${symbols[size.symbol]!.name}), or not in a line`);
    found = size;
  }
  // Every probe of the symbol found must have moved it.
  if (found && probes.some((p) => p.symbol === found!.symbol && value(p.program) === at)) throw new RuntimeSizeError(`${what} does not follow ${symbols[found.symbol]!.name} in a line`);
  return found;
}

/** The axis of a shape a symbol moves, if one does (the same shape at each probe: `find`). */
function shapeRuntime(what: string, shape: readonly number[], probes: readonly Probe[], find: (p: KernelProgram) => readonly number[] | undefined, symbols: readonly Symbol_[]): { axis: number; size: RuntimeSize } | undefined {
  const moved = shape.flatMap((d, axis) => {
    const size = fit(`axis ${axis} of ${what}`, d, probes, (p) => find(p)?.[axis], symbols);
    return size ? [{ axis, size }] : [];
  });
  if (moved.length > 1) throw new RuntimeSizeError(`${what} [${shape}] has more than one axis that a run sizes`);
  return moved[0];
}

/** A tensor with its runtime axis, if a symbol moves one of its extents; an input derived from a label input, with that input's. */
function tensorRuntime<T extends TensorRef & { readonly derived?: Derived }>(what: string, t: T, probes: readonly Probe[], find: (p: KernelProgram) => T | undefined, symbols: readonly Symbol_[]): T {
  const runtime = shapeRuntime(what, t.shape, probes, (p) => find(p)?.shape, symbols);
  const derived = t.derived && shapeRuntime(`${what}'s label input ${t.derived.of}`, t.derived.shape, probes, (p) => find(p)?.derived?.shape, symbols);
  return { ...t, ...(runtime ? { runtime } : {}), ...(derived ? { derived: { ...t.derived!, runtime: derived } } : {}) };
}

/**
 * `program` (lowered at the symbols' maxima) with the extents that follow
 * them marked on its kernels, inputs and outputs, and its symbols named.
 */
export function withRuntimeSizes(program: KernelProgram, symbols: readonly Symbol_[], probes: readonly Probe[]): KernelProgram {
  for (const probe of probes) {
    const other = probe.program.kernels;
    const same = other.length === program.kernels.length && other.every((k, i) => k.kind === program.kernels[i]!.kind);
    if (!same) throw new RuntimeSizeError(`the kernels change when ${symbols[probe.symbol]!.name} changes (${program.kernels.length} at the maxima, ${other.length} at ${probe.by} more)`);
  }
  const kernels = program.kernels.map((k, i): Kernel => {
    const runtime: Record<string, RuntimeSize> = {};
    for (const [key, at] of kernelExtents(k)) {
      const size = fit(`extent ${key} of kernel ${k.name}`, at, probes, (p) => kernelExtents(p.kernels[i]!).get(key), symbols);
      if (size) runtime[key] = size;
    }
    return Object.keys(runtime).length ? { ...k, runtime } : k;
  });
  const byName = <T extends TensorRef>(list: (p: KernelProgram) => readonly T[], name: string) => (p: KernelProgram) => list(p).find((t) => t.name === name);
  const inputs = program.inputs.map((t) => tensorRuntime(`input ${t.name}`, t, probes, byName((p) => p.inputs, t.name), symbols));
  const outputs = program.outputs.map((t) => tensorRuntime(`output ${t.name}`, t, probes, byName((p) => p.outputs, t.name), symbols));
  return { ...program, kernels, inputs, outputs, symbols };
}
