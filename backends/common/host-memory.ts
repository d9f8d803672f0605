// A program's memory in the host's RAM: two ArrayBuffers (the persistent
// region and the planned arena) holding every buffer at its offset, and
// typed-array views of ranges. The JavaScript and native backends both run
// on it; the native one hands the two ArrayBuffers to C.

import type { CpuArray } from '../../runtime/executor.js';
import type { BufferRange, ProgramBuffer, Region } from '../../runtime/program.js';

export interface HostLayout {
  readonly persistentBytes: number;
  readonly arenaBytes: number;
  readonly buffers: readonly Pick<ProgramBuffer, 'id' | 'dtype' | 'size' | 'region' | 'offset'>[];
}

export class HostMemory {
  readonly regions: Record<Region, ArrayBuffer>;

  constructor(private readonly layout: HostLayout) {
    this.regions = { persistent: new ArrayBuffer(layout.persistentBytes), arena: new ArrayBuffer(layout.arenaBytes) };
  }

  /** A live view of a range: what kernels read and write. */
  view(range: BufferRange): CpuArray {
    const b = this.layout.buffers[range.buffer];
    if (!b) throw new RangeError(`no buffer ${range.buffer}`);
    if (range.offset < 0 || range.offset + range.size > b.size) throw new RangeError(`elements [${range.offset}, ${range.offset + range.size}) are outside buffer ${range.buffer} of ${b.size}`);
    const bytes = b.offset + 4 * range.offset;
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
