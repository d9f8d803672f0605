// Reading JSON that someone else wrote (a program directory, a trainer
// state, a tokenizer's settings) field by field: every value is checked for
// its type and range before use, and a bad one is an error naming where it
// is (`kernels[3].args[1].offset`), never a property of Object.prototype or
// an engine message. Keys are read with Object.hasOwn only.

/** A value of the wrong type or range, at a path inside the document. */
export class JsonFieldError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(path ? `${path}: ${problem}` : problem);
  }
}

const describe = (v: unknown): string => {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'object') return 'an object';
  return String(v);
};

/** Text that may appear in a message or a generated comment: printable, one line, bounded. */
const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/;

export interface IntRange {
  readonly min?: number;
  readonly max?: number;
}

/** The fields of one JSON object, read with their path. */
export class Fields {
  private constructor(
    readonly value: Readonly<Record<string, unknown>>,
    readonly path: string,
  ) {}

  /** `v` as an object (not null, not a list), or an error at `path`. */
  static of(v: unknown, path: string): Fields {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new JsonFieldError(path, `expected an object, got ${describe(v)}`);
    return new Fields(v as Record<string, unknown>, path);
  }

  /** The path of a field. */
  at(key: string | number): string {
    return typeof key === 'number' ? `${this.path}[${key}]` : this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return Object.hasOwn(this.value, key) && this.value[key] !== undefined;
  }

  /** The raw value of a present field. */
  get(key: string): unknown {
    if (!this.has(key)) throw new JsonFieldError(this.at(key), 'is missing');
    return this.value[key];
  }

  /** The object's own keys, at most `max` of them. */
  keys(max = 64): string[] {
    const keys = Object.keys(this.value);
    if (keys.length > max) throw new JsonFieldError(this.path, `has ${keys.length} fields, more than ${max}`);
    return keys;
  }

  /** Refuses any field not in `known` (a misspelt or foreign field is not silently ignored). */
  only(known: readonly string[]): this {
    for (const key of Object.keys(this.value)) {
      if (!known.includes(key)) throw new JsonFieldError(this.at(key), `is not a field here (expected ${known.join(', ')})`);
    }
    return this;
  }

  string(key: string, maxLength = 1000): string {
    return checkString(this.get(key), this.at(key), maxLength);
  }

  optionalString(key: string, maxLength = 1000): string | undefined {
    return this.has(key) ? this.string(key, maxLength) : undefined;
  }

  int(key: string, range: IntRange = {}): number {
    return checkInt(this.get(key), this.at(key), range);
  }

  optionalInt(key: string, range: IntRange = {}): number | undefined {
    return this.has(key) ? this.int(key, range) : undefined;
  }

  number(key: string): number {
    return checkNumber(this.get(key), this.at(key));
  }

  bool(key: string): boolean {
    const v = this.get(key);
    if (typeof v !== 'boolean') throw new JsonFieldError(this.at(key), `expected true or false, got ${describe(v)}`);
    return v;
  }

  oneOf<const T extends string>(key: string, values: readonly T[]): T {
    return checkOneOf(this.get(key), this.at(key), values);
  }

  list(key: string, maxLength = Infinity): readonly unknown[] {
    return checkList(this.get(key), this.at(key), maxLength);
  }

  object(key: string): Fields {
    return Fields.of(this.get(key), this.at(key));
  }

  /** A list of integers in a range, e.g. a shape. */
  ints(key: string, range: IntRange = {}, maxLength = 64): number[] {
    return this.list(key, maxLength).map((v, i) => checkInt(v, `${this.at(key)}[${i}]`, range));
  }
}

export function checkString(v: unknown, path: string, maxLength = 1000): string {
  if (typeof v !== 'string') throw new JsonFieldError(path, `expected a string, got ${describe(v)}`);
  if (v.length > maxLength) throw new JsonFieldError(path, `is ${v.length} characters long, more than ${maxLength}`);
  if (!PRINTABLE.test(v)) throw new JsonFieldError(path, 'holds a control character');
  return v;
}

export function checkInt(v: unknown, path: string, { min = -(2 ** 53 - 1), max = 2 ** 53 - 1 }: IntRange = {}): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new JsonFieldError(path, `expected an integer, got ${describe(v)}`);
  if (v < min || v > max) throw new JsonFieldError(path, `${v} is out of range [${min}, ${max}]`);
  return v;
}

export function checkNumber(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new JsonFieldError(path, `expected a finite number, got ${describe(v)}`);
  return v;
}

export function checkOneOf<const T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new JsonFieldError(path, `expected one of ${values.join(', ')}, got ${describe(v)}`);
  return v as T;
}

export function checkList(v: unknown, path: string, maxLength = Infinity): readonly unknown[] {
  if (!Array.isArray(v)) throw new JsonFieldError(path, `expected a list, got ${describe(v)}`);
  if (v.length > maxLength) throw new JsonFieldError(path, `has ${v.length} entries, more than ${maxLength}`);
  return v;
}
