// Parameter initialization as BERT does it: weights from a normal
// distribution with std initializer_range truncated at two standard
// deviations, biases zero, LayerNorm gains one. Draws are counter-based
// (Threefry keyed by the seed and a hash of the parameter's name, counted by
// element and attempt), so a parameter's values do not depend on the order
// or number of the others, and every backend can reproduce them.

import { threefry2x32Into } from '../numerics/threefry.js';
import type { ProgramParam } from './program.js';

/** FNV-1a, 32 bits: a stable stream id per parameter name. */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Standard normal truncated to [-2, 2]. Box–Muller turns one Threefry block
 * into two independent normals: elements 2i and 2i+1 take the cosine and the
 * sine of block i; a rejected value is redrawn from the next attempt's block.
 */
const block = new Uint32Array(2);

function truncatedNormal(seed: number, stream: number, element: number): number {
  for (let attempt = 0; ; attempt++) {
    threefry2x32Into(block, seed, stream, attempt, element >>> 1);
    const radius = Math.sqrt(-2 * Math.log((block[0]! + 1) / 4294967296)); // u1 in (0, 1]
    const angle = (2 * Math.PI * block[1]!) / 4294967296;
    const z = radius * (element & 1 ? Math.sin(angle) : Math.cos(angle));
    if (Math.abs(z) <= 2) return z;
  }
}

/** What initializing a parameter needs of it. */
export type ParamInit = Pick<ProgramParam, 'name' | 'shape' | 'init' | 'std'>;

export function initParam(param: ParamInit, seed: number): Float32Array {
  const size = param.shape.reduce((a, d) => a * d, 1);
  const out = new Float32Array(size);
  if (param.init === 'ones') out.fill(1);
  else if (param.init === 'normal') {
    const stream = nameHash(param.name);
    for (let i = 0; i < size; i++) out[i] = param.std * truncatedNormal(seed, stream, i);
  }
  return out;
}

/** Every parameter's initial values; `onParam` hears the number of values drawn so far after each parameter. */
export function initParams(params: readonly ParamInit[], seed: number, onParam?: (drawn: number) => void): Record<string, Float32Array> {
  let drawn = 0;
  return Object.fromEntries(
    params.map((p) => {
      const values = initParam(p, seed);
      onParam?.((drawn += values.length));
      return [p.name, values];
    }),
  );
}
