// `npm run bench [-- SECTION ...]`: every benchmark prints JSON lines on
// stdout; a table of the medians goes to stderr. Sections: compile,
// inference, training, webgpu (default: all). Timings are never asserted by
// tests.

import os from 'node:os';
import { benchCompile } from './compile.js';
import { benchInference } from './inference.js';
import { benchTraining } from './training.js';
import { benchWebGpu } from './webgpu.js';

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'} x${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

const write = (line: string) => process.stderr.write(`${line}\n`);
const progress = (line: string) => write(`  ${line}`);
const row = (cells: readonly unknown[], width: number) => cells.map((c) => String(c).padEnd(width)).join('');

async function compileSection(): Promise<void> {
  const records = benchCompile();
  const models = [...new Set(records.map((r) => r.model))];
  const metrics = [...new Set(records.map((r) => r.metric))];
  write(`\n${row(['model', ...metrics], 17)}`);
  for (const model of models) write(row([model, ...metrics.map((m) => records.find((r) => r.model === model && r.metric === m)?.value ?? '-')], 17));
  write('(batch 1, seq 128; milliseconds, medians; cold_compile_ms and cli_wall_ms from fresh processes)');
}

async function inferenceSection(): Promise<void> {
  const inference = await benchInference(progress);
  write(`\n${row(['encoder', 'batch', 'tcc cpu-js ms', 'onnxruntime ms', 'ratio'], 16)}`);
  for (const r of inference) write(row([r.model, r.batch, r.value, r.peer_value, `${r.ratio}x`], 16));
  write('(seq 128, BertModel without heads, medians; tcc on one thread, onnxruntime on its default pool)');
}

async function trainingSection(): Promise<void> {
  const training = await benchTraining(progress);
  write(`\n${row(['pretraining', 'tcc tokens/s', 'pytorch tokens/s', 'ratio'], 18)}`);
  for (const r of training) write(row([r.model, r.value, r.peer_value ?? '-', r.ratio === undefined ? r.peer : `${r.ratio}x`], 18));
  write('(MLM + NSP with AdamW and clipping, batch 8 × seq 128, medians after a warm-up step)');
}

async function webgpuSection(): Promise<void> {
  const { adapter, software, records } = await benchWebGpu(progress);
  write(`\nWGSL backend on ${adapter}${software ? ' (a software adapter: these are CPU figures, not GPU figures)' : ''}`);
  write(`${row(['bench', 'shape/model'], 14)}${'tcc'.padEnd(18)}${'peer'.padEnd(42)}${row(['peer value', 'ratio'], 12)}`);
  for (const r of records) {
    write(`${row([r.bench, r.model], 14)}${`${r.value} ${r.unit}`.padEnd(18)}${(r.peer ?? '-').padEnd(42)}${row([r.peer_value ?? '-', r.ratio === undefined ? '-' : `${r.ratio}x`], 12)}`);
  }
  write('(matmul: GFLOP/s over back-to-back runs; inference: BertModel batch 1 × seq 128, ms including the readback, medians; pretrain: bert-tiny batch 8 × seq 128)');
}

const SECTIONS: Readonly<Record<string, () => Promise<void>>> = { compile: compileSection, inference: inferenceSection, training: trainingSection, webgpu: webgpuSection };
const chosen = process.argv.slice(2);
const unknown = chosen.find((s) => !(s in SECTIONS));
if (unknown) {
  write(`unknown benchmark section '${unknown}' (sections: ${Object.keys(SECTIONS).join(', ')})`);
  process.exit(2);
}
write(`tcc benchmarks on ${machine()}`);
for (const [name, section] of Object.entries(SECTIONS)) if (chosen.length === 0 || chosen.includes(name)) await section();
// Dawn's device keeps the event loop alive: end here.
process.exit(0);
