// `npm run bench -- wasm`: the WebAssembly backend beside onnxruntime-web's
// wasm backend (SIMD, in Node) on the same ONNX export, and beside tcc's
// JavaScript backend:
//   - BERT encoders (bert-tiny, bert-small, bert-base) at 1 × 128, on one
//     thread and on two (each engine on as many; onnxruntime-web fixes its
//     threads when it first starts, so two threads run in a process of
//     their own: the section `wasm-encoders` with TCC_BENCH_THREADS=2);
//     tfjs-backend-wasm and the JavaScript backend on one;
//   - bert-tiny pretraining steps (batch 8 × 128) on one thread and two,
//     tokens per second;
//   - bert-base's four products at 128 rows alone, with the module also
//     after binaryen's -O3 (the question the backend's design asked:
//     emit from TypeScript, or build through binaryen).
// Each engine is warmed up (V8 compiles wasm with its baseline compiler
// first and its optimizing one after some calls), then timed in
// interleaved rounds, inputs in and outputs out included; medians.

import { spawnSync } from 'node:child_process';
import { GraphBuilder } from '../compiler/ir/graph.js';
import { exportOnnx } from '../compiler/export/onnx.js';
import { buildProgram } from '../compiler/program.js';
import { runPipeline } from '../compiler/passes/pipeline.js';
import { initParams } from '../runtime/init.js';
import { openSession } from '../runtime/session.js';
import { ModuleBuilder } from '../backends/wasm/encode.js';
import { emitGemmFor, emitPack, packedBytes } from '../backends/wasm/gemm.js';
import { encoderSource } from './inference.js';
import { tfjsBert, tfjsRunner, tfjsWasm, type BertShape } from './tfjs-bert.js';
import { pretrainingTokensPerSecond } from './training.js';
import { emit, median, round, type Record_ } from './stats.js';

const PRODUCTS: readonly [number, number, number][] = [[128, 768, 2304], [128, 768, 768], [128, 768, 3072], [128, 3072, 768]];
const MR = 4;
const ROUNDS = 5;
const PER_ROUND = 8;

type Work = () => unknown;

/** Untimed calls until V8 has had the chance to optimize (50 calls or a second). */
async function warmUp(work: Work): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < 50 && performance.now() - start < 1000; i++) await work();
}

/** A pause before each engine's block: on several threads, an engine's idle pool spins for a while after its last call (onnxruntime-web's does), which would take the other's cores. */
const SETTLE_MS = 100;

/** Durations of each engine's work, in interleaved rounds. */
async function interleaved(works: readonly (() => unknown)[]): Promise<number[][]> {
  const times = works.map((): number[] => []);
  for (const w of works) await warmUp(w);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, w] of works.entries()) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      for (let j = 0; j < PER_ROUND; j++) {
        const start = performance.now();
        await w();
        times[i]!.push(performance.now() - start);
      }
    }
  }
  return times;
}

/** One product as a wasm module of tcc's GEMM, B packed once: returns a run (A in, product, C out). */
async function wasmProduct(bytes: Uint8Array<ArrayBuffer>, m: number, k: number, n: number, a: Float32Array, b: Float32Array): Promise<() => Float32Array> {
  const bytesNeeded = 4 * (m * k + k * n + m * n) + packedBytes(k, n);
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytesNeeded / 65536) + 1 });
  const instance = await WebAssembly.instantiate(new WebAssembly.Module(bytes), { env: { memory } });
  const exports = instance.exports as Record<string, (...args: number[]) => void>;
  const [A, B, P] = [0, 4 * m * k, 4 * (m * k + k * n)];
  const C = P + packedBytes(k, n);
  new Float32Array(memory.buffer, B, k * n).set(b);
  const panels = Math.ceil(n / 8);
  exports['pack_b']!(B, n, 1, k, n, P, 0, panels);
  return () => {
    new Float32Array(memory.buffer, A, m * k).set(a);
    exports['gemm']!(A, P, C, 0, panels);
    return new Float32Array(memory.buffer, C, m * n).slice();
  };
}

function gemmModule(m: number, k: number, n: number): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1 });
  emitPack(mod);
  emitGemmFor(mod, { m, n, k, strideM: k, strideK: 1, ldc: n }, MR, 'gemm');
  return mod.encode();
}

async function optimized(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const binaryen = (await import('binaryen')).default;
  const module = binaryen.readBinary(bytes);
  module.setFeatures(binaryen.Features.All);
  binaryen.setOptimizeLevel(3);
  module.optimize();
  const out = new Uint8Array(module.emitBinary());
  module.dispose();
  return out;
}

type Ort = typeof import('onnxruntime-web');

const ENCODERS: readonly { model: string; repeats: number; js: boolean; shape: BertShape }[] = [
  { model: 'bert-tiny', repeats: 40, js: true, shape: { layers: 2, heads: 2, hidden: 128 } },
  { model: 'bert-small', repeats: 16, js: true, shape: { layers: 4, heads: 8, hidden: 512 } },
  { model: 'bert-base', repeats: 8, js: false, shape: { layers: 12, heads: 12, hidden: 768 } },
];

/** BERT encoders at 1 × 128 on `threads` threads: tcc's wasm backend, onnxruntime-web on the same export; on one thread also tfjs-backend-wasm and tcc's JavaScript backend (bert-base's takes seconds a call: left out). */
async function benchEncoders(ort: Ort, peerName: string, threads: number, progress: (line: string) => void): Promise<Record_[]> {
  const records: Record_[] = [];
  const SEQ = 128;
  const tf = threads === 1 ? await tfjsWasm() : undefined;
  for (const { model, js, shape } of ENCODERS) {
    progress(`encoder ${model} 1 × ${SEQ}, ${threads} thread${threads === 1 ? '' : 's'}…`);
    const source = encoderSource(model, 1);
    const compiled = buildProgram(runPipeline(source, { fuse: true }).graph);
    const params = initParams(compiled.program.params, 0);
    const ids = Int32Array.from({ length: SEQ }, (_, i) => (i === 0 ? 101 : 1000 + ((i * 7919) % 20000)));
    const inputs = { input_ids: ids, token_type_ids: new Int32Array(SEQ), attention_mask: new Int32Array(SEQ).fill(1) };
    const wasm = await openSession(compiled, { backend: 'wasm', threads });
    wasm.setParams(params);
    const onnx = await ort.InferenceSession.create(exportOnnx(source, params).model, { executionProviders: ['wasm'] });
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, data]) => [name, new ort.Tensor('int64', BigInt64Array.from(data, BigInt), [1, SEQ])]));
    const reference = js && tf ? await openSession(compiled, { backend: 'js' }) : undefined;
    reference?.setParams(params);
    // tfjs-backend-wasm on the same weights.
    const tfjsRun = tf && tfjsRunner(tf, tfjsBert(tf, params, Object.fromEntries(compiled.program.params.map((p) => [p.name, p.shape])), shape), inputs, SEQ);
    const works = [() => wasm.run(inputs), () => onnx.run(feeds), ...(tfjsRun ? [tfjsRun] : []), ...(reference ? [() => reference.run(inputs)] : [])];
    const [ours, peer, tfjs, slow] = (await interleaved(works)).map(median) as [number, number, number | undefined, number | undefined];
    await onnx.release();
    wasm.destroy();
    reference?.destroy();
    if (tf) {
      tf.disposeVariables();
      tf.engine().reset();
      await tf.setBackend('wasm');
    }
    const base = { bench: 'wasm-encoder', model, backend: `wasm (${threads} thread${threads === 1 ? '' : 's'})`, batch: 1, seq: SEQ, metric: 'latency_ms', unit: 'ms' } as const;
    const rows: Record_[] = [{ ...base, value: round(ours), peer: peerName, peer_value: round(peer), ratio: round(ours / peer, 3) }];
    if (tfjs !== undefined) rows.push({ ...base, value: round(ours), peer: 'tfjs-backend-wasm 4.22.0 (SIMD, 1 thread)', peer_value: round(tfjs), ratio: round(ours / tfjs, 3) });
    if (slow !== undefined) rows.push({ ...base, backend: 'js', value: round(slow), peer: base.backend, peer_value: round(ours), ratio: round(slow / ours, 1) });
    for (const r of rows) emit(r);
    records.push(...rows);
  }
  return records;
}

/** bert-tiny pretraining (batch 8 × 128, MLM + NSP, AdamW): tokens per second on wasm (one thread and two) and on JavaScript. */
async function benchPretraining(progress: (line: string) => void): Promise<Record_[]> {
  progress('pretraining bert-tiny on wasm and JavaScript…');
  const js = await pretrainingTokensPerSecond('bert-tiny', 'js', 3);
  const records: Record_[] = [];
  for (const threads of [1, 2]) {
    const ours = await pretrainingTokensPerSecond('bert-tiny', 'wasm', 5, true, threads);
    records.push({ bench: 'wasm-pretrain', model: 'bert-tiny', backend: `wasm (${threads} thread${threads === 1 ? '' : 's'})`, batch: 8, seq: 128, metric: 'tokens_per_s', value: round(ours, 1), unit: 'tokens/s', peer: 'js', peer_value: round(js, 1), ratio: round(ours / js, 1) });
  }
  for (const r of records) emit(r);
  return records;
}

/** onnxruntime-web on `threads` threads (fixed for the process from its first session). */
async function ortOn(threads: number): Promise<{ ort: Ort; name: string }> {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  return { ort, name: `onnxruntime-web ${ort.env.versions.web} (wasm, SIMD, ${threads} thread${threads === 1 ? '' : 's'})` };
}

/** The encoders on TCC_BENCH_THREADS threads, in this process (`npm run bench -- wasm` starts it for two). */
export async function benchWasmEncoders(progress: (line: string) => void): Promise<Record_[]> {
  const threads = Number(process.env['TCC_BENCH_THREADS'] ?? '1');
  const { ort, name } = await ortOn(threads);
  return benchEncoders(ort, name, threads, progress);
}

/** The encoders on two threads in a child process, its records read back from its JSON lines. */
function encodersOnTwoThreads(progress: (line: string) => void): Record_[] {
  progress('encoders on two threads (a process of their own)…');
  const child = spawnSync(process.execPath, [process.argv[1]!, 'wasm-encoders'], { env: { ...process.env, TCC_BENCH_THREADS: '2' }, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (child.status !== 0) throw new Error(`the two-thread encoders failed: ${child.stderr.split('\n').slice(-5).join(' ')}`);
  return child.stdout.split('\n').filter((l) => l.startsWith('{"bench"')).map((l) => JSON.parse(l) as Record_);
}

export async function benchWasm(progress: (line: string) => void): Promise<Record_[]> {
  const { ort, name: peerName } = await ortOn(1);
  const records: Record_[] = [...(await benchEncoders(ort, peerName, 1, progress)), ...encodersOnTwoThreads(progress), ...(await benchPretraining(progress))];
  for (const [m, k, n] of PRODUCTS) {
    progress(`product ${m}×${k}×${n}…`);
    const a = Float32Array.from({ length: m * k }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const b = Float32Array.from({ length: k * n }, (_, i) => ((i * 104729) % 1000) / 25000 - 0.02);
    const emitted = gemmModule(m, k, n);
    const ours = await wasmProduct(emitted, m, k, n, a, b);
    const oursOptimized = await wasmProduct(await optimized(emitted), m, k, n, a, b);

    const g = new GraphBuilder('product', 'infer', {});
    const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [m, k] }).id;
    const w = g.add('param', [], { name: 'w', shape: [k, n], init: 'normal', std: 0.02 }).id;
    g.output('y', g.add('matmul', [x, w], { transpose_a: false, transpose_b: false }).id);
    const source = g.build();
    const onnx = await ort.InferenceSession.create(exportOnnx(source, { w: b }).model, { executionProviders: ['wasm'] });
    const feeds = { x: new ort.Tensor('float32', a, [m, k]) };
    const js = await openSession(buildProgram(runPipeline(source, { fuse: true }).graph), { backend: 'js' });
    js.setParams({ ...initParams(js.program.params, 0), w: b });

    // The same numbers first: every engine's product against onnxruntime's.
    const want = (await onnx.run(feeds))['y']!.data as Float32Array;
    const got = [ours(), oursOptimized(), (await js.run({ x: a }))['y']!.data as Float32Array];
    const worst = got.reduce((w, v) => v.reduce((x, value, i) => Math.max(x, Math.abs(value - want[i]!)), w), 0);
    if (!(worst < 1e-3)) throw new Error(`product ${m}×${k}×${n}: the engines differ by ${worst}`);

    const [t0, t1, t2, t3] = await interleaved([ours, oursOptimized, () => onnx.run(feeds), () => js.run({ x: a })]);
    await onnx.release();
    js.destroy();
    const gflops = (ms: number) => round((2 * m * k * n) / ms / 1e6, 1);
    const [emittedMs, optimizedMs, peerMs, jsMs] = [t0!, t1!, t2!, t3!].map(median) as [number, number, number, number];
    const base = { bench: 'wasm-gemm', model: `${m}x${k}x${n}`, batch: 1, seq: m, metric: 'gflops', unit: 'GFLOP/s', repeats: t0!.length } as const;
    const rows: Record_[] = [
      { ...base, backend: `wasm (emitted, ${MR}×8 tiles)`, value: gflops(emittedMs), peer: peerName, peer_value: gflops(peerMs), ratio: round(emittedMs / peerMs, 3) },
      { ...base, backend: 'wasm (emitted, then binaryen -O3)', value: gflops(optimizedMs), peer: peerName, peer_value: gflops(peerMs), ratio: round(optimizedMs / peerMs, 3) },
      { ...base, backend: 'js', value: gflops(jsMs), peer: 'wasm (emitted)', peer_value: gflops(emittedMs), ratio: round(jsMs / emittedMs, 1) },
    ];
    for (const r of rows) emit(r);
    records.push(...rows);
  }
  return records;
}
