// The kernel IR as program.json holds it, and back. A program directory is
// data: what runs is generated on the loading machine from this IR, so the
// IR is all a directory says about its kernels.
//
// Each distinct kernel (by structural key: the layers of a model share one)
// is a *function*: its kind, its args' dtypes and access, its fields, and its
// expressions as a node table where a node names its operands by their
// earlier index, so sharing survives and reading is one pass:
//
//   {"kind": "map", "args": [{"dtype": "f32", "access": "read"}, …],
//    "nodes": [{"op": "idx", "type": "i32", "axis": 0},
//              {"op": "load", "type": "f32", "arg": 0, "index": 0}, …],
//    "shape": [8, 128], "stores": [{"arg": 1, "index": 0, "value": 1}]}
//
// A kernel of the program names its function and binds its own buffer
// ranges and random streams. Decoding checks what one node or field can
// show (ops, types, operand order, depth); what needs the whole kernel and
// its sizes (every index inside its range) is kernel-check.ts's.

import type {
  AttentionGradKernel, AttentionKernel, BinaryFn, Kernel, KernelArg, KExpr, MapKernel, MatmulKernel, Operand, Placement, ReduceKernel, RuntimeExtents, RuntimeSize, ScalarType, Stage,
  Store, StridedView, UnaryFn,
} from '../kernel/ir.js';
import { children, kernelExtents, COMPOSITE_BINARY, COMPOSITE_UNARY, PRIMITIVE_BINARY, PRIMITIVE_UNARY } from '../kernel/ir.js';
import { kernelKey } from '../kernel/hash.js';
import { checkInt, checkList, Fields, JsonFieldError } from './json-fields.js';

export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** A kernel of the program: its function and what it binds. */
export interface KernelBinding {
  readonly name: string;
  readonly label: string;
  readonly function: number;
  readonly args: readonly { readonly buffer: number; readonly offset: number; readonly size: number }[];
  readonly streams: readonly number[];
}

/** Deepest expression accepted: the compiler's deepest is a few dozen; renderers recurse over depth. */
export const MAX_EXPR_DEPTH = 400;
/** Nodes of one function's node table. */
export const MAX_NODES = 200_000;
/** Iteration extents and sizes: a coordinate and every flat index stay 32-bit integers. */
export const MAX_EXTENT = 2 ** 31 - 1;

const SCALAR_TYPES = ['f32', 'i32', 'bool'] as const;
const ARG_TYPES = ['f32', 'i32'] as const;
const UNARY_FNS: readonly UnaryFn[] = [...PRIMITIVE_UNARY, ...COMPOSITE_UNARY];
const BINARY_FNS: readonly BinaryFn[] = [...PRIMITIVE_BINARY, ...COMPOSITE_BINARY];
/** The binary functions each operand type allows (both operands have it); `lt` gives bool, the others the operands' type. */
const BINARY_TYPES: Readonly<Record<'f32' | 'i32', ReadonlySet<BinaryFn>>> = {
  f32: new Set<BinaryFn>(['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'lt', ...COMPOSITE_BINARY]),
  i32: new Set<BinaryFn>(['add', 'sub', 'mul', 'max', 'min', 'lt', 'mod', 'idiv']),
};

// ---- encoding ----

/** Constants JSON cannot hold as numbers. */
function constValue(v: number): Json {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  return v;
}

class NodeTable {
  readonly nodes: Json[] = [];
  private readonly ids = new Map<KExpr, number>();

  ref(e: KExpr): number {
    const known = this.ids.get(e);
    if (known !== undefined) return known;
    let node: Json;
    switch (e.op) {
      case 'const': node = { op: 'const', type: e.type, value: constValue(e.value) }; break;
      case 'idx': case 'ridx': node = { op: e.op, type: 'i32', axis: e.axis }; break;
      case 'var': node = { op: 'var', type: 'f32', id: e.id }; break;
      case 'acc': node = { op: 'acc', type: 'f32' }; break;
      case 'load': node = { op: 'load', type: e.type, arg: e.arg, index: this.ref(e.index) }; break;
      case 'unary': node = { op: 'unary', type: e.type, fn: e.fn, x: this.ref(e.x) }; break;
      case 'binary': { const a = this.ref(e.a); node = { op: 'binary', type: e.type, fn: e.fn, a, b: this.ref(e.b) }; break; }
      case 'where': { const cond = this.ref(e.cond); const then = this.ref(e.then); node = { op: 'where', type: e.type, cond, then, else: this.ref(e.else) }; break; }
      case 'cast': node = { op: 'cast', type: e.type, x: this.ref(e.x) }; break;
      case 'random': node = { op: 'random', type: 'f32', stream: e.stream, element: this.ref(e.element), count: e.count }; break;
    }
    const id = this.nodes.length;
    this.nodes.push(node);
    this.ids.set(e, id);
    return id;
  }
}

function encodeBody(k: Kernel): Json {
  const t = new NodeTable();
  const stores = (ss: readonly Store[]) => ss.map((s) => ({ arg: s.arg, index: t.ref(s.index), value: t.ref(s.value) }));
  const view = (v: StridedView) => ({ arg: v.arg, offset: v.offset, batchStrides: v.batchStrides, rowStride: v.rowStride, colStride: v.colStride });
  const operand = (o: Operand) => ({ value: t.ref(o.value), ...(o.view ? { view: view(o.view) } : {}), constant: o.constant });
  const placed = (p: Placement | undefined) => (p ? { arg: p.arg, index: t.ref(p.index) } : undefined);
  const optional = (fields: Record<string, Json | undefined>) => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, Json>;
  let body: Record<string, Json>;
  switch (k.kind) {
    case 'map': body = { shape: k.shape, ...(k.ordered ? { ordered: k.ordered } : {}), stores: stores(k.stores) }; break;
    case 'reduce': body = { shape: k.shape, reduced: k.reduced, stages: k.stages.map((s) => ({ combine: s.combine, value: t.ref(s.value) })), stores: stores(k.stores), elementStores: stores(k.elementStores) }; break;
    case 'matmul': body = { batch: k.batch, m: k.m, n: k.n, k: k.k, a: operand(k.a), b: operand(k.b), stores: stores(k.stores) }; break;
    case 'attention':
      body = optional({
        batch: k.batch, queries: k.queries, keys: k.keys, depth: k.depth, depthV: k.depthV, q: operand(k.q), k: operand(k.k), v: k.v && operand(k.v), score: t.ref(k.score), window: k.window,
        keyRange: k.keyRange && { from: t.ref(k.keyRange.from), to: t.ref(k.keyRange.to) }, keep: k.keep && t.ref(k.keep), out: placed(k.out), lse: placed(k.lse),
      });
      break;
    case 'attention_grad':
      body = optional({
        batch: k.batch, queries: k.queries, keys: k.keys, depth: k.depth, depthV: k.depthV, q: operand(k.q), k: operand(k.k), v: operand(k.v), dout: operand(k.dout),
        lse: t.ref(k.lse), delta: t.ref(k.delta), score: t.ref(k.score), keep: k.keep && t.ref(k.keep), scale: k.scale, dq: placed(k.dq), dk: placed(k.dk), dv: placed(k.dv), dscores: placed(k.dscores),
        keyRange: k.keyRange && { from: t.ref(k.keyRange.from), to: t.ref(k.keyRange.to) },
      });
      break;
  }
  const runtime = k.runtime && Object.fromEntries(Object.entries(k.runtime).map(([key, r]) => [key, { symbol: r.symbol, scale: r.scale, offset: r.offset }]));
  return { kind: k.kind, args: k.args.map((a) => ({ dtype: a.dtype, access: a.access })), nodes: t.nodes, ...body, ...(runtime ? { runtime } : {}) };
}

/** The program's kernels as functions (each distinct kernel once) and bindings. */
export function encodeKernels(kernels: readonly Kernel[]): { functions: Json[]; bindings: KernelBinding[] } {
  const byKey = new Map<string, number>();
  const functions: Json[] = [];
  const bindings = kernels.map((k): KernelBinding => {
    const key = kernelKey(k);
    let fn = byKey.get(key);
    if (fn === undefined) {
      fn = functions.length;
      functions.push(encodeBody(k));
      byKey.set(key, fn);
    }
    return { name: k.name, label: k.label, function: fn, args: k.args.map((a) => ({ buffer: a.buffer, offset: a.offset, size: a.size })), streams: k.streams };
  });
  return { functions, bindings };
}

// ---- decoding ----

type Body = Omit<MapKernel, 'name' | 'label' | 'nodes' | 'args' | 'streams'> | Omit<ReduceKernel, 'name' | 'label' | 'nodes' | 'args' | 'streams'> | Omit<MatmulKernel, 'name' | 'label' | 'nodes' | 'args' | 'streams'>
  | Omit<AttentionKernel, 'name' | 'label' | 'nodes' | 'args' | 'streams'> | Omit<AttentionGradKernel, 'name' | 'label' | 'nodes' | 'args' | 'streams'>;

/** A decoded function: its body and its args' dtypes and access. */
export interface KernelFunction {
  readonly body: Body;
  readonly args: readonly Pick<KernelArg, 'dtype' | 'access'>[];
}

function decodeConst(v: unknown, type: ScalarType, path: string): number {
  if (typeof v === 'string') {
    const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
    if (type === 'f32' && Object.hasOwn(special, v)) return special[v]!;
    throw new JsonFieldError(path, `expected a number, got '${v.slice(0, 20)}'`);
  }
  if (type === 'i32') return checkInt(v, path, { min: -(2 ** 31), max: 2 ** 31 - 1 });
  if (type === 'bool') return checkInt(v, path, { min: 0, max: 1 });
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new JsonFieldError(path, 'expected a number');
  return v;
}

/** The node table → expressions, each node checked against the nodes before it. */
function decodeNodes(list: readonly unknown[], args: readonly Pick<KernelArg, 'dtype'>[], path: string): KExpr[] {
  const nodes: KExpr[] = [];
  const depth = new Map<KExpr, number>();
  list.forEach((raw, i) => {
    const f = Fields.of(raw, `${path}[${i}]`);
    const op = f.oneOf('op', ['const', 'idx', 'ridx', 'var', 'acc', 'load', 'unary', 'binary', 'where', 'cast', 'random'] as const);
    const type = f.oneOf('type', SCALAR_TYPES);
    const ref = (key: string): KExpr => nodes[f.int(key, { min: 0, max: i - 1 })]!;
    const expect = (want: readonly ScalarType[], why: string) => {
      if (!want.includes(type)) throw new JsonFieldError(f.at('type'), `${why} has type ${want.join(' or ')}, not ${type}`);
    };
    const operandType = (key: string, e: KExpr, want: readonly ScalarType[]) => {
      if (!want.includes(e.type)) throw new JsonFieldError(f.at(key), `expected an operand of type ${want.join(' or ')}, got ${e.type}`);
    };
    let e: KExpr;
    switch (op) {
      case 'const': f.only(['op', 'type', 'value']); e = { op, type, value: decodeConst(f.get('value'), type, f.at('value')) }; break;
      case 'idx': case 'ridx': f.only(['op', 'type', 'axis']); expect(['i32'], 'a coordinate'); e = { op, type: 'i32', axis: f.int('axis', { min: 0, max: 63 }) }; break;
      case 'var': f.only(['op', 'type', 'id']); expect(['f32'], 'a stage value'); e = { op, type: 'f32', id: f.int('id', { min: 0, max: 63 }) }; break;
      case 'acc': f.only(['op', 'type']); expect(['f32'], 'an accumulator'); e = { op, type: 'f32' }; break;
      case 'load': {
        f.only(['op', 'type', 'arg', 'index']);
        const arg = f.int('arg', { min: 0, max: args.length - 1 });
        if (type !== args[arg]!.dtype) throw new JsonFieldError(f.at('type'), `a load of arg ${arg} has its type ${args[arg]!.dtype}, not ${type}`);
        const index = ref('index');
        operandType('index', index, ['i32']);
        e = { op, type, arg, index };
        break;
      }
      case 'unary': {
        f.only(['op', 'type', 'fn', 'x']);
        const x = ref('x');
        expect(['f32'], 'a unary function');
        operandType('x', x, ['f32']);
        e = { op, type, fn: f.oneOf('fn', UNARY_FNS), x };
        break;
      }
      case 'binary': {
        f.only(['op', 'type', 'fn', 'a', 'b']);
        const fn = f.oneOf('fn', BINARY_FNS);
        const [a, b] = [ref('a'), ref('b')];
        if (a.type !== b.type || a.type === 'bool' || !BINARY_TYPES[a.type].has(fn)) throw new JsonFieldError(f.at('fn'), `${fn} does not take ${a.type} and ${b.type}`);
        expect([fn === 'lt' ? 'bool' : a.type], `${fn} of ${a.type}`);
        e = { op, type, fn, a, b };
        break;
      }
      case 'where': {
        f.only(['op', 'type', 'cond', 'then', 'else']);
        const [cond, then, otherwise] = [ref('cond'), ref('then'), ref('else')];
        operandType('cond', cond, ['bool']);
        operandType('then', then, [type]);
        operandType('else', otherwise, [type]);
        e = { op, type, cond, then, else: otherwise };
        break;
      }
      case 'cast': f.only(['op', 'type', 'x']); e = { op, type, x: ref('x') }; break;
      case 'random': {
        f.only(['op', 'type', 'stream', 'element', 'count']);
        expect(['f32'], 'a random draw');
        const element = ref('element');
        operandType('element', element, ['i32']);
        e = { op, type: 'f32', stream: f.int('stream', { min: 0, max: 1023 }), element, count: f.int('count', { min: 1, max: MAX_EXTENT }) };
        break;
      }
    }
    const d = 1 + Math.max(0, ...children(e).map((x) => depth.get(x)!));
    if (d > MAX_EXPR_DEPTH) throw new JsonFieldError(`${path}[${i}]`, `nests expressions more than ${MAX_EXPR_DEPTH} deep`);
    depth.set(e, d);
    nodes.push(e);
  });
  return nodes;
}

const extent = { min: 1, max: MAX_EXTENT };

/** One function of program.json's `functions`. */
export function decodeFunction(raw: unknown, path: string): KernelFunction {
  const f = Fields.of(raw, path);
  const kind = f.oneOf('kind', ['map', 'reduce', 'matmul', 'attention', 'attention_grad'] as const);
  const args = f.list('args', 256).map((a, i) => {
    const af = Fields.of(a, `${f.at('args')}[${i}]`).only(['dtype', 'access']);
    return { dtype: af.oneOf('dtype', ARG_TYPES), access: af.oneOf('access', ['read', 'write', 'readwrite'] as const) };
  });
  const nodes = decodeNodes(f.list('nodes', MAX_NODES), args, f.at('nodes'));
  const expr = (from: Fields, key: string): KExpr => nodes[from.int(key, { min: 0, max: nodes.length - 1 })]!;
  const typed = (from: Fields, key: string, type: ScalarType): KExpr => {
    const e = expr(from, key);
    if (e.type !== type) throw new JsonFieldError(from.at(key), `expected an expression of type ${type}, got ${e.type}`);
    return e;
  };
  const argOf = (from: Fields, key = 'arg') => from.int(key, { min: 0, max: args.length - 1 });
  const stores = (key: string): Store[] =>
    f.list(key).map((s, i) => {
      const sf = Fields.of(s, `${f.at(key)}[${i}]`).only(['arg', 'index', 'value']);
      const arg = argOf(sf);
      return { arg, index: typed(sf, 'index', 'i32'), value: typed(sf, 'value', args[arg]!.dtype) };
    });
  const shape = (key: string) => f.ints(key, extent);
  const view = (from: Fields): StridedView => {
    const vf = from.only(['arg', 'offset', 'batchStrides', 'rowStride', 'colStride']);
    const stride = { min: -MAX_EXTENT, max: MAX_EXTENT };
    return { arg: argOf(vf), offset: vf.int('offset', { min: 0, max: MAX_EXTENT }), batchStrides: vf.ints('batchStrides', stride), rowStride: vf.int('rowStride', stride), colStride: vf.int('colStride', stride) };
  };
  const operand = (key: string, needsView = false): Operand => {
    const of = f.object(key).only(['value', 'view', 'constant']);
    if (needsView && !of.has('view')) throw new JsonFieldError(of.at('view'), 'is missing (attention operands are plain views)');
    return { value: typed(of, 'value', 'f32'), ...(of.has('view') ? { view: view(of.object('view')) } : {}), constant: of.bool('constant') };
  };
  const placement = (key: string): Placement | undefined => {
    if (!f.has(key)) return undefined;
    const pf = f.object(key).only(['arg', 'index']);
    return { arg: argOf(pf), index: typed(pf, 'index', 'i32') };
  };
  const placed = <K extends string>(key: K) => {
    const p = placement(key);
    return (p ? { [key]: p } : {}) as Partial<Record<K, Placement>>;
  };
  const common = ['kind', 'args', 'nodes', 'runtime'];
  const keyRangeOf = (from: Fields) => {
    if (!from.has('keyRange')) return {};
    const range = from.object('keyRange').only(['from', 'to']);
    return { keyRange: { from: typed(range, 'from', 'i32'), to: typed(range, 'to', 'i32') } };
  };
  let body: Body;
  switch (kind) {
    case 'map':
      f.only([...common, 'shape', 'ordered', 'stores']);
      body = { kind, shape: shape('shape'), ...(f.has('ordered') ? { ordered: f.int('ordered', { min: 0, max: 16 }) } : {}), stores: stores('stores') };
      break;
    case 'reduce': {
      f.only([...common, 'shape', 'reduced', 'stages', 'stores', 'elementStores']);
      const stages = f.list('stages', 64).map((s, i): Stage => {
        const sf = Fields.of(s, `${f.at('stages')}[${i}]`).only(['combine', 'value']);
        return { combine: sf.oneOf('combine', ['sum', 'max', 'let'] as const), value: typed(sf, 'value', 'f32') };
      });
      body = { kind, shape: shape('shape'), reduced: shape('reduced'), stages, stores: stores('stores'), elementStores: stores('elementStores') };
      break;
    }
    case 'matmul':
      f.only([...common, 'batch', 'm', 'n', 'k', 'a', 'b', 'stores']);
      body = { kind, batch: shape('batch'), m: f.int('m', extent), n: f.int('n', extent), k: f.int('k', extent), a: operand('a'), b: operand('b'), stores: stores('stores') };
      break;
    case 'attention': {
      f.only([...common, 'batch', 'queries', 'keys', 'depth', 'depthV', 'q', 'k', 'v', 'score', 'window', 'keyRange', 'keep', 'out', 'lse']);
      body = {
        kind, batch: shape('batch'), queries: f.int('queries', extent), keys: f.int('keys', extent), depth: f.int('depth', extent), depthV: f.int('depthV', { min: 0, max: MAX_EXTENT }),
        q: operand('q', true), k: operand('k', true), ...(f.has('v') ? { v: operand('v', true) } : {}), score: typed(f, 'score', 'f32'),
        ...(f.has('window') ? { window: f.int('window', { min: 0, max: MAX_EXTENT }) } : {}), ...keyRangeOf(f),
        ...(f.has('keep') ? { keep: typed(f, 'keep', 'f32') } : {}),
        ...placed('out'), ...placed('lse'),
      };
      break;
    }
    case 'attention_grad':
      f.only([...common, 'batch', 'queries', 'keys', 'depth', 'depthV', 'q', 'k', 'v', 'dout', 'lse', 'delta', 'score', 'keep', 'scale', 'dq', 'dk', 'dv', 'dscores', 'keyRange']);
      body = {
        ...keyRangeOf(f),
        kind, batch: shape('batch'), queries: f.int('queries', extent), keys: f.int('keys', extent), depth: f.int('depth', extent), depthV: f.int('depthV', { min: 0, max: MAX_EXTENT }),
        q: operand('q', true), k: operand('k', true), v: operand('v', true), dout: operand('dout', true), lse: typed(f, 'lse', 'f32'), delta: typed(f, 'delta', 'f32'), score: typed(f, 'score', 'f32'),
        ...(f.has('keep') ? { keep: typed(f, 'keep', 'f32') } : {}), scale: f.number('scale'), ...placed('dq'), ...placed('dk'), ...placed('dv'), ...placed('dscores'),
      };
      break;
  }
  if (f.has('runtime')) body = { ...body, runtime: decodeRuntime(f.object('runtime'), body) };
  return { body, args };
}

/** A function's runtime extents: each names one of its kind's extents; the program's check ties them to its symbols. */
function decodeRuntime(f: Fields, body: Body): RuntimeExtents {
  const extents = kernelExtents(body as Kernel);
  const out: Record<string, RuntimeSize> = {};
  for (const key of f.keys()) {
    if (!extents.has(key)) throw new JsonFieldError(f.at(key), `is not an extent of a ${body.kind} kernel (${[...extents.keys()].join(', ')})`);
    const rf = f.object(key).only(['symbol', 'scale', 'offset']);
    out[key] = { symbol: rf.int('symbol', { min: 0, max: 7 }), scale: rf.int('scale', { min: 1, max: MAX_EXTENT }), offset: rf.int('offset', { min: -MAX_EXTENT, max: MAX_EXTENT }) };
  }
  return out;
}

/** A kernel of the program: its function's body with the binding's ranges, streams and names. */
export function bindKernel(fn: KernelFunction, binding: KernelBinding): Kernel {
  const args = binding.args.map((r, j) => ({ buffer: r.buffer, offset: r.offset, size: r.size, dtype: fn.args[j]!.dtype, access: fn.args[j]!.access }));
  return { ...fn.body, name: binding.name, label: binding.label, nodes: [], args, streams: binding.streams } as Kernel;
}

/** Reads the streams list of a binding. */
export function decodeStreams(raw: unknown, path: string): number[] {
  // A kernel draws from one stream per dropout it computes: a few; WGSL passes them in a uniform of at most 64 kB.
  return checkList(raw, path, 1024).map((s, i) => checkInt(s, `${path}[${i}]`, { min: 0, max: 2 ** 32 - 1 }));
}

