// Argument parsing on top of node:util's parseArgs, with errors as UsageError.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';
import { didYouMean } from '../compiler/parser/diagnostics.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `--flag -1` as `--flag=-1` for string flags, so that a negative number is
 * the flag's value (and refused by its own check) rather than an option.
 */
function joinNegativeValues(args: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    const next = args[i + 1];
    if (name && Object.hasOwn(options, name) && options[name]!.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** A flag parseArgs refused, in tcc's words: the flag, what is wrong, the nearest flag there is. */
function flagProblem(e: Error & { code?: string }, options: Options): string {
  const flag = /'(-[^' ]*)/.exec(e.message)?.[1] ?? '';
  const flags = Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]);
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const name = flag.replace(/=.*$/, '');
      return `unknown flag ${name.slice(0, 40)}${didYouMean(name, flags).replace(/'/g, '')}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(e.message) ? `${flag} needs a value` : `${flag} takes no value`;
    default:
      return e.message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
  }
}

export function parse<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals: true, strict: true } as const);
  } catch (e) {
    throw new UsageError(flagProblem(e as Error & { code?: string }, options));
  }
}

/** Bounds of training flags: gradient accumulation (batches per update), steps and epochs. */
export const MAX_ACCUMULATE = 4096;
export const MAX_STEPS = 1e9;
export const MAX_EPOCHS = 100_000;

/** A positive integer flag, at most `max` (a value past any sensible one is a typo, not a request). */
export function positiveInt(value: string | undefined, flag: string, fallback: number, max = 2 ** 31 - 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got '${value.slice(0, 40)}'`);
  if (n > max) throw new UsageError(`${flag} must be at most ${max.toLocaleString('en-US')}, got ${value}`);
  return n;
}

export function oneOf<const T extends string>(value: string | undefined, flag: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

export function nonNegative(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a non-negative number, got '${value}'`);
  return n;
}

/** --seed: 0 or a positive integer (default 0). */
export function seedFlag(value: string | undefined): number {
  return value === undefined || value === '0' ? 0 : positiveInt(value, '--seed', 0);
}
