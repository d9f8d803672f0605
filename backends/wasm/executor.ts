// The wasm executor: one WebAssembly memory holds the program (the
// persistent region, the planned arena, each kernel's random streams and
// each thread's scratch), the module's kernel functions are called in order
// with the byte addresses of their ranges, and the updates are copies
// inside the memory. Reads and writes are typed-array views of it, as on
// the other CPU backends.
//
// Threads (Node, and pages that are cross-origin isolated, as `tcc serve`'s
// are): the memory is shared, and workers instantiate the same module over
// it. A run wakes them through a control word; every thread
// calls every kernel on its share (the renderer splits each kernel's
// outer loop) and meets the others at a barrier after it, spinning briefly
// and then sleeping. Each thread computes what one thread would, so the
// results are the same bits at any thread count.

import { HostMemory } from '../common/host-memory.js';
import type { HostProgram } from '../common/host-program.js';
import type { CpuArray, Executor, RunContext } from '../../runtime/executor.js';
import type { BufferRange } from '../../runtime/program.js';
import { erf } from '../../numerics/scalar.js';
import { keepsPackedB, type Kernel } from '../../kernel/ir.js';
import { RunFailure } from '../../runtime/errors.js';
import { packedBytes } from './gemm.js';
import { PACK_HEADER, type WasmProgram } from './render.js';
import { MAX_SIZES, MAX_THREADS, SIZES_AT } from './writer.js';

const PAGE = 65536;
/** 4 GiB: a 32-bit WebAssembly memory's most pages. */
const MAX_PAGES = 65536;
const ALIGN = 64;

const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** The host functions the modules import. */
const MATH = { exp: Math.exp, log: Math.log, tanh: Math.tanh, erf, sin: Math.sin, cos: Math.cos, pow: Math.pow };

type KernelFn = (...args: number[]) => void;

/** Words of the control block threads share. */
const EPOCH = 0, SEED = 1, STEP = 2, GENERATION = 3, ARRIVED = 4, PHASE = 5, STOP = 6, FAILED = 7, CONTROL_WORDS = 8;

/** Polls of the barrier's phase before a thread sleeps on it: a kernel boundary usually comes sooner. */
const SPINS = 20_000;

/**
 * Waits until every thread has called `barrier` for this phase (the last to
 * arrive opens it): spinning, then sleeping where this thread may (a
 * browser's main thread may not, and spins).
 */
function barrier(word: Int32Array, threads: number, sleeps = true): void {
  const phase = Atomics.load(word, PHASE);
  if (Atomics.add(word, ARRIVED, 1) === threads - 1) {
    Atomics.store(word, ARRIVED, 0);
    Atomics.add(word, PHASE, 1);
    Atomics.notify(word, PHASE);
    return;
  }
  for (let i = 0; i < SPINS || !sleeps; i++) if (Atomics.load(word, PHASE) !== phase) return;
  while (Atomics.load(word, PHASE) === phase) Atomics.wait(word, PHASE, phase);
}

/**
 * A worker's program: the module over the shared memory, every run's
 * kernels on its share, a barrier after each. `start` receives its setup: a
 * Node worker's workerData, a browser worker's first message.
 */
const WORKER = (erfSource: string, start: string) => `'use strict';
const erf = ${erfSource};
${barrier.toString()}
const [EPOCH, SEED, STEP, GENERATION, ARRIVED, PHASE, STOP, FAILED, SPINS] = [${EPOCH}, ${SEED}, ${STEP}, ${GENERATION}, ${ARRIVED}, ${PHASE}, ${STOP}, ${FAILED}, ${SPINS}];
function run({ module, memory, control, calls, thread, threads, scratch }) {
  const math = { exp: Math.exp, log: Math.log, tanh: Math.tanh, erf, sin: Math.sin, cos: Math.cos, pow: Math.pow };
  const exports = new WebAssembly.Instance(module, { env: { memory }, math }).exports;
  const fns = calls.map((c) => exports[c.fn]);
  const word = new Int32Array(control);
  let seen = 0;
  for (;;) {
    Atomics.wait(word, EPOCH, seen);
    seen = Atomics.load(word, EPOCH);
    if (Atomics.load(word, STOP)) break;
    const [seed, step, generation] = [word[SEED], word[STEP], word[GENERATION]];
    for (let i = 0; i < fns.length; i++) {
      const c = calls[i];
      try {
        fns[i](...c.args, seed, step, c.streams, scratch, c.packs, generation, thread, threads);
      } catch {
        Atomics.store(word, FAILED, i + 1);
      }
      barrier(word, threads);
    }
  }
}
${start}
`;
const NODE_START = "run(require('node:worker_threads').workerData);";
const BROWSER_START = 'self.onmessage = (event) => { self.onmessage = null; run(event.data); };';

/** The browser workers' script, made once per page. */
let workerUrl: string | undefined;

/** Where workers come from: Node's worker_threads, or a cross-origin-isolated page's Worker. */
type Spawn = (setup: object) => { terminate(): unknown };

/** The threads to run on: as asked (or every core), where this engine has shared memory and workers; else 1. */
async function threadsHere(asked: number | undefined): Promise<{ threads: number; spawn?: Spawn; sleeps: boolean }> {
  const one = { threads: 1, sleeps: true };
  if (typeof SharedArrayBuffer !== 'function' || asked === 1) return one;
  if (typeof process === 'object' && typeof process.versions?.node === 'string') {
    const [os, workers] = await Promise.all([import('node:os'), import('node:worker_threads')]);
    const threads = Math.min(MAX_THREADS, asked ?? os.availableParallelism());
    const spawn: Spawn = (setup) => {
      const worker = new workers.Worker(WORKER(erf.toString(), NODE_START), { eval: true, workerData: setup });
      worker.unref();
      return worker;
    };
    return threads > 1 ? { threads, spawn, sleeps: true } : one;
  }
  const page = globalThis as { crossOriginIsolated?: boolean; Worker?: new (url: string) => Worker; navigator?: { hardwareConcurrency?: number } };
  if (!page.crossOriginIsolated || !page.Worker) return one;
  const threads = Math.min(MAX_THREADS, asked ?? page.navigator?.hardwareConcurrency ?? 1);
  workerUrl ??= URL.createObjectURL(new Blob([WORKER(erf.toString(), BROWSER_START)], { type: 'text/javascript' }));
  const url = workerUrl;
  const spawn: Spawn = (setup) => {
    const worker = new page.Worker!(url);
    worker.postMessage(setup);
    return worker;
  };
  // The page's own thread may not sleep in Atomics.wait: it spins at barriers.
  return threads > 1 ? { threads, spawn, sleeps: false } : one;
}

export class WasmExecutor implements Executor {
  readonly backend = 'wasm';
  readonly device: string;
  private readonly memory: HostMemory;
  private readonly bytes: Uint8Array;
  private readonly calls: { fn: KernelFn; fnName: string; args: number[]; streams: number; packs: number; name: string }[];
  /** The threads' control block (see the words above), and the workers that run threads 1 … threads − 1. */
  private readonly control: Int32Array;
  private readonly workers: { terminate(): unknown }[] = [];
  /** Counts the writes of parameters: packed copies of an older generation are stale. */
  private generation = 1;
  private readonly paramBuffers: ReadonlySet<number>;
  private readonly updates: { from: number; to: number; bytes: number }[];
  private readonly scratch: number;
  /** The words where a run's sizes go (the kernels read them there). */
  private readonly sizes: Int32Array;

  static async create(program: HostProgram & { readonly mode: 'infer' | 'train' }, kernels: readonly Kernel[], render: (shared: boolean) => WasmProgram, asked?: number): Promise<WasmExecutor> {
    const { threads, spawn, sleeps } = await threadsHere(asked);
    const rendered = render(threads > 1);
    // Layout: a run's sizes (SIZES_AT, below ALIGN), the persistent region, the arena, the stream lists, the kept packs, each thread's scratch.
    const persistent = ALIGN;
    const arena = alignUp(persistent + program.persistentBytes);
    const streams = alignUp(arena + program.arenaBytes);
    const streamWords = program.kernels.reduce((n, k) => n + (k.streams?.length ?? 0), 0);
    let end = alignUp(streams + 4 * streamWords);
    const packs = kernels.map((k) => {
      // (B packed at a depth a run gives would be stale at the next run's.)
      if (k.kind !== 'matmul' || !keepsPackedB(k, program.mode) || k.runtime?.['k']) return 0;
      const at = end;
      end = alignUp(end + PACK_HEADER + packedBytes(k.k, k.n));
      return at;
    });
    const scratch = end;
    const perThread = alignUp(rendered.scratchBytes);
    const pages = Math.ceil((scratch + threads * perThread) / PAGE) + 1;
    if (pages > MAX_PAGES) {
      throw new RunFailure(`the program needs ${pages * PAGE} bytes on the wasm backend; a WebAssembly memory holds at most 4 GiB: use a smaller batch or sequence, or another backend`);
    }
    const memory = new WebAssembly.Memory(threads > 1 ? { initial: pages, maximum: pages, shared: true } : { initial: pages });
    const module = new WebAssembly.Module(rendered.bytes);
    const instance = await WebAssembly.instantiate(module, { env: { memory }, math: MATH });
    const executor = new WasmExecutor(program, instance.exports as Record<string, KernelFn>, memory.buffer, { persistent, arena, streams, scratch, packs }, threads, perThread, sleeps);
    if (spawn) executor.startWorkers(spawn, module, memory);
    return executor;
  }

  private constructor(program: HostProgram, exports: Record<string, KernelFn>, buffer: ArrayBufferLike, at: { persistent: number; arena: number; streams: number; scratch: number; packs: readonly number[] }, readonly threads: number, private readonly perThread: number, private readonly sleeps: boolean) {
    this.device = `cpu (WebAssembly SIMD, ${threads} thread${threads === 1 ? '' : 's'})`;
    // Shared only where threads share it: a page that is not cross-origin isolated has no SharedArrayBuffer.
    this.control = new Int32Array(threads > 1 ? new SharedArrayBuffer(4 * CONTROL_WORDS) : new ArrayBuffer(4 * CONTROL_WORDS));
    this.memory = new HostMemory(program, { buffer: buffer as ArrayBuffer, bases: { persistent: at.persistent, arena: at.arena } });
    this.bytes = new Uint8Array(buffer);
    this.scratch = at.scratch;
    this.sizes = new Int32Array(buffer, SIZES_AT, MAX_SIZES);
    const words = new Int32Array(buffer);
    let next = at.streams / 4;
    this.paramBuffers = new Set(program.params.map((p) => p.buffer));
    this.calls = program.kernels.map((k, i) => {
      const fn = exports[k.fn];
      if (!fn) throw new Error(`kernel ${k.name}: function ${k.fn} is missing from the program's module`);
      // The kernel's stream ids, one word each, at the byte address it is given.
      const streams = 4 * next;
      for (const s of k.streams ?? []) words[next++] = s;
      return { fn, fnName: k.fn, args: k.args.map((r) => this.memory.byteOffset(r)), streams, packs: at.packs[i]!, name: k.name };
    });
    this.updates = program.updates.map((u) => ({ from: this.memory.byteOffset(u.from), to: this.memory.byteOffset(u.to), bytes: 4 * u.from.size }));
  }

  private startWorkers(spawn: Spawn, module: WebAssembly.Module, memory: WebAssembly.Memory): void {
    const calls = this.calls.map(({ fnName, args, streams, packs }) => ({ fn: fnName, args, streams, packs }));
    for (let thread = 1; thread < this.threads; thread++) {
      this.workers.push(spawn({ module, memory, control: this.control.buffer, calls, thread, threads: this.threads, scratch: this.scratch + thread * this.perThread }));
    }
  }

  /** Calls every kernel on thread 0's share, each followed by the barrier; `time` sees each kernel's wall time. */
  private runKernels(ctx: RunContext, time?: (name: string, ms: number) => void): void {
    const word = this.control;
    if (ctx.sizes) this.sizes.set(ctx.sizes);
    if (this.threads > 1) {
      word[SEED] = ctx.seed;
      word[STEP] = ctx.step;
      word[GENERATION] = this.generation;
      Atomics.store(word, FAILED, 0);
      Atomics.add(word, EPOCH, 1);
      Atomics.notify(word, EPOCH);
    }
    let failed: unknown;
    for (const call of this.calls) {
      const start = time ? performance.now() : 0;
      try {
        call.fn(...call.args, ctx.seed, ctx.step, call.streams, this.scratch, call.packs, this.generation, 0, this.threads);
      } catch (e) {
        failed ??= e;
      }
      if (this.threads > 1) barrier(word, this.threads, this.sleeps);
      time?.(call.name, performance.now() - start);
    }
    if (failed) throw failed;
    const other = Atomics.load(word, FAILED);
    if (other) throw new RunFailure(`kernel ${this.calls[other - 1]!.name} failed on a worker thread of the wasm backend`);
    for (const u of this.updates) this.bytes.copyWithin(u.to, u.from, u.from + u.bytes);
  }

  write(range: BufferRange, data: ArrayLike<number>): void {
    this.memory.write(range, data);
    // Packed copies of parameters are stale now.
    if (this.paramBuffers.has(range.buffer)) this.generation++;
  }

  run(ctx: RunContext = { seed: 0, step: 0 }): void {
    this.runKernels(ctx);
  }

  read(ranges: readonly BufferRange[]): Promise<CpuArray[]> {
    return this.memory.read(ranges);
  }

  destroy(): void {
    if (!this.workers.length) return;
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, EPOCH, 1);
    Atomics.notify(this.control, EPOCH);
    for (const w of this.workers.splice(0)) void w.terminate();
  }

  /** Runs and returns each kernel's wall time in milliseconds (for profiling). */
  profile(ctx: RunContext = { seed: 0, step: 0 }): { name: string; ms: number }[] {
    const times: { name: string; ms: number }[] = [];
    this.runKernels(ctx, (name, ms) => times.push({ name, ms }));
    return times;
  }
}
