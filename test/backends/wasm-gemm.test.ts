// The wasm backend's first pieces: the binary encoder's integers, the
// packed SIMD GEMM against a float64 product on shapes with every kind of
// remainder (rows past the last whole tile, columns past the last whole
// panel, k of 0 and 1) and with A and B read through strides (transposed),
// and the f32x4 exp, tanh and erf against the scalar forms' bits.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModuleBuilder, sleb, uleb } from '../../backends/wasm/encode.js';
import { emitGemmFor, emitPack, packedBytes, type GemmShape } from '../../backends/wasm/gemm.js';
import { inlineErf, inlineExp, inlineTanh } from '../../backends/wasm/math.js';
import { vectorErf, vectorExp, vectorTanh } from '../../backends/wasm/vector.js';
import { rng } from '../helpers/random.js';

/** Decodes LEB128 as the WebAssembly spec defines it. */
function decode(bytes: readonly number[], signed: boolean): number {
  let result = 0n;
  let shift = 0n;
  let byte = 0;
  for (const b of bytes) {
    byte = b;
    result |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  }
  if (signed && byte & 0x40) result -= 1n << shift;
  return Number(result);
}

describe('the wasm encoder', () => {
  it('writes LEB128 integers that decode to themselves, in the fewest bytes', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
      const bytes = uleb(n);
      expect(decode(bytes, false)).toBe(n);
      expect(bytes.length).toBe(Math.max(1, Math.ceil(Math.log2(n + 1) / 7)));
    }));
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (n) => {
      expect(decode(sleb(n), true)).toBe(n);
    }));
  });
});

interface Case {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  readonly mr: number;
  /** Compiled for 3 more rows and 2 more of depth than the run gives (a padding-free stream's tokens): m and k passed at the call. */
  readonly sized?: boolean;
}

async function product(c: Case): Promise<number> {
  const { m, n, k, transposeA, transposeB, mr, sized = false } = c;
  // A laid out at the compiled rows and depth [M, K]; what the run does not give is NaN, so reading it would show.
  const [M, K] = sized ? [m + 3, k + 2] : [m, k];
  const at = (i: number, p: number) => (transposeA ? p * M + i : i * K + p);
  const shape: GemmShape = { m: M, n, k: K, strideM: transposeA ? 1 : K, strideK: transposeA ? M : 1, ldc: n };
  const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1 });
  emitPack(mod);
  emitGemmFor(mod, shape, mr, 'gemm', sized);
  const bytes = 4 * (M * K + k * n + M * n) + packedBytes(K, n);
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1 });
  const instance = await WebAssembly.instantiate(new WebAssembly.Module(mod.encode()), { env: { memory } });
  const exports = instance.exports as Record<string, (...args: number[]) => void>;
  const next = rng(m * 1000 + n * 10 + k);
  const a = new Float32Array(M * K).fill(NaN);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) a[at(i, p)] = next() * 2 - 1;
  const b = Float32Array.from({ length: k * n }, () => next() * 2 - 1);
  const [A, B, P] = [0, 4 * M * K, 4 * (M * K + k * n)];
  const C = P + packedBytes(K, n);
  new Float32Array(memory.buffer, A, M * K).set(a);
  new Float32Array(memory.buffer, B, k * n).set(b);
  new Float32Array(memory.buffer, C, M * n).fill(NaN);
  // In two ranges of panels, as two threads share them.
  const panels = Math.ceil(n / 8);
  const half = Math.floor(panels / 2);
  for (const [p0, p1] of [[0, half], [half, panels]]) {
    exports['pack_b']!(B, transposeB ? 1 : n, transposeB ? k : 1, k, n, P, p0!, p1!);
    exports['gemm']!(A, P, C, p0!, p1!, ...(sized ? [m, k] : []));
  }
  const got = new Float32Array(memory.buffer, C, M * n);
  // Rows past the run's are not stored.
  for (let i = m * n; i < M * n; i++) if (!Number.isNaN(got[i])) return Infinity;
  let worst = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      let scale = 0;
      for (let p = 0; p < k; p++) {
        const x = a[at(i, p)]! * b[transposeB ? j * k + p : p * n + j]!;
        sum += x;
        scale += Math.abs(x);
      }
      // f32 accumulation: within k·ε of the sum of magnitudes.
      worst = Math.max(worst, Math.abs(got[i * n + j]! - sum) / (1e-30 + Math.max(scale, 1e-6) * Math.max(k, 1) * 2 ** -23));
    }
  }
  return worst;
}

describe('the wasm GEMM', () => {
  const cases: Case[] = [];
  for (const mr of [4, 6]) {
    for (const [m, n, k] of [[1, 1, 1], [4, 8, 16], [13, 21, 37], [6, 7, 1], [5, 16, 0], [33, 40, 64], [2, 3, 200]] as const) {
      cases.push({ m, n, k, transposeA: false, transposeB: false, mr });
      cases.push({ m, n, k, transposeA: true, transposeB: true, mr });
      cases.push({ m, n, k, transposeA: false, transposeB: true, mr, sized: true });
      cases.push({ m, n, k, transposeA: true, transposeB: false, mr, sized: true });
    }
  }
  it.each(cases.map((c) => [`${c.m}×${c.k}·${c.k}×${c.n}${c.transposeA ? ' Aᵀ' : ''}${c.transposeB ? ' Bᵀ' : ''} (${c.mr}-row tiles${c.sized ? ', rows and depth given at the call' : ''})`, c] as const))('%s equals the float64 product within f32 accumulation', async (_, c) => {
    expect(await product(c)).toBeLessThanOrEqual(1);
  });

  it('stores nothing outside C', async () => {
    const shape: GemmShape = { m: 5, n: 11, k: 3, strideM: 3, strideK: 1, ldc: 11 };
    const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1 });
    emitPack(mod);
    emitGemmFor(mod, shape, 4, 'gemm');
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = await WebAssembly.instantiate(new WebAssembly.Module(mod.encode()), { env: { memory } });
    const exports = instance.exports as Record<string, (...args: number[]) => void>;
    const f = new Float32Array(memory.buffer);
    f.fill(7);
    const [A, B, P, C] = [0, 64, 256, 1024];
    exports['pack_b']!(B, 11, 1, 3, 11, P, 0, 2);
    exports['gemm']!(A, P, C, 0, 2);
    expect(f[C / 4 - 1]).toBe(7);
    expect(f[C / 4 + 5 * 11]).toBe(7);
    expect(f[C / 4]).toBe(3 * 49);
  });
});

describe('the wasm vector math', () => {
  // exp, tanh and erf four lanes at a time must be the scalar forms' bits: epilogues switch between them at a row's last columns.
  it.each([['exp', inlineExp, vectorExp], ['tanh', inlineTanh, vectorTanh], ['erf', inlineErf, vectorErf]] as const)('%s in f32x4 gives the scalar form\'s bits, NaN, infinities and zeros included', async (_, scalar, vector) => {
    const count = 40_000;
    const mod = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1 });
    // each(from, to, n): to[i] = f(from[i]), one scalar at a time (`scalar`) or four (`vector`).
    mod.func('scalar', ['i32', 'i32', 'i32'], [], (c) => {
      const [i, x] = [c.local('i32'), c.local('f32')];
      c.i32(0).set(i);
      c.block(() => c.loop(() => {
        c.get(i).get(2).i32GeS().brIf(1);
        c.get(1).get(i).i32(2).i32Shl().i32Add();
        c.get(0).get(i).i32(2).i32Shl().i32Add().f32Load().set(x);
        scalar(c, x);
        c.f32Store();
        c.get(i).i32(1).i32Add().set(i).br(0);
      }));
    });
    mod.func('vector', ['i32', 'i32', 'i32'], [], (c) => {
      const [i, x] = [c.local('i32'), c.local('v128')];
      c.i32(0).set(i);
      c.block(() => c.loop(() => {
        c.get(i).get(2).i32GeS().brIf(1);
        c.get(1).get(i).i32(2).i32Shl().i32Add();
        c.get(0).get(i).i32(2).i32Shl().i32Add().v128Load().set(x);
        vector(c, x);
        c.v128Store();
        c.get(i).i32(4).i32Add().set(i).br(0);
      }));
    });
    const memory = new WebAssembly.Memory({ initial: Math.ceil((12 * count) / 65536) + 1 });
    const exports = (await WebAssembly.instantiate(new WebAssembly.Module(mod.encode()), { env: { memory } })).exports as Record<string, (...args: number[]) => void>;
    const xs = new Float32Array(memory.buffer, 0, count);
    const next = rng(11);
    const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 88.72, 88.73, -87.3, -87.31, 0.3, -0.3, 0.5, -0.5, 3.4e38, -3.4e38];
    xs.forEach((_, i) => (xs[i] = i < specials.length ? specials[i]! : i % 2 ? (next() - 0.5) * 200 : (next() - 0.5) * 8));
    exports['scalar']!(0, 4 * count, count);
    exports['vector']!(0, 8 * count, count);
    const [a, b] = [new Uint32Array(memory.buffer, 4 * count, count), new Uint32Array(memory.buffer, 8 * count, count)];
    expect(b).toEqual(a);
  });
});
