// safetensors (HuggingFace's tensor file): 8 bytes little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the data, offsets relative to it.
// Reading checks everything against the file's real size before allocating:
// header length, JSON, dtypes, shapes, offsets inside the data, sizes that
// match the shapes, and no two tensors overlapping.

import { InputError } from './errors.js';

export class SafetensorsError extends InputError {
  override name = 'SafetensorsError';
}

export type StoredDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

const ITEM_SIZE: Readonly<Record<StoredDType, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
const MAX_HEADER = 100 * 2 ** 20;

export interface StoredTensor {
  readonly dtype: StoredDType;
  readonly shape: readonly number[];
  /** Values as f32 (floats) or i32 (integers; I64 narrowed with a range check). */
  readonly data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, StoredTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decode(dtype: StoredDType, bytes: Uint8Array, count: number, name: string): Float32Array | Int32Array {
  // Same layout as the host's: one copy into a fresh, aligned buffer (a Node
  // Buffer's slice() would share memory, hence the Uint8Array constructor).
  if (LITTLE_ENDIAN_HOST && dtype === 'F32') return new Float32Array(new Uint8Array(bytes).buffer);
  if (LITTLE_ENDIAN_HOST && dtype === 'I32') return new Int32Array(new Uint8Array(bytes).buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = f16ToF32(view.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(count);
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(2 * i, true) << 16);
        out[i] = word.getFloat32(0);
      }
      return out;
    }
    case 'I32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n) throw new SafetensorsError(`tensor '${name}': I64 value ${v} does not fit in i32`);
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/** Parses a safetensors file held in memory; throws SafetensorsError with the reason when it is malformed. */
export function readSafetensors(file: Uint8Array, label = 'safetensors file'): SafetensorsFile {
  const fail = (why: string): never => {
    throw new SafetensorsError(`${label}: ${why}`);
  };
  if (file.byteLength < 8) fail(`${file.byteLength} bytes is too short for a header`);
  const headerLength = new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(file.byteLength - 8)) fail(`header length ${headerLength} exceeds the file (${file.byteLength} bytes)`);
  if (headerLength > BigInt(MAX_HEADER)) fail(`header length ${headerLength} is over the ${MAX_HEADER}-byte limit`);
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, dataStart)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataLength = file.byteLength - dataStart;
  const tensors = new Map<string, StoredTensor>();
  const spans: [number, number, string][] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Object.values(entry).some((v) => typeof v !== 'string')) fail('__metadata__ must map strings to strings');
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) fail(`tensor '${name}' is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in ITEM_SIZE)) fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(ITEM_SIZE).join(', ')})`);
    const dtype = e.dtype as StoredDType;
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0)) fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) fail(`tensor '${name}' data [${begin}, ${end}) lies outside the ${dataLength} data bytes`);
    const count = shape.reduce((a, d) => a * d, 1);
    if (end - begin !== count * ITEM_SIZE[dtype]) fail(`tensor '${name}' has ${end - begin} bytes, but ${dtype}[${shape.join(',')}] needs ${count * ITEM_SIZE[dtype]}`);
    spans.push([begin, end, name]);
    tensors.set(name, { dtype, shape, data: decode(dtype, file.subarray(dataStart + begin, dataStart + end), count, name) });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) fail(`tensors '${spans[i - 1]![2]}' and '${spans[i]![2]}' overlap`);
  }
  return { tensors, metadata };
}

export interface TensorToWrite {
  readonly dtype: 'F32' | 'I32';
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** Serializes tensors (F32 or I32) in name order; the header is padded with spaces to 8 bytes. */
export function writeSafetensors(tensors: Readonly<Record<string, TensorToWrite>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor '${name}': shape [${t.shape.join(',')}] needs ${count} values, got ${t.data.length}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors[name]!;
    for (let i = 0; i < t.data.length; i++, at += 4) {
      if (t.dtype === 'F32') view.setFloat32(at, t.data[i]!, true);
      else view.setInt32(at, t.data[i]!, true);
    }
  }
  return out;
}
