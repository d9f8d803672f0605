// How long `tcc compile` takes: in-process with a warm JIT (spec loading and
// graph building apart), cold in a fresh process (the compile_ms that
// `tcc compile --json` reports), and the whole command as a user runs it,
// beside node's own start-up for scale.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildGraph } from '../compiler/frontend/build.js';
import { loadSpec } from '../compiler/parser/load.js';
import { emit, median, round, timeRepeated, type Record_ } from './stats.js';

const MODELS = ['bert-tiny', 'bert-base', 'bert-large'] as const;
const BATCH = 1;
const SEQ = 128;
const REPEATS = 15;
const CLI_REPEATS = 5;

export function benchCompile(): Record_[] {
  const records: Record_[] = [];
  const record = (model: string, metric: string, value: number, repeats: number) => {
    const r: Record_ = { bench: 'compile', model, backend: 'none', batch: BATCH, seq: SEQ, metric, value: round(value), unit: 'ms', repeats };
    emit(r);
    records.push(r);
  };
  for (const model of MODELS) {
    const file = `models/${model}.yaml`;
    const compile = () => buildGraph(loadSpec(file).spec, { batch: BATCH, seq: SEQ, mode: 'infer' });
    compile(); // warm-up
    const load = timeRepeated(REPEATS, () => loadSpec(file));
    const { spec } = loadSpec(file);
    const build = timeRepeated(REPEATS, () => buildGraph(spec, { batch: BATCH, seq: SEQ, mode: 'infer' }));
    const total = timeRepeated(REPEATS, compile);
    record(model, 'load_spec_ms', median(load), REPEATS);
    record(model, 'build_graph_ms', median(build), REPEATS);
    record(model, 'compile_ms', median(total), REPEATS);
    const bin = fileURLToPath(new URL('../cli/tcc.js', import.meta.url));
    const cold: number[] = [];
    const wall = timeRepeated(CLI_REPEATS, () => {
      const run = spawnSync(process.execPath, [bin, 'compile', file, '--json'], { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`tcc compile ${file} failed: ${run.stderr}`);
      cold.push((JSON.parse(run.stdout) as { compile_ms: number }).compile_ms);
    });
    record(model, 'cold_compile_ms', median(cold), CLI_REPEATS);
    record(model, 'cli_wall_ms', median(wall), CLI_REPEATS);
  }
  const startup = timeRepeated(CLI_REPEATS, () => spawnSync(process.execPath, ['-e', '0']));
  record('node', 'node_startup_ms', median(startup), CLI_REPEATS);
  return records;
}
