// File helpers for commands: whole-or-nothing writes, and reads that fail
// with one clear line.

import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './errors.js';
import { nearFile } from '../compiler/parser/files.js';
import { fileSystemReason } from '../runtime/checkpoint.js';

import { writeAtomic as writeWhole } from '../runtime/checkpoint.js';
import { RunFailure } from '../runtime/errors.js';

/** Writes a file whole or not at all; a failed write (a full disk) is one line naming the file, exit 1. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  try {
    writeWhole(path, data);
  } catch (e) {
    throw new RunFailure(`cannot write ${path}: ${fileSystemReason(e)}`);
  }
}

/** The largest text file read whole (vocabularies, data sets, corpora): past this, a file is refused before it is read. */
export const MAX_TEXT_BYTES = 2 ** 30;

/** A regular file's bytes; a file larger than `maxBytes` (what the command takes of its kind) is refused unread. */
export function readInputFile(path: string, maxBytes = Infinity, what = 'file'): Buffer {
  let stat;
  try {
    // A device, pipe or directory behind the name (a symlink to /dev/zero) would never end or not be data.
    stat = statSync(path);
    if (!stat.isFile()) throw Object.assign(new Error(stat.isDirectory() ? 'it is a directory' : 'not a regular file'), { code: 'ENOTFILE' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read '${path}': ${code === 'ENOENT' ? `no such file${nearFile(path)}` : code === 'EISDIR' ? 'it is a directory' : (e as Error).message}`);
  }
  if (stat.size > maxBytes) throw new UsageError(`${path} is ${megabytes(stat.size)}, more than a ${what} can be (${megabytes(maxBytes)})`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read '${path}': ${fileSystemReason(e)}`);
  }
}

const megabytes = (bytes: number) => `${(bytes / 2 ** 20).toLocaleString('en-US', { maximumFractionDigits: 1 })} MB`;

/**
 * A UTF-8 text file, its byte-order mark (which spreadsheet programs write)
 * dropped, so that a header reads 'text' and not '\ufefftext'.
 */
export function readTextFile(path: string, maxBytes = MAX_TEXT_BYTES, what = 'text file'): string {
  const text = readInputFile(path, maxBytes, what).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
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
