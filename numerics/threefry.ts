// Counter-based random numbers: Threefry-2x32 with 20 rounds (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3"), the generator JAX uses. It
// needs only 32-bit add, rotate and xor, so JavaScript, C and WGSL compute the
// same bits. Every random draw in tcc is keyed by (seed, stream) and counted by
// (step, element), which makes dropout masks and initializations reproducible
// and identical across backends.

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;
const PARITY = 0x1bd11bda;

/** Threefry-2x32-20 of counter (c0, c1) under key (k0, k1), written to out[0], out[1] (no allocation). */
export function threefry2x32Into(out: Uint32Array, k0: number, k1: number, c0: number, c1: number): void {
  const ks0 = k0 >>> 0;
  const ks1 = k1 >>> 0;
  const ks2 = (PARITY ^ ks0 ^ ks1) >>> 0;
  let x0 = (c0 + ks0) >>> 0;
  let x1 = (c1 + ks1) >>> 0;
  for (let block = 0; block < 5; block++) {
    const r = (block & 1) * 4;
    for (let i = 0; i < 4; i++) {
      const rot = ROTATIONS[r + i]!;
      x0 = (x0 + x1) >>> 0;
      x1 = (((x1 << rot) | (x1 >>> (32 - rot))) ^ x0) >>> 0;
    }
    // Key injection after every four rounds.
    const s = block + 1;
    const ka = s % 3 === 0 ? ks0 : s % 3 === 1 ? ks1 : ks2;
    const kb = (s + 1) % 3 === 0 ? ks0 : (s + 1) % 3 === 1 ? ks1 : ks2;
    x0 = (x0 + ka) >>> 0;
    x1 = (x1 + kb + s) >>> 0;
  }
  out[0] = x0;
  out[1] = x1;
}

const scratch = new Uint32Array(2);

/** Threefry-2x32-20 of counter (c0, c1) under key (k0, k1); returns two uint32 words. */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  threefry2x32Into(scratch, k0, k1, c0, c1);
  return [scratch[0]!, scratch[1]!];
}

/** A uniform float in [0, 1) with 24 random bits, as f32 can hold exactly. */
export function uniform01(seed: number, stream: number, step: number, element: number): number {
  threefry2x32Into(scratch, seed, stream, step, element);
  return (scratch[0]! >>> 8) * 2 ** -24;
}
