// Checking a program before anything of it runs. program.json may come from
// anyone (people share program directories), so every field is read for
// its type and range, every tensor and kernel range is placed inside its
// buffer and every buffer inside its region, and every kernel's IR is
// decoded and proven to stay inside the ranges it binds (kernel-check.ts).
// What passes is rebuilt from the checked values alone; the kernels that
// the backends render come from it.

import { ARG_ALIGNMENT, kernelExprs, kernelExtents, walkExpr, type Kernel, type KExpr, type RuntimeSize, type Symbol_ } from '../kernel/ir.js';
import { InputError } from './errors.js';
import { checkKernel, KernelCheckError, scratchBudget } from './kernel-check.js';
import { bindKernel, decodeFunction, decodeStreams, MAX_EXTENT, type Json, type KernelFunction } from './kernel-json.js';
import { checkString, Fields, JsonFieldError } from './json-fields.js';
import type { Derived } from './labelled-rows.js';
import { BUFFER_ALIGNMENT, PROGRAM_FORMAT, type Program, type ProgramBuffer, type ProgramInput, type ProgramKernel, type ProgramParam, type ProgramTensor } from './program.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;
const size = { min: 1, max: MAX_EXTENT };

function checkUnique(names: readonly string[], path: string): void {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (seen.has(n)) throw new JsonFieldError(`${path}[${i}].name`, `'${n}' appears twice`);
    seen.add(n);
  });
}

/** program.json's fields, checked; throws JsonFieldError at the first bad one. */
function readFields(raw: unknown): Program {
  const f = Fields.of(raw, '');
  const format = f.get('format');
  if (format !== PROGRAM_FORMAT) throw new JsonFieldError('format', `'${String(format).slice(0, 40)}' is not ${PROGRAM_FORMAT}; compile the model again with this tcc`);
  f.only(['format', 'model', 'mode', 'dims', 'persistentBytes', 'arenaBytes', 'buffers', 'inputs', 'params', 'outputs', 'kernels', 'functions', 'states', 'updates', 'report', 'symbols']);
  const symbols = f.has('symbols') ? f.list('symbols', 8).map((raw, i): Symbol_ => {
    const sf = Fields.of(raw, `symbols[${i}]`).only(['name', 'max']);
    const name = sf.string('name', 64);
    if (!NAME.test(name)) throw new JsonFieldError(sf.at('name'), 'is not a size name');
    return { name, max: sf.int('max', size) };
  }) : [];
  const regions = { persistent: f.int('persistentBytes', { min: 0 }), arena: f.int('arenaBytes', { min: 0 }) };
  const dimFields = f.object('dims');
  const dims: Record<string, number> = {};
  for (const key of Object.keys(dimFields.value)) {
    if (!NAME.test(key) || key.length > 64) throw new JsonFieldError(dimFields.at(key), 'is not a dimension name');
    dims[key] = dimFields.int(key, size);
  }
  const buffers = f.list('buffers', 1 << 20).map((b, i): ProgramBuffer => {
    const bf = Fields.of(b, `buffers[${i}]`).only(['id', 'dtype', 'size', 'region', 'offset', 'name']);
    const buffer = { id: bf.int('id', { min: i, max: i }), dtype: bf.oneOf('dtype', ['f32', 'i32'] as const), size: bf.int('size', size), region: bf.oneOf('region', ['persistent', 'arena'] as const), offset: bf.int('offset', { min: 0 }) };
    if (buffer.offset % BUFFER_ALIGNMENT) throw new JsonFieldError(bf.at('offset'), `${buffer.offset} is not a multiple of ${BUFFER_ALIGNMENT}`);
    const end = buffer.offset + 4 * buffer.size;
    if (end > regions[buffer.region]) throw new JsonFieldError(bf.at('size'), `the buffer ends at byte ${end}, past the ${buffer.region} region's ${regions[buffer.region]}`);
    const name = bf.optionalString('name', 300);
    return name === undefined ? buffer : { ...buffer, name };
  });
  const range = (of: Fields, what: string, length: number, buffer: number, offset: number) => {
    const b = buffers[buffer]!;
    if (offset + length > b.size) throw new JsonFieldError(of.at(what), `elements [${offset}, ${offset + length}) reach past buffer ${buffer}'s ${b.size}`);
    return b;
  };
  /** A shape's axis that a run sizes, read at `rf`. */
  const runtimeAxis = (rf: Fields, shape: readonly number[]) => {
    rf.only(['axis', 'size']);
    const axis = rf.int('axis', { min: 0, max: shape.length - 1 });
    // Only a leading run of the tensor's elements is read or written per run: every axis before the sized one is 1.
    if (shape.slice(0, axis).some((d) => d !== 1)) throw new JsonFieldError(rf.at('axis'), `axis ${axis} of [${shape}] has axes of more than 1 before it`);
    return { axis, size: runtimeSize(rf.object('size'), symbols, shape[axis]!) };
  };
  const tensor = (of: Fields, extra: readonly string[] = []): ProgramTensor => {
    of.only(['name', 'buffer', 'offset', 'dtype', 'shape', 'runtime', ...extra]);
    const t = { name: of.string('name', 300), buffer: of.int('buffer', { min: 0, max: buffers.length - 1 }), offset: of.int('offset', { min: 0, max: MAX_EXTENT }), dtype: of.oneOf('dtype', ['f32', 'i32'] as const), shape: of.ints('shape', { min: 1, max: MAX_EXTENT }, 16) };
    const elements = t.shape.reduce((a, d) => a * d, 1);
    const b = range(of, 'shape', elements, t.buffer, t.offset);
    if (b.dtype !== t.dtype) throw new JsonFieldError(of.at('dtype'), `${t.dtype}, but buffer ${t.buffer} holds ${b.dtype}`);
    return of.has('runtime') ? { ...t, runtime: runtimeAxis(of.object('runtime'), t.shape) } : t;
  };
  const entries = <T>(key: string, read: (of: Fields) => T): T[] => f.list(key, 1 << 20).map((t, i) => read(Fields.of(t, `${key}[${i}]`)));
  const inputs = entries('inputs', (of): ProgramInput => {
    const t = tensor(of, ['bound', 'ignore', 'derived']);
    const bound = of.optionalInt('bound', size);
    const ignore = of.optionalInt('ignore', { min: -(2 ** 31), max: 2 ** 31 - 1 });
    let derived: Derived | undefined;
    if (of.has('derived')) {
      const df = of.object('derived').only(['of', 'shape', 'take', 'ignore', 'runtime']);
      derived = { of: df.string('of', 300), shape: df.ints('shape', size, 16), take: df.oneOf('take', ['rows', 'labels'] as const), ignore: df.int('ignore', { min: -(2 ** 31), max: 2 ** 31 - 1 }) };
      if (t.dtype !== 'i32' || t.shape.length !== 1) throw new JsonFieldError(of.at('derived'), 'a derived input is a list of i32');
      if (df.has('runtime')) derived = { ...derived, runtime: runtimeAxis(df.object('runtime'), derived.shape) };
    }
    return { ...t, ...(bound === undefined ? {} : { bound }), ...(ignore === undefined ? {} : { ignore }), ...(derived ? { derived } : {}) };
  });
  const params = entries('params', (of): ProgramParam => {
    const t = tensor(of, ['init', 'std']);
    return { ...t, init: of.oneOf('init', ['normal', 'zeros', 'ones'] as const), std: of.number('std') };
  });
  const outputs = entries('outputs', (of) => tensor(of));
  const states = entries('states', (of) => tensor(of));
  const updates = entries('updates', (of) => {
    of.only(['name', 'from', 'to']);
    const [from, to] = [tensor(of.object('from')), tensor(of.object('to'))];
    if (from.dtype !== to.dtype || from.shape.join() !== to.shape.join()) throw new JsonFieldError(of.at('to'), 'has another shape or dtype than `from`');
    return { name: of.string('name', 300), from, to };
  });
  checkUnique(inputs.map((t) => t.name), 'inputs');
  checkUnique([...params, ...states].map((t) => t.name), 'params');
  checkUnique(outputs.map((t) => t.name), 'outputs');
  const functions = f.list('functions', 1 << 16) as readonly Json[];
  const kernels = entries('kernels', (of): ProgramKernel => {
    of.only(['name', 'kind', 'label', 'function', 'args', 'streams']);
    const args = of.list('args', 256).map((a, j) => {
      const af = Fields.of(a, `${of.at('args')}[${j}]`).only(['buffer', 'offset', 'size']);
      const r = { buffer: af.int('buffer', { min: 0, max: buffers.length - 1 }), offset: af.int('offset', { min: 0, max: MAX_EXTENT }), size: af.int('size', size) };
      if (r.offset % ARG_ALIGNMENT) throw new JsonFieldError(af.at('offset'), `${r.offset} is not a multiple of ${ARG_ALIGNMENT}`);
      range(af, 'size', r.size, r.buffer, r.offset);
      return r;
    });
    const streams = of.has('streams') ? decodeStreams(of.get('streams'), of.at('streams')) : [];
    return { name: of.string('name', 200), kind: of.string('kind', 40), label: of.string('label', 300), function: of.int('function', { min: 0, max: functions.length - 1 }), args, ...(streams.length ? { streams } : {}) };
  });
  let report: Program['report'];
  if (f.has('report')) {
    const rf = f.object('report').only(['passes', 'fused', 'planned']);
    report = { passes: rf.list('passes', 100).map((p, i) => checkString(p, `${rf.at('passes')}[${i}]`, 100)), fused: rf.bool('fused'), planned: rf.bool('planned') };
  }
  const mode = f.oneOf('mode', ['infer', 'train'] as const);
  return {
    format: PROGRAM_FORMAT, model: f.string('model', 200), mode, dims, persistentBytes: regions.persistent, arenaBytes: regions.arena,
    buffers, inputs, params, outputs, kernels, functions, states, updates, ...(report ? { report } : {}), ...(symbols.length ? { symbols } : {}),
  };
}

/** A runtime size read at `f`: its symbol is the program's, and it stays within [0, `largest`] for every value of the symbol from 1 to its max. */
function runtimeSize(f: Fields, symbols: readonly Symbol_[], largest: number): RuntimeSize {
  f.only(['symbol', 'scale', 'offset']);
  const r = { symbol: f.int('symbol', { min: 0, max: symbols.length - 1 }), scale: f.int('scale', size), offset: f.int('offset', { min: -MAX_EXTENT, max: MAX_EXTENT }) };
  checkRuntimeSize(r, symbols, largest, (problem) => new JsonFieldError(f.path, problem));
  return r;
}

function checkRuntimeSize(r: RuntimeSize, symbols: readonly Symbol_[], largest: number, error: (problem: string) => Error): void {
  const symbol = symbols[r.symbol];
  if (!symbol) throw error(`names size ${r.symbol}; the program has ${symbols.length}`);
  const [lo, hi] = [r.scale + r.offset, r.scale * symbol.max + r.offset];
  if (lo < 0 || hi > largest) throw error(`${r.scale} × ${symbol.name} + ${r.offset} runs from ${lo} to ${hi}, outside [0, ${largest}]`);
}

/** The program's kernels, decoded from its functions and proven inside their ranges. */
function readKernels(program: Program): Kernel[] {
  const functions: KernelFunction[] = program.functions.map((raw, i) => decodeFunction(raw, `functions[${i}]`));
  const budget = scratchBudget(program.persistentBytes + program.arenaBytes);
  return program.kernels.map((binding, i) => {
    const fn = functions[binding.function]!;
    const path = `kernels[${i}]`;
    if (binding.kind !== fn.body.kind) throw new JsonFieldError(`${path}.kind`, `'${binding.kind}', but function ${binding.function} is a ${fn.body.kind} kernel`);
    if (binding.args.length !== fn.args.length) throw new JsonFieldError(`${path}.args`, `binds ${binding.args.length} ranges; function ${binding.function} takes ${fn.args.length}`);
    binding.args.forEach((a, j) => {
      const dtype = program.buffers[a.buffer]!.dtype;
      if (dtype !== fn.args[j]!.dtype) throw new JsonFieldError(`${path}.args[${j}]`, `buffer ${a.buffer} holds ${dtype}; function ${binding.function} reads ${fn.args[j]!.dtype} there`);
    });
    const kernel = bindKernel(fn, { ...binding, streams: binding.streams ?? [] });
    const extents = kernelExtents(kernel);
    for (const [key, r] of Object.entries(kernel.runtime ?? {})) checkRuntimeSize(r, program.symbols ?? [], extents.get(key)!, (problem) => new JsonFieldError(`functions[${binding.function}].runtime.${key}`, problem));
    try {
      checkKernel(kernel, budget);
    } catch (e) {
      if (e instanceof KernelCheckError) throw new JsonFieldError(path, e.message);
      throw e;
    }
    return kernel;
  });
}

/** Whether `e` is an id read from memory and clamped into a table of `rows` rows, as the lowering of a gather writes it. */
function clampedLoad(e: KExpr): { arg: number; rows: number } | undefined {
  if (e.op !== 'binary' || e.fn !== 'min' || e.b.op !== 'const') return undefined;
  const inner = e.a;
  if (inner.op !== 'binary' || inner.fn !== 'max' || inner.b.op !== 'const' || inner.b.value !== 0 || inner.a.op !== 'load') return undefined;
  return { arg: inner.a.arg, rows: e.b.value + 1 };
}

/**
 * The inputs' bounds, as the kernels state them: an input that a kernel
 * reads as the id of a gather is bounded by the table's rows, whatever
 * program.json declares, so that an id past the table is an error before
 * the run rather than the table's last row in it.
 */
function inputBounds(program: Program, kernels: readonly Kernel[]): ProgramInput[] {
  const bounds = new Map<number, number>();
  for (const k of kernels) {
    for (const root of kernelExprs(k)) {
      walkExpr(root, (e) => {
        const gathered = clampedLoad(e);
        if (!gathered) return;
        const arg = k.args[gathered.arg]!;
        program.inputs.forEach((input, i) => {
          const size = input.shape.reduce((a, d) => a * d, 1);
          const overlaps = input.buffer === arg.buffer && input.offset < arg.offset + arg.size && arg.offset < input.offset + size;
          if (overlaps) bounds.set(i, Math.min(bounds.get(i) ?? Infinity, gathered.rows));
        });
      });
    }
  }
  return program.inputs.map((input, i) => {
    const bound = Math.min(input.bound ?? Infinity, bounds.get(i) ?? Infinity);
    return Number.isFinite(bound) ? { ...input, bound } : input;
  });
}

/** A checked program and its kernels. */
export interface CheckedProgram {
  readonly program: Program;
  readonly kernels: readonly Kernel[];
}

const checked = new WeakMap<object, CheckedProgram>();

/**
 * Checks a program (program.json's parsed value, or a program the compiler
 * built in this process) and decodes its kernels; `file` names it in
 * errors. A bad field is an InputError naming the file and the field's path.
 */
export function checkProgram(raw: unknown, file: string): CheckedProgram {
  if (raw !== null && typeof raw === 'object') {
    const known = checked.get(raw);
    if (known) return known;
  }
  try {
    const fields = readFields(raw);
    const kernels = readKernels(fields);
    const program = { ...fields, inputs: inputBounds(fields, kernels) };
    const result = { program, kernels };
    checked.set(raw as object, result);
    checked.set(program, result);
    return result;
  } catch (e) {
    if (e instanceof JsonFieldError) throw new InputError(`${file}: ${e.path ? `${e.path}: ` : ''}${e.problem}`);
    throw e;
  }
}
