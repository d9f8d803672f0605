// The WebGPU executor: the program's two regions (persistent and the planned
// arena) as storage buffers on the device, every kernel arg bound as its own
// range of one of them; pipelines created once (identical modules compiled
// once), bind groups made once per kernel; one command encoder and one
// compute pass per run; reads copy only the ranges asked for into a mappable
// buffer.
//
// Each region is split into as few GPU buffers as the device's maxBufferSize
// allows, never splitting a program buffer; each binding must fit
// maxStorageBufferBindingSize. Parameter and state updates not computed in
// place are copied by a small compute kernel (copyBufferToBuffer cannot copy
// within one buffer).

import type { CpuArray, Executor, RunContext } from '../../runtime/executor.js';
import { RunFailure } from '../../runtime/errors.js';
import { tensorRange, type BufferRange, type Program, type ProgramBuffer } from '../../runtime/program.js';
import type { Kernel } from '../../kernel/ir.js';
import { functionNames } from '../../kernel/hash.js';
import { acquireDevice, describeAdapter, type GpuHandle } from './device.js';
import { WgslCompileError, compilationError } from './errors.js';
import { grid, runGrid, RUN_SIZES, type SizedGrid, type WgslKernel } from './module.js';
import { renderProgramWgsl } from './render.js';

interface Placement {
  readonly chunk: number;
  /** Bytes from the start of the chunk. */
  readonly offset: number;
  /** Bytes bound (a multiple of 4, at least 4). */
  readonly bytes: number;
}

interface Dispatch {
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
  /** The grid at the largest extents, and the dimension a run sizes (module.ts runGrid). */
  readonly workgroups: readonly [number, number, number];
  readonly sized?: SizedGrid;
  readonly kernel: string;
}

// Copies `count` words from src[src_at] to dst[dst_at]; the bindings start at aligned offsets below them.
const COPY_WGSL = `@group(0) @binding(0) var<storage, read_write> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
struct Copy { src_at: u32, dst_at: u32, count: u32 }
@group(0) @binding(2) var<uniform> copy: Copy;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * 65535u + wid.x) * 256u + lid;
  if (e < copy.count) { dst[copy.dst_at + e] = src[copy.src_at + e]; }
}
`;

/** A range bound from the 64-element boundary at or below it, and where it starts within that binding. */
function aligned(range: BufferRange): { binding: BufferRange; skip: number } {
  const start = Math.floor(range.offset / 64) * 64;
  return { binding: { buffer: range.buffer, offset: start, size: range.offset + range.size - start }, skip: range.offset - start };
}

/**
 * Lays the buffers of both regions out in chunks of at most `maxChunk`
 * bytes, keeping each buffer whole; buffers sharing arena bytes (planned
 * lifetimes apart) share a chunk.
 */
export function placeBuffers(buffers: readonly ProgramBuffer[], maxChunk: number, maxBinding: number): { placements: Placement[]; chunkBytes: number[] } {
  const placements: Placement[] = [];
  const chunkBytes: number[] = [];
  for (const region of ['persistent', 'arena'] as const) {
    const sorted = buffers.filter((b) => b.region === region).sort((a, b) => a.offset - b.offset);
    let chunkStart = 0;
    let chunk = -1;
    for (const b of sorted) {
      const bytes = Math.max(4, 4 * b.size);
      if (bytes > maxBinding) {
        throw new RunFailure(`tensor ${b.name ?? `#${b.id}`} takes ${bytes} bytes, more than this device binds at once (maxStorageBufferBindingSize ${maxBinding}); use a smaller batch or --backend cpu`);
      }
      if (chunk < 0 || b.offset + bytes - chunkStart > maxChunk) {
        chunkStart = b.offset;
        chunk = chunkBytes.length;
        chunkBytes.push(0);
      }
      placements[b.id] = { chunk, offset: b.offset - chunkStart, bytes };
      chunkBytes[chunk] = Math.max(chunkBytes[chunk]!, b.offset - chunkStart + bytes);
    }
  }
  return { placements, chunkBytes };
}

/**
 * What a device has compiled, by source: modules, bind group layouts and
 * pipelines are made once per device, however many programs run on it (the
 * layers of one program, and every program a process opens).
 */
const compiled = new WeakMap<GPUDevice, { modules: Map<string, Promise<GPUShaderModule>>; layouts: Map<string, GPUBindGroupLayout>; pipelines: Map<string, Promise<GPUComputePipeline>> }>();

function compiledOn(device: GPUDevice) {
  let c = compiled.get(device);
  if (!c) {
    c = { modules: new Map(), layouts: new Map(), pipelines: new Map() };
    compiled.set(device, c);
  }
  return c;
}

/** A kernel the device cannot run is refused before anything runs, naming the limit. */
export function checkLimits(kernel: string, spec: WgslKernel, limits: GPUSupportedLimits): void {
  const over = (what: string, need: number, limit: number, name: string) => {
    if (need > limit) throw new RunFailure(`kernel ${kernel} needs ${need} ${what}; this device allows ${limit} (${name}); use --backend cpu`);
  };
  over('storage buffers', spec.bindings.length, limits.maxStorageBuffersPerShaderStage, 'maxStorageBuffersPerShaderStage');
  over('invocations per workgroup', spec.invocations, limits.maxComputeInvocationsPerWorkgroup, 'maxComputeInvocationsPerWorkgroup');
  over('bytes of workgroup memory', spec.workgroupBytes, limits.maxComputeWorkgroupStorageSize, 'maxComputeWorkgroupStorageSize');
  for (const pass of spec.passes) over('workgroups along a dimension', Math.max(...pass.workgroups), limits.maxComputeWorkgroupsPerDimension, 'maxComputeWorkgroupsPerDimension');
}

export class WebGpuExecutor implements Executor {
  readonly backend = 'webgpu';
  private failure: string | undefined;

  private constructor(
    private readonly gpu: GpuHandle,
    private readonly program: Program,
    private readonly chunks: GPUBuffer[],
    private readonly placements: Placement[],
    private readonly dispatches: Dispatch[],
    private readonly uniform: GPUBuffer,
    /** Small uniform buffers: the kernels' streams and the update copies' parameters. */
    private readonly params: readonly GPUBuffer[],
  ) {
    gpu.device.addEventListener('uncapturederror', this.onError);
    void gpu.device.lost.then((info) => {
      const why = info.reason === 'destroyed' ? 'destroyed' : info.message.split('\n')[0] || 'reason unknown';
      this.failure ??= `the WebGPU device was lost (${why})`;
    });
  }

  private readonly onError = (event: Event): void => {
    this.failure ??= `WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message.split('\n')[0]}`;
  };

  get device(): string {
    return `webgpu (${describeAdapter(this.gpu.info)})`;
  }

  /**
   * Renders the kernels' WGSL (the program's kernels in order, checked),
   * compiles every module and lays the arena out on a device (the given
   * one, or the first adapter's). `render` replaces the renderer (a
   * benchmark's variant of a kernel).
   */
  static async create(program: Program, kernels: readonly Kernel[], options: { gpu?: GpuHandle; render?: (k: Kernel) => WgslKernel } = {}): Promise<WebGpuExecutor> {
    const fns = functionNames(kernels, '');
    const rendered = options.render ? new Map(kernels.map((k, i) => [fns[i]!, options.render!(k)])) : renderProgramWgsl(kernels, fns);
    const gpu = options.gpu ?? (await acquireDevice());
    const { device } = gpu;
    const limits = device.limits;
    if (limits.minStorageBufferOffsetAlignment > 256) {
      throw new RunFailure(`this device aligns storage bindings to ${limits.minStorageBufferOffsetAlignment} bytes; tcc programs align to 256 (use --backend cpu)`);
    }
    const { placements, chunkBytes } = placeBuffers(program.buffers, limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    device.pushErrorScope('out-of-memory');
    const chunks = chunkBytes.map((bytes, i) => device.createBuffer({ label: `arena ${i}`, size: Math.ceil(bytes / 4) * 4, usage }));
    const oom = await device.popErrorScope();
    if (oom) throw new RunFailure(`the device has no room for the program's ${program.persistentBytes + program.arenaBytes} bytes (${oom.message.split('\n')[0]}); use a smaller batch or --backend cpu`);
    // The run's uniform: seed, step, two words of padding, then the run's sizes (module.ts's Run).
    const uniform = device.createBuffer({ label: 'run', size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });

    // One module per distinct source (the first line names the kernel; layers repeat the rest).
    const { modules, layouts, pipelines } = compiledOn(device);
    const moduleFor = (name: string, code: string) => {
      const key = code.slice(code.indexOf('\n') + 1);
      let module = modules.get(key);
      if (!module) {
        const compiled = device.createShaderModule({ label: name, code });
        module = compiled.getCompilationInfo().then((info) => {
          const error = compilationError(name, code, info);
          if (error) throw error;
          return compiled;
        });
        modules.set(key, module);
      }
      return module;
    };
    // `storage` storage buffers, then `uniforms` uniform buffers.
    const layoutFor = (storage: number, uniforms: number) => {
      const key = `${storage}:${uniforms}`;
      let layout = layouts.get(key);
      if (!layout) {
        const entries: GPUBindGroupLayoutEntry[] = Array.from({ length: storage + uniforms }, (_, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: binding < storage ? 'storage' : 'uniform' },
        }));
        layout = device.createBindGroupLayout({ entries });
        layouts.set(key, layout);
      }
      return layout;
    };
    const pipelineFor = (name: string, code: string, entry: string, layout: GPUBindGroupLayout, layoutKey: string) => {
      const key = `${code.slice(code.indexOf('\n') + 1)}\n//${entry}:${layoutKey}`;
      let pipeline = pipelines.get(key);
      if (!pipeline) {
        pipeline = moduleFor(name, code).then((module) =>
          device.createComputePipelineAsync({ label: `${name}.${entry}`, layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: entry } }),
        );
        pipelines.set(key, pipeline);
      }
      return pipeline;
    };
    const binding = (range: BufferRange, i: number): GPUBindGroupEntry => {
      const p = placements[range.buffer]!;
      return { binding: i, resource: { buffer: chunks[p.chunk]!, offset: p.offset + 4 * range.offset, size: Math.max(4, 4 * range.size) } };
    };

    const params: GPUBuffer[] = [];
    const uniformOf = (label: string, words: readonly number[]) => {
      const buffer = device.createBuffer({ label, size: 16 * Math.max(1, Math.ceil(words.length / 4)), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buffer, 0, Uint32Array.from(words));
      params.push(buffer);
      return buffer;
    };
    const pending: Promise<Dispatch>[] = [];
    for (const [i, kernel] of program.kernels.entries()) {
      const spec = rendered.get(fns[i]!)!;
      checkLimits(kernel.name, spec, limits);
      const { code } = spec;
      const storage = spec.bindings.length;
      const uniforms = (spec.uniform ? 1 : 0) + (spec.streams ? 1 : 0);
      const layout = layoutFor(storage, uniforms);
      const entries = spec.bindings.map((arg, i) => binding(kernel.args[arg]!, i));
      if (spec.uniform) entries.push({ binding: entries.length, resource: { buffer: uniform } });
      if (spec.streams) entries.push({ binding: entries.length, resource: { buffer: uniformOf(`${kernel.name} streams`, kernel.streams ?? []) } });
      const group = device.createBindGroup({ label: kernel.name, layout, entries });
      for (const pass of spec.passes) {
        pending.push(pipelineFor(kernel.name, code, pass.entry, layout, `${storage}:${uniforms}`).then((pipeline) => ({ pipeline, group, workgroups: pass.workgroups, ...(pass.sized ? { sized: pass.sized } : {}), kernel: kernel.name })));
      }
    }
    const copyLayout = layoutFor(2, 1);
    const copy = pipelineFor('update', `// update\n${COPY_WGSL}`, 'main', copyLayout, '2:1');
    for (const u of program.updates) {
      const [from, to] = [aligned(tensorRange(u.from)), aligned(tensorRange(u.to))];
      const count = tensorRange(u.to).size;
      const words = uniformOf(`${u.name} copy`, [from.skip, to.skip, count, 0]);
      const group = device.createBindGroup({ label: u.name, layout: copyLayout, entries: [binding(from.binding, 0), binding(to.binding, 1), { binding: 2, resource: { buffer: words } }] });
      pending.push(copy.then((pipeline) => ({ pipeline, group, workgroups: grid(Math.ceil(count / 256)), kernel: u.name })));
    }
    let dispatches: Dispatch[];
    try {
      dispatches = await Promise.all(pending);
    } catch (e) {
      for (const buffer of [...chunks, ...params]) buffer.destroy();
      if (e instanceof WgslCompileError) throw e;
      throw new RunFailure(`WebGPU could not create the program's pipelines: ${(e as Error).message.split('\n')[0]}`);
    }
    return new WebGpuExecutor(gpu, program, chunks, placements, dispatches, uniform, params);
  }

  private check(): void {
    if (this.failure) throw new RunFailure(this.failure);
  }

  write(range: BufferRange, data: ArrayLike<number>): void {
    this.check();
    const p = this.placements[range.buffer];
    if (!p) throw new RangeError(`no buffer ${range.buffer}`);
    const dtype = this.program.buffers[range.buffer]!.dtype;
    const typed = dtype === 'i32' ? (data instanceof Int32Array ? data : Int32Array.from(data)) : data instanceof Float32Array ? data : Float32Array.from(data);
    if (4 * (range.offset + typed.length) > p.bytes) throw new RangeError(`buffer ${range.buffer} holds ${p.bytes / 4} values, not ${range.offset + typed.length}`);
    if (typed.length) this.gpu.device.queue.writeBuffer(this.chunks[p.chunk]!, p.offset + 4 * range.offset, typed.buffer, typed.byteOffset, typed.byteLength);
  }

  run(ctx: RunContext = { seed: 0, step: 0 }): void {
    this.check();
    const { device } = this.gpu;
    device.queue.writeBuffer(this.uniform, 0, runWords(ctx));
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const d of this.dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.group);
      pass.dispatchWorkgroups(...runGrid(d, ctx.sizes));
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
  }

  async read(ranges: readonly BufferRange[]): Promise<CpuArray[]> {
    this.check();
    const { device } = this.gpu;
    let total = 0;
    const at = ranges.map((r) => {
      if (!this.placements[r.buffer]) throw new RangeError(`no buffer ${r.buffer}`);
      const start = total;
      total += 4 * r.size;
      return start;
    });
    const staging = device.createBuffer({ size: Math.max(4, total), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    ranges.forEach((r, i) => {
      const p = this.placements[r.buffer]!;
      if (r.size) encoder.copyBufferToBuffer(this.chunks[p.chunk]!, p.offset + 4 * r.offset, staging, at[i]!, 4 * r.size);
    });
    device.queue.submit([encoder.finish()]);
    try {
      await Promise.race([staging.mapAsync(GPUMapMode.READ), device.lost.then(() => Promise.reject(new Error('lost')))]);
    } catch {
      this.check();
      throw new RunFailure('reading results from the WebGPU device failed');
    }
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.check();
    return ranges.map((r, i) => {
      const b = this.program.buffers[r.buffer]!;
      return b.dtype === 'i32' ? new Int32Array(bytes, at[i]!, r.size) : new Float32Array(bytes, at[i]!, r.size);
    });
  }

  /** Runs each dispatch alone and waits for it: milliseconds per kernel (for profiling; slow). */
  async profile(ctx: RunContext = { seed: 0, step: 0 }): Promise<{ name: string; ms: number }[]> {
    this.check();
    const { device } = this.gpu;
    device.queue.writeBuffer(this.uniform, 0, runWords(ctx));
    await device.queue.onSubmittedWorkDone();
    const times: { name: string; ms: number }[] = [];
    for (const d of this.dispatches) {
      const start = performance.now();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.group);
      pass.dispatchWorkgroups(...runGrid(d, ctx.sizes));
      pass.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      times.push({ name: d.kernel, ms: performance.now() - start });
    }
    this.check();
    return times;
  }

  /** Waits until the device has done every run queued (for timing). */
  async settle(): Promise<void> {
    await this.gpu.device.queue.onSubmittedWorkDone();
    this.check();
  }

  destroy(): void {
    this.gpu.device.removeEventListener('uncapturederror', this.onError);
    for (const chunk of this.chunks) chunk.destroy();
    this.uniform.destroy();
    for (const p of this.params) p.destroy();
  }

  /** Loses the device on purpose (for the tests of what a lost device does). */
  loseDevice(): void {
    this.gpu.device.destroy();
  }
}

/** The run's uniform words: seed, step, padding, and up to four sizes (i32, as WGSL reads them). */
function runWords(ctx: RunContext): Uint32Array<ArrayBuffer> {
  const sizes = ctx.sizes ?? [];
  if (sizes.length > RUN_SIZES) throw new Error(`WebGPU runs take at most ${RUN_SIZES} sizes, got ${sizes.length}`);
  return new Uint32Array([ctx.seed >>> 0, ctx.step >>> 0, 0, 0, ...Array.from({ length: RUN_SIZES }, (_, i) => (sizes[i] ?? 0) >>> 0)]);
}
