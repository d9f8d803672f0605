// Each op of the float64 interpreter against an independent formula written
// here with multi-index loops, on the op-test table. Also: the registry is
// complete, and every op's interpretation has the type its shape rule infers.

import { describe, expect, it } from 'vitest';
import { interpret } from '../../compiler/ir/interpret.js';
import { GraphBuilder } from '../../compiler/ir/graph.js';
import { OPS, opDef, type OpName } from '../../compiler/ir/ops/index.js';
import type { UnaryOpName } from '../../compiler/ir/ops/elementwise.js';
import { erf } from '../../numerics/scalar.js';
import { hostTensor, type HostTensor } from '../../compiler/ir/tensor.js';
import { OP_CASES, type OpCase } from '../ops/cases.js';
import { maxAbsDiff, randomTensor, rng } from '../helpers/random.js';

type Index = number[];

function indices(shape: readonly number[]): Index[] {
  let out: Index[] = [[]];
  for (const d of shape) out = out.flatMap((prefix) => Array.from({ length: d }, (_, i) => [...prefix, i]));
  return out;
}

function at(t: HostTensor, index: Index): number {
  let flat = 0;
  for (let d = 0; d < t.shape.length; d++) flat = flat * t.shape[d]! + index[d]!;
  return t.data[flat]!;
}

/** Reads `t` at an output index under NumPy broadcasting. */
function atBroadcast(t: HostTensor, index: Index): number {
  const offset = index.length - t.shape.length;
  return at(t, t.shape.map((d, k) => (d === 1 ? 0 : index[k + offset]!)));
}

const axisOf = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** Independent references of every unary math op (typed by the registry's unary ops: a new op needs its line). */
const UNARY: { readonly [K in UnaryOpName]: (x: number) => number } = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => Math.pow(x, -0.5),
  tanh: (x) => (Math.exp(2 * x) - 1) / (Math.exp(2 * x) + 1),
  sigmoid: (x) => Math.exp(x) / (1 + Math.exp(x)),
  erf: (x) => erfBySeries(x),
  relu: (x) => Math.max(0, x),
  gelu: (x) => (x / 2) * (1 + erfBySeries(x / Math.sqrt(2))),
  gelu_tanh: (x) => (x / 2) * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  silu: (x) => x / (1 + Math.exp(-x)),
};

const BINARY: Partial<Record<OpName, (a: number, b: number) => number>> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: Math.max,
  minimum: Math.min,
};

/** Maclaurin series of erf: a different method than the interpreter's, exact to ~1e-14 for |x| <= 3. */
function erfBySeries(x: number): number {
  let sum = 0;
  let power = x;
  let factorial = 1;
  for (let n = 0; n < 120; n++) {
    if (n > 0) {
      power *= x * x;
      factorial *= n;
    }
    sum += ((n % 2 ? -1 : 1) * power) / (factorial * (2 * n + 1));
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const FD = 1e-5;
/** Ops whose reference is a central difference: agreement to about 1e-8, not 1e-12. */
const DIFFERENCED = new Set<OpName>(['gelu_grad', 'gelu_tanh_grad', 'layer_norm_dx', 'cross_entropy_grad']);

function crossEntropy(logits: HostTensor, labels: HostTensor): number {
  const classes = logits.shape[logits.shape.length - 1]!;
  let total = 0;
  let count = 0;
  labels.data.forEach((label, r) => {
    if (label === -100) return;
    const row = Array.from(logits.data.slice(r * classes, (r + 1) * classes));
    total += -Math.log(Math.exp(row[label]!) / row.reduce((s, v) => s + Math.exp(v), 0));
    count++;
  });
  return total / count;
}

/** The expected value of each output element, by definition. */
function expected(test: OpCase, xs: HostTensor[], outShape: readonly number[]): number[] {
  const a = test.attrs as Record<string, never>;
  const x = xs[0]!;
  const out = indices(outShape);
  const unary = (UNARY as Partial<Record<OpName, (x: number) => number>>)[test.op];
  if (unary) return out.map((i) => unary(at(x, i)));
  const binary = BINARY[test.op];
  if (binary) return out.map((i) => binary(atBroadcast(x, i), atBroadcast(xs[1]!, i)));
  switch (test.op) {
    case 'range':
      return out.map(([i]) => i!);
    case 'alibi': {
      // As jina-bert's _get_alibi_head_slopes: the power of two's slopes, then every other slope of twice it.
      const slopes = (n: number): number[] => {
        const powerOf2 = (m: number) => Array.from({ length: m }, (_, k) => (2 ** -(2 ** -(Math.log2(m) - 3))) ** (k + 1));
        if (Number.isInteger(Math.log2(n))) return powerOf2(n);
        const closest = 2 ** Math.floor(Math.log2(n));
        return [...powerOf2(closest), ...slopes(2 * closest).filter((_, k) => k % 2 === 0).slice(0, n - closest)];
      };
      const all = slopes(a.heads as number);
      return out.map(([h, i, j]) => -all[h!]! * Math.abs(i! - j!));
    }
    case 'sliding_window':
      // As ModernBERT's _update_attention_mask: outside |i − j| ≤ window // 2, a large negative (its finfo.min, ours -1e30).
      return out.map(([i, j]) => ((a.window as number) > 0 && Math.abs(i! - j!) > Math.floor((a.window as number) / 2) ? -1e30 : 0));
    case 'segment_mask': {
      // As a padded batch's mask, in the stream: a key counts for a query of the same sequence only.
      const [starts, ends] = [xs[0]!, xs[1]!];
      return out.map(([i, j]) => (at(starts, [i!]) <= j! && j! < at(ends, [i!]) ? 0 : -1e30));
    }
    case 'rotary': {
      // As HuggingFace's apply_rotary_emb (the half-split form): x·cos + rotate_half(x)·sin over the first dims features,
      // rotate_half(x) = (−x2, x1); inverse turns by −θ.
      const { base, dims, inverse } = a as unknown as { base: number; dims: number; inverse: boolean };
      const half = dims / 2;
      return out.map((idx) => {
        const i = idx[idx.length - 1]!;
        const position = idx[idx.length - 2]!;
        const value = (k: number) => at(x, [...idx.slice(0, -1), k]);
        if (i >= dims) return value(i);
        const theta = (inverse ? -1 : 1) * position * (1 / base ** ((2 * (i % half)) / dims));
        const rotated = i < half ? -value(i + half) : value(i - half);
        return value(i) * Math.cos(theta) + rotated * Math.sin(theta);
      });
    }
    case 'sample': {
      // Outside training: each row's first largest logit.
      const classes = x.shape[x.shape.length - 1]!;
      return out.map((idx) => {
        let best = 0;
        for (let c = 1; c < classes; c++) if (at(x, [...idx, c]) > at(x, [...idx, best])) best = c;
        return best;
      });
    }
    case 'rotary_table': {
      // cos θ then sin θ of each feature pair, θ = position · base^(−2j/dims), as inv_freq in HuggingFace's rotary embeddings.
      const { base, dims } = a as unknown as { base: number; dims: number };
      const half = dims / 2;
      return out.map(([p, i]) => {
        const theta = p! * base ** ((-2 * (i! % half)) / dims);
        return i! < half ? Math.cos(theta) : Math.sin(theta);
      });
    }
    case 'rotate': {
      // rotary's formula with cos and sin read from the table: x·T[p, j] ∓ partner·T[p, half + j].
      const { dims, inverse } = a as unknown as { dims: number; inverse: boolean };
      const half = dims / 2;
      const table = xs[1]!;
      return out.map((idx) => {
        const i = idx[idx.length - 1]!;
        const position = idx[idx.length - 2]!;
        const value = (k: number) => at(x, [...idx.slice(0, -1), k]);
        if (i >= dims) return value(i);
        const j = i % half;
        const [cos, sin] = [at(table, [position, j]), (inverse ? -1 : 1) * at(table, [position, half + j])];
        return value(i) * cos + (i < half ? -value(i + half) : value(i - half)) * sin;
      });
    }
    case 'padded_positions': {
      // As HuggingFace's create_position_ids_from_input_ids: mask = ids ≠ pad; cumsum(mask) · mask + pad.
      const pad = a.padding_idx as number;
      return out.map(([r, s]) => {
        const mask = (k: number) => (at(x, [r!, k]) !== pad ? 1 : 0);
        let cumsum = 0;
        for (let k = 0; k <= s!; k++) cumsum += mask(k);
        return cumsum * mask(s!) + pad;
      });
    }
    case 'sinusoidal':
      return out.map(([p, k]) => {
        const angle = p! / 10000 ** ((k! - (k! % 2)) / (a.dim as number));
        return k! % 2 ? Math.cos(angle) : Math.sin(angle);
      });
    case 'affine':
      return out.map((i) => at(x, i) * (a.scale as number) + (a.shift as number));
    case 'cast':
      return out.map((i) => (a.to === 'i32' ? Math.trunc(at(x, i)) : at(x, i)));
    case 'reshape':
      return Array.from(x.data);
    case 'transpose':
      return out.map((i) => at(x, (a.perm as number[]).map((_, k) => i[(a.perm as number[]).indexOf(k)]!)));
    case 'slice': {
      const ax = axisOf(a.axis, x.shape.length);
      return out.map((i) => at(x, i.map((v, k) => (k === ax ? v + (a.start as number) : v))));
    }
    case 'select': {
      const ax = axisOf(a.axis, x.shape.length);
      return out.map((i) => at(x, [...i.slice(0, ax), a.index as number, ...i.slice(ax)]));
    }
    case 'concat': {
      const ax = axisOf(a.axis, x.shape.length);
      return out.map((i) => {
        let k = i[ax]!;
        for (const t of xs) {
          if (k < t.shape[ax]!) return at(t, i.map((v, d) => (d === ax ? k : v)));
          k -= t.shape[ax]!;
        }
        throw new Error('concat index');
      });
    }
    case 'gather': {
      const idRank = xs[1]!.shape.length;
      return out.map((i) => at(x, [at(xs[1]!, i.slice(0, idRank)), ...i.slice(idRank)]));
    }
    case 'sum':
    case 'mean':
    case 'max': {
      const axes = (a.axes as number[]).map((v) => axisOf(v, x.shape.length));
      const kept = x.shape.map((_, d) => d).filter((d) => !axes.includes(d));
      return out.map((i) => {
        const outKept = a.keepdims ? kept.map((d) => i[d]!) : i;
        const members = indices(x.shape).filter((j) => kept.every((d, k) => j[d] === outKept[k]));
        const values = members.map((j) => at(x, j));
        if (test.op === 'max') return Math.max(...values);
        const total = values.reduce((s, v) => s + v, 0);
        return test.op === 'sum' ? total : total / values.length;
      });
    }
    case 'softmax':
    case 'log_softmax': {
      const ax = axisOf(a.axis, x.shape.length);
      return out.map((i) => {
        const row = Array.from({ length: x.shape[ax]! }, (_, k) => at(x, i.map((v, d) => (d === ax ? k : v))));
        const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
        return test.op === 'softmax' ? Math.exp(at(x, i) - logSum) : at(x, i) - logSum;
      });
    }
    case 'layer_norm': {
      const n = x.shape[x.shape.length - 1]!;
      return out.map((i) => {
        const row = Array.from({ length: n }, (_, k) => at(x, [...i.slice(0, -1), k]));
        const mean = row.reduce((s, v) => s + v, 0) / n;
        const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
        const k = i[i.length - 1]!;
        return ((at(x, i) - mean) / Math.sqrt(variance + (a.eps as number))) * xs[1]!.data[k]! + xs[2]!.data[k]!;
      });
    }
    case 'fill':
      return out.map(() => a.value as number);
    case 'broadcast':
      return out.map((i) => atBroadcast(x, i));
    case 'pad': {
      const ax = axisOf(a.axis, x.shape.length);
      return out.map((i) => {
        const k = i[ax]! - (a.before as number);
        return k < 0 || k >= x.shape[ax]! ? 0 : at(x, i.map((v, d) => (d === ax ? k : v)));
      });
    }
    case 'scatter_add': {
      const [ids, values] = xs as [HostTensor, HostTensor];
      const idCount = ids.data.length;
      return out.map(([row, ...rest]) => {
        let s = 0;
        for (let k = 0; k < idCount; k++) if (ids.data[k] === row) s += values.data[k * rest.reduce((p, _v, d) => p * values.shape[ids.shape.length + d]!, 1) + rest.reduce((p, v, d) => p * values.shape[ids.shape.length + d]! + v, 0)]!;
        return s;
      });
    }
    case 'gt':
      return out.map((i) => (atBroadcast(x, i) > atBroadcast(xs[1]!, i) ? 1 : 0));
    case 'gelu_grad':
    case 'gelu_tanh_grad': {
      const f = UNARY[test.op === 'gelu_grad' ? 'gelu' : 'gelu_tanh']!;
      return out.map((i) => (at(xs[1]!, i) * (f(at(x, i) + FD) - f(at(x, i) - FD))) / (2 * FD));
    }
    case 'layer_norm_dx': {
      // Jᵀ·dy by central differences of a plain layer norm of each row.
      const [, g, dy] = xs as [HostTensor, HostTensor, HostTensor];
      const n = x.shape[x.shape.length - 1]!;
      const norm = (row: number[]) => {
        const mean = row.reduce((s, v) => s + v, 0) / n;
        const sd = Math.sqrt(row.reduce((s, v) => s + (v - mean) ** 2, 0) / n + (a.eps as number));
        return row.map((v, k) => ((v - mean) / sd) * g.data[k]!);
      };
      return out.map((i) => {
        const lead = i.slice(0, -1);
        const row = Array.from({ length: n }, (_, k) => at(x, [...lead, k]));
        const k = i[i.length - 1]!;
        const up = norm(row.map((v, j) => (j === k ? v + FD : v)));
        const down = norm(row.map((v, j) => (j === k ? v - FD : v)));
        return up.reduce((s, _v, j) => s + ((up[j]! - down[j]!) / (2 * FD)) * at(dy, [...lead, j]), 0);
      });
    }
    case 'cross_entropy':
      return [crossEntropy(x, xs[1]!)];
    case 'cross_entropy_grad': {
      const dloss = xs[2]!.data[0]!;
      return out.map((_, flat) => {
        const shifted = (delta: number) => crossEntropy({ ...x, data: Float64Array.from(x.data, (v, j) => (j === flat ? v + delta : v)) }, xs[1]!);
        return (dloss * (shifted(FD) - shifted(-FD))) / (2 * FD);
      });
    }
    case 'accuracy': {
      const classes = x.shape[x.shape.length - 1]!;
      const rows = Array.from(xs[1]!.data).map((label, r) => [label, Array.from(x.data.slice(r * classes, (r + 1) * classes))] as const).filter(([l]) => l !== -100);
      return [rows.filter(([label, row]) => row.indexOf(Math.max(...row)) === label).length / rows.length];
    }
    case 'attention':
    case 'attention_lse':
    case 'attention_grad':
      return attentionReference(test, xs, out);
    case 'matmul': {
      const [A, B] = xs as [HostTensor, HostTensor];
      const k = a.transpose_a ? A.shape[A.shape.length - 2]! : A.shape[A.shape.length - 1]!;
      return out.map((i) => {
        const batch = i.slice(0, -2);
        const [r, col] = i.slice(-2) as [number, number];
        let s = 0;
        for (let kk = 0; kk < k; kk++) {
          const ai = a.transpose_a ? [kk, r] : [r, kk];
          const bi = a.transpose_b ? [col, kk] : [kk, col];
          s += atBroadcast(A, [...batch, ...ai]) * atBroadcast(B, [...batch, ...bi]);
        }
        return s;
      });
    }
  }
  throw new Error(`no reference for ${test.op}`);
}

/**
 * Attention by its definition, per (batch index, query): scores, softmax,
 * weighted values; the log-sum-exp; and the gradient formulas written
 * out with the given row statistics (not in training: no dropout).
 */
function attentionReference(test: OpCase, xs: HostTensor[], out: Index[]): number[] {
  const { scale, wrt } = test.attrs as { scale: number; wrt?: string };
  const [q, k] = xs as [HostTensor, HostTensor];
  const v = test.op === 'attention_lse' ? undefined : xs[2]!;
  const mask = test.op === 'attention_lse' ? xs[2]! : xs[3]!;
  const keys = k.shape[k.shape.length - 2]!;
  const depth = q.shape[q.shape.length - 1]!;
  const score = (lead: Index, i: number, j: number) => {
    let s = 0;
    for (let c = 0; c < depth; c++) s += at(q, [...lead, i, c]) * at(k, [...lead, j, c]);
    return s * scale + atBroadcast(mask, [...lead, i, j]);
  };
  const lseOf = (lead: Index, i: number) => Math.log(Array.from({ length: keys }, (_, j) => Math.exp(score(lead, i, j))).reduce((s, e) => s + e, 0));
  if (test.op === 'attention_lse') return out.map((idx) => lseOf(idx.slice(0, -1), idx[idx.length - 1]!));
  if (test.op === 'attention') {
    return out.map((idx) => {
      const lead = idx.slice(0, -2);
      const [i, c] = idx.slice(-2) as [number, number];
      const L = lseOf(lead, i);
      return Array.from({ length: keys }, (_, j) => Math.exp(score(lead, i, j) - L) * at(v!, [...lead, j, c])).reduce((s, x) => s + x, 0);
    });
  }
  const [dout, lse, delta] = [xs[4]!, xs[5]!, xs[6]!];
  const queries = q.shape[q.shape.length - 2]!;
  const depthV = v!.shape[v!.shape.length - 1]!;
  // A probability recomputed from the given log-sum-exp, at most 1.
  const p = (lead: Index, i: number, j: number) => Math.exp(Math.min(score(lead, i, j) - at(lse, [...lead, i]), 0));
  const ds = (lead: Index, i: number, j: number) => {
    let dp = 0;
    for (let c = 0; c < depthV; c++) dp += at(dout, [...lead, i, c]) * at(v!, [...lead, j, c]);
    return p(lead, i, j) * (dp - at(delta, [...lead, i])) * scale;
  };
  return out.map((idx) => {
    const lead = idx.slice(0, -2);
    const [r, c] = idx.slice(-2) as [number, number];
    let s = 0;
    if (wrt === 'q') for (let j = 0; j < keys; j++) s += ds(lead, r, j) * at(k, [...lead, j, c]);
    if (wrt === 'k') for (let i = 0; i < queries; i++) s += ds(lead, i, r) * at(q, [...lead, i, c]);
    if (wrt === 'v') for (let i = 0; i < queries; i++) s += p(lead, i, r) * at(dout, [...lead, i, c]);
    if (wrt === 'mask') s = ds(lead, r, c) / scale;
    return s;
  });
}

function runCase(test: OpCase, seed: number) {
  const next = rng(seed);
  const g = new GraphBuilder('case', 'infer', {});
  const xs = test.operands.map((o) => (o.values ? hostTensor(o.dtype, o.shape, o.values) : randomTensor(next, o.dtype, o.shape, o.lo ?? -2, o.hi ?? 2)));
  const args = xs.map((x, k) => g.add('input', [], { name: `x${k}`, dtype: x.dtype, shape: [...x.shape] }).id);
  const node = g.add(test.op, args, test.attrs as never);
  g.output('y', node.id);
  const feeds = Object.fromEntries(xs.map((x, k) => [`x${k}`, x]));
  const source = randomTensor(next, node.type.dtype, node.type.shape);
  const out = interpret(g.build(), { ...feeds, x: source }, { w: source })['y']!;
  return { xs, out, type: node.type, source };
}

describe('op registry', () => {
  it('defines every rule for every op', () => {
    for (const [name, def] of Object.entries(OPS)) {
      expect(def.summary, name).toMatch(/\S/);
      expect(['source', 'generator', 'elementwise', 'broadcast', 'injective', 'reduction', 'matmul', 'opaque'], name).toContain(def.fusion);
      for (const rule of ['infer', 'interpret', 'flops'] as const) expect(typeof def[rule], `${name}.${rule}`).toBe('function');
    }
  });

  it('has at least one case in the op-test table for every op', () => {
    const covered = new Set(OP_CASES.map((c) => c.op));
    expect(Object.keys(OPS).filter((op) => !covered.has(op as OpName))).toEqual([]);
  });
});

describe('float64 interpreter', () => {
  it.each(OP_CASES.map((c, i) => [`${c.op} #${i} ${c.operands.map((o) => `${o.dtype}[${o.shape}]`).join(' ')}`, c] as const))(
    '%s',
    (_, test) => {
      const { xs, out, type, source } = runCase(test, 1234);
      expect(out.dtype).toBe(type.dtype);
      expect(out.shape).toEqual(type.shape);
      if (test.op === 'input' || test.op === 'param' || test.op === 'state') {
        expect(out.data).toEqual(source.data);
        return;
      }
      if (test.op === 'dropout' || test.op === 'dropout_rows') {
        expect(out.data).toEqual(xs[0]!.data); // identity when not training
        return;
      }
      expect(maxAbsDiff(out.data, expected(test, xs, type.shape))).toBeLessThan(DIFFERENCED.has(test.op) ? 1e-8 : 1e-12);
    },
  );

  it('computes erf to double precision', () => {
    // Reference values from Abramowitz & Stegun / high-precision tables.
    const table: [number, number][] = [
      [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
      [2, 0.9953222650189527], [3, 0.9999779095030014], [4, 0.9999999845827421], [-1.5, -0.9661051464753108],
    ];
    for (const [x, value] of table) expect(Math.abs(erf(x) - value), `erf(${x})`).toBeLessThan(5e-16);
  });

  it('applies dropout only in training, reproducibly, at about the given rate', () => {
    const g = new GraphBuilder('dropout', 'train', {});
    const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [100, 100] });
    g.output('y', g.add('dropout', [x.id], { rate: 0.25, stream: 7 }).id);
    const graph = g.build();
    const ones = { x: { dtype: 'f32' as const, shape: [100, 100], data: new Float64Array(10000).fill(1) } };
    const a = interpret(graph, ones, {}, { training: true, seed: 42, step: 3 })['y']!.data;
    const b = interpret(graph, ones, {}, { training: true, seed: 42, step: 3 })['y']!.data;
    const c = interpret(graph, ones, {}, { training: true, seed: 42, step: 4 })['y']!.data;
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const dropped = Array.from(a).filter((v) => v === 0).length;
    expect(dropped / 10000).toBeGreaterThan(0.23);
    expect(dropped / 10000).toBeLessThan(0.27);
    expect(Array.from(a).every((v) => v === 0 || v === 1 / 0.75)).toBe(true);
  });

  it('samples classes in proportion to the softmax of their logits in training, reproducibly (sample)', () => {
    const g = new GraphBuilder('sample', 'train', {});
    const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [20000, 4] });
    g.output('y', g.add('sample', [x.id], { stream: 5 }).id);
    const graph = g.build();
    // Logits log 1 … log 4 (plus a constant): probabilities 0.1, 0.2, 0.3, 0.4 in every row.
    const feed = { x: { dtype: 'f32' as const, shape: [20000, 4], data: Float64Array.from({ length: 80000 }, (_, i) => Math.log(1 + (i % 4)) + 3) } };
    const a = interpret(graph, feed, {}, { training: true, seed: 11, step: 2 })['y']!.data;
    expect(interpret(graph, feed, {}, { training: true, seed: 11, step: 2 })['y']!.data).toEqual(a);
    expect(interpret(graph, feed, {}, { training: true, seed: 11, step: 3 })['y']!.data).not.toEqual(a);
    const counts = [0, 0, 0, 0];
    for (const c of a) counts[c]!++;
    counts.forEach((n, c) => expect(Math.abs(n / 20000 - (c + 1) / 10), `class ${c}`).toBeLessThan(0.01));
    expect(Array.from(interpret(graph, feed, {}, { training: false, seed: 11, step: 2 })['y']!.data).every((c) => c === 3)).toBe(true);
  });

  it('drops at rows taken from a value what dropout of the whole value drops there (dropout_rows)', () => {
    const g = new GraphBuilder('rows', 'train', {});
    const x = g.add('input', [], { name: 'x', dtype: 'f32', shape: [6, 40] });
    const ids = g.add('input', [], { name: 'ids', dtype: 'i32', shape: [5] });
    g.output('whole', g.add('gather', [g.add('dropout', [x.id], { rate: 0.3, stream: 2 }).id, ids.id], {}).id);
    g.output('rows', g.add('dropout_rows', [g.add('gather', [x.id, ids.id], {}).id, ids.id], { rate: 0.3, stream: 2, rows: 6 }).id);
    const graph = g.build();
    const feed = { x: { dtype: 'f32' as const, shape: [6, 40], data: Float64Array.from({ length: 240 }, (_, i) => 1 + i) }, ids: { dtype: 'i32' as const, shape: [5], data: Int32Array.of(4, 0, 4, 5, 2) } };
    const out = interpret(graph, feed, {}, { training: true, seed: 9, step: 2 });
    expect(Array.from(out['rows']!.data)).toEqual(Array.from(out['whole']!.data));
    expect(Array.from(out['rows']!.data).filter((v) => v === 0).length).toBeGreaterThan(20);
    const h = new GraphBuilder('bad rows', 'train', {});
    const y = h.add('input', [], { name: 'y', dtype: 'f32', shape: [5, 40] });
    h.output('rows', h.add('dropout_rows', [y.id, h.add('input', [], { name: 'ids', dtype: 'i32', shape: [5] }).id], { rate: 0.3, stream: 2, rows: 6 }).id);
    const bad = { y: { dtype: 'f32' as const, shape: [5, 40], data: new Float64Array(200) }, ids: { ...feed.ids, data: Int32Array.of(0, 1, 2, 3, 6) } };
    expect(() => interpret(h.build(), bad, {}, { training: true, seed: 9, step: 2 })).toThrow('dropout_rows row 6 is out of range [0, 6)');
  });

  it('rejects mismatched operands with both shapes in the message', () => {
    const g = new GraphBuilder('bad', 'infer', {});
    const a = g.add('input', [], { name: 'a', dtype: 'f32', shape: [2, 3] });
    const b = g.add('input', [], { name: 'b', dtype: 'f32', shape: [4, 5] });
    expect(() => g.add('add', [a.id, b.id], {})).toThrow('add: shapes f32[2,3] and f32[4,5] do not broadcast');
    expect(() => g.add('matmul', [a.id, b.id], { transpose_a: false, transpose_b: false })).toThrow(
      'matmul: contraction sizes differ (3 vs 4) for f32[2,3] and f32[4,5]',
    );
  });

  it('counts matmul FLOPs as 2·M·N·K per batch', () => {
    const types = [{ dtype: 'f32', shape: [2, 5, 7] }, { dtype: 'f32', shape: [7, 3] }] as const;
    expect(opDef('matmul').flops(types, { dtype: 'f32', shape: [2, 5, 3] }, { transpose_a: false, transpose_b: false })).toBe(2 * 2 * 5 * 3 * 7);
  });
});
