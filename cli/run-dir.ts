// A training run owns its directory: a lock file (created with O_EXCL,
// holding the process id; one left by a process that is gone is taken over)
// keeps a second run out while the first writes, and a directory that
// already holds a run is continued only with --resume or replaced only with
// --overwrite, never mixed with a new one.

import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileSystemReason, processAlive } from '../runtime/checkpoint.js';
import { UsageError } from './errors.js';
import { outputDirectory } from './files.js';

const LOCK = '.tcc-run.lock';

/** What a run writes into its directory (and --overwrite removes); anything else there is left alone. */
const RUN_OUTPUT = [/^metrics\.jsonl$/, /^eval\.jsonl$/, /^checkpoint-\d+$/, /^final$/, /^best$/, /\.(tmp|old)-\d+$/];

/** Locks this process holds, by path (runs in one process, as the tests make them, tell each other apart by this). */
const held = new Set<string>();

/** The process id in a lock file, or undefined when it holds none (a lock cut short). */
function lockOwner(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').slice(0, 32).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function takeLock(dir: string): string {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      held.add(path);
      return path;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UsageError(`cannot lock ${dir}: ${fileSystemReason(e)}`);
    }
    const owner = lockOwner(path);
    const ours = owner === process.pid && held.has(path);
    if (owner !== undefined && (ours || (owner !== process.pid && processAlive(owner)))) {
      throw new UsageError(`${dir} is in use by another tcc run (process ${owner}); wait for it to end, or write to another directory`);
    }
    // A lock of a process that is gone (killed, or a crash): taken over.
    rmSync(path, { force: true });
  }
  throw new UsageError(`cannot lock ${dir}: another process keeps taking it`);
}

export interface RunDirectory {
  readonly dir: string;
  /** Gives the directory up (also done when the process exits). */
  release(): void;
}

/**
 * Claims `dir` for a run: created if need be, locked, and checked for an
 * earlier run's output, which needs `resume` (continue it) or `overwrite`
 * (removed first). `canResume` says whether the command has --resume.
 */
export function claimRunDirectory(dir: string, options: { resume?: boolean; overwrite?: boolean; canResume: boolean }): RunDirectory {
  outputDirectory(dir);
  if (options.resume && options.overwrite) throw new UsageError('give --resume or --overwrite, not both');
  const lock = takeLock(dir);
  const release = () => {
    if (!held.delete(lock)) return;
    if (lockOwner(lock) === process.pid) rmSync(lock, { force: true });
    process.off('exit', release);
  };
  process.on('exit', release);
  try {
    const earlier = readdirSync(dir).filter((name) => RUN_OUTPUT.some((re) => re.test(name))).sort();
    if (earlier.length && !options.resume) {
      if (!options.overwrite) {
        const shown = earlier.slice(0, 3).join(', ') + (earlier.length > 3 ? `, and ${earlier.length - 3} more` : '');
        throw new UsageError(`${dir} holds an earlier run (${shown}); ${options.canResume ? 'continue it with --resume, ' : ''}replace it with --overwrite, or write to another directory`);
      }
      for (const name of earlier) rmSync(join(dir, name), { recursive: true, force: true });
    }
  } catch (e) {
    release();
    throw e;
  }
  return { dir, release };
}

/** Whether a directory holds a run's output. */
export function holdsRun(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((name) => RUN_OUTPUT.some((re) => re.test(name)));
}
