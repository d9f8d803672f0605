// Threefry-2x32-20 in WebAssembly, straight-line: the bits of
// numerics/threefry.ts (and of the C and WGSL backends), 32-bit add, rotate
// and xor.

import type { ModuleBuilder } from './encode.js';

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;
const PARITY = 0x1bd11bda;

/** uniform01(seed, stream, step, element) → f32 in [0, 1) with 24 random bits. Returns its function index. */
export function emitUniform01(mod: ModuleBuilder): number {
  return mod.func('uniform01', ['i32', 'i32', 'i32', 'i32'], ['f32'], (c) => {
    const [k0, k1, c0, c1] = [0, 1, 2, 3];
    const [ks2, x0, x1] = [c.local('i32'), c.local('i32'), c.local('i32')];
    c.i32(PARITY).get(k0).i32Xor().get(k1).i32Xor().set(ks2);
    c.get(c0).get(k0).i32Add().set(x0);
    c.get(c1).get(k1).i32Add().set(x1);
    const keys = [k0, k1, ks2];
    for (let block = 0; block < 5; block++) {
      const r = (block & 1) * 4;
      for (let i = 0; i < 4; i++) {
        c.get(x0).get(x1).i32Add().set(x0);
        c.get(x1).i32(ROTATIONS[r + i]!).i32Rotl().get(x0).i32Xor().set(x1);
      }
      const s = block + 1;
      c.get(x0).get(keys[s % 3]!).i32Add().set(x0);
      c.get(x1).get(keys[(s + 1) % 3]!).i32Add().i32(s).i32Add().set(x1);
    }
    // (x0 >>> 8) · 2⁻²⁴
    c.get(x0).i32(8).i32ShrU().f32ConvertI32S().f32(2 ** -24).f32Mul();
  }, false);
}
