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

export function reportError(e: unknown, debug: boolean, io: Io): number {
  if (e instanceof CompileError) {
    for (const d of e.diagnostics) io.stderr.write(formatDiagnostic(d, e.sources) + '\n');
    const n = e.diagnostics.length;
    io.stderr.write(`${n} error${n === 1 ? '' : 's'}\n`);
    if (debug) io.stderr.write(`${e.stack}\n`);
    return 2;
  }
  if (e instanceof UsageError || e instanceof InputError) {
    io.stderr.write(`tcc: error: ${e.message}\n`);
    if (debug) io.stderr.write(`${e.stack}\n`);
    return 2;
  }
  if (e instanceof RunFailure) {
    io.stderr.write(`tcc: error: ${e.message}\n`);
    if (debug) io.stderr.write(`${e.stack}\n`);
    return 1;
  }
  const message = e instanceof Error ? e.message : String(e);
  io.stderr.write(`tcc: error: ${message}${debug ? '' : ' (run with --debug for details)'}\n`);
  if (debug && e instanceof Error) io.stderr.write(`${e.stack}\n`);
  return 1;
}
