// Counter-based random numbers: Threefry-2x32 with 20 rounds (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3"), the generator JAX uses. It
// needs only 32-bit add, rotate and xor, so JavaScript, C and WGSL compute the
// same bits. Every random draw in tcc is keyed by (seed, stream) and counted by
// (step, element), which makes dropout masks and initializations reproducible
// and identical across backends.

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;
const PARITY = 0x1bd11bda;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** Threefry-2x32-20 of counter (c0, c1) under key (k0, k1); returns two uint32 words. */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (PARITY ^ k0 ^ k1) >>> 0];
  let x0 = (c0 + ks[0]!) >>> 0;
  let x1 = (c1 + ks[1]!) >>> 0;
  for (let block = 0; block < 5; block++) {
    for (let r = 0; r < 4; r++) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl(x1, ROTATIONS[(block % 2) * 4 + r]!) ^ x0;
    }
    // Key injection after every four rounds.
    const s = block + 1;
    x0 = (x0 + ks[s % 3]!) >>> 0;
    x1 = (x1 + ks[(s + 1) % 3]! + s) >>> 0;
  }
  return [x0, x1];
}

/** A uniform float in [0, 1) with 24 random bits, as f32 can hold exactly. */
export function uniform01(seed: number, stream: number, step: number, element: number): number {
  const [bits] = threefry2x32(seed, stream, step, element);
  return (bits >>> 8) * 2 ** -24;
}
