// Tensor types of the graph IR. Shapes are concrete: symbolic dims (batch, seq)
// live in the spec and are bound when a graph is built, so every pass and
// backend sees plain numbers.

export type DType = 'f32' | 'i32';
export const DTYPES: readonly DType[] = ['f32', 'i32'];

export type Shape = readonly number[];

export interface TensorType {
  readonly dtype: DType;
  readonly shape: Shape;
}

/** Raised by shape and dtype rules; the frontend turns it into a located diagnostic. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

export function tensorType(dtype: DType, shape: Shape): TensorType {
  return { dtype, shape: [...shape] };
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function formatType(t: TensorType): string {
  return `${t.dtype}${formatShape(t.shape)}`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Row-major strides. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** Resolves a possibly negative axis against a rank, or throws. */
export function normalizeAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new ShapeError(`${what} ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

/** NumPy broadcasting of two shapes, or null when they are incompatible. */
export function broadcastShapes(a: Shape, b: Shape): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}
