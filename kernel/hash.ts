// Structural identity of kernels: two kernels that differ only in which
// buffers they bind (the twelve layers of BERT) have the same key, so a
// backend compiles each distinct kernel once. The key serializes every
// expression DAG with its nodes numbered in visiting order, so sharing is
// part of the structure and the key never depends on object identity.

import type { Kernel, KExpr, Operand, Placement, Store } from './ir.js';

function exprKey(e: KExpr, ids: Map<KExpr, number>, out: string[]): number {
  const known = ids.get(e);
  if (known !== undefined) return known;
  let text: string;
  const sub = (x: KExpr) => exprKey(x, ids, out);
  switch (e.op) {
    case 'const': text = `c${e.type}${Object.is(e.value, -0) ? '-0' : e.value}`; break;
    case 'idx': text = `i${e.axis}`; break;
    case 'ridx': text = `r${e.axis}`; break;
    case 'var': text = `v${e.id}`; break;
    case 'acc': text = 'acc'; break;
    case 'load': text = `l${e.arg}${e.type}(${sub(e.index)})`; break;
    case 'unary': text = `${e.fn}(${sub(e.x)})`; break;
    case 'binary': text = `${e.fn}${e.type}(${sub(e.a)},${sub(e.b)})`; break;
    case 'where': text = `w(${sub(e.cond)},${sub(e.then)},${sub(e.else)})`; break;
    case 'cast': text = `${e.type}(${sub(e.x)})`; break;
    case 'random': text = `rnd${e.stream}:${e.count}(${sub(e.element)})`; break;
  }
  const id = out.length;
  out.push(text);
  ids.set(e, id);
  return id;
}

/** A string that equals another kernel's exactly when both render to the same code. */
export function kernelKey(k: Kernel): string {
  const ids = new Map<KExpr, number>();
  const nodes: string[] = [];
  const e = (x: KExpr) => exprKey(x, ids, nodes);
  const stores = (ss: readonly Store[]) => ss.map((s) => `${s.arg}[${e(s.index)}]=${e(s.value)}`).join(';');
  const operand = (o: Operand) => `${e(o.value)}${o.view ? `/v${JSON.stringify(o.view)}` : ''}${o.constant ? 'const' : ''}`;
  const placed = (p: Placement | undefined) => (p ? `${p.arg}[${e(p.index)}]` : '-');
  let body: string;
  switch (k.kind) {
    case 'map': body = `map[${k.shape}]${k.ordered ? `ordered${k.ordered}` : ''}{${stores(k.stores)}}`; break;
    case 'reduce': body = `reduce[${k.shape}|${k.reduced}]{${k.stages.map((s) => `${s.combine}:${e(s.value)}`).join(';')}}{${stores(k.stores)}}{${stores(k.elementStores)}}`; break;
    case 'matmul': body = `matmul[${k.batch}|${k.m},${k.n},${k.k}]{${operand(k.a)};${operand(k.b)}}{${stores(k.stores)}}`; break;
    case 'attention': body = `attention[${k.batch}|${k.queries},${k.keys},${k.depth},${k.depthV}]{${operand(k.q)};${operand(k.k)};${k.v ? operand(k.v) : '-'}}{${e(k.score)};${k.keep ? e(k.keep) : '-'}}{${placed(k.out)};${placed(k.lse)}}${k.window ?? ''}${k.keyRange ? `[${e(k.keyRange.from)},${e(k.keyRange.to)})` : ''}`; break;
    case 'attention_grad': body = `attention_grad[${k.batch}|${k.queries},${k.keys},${k.depth},${k.depthV}]{${operand(k.q)};${operand(k.k)};${operand(k.v)};${operand(k.dout)}}{${e(k.lse)};${e(k.delta)};${e(k.score)};${k.keep ? e(k.keep) : '-'};${k.scale}}{${placed(k.dq)};${placed(k.dk)};${placed(k.dv)};${placed(k.dscores)}}${k.keyRange ? `[${e(k.keyRange.from)},${e(k.keyRange.to)})` : ''}`; break;
  }
  const args = k.args.map((a) => a.dtype).join(",");
  const runtime = k.runtime ? JSON.stringify(Object.entries(k.runtime).sort(([a], [b]) => (a < b ? -1 : 1))) : '';
  return `${args}|${body}|${nodes.join(';')}|${runtime}`;
}

/** A short hex digest of a string (FNV-1a, 64 bits as two 32-bit halves). */
export function digest(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000193 ^ 0x5bd1e995) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** A function name per distinct kernel, by structural key: kernels that differ only in buffers share one. */
export function functionNames(kernels: readonly Kernel[], prefix: string): string[] {
  const byKey = new Map<string, string>();
  return kernels.map((k) => {
    const key = kernelKey(k);
    let name = byKey.get(key);
    if (!name) {
      name = `${prefix}${k.kind}_${digest(key).slice(0, 12)}`;
      byKey.set(key, name);
    }
    return name;
  });
}
