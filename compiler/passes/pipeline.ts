// The compiler's passes as one flat, named list, run in order. Training
// graphs get their gradients and optimizer update in the middle of it, so
// that everything after sees the whole step. Any stage's IR can be printed
// (`tcc compile --dump-after NAME`).

import { rotaryTables, rotaryTablesPass } from './rotary-tables.js';
import type { Graph } from '../ir/graph.js';
import { verifyGraph } from '../ir/verify.js';
import { autodiff, autodiffPass } from './autodiff.js';
import { concatProjections, concatProjectionsPass } from './concat-projections.js';
import { cse, csePass } from './cse.js';
import { dce, dcePass } from './dce.js';
import { fold, foldPass } from './fold.js';
import { fuseAttention, fuseAttentionPass } from './fuse-attention.js';
import { fuse, fusePass } from './fuse.js';
import { labelledRowsRewrite, labelledRowsPass } from './labelled-rows.js';
import { neededRows, neededRowsPass } from './needed-rows.js';
import { addAdamW, adamwPass, type AdamWOptions } from './optimizer.js';
import { recompute, recomputePass, type RecomputeMode } from './recompute.js';
import { simplify, simplifyPass } from './simplify.js';
import { planMemoryPass } from '../kernel-passes/plan-memory.js';

export interface PipelineOptions {
  /** Kernel fusion (and the graph rewrites that serve it); off gives one kernel per op. */
  readonly fuse: boolean;
  /** The AdamW settings of a training graph; absent for inference. */
  readonly optimizer?: AdamWOptions;
  /** Training: compute heads that only label losses read at this many labelled rows per batch (absent: at every row). */
  readonly labelledRows?: number;
  /** A training graph without its update: its losses and metrics alone, no gradients (validating a training run). */
  readonly evaluate?: boolean;
  /** Activation recomputation of training graphs (default none). */
  readonly recompute?: RecomputeMode;
  /** Run the IR verifier after every pass (tests and --debug). */
  readonly verify?: boolean;
}

export interface PassEntry {
  readonly name: string;
  readonly summary: string;
  /** Whether the pass runs under these options. */
  readonly when: (o: PipelineOptions) => boolean;
  readonly run: (g: Graph, o: PipelineOptions) => Graph;
}

const always = () => true;
const training = (o: PipelineOptions) => o.optimizer !== undefined;
/** A graph whose outputs are losses and metrics: a training step, or its evaluation. */
const losses = (o: PipelineOptions) => training(o) || o.evaluate === true;

const fusing = (o: PipelineOptions) => o.fuse;

export const PIPELINE: readonly PassEntry[] = [
  { ...fuseAttentionPass, when: fusing, run: fuseAttention },
  { ...concatProjectionsPass, when: fusing, run: concatProjections },
  { ...labelledRowsPass, when: (o) => losses(o) && o.labelledRows !== undefined, run: (g, o) => labelledRowsRewrite(g, o.labelledRows!) },
  { ...neededRowsPass, when: losses, run: neededRows },
  { ...autodiffPass, when: training, run: (g) => autodiff(g, 'loss') },
  { ...adamwPass, when: training, run: (g, o) => addAdamW(g, o.optimizer!) },
  { ...rotaryTablesPass, when: fusing, run: rotaryTables },
  { ...simplifyPass, when: always, run: simplify },
  { ...foldPass, when: always, run: fold },
  { ...csePass, when: always, run: cse },
  { ...dcePass, when: always, run: dce },
  // No structural hashing after this: recomputed copies equal their originals.
  { ...recomputePass, when: (o) => training(o) && (o.recompute ?? 'none') !== 'none', run: (g, o) => recompute(g, o.recompute!) },
  { ...fusePass, when: fusing, run: fuse },
];

/** The passes over the lowered kernel program, after the graph's (compiler/kernel-passes/; buildProgram runs them). */
export const KERNEL_PIPELINE: readonly { readonly name: string; readonly summary: string }[] = [planMemoryPass];

/** Every pass name --dump-after takes: the graph pipeline's, then the kernel program's. */
export const PASS_NAMES: readonly string[] = [...PIPELINE.map((p) => p.name), ...KERNEL_PIPELINE.map((p) => p.name)];

/** Runs the pipeline; `after` sees the graph after each pass that ran. */
export function runPipeline(graph: Graph, options: PipelineOptions, after?: (pass: string, g: Graph) => void): { graph: Graph; passes: string[] } {
  const passes: string[] = [];
  for (const pass of PIPELINE) {
    if (!pass.when(options)) continue;
    graph = pass.run(graph, options);
    if (options.verify) verifyGraph(graph);
    passes.push(pass.name);
    after?.(pass.name, graph);
  }
  return { graph, passes };
}
