// `npm run bench -- plans`: how to plan the memory of a padding-free
// program. One plan at the maxima (what tcc does: every buffer at its
// largest, a smaller run touching the front of each) against a plan per
// size bucket (a program per power of two of tokens, each run on the
// smallest that holds it): the arena of each and the planner's time
// (lowering excluded), bert-base without heads, 32 sequences of up to 128
// tokens, and a bert-base classifier's training step over 8 of up to 128.

import { compileFile } from '../compiler/compile.js';
import { lowerToKernels } from '../compiler/lower/lower.js';
import { withRuntimeSizes } from '../compiler/lower/runtime-sizes.js';
import { planMemory } from '../compiler/kernel-passes/plan-memory.js';
import { emit, median, round, timeRepeated, type Record_ } from './stats.js';

const REPEATS = 5;

const CASES = [
  { model: 'bert-base encoder', file: 'models/bert-base-encoder.yaml', mode: 'infer', sequences: 32, buckets: [512, 1024, 2048, 4096] },
  { model: 'bert-base classifier', file: 'models/bert-base-classifier.yaml', mode: 'train', sequences: 8, buckets: [128, 256, 512, 1024] },
] as const;

export function benchPlans(progress: (line: string) => void): Record_[] {
  const records: Record_[] = [];
  for (const c of CASES) {
    for (const tokens of c.buckets) {
      progress(`${c.model}: up to ${tokens} tokens…`);
      const { graph, runtime } = compileFile(c.file, { batch: c.sequences, seq: 128, mode: c.mode, packed: { tokens } });
      const lowered = withRuntimeSizes(lowerToKernels(graph), runtime!.symbols, runtime!.probes.map((p) => ({ symbol: p.symbol, by: p.by, program: lowerToKernels(p.graph) })));
      let arena = planMemory(lowered).arenaBytes; // (and the planner's code warm)
      const ms = median(timeRepeated(REPEATS, () => (arena = planMemory(lowered).arenaBytes)));
      for (const [metric, value, unit] of [['arena_bytes', arena, 'bytes'], ['plan_ms', round(ms), 'ms']] as const) {
        const r: Record_ = { bench: 'plans', model: c.model, backend: 'cpu', batch: c.sequences, seq: tokens, metric, value, unit, repeats: REPEATS };
        emit(r);
        records.push(r);
      }
    }
  }
  return records;
}
