// Evaluating a step's attributes: literals or expressions over the
// environment (config, block parameters, dims, repeat index), checked against
// the attribute's declared kind.

import type { AttrSpec } from '../ir/ops/index.js';
import { evaluate, ExprError, parseExpr, type ExprValue } from '../parser/expr.js';
import type { AttrLiteral } from '../parser/spec.js';

export type Lookup = (name: string) => ExprValue | undefined;

/** A spec value that is wrong; the frontend attaches the value's location. */
export class SpecValueError extends Error {
  override name = 'SpecValueError';
}

export function evalExpr(text: string, lookup: Lookup): ExprValue {
  try {
    return evaluate(parseExpr(text), lookup);
  } catch (e) {
    if (e instanceof ExprError) throw new SpecValueError(e.message);
    throw e;
  }
}

function evalNumber(v: number | string | boolean, lookup: Lookup, integer: boolean): number {
  const value = typeof v === 'string' ? evalExpr(v, lookup) : v;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new SpecValueError(`expected a number, got ${JSON.stringify(value)}${typeof v === 'string' ? ` from '${v}'` : ''}`);
  }
  if (integer && !Number.isInteger(value)) {
    throw new SpecValueError(`expected an integer, got ${value}${typeof v === 'string' ? ` from '${v}'` : ''}`);
  }
  return value;
}

/** Replaces each {expr} in a string by its value: "encoder.layer.{i}" → "encoder.layer.3". */
export function interpolate(text: string, lookup: Lookup): string {
  return text.replace(/\{([^{}]*)\}/g, (_, inner: string) => String(evalExpr(inner, lookup)));
}

export function evalAttr(spec: AttrSpec, raw: AttrLiteral, lookup: Lookup): unknown {
  switch (spec.kind) {
    case 'int':
    case 'float':
      if (Array.isArray(raw)) throw new SpecValueError('expected a number, got a list');
      return evalNumber(raw as number | string | boolean, lookup, spec.kind === 'int');
    case 'bool': {
      const value = typeof raw === 'string' ? evalExpr(raw, lookup) : raw;
      if (typeof value !== 'boolean') throw new SpecValueError(`expected true or false, got ${JSON.stringify(value)}`);
      return value;
    }
    case 'ints':
      if (!Array.isArray(raw)) throw new SpecValueError(`expected a list of integers, got ${JSON.stringify(raw)}`);
      return (raw as (number | string)[]).map((v) => evalNumber(v, lookup, true));
    case 'dtype':
    case 'init':
    case 'string': {
      if (typeof raw !== 'string') throw new SpecValueError(`expected a name, got ${JSON.stringify(raw)}`);
      const allowed = spec.kind === 'dtype' ? ['f32', 'i32'] : spec.oneOf;
      const value = interpolate(raw, lookup);
      if (allowed && !allowed.includes(value)) throw new SpecValueError(`expected one of ${allowed.join(', ')}, got '${value}'`);
      return value;
    }
  }
}
