// The compiler's entry point: spec file → Spec → Graph → the pass pipeline
// (gradients and the optimizer for training, clean-up, fusion). One
// function, so that the CLI, tests and benchmarks all compile the same way;
// buildProgram (program.ts) then lowers, plans and renders the result.

import { performance } from 'node:perf_hooks';
import { buildGraph } from './frontend/build.js';
import { DEFAULT_ADAMW, type AdamWOptions } from './passes/optimizer.js';
import { runPipeline } from './passes/pipeline.js';
import type { RecomputeMode } from './passes/recompute.js';
import type { Graph, Mode } from './ir/graph.js';
import { graphStats, type GraphStats } from './ir/stats.js';
import { verifyGraph } from './ir/verify.js';
import { CompileError } from './parser/diagnostics.js';
import { loadSpec } from './parser/load.js';
import { isHfDirectory } from '../runtime/hf-config.js';
import { locateInConfig } from './parser/hf-config.js';
import type { Spec } from './parser/spec.js';
import { packedGraph, packedRuntime } from './packed.js';
import type { BuildOptions } from './program.js';
import type { Program } from '../runtime/program.js';
import { InputError } from '../runtime/errors.js';

export interface CompileOptions {
  readonly batch?: number;
  readonly seq?: number;
  readonly mode?: Mode;
  /** AdamW settings of a training graph, over the spec's `training: optimizer:`. */
  readonly optimizer?: Partial<AdamWOptions>;
  /** The spec's text, when it is made by a command rather than read from `file`. */
  readonly text?: string;
  /** Config values set over the spec's. */
  readonly config?: Readonly<Record<string, number | string | boolean>>;
  /** Every dropout rate of the model (the config keys named for dropout: hidden_dropout_prob, classifier_dropout_prob, mlp_dropout, …) set to this (--dropout). */
  readonly dropout?: number;
  /** Run the IR verifier after every pass (tests and --debug). */
  readonly verify?: boolean;
  /** Kernel fusion and the rewrites that serve it (default on). */
  readonly fuse?: boolean;
  /**
   * Training: the most labelled positions a sequence may have (BERT's
   * max_predictions_per_seq); heads that only label losses read (the
   * masked-LM decoder) are then computed at batch × this many rows.
   */
  readonly maxPredictions?: number;
  /** Activation recomputation in training graphs (default none). */
  readonly recompute?: RecomputeMode;
  /** With mode 'train': the step's forward pass, losses and metrics alone, no gradients or update (a validation program). */
  readonly evaluate?: boolean;
  /** Called with the graph after each pass (--dump-after). */
  readonly after?: (pass: string, graph: Graph) => void;
  /**
   * The padding-free form: one program for any batch of up to
   * `batch` sequences of up to `seq` tokens, at most `tokens` in all (default
   * batch × seq), run as one stream of their tokens (compiler/packed.ts).
   */
  readonly packed?: { readonly tokens?: number };
}

export interface CompileResult {
  readonly spec: Spec;
  /** The graph after every pass: what buildProgram lowers. */
  readonly graph: Graph;
  /** The AdamW settings of a training graph (spec, then options). */
  readonly optimizer?: AdamWOptions;
  /** Figures of the graph before optimization (a training graph with its gradients and update). */
  readonly stats: GraphStats;
  /** The passes that ran, in order. */
  readonly passes: readonly string[];
  /**
   * Floating-point operations of one step as compiled (recomputation
   * included); for a padding-free program, those of its fullest batch
   * (every sequence at the longest length), which no run exceeds.
   */
  readonly flops: number;
  readonly compileMs: number;
  /** A padding-free program's sizes and probes, for buildProgram. */
  readonly runtime?: BuildOptions['runtime'];
}

/** A config key that holds a dropout rate (BERT's hidden_dropout_prob, DistilBERT's seq_classif_dropout, ModernBERT's mlp_dropout, …). */
export const isDropoutKey = (key: string) => /(^|_)dropout(_prob)?$/.test(key);

/** A HuggingFace model directory: config.json (and model.safetensors, vocab.txt) rather than a spec file. */
export const isModelDirectory = isHfDirectory;

/** The compile-time AdamW settings a spec's `training: optimizer:` gives (beta1, beta2, eps, clip, accumulate). */
export function adamwSettings(spec: Spec): AdamWOptions {
  const value = (key: keyof AdamWOptions) => {
    const v = spec.training.optimizer[key]?.value;
    return typeof v === 'number' ? v : DEFAULT_ADAMW[key];
  };
  return { beta1: value('beta1'), beta2: value('beta2'), eps: value('eps'), clip: value('clip'), accumulate: value('accumulate') };
}

/** A run-time training setting (lr, weight_decay, warmup) from the spec's `training: optimizer:`, if it sets one. */
export function specSetting(spec: Spec, key: string): number | undefined {
  const v = spec.training.optimizer[key]?.value;
  return typeof v === 'number' ? v : undefined;
}

/** Compiles a spec file or a HuggingFace model directory. */
export function compileFile(file: string, options: CompileOptions = {}): CompileResult {
  const start = performance.now();
  const mode = options.mode ?? 'infer';
  const packed = options.packed && { sequences: options.batch ?? 1, longest: options.seq ?? 128, tokens: options.packed.tokens ?? (options.batch ?? 1) * (options.seq ?? 128) };
  let spec: Spec;
  let graph: Graph;
  try {
    const loaded = loadSpec(file, options.text === undefined ? undefined : new Map([[file, options.text]]));
    const dropouts = options.dropout === undefined ? {} : Object.fromEntries(Object.keys(loaded.spec.config).filter(isDropoutKey).map((k) => [k, options.dropout!]));
    const overrides = Object.fromEntries(Object.entries({ ...dropouts, ...options.config }).map(([k, value]) => [k, { value, loc: loaded.spec.loc }]));
    spec = { ...loaded.spec, config: { ...loaded.spec.config, ...overrides } };
    try {
      graph = packed ? packedGraph(spec, packed, mode) : buildGraph(spec, { batch: options.batch ?? 1, seq: options.seq ?? 128, mode });
    } catch (e) {
      throw e instanceof CompileError ? new CompileError(e.diagnostics, loaded.sources) : e;
    }
  } catch (e) {
    // Errors in a spec imported from config.json are shown at config.json's lines.
    throw e instanceof CompileError ? locateInConfig(e) : e;
  }
  if (options.verify) verifyGraph(graph);
  // A training graph also computes the gradients of `loss` and applies AdamW.
  const optimizer = mode === 'train' && !options.evaluate ? { ...adamwSettings(spec), ...options.optimizer } : undefined;
  let before = graph;
  const labelledRows = options.maxPredictions === undefined ? {} : { labelledRows: graph.dims['batch']! * options.maxPredictions };
  const pipeline = { fuse: options.fuse ?? true, verify: options.verify ?? false, recompute: options.recompute ?? 'none', ...labelledRows, ...(optimizer ? { optimizer } : {}), ...(options.evaluate ? { evaluate: true } : {}) };
  const result = runPipeline(graph, pipeline, (pass, g) => {
    if (pass === 'autodiff' || pass === 'adamw') before = g;
    options.after?.(pass, g);
  });
  const stats = graphStats(before);
  // A padding-free graph counts attention over its whole stream; its fullest batch is the padded graph of the same sizes.
  const flops = packed ? compileFile(file, { ...options, packed: undefined, batch: packed.sequences, seq: packed.longest, after: undefined }).flops
    : result.passes.includes('recompute') ? graphStats(result.graph).flops : stats.flops;
  const runtime = packed && packedRuntime(spec, packed, mode, pipeline);
  const passes = packed ? ['pack', ...result.passes] : result.passes;
  return { spec, graph: result.graph, stats, passes, flops, compileMs: performance.now() - start, ...(optimizer ? { optimizer } : {}), ...(runtime ? { runtime } : {}) };
}

/**
 * A model's inference program for runs of up to `batch` texts of up to
 * `seq` tokens: padding-free (at most `tokens` in a run) where the model has
 * that form, else padded to `paddedBatch` (default `batch`) × seq, `padded`
 * saying why (max pooling, an op over positions the stream cannot take).
 */
export async function inferenceProgram(file: string, sizes: { batch: number; seq: number; tokens: number; paddedBatch?: number }, debug = false): Promise<{ program: Program; padded?: string }> {
  const [{ buildProgram }, { PackError }, { RuntimeSizeError }] = await Promise.all([import('./program.js'), import('./passes/pack.js'), import('./lower/runtime-sizes.js')]);
  const { batch, seq, tokens, paddedBatch = batch } = sizes;
  try {
    const compiled = compileFile(file, { batch, seq, mode: 'infer', verify: debug, packed: { tokens } });
    return { program: buildProgram(compiled.graph, { passes: compiled.passes, check: debug, runtime: compiled.runtime! }).program };
  } catch (e) {
    if (!(e instanceof PackError || e instanceof RuntimeSizeError)) throw e;
    const compiled = compileFile(file, { batch: paddedBatch, seq, mode: 'infer', verify: debug });
    return { program: buildProgram(compiled.graph, { passes: compiled.passes, check: debug }).program, padded: e.message };
  }
}
