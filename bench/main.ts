// `npm run bench`: every benchmark prints JSON lines on stdout; a table of
// the medians goes to stderr. Timings are never asserted by tests.

import os from 'node:os';
import { benchCompile } from './compile.js';
import { benchInference } from './inference.js';
import { benchTraining } from './training.js';

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'} x${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

process.stderr.write(`tcc benchmarks on ${machine()}\n`);
const records = benchCompile();
const inference = await benchInference((line) => process.stderr.write(`  ${line}\n`));
const models = [...new Set(records.map((r) => r.model))];
const metrics = [...new Set(records.map((r) => r.metric))];
process.stderr.write(`\n${['model', ...metrics].map((h) => h.padEnd(17)).join('')}\n`);
for (const model of models) {
  const cells = metrics.map((m) => String(records.find((r) => r.model === model && r.metric === m)?.value ?? '-'));
  process.stderr.write(`${[model, ...cells].map((c) => c.padEnd(17)).join('')}\n`);
}
process.stderr.write('(batch 1, seq 128; milliseconds, medians; cold_compile_ms and cli_wall_ms from fresh processes)\n');

process.stderr.write(`\n${['encoder', 'batch', 'tcc cpu-js ms', 'onnxruntime ms', 'ratio'].map((h) => h.padEnd(16)).join('')}\n`);
for (const r of inference) {
  process.stderr.write(`${[r.model, r.batch, r.value, r.peer_value, `${r.ratio}x`].map((c) => String(c).padEnd(16)).join('')}\n`);
}
process.stderr.write('(seq 128, BertModel without heads, medians; tcc on one thread, onnxruntime on its default pool)\n');

const training = await benchTraining((line) => process.stderr.write(`  ${line}\n`));
process.stderr.write(`\n${['pretraining', 'tcc tokens/s', 'pytorch tokens/s', 'ratio'].map((h) => h.padEnd(18)).join('')}\n`);
for (const r of training) {
  process.stderr.write(`${[r.model, r.value, r.peer_value ?? '-', r.ratio === undefined ? r.peer : `${r.ratio}x`].map((c) => String(c).padEnd(18)).join('')}\n`);
}
process.stderr.write('(MLM + NSP with AdamW and clipping, batch 8 × seq 128, medians after a warm-up step)\n');
