// Reading the text files a spec is made of (spec files, config.json): only
// regular files of a bounded size, so that a name that leads to a device, a
// pipe or an endless file fails with one line instead of hanging or
// exhausting memory.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { didYouMean } from './diagnostics.js';

/** "; did you mean 'models/bert.yaml'?" for a missing file whose folder holds one of a near name, else "". */
export function nearFile(path: string): string {
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return '';
  }
  // File names share their extension: only a slip of a character or two counts as near.
  const near = didYouMean(basename(path), names, Math.max(1, Math.floor(basename(path).length / 6)));
  const match = /'(.*)'/.exec(near);
  return match ? `; did you mean '${join(dirname(path), match[1]!)}'?` : '';
}

/** The largest spec file read: specs are a few kilobytes; this refuses an endless or binary file before reading it. */
export const MAX_SPEC_BYTES = 4 << 20;

/** A spec file's text: a regular file of at most MAX_SPEC_BYTES (not a device, pipe or directory). */
export function readSpecText(file: string): string {
  const stat = statSync(file);
  if (!stat.isFile()) throw new Error('not a regular file');
  if (stat.size > MAX_SPEC_BYTES) throw new Error(`${(stat.size / 2 ** 20).toFixed(1)} MiB is too large for a spec (at most ${MAX_SPEC_BYTES >> 20} MiB)`);
  return readFileSync(file, 'utf8');
}

