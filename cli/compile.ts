// `tcc compile SPEC [--batch N] [--seq S] [--packed [--tokens T]] [--mode infer|train] [--target ${TARGETS.join('|')}] [--recompute R] [--max-predictions N] [--no-fuse] [--no-plan] [--dump-after PASS] [-o DIR] [--json]`

import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { isHfDirectory } from '../runtime/hf-config.js';
import { compileFile, type CompileResult } from '../compiler/compile.js';
import { PASS_NAMES } from '../compiler/passes/pipeline.js';
import { lifetimes } from '../compiler/kernel-passes/plan-memory.js';
import { RECOMPUTE_MODES } from '../compiler/passes/recompute.js';
import { buildProgram, programSources, type CompiledProgram } from '../compiler/program.js';
import { BACKENDS, backendsOf, TARGETS } from '../backends/registry.js';
import { compileReport, type CompileReport } from '../compiler/report.js';
import { foldedLayers, graphDot, memoryPicture, scaled } from '../compiler/pictures.js';
import type { Program } from '../runtime/program.js';
import { graphToJson } from '../compiler/ir/json.js';
import { printGraph } from '../compiler/ir/print.js';
import { formatType } from '../compiler/ir/types.js';
import { UPDATE_PREFIX } from '../compiler/ir/graph.js';
import { oneOf, parse, positiveInt } from './args.js';
import { UsageError, type Io } from './errors.js';
import { outputDirectory, outputFile, writeAtomic } from './files.js';
import { localModel } from './hub.js';

export const compileUsage = `usage: tcc compile SPEC [--batch N] [--seq S] [--packed [--tokens T]] [--mode infer|train] [--target ${TARGETS.join('|')}] [-o DIR] [--json]
    [--emit svg|html -o FILE] [--recompute none|layer|sqrt] [--max-predictions N] [--no-fuse] [--no-plan] [--dump-after PASS]

Compiles a model spec (YAML or .tcc) to the graph IR and kernels, and reports its size.
  --batch N        batch size bound to the spec's 'batch' dim (default 1)
  --seq S          sequence length bound to 'seq' (default 128)
  --packed         padding-free: one program (inference or a training step) for
                   any batch of up to N sequences of up to S tokens each, run as
                   one stream of their real tokens, attention within each sequence
                   (tcc run, finetune --packed, serve --api)
  --tokens T       with --packed: the most tokens of a batch (default N × S)
  --mode M         infer (default) or train
  --target T       the code written beside the program for people to read:
${TARGETS.map((t, i) => `                   ${t} (${backendsOf(t).flatMap((b) => b.outputs).join(', ')}${i ? '' : ', the default'})`).join('\n')}
                   the program runs on every backend whatever its target
  --recompute R    training: recompute each layer's activations before its
                   backward pass (layer), or each √L layers' (sqrt); default none
  --max-predictions N  training: at most N labelled positions per sequence, so that
                   heads only a label loss reads (the masked-LM decoder) are
                   computed at batch × N rows instead of every position
                   (tcc pretrain sets it from its masking rate)
  --no-fuse        one kernel per op (no fusion, attention or projection rewrites)
  --no-plan        every buffer its own memory (no memory planning)
  --dump-after P   print the IR after pass P (${PASS_NAMES.join(', ')}) and stop
  -o, --out DIR    write the IR (graph.txt, graph.json), the program the runtime
                   loads (program.json: layout and kernel IR) and the generated code
  --json           print one JSON object on stdout instead of the summary
  --emit svg|html  draw what the compiler did to -o FILE instead: the graph with
                   each fused kernel outlined (its ops, FLOPs, bytes moved) and the
                   memory plan (svg: FILE and FILE.memory.svg; html: one page)`;

const fmt = (n: number) => n.toLocaleString('en-US');


/** "90, 7 per layer (12 layers): matmul 50, reduce 26, …" */
function kernelLine(program: Program, report: CompileReport): string {
  const counts = Object.entries(report.kernelCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([kind, n]) => `${kind} ${n}`).join(', ');
  const layers = Object.keys(report.layers).length;
  const perLayer = layers ? `, ${report.kernelsPerLayer} per layer (${layers} layers)` : '';
  return `${fmt(program.kernels.length)}${perLayer}: ${counts}`;
}

export function summary(r: CompileResult, program: Program, report: CompileReport): string {
  const { graph, stats } = r;
  const top = Object.entries(stats.opCounts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 6)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
  const updates = graph.outputs.filter((o) => o.name.startsWith(UPDATE_PREFIX)).length;
  const shown = graph.outputs.filter((o) => !o.name.startsWith(UPDATE_PREFIX));
  const outputs = shown.map((o) => `${o.name} ${formatType(graph.nodes[o.node]!.type)}`).join(', ') + (updates ? `, and ${updates} parameter and state updates` : '');
  const m = report.memory;
  const planned = program.report?.planned ? `planned ${scaled(m.arenaBytes, 'B')} (lower bound ${scaled(m.lowerBoundBytes, 'B')}; ${scaled(m.naiveBytes, 'B')} unplanned)` : `${scaled(m.arenaBytes, 'B')}, unplanned`;
  const activations = graph.mode === 'train' ? `, activations at most ${scaled(m.activationBytes, 'B')}` : '';
  const tokens = graph.dims['tokens'];
  const shape = tokens === undefined ? `batch ${graph.dims.batch}, seq ${graph.dims.seq}` : `padding-free: up to ${graph.dims.batch} sequences of up to ${graph.dims.seq} tokens, ${fmt(tokens)} in all`;
  return [
    `${graph.name} (${graph.mode}, ${shape})`,
    `  parameters  ${fmt(stats.parameters)} in ${stats.parameterTensors} tensors (${scaled(4 * stats.parameters, 'B')} as f32)`,
    `  ops         ${fmt(stats.ops)} (${top}, ...)`,
    tokens === undefined ? `  FLOPs       ${scaled(r.flops, 'FLOP')} per step` : `  FLOPs       at most ${scaled(r.flops, 'FLOP')} per step (every sequence at its longest; a batch costs its real tokens)`,
    `  kernels     ${kernelLine(program, report)}`,
    `  memory      arena ${planned}${activations}; persistent ${scaled(m.persistentBytes, 'B')}`,
    `  passes      ${program.report?.passes.join(', ')}`,
    `  outputs     ${outputs}`,
    `  compiled in ${r.compileMs.toFixed(0)} ms`,
  ].join('\n');
}

/** The memory plan as text: each buffer's region, byte range, live kernels and contents. */
function printPlan(compiled: CompiledProgram): string {
  const { plan, program } = compiled;
  const lines = [`memory plan: persistent ${plan.persistentBytes} bytes, arena ${plan.arenaBytes} bytes (lower bound ${plan.lowerBoundBytes}, unplanned ${plan.naiveBytes})`];
  const life = lifetimes(compiled.lowered);
  for (const b of program.buffers) {
    const l = life[b.id];
    const shared = plan.alias[b.id] !== b.id ? ` (in place of b${plan.alias[b.id]})` : '';
    lines.push(`  b${b.id}: ${b.region} [${b.offset}, ${b.offset + 4 * b.size})${l ? ` kernels ${l[0]}-${l[1]}` : ''}${shared}  ${b.name ?? ''}`.trimEnd());
  }
  return lines.join('\n') + '\n';
}

export async function runCompile(argv: string[], debug: boolean, io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    batch: { type: 'string' },
    seq: { type: 'string' },
    packed: { type: 'boolean' },
    tokens: { type: 'string' },
    mode: { type: 'string' },
    out: { type: 'string', short: 'o' },
    target: { type: 'string' },
    recompute: { type: 'string' },
    'max-predictions': { type: 'string' },
    'no-fuse': { type: 'boolean' },
    'no-plan': { type: 'boolean' },
    'dump-after': { type: 'string' },
    json: { type: 'boolean' },
    emit: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(compileUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`compile takes one spec file, got ${positionals.length}\n${compileUsage}`);
  const mode = oneOf(values.mode, '--mode', ['infer', 'train'], 'infer');
  for (const flag of ['recompute', 'max-predictions'] as const) {
    if (mode === 'infer' && values[flag] !== undefined && values[flag] !== 'none') throw new UsageError(`--${flag} applies to training graphs: add --mode train`);
  }
  if (values.tokens !== undefined && !values.packed) throw new UsageError('--tokens sizes a padding-free program: add --packed');
  if (values.packed && values['no-fuse']) throw new UsageError('--packed needs fused attention (drop --no-fuse)');
  const dumpAfter = values['dump-after'] === undefined ? undefined : oneOf(values['dump-after'], '--dump-after', PASS_NAMES, 'dce');
  let dumped: string | undefined;
  const model = await localModel(positionals[0]!, io);
  const result = compileFile(model, {
    batch: positiveInt(values.batch, '--batch', 1),
    seq: positiveInt(values.seq, '--seq', 128),
    mode,
    recompute: oneOf(values.recompute, '--recompute', RECOMPUTE_MODES, 'none'),
    ...(values['max-predictions'] === undefined ? {} : { maxPredictions: positiveInt(values['max-predictions'], '--max-predictions', 1) }),
    fuse: !values['no-fuse'],
    verify: debug,
    ...(values.packed ? { packed: values.tokens === undefined ? {} : { tokens: positiveInt(values.tokens, '--tokens', 1) } } : {}),
    after: (pass, graph) => {
      if (pass === dumpAfter) dumped = printGraph(graph);
    },
  });
  const target = oneOf(values.target, '--target', TARGETS, TARGETS[0]!);
  const started = performance.now() - result.compileMs;
  const compiled = buildProgram(result.graph, { plan: !values['no-plan'], check: debug, passes: result.passes, ...(result.runtime ? { runtime: result.runtime } : {}) });
  const compileMs = performance.now() - started;
  if (dumpAfter === 'plan-memory') dumped = printPlan(compiled);
  if (dumpAfter !== undefined) {
    if (dumped === undefined) throw new UsageError(`pass ${dumpAfter} did not run for this compile (passes: ${result.passes.join(', ')})`);
    io.stdout.write(dumped);
    return 0;
  }
  const { program } = compiled;
  const report = compileReport(result.graph, compiled);
  if (values.emit !== undefined) {
    const emit = oneOf(values.emit, '--emit', ['svg', 'html'], 'html');
    if (!values.out) throw new UsageError(`--emit ${emit} needs -o FILE`);
    outputFile(values.out, '-o');
    const written = await writePictures(emit, values.out, result, compiled, summary(result, program, report));
    const { folded } = foldedLayers(result.graph, compiled);
    const repeated = folded.size ? ` (and ${folded.size} of repeated layers, each run of them one box)` : '';
    io.stderr.write(`wrote ${written.join(', ')}: ${program.kernels.length - folded.size} kernels outlined in the graph${repeated}, ${memoryPicture(result.graph, compiled).buffers.length} planned buffers in the memory plan\n`);
    return 0;
  }
  let files: Record<string, string> = {};
  if (values.out) {
    outputDirectory(values.out);
    writeAtomic(join(values.out, 'graph.txt'), printGraph(result.graph));
    writeAtomic(join(values.out, 'graph.json'), JSON.stringify(graphToJson(result.graph)) + '\n');
    // A program's sources are its own: stale kernels of an earlier compile go.
    for (const stale of BACKENDS.flatMap((b) => b.outputs)) rmSync(join(values.out, stale), { recursive: true, force: true });
    files = await programSources(compiled, target);
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(dirname(join(values.out, file)), { recursive: true });
      writeAtomic(join(values.out, file), text);
    }
    writeAtomic(join(values.out, 'program.json'), JSON.stringify(program, null, 1) + '\n');
    // The model's vocabulary travels with its program, so that tcc run --text works on the directory alone.
    const from = isHfDirectory(model) ? model : dirname(model);
    for (const file of ['vocab.txt', 'tokenizer_config.json']) if (existsSync(join(from, file))) copyFileSync(join(from, file), join(values.out, file));
  }
  if (values.json) {
    const { graph, stats } = result;
    const m = report.memory;
    const json = {
      model: graph.name,
      mode: graph.mode,
      batch: graph.dims.batch,
      seq: graph.dims.seq,
      ...(graph.dims['tokens'] === undefined ? {} : { tokens: graph.dims['tokens'], packed: true }),
      parameters: stats.parameters,
      parameter_tensors: stats.parameterTensors,
      ops: stats.ops,
      op_counts: stats.opCounts,
      flops: result.flops,
      flops_before_recompute: stats.flops,
      tensors: stats.tensors,
      tensor_bytes: stats.tensorBytes,
      target,
      passes: program.report?.passes ?? result.passes,
      fused: !values['no-fuse'],
      planned: !values['no-plan'],
      recompute: values.recompute ?? 'none',
      kernels: report.kernels,
      kernels_per_layer: report.kernelsPerLayer,
      layers: report.layers,
      kernel_counts: report.kernelCounts,
      memory: {
        arena_bytes: m.arenaBytes,
        naive_bytes: m.naiveBytes,
        lower_bound_bytes: m.lowerBoundBytes,
        activation_bytes: m.activationBytes,
        persistent_bytes: m.persistentBytes,
        peak_bytes: m.peakBytes,
        parameter_bytes: 4 * stats.parameters,
      },
      outputs: graph.outputs.map((o) => ({ name: o.name, dtype: graph.nodes[o.node]!.type.dtype, shape: graph.nodes[o.node]!.type.shape })),
      compile_ms: Math.round(compileMs * 100) / 100,
      ...(values.out ? { out: values.out } : {}),
    };
    io.stdout.write(JSON.stringify(json) + '\n');
  } else {
    io.stderr.write(summary({ ...result, compileMs }, program, report) + '\n');
    const sources = writtenSources(Object.keys(files));
    if (values.out) io.stderr.write(`  wrote ${values.out}: program.json, ${sources}, graph.txt, graph.json\n`);
  }
  return 0;
}

/** The fused graph and the memory plan as two SVGs (FILE, FILE.memory.svg) or one HTML page with the summary. */
async function writePictures(emit: 'svg' | 'html', out: string, result: CompileResult, compiled: CompiledProgram, text: string): Promise<string[]> {
  const { graphSvg, chartSvg, memorySpec, htmlPage } = await import('./pictures.js');
  const { graph } = result;
  const title = `${graph.name} (${graph.mode}, batch ${graph.dims.batch}, seq ${graph.dims.seq})`;
  const [fused, memory] = [await graphSvg(graphDot(graph, compiled)), await chartSvg(memorySpec(memoryPicture(graph, compiled), `memory plan of ${title}`))];
  if (emit === 'svg') {
    const second = out.replace(/(\.svg)?$/, '.memory.svg');
    writeAtomic(out, fused);
    writeAtomic(second, memory);
    return [out, second];
  }
  const facts = text.split('\n').slice(1).map((line) => /^\s*(\w+)\s+(.*)$/.exec(line)).filter((m): m is RegExpExecArray => m !== null).map((m) => [m[1]!, m[2]!] as [string, string]);
  writeAtomic(out, htmlPage(title, facts, [{ id: 'memory', title: 'Memory plan', svg: memory }, { id: 'graph', title: 'Graph and fused kernels', svg: fused }]));
  return [out];
}

/** The source files written, for the summary line: a folder once, with its count (`wgsl/ (12 files)`). */
function writtenSources(files: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const f of files) {
    const slash = f.indexOf('/');
    const key = slash < 0 ? f : `${f.slice(0, slash)}/`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([name, n]) => (name.endsWith('/') ? `${name} (${n} files)` : name)).join(', ');
}
