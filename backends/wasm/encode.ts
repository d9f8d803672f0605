// The WebAssembly binary format, as much of it as tcc's generated modules
// use: value and function types, an imported memory, functions with
// locals, exports, and a code writer for the instructions (scalar, control
// and 128-bit SIMD). Emitting bytes directly keeps the backend free of a
// toolchain: a browser tab generates its modules as Node does.

export type ValType = 'i32' | 'f32' | 'f64' | 'v128';

const VALTYPE: Readonly<Record<ValType, number>> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128. */
export function uleb(n: number, out: number[] = []): number[] {
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number, out: number[] = []): number[] {
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
const vec = (items: readonly number[][]): number[] => [...uleb(items.length), ...items.flat()];
const named = (s: string): number[] => [...uleb(utf8(s).length), ...utf8(s)];

/** A function's instructions. Locals are numbered after the parameters, in the order `local` makes them. */
export class Code {
  readonly bytes: number[] = [];
  private readonly locals: ValType[] = [];

  constructor(readonly params: readonly ValType[]) {}

  /** A new local of the type; returns its index. */
  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  private op(...bytes: number[]): this {
    this.bytes.push(...bytes);
    return this;
  }

  private simd(opcode: number, ...immediates: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...immediates);
  }

  // control
  block(body: () => void): this { this.op(0x02, 0x40); body(); return this.op(0x0b); }
  loop(body: () => void): this { this.op(0x03, 0x40); body(); return this.op(0x0b); }
  /** if (the i32 on the stack) then else, leaving a value of `type`. */
  ifValue(type: ValType, then: () => void, otherwise: () => void): this {
    this.op(0x04, VALTYPE[type]);
    then();
    this.op(0x05);
    otherwise();
    return this.op(0x0b);
  }
  /** if (the i32 on the stack) then [else]. */
  ifElse(then: () => void, otherwise?: () => void): this {
    this.op(0x04, 0x40);
    then();
    if (otherwise) {
      this.op(0x05);
      otherwise();
    }
    return this.op(0x0b);
  }
  br(depth: number): this { return this.op(0x0c, ...uleb(depth)); }
  brIf(depth: number): this { return this.op(0x0d, ...uleb(depth)); }
  call(fn: number): this { return this.op(0x10, ...uleb(fn)); }
  drop(): this { return this.op(0x1a); }
  select(): this { return this.op(0x1b); }

  // locals
  get(i: number): this { return this.op(0x20, ...uleb(i)); }
  set(i: number): this { return this.op(0x21, ...uleb(i)); }
  tee(i: number): this { return this.op(0x22, ...uleb(i)); }

  // memory: the address is on the stack, `offset` a constant byte offset
  i32Load(offset = 0): this { return this.op(0x28, 2, ...uleb(offset)); }
  f32Load(offset = 0): this { return this.op(0x2a, 2, ...uleb(offset)); }
  i32Store(offset = 0): this { return this.op(0x36, 2, ...uleb(offset)); }
  f32Store(offset = 0): this { return this.op(0x38, 2, ...uleb(offset)); }
  f64Load(offset = 0): this { return this.op(0x2b, 3, ...uleb(offset)); }
  f64Store(offset = 0): this { return this.op(0x39, 3, ...uleb(offset)); }
  v128Load(offset = 0): this { return this.simd(0x00, 4, ...uleb(offset)); }
  v128Store(offset = 0): this { return this.simd(0x0b, 4, ...uleb(offset)); }
  /** Loads an f32 and splats it to four lanes. */
  v128Load32Splat(offset = 0): this { return this.simd(0x09, 2, ...uleb(offset)); }

  // constants
  i32(value: number): this { return this.op(0x41, ...sleb(value)); }
  f32(value: number): this {
    const bytes = new Uint8Array(new Float32Array([value]).buffer);
    return this.op(0x43, ...bytes);
  }
  f64(value: number): this {
    const bytes = new Uint8Array(new Float64Array([value]).buffer);
    return this.op(0x44, ...bytes);
  }
  v128Zero(): this { return this.simd(0x0c, ...new Array<number>(16).fill(0)); }

  // i32
  i32Eqz(): this { return this.op(0x45); }
  i32Eq(): this { return this.op(0x46); }
  i32Ne(): this { return this.op(0x47); }
  i32LtS(): this { return this.op(0x48); }
  i32LtU(): this { return this.op(0x49); }
  i32GtS(): this { return this.op(0x4a); }
  i32LeS(): this { return this.op(0x4c); }
  i32GeS(): this { return this.op(0x4e); }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }
  i32DivS(): this { return this.op(0x6d); }
  i32DivU(): this { return this.op(0x6e); }
  i32RemS(): this { return this.op(0x6f); }
  i32RemU(): this { return this.op(0x70); }
  i32And(): this { return this.op(0x71); }
  i32Or(): this { return this.op(0x72); }
  i32Xor(): this { return this.op(0x73); }
  i32Shl(): this { return this.op(0x74); }
  i32ShrS(): this { return this.op(0x75); }
  i32ShrU(): this { return this.op(0x76); }
  i32Rotl(): this { return this.op(0x77); }

  // f32
  f32Eq(): this { return this.op(0x5b); }
  f32Ne(): this { return this.op(0x5c); }
  f32Lt(): this { return this.op(0x5d); }
  f32Gt(): this { return this.op(0x5e); }
  f32Abs(): this { return this.op(0x8b); }
  f32Neg(): this { return this.op(0x8c); }
  f32Floor(): this { return this.op(0x8e); }
  f32Trunc(): this { return this.op(0x8f); }
  f32Nearest(): this { return this.op(0x90); }
  f32Sqrt(): this { return this.op(0x91); }
  f32Add(): this { return this.op(0x92); }
  f32Sub(): this { return this.op(0x93); }
  f32Mul(): this { return this.op(0x94); }
  f32Div(): this { return this.op(0x95); }
  f32Min(): this { return this.op(0x96); }
  f64Min(): this { return this.op(0xa4); }
  f32Max(): this { return this.op(0x97); }
  /** f32 → i32, saturating (no trap on NaN or overflow). */
  i32TruncSatF32S(): this { return this.op(0xfc, 0x00); }
  f32ConvertI32S(): this { return this.op(0xb2); }
  f32DemoteF64(): this { return this.op(0xb6); }
  f64PromoteF32(): this { return this.op(0xbb); }
  f64ConvertI32S(): this { return this.op(0xb7); }
  f64Add(): this { return this.op(0xa0); }
  f64Sub(): this { return this.op(0xa1); }
  f64Mul(): this { return this.op(0xa2); }
  f64Div(): this { return this.op(0xa3); }
  f64Gt(): this { return this.op(0x64); }
  f64Lt(): this { return this.op(0x63); }
  f32ConvertI32U(): this { return this.op(0xb3); }
  i32ReinterpretF32(): this { return this.op(0xbc); }
  f32ReinterpretI32(): this { return this.op(0xbe); }

  // v128
  /** A constant of four i32 lanes. */
  v128I32x4(lanes: readonly [number, number, number, number]): this {
    return this.simd(0x0c, ...new Uint8Array(Int32Array.from(lanes).buffer));
  }
  v128Not(): this { return this.simd(0x4d); }
  v128And(): this { return this.simd(0x4e); }
  v128Or(): this { return this.simd(0x50); }
  /** (a, b, mask) → a where the mask's bits are set, else b. */
  v128Bitselect(): this { return this.simd(0x52); }

  // i32x4
  i32x4Splat(): this { return this.simd(0x11); }
  i32x4ExtractLane(lane: number): this { return this.simd(0x1b, lane); }
  i32x4ReplaceLane(lane: number): this { return this.simd(0x1c, lane); }
  i32x4Eq(): this { return this.simd(0x37); }
  i32x4Ne(): this { return this.simd(0x38); }
  i32x4LtS(): this { return this.simd(0x39); }
  i32x4GtS(): this { return this.simd(0x3b); }
  i32x4AllTrue(): this { return this.simd(0xa3); }
  i32x4Shl(): this { return this.simd(0xab); }
  i32x4Add(): this { return this.simd(0xae); }
  i32x4Sub(): this { return this.simd(0xb1); }
  i32x4Mul(): this { return this.simd(0xb5); }
  i32x4TruncSatF32x4S(): this { return this.simd(0xf8); }

  // f32x4
  f32x4Splat(): this { return this.simd(0x13); }
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f, lane); }
  f32x4ReplaceLane(lane: number): this { return this.simd(0x20, lane); }
  f32x4Ne(): this { return this.simd(0x42); }
  f32x4Lt(): this { return this.simd(0x43); }
  f32x4Gt(): this { return this.simd(0x44); }
  f32x4Floor(): this { return this.simd(0x68); }
  f32x4Abs(): this { return this.simd(0xe0); }
  f32x4Neg(): this { return this.simd(0xe1); }
  f32x4Sqrt(): this { return this.simd(0xe3); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f32x4Div(): this { return this.simd(0xe7); }
  f32x4ConvertI32x4S(): this { return this.simd(0xfa); }

  /** The function body: its locals, run-length coded by type, then the instructions. */
  encode(): number[] {
    const runs: number[][] = [];
    for (const t of this.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === VALTYPE[t]) last[0]!++;
      else runs.push([1, VALTYPE[t]]);
    }
    const body = [...vec(runs.map(([n, t]) => [...uleb(n!), t!])), ...this.bytes, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

export interface MemoryImport {
  readonly module: string;
  readonly name: string;
  /** Pages of 64 KiB. */
  readonly initial: number;
  readonly maximum?: number;
  /** A SharedArrayBuffer behind it, for threads (needs a maximum). */
  readonly shared?: boolean;
}

interface FunctionImport {
  readonly module: string;
  readonly name: string;
  readonly type: number;
}

interface FunctionDef {
  readonly name: string;
  readonly type: number;
  readonly code: Code;
  readonly exported: boolean;
}

/** A module of functions over one imported memory. */
export class ModuleBuilder {
  private readonly types: string[] = [];
  private readonly typeBytes: number[][] = [];
  private readonly functions: FunctionDef[] = [];
  private readonly imports: FunctionImport[] = [];

  constructor(private readonly memory: MemoryImport) {}

  private typeOf(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params.join(',')}->${results.join(',')}`;
    let index = this.types.indexOf(key);
    if (index < 0) {
      index = this.types.push(key) - 1;
      this.typeBytes.push([0x60, ...vec(params.map((p) => [VALTYPE[p]])), ...vec(results.map((r) => [VALTYPE[r]]))]);
    }
    return index;
  }

  /** Imports a host function (before any function is defined: imports come first in the index space). Returns its index. */
  importFunc(module: string, name: string, params: readonly ValType[], results: readonly ValType[]): number {
    if (this.functions.length) throw new Error('imports must come before the module\'s own functions');
    return this.imports.push({ module, name, type: this.typeOf(params, results) }) - 1;
  }

  /** Adds a function; `build` writes its body. Returns its index (for calls). */
  func(name: string, params: readonly ValType[], results: readonly ValType[], build: (code: Code) => void, exported = true): number {
    const code = new Code(params);
    build(code);
    return this.imports.length + this.functions.push({ name, type: this.typeOf(params, results), code, exported }) - 1;
  }

  encode(): Uint8Array<ArrayBuffer> {
    const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
    const m = this.memory;
    const limits = m.shared ? [0x03, ...uleb(m.initial), ...uleb(m.maximum!)] : m.maximum === undefined ? [0x00, ...uleb(m.initial)] : [0x01, ...uleb(m.initial), ...uleb(m.maximum)];
    const bytes = [
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, vec(this.typeBytes)),
      ...section(2, vec([...this.imports.map((f) => [...named(f.module), ...named(f.name), 0x00, ...uleb(f.type)]), [...named(m.module), ...named(m.name), 0x02, ...limits]])),
      ...section(3, vec(this.functions.map((f) => uleb(f.type)))),
      ...section(7, vec(this.functions.flatMap((f, i) => (f.exported ? [[...named(f.name), 0x00, ...uleb(this.imports.length + i)]] : [])))),
      ...section(10, vec(this.functions.map((f) => f.code.encode()))),
    ];
    return new Uint8Array(bytes);
  }
}
