// Checkpoints as HuggingFace model directories: config.json,
// model.safetensors (HuggingFace names), vocab.txt, plus the trainer's state
// beside them (trainer_state.json: step, data position, random streams;
// optimizer.safetensors: the AdamW moments). A directory is written under a
// temporary name and renamed into place, so a crash mid-write never leaves a
// partial checkpoint where a complete one is expected.

import { appendFileSync, closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, RunFailure } from './errors.js';
import { Fields, JsonFieldError } from './json-fields.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from './safetensors.js';

export interface CheckpointContents {
  readonly config: object;
  readonly params: Readonly<Record<string, TensorToWrite>>;
  readonly vocab?: string;
  readonly trainerState?: object;
  readonly optimizer?: Readonly<Record<string, TensorToWrite>>;
  /** Further files by name (an export's tokenizer files, its model.py). */
  readonly files?: Readonly<Record<string, string>>;
}

/** Why a file-system call failed, without Node's code prefix and call name ("no space left on device"). */
export function fileSystemReason(e: unknown): string {
  return (e as Error).message.replace(/^E[A-Z]+: /, '').replace(/, [a-z]+( '.*')?$/, '');
}

/**
 * A regular file's bytes, at most `limit` of them: a FIFO, a device or a
 * file larger than `what` can be is refused before it is read (opened
 * without blocking, so that a FIFO with no writer does not hang).
 */
export function readBounded(path: string, limit: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : fileSystemReason(e)}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InputError(`cannot read ${path}: not a regular file`);
    if (stat.size > limit) throw new InputError(`${path} is ${stat.size} bytes, more than ${what} takes (${limit})`);
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

/** Writes a file whole or not at all: a temporary file renamed over the target (removed again if the write fails). */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const temp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(temp, data);
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}

/**
 * Writes DIR whole: into DIR.tmp-PID first, then renamed over DIR. A write
 * that fails (a full disk, a read-only file system) removes what it wrote and
 * is a RunFailure naming DIR; an existing DIR is left as it was.
 */
export function writeCheckpoint(dir: string, contents: CheckpointContents): void {
  const temp = `${dir}.tmp-${process.pid}`;
  try {
    rmSync(temp, { recursive: true, force: true });
    mkdirSync(temp, { recursive: true });
    writeFileSync(join(temp, 'config.json'), JSON.stringify(contents.config, null, 2) + '\n');
    writeFileSync(join(temp, 'model.safetensors'), writeSafetensors(contents.params, { format: 'pt' }));
    if (contents.vocab !== undefined) writeFileSync(join(temp, 'vocab.txt'), contents.vocab);
    if (contents.optimizer) writeFileSync(join(temp, 'optimizer.safetensors'), writeSafetensors(contents.optimizer));
    if (contents.trainerState) writeFileSync(join(temp, 'trainer_state.json'), JSON.stringify(contents.trainerState, null, 2) + '\n');
    for (const [name, text] of Object.entries(contents.files ?? {})) writeFileSync(join(temp, name), text);
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    throw new RunFailure(`cannot write ${dir}: ${fileSystemReason(e)}`);
  }
  const old = `${dir}.old-${process.pid}`;
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(temp, dir);
  rmSync(old, { recursive: true, force: true });
}

/** Appends one JSON line to a run's log; a failed write is a RunFailure naming the file. */
export function appendRecord(file: string, record: object): void {
  try {
    appendFileSync(file, JSON.stringify(record) + '\n');
  } catch (e) {
    throw new RunFailure(`cannot write ${file}: ${fileSystemReason(e)}`);
  }
}

/** Removes what runs killed mid-write left in a run directory (DIR.tmp-PID, DIR.old-PID of processes gone). */
export function removeStaleTemporaries(runDir: string): void {
  if (!existsSync(runDir)) return;
  for (const name of readdirSync(runDir)) {
    const m = /\.(tmp|old)-(\d+)$/.exec(name);
    if (m && !processAlive(Number(m[2]))) rmSync(join(runDir, name), { recursive: true, force: true });
  }
}

/** Whether a process of that id runs (one of another user's counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The files of a complete checkpoint: one without all of them (a crash, a copy cut short) is not taken for one. */
const CHECKPOINT_FILES = ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json'];

/** The run directory's complete checkpoint-STEP directories, newest first. */
export function checkpoints(runDir: string): { dir: string; step: number }[] {
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir)
    .map((name) => /^checkpoint-(\d{1,15})$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && CHECKPOINT_FILES.every((f) => isFile(join(runDir, m[0], f))))
    .map((m) => ({ dir: join(runDir, m[0]), step: Number(m[1]) }))
    .sort((a, b) => b.step - a.step);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The checkpoint-STEP directory with the highest step that is complete, if any. */
export function latestCheckpoint(runDir: string): { dir: string; step: number } | undefined {
  return checkpoints(runDir)[0];
}

/** Removes all but the newest `keep` complete checkpoints; returns those removed. */
export function pruneCheckpoints(runDir: string, keep: number): string[] {
  const old = checkpoints(runDir).slice(keep).map((c) => c.dir);
  for (const dir of old) rmSync(dir, { recursive: true, force: true });
  return old;
}

/** Where a run stands, as trainer_state.json records it beside a checkpoint. */
export interface TrainerState {
  readonly step: number;
  readonly seed: number;
  readonly batch: number;
  readonly seq: number;
  readonly examples: number;
  readonly accumulate: number;
}

/** trainer_state.json is a few hundred bytes; anything far larger is not one. */
const MAX_STATE_BYTES = 1 << 16;

function readStateFile(path: string): TrainerState {
  try {
    const f = Fields.of(JSON.parse(readBounded(path, MAX_STATE_BYTES, 'a trainer state').toString('utf8')), '').only(['step', 'seed', 'batch', 'seq', 'examples', 'accumulate']);
    const count = { min: 1, max: 2 ** 40 };
    return {
      step: f.int('step', count), seed: f.int('seed', { min: 0, max: 2 ** 32 - 1 }), batch: f.int('batch', count), seq: f.int('seq', count),
      examples: f.int('examples', count), accumulate: f.optionalInt('accumulate', count) ?? 1,
    };
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${path}: ${e instanceof JsonFieldError ? e.message : `not valid JSON (${(e as Error).message.split('\n')[0]})`}`);
  }
}

/**
 * A checkpoint's trainer state (checked: every field an integer in range,
 * the step the directory's own) and its model and optimizer tensors, with
 * the files they came from.
 */
export function readTrainerState(dir: string): { state: TrainerState; params: ReadonlyMap<string, Float32Array>; optimizer: ReadonlyMap<string, Float32Array>; files: { params: string; optimizer: string } } {
  const state = readStateFile(join(dir, 'trainer_state.json'));
  const named = /checkpoint-(\d+)$/.exec(dir);
  if (named && Number(named[1]) !== state.step) throw new InputError(`${join(dir, 'trainer_state.json')}: step ${state.step} is not the step of ${dir}`);
  const read = (file: string) => {
    const path = join(dir, file);
    const tensors = readSafetensors(readFileSync(path), path).tensors;
    return new Map([...tensors].map(([n, t]) => {
      if (!(t.data instanceof Float32Array)) throw new InputError(`${path}: tensor '${n}' is ${t.dtype}, not floating point`);
      return [n, t.data];
    }));
  };
  const files = { params: join(dir, 'model.safetensors'), optimizer: join(dir, 'optimizer.safetensors') };
  return { state, params: read('model.safetensors'), optimizer: read('optimizer.safetensors'), files };
}
