// The native backend's own figures: the rate of its GEMM kernel on this
// machine (a square product of two fresh operands, every core, the kernel
// alone), which the training bench reports its share of, and how long a
// program takes from nothing to its first forward pass with an empty cache
// of built modules (the C compiler runs) and with a filled one.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { GraphBuilder } from '../compiler/ir/graph.js';
import { buildProgram } from '../compiler/program.js';
import type { NativeExecutor } from '../backends/native/executor.js';
import { openSession } from '../runtime/session.js';
import { encoderGraph } from './inference.js';
import { emit, median, round, type Record_ } from './stats.js';

/**
 * GFLOP/s of an n×n×n product of two operands that are not parameters (both
 * packed on every call) on the native backend: the kernel alone, as the
 * profiler times it (median of `repeats`), not the copies of the operands
 * in and of the product out that a run also makes.
 */
async function gemm(n: number, repeats: number): Promise<number> {
  const g = new GraphBuilder('gemm', 'infer', {});
  const a = g.add('input', [], { name: 'a', dtype: 'f32', shape: [n, n] });
  const b = g.add('input', [], { name: 'b', dtype: 'f32', shape: [n, n] });
  g.output('c', g.add('matmul', [a.id, b.id], {} as never).id);
  const session = await openSession(buildProgram(g.build()), { backend: 'native' });
  const data = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  await session.run({ a: data, b: data });
  const executor = session.executor as NativeExecutor;
  const times = Array.from({ length: repeats }, () => executor.profile().reduce((total, k) => total + k.ms, 0));
  session.destroy();
  return (2 * n ** 3) / (median(times) / 1e3) / 1e9;
}

export async function benchNative(progress: (line: string) => void): Promise<{ records: Record_[]; peakGflops: number }> {
  const records: Record_[] = [];
  const record = (r: Record_) => {
    emit(r);
    records.push(r);
  };
  progress('native GEMM 1024×1024×1024…');
  const peakGflops = round(await gemm(1024, 10), 1);
  record({ bench: 'gemm', model: '1024x1024x1024', backend: 'native', batch: 1, seq: 0, metric: 'gflops', value: peakGflops, unit: 'GFLOP/s', repeats: 10 });

  // From the spec to a program ready to run: the compiler, then the C build (or the cache), then loading it.
  // (Parameters are left out: loading a checkpoint or drawing BERT's initialization is the same on every backend.)
  for (const model of ['bert-tiny', 'bert-base']) {
    progress(`${model} from nothing to ready, with an empty and a filled cache…`);
    const cacheDir = mkdtempSync(join(tmpdir(), 'tcc-bench-cache-'));
    try {
      for (const cache of ['empty', 'filled']) {
        const start = performance.now();
        const compiled = buildProgram(encoderGraph(model, 1));
        const session = await openSession(compiled, { backend: 'native', cacheDir });
        const ms = performance.now() - start;
        session.destroy();
        record({ bench: 'native-start', model, backend: 'native', batch: 1, seq: 128, metric: `ready_ms_${cache}_cache`, value: round(ms), unit: 'ms' });
      }
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  // The same as a user meets it: `tcc run` on a compiled bert-base program directory in a fresh
  // process, up to the program loaded (its "program ready" line; weights and the forward pass after).
  progress('tcc run on a bert-base program directory, with an empty and a filled cache…');
  const work = mkdtempSync(join(tmpdir(), 'tcc-bench-run-'));
  try {
    const bin = fileURLToPath(new URL('../cli/tcc.js', import.meta.url));
    const program = join(work, 'program');
    const compile = spawnSync(process.execPath, [bin, 'compile', 'models/bert-base.yaml', '--batch', '1', '--seq', '128', '-o', program], { encoding: 'utf8' });
    if (compile.status !== 0) throw new Error(`tcc compile failed: ${compile.stderr}`);
    writeFileSync(join(work, 'inputs.json'), JSON.stringify({ input_ids: [Array.from({ length: 128 }, (_, i) => (i === 0 ? 101 : 1000 + i))] }));
    const env = { ...process.env, TCC_CACHE_DIR: join(work, 'cache') };
    for (const cache of ['empty', 'filled']) {
      const run = spawnSync(process.execPath, [bin, 'run', '--model', program, '--inputs', join(work, 'inputs.json'), '--out', join(work, 'out.safetensors')], { encoding: 'utf8', env });
      const ready = /program ready (\d+) ms after start/.exec(run.stderr)?.[1];
      if (run.status !== 0 || ready === undefined) throw new Error(`tcc run failed: ${run.stderr}`);
      record({ bench: 'native-start', model: 'bert-base', backend: 'native', batch: 1, seq: 128, metric: `cli_program_ready_ms_${cache}_cache`, value: Number(ready), unit: 'ms' });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { records, peakGflops };
}
