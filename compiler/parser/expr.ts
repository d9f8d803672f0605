// Expressions in spec values: "hidden_size / num_attention_heads",
// "1 / sqrt(head_dim)", "hidden_size % num_attention_heads == 0". Identifiers
// name config values, block parameters, dims (batch, seq) and the repeat index
// (i). A small Pratt parser; values are numbers, strings and booleans.

import { MAX_NESTING, own } from './spec.js';

export type ExprValue = number | string | boolean;

export type Expr =
  | { readonly kind: 'literal'; readonly value: ExprValue }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'unary'; readonly op: string; readonly arg: Expr }
  | { readonly kind: 'binary'; readonly op: string; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'call'; readonly fn: string; readonly args: readonly Expr[] };

export class ExprError extends Error {
  override name = 'ExprError';
}

const TOKEN = /\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|('[^']*')|(\*\*|\/\/|==|!=|<=|>=|&&|\|\||[-+*/%<>!(),]))/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const start = TOKEN.lastIndex;
    if (/^\s*$/.test(text.slice(start))) break;
    const m = TOKEN.exec(text);
    if (!m) throw new ExprError(`unexpected character '${text.slice(start).trim()[0]}' in expression '${text}'`);
    tokens.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  }
  return tokens;
}

const BINARY_PRECEDENCE: Readonly<Record<string, number>> = {
  '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 4, '<=': 4, '>': 4, '>=': 4,
  '+': 5, '-': 5, '*': 6, '/': 6, '//': 6, '%': 6, '**': 8,
};

export function parseExpr(text: string): Expr {
  const tokens = tokenize(text);
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos];
  const expect = (t: string) => {
    if (tokens[pos] !== t) throw new ExprError(`expected '${t}' in expression '${text}'${tokens[pos] ? `, found '${tokens[pos]}'` : ''}`);
    pos++;
  };
  const primary = (): Expr => {
    const t = tokens[pos++];
    if (t === undefined) throw new ExprError(`expression '${text}' ends too early`);
    // Parentheses and unary operators recurse: bound them well below the stack's limit.
    if ((t === '(' || t === '-' || t === '!') && ++depth > MAX_NESTING) throw new ExprError(`expression nested more than ${MAX_NESTING} deep`);
    if (t === '(') {
      const e = parse(0);
      expect(')');
      return e;
    }
    if (t === '-' || t === '!') return { kind: 'unary', op: t, arg: parse(7) };
    if (/^[\d.]/.test(t)) return { kind: 'literal', value: Number(t) };
    if (t.startsWith("'")) return { kind: 'literal', value: t.slice(1, -1) };
    if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() !== '(') return { kind: 'name', name: t };
      pos++;
      const args: Expr[] = [];
      while (peek() !== ')') {
        args.push(parse(0));
        if (peek() !== ')') expect(',');
      }
      pos++;
      return { kind: 'call', fn: t, args };
    }
    throw new ExprError(`unexpected '${t}' in expression '${text}'`);
  };
  // Binary operators at or above minPrecedence; ** is right-associative, the rest left.
  const parse = (minPrecedence: number): Expr => {
    let left = primary();
    for (;;) {
      const op = peek();
      const precedence = op === undefined ? undefined : BINARY_PRECEDENCE[op];
      if (precedence === undefined || precedence < minPrecedence) break;
      pos++;
      left = { kind: 'binary', op: op!, left, right: parse(op === '**' ? precedence : precedence + 1) };
    }
    return left;
  };
  const result = parse(0);
  if (pos < tokens.length) throw new ExprError(`unexpected '${tokens[pos]}' in expression '${text}'`);
  return result;
}

const FUNCTIONS: Readonly<Record<string, (...xs: number[]) => number>> = {
  sqrt: Math.sqrt, exp: Math.exp, log: Math.log, floor: Math.floor, ceil: Math.ceil, abs: Math.abs, min: Math.min, max: Math.max,
};

export function exprNames(e: Expr): string[] {
  switch (e.kind) {
    case 'literal': return [];
    case 'name': return [e.name];
    case 'unary': return exprNames(e.arg);
    case 'binary': return [...exprNames(e.left), ...exprNames(e.right)];
    case 'call': return e.args.flatMap(exprNames);
  }
}

function num(v: ExprValue, op: string): number {
  if (typeof v !== 'number') throw new ExprError(`'${op}' needs numbers, got ${JSON.stringify(v)}`);
  return v;
}

export function evaluate(e: Expr, lookup: (name: string) => ExprValue | undefined): ExprValue {
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'name': {
      const v = lookup(e.name);
      if (v === undefined) throw new ExprError(`unknown name '${e.name}'`);
      return v;
    }
    case 'unary': {
      const v = evaluate(e.arg, lookup);
      return e.op === '!' ? !v : -num(v, '-');
    }
    case 'call': {
      const f = own(FUNCTIONS, e.fn);
      if (!f) throw new ExprError(`unknown function '${e.fn}'`);
      return f(...e.args.map((a) => num(evaluate(a, lookup), e.fn)));
    }
    case 'binary': {
      const a = evaluate(e.left, lookup);
      if (e.op === '&&') return Boolean(a) && Boolean(evaluate(e.right, lookup));
      if (e.op === '||') return Boolean(a) || Boolean(evaluate(e.right, lookup));
      const b = evaluate(e.right, lookup);
      if (e.op === '==') return a === b;
      if (e.op === '!=') return a !== b;
      const [x, y] = [num(a, e.op), num(b, e.op)];
      switch (e.op) {
        case '+': return x + y;
        case '-': return x - y;
        case '*': return x * y;
        case '/': return x / y;
        case '//': return Math.floor(x / y);
        case '%': return x % y;
        case '**': return x ** y;
        case '<': return x < y;
        case '<=': return x <= y;
        case '>': return x > y;
        case '>=': return x >= y;
      }
      throw new ExprError(`unknown operator '${e.op}'`);
    }
  }
}
