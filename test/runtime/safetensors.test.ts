import { describe, expect, it } from 'vitest';
import { readSafetensors, SafetensorsError, writeSafetensors } from '../../runtime/safetensors.js';

/** A file assembled by hand from the format's definition. */
function handMade(header: object, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('reads F32, F16, BF16, I32 and I64 from a hand-made file', () => {
    const file = handMade(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        h: { dtype: 'F16', shape: [3], data_offsets: [8, 14] },
        b: { dtype: 'BF16', shape: [1], data_offsets: [14, 16] },
        i: { dtype: 'I32', shape: [1], data_offsets: [16, 20] },
        l: { dtype: 'I64', shape: [1], data_offsets: [20, 28] },
        __metadata__: { format: 'pt' },
      },
      [
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, // 1.0, -2.0
        0x00, 0x3c, 0x00, 0xb8, 0x01, 0x00, //              F16 1.0, -0.5, smallest subnormal
        0x49, 0x40, //                                      BF16 3.140625
        0xff, 0xff, 0xff, 0xff, //                          -1
        0x07, 0, 0, 0, 0, 0, 0, 0, //                       7
      ],
    );
    const { tensors, metadata } = readSafetensors(file);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Array.from(tensors.get('a')!.data)).toEqual([1, -2]);
    expect(Array.from(tensors.get('h')!.data)).toEqual([1, -0.5, 2 ** -24]);
    expect(Array.from(tensors.get('b')!.data)).toEqual([3.140625]);
    expect(Array.from(tensors.get('i')!.data)).toEqual([-1]);
    expect(Array.from(tensors.get('l')!.data)).toEqual([7]);
  });

  it('round-trips what it writes', () => {
    const bytes = writeSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6.5] }, ids: { dtype: 'I32', shape: [2], data: [7, -8] } }, { producer: 'tcc' });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const { tensors, metadata } = readSafetensors(bytes);
    expect(tensors.get('w')!.shape).toEqual([2, 3]);
    expect(Array.from(tensors.get('w')!.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect(Array.from(tensors.get('ids')!.data)).toEqual([7, -8]);
    expect(metadata).toEqual({ producer: 'tcc' });
  });

  const header = (h: object) => handMade(h, new Array(16).fill(0));
  it.each([
    ['too short', new Uint8Array(5), 'too short for a header'],
    ['header past the end', (() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 1n << 40n, true); return b; })(), 'exceeds the file'],
    ['bad JSON', handMade({}, []).map((v, i) => (i === 8 ? 0x7b + 1 : v)), 'not valid JSON'],
    ['bad dtype', header({ x: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } }), 'unsupported dtype "F64"'],
    ['bad shape', header({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), 'invalid shape'],
    ['outside the data', header({ x: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }), 'lies outside the 16 data bytes'],
    ['size mismatch', header({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }), 'has 16 bytes, but F32[3] needs 12'],
    ['overlap', header({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), "'x' and 'y' overlap"],
    ['huge claimed shape', header({ x: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 16] } }), 'needs'],
  ])('rejects a file with %s', (_, bytes, message) => {
    expect(() => readSafetensors(bytes as Uint8Array, 'w.safetensors')).toThrow(SafetensorsError);
    expect(() => readSafetensors(bytes as Uint8Array, 'w.safetensors')).toThrow(message);
  });
});
