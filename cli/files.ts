// File helpers for commands: whole-or-nothing writes, and reads that fail
// with one clear line.

import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './errors.js';

/** Writes a file whole or not at all: a temporary file renamed over the target. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, data);
  renameSync(temp, path);
}

export function readInputFile(path: string): Buffer {
  try {
    // A device, pipe or directory behind the name (a symlink to /dev/zero) would never end or not be data.
    if (!statSync(path).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read '${path}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' || (code === 'ENOTFILE' && existsSync(path) && statSync(path).isDirectory()) ? 'it is a directory' : (e as Error).message}`);
  }
}

/** tcc's version: package.json's, found above this module (from the sources or from dist/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}
