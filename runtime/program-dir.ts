// Reading a compiled program directory from disk (Node); the browser page
// fetches the same files. A program directory is the compiler's output:
// program.json carries a SHA-256 digest of itself and of each kernel source,
// and a directory whose files no longer match it is refused before anything
// runs (a changed kernel source would otherwise run, or crash, as written).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.js';
import { PROGRAM_FORMAT, programFiles, type LoadedProgram, type Program } from './program.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The digest program.json carries: SHA-256 of the program (without its digest) and of each source file. */
export function programDigest(program: Program, files: Readonly<Record<string, string>>): Record<string, string> {
  const { digest: _, ...rest } = program;
  return { 'program.json': sha256(JSON.stringify(rest)), ...Object.fromEntries(Object.entries(files).map(([f, text]) => [f, sha256(text)])) };
}

const changed = (file: string) => `${file} was changed after tcc compile wrote it (it does not match the digest in program.json); compile the model again`;

/** Reads a compiled program directory; a malformed or changed one is a one-line InputError naming the file. */
export function loadProgram(dir: string): LoadedProgram {
  const path = join(dir, 'program.json');
  let program: Program;
  try {
    program = JSON.parse(readFileSync(path, 'utf8')) as Program;
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (program === null || typeof program !== 'object' || program.format !== PROGRAM_FORMAT) {
    throw new InputError(`${path}: format '${String((program as Program | null)?.format)}' is not ${PROGRAM_FORMAT}; compile the model again with this tcc`);
  }
  const digest = program.digest as Readonly<Record<string, unknown>> | undefined;
  if (digest === null || typeof digest !== 'object' || digest['program.json'] !== programDigest(program, {})['program.json']) throw new InputError(changed(path));
  const regionBytes = { persistent: program.persistentBytes, arena: program.arenaBytes };
  for (const b of program.buffers) {
    const end = b.offset + 4 * b.size;
    if (!(b.region in regionBytes)) throw new InputError(`${path}: buffer ${b.id} lies in no region ('${String(b.region)}')`);
    if (end > regionBytes[b.region]) throw new InputError(`${path}: buffer ${b.id} reaches byte ${end}, past the ${b.region} region of ${regionBytes[b.region]}`);
  }
  const files: Record<string, string> = {};
  for (const file of programFiles(program)) {
    if (file.split(/[\\/]/).includes('..')) throw new InputError(`${path}: source file '${file}' lies outside the program directory`);
    try {
      files[file] = readFileSync(join(dir, file), 'utf8');
    } catch (e) {
      throw new InputError(`cannot read ${join(dir, file)}: ${(e as Error).message}`);
    }
    if (digest[file] !== sha256(files[file])) throw new InputError(changed(join(dir, file)));
  }
  return { program, files };
}
