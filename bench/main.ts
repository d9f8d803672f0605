// `npm run bench [-- SECTION ...]`: every benchmark prints JSON lines on
// stdout; a table of the medians goes to stderr. Sections: compile, fusion,
// native, inference, training, webgpu (default: all of these), and large
// (bert-large pretraining steps, which take a while: only when named), and
// hashes (fingerprints of every backend's results, to compare across a
// change that should not change numbers: only when named).
// Timings are never asserted by tests.

import { benchCompile } from './compile.js';
import { benchFusion } from './fusion.js';
import { benchHashes } from './hashes.js';
import { benchWasm, benchWasmEncoders } from './wasm.js';
import { benchLarge } from './large.js';
import { benchModernbert } from './modernbert.js';
import { benchServe } from './serve.js';
import { benchShapes } from './shapes.js';
import { benchPackedCheck } from './packed-check.js';
import { benchPlans } from './plans.js';
import { benchInference } from './inference.js';
import { benchNative } from './native.js';
import { benchTraining } from './training.js';
import { benchTransfer, FINETUNE, transferTable } from './transfer.js';
import { benchWebGpu } from './webgpu.js';
import { machine } from './stats.js';

const write = (line: string) => process.stderr.write(`${line}\n`);
const progress = (line: string) => write(`  ${line}`);
const row = (cells: readonly unknown[], width: number) => cells.map((c) => String(c).padEnd(width)).join('');

async function compileSection(): Promise<void> {
  const records = benchCompile();
  const models = [...new Set(records.map((r) => r.model))];
  const metrics = [...new Set(records.map((r) => r.metric))];
  write(`\n${row(['model', ...metrics], 18)}`);
  for (const model of models) write(row([model, ...metrics.map((m) => records.find((r) => r.model === model && r.metric === m)?.value ?? '-')], 18));
  write('(seq 128, inference batch 1, training batch 8; the whole compiler, passes, lowering, planning and rendering; milliseconds, medians; cold_compile_ms and cli_wall_ms from fresh processes)');
}

async function fusionSection(): Promise<void> {
  const { records, adapter } = await benchFusion(progress);
  write(`\n${row(['bench', 'model', 'backend', 'all passes', 'unfused, unplanned', 'ratio'], 17)}`);
  const unit = (r: (typeof records)[number], v: number | undefined) => (v === undefined ? '-' : r.unit === 'bytes' ? `${(v / 2 ** 20).toFixed(1)} MiB` : `${v} ${r.unit}`);
  for (const r of records) write(row([r.bench, r.model, r.backend, unit(r, r.value), unit(r, r.peer_value), `${r.ratio}x`], 17));
  write(`(medians; WebGPU on ${adapter ?? 'no adapter'}; memory: the planned arena against every buffer of the unfused program its own bytes)`);
}

async function largeSection(): Promise<void> {
  const records = await benchLarge(progress);
  write('');
  for (const r of records) write(row([r.model, r.metric, r.unit === 'bytes' ? `${(r.value / 2 ** 30).toFixed(2)} GiB` : `${r.value} ${r.unit}`], 20));
}

let peakGflops: number | undefined;

async function nativeSection(): Promise<void> {
  const native = await benchNative(progress);
  peakGflops = native.peakGflops;
  write('');
  for (const r of native.records) write(`${row([r.bench, r.model], 16)}${r.metric.padEnd(36)}${r.value} ${r.unit}`);
  write('(GEMM: the kernel alone, both operands packed per call, every core, median; ready: in-process, from the spec through the compiler, the C build or the cache, to a loaded module, BertModel 1 × 128; cli: `tcc run` on a compiled bert-base directory, process start to program loaded; parameters not included)');
}

async function inferenceSection(): Promise<void> {
  const records = await benchInference(progress);
  const [inference, products] = [records.filter((r) => r.bench === 'inference'), records.filter((r) => r.bench === 'product')];
  write(`\n${row(['encoder', 'batch', 'tcc native ms', 'onnxruntime ms', 'ratio'], 16)}`);
  for (const r of inference) write(row([r.model, r.batch, r.value, r.peer_value, `${r.ratio}x`], 16));
  write(`(seq 128, BertModel without heads, medians of interleaved rounds; tcc on ${inference[0]?.backend ?? 'native'}, beside ${inference[0]?.peer ?? 'onnxruntime-node'})`);
  write(`\n${row(['product m×k×n', 'tcc native ms', 'onnxruntime ms', 'ratio'], 16)}`);
  for (const r of products) write(row([r.model, r.value, r.peer_value, `${r.ratio}x`], 16));
  write('(bert-base\'s products at 1 × 128, each alone: x·W with W a parameter, tcc\'s kernel against onnxruntime\'s MatMul over an initializer, runs with their input and output, medians of interleaved rounds)');
}

async function trainingSection(): Promise<void> {
  const training = await benchTraining(progress, peakGflops);
  write(`\n${row(['pretraining', 'metric', 'tcc native', 'peer', 'ratio'], 18)}`);
  for (const r of training) write(row([r.model, r.metric, r.value, r.peer_value ?? '-', r.ratio === undefined ? r.peer : `${r.ratio}x`], 18));
  write('(MLM + NSP with AdamW and clipping, batch 8 × seq 128, medians of the steps of 3 rounds of each engine taken in turn, each engine warmed up by a step; peer: PyTorch for tokens/s, the native GEMM figure above for GFLOP/s)');
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

async function modernbertSection(): Promise<void> {
  const records = await benchModernbert(progress);
  write(`\n${row(['bench', 'batch × seq', 'tcc', 'peer', 'peer value', 'ratio'], 18)}`);
  for (const r of records) write(row([r.bench, `${r.batch} × ${r.seq}`, `${r.value} ${r.unit}`, (r.peer ?? '-').slice(0, 17), r.peer_value ?? '-', r.ratio ?? '-'], 18));
  write('(ModernBERT-base, random weights, no head: native against onnxruntime-node on tcc\'s ONNX export, same threads, medians of interleaved rounds; local: every layer but the first within 128 tokens, the ratio of time per token at 2048 to 512, 1 where the cost is linear in the sequence)');
}

async function serveSection(): Promise<void> {
  const records = await benchServe(progress);
  write('');
  for (const r of records) write(`${r.metric.padEnd(48)}${`${r.value} ${r.unit}`.padEnd(18)}${r.peer === undefined ? '' : `${r.peer} ${r.peer_value}`}`);
  write('(tcc serve --api on bert-base embeddings, random weights, native, padding-free: batches of up to 16 texts of up to 64 tokens, 1,024 tokens in all; autocannon over loopback, the SST-2 test sentences, truncate on)');
}

async function shapesSection(): Promise<void> {
  const records = await benchShapes(progress);
  write('');
  for (const r of records) write(r.peer === undefined ? `${r.backend}: ${r.metric} ${r.value} ${r.unit}` : `tcc ${r.backend}: ${r.value} sentences/s; ${r.peer}: ${r.peer_value}; ratio ${r.ratio}`);
  write('(SST-2 test sentences in file order, batches of 32, bert-base without heads, random weights, native on every core; medians of 3 interleaved rounds)');
}

async function packedSection(): Promise<void> {
  const records = await benchPackedCheck(progress);
  write('');
  for (const r of records) write(`${r.backend.padEnd(8)}${`${r.batch} × ${r.seq}`.padEnd(12)}${r.metric.padEnd(40)}${r.value.toExponential(2)}`);
  write('(bert-base without heads, random weights: one padding-free program against programs of exactly each shape; every real token\'s hidden state and every pooled row)');
}

async function plansSection(): Promise<void> {
  const records = benchPlans(progress);
  write(`\n${row(['model', 'tokens', 'arena MB', 'plan ms'], 22)}`);
  for (const r of records.filter((x) => x.metric === 'arena_bytes')) {
    const ms = records.find((x) => x.model === r.model && x.seq === r.seq && x.metric === 'plan_ms')!.value;
    write(row([r.model, String(r.seq), (r.value / 1e6).toFixed(1), String(ms)], 22));
  }
  write('(a padding-free program planned at each number of tokens: one plan at the largest is what tcc runs; plans per bucket would be the smaller rows, one program each; the planner alone, medians of 5)');
}

async function hashesSection(): Promise<void> {
  await benchHashes(progress);
  write('(bert-tiny and bert-small, batch 2 × seq 32: SHA-256 prefixes of the forward outputs and of the parameters after two AdamW steps; equal across a change means bit-identical)');
}

async function wasmSection(): Promise<void> {
  const records = await benchWasm(progress);
  write(`\n${row(['bench', 'model', 'engine', 'value', 'peer', 'peer value', 'ratio'], 16)}`);
  for (const r of records) write(row([r.bench, r.model, r.backend.slice(0, 15), `${r.value} ${r.unit}`, (r.peer ?? '-').slice(0, 15), r.peer_value ?? '-', r.ratio ?? '-'], 16));
  write('(encoders 1 × 128 and products at 128 rows: time ratio against the peer; pretraining: tokens/s ratio; onnxruntime-web on its wasm backend with SIMD, on as many threads as tcc\'s wasm; medians of interleaved rounds)');
}

async function transferSection(): Promise<void> {
  const { rows, sources, tasks } = await benchTransfer(progress);
  write(`\npretraining text (tcc dataset text):\n${sources.trimEnd()}\n`);
  write(transferTable(rows, tasks));
  const { epochs, batch, seq, lrs } = FINETUNE;
  write(`(test accuracy, %, of the fine-tuning best on the dev set of lr ${lrs.map((l) => l.toExponential()).join(' and ')}, ${epochs} epochs, batch ${batch}, seq ${seq}, padding-free; the same for the pretrained and the randomly initialized model; validation MLM on the held-out Brown documents; native backend)`);
}

const SECTIONS: Readonly<Record<string, () => Promise<void>>> = {
  compile: compileSection, fusion: fusionSection, native: nativeSection, inference: inferenceSection, training: trainingSection, webgpu: webgpuSection, large: largeSection, hashes: hashesSection, wasm: wasmSection, modernbert: modernbertSection, serve: serveSection, shapes: shapesSection, packed: packedSection, plans: plansSection, transfer: transferSection,
  // The wasm encoders on TCC_BENCH_THREADS threads alone (the wasm section runs it for two).
  'wasm-encoders': async () => void (await benchWasmEncoders(progress)),
};
/** Sections run when none is named: all but the long one. */
const DEFAULT = ['compile', 'fusion', 'native', 'inference', 'training', 'webgpu'];
const chosen = process.argv.slice(2);
const unknown = chosen.find((s) => !(s in SECTIONS));
if (unknown) {
  write(`unknown benchmark section '${unknown}' (sections: ${Object.keys(SECTIONS).join(', ')})`);
  process.exit(2);
}
write(`tcc benchmarks on ${machine()}`);
for (const [name, section] of Object.entries(SECTIONS)) if (chosen.length === 0 ? DEFAULT.includes(name) : chosen.includes(name)) await section();
// Dawn's device keeps the event loop alive: end here.
process.exit(0);
