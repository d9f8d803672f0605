// The wasm executor: one WebAssembly memory holds the program (the
// persistent region, the planned arena, each kernel's random streams and
// the kernels' scratch), the module's kernel functions are called in order
// with the byte addresses of their ranges, and the updates are copies
// inside the memory. Reads and writes are typed-array views of it, as on
// the other CPU backends.

import { HostMemory } from '../common/host-memory.js';
import type { HostProgram } from '../common/host-program.js';
import type { CpuArray, Executor, RunContext } from '../../runtime/executor.js';
import type { BufferRange } from '../../runtime/program.js';
import { erf } from '../../numerics/scalar.js';
import { keepsPackedB, type Kernel } from '../../kernel/ir.js';
import { RunFailure } from '../../runtime/errors.js';
import { packedBytes } from './gemm.js';
import { PACK_HEADER, type WasmProgram } from './render.js';

const PAGE = 65536;
/** 4 GiB: a 32-bit WebAssembly memory's most pages. */
const MAX_PAGES = 65536;
const ALIGN = 64;

const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** The host functions the modules import. */
const MATH = { exp: Math.exp, log: Math.log, tanh: Math.tanh, erf, sin: Math.sin, cos: Math.cos, pow: Math.pow };

type KernelFn = (...args: number[]) => void;


export class WasmExecutor implements Executor {
  readonly backend = 'wasm';
  readonly device = 'cpu (WebAssembly SIMD, 1 thread)';
  private readonly memory: HostMemory;
  private readonly bytes: Uint8Array;
  private readonly calls: { fn: KernelFn; args: number[]; streams: number; packs: number; name: string }[];
  /** Counts the writes of parameters: packed copies of an older generation are stale. */
  private generation = 1;
  private readonly paramBuffers: ReadonlySet<number>;
  private readonly updates: { from: number; to: number; bytes: number }[];
  private readonly scratch: number;

  static async create(program: HostProgram & { readonly mode: 'infer' | 'train' }, kernels: readonly Kernel[], rendered: WasmProgram): Promise<WasmExecutor> {
    // Layout: the persistent region, the arena, the stream lists, the kept packs, the scratch.
    const persistent = ALIGN;
    const arena = alignUp(persistent + program.persistentBytes);
    const streams = alignUp(arena + program.arenaBytes);
    const streamWords = program.kernels.reduce((n, k) => n + (k.streams?.length ?? 0), 0);
    let end = alignUp(streams + 4 * streamWords);
    const packs = kernels.map((k) => {
      if (k.kind !== 'matmul' || !keepsPackedB(k, program.mode)) return 0;
      const at = end;
      end = alignUp(end + PACK_HEADER + packedBytes(k.k, k.n));
      return at;
    });
    const scratch = end;
    const pages = Math.ceil((scratch + rendered.scratchBytes) / PAGE) + 1;
    if (pages > MAX_PAGES) {
      throw new RunFailure(`the program needs ${pages * PAGE} bytes on the wasm backend; a WebAssembly memory holds at most 4 GiB: use a smaller batch or sequence, or another backend`);
    }
    const memory = new WebAssembly.Memory({ initial: pages });
    const instance = await WebAssembly.instantiate(new WebAssembly.Module(rendered.bytes), { env: { memory }, math: MATH });
    return new WasmExecutor(program, instance.exports as Record<string, KernelFn>, memory.buffer, { persistent, arena, streams, scratch, packs });
  }

  private constructor(program: HostProgram, exports: Record<string, KernelFn>, buffer: ArrayBuffer, at: { persistent: number; arena: number; streams: number; scratch: number; packs: readonly number[] }) {
    this.memory = new HostMemory(program, { buffer, bases: { persistent: at.persistent, arena: at.arena } });
    this.bytes = new Uint8Array(buffer);
    this.scratch = at.scratch;
    const words = new Int32Array(buffer);
    let next = at.streams / 4;
    this.paramBuffers = new Set(program.params.map((p) => p.buffer));
    this.calls = program.kernels.map((k, i) => {
      const fn = exports[k.fn];
      if (!fn) throw new Error(`kernel ${k.name}: function ${k.fn} is missing from the program's module`);
      // The kernel's stream ids, one word each, at the byte address it is given.
      const streams = 4 * next;
      for (const s of k.streams ?? []) words[next++] = s;
      return { fn, args: k.args.map((r) => this.memory.byteOffset(r)), streams, packs: at.packs[i]!, name: k.name };
    });
    this.updates = program.updates.map((u) => ({ from: this.memory.byteOffset(u.from), to: this.memory.byteOffset(u.to), bytes: 4 * u.from.size }));
  }

  write(range: BufferRange, data: ArrayLike<number>): void {
    this.memory.write(range, data);
    // Packed copies of parameters are stale now.
    if (this.paramBuffers.has(range.buffer)) this.generation++;
  }

  run(ctx: RunContext = { seed: 0, step: 0 }): void {
    for (const call of this.calls) call.fn(...call.args, ctx.seed, ctx.step, call.streams, this.scratch, call.packs, this.generation);
    for (const u of this.updates) this.bytes.copyWithin(u.to, u.from, u.from + u.bytes);
  }

  read(ranges: readonly BufferRange[]): Promise<CpuArray[]> {
    return this.memory.read(ranges);
  }

  destroy(): void {}

  /** Runs and returns each kernel's wall time in milliseconds (for profiling). */
  profile(ctx: RunContext = { seed: 0, step: 0 }): { name: string; ms: number }[] {
    const times = this.calls.map((call) => {
      const start = performance.now();
      call.fn(...call.args, ctx.seed, ctx.step, call.streams, this.scratch, call.packs, this.generation);
      return { name: call.name, ms: performance.now() - start };
    });
    for (const u of this.updates) this.bytes.copyWithin(u.to, u.from, u.from + u.bytes);
    return times;
  }
}
