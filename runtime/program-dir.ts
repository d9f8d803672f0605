// Reading a compiled program directory from disk (Node); the browser page
// fetches the same files.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROGRAM_FORMAT, programFiles, type LoadedProgram, type Program } from './program.js';

/** Reads a compiled program directory; a malformed one is a clear error, not a crash later. */
export function loadProgram(dir: string): LoadedProgram {
  const path = join(dir, 'program.json');
  let program: Program;
  try {
    program = JSON.parse(readFileSync(path, 'utf8')) as Program;
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (program.format !== PROGRAM_FORMAT) throw new Error(`${path}: format '${String(program.format)}' is not ${PROGRAM_FORMAT}`);
  const regionBytes = { persistent: program.persistentBytes, arena: program.arenaBytes };
  for (const b of program.buffers) {
    const end = b.offset + 4 * b.size;
    if (!(b.region in regionBytes)) throw new Error(`${path}: buffer ${b.id} lies in no region ('${String(b.region)}')`);
    if (end > regionBytes[b.region]) throw new Error(`${path}: buffer ${b.id} reaches byte ${end}, past the ${b.region} region of ${regionBytes[b.region]}`);
  }
  const files: Record<string, string> = {};
  for (const file of programFiles(program)) {
    if (file.split(/[\\/]/).includes('..')) throw new Error(`${path}: source file '${file}' lies outside the program directory`);
    try {
      files[file] = readFileSync(join(dir, file), 'utf8');
    } catch (e) {
      throw new Error(`cannot read ${join(dir, file)}: ${(e as Error).message}`);
    }
  }
  return { program, files };
}
