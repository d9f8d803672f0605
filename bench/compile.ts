// How long `tcc compile` takes: the whole compiler (spec, graph, passes,
// lowering, memory planning, rendering) in-process with a warm JIT, the
// compile_ms that `tcc compile --json` reports from a fresh process, and the
// whole command as a user runs it, beside node's own start-up for scale.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compileFile } from '../compiler/compile.js';
import { buildProgram } from '../compiler/program.js';
import { emit, median, round, timeRepeated, type Record_ } from './stats.js';

const CASES = [
  { model: 'bert-tiny', mode: 'infer', batch: 1 },
  { model: 'bert-base', mode: 'infer', batch: 1 },
  { model: 'bert-large', mode: 'infer', batch: 1 },
  { model: 'bert-base', mode: 'train', batch: 8 },
  { model: 'bert-large', mode: 'train', batch: 8 },
] as const;
const SEQ = 128;
const REPEATS = 7;
const CLI_REPEATS = 5;

export function benchCompile(): Record_[] {
  const records: Record_[] = [];
  const record = (name: string, batch: number, metric: string, value: number, repeats: number) => {
    const r: Record_ = { bench: 'compile', model: name, backend: 'cpu', batch, seq: SEQ, metric, value: round(value), unit: 'ms', repeats };
    emit(r);
    records.push(r);
  };
  const bin = fileURLToPath(new URL('../cli/tcc.js', import.meta.url));
  for (const { model, mode, batch } of CASES) {
    const file = `models/${model}.yaml`;
    const name = `${model} ${mode}`;
    const compile = () => buildProgram(compileFile(file, { batch, seq: SEQ, mode }).graph);
    compile(); // warm-up
    record(name, batch, 'compile_ms', median(timeRepeated(REPEATS, compile)), REPEATS);
    const cold: number[] = [];
    const wall = timeRepeated(CLI_REPEATS, () => {
      const run = spawnSync(process.execPath, [bin, 'compile', file, '--mode', mode, '--batch', String(batch), '--json'], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`tcc compile ${file} failed: ${run.stderr}`);
      cold.push((JSON.parse(run.stdout) as { compile_ms: number }).compile_ms);
    });
    record(name, batch, 'cold_compile_ms', median(cold), CLI_REPEATS);
    record(name, batch, 'cli_wall_ms', median(wall), CLI_REPEATS);
  }
  const startup = timeRepeated(CLI_REPEATS, () => spawnSync(process.execPath, ['-e', '0']));
  record('node', 1, 'node_startup_ms', median(startup), CLI_REPEATS);
  return records;
}
