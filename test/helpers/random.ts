// Deterministic test data: a small seeded generator (mulberry32), so that
// every failure reproduces. Never all-zero or all-equal inputs.

import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import { numel, type DType, type Shape } from '../../compiler/ir/types.js';

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [lo, hi) for f32, or integers in [lo, hi) for i32. */
export function randomTensor(next: () => number, dtype: DType, shape: Shape, lo = -1, hi = 1): HostTensor {
  const values = Array.from({ length: numel(shape) }, () => (dtype === 'i32' ? Math.floor(lo + next() * (hi - lo)) : lo + next() * (hi - lo)));
  return hostTensor(dtype, shape, values);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
