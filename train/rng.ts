// A random stream for the data pipeline on the same counter-based generator
// as dropout (Threefry): keyed by (seed, stream), counted from a position
// that can be saved and restored, so that data preparation and masking are
// reproducible and resumable exactly.

import { threefry2x32Into } from '../numerics/threefry.js';

/** Stream ids of the data pipeline's uses of randomness. */
export const STREAMS = { pairs: 0x5eed0001, masking: 0x5eed0002, shuffle: 0x5eed0003 } as const;

export class Rng {
  private readonly block = new Uint32Array(2);

  constructor(
    readonly seed: number,
    readonly stream: number,
    /** The draws made so far; saving it resumes the stream. */
    public position = 0,
  ) {}

  /** Uniform in [0, 1) with 32 random bits. */
  random(): number {
    const counter = this.position++;
    threefry2x32Into(this.block, this.seed, this.stream, Math.floor(counter / 4294967296), counter >>> 0);
    return this.block[0]! / 4294967296;
  }

  /** An integer in [lo, hi], both included (Python's randint). */
  randint(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  /** Fisher–Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}
