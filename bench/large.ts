// bert-large pretraining (batch 8 × seq 128) on the native CPU backend: that
// it fits this machine's memory at all (planned arena and persistent region,
// and the process's resident memory), and how long a step takes. A few
// steps only. Opt in with `npm run bench -- large`.

import { performance } from 'node:perf_hooks';
import { buildProgram } from '../compiler/program.js';
import { compileReport } from '../compiler/report.js';
import { initParams } from '../runtime/init.js';
import { openSession } from '../runtime/session.js';
import { Trainer } from '../train/trainer.js';
import { emit, round, type Record_ } from './stats.js';
import { BATCH, pretrainBatch, SEQ, trainingGraph } from './training.js';

const STEPS = 3;

export async function benchLarge(progress: (line: string) => void): Promise<Record_[]> {
  const records: Record_[] = [];
  const record = (r: Record_) => {
    emit(r);
    records.push(r);
  };
  progress('compiling bert-large training (batch 8 × seq 128)…');
  const graph = trainingGraph('bert-large');
  const compiled = buildProgram(graph, { check: true });
  const memory = compileReport(graph, compiled).memory;
  const base = { bench: 'large-train', model: 'bert-large', backend: 'native', batch: BATCH, seq: SEQ };
  record({ ...base, metric: 'arena_bytes', value: memory.arenaBytes, unit: 'bytes' });
  record({ ...base, metric: 'persistent_bytes', value: memory.persistentBytes, unit: 'bytes' });
  const session = await openSession(compiled, { backend: 'native' });
  session.setParams(initParams(compiled.program.params, 0));
  const trainer = new Trainer(session, { schedule: { lr: 1e-4, warmupSteps: 0, totalSteps: 100 }, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, seed: 0 });
  const batch = pretrainBatch();
  for (let step = 1; step <= STEPS; step++) {
    progress(`bert-large step ${step} of ${STEPS}…`);
    const start = performance.now();
    const metrics = await trainer.trainStep(batch);
    const seconds = (performance.now() - start) / 1000;
    progress(`  loss ${metrics['loss']!.toFixed(4)} in ${seconds.toFixed(0)} s`);
    record({ ...base, metric: `step_${step}_s`, value: round(seconds, 1), unit: 's' });
    record({ ...base, metric: `step_${step}_loss`, value: round(metrics['loss']!, 4), unit: 'loss' });
  }
  record({ ...base, metric: 'max_rss_bytes', value: process.resourceUsage().maxRSS * 1024, unit: 'bytes' });
  session.destroy();
  return records;
}
