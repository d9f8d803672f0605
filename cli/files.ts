// File helpers for commands: whole-or-nothing writes, and reads that fail
// with one clear line.

import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './errors.js';
import { fileSystemReason } from '../runtime/checkpoint.js';

export { writeAtomic } from '../runtime/checkpoint.js';

export function readInputFile(path: string): Buffer {
  try {
    // A device, pipe or directory behind the name (a symlink to /dev/zero) would never end or not be data.
    const stat = statSync(path);
    if (!stat.isFile()) throw Object.assign(new Error(stat.isDirectory() ? 'it is a directory' : 'not a regular file'), { code: 'ENOTFILE' });
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read '${path}': ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message}`);
  }
}

/** The package's root: the nearest directory above this module with a package.json (from the sources or from dist/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** tcc's version: package.json's. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * An output directory, checked before any work: a path that is a file, or a
 * directory that cannot be created or written, is one line now rather than
 * an error after the training or the compile. The directory exists afterwards.
 */
export function outputDirectory(path: string, flag = '-o'): string {
  if (existsSync(path) && !statSync(path).isDirectory()) throw new UsageError(`${flag} ${path} is a file; it names a directory to write into`);
  try {
    mkdirSync(path, { recursive: true });
    accessSync(path, constants.W_OK);
  } catch (e) {
    throw new UsageError(`cannot write to ${path}: ${fileSystemReason(e)}`);
  }
  return path;
}

/** An output file's path, checked before any work: not a directory, and its directory writable. */
export function outputFile(path: string, flag = '--out'): string {
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`${flag} ${path} is a directory; it names a file to write`);
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${flag} ${path}: no directory ${dir} to write it in`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new UsageError(`cannot write to ${dir}: ${fileSystemReason(e)}`);
  }
  return path;
}
