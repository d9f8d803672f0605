import { describe, expect, it } from 'vitest';
import { threefry2x32, uniform01 } from '../../numerics/threefry.js';

describe('threefry2x32', () => {
  // Known-answer vectors of Threefry-2x32 with 20 rounds (Random123's kat_vectors, also JAX's tests).
  it.each([
    [[0x00000000, 0x00000000], [0x00000000, 0x00000000], [0x6b200159, 0x99ba4efe]],
    [[0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x1cb996fc, 0xbb002be7]],
    [[0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3], [0xc4923a9c, 0x483df7a0]],
  ])('key %j counter %j gives %j', (key, counter, expected) => {
    expect(threefry2x32(key[0]!, key[1]!, counter[0]!, counter[1]!)).toEqual(expected);
  });

  it('gives uniform floats in [0, 1)', () => {
    const draws = Array.from({ length: 20000 }, (_, i) => uniform01(1, 2, 3, i));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const mean = draws.reduce((s, v) => s + v, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
  });
});
