// Reading a compiled program directory from disk (Node); the browser page
// fetches the same program.json. Only program.json is read: the kernel
// sources beside it are for people, and the code that runs is generated
// from the program's checked kernel IR (program-check.ts).

import { join } from 'node:path';
import { readBounded } from './checkpoint.js';
import { InputError } from './errors.js';
import { checkProgram } from './program-check.js';
import type { LoadedProgram } from './program.js';

/** The largest program.json read: bert-large's training step takes a few megabytes. */
export const MAX_PROGRAM_BYTES = 64 * 2 ** 20;

/** Reads and checks a compiled program directory; a malformed one is a one-line InputError naming the file and field. */
export function loadProgram(dir: string): LoadedProgram {
  const path = join(dir, 'program.json');
  let json: unknown;
  try {
    json = JSON.parse(readBounded(path, MAX_PROGRAM_BYTES, 'a program').toString('utf8'));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return { program: checkProgram(json, path).program };
}
