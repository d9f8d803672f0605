// Checkpoints as HuggingFace model directories: config.json,
// model.safetensors (HuggingFace names), vocab.txt, plus the trainer's state
// beside them (trainer_state.json: step, data position, random streams;
// optimizer.safetensors: the AdamW moments). A directory is written under a
// temporary name and renamed into place, so a crash mid-write never leaves a
// partial checkpoint where a complete one is expected.

import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, RunFailure } from './errors.js';
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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The checkpoint-STEP directory with the highest step that is complete, if any. */
export function latestCheckpoint(runDir: string): { dir: string; step: number } | undefined {
  if (!existsSync(runDir)) return undefined;
  const found = readdirSync(runDir)
    .map((name) => /^checkpoint-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(runDir, m[0], 'trainer_state.json')))
    .map((m) => ({ dir: join(runDir, m[0]), step: Number(m[1]) }))
    .sort((a, b) => b.step - a.step);
  return found[0];
}

export function readTrainerState<T>(dir: string): { state: T; optimizer: ReadonlyMap<string, Float32Array>; params: ReadonlyMap<string, Float32Array> } {
  const read = (file: string) => {
    const path = join(dir, file);
    const tensors = readSafetensors(readFileSync(path), path).tensors;
    return new Map([...tensors].map(([n, t]) => [n, t.data as Float32Array]));
  };
  let state: T;
  try {
    state = JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as T;
  } catch (e) {
    throw new InputError(`${join(dir, 'trainer_state.json')}: ${(e as Error).message}`);
  }
  return { state, optimizer: read('optimizer.safetensors'), params: read('model.safetensors') };
}
