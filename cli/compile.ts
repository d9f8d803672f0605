// `tcc compile SPEC [--batch N] [--seq S] [--mode infer|train] [-o DIR] [--json]`

import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compileFile, type CompileResult } from '../compiler/compile.js';
import { buildProgram, TARGETS } from '../compiler/program.js';
import type { Program } from '../runtime/program.js';
import { graphToJson } from '../compiler/ir/json.js';
import { printGraph } from '../compiler/ir/print.js';
import { formatType } from '../compiler/ir/types.js';
import { UPDATE_PREFIX } from '../compiler/ir/graph.js';
import { oneOf, parse, positiveInt } from './args.js';
import { UsageError, type Io } from './errors.js';
import { writeAtomic } from './files.js';

export const compileUsage = `usage: tcc compile SPEC [--batch N] [--seq S] [--mode infer|train] [--target cpu|wgsl] [-o DIR] [--json]

Compiles a model spec (YAML) to the graph IR and kernels, and reports its size.
  --batch N        batch size bound to the spec's 'batch' dim (default 1)
  --seq S          sequence length bound to 'seq' (default 128)
  --mode M         infer (default) or train
  --target T       the kernels' target: cpu (JavaScript, the default) or wgsl
                   (WebGPU: one WGSL module per kernel)
  -o, --out DIR    write the IR (graph.txt, graph.json) and the program the
                   runtime loads (program.json, and kernels.js or wgsl/*.wgsl)
  --json           print one JSON object on stdout instead of the summary`;

const fmt = (n: number) => n.toLocaleString('en-US');

function scaled(n: number, unit: string): string {
  const prefixes: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  const [factor, prefix] = prefixes.find(([f]) => n >= f) ?? [1, ''];
  return `${(n / factor).toFixed(n >= factor * 100 ? 0 : 1)} ${prefix}${unit}`;
}

export function summary(r: CompileResult, program: Program): string {
  const { graph, stats } = r;
  const top = Object.entries(stats.opCounts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 6)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
  const updates = graph.outputs.filter((o) => o.name.startsWith(UPDATE_PREFIX)).length;
  const shown = graph.outputs.filter((o) => !o.name.startsWith(UPDATE_PREFIX));
  const outputs = shown.map((o) => `${o.name} ${formatType(graph.nodes[o.node]!.type)}`).join(', ') + (updates ? `, and ${updates} parameter and state updates` : '');
  return [
    `${graph.name} (${graph.mode}, batch ${graph.dims.batch}, seq ${graph.dims.seq})`,
    `  parameters  ${fmt(stats.parameters)} in ${stats.parameterTensors} tensors (${scaled(4 * stats.parameters, 'B')} as f32)`,
    `  ops         ${fmt(stats.ops)} (${top}, ...)`,
    `  FLOPs       ${scaled(stats.flops, 'FLOP')} per step`,
    `  tensors     ${fmt(stats.tensors)} computed, ${scaled(stats.tensorBytes, 'B')} before memory planning`,
    `  kernels     ${fmt(program.kernels.length)} for ${program.target}, arena ${scaled(program.arenaBytes, 'B')} (parameters included; no memory planning yet)`,
    `  outputs     ${outputs}`,
    `  compiled in ${r.compileMs.toFixed(0)} ms`,
  ].join('\n');
}

export function runCompile(argv: string[], debug: boolean, io: Io): number {
  const { values, positionals } = parse(argv, {
    batch: { type: 'string' },
    seq: { type: 'string' },
    mode: { type: 'string' },
    out: { type: 'string', short: 'o' },
    target: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(compileUsage + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`compile takes one spec file, got ${positionals.length}\n${compileUsage}`);
  const result = compileFile(positionals[0]!, {
    batch: positiveInt(values.batch, '--batch', 1),
    seq: positiveInt(values.seq, '--seq', 128),
    mode: oneOf(values.mode, '--mode', ['infer', 'train'], 'infer'),
    verify: debug,
  });
  const target = oneOf(values.target, '--target', TARGETS, 'cpu');
  const { program, files } = buildProgram(result.graph, target);
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    writeAtomic(join(values.out, 'graph.txt'), printGraph(result.graph));
    writeAtomic(join(values.out, 'graph.json'), JSON.stringify(graphToJson(result.graph)) + '\n');
    // A program's sources are its own: stale kernels of an earlier compile go.
    if (target === 'wgsl') rmSync(join(values.out, 'wgsl'), { recursive: true, force: true });
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(dirname(join(values.out, file)), { recursive: true });
      writeAtomic(join(values.out, file), text);
    }
    writeAtomic(join(values.out, 'program.json'), JSON.stringify(program, null, 1) + '\n');
  }
  if (values.json) {
    const { graph, stats } = result;
    const report = {
      model: graph.name,
      mode: graph.mode,
      batch: graph.dims.batch,
      seq: graph.dims.seq,
      parameters: stats.parameters,
      parameter_tensors: stats.parameterTensors,
      ops: stats.ops,
      op_counts: stats.opCounts,
      flops: stats.flops,
      tensors: stats.tensors,
      tensor_bytes: stats.tensorBytes,
      target,
      kernels: program.kernels.length,
      memory: { arena_bytes: program.arenaBytes, parameter_bytes: 4 * stats.parameters },
      outputs: graph.outputs.map((o) => ({ name: o.name, dtype: graph.nodes[o.node]!.type.dtype, shape: graph.nodes[o.node]!.type.shape })),
      compile_ms: Math.round(result.compileMs * 100) / 100,
      ...(values.out ? { out: values.out } : {}),
    };
    io.stdout.write(JSON.stringify(report) + '\n');
  } else {
    io.stderr.write(summary(result, program) + '\n');
    const sources = target === 'cpu' ? 'kernels.js' : `wgsl/ (${Object.keys(files).length} modules)`;
    if (values.out) io.stderr.write(`  wrote ${values.out}: program.json, ${sources}, graph.txt, graph.json\n`);
  }
  return 0;
}
