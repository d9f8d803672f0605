// Reading a compiled program directory from disk (Node); the browser page
// fetches the same program.json. Only program.json is read: the kernel
// sources beside it are for people, and the code that runs is generated
// from the program's checked kernel IR (program-check.ts).

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.js';
import { checkProgram } from './program-check.js';
import type { LoadedProgram } from './program.js';

/** The largest program.json read: bert-large's training step takes a few megabytes. */
export const MAX_PROGRAM_BYTES = 64 * 2 ** 20;

/** A regular file's bytes, at most `limit` of them (a FIFO, a device or a huge file is refused before it is read). */
function readBounded(path: string, limit: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InputError(`cannot read ${path}: not a regular file`);
    if (stat.size > limit) throw new InputError(`${path} is ${stat.size} bytes, more than the ${limit} a program takes`);
    const bytes = Buffer.alloc(stat.size);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return bytes.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** Reads and checks a compiled program directory; a malformed one is a one-line InputError naming the file and field. */
export function loadProgram(dir: string): LoadedProgram {
  const path = join(dir, 'program.json');
  let json: unknown;
  try {
    json = JSON.parse(readBounded(path, MAX_PROGRAM_BYTES).toString('utf8'));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${path}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return { program: checkProgram(json, path).program };
}
