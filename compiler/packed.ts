// Compiling the padding-free form of a model: one program for every batch
// of up to `sequences` sequences of up to `longest` tokens each, at most
// `tokens` in all. The graph is packed (passes/pack.ts) and optimized at
// the maxima, and again with each size one and two larger, so that the
// lowering can tell which kernel extents follow which size
// (lower/runtime-sizes.ts); the program then runs any batch within them.

import { buildGraph } from './frontend/build.js';
import type { Graph, Mode } from './ir/graph.js';
import { fuseAttention } from './passes/fuse-attention.js';
import { packGraph } from './passes/pack.js';
import { runPipeline, type PipelineOptions } from './passes/pipeline.js';
import { buildProgram, type BuildOptions, type CompiledProgram } from './program.js';
import type { Spec } from './parser/spec.js';

export interface PackedSizes {
  /** The most tokens of a run, all its sequences together. */
  readonly tokens: number;
  /** The most sequences of a run. */
  readonly sequences: number;
  /** The most tokens of one sequence (what the spec's `requires` see as seq). */
  readonly longest: number;
}

/** The sizes a packed program's runs give, in the order of its symbols. */
export const PACKED_SYMBOLS = ['tokens', 'sequences'] as const;

/** The packed graph of `spec` at these sizes, before the pass pipeline (dims: batch = sequences, seq = longest, tokens). */
export function packedGraph(spec: Spec, sizes: PackedSizes, mode: Mode = 'infer'): Graph {
  const at = (seq: number, batch = 1) => fuseAttention(buildGraph(spec, { batch, seq, mode, longest: sizes.longest }));
  const packed = packGraph(at(sizes.tokens), at(sizes.tokens + 1), at(sizes.tokens, 2), sizes.sequences, sizes.longest);
  return { ...packed, dims: { batch: sizes.sequences, seq: sizes.longest, tokens: sizes.tokens } };
}

/**
 * What buildProgram needs to size a packed program's kernels at run time:
 * its symbols, and the graph with each one and two larger, through the
 * same pipeline (`pipeline`: the training graph's gradients and optimizer).
 */
export function packedRuntime(spec: Spec, sizes: PackedSizes, mode: Mode = 'infer', pipeline: Omit<PipelineOptions, 'fuse'> = {}): NonNullable<BuildOptions['runtime']> {
  const optimized = (at: PackedSizes) => runPipeline(packedGraph(spec, at, mode), { ...pipeline, fuse: true }).graph;
  const probes = [1, 2].flatMap((by) => [
    { symbol: 0, by, graph: optimized({ ...sizes, tokens: sizes.tokens + by }) },
    { symbol: 1, by, graph: optimized({ ...sizes, sequences: sizes.sequences + by }) },
  ]);
  return { symbols: [{ name: PACKED_SYMBOLS[0], max: sizes.tokens }, { name: PACKED_SYMBOLS[1], max: sizes.sequences }], probes };
}

/** Compiles the padding-free inference program of a spec (`check`: prove its memory plan too). */
export function compilePacked(spec: Spec, sizes: PackedSizes, options: { verify?: boolean; check?: boolean } = {}): { graph: Graph; compiled: CompiledProgram } {
  const { graph, passes } = runPipeline(packedGraph(spec, sizes), { fuse: true, verify: options.verify ?? false });
  const compiled = buildProgram(graph, { passes: ['pack', ...passes], ...(options.check ? { check: true } : {}), runtime: packedRuntime(spec, sizes) });
  return { graph, compiled };
}
