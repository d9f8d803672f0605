// A program's memory in the host's RAM: two ArrayBuffers (the persistent
// region and the planned arena) holding every buffer at its offset, or two
// places in one buffer (a WebAssembly memory), and typed-array views of
// ranges. The JavaScript, native and wasm backends run on it; the native
// one hands the two ArrayBuffers to C.

import type { CpuArray } from '../../runtime/executor.js';
import type { BufferRange, ProgramBuffer, Region } from '../../runtime/program.js';

export interface HostLayout {
  readonly persistentBytes: number;
  readonly arenaBytes: number;
  readonly buffers: readonly Pick<ProgramBuffer, 'id' | 'dtype' | 'size' | 'region' | 'offset'>[];
}

/** Where each region starts inside one buffer (a WebAssembly memory), when the regions are not buffers of their own. */
export interface RegionsIn {
  readonly buffer: ArrayBuffer;
  readonly bases: Readonly<Record<Region, number>>;
}

export class HostMemory {
  readonly regions: Record<Region, ArrayBuffer>;
  private readonly bases: Readonly<Record<Region, number>>;

  constructor(
    private readonly layout: HostLayout,
    within?: RegionsIn,
  ) {
    this.regions = within
      ? { persistent: within.buffer, arena: within.buffer }
      : { persistent: new ArrayBuffer(layout.persistentBytes), arena: new ArrayBuffer(layout.arenaBytes) };
    this.bases = within?.bases ?? { persistent: 0, arena: 0 };
  }

  /** The byte offset of a range in its region's buffer. */
  byteOffset(range: BufferRange): number {
    const b = this.layout.buffers[range.buffer]!;
    return this.bases[b.region] + b.offset + 4 * range.offset;
  }

  /** A live view of a range: what kernels read and write. */
  view(range: BufferRange): CpuArray {
    const b = this.layout.buffers[range.buffer];
    if (!b) throw new RangeError(`no buffer ${range.buffer}`);
    if (range.offset < 0 || range.offset + range.size > b.size) throw new RangeError(`elements [${range.offset}, ${range.offset + range.size}) are outside buffer ${range.buffer} of ${b.size}`);
    const bytes = this.bases[b.region] + b.offset + 4 * range.offset;
    const memory = this.regions[b.region];
    return b.dtype === 'i32' ? new Int32Array(memory, bytes, range.size) : new Float32Array(memory, bytes, range.size);
  }

  write(range: BufferRange, data: ArrayLike<number>): void {
    this.view({ ...range, size: data.length }).set(data);
  }

  read(ranges: readonly BufferRange[]): Promise<CpuArray[]> {
    return Promise.resolve(ranges.map((r) => this.view(r).slice()));
  }
}
