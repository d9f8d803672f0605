// How the CLI ends on an error: input errors print every diagnostic and exit
// 2, usage errors print one line and exit 2, anything else is a bug or a
// runtime failure: one line and exit 1. Stack traces only with --debug.

import { CompileError, formatDiagnostic } from '../compiler/parser/diagnostics.js';
import { InputError, RunFailure } from '../runtime/errors.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where a command writes; process.stdout/stderr in the binary, buffers in tests. */
export interface Io {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
}

/** Diagnostics printed of one run; the rest are counted. */
const SHOWN_DIAGNOSTICS = 20;
/** An error line longer than this is cut, with the count of what was left out. */
const MAX_LINE = 600;

/** A message cut to MAX_LINE characters, saying how many were left out. */
export function capLine(message: string): string {
  return message.length <= MAX_LINE ? message : `${message.slice(0, MAX_LINE)}… (${(message.length - MAX_LINE).toLocaleString('en-US')} more characters)`;
}

export function reportError(e: unknown, debug: boolean, io: Io): number {
  if (e instanceof CompileError) {
    for (const d of e.diagnostics.slice(0, SHOWN_DIAGNOSTICS)) io.stderr.write(formatDiagnostic({ ...d, message: capLine(d.message) }, e.sources) + '\n');
    const n = e.diagnostics.length;
    const left = n > SHOWN_DIAGNOSTICS ? ` (the first ${SHOWN_DIAGNOSTICS} shown)` : '';
    io.stderr.write(`${n} error${n === 1 ? '' : 's'}${left}\n`);
    if (debug) io.stderr.write(`${e.stack}\n`);
    return 2;
  }
  if (e instanceof UsageError || e instanceof InputError) {
    io.stderr.write(`tcc: error: ${capLine(e.message)}\n`);
    if (debug) io.stderr.write(`${e.stack}\n`);
    return 2;
  }
  if (e instanceof RunFailure) {
    io.stderr.write(`tcc: error: ${capLine(e.message)}\n`);
    if (debug) io.stderr.write(`${e.stack}\n`);
    return 1;
  }
  const message = e instanceof Error ? e.message : String(e);
  io.stderr.write(`tcc: error: ${capLine(message)}${debug ? '' : ' (run with --debug for details)'}\n`);
  if (debug && e instanceof Error) io.stderr.write(`${e.stack}\n`);
  return 1;
}
